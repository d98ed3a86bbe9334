//! `cnb-local new`: the generated crate builds, and its own tests pass under every engine that
//! can run here (`cargo test` in the generated crate: slow the first time, it compiles libcnb
//! and the framework into `<target dir>/scaffold`, reused afterwards).

use std::path::PathBuf;
use std::process::{Command, Output};

fn cnb_local(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnb-local"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("cnb-local runs")
}

/// The target directory the generated crates share: `$CARGO_TARGET_DIR/scaffold`, else the
/// workspace's `target/scaffold`.
fn shared_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            PathBuf::from,
        )
        .join("scaffold")
}

#[test]
fn the_generated_buildpack_passes_its_own_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let created = cnb_local(tmp.path(), &["new", "acme/hello-world"]);
    let stdout = String::from_utf8_lossy(&created.stdout);
    assert!(
        created.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let crate_dir = tmp.path().join("hello-world");
    assert!(
        stdout.contains("Created buildpack acme/hello-world"),
        "{stdout}"
    );
    let descriptor = std::fs::read_to_string(crate_dir.join("buildpack.toml")).unwrap();
    assert!(
        descriptor.contains("id = \"acme/hello-world\""),
        "{descriptor}"
    );

    let tested = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(&crate_dir)
        .args(["test", "--quiet", "--", "--nocapture"])
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .expect("cargo runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr),
    );
    assert!(tested.status.success(), "{stdout}\n{stderr}");
    // The three tests of tests/integration.rs ran and passed.
    assert!(
        stdout.contains("test result: ok. 3 passed; 0 failed"),
        "{stdout}\n{stderr}"
    );
    if libcnb_exec_env_test::lifecycle::available() {
        assert!(
            !stderr.contains("SKIPPED (lifecycle engine)"),
            "the lifecycle is installed but the generated tests skipped it: {stderr}"
        );
    }
}

#[test]
fn ids_and_directories_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = cnb_local(tmp.path(), &["new", "acme/hello world"]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("invalid buildpack id \"acme/hello world\": it contains ' '"),
        "{stderr}"
    );
    let reserved = cnb_local(tmp.path(), &["new", "config"]);
    assert!(
        String::from_utf8_lossy(&reserved.stderr).contains("invalid buildpack id \"config\""),
        "{}",
        String::from_utf8_lossy(&reserved.stderr)
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "nothing written"
    );

    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/file"), "").unwrap();
    let taken = cnb_local(tmp.path(), &["new", "acme/x", "--path", "taken"]);
    assert_eq!(taken.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&taken.stderr)
            .contains("already exists and is not an empty directory"),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let placed = cnb_local(tmp.path(), &["new", "acme/x", "--path", "sub/dir"]);
    assert!(placed.status.success());
    assert!(tmp.path().join("sub/dir/src/main.rs").is_file());
    assert!(
        tmp.path()
            .join("sub/dir/tests/fixtures/hello-app/hello.txt")
            .is_file()
    );
}
