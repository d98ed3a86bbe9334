//! Running commands: quietly for queries, streamed (and kept for error messages) for Bundler.

use crate::errors::RubyBuildpackError;
use std::io::{BufRead, BufReader, Read};
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

/// Runs `cmd`, echoing each output line (indented) while it runs.
///
/// # Errors
/// [`RubyBuildpackError::Spawn`] when the command cannot be started or its output read.
pub(crate) fn stream(cmd: &mut Command) -> Result<Output, RubyBuildpackError> {
    run(cmd, true)
}

/// Runs `cmd` without echoing its output.
///
/// # Errors
/// [`RubyBuildpackError::Spawn`] when the command cannot be started or its output read.
pub(crate) fn capture(cmd: &mut Command) -> Result<Output, RubyBuildpackError> {
    run(cmd, false)
}

fn run(cmd: &mut Command, echo: bool) -> Result<Output, RubyBuildpackError> {
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
        if echo {
            println!("      {line}");
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
    fn a_missing_program_is_a_spawn_error() {
        let error = stream(&mut Command::new("/nonexistent/program")).unwrap_err();
        assert!(matches!(error, RubyBuildpackError::Spawn { .. }));
        assert!(error.to_string().contains("/nonexistent/program"));
    }
}
