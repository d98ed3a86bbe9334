//! The example buildpacks under real pack on a real Docker engine, through the local platform's
//! pack engine: the builder `scripts/local-builder.sh` makes (build and run images from Debian
//! packages, the run image without Node.js and Go), `pack build --exec-env`, one build cache
//! volume per app shared by every environment, and `docker run -e CNB_EXEC_ENV` launches.
//!
//! Under CI (`CI=true`) a missing Docker engine, pack or builder fails these tests; elsewhere
//! they say loudly that they skip. Every image and cache volume a test makes is removed when its
//! temporary cache directory is dropped; `.ci/run` checks that none is left.

#![allow(clippy::unwrap_used)]

use integration_tests::copy_example_app;
use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_package::{PackageOptions, package_workspace_buildpack};
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, EngineError, LaunchConfig, LaunchResult, LayerState,
    LocalRunner, TestContext, pack, require,
};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const GO: &str = "examples/go";
const RUBY: &str = "examples/ruby";
const NODE: &str = "examples/nodejs";

/// The packaged composite of the example buildpacks (packaged once per test process).
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

fn config(app: &Path, exec_env: ExecEnv) -> BuildConfig {
    let mut config = BuildConfig::new(app);
    config
        .buildpacks([BuildpackReference::Packaged(composite().to_path_buf())])
        .exec_env(exec_env)
        .engine(Engine::Pack);
    config
}

fn label<'a>(ctx: &'a TestContext<'_>, key: &str) -> Option<&'a str> {
    ctx.report.labels.get(key).map(String::as_str)
}

fn state(ctx: &TestContext<'_>, buildpack: &str, name: &str) -> Option<LayerState> {
    ctx.layer(buildpack, name).map(|layer| layer.state)
}

fn assert_state(ctx: &TestContext<'_>, buildpack: &str, name: &str, expected: LayerState) {
    assert_eq!(
        state(ctx, buildpack, name),
        Some(expected),
        "{buildpack}:{name}; layers: {:#?}\n{}",
        ctx.report.layers,
        ctx.pack_stdout
    );
}

fn docker() -> Command {
    pack::tools::locate().unwrap().docker()
}

/// Runs `script` with `sh` in a throwaway container of the build's image; whether it exited 0.
fn in_image(ctx: &TestContext<'_>, script: &str) -> bool {
    let image = pack::image_name(ctx.image_dir()).unwrap();
    let output = docker()
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            &image,
            "-c",
            script,
        ])
        .output()
        .unwrap();
    output.status.success()
}

/// `test` in a test launch (`docker run -e CNB_EXEC_ENV=test`).
fn run_tests(ctx: &TestContext<'_>) -> LaunchResult {
    ctx.launch(
        LaunchConfig::new()
            .exec_env(ExecEnv::Test)
            .timeout(Duration::from_secs(600)),
    )
}

