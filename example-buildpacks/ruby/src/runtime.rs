//! The Ruby and Bundler of the build image: where they are, which versions they are.

use crate::command::{self, display};
use crate::errors::RubyBuildpackError;
use std::path::PathBuf;
use std::process::Command;

/// The programs this buildpack runs.
#[derive(Clone, Debug)]
pub(crate) struct Runtime {
    /// The `ruby` executable.
    pub(crate) ruby: PathBuf,
    /// The `bundle` executable.
    pub(crate) bundle: PathBuf,
}

/// Facts about the Ruby interpreter that decide whether installed gems can be reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RubyInfo {
    /// `RUBY_ENGINE`, e.g. `ruby`.
    pub(crate) engine: String,
    /// `RUBY_VERSION`, e.g. `3.1.2`.
    pub(crate) version: String,
    /// `RbConfig::CONFIG["ruby_version"]`, the ABI directory name, e.g. `3.1.0`.
    pub(crate) abi: String,
    /// `RUBY_PLATFORM`, e.g. `x86_64-linux-gnu`.
    pub(crate) platform: String,
}

impl RubyInfo {
    /// Where Bundler puts gems below `BUNDLE_PATH`: `<engine>/<abi>`.
    pub(crate) fn gem_dir_suffix(&self) -> PathBuf {
        PathBuf::from(&self.engine).join(&self.abi)
    }

    /// One line naming the interpreter, used as part of the gems cache key.
    pub(crate) fn key(&self) -> String {
        format!("{} {} ({})", self.engine, self.version, self.platform)
    }
}

/// Finds `ruby` and `bundle` on `PATH`.
///
/// # Errors
/// [`RubyBuildpackError::ProgramNotFound`] naming the missing program.
pub(crate) fn find() -> Result<Runtime, RubyBuildpackError> {
    let lookup = |program: &'static str| {
        which::which(program)
            .map_err(|source| RubyBuildpackError::ProgramNotFound { program, source })
    };
    Ok(Runtime {
        ruby: lookup("ruby")?,
        bundle: lookup("bundle")?,
    })
}

const RUBY_INFO_SCRIPT: &str = r#"print [RUBY_ENGINE, RUBY_VERSION, RbConfig::CONFIG["ruby_version"], RUBY_PLATFORM].join("\n")"#;

/// Asks the interpreter for its engine, version, ABI and platform.
///
/// # Errors
/// The command cannot run or prints something unexpected.
pub(crate) fn ruby_info(runtime: &Runtime) -> Result<RubyInfo, RubyBuildpackError> {
    let mut cmd = Command::new(&runtime.ruby);
    cmd.args(["-e", RUBY_INFO_SCRIPT]);
    let output = command::capture(&mut cmd)?;
    parse_ruby_info(&output.text).ok_or_else(|| RubyBuildpackError::UnexpectedOutput {
        command: display(&cmd),
        problem: format!("exit {}, expected four lines", output.status),
        output: output.text.clone(),
    })
}

fn parse_ruby_info(text: &str) -> Option<RubyInfo> {
    let mut lines = text.lines().map(str::trim);
    let mut next = || {
        lines
            .next()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
    };
    Some(RubyInfo {
        engine: next()?,
        version: next()?,
        abi: next()?,
        platform: next()?,
    })
}

/// The version `bundle --version` reports.
///
/// # Errors
/// The command cannot run or prints something unexpected.
pub(crate) fn bundler_version(runtime: &Runtime) -> Result<String, RubyBuildpackError> {
    let mut cmd = Command::new(&runtime.bundle);
    cmd.arg("--version");
    let output = command::capture(&mut cmd)?;
    parse_bundler_version(&output.text)
        .filter(|_| output.status.success())
        .ok_or_else(|| RubyBuildpackError::UnexpectedOutput {
            command: display(&cmd),
            problem: format!("exit {}, expected `Bundler version X.Y.Z`", output.status),
            output: output.text.clone(),
        })
}

fn parse_bundler_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.trim().strip_prefix("Bundler version "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ruby_info() {
        let info = parse_ruby_info("ruby\n3.1.2\n3.1.0\nx86_64-linux-gnu").unwrap();
        assert_eq!(info.gem_dir_suffix(), PathBuf::from("ruby/3.1.0"));
        assert_eq!(info.key(), "ruby 3.1.2 (x86_64-linux-gnu)");
        assert_eq!(parse_ruby_info("ruby\n3.1.2\n"), None);
    }

    #[test]
    fn parses_bundler_version() {
        assert_eq!(
            parse_bundler_version("Bundler version 2.3.15\n").as_deref(),
            Some("2.3.15")
        );
        assert_eq!(parse_bundler_version("2.3.15"), None);
    }

    #[test]
    fn finds_and_queries_the_installed_ruby() {
        // Ruby and Bundler are part of this project's development and CI setup.
        let runtime = find().expect("ruby and bundle on PATH (apt-get install ruby bundler)");
        let info = ruby_info(&runtime).unwrap();
        assert_eq!(info.engine, "ruby");
        assert!(info.version.starts_with(&info.abi[..2]), "{info:?}");
        let version = bundler_version(&runtime).unwrap();
        assert!(
            version.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{version}"
        );
    }
}
