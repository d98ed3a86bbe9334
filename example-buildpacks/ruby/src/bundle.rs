//! Bundler per execution environment: which groups, which settings, which commands.
//!
//! | env           | `BUNDLE_WITHOUT`       | frozen (`BUNDLE_DEPLOYMENT`) | `bundle clean` | `RACK_ENV`/`RAILS_ENV` |
//! |---------------|------------------------|------------------------------|----------------|------------------------|
//! | production    | `development:test`     | yes                          | yes            | `production`           |
//! | test          | `development`          | no                           | no             | `test`                 |
//! | development   | (all groups)           | no                           | no             | `development`          |
//! | other (`staging`) | `development:test` | yes                          | yes            | the env's name         |

use crate::command::{self, display};
use crate::errors::RubyBuildpackError;
use crate::runtime::{RubyInfo, Runtime};
use libcnb::Env;
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use libcnb_exec_env::ExecEnv;
use std::path::Path;
use std::process::Command;

/// How Bundler is set up in one execution environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BundleSettings {
    /// `BUNDLE_WITHOUT`: the groups left out, `:`-separated (none in development).
    pub(crate) without: Option<&'static str>,
    /// `BUNDLE_DEPLOYMENT=true`: the lockfile is frozen and must match the Gemfile.
    pub(crate) deployment: bool,
    /// Whether `bundle clean` removes gems the lockfile no longer names.
    pub(crate) clean: bool,
    /// `RACK_ENV` and `RAILS_ENV`.
    pub(crate) rack_env: String,
}

impl BundleSettings {
    /// The settings for `env`. Environments other than test and development are built like
    /// production, with `RACK_ENV` set to their own name (`staging` -> `RACK_ENV=staging`).
    pub(crate) fn for_env(env: &ExecEnv) -> Self {
        match env {
            ExecEnv::Test => Self {
                without: Some("development"),
                deployment: false,
                clean: false,
                rack_env: "test".into(),
            },
            ExecEnv::Development => Self {
                without: None,
                deployment: false,
                clean: false,
                rack_env: "development".into(),
            },
            other => Self {
                without: Some("development:test"),
                deployment: true,
                clean: true,
                rack_env: other.to_string(),
            },
        }
    }

    /// The environment of the gems layer, at build (for Bundler and later buildpacks) and at
    /// launch: where the gems are, which groups Bundler loads, and `RACK_ENV`/`RAILS_ENV`.
    ///
    /// `GEM_PATH` gets `<gems>:` prepended: `RubyGems` reads a trailing `:` as "and the default
    /// path\", so the system's gems (Bundler itself among them) stay visible to plain `ruby`.
    /// Under `bundle exec`, Bundler limits the load path to the bundle installed in `BUNDLE_PATH`.
    pub(crate) fn layer_env(&self, layer: &Path, ruby: &RubyInfo) -> LayerEnv {
        let gem_dir = layer.join(ruby.gem_dir_suffix());
        let mut env = LayerEnv::new()
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Override,
                "BUNDLE_PATH",
                layer,
            )
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Override,
                "GEM_HOME",
                &gem_dir,
            )
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Prepend,
                "GEM_PATH",
                format!("{}:", gem_dir.display()),
            )
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Prepend,
                "PATH",
                gem_dir.join("bin"),
            )
            .chainable_insert(Scope::All, ModificationBehavior::Delimiter, "PATH", ":")
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Default,
                "RACK_ENV",
                &self.rack_env,
            )
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Default,
                "RAILS_ENV",
                &self.rack_env,
            );
        if let Some(without) = self.without {
            env.insert(
                Scope::All,
                ModificationBehavior::Override,
                "BUNDLE_WITHOUT",
                without,
            );
        }
        if self.deployment {
            env.insert(
                Scope::All,
                ModificationBehavior::Override,
                "BUNDLE_DEPLOYMENT",
                "true",
            );
        }
        env
    }
}

/// Runs Bundler in the app directory with a fixed environment.
pub(crate) struct Bundler<'a> {
    /// The programs.
    pub(crate) runtime: &'a Runtime,
    /// The app directory.
    pub(crate) app_dir: &'a Path,
    /// The environment the commands see.
    pub(crate) env: Env,
    /// The execution environment, for messages.
    pub(crate) exec_env: &'a ExecEnv,
}

