//! The Ruby and Bundler of the build image: where they are, which versions they are.

use crate::command::{self, display};
use crate::errors::RubyBuildpackError;
use std::path::{Path, PathBuf};
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

/// Prints engine, version, ABI and platform, then the version of the Bundler this Ruby loads
/// (an empty line when `bundler/version` cannot be loaded), one a line.
const RUBY_INFO_SCRIPT: &str = r#"bundler = begin; require "bundler/version"; Bundler::VERSION; rescue LoadError; ""; end
print [RUBY_ENGINE, RUBY_VERSION, RbConfig::CONFIG["ruby_version"], RUBY_PLATFORM, bundler].join("\n")"#;

/// What one `ruby -e` probe reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RubyProbe {
    /// The interpreter.
    pub(crate) info: RubyInfo,
    /// `Bundler::VERSION` after `require "bundler/version"` (the Bundler gem `RubyGems`
    /// activates by default); `None` when it cannot be loaded.
    pub(crate) bundler: Option<String>,
}

/// Asks the interpreter for its engine, version, ABI and platform, and the version of the
/// Bundler it loads by default, in one process.
///
/// # Errors
/// The command cannot run or prints something unexpected.
pub(crate) fn ruby_info(runtime: &Runtime) -> Result<RubyProbe, RubyBuildpackError> {
    let mut cmd = Command::new(&runtime.ruby);
    cmd.args(["-e", RUBY_INFO_SCRIPT]);
    let output = command::capture(&mut cmd)?;
    parse_ruby_info(&output.text)
        .filter(|_| output.status.success())
        .ok_or_else(|| RubyBuildpackError::UnexpectedOutput {
            command: display(&cmd),
            problem: format!("exit {}, expected four or five lines", output.status),
            output: output.text.clone(),
        })
}

fn parse_ruby_info(text: &str) -> Option<RubyProbe> {
    let mut lines = text.lines().map(str::trim);
    let mut next = || {
        lines
            .next()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
    };
    let info = RubyInfo {
        engine: next()?,
        version: next()?,
        abi: next()?,
        platform: next()?,
    };
    let bundler = next().filter(|version| version.starts_with(|c: char| c.is_ascii_digit()));
    Some(RubyProbe { info, bundler })
}

/// Whether the `bundle` executable runs under `ruby` (its `#!` line names that interpreter,
/// directly or as `/usr/bin/env ruby`), so that the Bundler `ruby` loads is the one `bundle`
/// starts with. Anything else (a binary, another interpreter, an unreadable file) is `false`.
pub(crate) fn bundle_runs_under(runtime: &Runtime) -> bool {
    let Ok(text) = std::fs::read(&runtime.bundle) else {
        return false;
    };
    let first = text.split(|&byte| byte == b'\n').next().unwrap_or_default();
    let Some(shebang) = std::str::from_utf8(first)
        .ok()
        .and_then(|line| line.strip_prefix("#!"))
    else {
        return false;
    };
    let mut words = shebang.split_whitespace();
    let Some(interpreter) = words.next() else {
        return false;
    };
    let ruby = std::fs::canonicalize(&runtime.ruby).ok();
    if Path::new(interpreter)
        .file_name()
        .is_some_and(|name| name == "env")
    {
        // `env ruby` finds the `ruby` of PATH, the one `find` resolved.
        return words.next() == Some("ruby") && words.next().is_none();
    }
    ruby.is_some() && std::fs::canonicalize(interpreter).ok() == ruby
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
        let probe = parse_ruby_info("ruby\n3.1.2\n3.1.0\nx86_64-linux-gnu").unwrap();
        assert_eq!(probe.info.gem_dir_suffix(), PathBuf::from("ruby/3.1.0"));
        assert_eq!(probe.info.key(), "ruby 3.1.2 (x86_64-linux-gnu)");
        assert_eq!(probe.bundler, None);
        let probe = parse_ruby_info("ruby\n3.1.2\n3.1.0\nx86_64-linux-gnu\n2.3.15").unwrap();
        assert_eq!(probe.bundler.as_deref(), Some("2.3.15"));
        // Bundler not loadable: an empty fifth line.
        let probe = parse_ruby_info("ruby\n3.1.2\n3.1.0\nx86_64-linux-gnu\n").unwrap();
        assert_eq!(probe.bundler, None);
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
        let probe = ruby_info(&runtime).unwrap();
        let info = &probe.info;
        assert_eq!(info.engine, "ruby");
        assert!(info.version.starts_with(&info.abi[..2]), "{info:?}");
        let version = bundler_version(&runtime).unwrap();
        assert!(
            version.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{version}"
        );
        // Outside an app (no lockfile to switch versions), the Bundler `ruby` loads is the
        // one `bundle` reports, and Debian's `bundle` runs under that `ruby`.
        assert_eq!(probe.bundler.as_deref(), Some(version.as_str()));
        assert!(bundle_runs_under(&runtime));
    }

    #[test]
    fn bundle_must_run_under_the_same_ruby() {
        let dir = tempfile::tempdir().unwrap();
        let ruby = dir.path().join("ruby");
        std::fs::write(&ruby, "").unwrap();
        let other = dir.path().join("ruby-other");
        std::fs::write(&other, "").unwrap();
        let bundle = dir.path().join("bundle");
        let runtime = Runtime {
            ruby: ruby.clone(),
            bundle: bundle.clone(),
        };
        for (script, same) in [
            (format!("#!{}\nload 'x'\n", ruby.display()), true),
            (format!("#! {} -w\n", ruby.display()), true),
            ("#!/usr/bin/env ruby\n".to_owned(), true),
            (format!("#!{}\n", other.display()), false),
            ("#!/usr/bin/env ruby3.2\n".to_owned(), false),
            ("#!/bin/sh\nexec ruby x\n".to_owned(), false),
            ("\u{7f}ELF".to_owned(), false),
        ] {
            std::fs::write(&bundle, &script).unwrap();
            assert_eq!(bundle_runs_under(&runtime), same, "{script}");
        }
        std::fs::remove_file(&bundle).unwrap();
        assert!(!bundle_runs_under(&runtime));
    }
}
