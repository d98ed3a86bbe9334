//! Running commands: quietly for queries, streamed (and kept for error messages) for Bundler.
//!
//! Not `fun_run`: a Bundler failure quotes stdout and stderr interleaved as printed, in one
//! text; `fun_run` keeps the two apart. The streamed output goes through `bullet_stream`.

use crate::errors::RubyBuildpackError;
use bullet_stream::global::print;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

/// A finished command: its status and its stdout and stderr, interleaved as printed.
#[derive(Debug)]
pub(crate) struct Output {
    /// The exit status.
    pub(crate) status: ExitStatus,
    /// stdout and stderr.
    pub(crate) text: String,
}

/// The command line as a user would type it.
pub(crate) fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` under a `title` step (`$ bundle install …`), streaming each output line into the
/// build output while it runs.
///
/// # Errors
/// [`RubyBuildpackError::Spawn`] when the command cannot be started or its output read.
pub(crate) fn stream(cmd: &mut Command, title: &str) -> Result<Output, RubyBuildpackError> {
    print::sub_stream_with(title, |mut out, _| run(cmd, Some(out.as_mut())))
}

/// Runs `cmd` without echoing its output.
///
/// # Errors
/// [`RubyBuildpackError::Spawn`] when the command cannot be started or its output read.
pub(crate) fn capture(cmd: &mut Command) -> Result<Output, RubyBuildpackError> {
    run(cmd, None)
}

fn run(cmd: &mut Command, mut echo: Option<&mut dyn Write>) -> Result<Output, RubyBuildpackError> {
    let shown = display(cmd);
    let spawn_error = |source| RubyBuildpackError::Spawn {
        command: shown.clone(),
        source,
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;

    // stdout and stderr are read on their own threads and merged in arrival order.
    let (sender, receiver) = mpsc::channel::<String>();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn Read + Send>),
    ];
    let readers: Vec<_> = streams
        .into_iter()
        .flatten()
        .map(|stream| {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
                    if sender
                        .send(String::from_utf8_lossy(&line).into_owned())
                        .is_err()
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    drop(sender);

    let mut text = String::new();
    for line in receiver {
        if let Some(out) = echo.as_mut() {
            // The build output is best effort: a closed writer must not fail the build.
            let _ = writeln!(out, "{line}");
        }
        text.push_str(&line);
        text.push('\n');
    }
    for reader in readers {
        // A reader thread only ends by itself; a panic there loses nothing already sent.
        let _ = reader.join();
    }
    let status = child.wait().map_err(spawn_error)?;
    Ok(Output { status, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_stdout_and_stderr_and_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let output = capture(&mut cmd).unwrap();
        assert_eq!(output.status.code(), Some(3));
        assert!(output.text.contains("out\n") && output.text.contains("err\n"));
        assert_eq!(display(&cmd), "sh -c echo out; echo err >&2; exit 3");
    }

    #[test]
    fn streams_into_the_build_output_and_keeps_the_text() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2"]);
        let mut result = None;
        let printed = bullet_stream::global::with_locked_writer(Vec::new(), || {
            result = Some(stream(&mut cmd, "$ sh"));
        });
        let output = result.unwrap().unwrap();
        assert!(output.status.success());
        assert!(output.text.contains("out\n") && output.text.contains("err\n"));
        let printed = bullet_stream::strip_ansi(String::from_utf8_lossy(&printed));
        assert!(
            printed.contains("  - $ sh\n")
                && printed.contains("      out\n")
                && printed.contains("  - Done ("),
            "{printed}"
        );
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let error = stream(&mut Command::new("/nonexistent/program"), "$ nonexistent").unwrap_err();
        assert!(matches!(error, RubyBuildpackError::Spawn { .. }));
        assert!(error.to_string().contains("/nonexistent/program"));
    }
}