/// A test image's default process is refused in a launch without `CNB_EXEC_ENV` (the launcher
/// exits 82), with the error that says how to launch it.
fn assert_test_needs_the_env(ctx: &TestContext<'_>) {
    let error = ctx.try_launch(LaunchConfig::new()).unwrap_err();
    assert!(matches!(error, EngineError::NotEligible { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("docker run -e CNB_EXEC_ENV=test"),
        "{error}"
    );
}

/// Starts the default process of the build's image detached with `PORT`, asks for `path` on
/// loopback, stops it, and returns the answer.
fn http_get(ctx: &TestContext<'_>, port: u16, path: &str) -> String {
    let image = pack::image_name(ctx.image_dir()).unwrap();
    let name = format!("pack-test-http-{}-{port}", std::process::id());
    let started = docker()
        .args([
            "run",
            "--detach",
            "--name",
            &name,
            "--network",
            "host",
            "-e",
        ])
        .arg(format!("PORT={port}"))
        .arg(&image)
        .output()
        .unwrap();
    assert!(started.status.success(), "{started:?}");
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            write!(
                stream,
                "GET {path} HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let _ = stream.read_to_string(&mut answer);
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = docker().args(["logs", &name]).output().unwrap();
    let _ = docker().args(["rm", "--force", &name]).output();
    assert!(
        !answer.is_empty(),
        "nothing answered on 127.0.0.1:{port}; container logs:\n{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
    answer
}

/// Go: a test image whose suite passes, a lean production image (no toolchain: the run image has
/// no Go) that serves HTTP, test again from the same cache volume with nothing reinstalled, a
/// development image, and a failing suite's exit code.
#[test]
fn go_on_pack() {
    if !require(Engine::Pack) {
        return;
    }
    let app = copy_example_app("go/hello");
    LocalRunner::default().build(config(app.path(), ExecEnv::Test), |ctx| {
        assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("test"));
        assert_eq!(ctx.report.default_process.as_deref(), Some("test"));
        assert!(ctx.layer(GO, "go-toolchain").is_some_and(|l| l.launch));
        let run = run_tests(&ctx);
        assert!(run.success(), "{}", run.output());
        assert!(
            run.output().contains("ok  \texample.com/hello"),
            "{}",
            run.output()
        );
        assert_test_needs_the_env(&ctx);

        ctx.rebuild(config(app.path(), ExecEnv::Production), |ctx| {
            assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("production"));
            assert_eq!(ctx.report.default_process.as_deref(), Some("web"));
            let toolchain = ctx.layer(GO, "go-toolchain").unwrap();
            assert!(toolchain.cache && !toolchain.launch, "{toolchain:?}");
            assert!(
                in_image(
                    &ctx,
                    "! command -v go && ! test -e /layers/examples_go/go-toolchain"
                ),
                "a Go toolchain in the production image"
            );
            let answer = http_get(&ctx, 18_431, "/?name=pack");
            assert!(answer.contains("Hello, pack!"), "{answer}");

            ctx.rebuild(config(app.path(), ExecEnv::Test), |ctx| {
                assert_state(&ctx, GO, "go-toolchain", LayerState::Restored);
                assert_state(&ctx, GO, "go-mod-cache", LayerState::Restored);
                assert!(
                    !ctx.pack_stdout.contains("Downloading golang.org/toolchain"),
                    "{}",
                    ctx.pack_stdout
                );
                let run = run_tests(&ctx);
                assert!(run.success(), "{}", run.output());

                ctx.rebuild(config(app.path(), ExecEnv::Development), |ctx| {
                    assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("development"));
                    assert_eq!(ctx.report.default_process.as_deref(), Some("dev"));
                });
            });
        });
    });

    let failing = copy_example_app("go/failing-test");
    LocalRunner::default().build(config(failing.path(), ExecEnv::Test), |ctx| {
        let run = run_tests(&ctx);
        assert_eq!(
            run.exit_code,
            Some(1),
            "go test's exit code\n{}",
            run.output()
        );
        assert!(run.test.is_some_and(|test| !test.passed));
    });
}

/// Ruby (the stack's Ruby): a test image whose suite passes, then a production build asked for
/// the pack-before-0.40 way (`--env CNB_EXEC_ENV=test` without `--exec-env`): lifecycle 0.21
/// builds production and the framework says so; a failing suite's exit code.
#[test]
fn ruby_on_pack() {
    if !require(Engine::Pack) {
        return;
    }
    let app = copy_example_app("ruby/rack-minitest");
    LocalRunner::default().build(config(app.path(), ExecEnv::Test), |ctx| {
        assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("test"));
        let run = run_tests(&ctx);
        assert!(run.success(), "{}", run.output());
        assert!(run.output().contains("0 failures"), "{}", run.output());
        assert_test_needs_the_env(&ctx);

        ctx.rebuild(
            config(app.path(), ExecEnv::Production).env("CNB_EXEC_ENV", "test"),
            |ctx| {
                assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("production"));
                assert!(
                    ctx.pack_stdout.contains("platform env file")
                        && ctx.pack_stdout.contains("says `test`")
                        && ctx.pack_stdout.contains("pack build --exec-env test"),
                    "{}",
                    ctx.pack_stdout
                );
                assert!(!ctx.processes_eligible().contains(&"test".to_owned()));
                assert_eq!(
                    ctx.layer(RUBY, "gems-test").map(|layer| layer.state),
                    Some(LayerState::Retained),
                    "{:#?}",
                    ctx.report.layers
                );
            },
        );
    });

    let failing = copy_example_app("ruby/rack-failing-test");
    LocalRunner::default().build(config(failing.path(), ExecEnv::Test), |ctx| {
        let run = run_tests(&ctx);
        assert_eq!(run.exit_code, Some(1), "rake's exit code\n{}", run.output());
    });
}

/// Node.js (installed by the buildpack from the npm registry: the run image has none): a test
/// image whose mocha suite passes, a production image without dev dependencies that serves
/// HTTP, test again with nothing downloaded or reinstalled, a development image, and a failing
/// suite's exit code.
#[test]
fn nodejs_on_pack() {
    if !require(Engine::Pack) {
        return;
    }
    let app = copy_example_app("nodejs/greeting-service");
    LocalRunner::default().build(config(app.path(), ExecEnv::Test), |ctx| {
        assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("test"));
        let run = run_tests(&ctx);
        assert!(run.success(), "{}", run.output());
        assert!(run.output().contains("passing"), "{}", run.output());
        assert_test_needs_the_env(&ctx);

        ctx.rebuild(config(app.path(), ExecEnv::Production), |ctx| {
            assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("production"));
            assert_state(&ctx, NODE, "node_modules-test", LayerState::Retained);
            assert!(
                in_image(&ctx, "! test -e /usr/bin/node && ! find /layers -path '*node_modules/mocha' | grep -q ."),
                "Node.js from the run image, or mocha, in the production image"
            );
            let answer = http_get(&ctx, 18_432, "/?name=pack");
            assert!(answer.contains("pack"), "{answer}");

            ctx.rebuild(config(app.path(), ExecEnv::Test), |ctx| {
                assert_state(&ctx, NODE, "node_modules-test", LayerState::Restored);
                let run = run_tests(&ctx);
                assert!(run.success(), "{}", run.output());

                ctx.rebuild(config(app.path(), ExecEnv::Development), |ctx| {
                    assert_eq!(label(&ctx, "io.buildpacks.exec-env"), Some("development"));
                });
            });
        });
    });

    let failing = copy_example_app("nodejs/failing-tests");
    LocalRunner::default().build(config(failing.path(), ExecEnv::Test), |ctx| {
        let run = run_tests(&ctx);
        assert!(
            matches!(run.exit_code, Some(code) if code > 0),
            "mocha's exit code\n{}",
            run.output()
        );
    });
}
