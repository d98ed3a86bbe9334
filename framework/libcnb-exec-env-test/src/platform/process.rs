//! Running a tool (pack, docker, a lifecycle phase) as a child process: in its own process group,
//! stdout and stderr collected (and streamed to this process's stderr when asked), with an
//! optional timeout that ends the whole group.

use crate::engine::{EngineError, Progress};
use crate::platform::build_watch;
use std::io::{BufRead, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished child process left.
#[derive(Clone, Debug, Default)]
pub struct Finished {
    /// Its exit code (`None`: ended by a signal or by the timeout).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// Whether the timeout ended it.
    pub timed_out: bool,
    /// How long it ran.
    pub duration: Duration,
}

impl Finished {
    /// Exit code 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout then stderr.
    #[must_use]
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The exit code for a message: the number, or what ended the process.
    #[must_use]
    pub fn code_text(&self) -> String {
        match self.code {
            Some(code) => code.to_string(),
            None if self.timed_out => "a timeout".to_owned(),
            None => "a signal".to_owned(),
        }
    }
}

/// Runs `command` to its end: no stdin, stdout and stderr collected apart and, with
/// [`Progress::Stderr`], each line copied to this process's stderr as it comes. The child leads a
/// process group of its own; when it exits, or when `timeout` passes, the whole group is killed,
/// as stopping a container ends every process in it: a background grandchild that still holds
/// the pipes can neither outlive the run nor keep the call waiting.
///
/// # Errors
/// The program cannot be started or waited for; `what` names it.
pub fn run(
    mut command: Command,
    progress: Progress,
    timeout: Option<Duration>,
    what: &str,
) -> Result<Finished, EngineError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(EngineError::io(format!("cannot start {what}")))?;
    let watched = build_watch::current();
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        let watched = watched.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let Some(pipe) = pipe else { return text };
            let mut reader = std::io::BufReader::new(pipe);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                let chunk = String::from_utf8_lossy(&line);
                if let Some(watched) = &watched {
                    watched.line(&chunk);
                }
                if progress == Progress::Stderr {
                    let _ = std::io::stderr().write_all(chunk.as_bytes());
                }
                text.push_str(&chunk);
                line.clear();
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(EngineError::io(format!("cannot wait for {what}")))?
        {
            break Some(status);
        }
        if timeout.is_some_and(|limit| started.elapsed() >= limit) {
            timed_out = true;
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // The group outlives its leader while members remain, and its id is not reused meanwhile.
    kill_group(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok(Finished {
        code: status.and_then(|status| status.code()),
        stdout,
        stderr,
        timed_out,
        duration: started.elapsed(),
    })
}

/// Sends SIGKILL to the process group `pgid` (the child was made its leader).
fn kill_group(pgid: u32) {
    // `kill -KILL -<pgid>`: std has no portable group kill and this crate has no libc binding.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_both_streams_and_the_code() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 7"]);
        let finished = run(command, Progress::Quiet, None, "sh").unwrap();
        assert_eq!(finished.code, Some(7));
        assert_eq!(finished.stdout, "out\n");
        assert_eq!(finished.stderr, "err\n");
        assert!(!finished.timed_out);
    }

    #[test]
    fn a_timeout_ends_grandchildren_holding_the_pipes() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & sleep 30"]);
        let finished = run(
            command,
            Progress::Quiet,
            Some(Duration::from_millis(300)),
            "sh",
        )
        .unwrap();
        assert!(finished.timed_out);
        assert_eq!(finished.code, None);
        assert!(finished.duration < Duration::from_secs(5), "{finished:?}");
    }

    #[test]
    fn a_missing_program_names_what_could_not_start() {
        let error = run(
            Command::new("/nonexistent/tool"),
            Progress::Quiet,
            None,
            "the tool",
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("cannot start the tool"),
            "{error}"
        );
    }
}