impl Bundler<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.runtime.bundle);
        cmd.args(args)
            .current_dir(self.app_dir)
            .env_clear()
            .envs(self.env.iter());
        cmd
    }

    fn settings_summary(&self) -> String {
        ["BUNDLE_PATH", "BUNDLE_WITHOUT", "BUNDLE_DEPLOYMENT"]
            .iter()
            .filter_map(|key| {
                self.env
                    .get_string_lossy(key)
                    .map(|value| format!("{key}={value}"))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs a Bundler command, streaming its output; a failure carries that output.
    fn run(&self, args: &[&str]) -> Result<(), RubyBuildpackError> {
        let mut cmd = self.command(args);
        let shown = format!("{} ({})", display(&cmd), self.settings_summary());
        let output = command::stream(&mut cmd, &format!("$ {shown}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(RubyBuildpackError::BundlerFailed {
                command: shown,
                exec_env: self.exec_env.to_string(),
                status: output.status,
                output: output.text,
            })
        }
    }

    /// `bundle install`; with `--local --no-cache` when the app vendors its gems in
    /// `vendor/cache` (`bundle cache`): such apps build without reaching a gem server, and
    /// Bundler leaves the app's `vendor/cache` as it is.
    pub(crate) fn install(&self, local: bool) -> Result<(), RubyBuildpackError> {
        if local {
            self.run(&["install", "--local", "--no-cache"])
        } else {
            self.run(&["install"])
        }
    }

    /// `bundle clean`: removes gems the lockfile (and groups) no longer name.
    pub(crate) fn clean(&self) -> Result<(), RubyBuildpackError> {
        self.run(&["clean"])
    }

    /// The tasks the app's Rakefile defines (`bundle exec rake -P`), or why they are unknown.
    pub(crate) fn rake_tasks(&self) -> Result<Vec<String>, String> {
        let mut cmd = self.command(&["exec", "rake", "-P"]);
        let output = command::capture(&mut cmd).map_err(|error| error.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "`{}` failed ({}):\n{}",
                display(&cmd),
                output.status,
                output.text
            ));
        }
        Ok(parse_rake_tasks(&output.text))
    }
}

