//! The example buildpacks with the real pack and Docker (libcnb-test 0.30): test images built
//! through the packaged composite, then their `test` process run in a container.
//!
//! Ignored by default: this project's machines have neither Docker nor pack. Where they exist:
//!
//! ```sh
//! CNB_TEST_BUILDER=<builder> cargo test -p integration-tests --test pack -- --ignored
//! ```
//!
//! The builder's lifecycle must support Platform API 0.15 (lifecycle >= 0.21) for the
//! `--exec-env` tests, and its build and run images must provide Node.js and Ruby (the example
//! buildpacks do not install them). Default builder: `heroku/builder:24`.
//!
//! Buildpacks are packaged with libcnb-exec-env-package: libcnb-test's `CurrentCrate` and
//! `WorkspaceBuildpack` go through libcnb-package, which cannot package examples/test-report or
//! the composite (their exec-env keys). libcnb-test 0.30 has no `--exec-env` option, so the
//! libcnb-test tests use `--env CNB_EXEC_ENV=test` (what older pack versions need), and the
//! `--exec-env` tests drive `pack build` and `docker` directly.

#![allow(clippy::unwrap_used)]

use libcnb_exec_env_package::{PackageOptions, package_workspace_buildpack};
use libcnb_test::{BuildConfig, BuildpackReference, ContainerConfig, TestRunner};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const TARGET: &str = "x86_64-unknown-linux-musl";

fn builder() -> String {
    std::env::var("CNB_TEST_BUILDER").unwrap_or_else(|_| "heroku/builder:24".to_owned())
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The composite and its components as one buildpack file (`pack buildpack package`).
fn composite_cnb() -> &'static Path {
    static CNB: OnceLock<PathBuf> = OnceLock::new();
    CNB.get_or_init(|| {
        let packaged = package_workspace_buildpack(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            "examples/composite",
            &PackageOptions::default().target(TARGET),
        )
        .unwrap();
        let cnb =
            std::env::temp_dir().join(format!("examples-composite-{}.cnb", std::process::id()));
        // The packaged package.toml: `uri = "."` plus the components' absolute paths.
        run(Command::new("pack")
            .args(["buildpack", "package"])
            .arg(&cnb)
            .arg("--config")
            .arg(packaged.dir.join("package.toml"))
            .args(["--format", "file"]));
        cnb
    })
}

/// An example app; Ruby apps get the system gems vendored (like the local-platform tests).
fn app(language: &str) -> (PathBuf, Option<tempfile::TempDir>) {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-apps");
    match language {
        "ruby" => {
            let dir = tempfile::tempdir().unwrap();
            let app = dir.path().join("rack-minitest");
            copy_dir(&apps.join("ruby/rack-minitest"), &app);
            run(Command::new("ruby")
                .arg(apps.join("ruby/vendor-system-gems.rb"))
                .arg(&app));
            (app, Some(dir))
        }
        "nodejs" => (apps.join("nodejs/greeting-service"), None),
        _ => (apps.join("go/hello"), None),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// libcnb-test: `pack build --env CNB_EXEC_ENV=test`, then the `test` process with and without
/// `CNB_EXEC_ENV=test` in the container.
fn with_env_var(language: &str) {
    let (app, _tmp) = app(language);
    let mut config = BuildConfig::new(builder(), &app);
    config
        .buildpacks([BuildpackReference::Other(
            composite_cnb().display().to_string(),
        )])
        .target_triple(TARGET)
        .env("CNB_EXEC_ENV", "test");
    TestRunner::default().build(&config, |ctx| {
        assert!(
            ctx.pack_stdout.contains(&format!("examples/{language}")),
            "{}",
            ctx.pack_stdout
        );
        // The buildpack saw `test` through the platform env file (pack relays the lifecycle's
        // output; check both streams).
        let pack_output = format!("{}{}", ctx.pack_stdout, ctx.pack_stderr);
        assert!(
            pack_output.contains("Execution environment: test"),
            "{pack_output}"
        );
        ctx.start_container(
            ContainerConfig::new()
                .entrypoint("test")
                .env("CNB_EXEC_ENV", "test"),
            |container| {
                let logs = container.logs_wait();
                assert!(!logs.stdout.is_empty(), "{logs}");
                assert!(!logs.stderr.contains("was not found"), "{logs}");
            },
        );
        // The launcher gotcha: without CNB_EXEC_ENV the container runs in production, where
        // the test process is not eligible.
        ctx.start_container(ContainerConfig::new().entrypoint("test"), |container| {
            let logs = container.logs_wait();
            assert!(
                logs.stderr.contains("process type test was not found"),
                "{logs}"
            );
        });
    });
}

/// pack >= 0.40: `pack build --exec-env test`; the image is labelled, test-report joins the
/// group, and the test processes run with `docker run -e CNB_EXEC_ENV=test`.
fn with_exec_env_flag(language: &str) {
    let (app, _tmp) = app(language);
    let image = format!("libcnb-exec-env-{language}-{}:test", std::process::id());
    let build = run(Command::new("pack")
        .args(["build", &image, "--builder", &builder(), "--path"])
        .arg(&app)
        .arg("--buildpack")
        .arg(composite_cnb())
        .args([
            "--trust-builder",
            "--trust-extra-buildpacks",
            "--pull-policy",
            "if-not-present",
            "--exec-env",
            "test",
        ]));
    let pack_output = String::from_utf8_lossy(&build.stdout).into_owned();
    let check = || {
        assert!(
            pack_output.contains(&format!("examples/{language}"))
                && pack_output.contains("examples/test-report"),
            "{pack_output}"
        );
        let label = run(Command::new("docker").args([
            "inspect",
            "--format",
            "{{ index .Config.Labels \"io.buildpacks.exec-env\" }}",
            &image,
        ]));
        assert_eq!(String::from_utf8_lossy(&label.stdout).trim(), "test");
        run(Command::new("docker").args(["run", "--rm", "-e", "CNB_EXEC_ENV=test", &image]));
        let report = run(Command::new("docker").args([
            "run",
            "--rm",
            "-e",
            "CNB_EXEC_ENV=test",
            "--entrypoint",
            "test-report",
            &image,
        ]));
        assert!(String::from_utf8_lossy(&report.stdout).contains("Test results in"));
        let plain = Command::new("docker")
            .args(["run", "--rm", &image])
            .output()
            .unwrap();
        assert!(
            !plain.status.success(),
            "the test process must need CNB_EXEC_ENV=test"
        );
    };
    let result = std::panic::catch_unwind(check);
    let _ = Command::new("docker").args(["rmi", "-f", &image]).output();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
#[ignore = "needs docker and pack"]
fn nodejs_test_image_with_env_var() {
    with_env_var("nodejs");
}

#[test]
#[ignore = "needs docker and pack"]
fn ruby_test_image_with_env_var() {
    with_env_var("ruby");
}

#[test]
#[ignore = "needs docker and pack"]
fn go_test_image_with_env_var() {
    with_env_var("go");
}

#[test]
#[ignore = "needs docker and pack"]
fn nodejs_test_image_with_exec_env_flag() {
    with_exec_env_flag("nodejs");
}

#[test]
#[ignore = "needs docker and pack"]
fn ruby_test_image_with_exec_env_flag() {
    with_exec_env_flag("ruby");
}

#[test]
#[ignore = "needs docker and pack"]
fn go_test_image_with_exec_env_flag() {
    with_exec_env_flag("go");
}
