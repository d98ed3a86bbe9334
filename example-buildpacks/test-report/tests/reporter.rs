//! The `test-report` program: runs a command, summarizes what it wrote, sets the exit code.

use std::process::Command;

fn reporter(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_test-report"));
    command.current_dir(dir).env_remove("CNB_TEST_RESULTS_DIR");
    command
}

#[test]
fn runs_the_command_and_summarizes_its_results() {
    let app = tempfile::tempdir().unwrap();
    let output = reporter(app.path())
        .args([
            "--",
            "sh",
            "-c",
            "printf 'ok 1\\nok 2\\n' > \"$CNB_TEST_RESULTS_DIR/unit.tap\"",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("unit.tap: 2 tests, 0 failed"), "{stdout}");
    // The default directory is relative to the working directory (the app directory).
    assert!(app.path().join("test-results/unit.tap").is_file());
}

#[test]
fn failures_and_missing_results_set_the_exit_code() {
    let app = tempfile::tempdir().unwrap();
    let results = app.path().join("out");
    std::fs::create_dir(&results).unwrap();
    std::fs::write(
        results.join("a.xml"),
        "<testcase name=\"x\"><failure/></testcase>",
    )
    .unwrap();
    let output = reporter(app.path())
        .env("CNB_TEST_RESULTS_DIR", "out")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 failed"));

    let output = reporter(app.path())
        .args(["--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(7));

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(reporter(empty.path()).status().unwrap().code(), Some(0));
    assert_eq!(
        reporter(empty.path())
            .arg("--require")
            .status()
            .unwrap()
            .code(),
        Some(2)
    );
}
