//! Example Ruby buildpack of the `libcnb-exec-env` framework.
//!
//! One buildpack, three images: `production` (no test or development gems, frozen lockfile,
//! `RACK_ENV=production`), `test` (test gems and a `test` process) and `development` (every
//! group). See README.md for the behaviour per environment and what it needs from the images.

mod bundle;
mod command;
mod errors;
mod facts;
mod gemfile_lock;
mod gems;
mod processes;
mod rakefile;
mod runtime;

use crate::bundle::{BundleSettings, Bundler};
use crate::errors::RubyBuildpackError;
use crate::processes::TestCommand;
use bullet_stream::global::print;
use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, ExecEnv,
    buildpack_main,
};

#[cfg(test)]
use tempfile as _;

/// The buildpack.
pub(crate) struct ExampleRubyBuildpack;

impl Buildpack for ExampleRubyBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = RubyBuildpackError;

    fn detect(&self, context: DetectContext<Self>) -> libcnb::Result<DetectResult, Self::Error> {
        if context.app_dir.join("Gemfile").is_file() {
            DetectResultBuilder::pass().build()
        } else {
            print::bullet("No Gemfile in the app directory: not a Bundler app");
            DetectResultBuilder::fail().build()
        }
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, Self::Error> {
        let exec_env = context.exec_env().clone();
        print::header(format!("Building for the {exec_env} environment"));

        // The lockfile first: `bundle --version` reads it too, and crashes with a Ruby
        // backtrace on one that is not UTF-8 instead of naming it.
        let lock_path = context.app_dir.join("Gemfile.lock");
        if !lock_path.is_file() {
            return Err(RubyBuildpackError::MissingLockfile { path: lock_path }.into());
        }
        let lock = gemfile_lock::read(&lock_path).map_err(RubyBuildpackError::from)?;
        let runtime = runtime::find()?;
        // `ruby -e` (and `bundle --version` or `bundle exec rake -P` when its answer or the
        // Rakefile's text do not settle theirs) run only when the tools (or the Rakefile)
        // changed since the facts were cached.
        let mut facts = facts::FactsCache::open(&context, &runtime)?;
        let ruby = facts.ruby_info(&runtime)?;
        let bundler_version = facts.bundler_version(&runtime, lock.bundled_with.as_deref())?;
        if facts.tools_reused() {
            print::bullet(
                "Tool facts from layer tool-facts: ruby and bundle unchanged (same path and mtime)",
            );
        }
        let config = processes::read_config(&context.app_dir)?;
        print::bullet(format!(
            "{} {} ({}), Bundler {bundler_version}, {} locked gems",
            ruby.engine,
            ruby.version,
            runtime.ruby.display(),
            lock.gems.len()
        ));

        let settings = BundleSettings::for_env(&exec_env);
        let env = gems::install(
            &context,
            &gems::Inputs {
                runtime: &runtime,
                ruby: &ruby,
                lock: &lock,
                settings: &settings,
            },
        )?;

        let mut result = BuildResultBuilder::new()
            .label("com.examples.ruby.rack-env", settings.rack_env.clone());
        if let Some(web) = processes::web_process(&context.app_dir, &exec_env)? {
            result = result.process(web);
        }
        if exec_env == ExecEnv::Test {
            let bundler = Bundler {
                runtime: &runtime,
                app_dir: &context.app_dir,
                env,
                exec_env: &exec_env,
            };
            let (test, reason) =
                choose_test_command(&context, &config, &lock, &bundler, &mut facts)?;
            let process = test.process();
            print::bullet(format!(
                "Test process: {} ({reason})",
                process
                    .command
                    .iter()
                    .chain(&process.args)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            result = result.process(process);
        }
        facts.save()?;
        result.build()
    }

    fn on_error(&self, error: libcnb::Error<Self::Error>) {
        match error {
            // The buildpack's messages already include their causes (and Bundler's output).
            libcnb::Error::BuildpackError(error) => print::error(format!("ERROR: {error}")),
            other => print::error(format!("ERROR: {other}")),
        }
    }
}

/// The test command and why it was chosen.
fn choose_test_command(
    context: &BuildContext<ExampleRubyBuildpack>,
    config: &processes::AppConfig,
    lock: &gemfile_lock::GemfileLock,
    bundler: &Bundler<'_>,
    facts: &mut facts::FactsCache,
) -> Result<(TestCommand, String), RubyBuildpackError> {
    let rakefile = facts::RAKEFILE_NAMES
        .iter()
        .find(|name| context.app_dir.join(name).is_file());
    let rake_test = match rakefile {
        Some(name) if config.test.is_none() && lock.has_gem("rake") => {
            rake_defines_test(context, name, lock, bundler, facts)?
        }
        _ => None,
    };
    let rspec_ready = processes::spec_dir(&context.app_dir).is_some() && lock.has_gem("rspec-core");
    let test = TestCommand::choose(config, rake_test.is_some(), rspec_ready)
        .ok_or(RubyBuildpackError::NoTestCommand)?;
    let reason = match &test {
        TestCommand::Configured(_) => "[com.examples.ruby] test in project.toml".to_owned(),
        TestCommand::RakeTest => rake_test.unwrap_or_default(),
        TestCommand::Rspec => "spec/ and rspec-core in Gemfile.lock".to_owned(),
    };
    Ok((test, reason))
}

/// `Some(how it was decided)` when the Rakefile `name` defines `test`: from its text when
/// that settles it, else from `bundle exec rake -P` (cached in `tool-facts`).
fn rake_defines_test(
    context: &BuildContext<ExampleRubyBuildpack>,
    name: &str,
    lock: &gemfile_lock::GemfileLock,
    bundler: &Bundler<'_>,
    facts: &mut facts::FactsCache,
) -> Result<Option<String>, RubyBuildpackError> {
    let path = context.app_dir.join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| RubyBuildpackError::ReadFile { path, source })?;
    match rakefile::decide(&context.app_dir, name, &text) {
        rakefile::TextAnswer::DefinesTest(form) => {
            Ok(Some(format!("{name} defines task test: {form}")))
        }
        rakefile::TextAnswer::Unsettled(why) => {
            print::bullet(format!(
                "The Rakefile's text does not settle the test task: {why}"
            ));
            Ok(match facts.rake_tasks(bundler, &lock.sha256)? {
                Ok(tasks) => tasks
                    .iter()
                    .any(|task| task == "test")
                    .then(|| "`rake -P` lists task test".to_owned()),
                Err(problem) => {
                    print::warning(format!(
                        "Warning: cannot list the Rakefile's tasks: {problem}"
                    ));
                    None
                }
            })
        }
    }
}

buildpack_main!(ExampleRubyBuildpack);
