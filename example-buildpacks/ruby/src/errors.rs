//! The buildpack's errors: each names the file, command or setting at fault.

use crate::gemfile_lock::GemfileLockError;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Everything that can stop a detect or build of this buildpack.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RubyBuildpackError {
    /// `ruby` or `bundle` is not on `PATH`.
    #[error(
        "`{program}` was not found on PATH ({source}). This buildpack does not install Ruby: the build image (the stack of your builder) must provide `ruby` and `bundle` on PATH, a builder requirement (Debian/Ubuntu: `apt-get install ruby bundler`), and the run image the same Ruby and Bundler, since the processes run `bundle exec`."
    )]
    ProgramNotFound {
        /// `ruby` or `bundle`.
        program: &'static str,
        /// The lookup error.
        #[source]
        source: which::Error,
    },
    /// A command could not be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A query command (`ruby -e`, `bundle --version`) failed or printed something unexpected.
    #[error(
        "`{command}` did not report what this buildpack expects ({problem}); its output:\n{output}"
    )]
    UnexpectedOutput {
        /// The command line.
        command: String,
        /// What went wrong.
        problem: String,
        /// stdout and stderr.
        output: String,
    },
    /// The resolved path or the modification time of `ruby` or `bundle` cannot be read (the key
    /// of the cached tool facts).
    #[error("cannot read the path and modification time of {}: {source}", path.display())]
    ToolStamp {
        /// The executable, as found on `PATH`.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The app has a `Gemfile` but no `Gemfile.lock`.
    #[error(
        "{} is missing. Run `bundle lock` (or `bundle install`) and commit Gemfile.lock: builds install exactly the locked gems.",
        path.display()
    )]
    MissingLockfile {
        /// Where the lockfile should be.
        path: PathBuf,
    },
    /// The lockfile is unreadable or malformed.
    #[error(transparent)]
    GemfileLock(#[from] GemfileLockError),
    /// A Bundler command failed.
    #[error(
        "`{command}` failed ({status}) in the {exec_env} environment. Bundler's output:\n{output}"
    )]
    BundlerFailed {
        /// The command line and the Bundler settings it ran with.
        command: String,
        /// The execution environment.
        exec_env: String,
        /// The exit status.
        status: ExitStatus,
        /// Bundler's stdout and stderr.
        output: String,
    },
    /// An app file (`Procfile`, `project.toml`) cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An app file (`Procfile`, `project.toml`) is a link out of the app, or cannot be read.
    #[error(transparent)]
    AppFile(#[from] libcnb_exec_env::app_file::AppFileError),
    /// An app setting is invalid.
    #[error("{}: {message}", path.display())]
    InvalidConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A test build found nothing to run as the `test` process.
    #[error(
        "no test command for the test environment: define a `test` task in the Rakefile (with `rake` in the Gemfile), add spec/ (with `rspec` in the Gemfile), or name a command as `test = \"...\"` under `[com.examples.ruby]` in project.toml"
    )]
    NoTestCommand,
}

impl From<RubyBuildpackError> for libcnb::Error<RubyBuildpackError> {
    fn from(error: RubyBuildpackError) -> Self {
        libcnb::Error::BuildpackError(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ruby_names_the_builder_requirement() {
        let message = RubyBuildpackError::ProgramNotFound {
            program: "ruby",
            source: which::Error::CannotFindBinaryPath,
        }
        .to_string();
        assert!(
            message.starts_with("`ruby` was not found on PATH ("),
            "{message}"
        );
        assert!(
            message.contains("the build image (the stack of your builder) must provide `ruby`"),
            "{message}"
        );
        assert!(message.contains("builder requirement"), "{message}");
        assert!(message.contains("run image"), "{message}");
    }

    #[test]
    fn messages_name_the_file_or_command() {
        let error = RubyBuildpackError::MissingLockfile {
            path: PathBuf::from("/workspace/Gemfile.lock"),
        };
        assert!(
            error
                .to_string()
                .starts_with("/workspace/Gemfile.lock is missing")
        );
        let error = RubyBuildpackError::InvalidConfig {
            path: PathBuf::from("/workspace/project.toml"),
            message: "`com.examples.ruby.test` must be a string".into(),
        };
        assert_eq!(
            error.to_string(),
            "/workspace/project.toml: `com.examples.ruby.test` must be a string"
        );
    }
}
