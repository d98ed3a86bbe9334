//! The `cnb-package` command line: help, usage errors and their exit codes.

use std::process::{Command, Output};

const USAGE: &str = "usage: cnb-package [--release] [--target <triple>] [--package-dir <dir>] [--quiet] [<buildpack dir>...]";

fn cnb_package(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnb-package"))
        .args(args)
        .output()
        .expect("cnb-package runs")
}

#[test]
fn help_and_usage_errors() {
    for help in ["--help", "-h"] {
        let output = cnb_package(&[help]);
        assert_eq!(output.status.code(), Some(0));
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            format!("{USAGE}\n")
        );
    }
    for (args, message) in [
        (&["--bogus"][..], "error: unknown option --bogus"),
        (&["-x", "dir"][..], "error: unknown option -x"),
        (&["--target"][..], "error: --target needs a value"),
        (
            &["--release", "--package-dir"][..],
            "error: --package-dir needs a value",
        ),
    ] {
        let output = cnb_package(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("{message}\n{USAGE}\n"),
            "{args:?}"
        );
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_directory_without_a_buildpack_is_an_error() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let output = cnb_package(&["--quiet", &tmp.path().to_string_lossy()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("error: "),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
