//! The real lifecycle's own packages as a fuzzing oracle (`docs/fuzzing.md`): the Go program in
//! `tests/lifecycle-env-oracle` (lifecycle v0.21.11's `env` and `buildpack` packages), built
//! once per test process and kept running, fed one JSON request per line, so a campaign of a
//! million cases costs one process start.
//!
//! Without Go the differential checks are skipped with a message, except under `CI=true`, where
//! a missing oracle fails the test (a fuzz test never passes there by skipping its oracle).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub(crate) struct Oracle {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
}

fn start() -> Option<Oracle> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lifecycle-env-oracle");
    let dir = tempfile::tempdir().ok()?;
    let binary = dir.path().join("oracle");
    let built = Command::new("go")
        .args(["build", "-mod=mod", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(&source)
        .status()
        .ok()?
        .success();
    if !built {
        return None;
    }
    let mut child = Command::new(&binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    let stdout = BufReader::new(child.stdout.take()?);
    Some(Oracle {
        _child: child,
        stdin,
        stdout,
        _dir: dir,
    })
}

fn oracle() -> Option<&'static Mutex<Oracle>> {
    static ORACLE: OnceLock<Option<Mutex<Oracle>>> = OnceLock::new();
    ORACLE
        .get_or_init(|| {
            let oracle = start();
            if oracle.is_none() {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "cannot build or start the lifecycle oracle (tests/lifecycle-env-oracle, \
                     needs Go): the differential fuzz tests cannot skip under CI=true"
                );
                eprintln!(
                    "cannot build the lifecycle oracle (Go missing?): differential checks skipped"
                );
            }
            oracle.map(Mutex::new)
        })
        .as_ref()
}

/// The oracle's answer to one request (a JSON object), or `None` without the oracle.
///
/// # Panics
/// When the oracle process stops answering (a crash of the lifecycle's code is a finding).
pub(crate) fn ask(request: &serde_json::Value) -> Option<serde_json::Value> {
    let oracle = oracle()?;
    let mut oracle = oracle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    writeln!(oracle.stdin, "{request}").expect("the lifecycle oracle stopped reading");
    let mut line = String::new();
    let read = oracle
        .stdout
        .read_line(&mut line)
        .expect("the lifecycle oracle stopped answering");
    assert!(read > 0, "the lifecycle oracle exited on {request}");
    Some(serde_json::from_str(&line).expect("the lifecycle oracle wrote a line that is not JSON"))
}
