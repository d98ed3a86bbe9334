//! The image's processes: `web` in every environment, `test` in test builds.

use crate::errors::RubyBuildpackError;
use libcnb::data::process_type;
use libcnb_exec_env::app_file::read_app_file;
use libcnb_exec_env::{ExecEnv, Process, ProcessBuilder, test_process};
use std::path::{Path, PathBuf};

/// The `rackup` command of a `config.ru` app. The launcher does not expand variables in
/// commands, so a shell reads `$PORT` when the container starts (default 9292, rackup's own).
pub(crate) const RACKUP: &str = r#"exec bundle exec rackup --host 0.0.0.0 --port "${PORT:-9292}""#;

/// The app's settings for this buildpack, from `project.toml`:
///
/// ```toml
/// [com.examples.ruby]
/// test = "bundle exec ruby -Itest test/all.rb"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AppConfig {
    /// The test command, run with `sh -c`.
    pub(crate) test: Option<String>,
}

/// Reads `[com.examples.ruby]` from `<app>/project.toml` (absent file or table: defaults).
///
/// # Errors
/// The file cannot be read, is not TOML, or `test` is not a non-empty string.
pub(crate) fn read_config(app_dir: &Path) -> Result<AppConfig, RubyBuildpackError> {
    let path = app_dir.join("project.toml");
    let Some(text) = read_optional(app_dir, "project.toml")? else {
        return Ok(AppConfig::default());
    };
    let invalid = |message: String| RubyBuildpackError::InvalidConfig {
        path: path.clone(),
        message,
    };
    let table: toml::Table = toml::from_str(&text)
        .map_err(|error| invalid(format!("not valid TOML: {}", error.message())))?;
    let ours = table
        .get("com")
        .and_then(|com| com.get("examples"))
        .and_then(|examples| examples.get("ruby"));
    let Some(ours) = ours else {
        return Ok(AppConfig::default());
    };
    let test_command = match ours.get("test") {
        None => None,
        Some(toml::Value::String(command)) if !command.trim().is_empty() => Some(command.clone()),
        Some(other) => {
            return Err(invalid(format!(
                "`com.examples.ruby.test` must be a non-empty string (a shell command), not `{other}`"
            )));
        }
    };
    Ok(AppConfig { test: test_command })
}

/// `<app>/<name>` as text; `None` when absent. Read through [`read_app_file`]: a link out of the
/// app is refused, never followed.
fn read_optional(app_dir: &Path, name: &str) -> Result<Option<String>, RubyBuildpackError> {
    let Some(bytes) = read_app_file(app_dir, name)? else {
        return Ok(None);
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| RubyBuildpackError::ReadFile {
            path: app_dir.join(name),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8"),
        })
}

/// The `web` line of `<app>/Procfile`, if any.
///
/// # Errors
/// The Procfile cannot be read, or a `web` entry is empty.
pub(crate) fn procfile_web(app_dir: &Path) -> Result<Option<String>, RubyBuildpackError> {
    let path = app_dir.join("Procfile");
    let Some(text) = read_optional(app_dir, "Procfile")? else {
        return Ok(None);
    };
    for line in text.lines() {
        let Some((name, command)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "web" {
            let command = command.trim();
            if command.is_empty() {
                return Err(RubyBuildpackError::InvalidConfig {
                    path,
                    message: "the `web` entry has no command".into(),
                });
            }
            return Ok(Some(command.to_owned()));
        }
    }
    Ok(None)
}

/// The `web` process: the Procfile's `web` line, else `rackup` for a `config.ru` app.
/// It runs in every environment and is the default except in test builds (where `test` is).
///
/// The command is `sh -c` and the script is the process's default argument, so a user
/// argument replaces the script: `web 'bundle exec rake db:migrate'` runs another command
/// with the same environment.
///
/// # Errors
/// See [`procfile_web`].
pub(crate) fn web_process(
    app_dir: &Path,
    exec_env: &ExecEnv,
) -> Result<Option<Process>, RubyBuildpackError> {
    let script = match procfile_web(app_dir)? {
        Some(command) => command,
        None if app_dir.join("config.ru").is_file() => RACKUP.to_owned(),
        None => return Ok(None),
    };
    Ok(Some(
        ProcessBuilder::new(process_type!("web"), ["sh", "-c"])
            .arg(script)
            .default(exec_env != &ExecEnv::Test)
            .build(),
    ))
}

/// What the `test` process runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TestCommand {
    /// `[com.examples.ruby] test = "..."` in project.toml (wins over detection).
    Configured(String),
    /// The Rakefile defines `test`.
    RakeTest,
    /// `spec/` exists and the lockfile has `rspec-core`.
    Rspec,
}

impl TestCommand {
    /// Picks the test command: an explicit setting first, then a Rakefile `test` task,
    /// then `spec/` with `RSpec`.
    pub(crate) fn choose(
        config: &AppConfig,
        rake_defines_test: bool,
        rspec_ready: bool,
    ) -> Option<Self> {
        if let Some(command) = &config.test {
            Some(Self::Configured(command.clone()))
        } else if rake_defines_test {
            Some(Self::RakeTest)
        } else if rspec_ready {
            Some(Self::Rspec)
        } else {
            None
        }
    }

