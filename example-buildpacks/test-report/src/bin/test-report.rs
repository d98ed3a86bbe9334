//! `test-report [--require] [-- <command> [<arg>...]]`: runs the command (when given) with
//! `CNB_TEST_RESULTS_DIR` created, then summarizes the results files there.
//!
//! Exit code: the command's when it failed; else 1 when a test failed; else 2 with
//! `--require` and no results file; else 0.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use test_report::{Counts, DEFAULT_RESULTS_DIR, RESULTS_DIR_VAR, summarize_dir};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut require = false;
    let mut command = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--require" => require = true,
            "--" => command.extend(args.by_ref()),
            "-h" | "--help" => {
                println!("usage: test-report [--require] [-- <command> [<arg>...]]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!(
                    "test-report: unknown argument {other:?}; usage: test-report [--require] [-- <command> [<arg>...]]"
                );
                return ExitCode::from(64);
            }
        }
    }

    let dir = PathBuf::from(
        std::env::var(RESULTS_DIR_VAR).unwrap_or_else(|_| DEFAULT_RESULTS_DIR.to_owned()),
    );
    let dir = std::path::absolute(&dir).unwrap_or(dir);

    let mut command_code = 0;
    if let Some((program, rest)) = command.split_first() {
        if let Err(error) = std::fs::create_dir_all(&dir) {
            eprintln!("test-report: cannot create {}: {error}", dir.display());
            return ExitCode::FAILURE;
        }
        match Command::new(program)
            .args(rest)
            .env(RESULTS_DIR_VAR, &dir)
            .status()
        {
            Ok(status) => command_code = status.code().unwrap_or(1),
            Err(error) => {
                eprintln!("test-report: cannot run {program}: {error}");
                return ExitCode::from(127);
            }
        }
    }

    let files = match summarize_dir(&dir) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("test-report: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Test results in {} ({RESULTS_DIR_VAR}):", dir.display());
    let mut total = Counts::default();
    for file in &files {
        println!(
            "  {}: {}",
            file.path.strip_prefix(&dir).unwrap_or(&file.path).display(),
            file.counts
        );
        total += file.counts;
    }
    if files.is_empty() {
        println!("  no results files (*.xml JUnit, *.tap TAP)");
    }
    println!("Total: {total}");

    if command_code != 0 {
        ExitCode::from(u8::try_from(command_code).unwrap_or(1))
    } else if total.failed > 0 {
        ExitCode::FAILURE
    } else if require && files.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
