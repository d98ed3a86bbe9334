//! The composite `examples/composite`, packaged by libcnb-exec-env-package (the way it ships:
//! `cargo libcnb package` cannot package it), built by the local platform under every available
//! engine: each example app gets the right group, and the test-only `examples/test-report`
//! joins the group in test builds only.
//!
//! In production, what keeps test-report out is its own `[buildpack] exec-env = ["test"]`:
//! the real lifecycle skips it at detect. The composite's order groups also carry
//! `exec-env = ["test"]` on the test-report entry, which the lifecycle ignores today.

#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_package::{PackageOptions, package_workspace_buildpack};
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, DetectOutcome, Engine, LaunchConfig, LocalRunner, TestContext,
    available_engines,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TEST_REPORT: &str = "examples/test-report";

/// The packaged composite (packaged once per test process; the package lock serializes
/// packaging with other test processes).
fn composite() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        package_workspace_buildpack(
            Path::new(env!("CARGO_MANIFEST_DIR")),
            "examples/composite",
            &PackageOptions::default().quiet(true),
        )
        .unwrap()
        .dir
    })
}

fn example_app(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../example-apps")
        .join(path)
}

fn config(app: &Path, exec_env: ExecEnv, engine: Engine) -> BuildConfig {
    let mut config = BuildConfig::new(app);
    config
        .buildpacks([BuildpackReference::Packaged(composite().to_path_buf())])
        .exec_env(exec_env)
        .engine(engine);
    config
}

fn outcome<'a>(ctx: &'a TestContext<'_>, id: &str) -> Vec<&'a DetectOutcome> {
    ctx.report
        .detect
        .iter()
        .filter(|report| report.buildpack_id == id)
        .map(|report| &report.outcome)
        .collect()
}

/// Builds `app` through the composite in test, then in production, and checks the group,
/// the processes and the test steps.
fn check(language: &str, app: &Path) {
    let buildpack = format!("examples/{language}");
    for engine in available_engines() {
        eprintln!("--- {language} under {engine:?}");
        LocalRunner::default().build(config(app, ExecEnv::Test, engine), |ctx| {
            assert_eq!(
                ctx.report.group,
                [buildpack.as_str(), TEST_REPORT],
                "{engine:?}: test build group\n{}",
                ctx.pack_stdout
            );
            let eligible = ctx.processes_eligible();
            assert!(
                eligible.contains(&"test".to_owned())
                    && eligible.contains(&"test-report".to_owned()),
                "{engine:?}: {eligible:?}"
            );
            let layer = ctx.layer(TEST_REPORT, "test-report").unwrap();
            assert!(layer.launch && !layer.build, "{engine:?}: {layer:?}");

            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            assert!(run.success(), "{engine:?}: test process\n{}", run.output());
            let report = ctx.launch(
                LaunchConfig::new()
                    .process("test-report")
                    .exec_env(ExecEnv::Test),
            );
            assert!(
                report.success() && report.stdout.contains("Test results in"),
                "{engine:?}: test-report process\n{}",
                report.output()
            );

            ctx.rebuild(config(app, ExecEnv::Production, engine), |ctx| {
                assert_eq!(
                    ctx.report.group,
                    [buildpack.as_str()],
                    "{engine:?}: production build group\n{}",
                    ctx.pack_stdout
                );
                // The declaration keeps it out before its detect runs (lifecycle
                // phase/detector.go; the built-in engine does the same).
                assert!(
                    outcome(&ctx, TEST_REPORT)
                        .iter()
                        .all(|outcome| matches!(outcome, DetectOutcome::SkippedExecEnv { .. })),
                    "{engine:?}: {:?}",
                    outcome(&ctx, TEST_REPORT)
                );
                assert!(
                    !ctx.report
                        .processes
                        .iter()
                        .any(|process| process.buildpack_id == TEST_REPORT),
                    "{engine:?}: {:?}",
                    ctx.report.processes
                );
                assert!(ctx.layer(TEST_REPORT, "test-report").is_none());
                assert!(!ctx.processes_eligible().contains(&"test".to_owned()));
            });
        });
    }
}

#[test]
fn go_app_gets_the_go_group() {
    check("go", &example_app("go/hello"));
}

#[test]
fn nodejs_app_gets_the_nodejs_group() {
    check("nodejs", &example_app("nodejs/greeting-service"));
}

#[test]
fn ruby_app_gets_the_ruby_group() {
    // rubygems.org is not reachable: vendor the system gems into a copy of the app.
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("rack-minitest");
    copy_dir(&example_app("ruby/rack-minitest"), &app);
    let output = Command::new("ruby")
        .arg(example_app("ruby/vendor-system-gems.rb"))
        .arg(&app)
        .output()
        .expect("ruby must be installed (apt-get install ruby bundler)");
    assert!(
        output.status.success(),
        "vendoring the system gems failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    check("ruby", &app);
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