/// Task names from `rake -P` output (`rake <task>` lines; prerequisites are indented).
pub(crate) fn parse_rake_tasks(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("rake "))
        .map(|task| task.trim().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn ruby() -> RubyInfo {
        RubyInfo {
            engine: "ruby".into(),
            version: "3.1.2".into(),
            abi: "3.1.0".into(),
            platform: "x86_64-linux-gnu".into(),
        }
    }

    fn launch_env(env: &ExecEnv, base: &[(&str, &str)]) -> Env {
        let mut start = Env::new();
        for (key, value) in base {
            start.insert(key, value);
        }
        BundleSettings::for_env(env)
            .layer_env(Path::new("/layers/examples_ruby/gems"), &ruby())
            .apply(Scope::Launch, &start)
    }

    fn get(env: &Env, key: &str) -> Option<String> {
        env.get(key)
            .map(|value| value.to_string_lossy().into_owned())
    }

    #[test]
    fn production_leaves_out_test_and_development_and_freezes() {
        let env = launch_env(&ExecEnv::Production, &[]);
        assert_eq!(
            get(&env, "BUNDLE_WITHOUT").as_deref(),
            Some("development:test")
        );
        assert_eq!(get(&env, "BUNDLE_DEPLOYMENT").as_deref(), Some("true"));
        assert_eq!(get(&env, "RACK_ENV").as_deref(), Some("production"));
        assert_eq!(get(&env, "RAILS_ENV").as_deref(), Some("production"));
        assert!(BundleSettings::for_env(&ExecEnv::Production).clean);
    }

    #[test]
    fn test_and_development_groups() {
        let env = launch_env(&ExecEnv::Test, &[]);
        assert_eq!(get(&env, "BUNDLE_WITHOUT").as_deref(), Some("development"));
        assert_eq!(get(&env, "BUNDLE_DEPLOYMENT"), None);
        assert_eq!(get(&env, "RACK_ENV").as_deref(), Some("test"));
        let env = launch_env(&ExecEnv::Development, &[]);
        assert_eq!(get(&env, "BUNDLE_WITHOUT"), None);
        assert_eq!(get(&env, "RAILS_ENV").as_deref(), Some("development"));
        assert!(!BundleSettings::for_env(&ExecEnv::Test).clean);
    }

    #[test]
    fn other_envs_build_like_production_with_their_own_rack_env() {
        let staging: ExecEnv = "staging".parse().unwrap();
        let settings = BundleSettings::for_env(&staging);
        assert_eq!(settings.without, Some("development:test"));
        assert!(settings.deployment && settings.clean);
        assert_eq!(settings.rack_env, "staging");
    }

    #[test]
    fn gem_paths_and_user_overrides() {
        let env = launch_env(
            &ExecEnv::Production,
            &[("PATH", "/usr/bin"), ("RACK_ENV", "custom")],
        );
        assert_eq!(
            get(&env, "BUNDLE_PATH").as_deref(),
            Some("/layers/examples_ruby/gems")
        );
        assert_eq!(
            get(&env, "GEM_HOME").as_deref(),
            Some("/layers/examples_ruby/gems/ruby/3.1.0")
        );
        // The trailing `:` keeps RubyGems' default path (with Bundler itself) after the layer.
        assert_eq!(
            get(&env, "GEM_PATH").as_deref(),
            Some("/layers/examples_ruby/gems/ruby/3.1.0:")
        );
        assert_eq!(
            get(&env, "PATH").as_deref(),
            Some("/layers/examples_ruby/gems/ruby/3.1.0/bin:/usr/bin")
        );
        // RACK_ENV is a default: a value the user sets wins.
        assert_eq!(get(&env, "RACK_ENV").as_deref(), Some("custom"));
        assert_eq!(env.get("RAILS_ENV"), Some(&OsString::from("production")));
    }

    /// A one-gem-per-group app with its gems vendored from the system (the real Bundler
    /// writes the lockfile), as the example apps are in the integration tests.
    fn vendored_app(dir: &Path) {
        std::fs::write(
            dir.join("Gemfile"),
            "source \"https://rubygems.org\"\ngem \"rack\"\ngroup :test do\n  gem \"rake\"\nend\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("Rakefile"),
            "task(:test) { puts :ok }\ntask(:lint) { }\n",
        )
        .unwrap();
        let lock = Command::new("bundle")
            .args(["lock", "--local"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(lock.status.success(), "{lock:?}");
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../example-apps/ruby/vendor-system-gems.rb");
        let vendor = Command::new("ruby").arg(script).arg(dir).output().unwrap();
        assert!(vendor.status.success(), "{vendor:?}");
    }

    fn bundler_for<'a>(
        runtime: &'a Runtime,
        app: &'a Path,
        layer: &Path,
        env: &'a ExecEnv,
    ) -> Bundler<'a> {
        let ruby = crate::runtime::ruby_info(runtime).unwrap().info;
        Bundler {
            runtime,
            app_dir: app,
            env: BundleSettings::for_env(env)
                .layer_env(layer, &ruby)
                .apply(Scope::Build, &Env::from_current()),
            exec_env: env,
        }
    }

    fn gems_in(layer: &Path) -> Vec<String> {
        let mut gems: Vec<String> = std::fs::read_dir(layer.join("ruby/3.1.0/gems"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|dir| dir.rsplit_once('-').map(|(name, _)| name.to_owned()))
            .collect();
        gems.sort();
        gems
    }

    #[test]
    fn real_bundler_installs_the_groups_of_each_environment() {
        let runtime = crate::runtime::find().unwrap();
        let app = tempfile::tempdir().unwrap();
        let layers = tempfile::tempdir().unwrap();
        vendored_app(app.path());

        let listing = |dir: &Path| {
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name())
                .collect();
            files.sort();
            files
        };
        let vendored = listing(&app.path().join("vendor/cache"));

        let production = layers.path().join("gems-production");
        let bundler = bundler_for(&runtime, app.path(), &production, &ExecEnv::Production);
        bundler.install(true).unwrap();
        bundler.clean().unwrap();
        assert_eq!(gems_in(&production), ["rack"]);

        let test = layers.path().join("gems-test");
        let bundler = bundler_for(&runtime, app.path(), &test, &ExecEnv::Test);
        bundler.install(true).unwrap();
        assert_eq!(gems_in(&test), ["rack", "rake"]);
        let tasks = bundler.rake_tasks().unwrap();
        assert!(
            tasks.contains(&"test".to_owned()) && tasks.contains(&"lint".to_owned()),
            "{tasks:?}"
        );
        // `--no-cache`, settings in env vars: the app directory is left as it was.
        assert_eq!(listing(&app.path().join("vendor/cache")), vendored);
        assert!(!app.path().join(".bundle").exists());
    }

    #[test]
    fn real_bundler_failure_carries_its_output() {
        let runtime = crate::runtime::find().unwrap();
        let app = tempfile::tempdir().unwrap();
        let layers = tempfile::tempdir().unwrap();
        vendored_app(app.path());
        std::fs::remove_dir_all(app.path().join("vendor/cache")).unwrap();
        std::fs::create_dir(app.path().join("vendor/cache")).unwrap();
        let layer = layers.path().join("gems-production");
        let error = bundler_for(&runtime, app.path(), &layer, &ExecEnv::Production)
            .install(true)
            .unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, RubyBuildpackError::BundlerFailed { .. })
                && message.contains("bundle install --local --no-cache")
                && message.contains("in the production environment. Bundler's output:")
                && message.contains("Could not find rack"),
            "{message}"
        );
    }

    #[test]
    fn rake_task_lines() {
        let text = "rake default\n    test\nrake test\nrake test:unit\n";
        assert_eq!(parse_rake_tasks(text), ["default", "test", "test:unit"]);
    }
}