    /// The `test` process (restricted to the test environment, default there).
    pub(crate) fn process(&self) -> Process {
        match self {
            Self::Configured(command) => {
                let mut process = test_process(["sh", "-c"]);
                process.args = vec![command.clone()];
                process
            }
            Self::RakeTest => test_process(["bundle", "exec", "rake", "test"]),
            Self::Rspec => test_process(["bundle", "exec", "rspec"]),
        }
    }
}

/// `<app>/spec`, when it is a directory.
pub(crate) fn spec_dir(app_dir: &Path) -> Option<PathBuf> {
    Some(app_dir.join("spec")).filter(|dir| dir.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_the_namespaced_test_command() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_config(dir.path()).unwrap(), AppConfig::default());
        std::fs::write(
            dir.path().join("project.toml"),
            "[_]\nschema-version = \"0.2\"\n\n[com.examples.ruby]\ntest = \"ruby test.rb\"\n",
        )
        .unwrap();
        assert_eq!(
            read_config(dir.path()).unwrap().test.as_deref(),
            Some("ruby test.rb")
        );
    }

    /// A `Procfile` or `project.toml` linking out of the app is refused, naming the file,
    /// never read; a link inside the app is followed.
    #[test]
    fn app_files_linking_out_of_the_app_are_refused() {
        let app = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "web: s3cret\n").unwrap();
        for name in ["Procfile", "project.toml"] {
            std::os::unix::fs::symlink(outside.path().join("secret"), app.path().join(name))
                .unwrap();
        }
        let procfile = procfile_web(app.path()).unwrap_err();
        let config = read_config(app.path()).unwrap_err();
        for (error, name) in [(procfile, "Procfile"), (config, "project.toml")] {
            assert!(
                matches!(error, RubyBuildpackError::AppFile(_)),
                "{name}: {error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&app.path().join(name).display().to_string())
                    && message.contains("outside the app directory")
                    && !message.contains("s3cret"),
                "{message}"
            );
        }

        std::fs::remove_file(app.path().join("Procfile")).unwrap();
        std::fs::write(app.path().join("Procfile.real"), "web: ./serve\n").unwrap();
        std::os::unix::fs::symlink("Procfile.real", app.path().join("Procfile")).unwrap();
        assert_eq!(
            procfile_web(app.path()).unwrap().as_deref(),
            Some("./serve")
        );
    }

    #[test]
    fn config_errors_name_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("project.toml"),
            "[com.examples.ruby]\ntest = 3\n",
        )
        .unwrap();
        let error = read_config(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("project.toml") && error.contains("com.examples.ruby.test"),
            "{error}"
        );
        std::fs::write(dir.path().join("project.toml"), "[com.examples\n").unwrap();
        let error = read_config(dir.path()).unwrap_err().to_string();
        assert!(error.contains("project.toml: not valid TOML"), "{error}");
    }

    #[test]
    fn test_command_precedence() {
        let configured = AppConfig {
            test: Some("make check".into()),
        };
        assert_eq!(
            TestCommand::choose(&configured, true, true),
            Some(TestCommand::Configured("make check".into()))
        );
        let none = AppConfig::default();
        assert_eq!(
            TestCommand::choose(&none, true, true),
            Some(TestCommand::RakeTest)
        );
        assert_eq!(
            TestCommand::choose(&none, false, true),
            Some(TestCommand::Rspec)
        );
        assert_eq!(TestCommand::choose(&none, false, false), None);
        let process = TestCommand::RakeTest.process();
        assert_eq!(process.command, ["bundle", "exec", "rake", "test"]);
        assert!(process.default && process.exec_env.matches(&ExecEnv::Test));
        assert!(!process.exec_env.matches(&ExecEnv::Production));
        let configured = TestCommand::Configured("make check".into()).process();
        assert_eq!(configured.command, ["sh", "-c"]);
        assert_eq!(configured.args, ["make check"]);
    }

    #[test]
    fn web_from_procfile_or_config_ru() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(web_process(dir.path(), &ExecEnv::Production).unwrap(), None);
        std::fs::write(
            dir.path().join("config.ru"),
            "run ->(env) { [200, {}, []] }\n",
        )
        .unwrap();
        let web = web_process(dir.path(), &ExecEnv::Production)
            .unwrap()
            .unwrap();
        assert_eq!(web.command, ["sh", "-c"]);
        assert_eq!(web.args, [RACKUP]);
        assert!(web.default && web.exec_env.matches(&ExecEnv::Test));
        let web = web_process(dir.path(), &ExecEnv::Test).unwrap().unwrap();
        assert!(!web.default, "test builds make `test` the default");
        std::fs::write(
            dir.path().join("Procfile"),
            "worker: bundle exec sidekiq\nweb: bundle exec puma -p $PORT\n",
        )
        .unwrap();
        let web = web_process(dir.path(), &ExecEnv::Production)
            .unwrap()
            .unwrap();
        assert_eq!(web.args, ["bundle exec puma -p $PORT"]);
        std::fs::write(dir.path().join("Procfile"), "web:\n").unwrap();
        assert!(web_process(dir.path(), &ExecEnv::Production).is_err());
    }
}
