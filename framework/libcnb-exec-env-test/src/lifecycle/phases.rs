//! Running one lifecycle phase as a process: its environment, its user, its combined output.

use super::files::io;
use super::workdir::Dirs;
use super::{PLATFORM_API, user};
use crate::engine::{EngineError, Progress};
use crate::results::{Phase, PhaseOutput};
use libcnb_exec_env::ExecEnv;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One phase run: its combined output and exit code.
pub(super) struct PhaseRun {
    pub(super) output: String,
    pub(super) code: Option<i32>,
}

/// Runs a command with stdout and stderr combined into one stream, optionally echoed.
pub(super) fn run_combined(
    mut command: Command,
    progress: Progress,
    what: &str,
) -> Result<PhaseRun, EngineError> {
    const TEXT_FILE_BUSY: i32 = 26;
    let (reader, writer) = std::io::pipe().map_err(io(format!("cannot run {what}")))?;
    let writer2 = writer
        .try_clone()
        .map_err(io(format!("cannot run {what}")))?;
    command.stdin(Stdio::null()).stdout(writer).stderr(writer2);
    // ETXTBSY: a child forked by another thread while the binaries were being staged still
    // holds them open for writing until it execs; that passes within moments.
    let mut attempts = 0;
    let mut child = loop {
        match command.spawn() {
            Err(error) if error.raw_os_error() == Some(TEXT_FILE_BUSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            result => break result.map_err(io(format!("cannot start {what}")))?,
        }
    };
    drop(command);
    let mut output = String::new();
    let mut lines = std::io::BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = lines
            .read_until(b'\n', &mut buf)
            .map_err(io(format!("cannot read the output of {what}")))?;
        if read == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        if progress == Progress::Stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        output.push_str(&line);
    }
    let status = child
        .wait()
        .map_err(io(format!("cannot wait for {what}")))?;
    Ok(PhaseRun {
        output,
        code: status.code(),
    })
}

/// The lifecycle's inputs shared by every phase.
pub(super) struct Runner<'a> {
    pub(super) lifecycle: PathBuf,
    pub(super) user: &'a user::RunUser,
    pub(super) dirs: &'a Dirs,
    pub(super) exec_env: &'a ExecEnv,
    pub(super) progress: Progress,
    pub(super) phases: Vec<PhaseOutput>,
    /// Lines put before the next phase's output (which engine runs, who runs it).
    pub(super) intro: String,
}

impl Runner<'_> {
    pub(super) fn phase(&mut self, phase: Phase, args: &[&str]) -> Result<PhaseRun, EngineError> {
        let command = self.command(phase, args);
        crate::platform::build_watch::phase(phase);
        if self.progress == Progress::Stderr {
            eprintln!("===> {} (CNB lifecycle)", phase.to_string().to_uppercase());
        }
        let run = run_combined(
            command,
            self.progress,
            &format!("the lifecycle's {phase} phase"),
        )?;
        self.phases.push(PhaseOutput {
            phase,
            output: format!("{}{}", std::mem::take(&mut self.intro), run.output),
            success: run.code == Some(0),
        });
        Ok(run)
    }

    /// The command of one phase: the lifecycle's flags, the Platform API, `CNB_EXEC_ENV`, the
    /// engine's `TMPDIR`, the user.
    fn command(&self, phase: Phase, args: &[&str]) -> Command {
        let mut command = Command::new(&self.lifecycle);
        command.arg(phase.to_string()).args(args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CNB_") {
                command.env_remove(key);
            }
        }
        command
            .env("CNB_PLATFORM_API", PLATFORM_API)
            .env("CNB_EXEC_ENV", self.exec_env.to_string())
            .env("CNB_EXPERIMENTAL_MODE", "warn")
            .env("CNB_NO_COLOR", "true")
            // The engine's own temporary directory: a `TMPDIR` the user cannot write would
            // make the detector fail on `plan.*`.
            .env("TMPDIR", &self.dirs.tmp)
            .current_dir(&self.dirs.work);
        self.user.apply(&mut command, &self.dirs.home);
        command
    }

    pub(super) fn output(&self) -> String {
        let mut text = String::new();
        for phase in &self.phases {
            let _ = write!(
                text,
                "===> {}\n{}",
                phase.phase.to_string().to_uppercase(),
                phase.output
            );
        }
        text
    }

    pub(super) fn failed(&self, phase: Phase, run: &PhaseRun) -> EngineError {
        EngineError::PhaseFailed {
            phase: phase.to_string(),
            code: run
                .code
                .map_or_else(|| "a signal".to_owned(), |code| code.to_string()),
            output: self.output(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn phases_get_the_engines_own_tmpdir() {
        let dirs = Dirs::new(Path::new("/c"));
        let user = user::RunUser {
            uid: 1,
            gid: 1,
            home: None,
            drop_root: false,
            note: None,
        };
        let runner = Runner {
            lifecycle: PathBuf::from("/bin/lifecycle"),
            user: &user,
            dirs: &dirs,
            exec_env: &ExecEnv::Production,
            progress: Progress::Quiet,
            phases: Vec::new(),
            intro: String::new(),
        };
        let command = runner.command(Phase::Detect, &["-app", "/w"]);
        let tmpdir = command
            .get_envs()
            .find(|(key, _)| *key == "TMPDIR")
            .and_then(|(_, value)| value);
        assert_eq!(tmpdir, Some(Path::new("/c/lifecycle/tmp").as_os_str()));
        assert_eq!(dirs.tmp, Path::new("/c/lifecycle/tmp"));
    }
}
