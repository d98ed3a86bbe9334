//! Running the `go` command with the environment the buildpack controls.

use crate::errors::GoBuildpackError;
use bullet_stream::global::print;
use fun_run::{CmdError, CommandWithName};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `go` command and the environment every one of its runs gets.
#[derive(Clone, Debug)]
pub(crate) struct Go {
    /// The `go` binary.
    pub(crate) binary: PathBuf,
    /// Variables set on every run (`GOROOT`, `GOTOOLCHAIN`, `GOCACHE`, ...).
    pub(crate) env: Vec<(String, OsString)>,
}

/// The captured result of a run.
#[derive(Debug)]
pub(crate) struct Output {
    /// Whether it exited 0.
    pub(crate) success: bool,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Output {
    /// Standard output and standard error, for error messages.
    pub(crate) fn combined(&self) -> String {
        let mut text = self.stdout.trim_end().to_owned();
        if !text.is_empty() && !self.stderr.trim().is_empty() {
            text.push('\n');
        }
        text.push_str(self.stderr.trim_end());
        text
    }
}

impl From<&std::process::Output> for Output {
    fn from(output: &std::process::Output) -> Self {
        Output {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Go {
    /// A `go` at `binary` with no extra environment.
    pub(crate) fn new(binary: impl Into<PathBuf>) -> Self {
        Go {
            binary: binary.into(),
            env: Vec::new(),
        }
    }

    /// Adds (or replaces) a variable for every run.
    pub(crate) fn with_env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.retain(|(existing, _)| existing != key);
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// `go <args>` in `dir`, as shown in logs and errors.
    pub(crate) fn display(args: &[&str]) -> String {
        let mut line = String::from("go");
        for arg in args {
            line.push(' ');
            if arg.is_empty() || arg.contains([' ', '$', '^', '\'', '"', '*']) {
                line.push('\'');
                line.push_str(arg);
                line.push('\'');
            } else {
                line.push_str(arg);
            }
        }
        line
    }

    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command.args(args).current_dir(dir);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs `go <args>` in `dir` and captures its output.
    pub(crate) fn output(&self, dir: &Path, args: &[&str]) -> Result<Output, GoBuildpackError> {
        let output = self
            .command(dir, args)
            .output()
            .map_err(|error| GoBuildpackError::Spawn {
                command: Self::display(args),
                error,
            })?;
        Ok(Output::from(&output))
    }

    /// Runs `go <args>` in `dir` under a `$ go …` step, streaming its output into the build
    /// output as it comes (through `fun_run`) and keeping it for error messages.
    pub(crate) fn logged(&self, dir: &Path, args: &[&str]) -> Result<Output, GoBuildpackError> {
        let mut command = self.command(dir, args);
        let result = print::sub_stream_with(format!("$ {}", Self::display(args)), |out, err| {
            command.stream_output(out, err)
        });
        // A failed `go` is not an error here: the caller names the failing package.
        let named = match result {
            Ok(named)
            | Err(
                CmdError::NonZeroExitNotStreamed(named)
                | CmdError::NonZeroExitAlreadyStreamed(named),
            ) => named,
            Err(CmdError::SystemError(_, error)) => {
                return Err(GoBuildpackError::Spawn {
                    command: Self::display(args),
                    error,
                });
            }
        };
        Ok(Output::from(named.output()))
    }

    /// `go env GOVERSION`: the version this `go` reports.
    pub(crate) fn version(&self) -> Result<String, GoBuildpackError> {
        let args = ["env", "GOVERSION"];
        let dir = std::env::temp_dir();
        let output = self.output(&dir, &args)?;
        if output.success {
            Ok(output.stdout.trim().to_owned())
        } else {
            Err(GoBuildpackError::Command {
                command: Self::display(&args),
                output: output.combined(),
            })
        }
    }

    /// `go env GOROOT`.
    pub(crate) fn goroot(&self) -> Result<PathBuf, GoBuildpackError> {
        let args = ["env", "GOROOT"];
        let dir = std::env::temp_dir();
        let output = self.output(&dir, &args)?;
        if output.success && !output.stdout.trim().is_empty() {
            Ok(PathBuf::from(output.stdout.trim()))
        } else {
            Err(GoBuildpackError::Command {
                command: Self::display(&args),
                output: output.combined(),
            })
        }
    }
}

/// The first package named in `go` build output (`# example.com/app/cmd/a` or
/// `FAIL\texample.com/app [build failed]`), if any.
pub(crate) fn package_in_output(output: &str) -> Option<String> {
    output.lines().find_map(|line| {
        if let Some(package) = line.strip_prefix("# ") {
            let package = package.split_whitespace().next()?;
            return Some(package.to_owned());
        }
        let rest = line.strip_prefix("FAIL\t")?;
        let package = rest.split_whitespace().next()?;
        Some(package.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_patterns() {
        assert_eq!(
            Go::display(&["test", "-run", "^$", "./..."]),
            "go test -run '^$' ./..."
        );
    }

    #[test]
    fn finds_the_failing_package() {
        let output = "# example.com/app/cmd/a\ncmd/a/main.go:5:2: undefined: x\n";
        assert_eq!(
            package_in_output(output).as_deref(),
            Some("example.com/app/cmd/a")
        );
        let output = "# example.com/app [example.com/app.test]\n./a_test.go:3:1: syntax error\nFAIL\texample.com/app [build failed]\n";
        assert_eq!(
            package_in_output(output).as_deref(),
            Some("example.com/app")
        );
        assert_eq!(package_in_output("ok\n"), None);
    }

    #[test]
    fn env_replaces_and_runs_with_it() {
        let go = Go::new("/bin/sh")
            .with_env("GOFLAGS", "-a")
            .with_env("GOFLAGS", "-b");
        assert_eq!(go.env.len(), 1);
        let dir = tempfile::tempdir().unwrap();
        let output = go
            .output(
                dir.path(),
                &["-c", "echo \"$GOFLAGS\"; echo err >&2; exit 3"],
            )
            .unwrap();
        assert!(!output.success);
        assert_eq!(output.combined(), "-b\nerr");
    }

    #[test]
    fn logged_streams_into_the_build_output_and_keeps_the_output() {
        let go = Go::new("/bin/sh");
        let dir = tempfile::tempdir().unwrap();
        let mut result = None;
        let printed = bullet_stream::global::with_locked_writer(Vec::new(), || {
            result = Some(go.logged(dir.path(), &["-c", "echo built; echo warn >&2; exit 2"]));
        });
        let output = result.unwrap().unwrap();
        assert!(!output.success);
        assert_eq!(output.combined(), "built\nwarn");
        let printed = bullet_stream::strip_ansi(String::from_utf8_lossy(&printed));
        assert!(
            printed.contains("  - $ go -c 'echo built; echo warn >&2; exit 2'\n")
                && printed.contains("      built\n")
                && printed.contains("  - Done ("),
            "{printed}"
        );
        let missing = Go::new("/nonexistent/go").logged(dir.path(), &["version"]);
        assert!(matches!(missing, Err(GoBuildpackError::Spawn { .. })));
    }
}
