//! The test API's libcnb-test shapes, under every available engine, with a small shell
//! buildpack: `run_shell_command`, `start_container` / `address_for_port` / logs / `shell_exec`,
//! `expected_pack_result`, `BuildpackReference::Other`, `app_dir_preprocessor`, `env`/`envs`,
//! and the assertion macros.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

mod support;

use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, ContainerConfig, ContainerError, Engine, EngineError,
    LocalRunner, PackResult, assert_contains, assert_empty, assert_not_contains, available_engines,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A layer with a `greet` tool and a launch env var, a default `web` process serving HTTP on
/// `$PORT`, and a build that prints what it saw.
const BUILD: &str = r#"layers="$1"
mkdir -p "$layers/tools/bin" "$layers/tools/env.launch"
printf '#!/usr/bin/env bash\necho "greetings from the layer"\n' > "$layers/tools/bin/greet"
chmod +x "$layers/tools/bin/greet"
printf 'hello' > "$layers/tools/env.launch/GREETING.default"
printf '[types]\nlaunch = true\n' > "$layers/tools.toml"
cat > "$layers/launch.toml" <<'EOF'
[[processes]]
type = "web"
command = ["bash", "-c", "echo starting on $PORT; exec python3 -m http.server $PORT --bind 127.0.0.1"]
default = true
EOF
echo "build saw FOO=$(cat "$2/env/FOO" 2>/dev/null) BAR=$(cat "$2/env/BAR" 2>/dev/null) marker=$(cat marker.txt 2>/dev/null)""#;

fn fixture(root: &Path) -> (PathBuf, PathBuf) {
    let app = support::app(root);
    let bp = support::buildpack(root, "t/web", "0.12", "", "exit 0", BUILD);
    (app, bp)
}

fn config(app: &Path, bp: &Path, engine: Engine) -> BuildConfig {
    let mut config = BuildConfig::new(app);
    config
        .buildpacks([BuildpackReference::Packaged(bp.to_path_buf())])
        .engine(engine);
    config
}

fn http_get(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn run_shell_command_runs_in_the_launch_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    for engine in available_engines() {
        LocalRunner::default().build(config(&app, &bp, engine), |ctx| {
            let output = ctx.run_shell_command("echo \"GREETING=$GREETING\"; greet; pwd");
            assert_contains!(output.stdout, "GREETING=hello", "{engine}");
            assert_contains!(output.stdout, "greetings from the layer", "{engine}");
            assert_eq!(output.exit_code, Some(0), "{engine}");
            assert_empty!(output.stderr, "{engine}");
        });
    }
}

#[test]
fn a_failing_shell_command_has_its_exit_code_and_stderr_and_panics_run_shell_command() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    for engine in available_engines() {
        LocalRunner::default().build(config(&app, &bp, engine), |ctx| {
            let output = ctx
                .try_run_shell_command("echo out; echo oops >&2; exit 3")
                .unwrap();
            assert_eq!(output.exit_code, Some(3), "{engine}: {output}");
            assert_eq!(output.stdout, "out\n", "{engine}");
            assert_eq!(output.stderr, "oops\n", "{engine}");
            let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = ctx.run_shell_command("exit 4");
            }))
            .expect_err("a failing command panics run_shell_command");
            let message = panic.downcast_ref::<String>().unwrap();
            assert_contains!(message, "exit code: 4", "{engine}");
        });
    }
}

#[test]
fn address_for_port_is_where_the_process_listens_and_the_process_ends_with_the_closure() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    for engine in available_engines() {
        LocalRunner::default().build(config(&app, &bp, engine), |ctx| {
            let mut seen = None;
            ctx.start_container(ContainerConfig::new().expose_port(8080), |container| {
                let address = container.address_for_port(8080);
                assert_eq!(address.ip().to_string(), "127.0.0.1", "{engine}");
                let response = http_get(address);
                assert_contains!(response, "200 OK", "{engine}");
                let logs = container.logs_now();
                assert_contains!(
                    logs.stdout,
                    format!("starting on {}", address.port()).as_str(),
                    "{engine}"
                );
                assert_eq!(logs.exit_code, None, "{engine}: still running");
                let exec = container.shell_exec("echo \"exec sees $GREETING\"");
                assert_contains!(exec.stdout, "exec sees hello", "{engine}");
                seen = Some(address);
            });
            let address = seen.unwrap();
            assert!(
                TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err(),
                "{engine}: the server still answers on {address} after the closure"
            );
        });
    }
}

#[test]
fn a_panicking_closure_still_ends_the_process() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    LocalRunner::default().build(config(&app, &bp, Engine::Builtin), |ctx| {
        let mut seen = None;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ctx.start_container(ContainerConfig::new().expose_port(8080), |container| {
                seen = Some(container.address_for_port(8080));
                panic!("the test failed inside the closure");
            });
        }));
        assert!(outcome.is_err());
        let address = seen.unwrap();
        assert!(
            TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err(),
            "the server still answers on {address} after the panic"
        );
    });
}

#[test]
fn unexposed_ports_and_early_exits_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    LocalRunner::default().build(config(&app, &bp, Engine::Builtin), |ctx| {
        let container = ctx
            .try_start_container(ContainerConfig::new().expose_port(8080))
            .unwrap();
        let error = container.try_address_for_port(9999).unwrap_err();
        assert!(
            matches!(error, ContainerError::NotExposed { port: 9999, .. }),
            "{error}"
        );
        assert_contains!(error.to_string(), "expose_port(9999)");
        drop(container);

        let mut exits = ContainerConfig::new();
        exits
            .entrypoint("launcher")
            .command(["echo bye; exit 7"])
            .expose_port(8080);
        let container = ctx.try_start_container(&exits).unwrap();
        let error = container.try_address_for_port(8080).unwrap_err();
        assert!(
            matches!(error, ContainerError::Exited { code: Some(7), .. }),
            "{error}"
        );
        assert_contains!(error.to_string(), "bye");

        let error = ctx
            .try_start_container(ContainerConfig::new().entrypoint("launcher"))
            .unwrap_err();
        assert!(matches!(error, ContainerError::NoCommand), "{error}");
    });
}

#[test]
fn expected_failure_of_a_succeeding_build_fails_the_test() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    let outcome = std::panic::catch_unwind(|| {
        LocalRunner::default().build(
            config(&app, &bp, Engine::Builtin).expected_pack_result(PackResult::Failure),
            |_| {},
        );
    });
    let panic = outcome.expect_err("the build succeeded: the test must fail");
    let message = panic.downcast_ref::<String>().unwrap();
    assert_contains!(message, "failure was expected");
}

#[test]
fn expected_failure_gives_the_log_of_the_failed_build() {
    let tmp = tempfile::tempdir().unwrap();
    let app = support::app(tmp.path());
    let bp = support::buildpack(
        tmp.path(),
        "t/no",
        "0.12",
        "",
        "echo 'not for me'; exit 100",
        "",
    );
    let mut called = false;
    LocalRunner::default().build(
        config(&app, &bp, Engine::Builtin).expected_pack_result(PackResult::Failure),
        |ctx| {
            assert_contains!(ctx.pack_stdout, "not for me");
            assert_eq!(ctx.pack_stdout, ctx.pack_stderr);
            called = true;
        },
    );
    assert!(called);
}

#[test]
fn other_references_take_directories_and_refuse_images() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    let runner = LocalRunner::default();
    let mut other = config(&app, &bp, Engine::Builtin);
    other.buildpacks([BuildpackReference::Other(bp.display().to_string())]);
    let ctx = runner.try_build(&other).unwrap();
    assert_eq!(ctx.report.group, vec!["t/web"]);
    for reference in ["docker://heroku/nodejs", "heroku/nodejs", "bp.cnb"] {
        other.buildpacks([BuildpackReference::Other(reference.to_owned())]);
        let error = runner.try_build(&other).err().unwrap();
        assert!(
            matches!(error, EngineError::Unsupported { .. }),
            "{reference}: {error}"
        );
        assert_contains!(
            error.to_string(),
            reference,
            "the error names the reference"
        );
    }
}

#[test]
fn the_preprocessor_changes_a_copy_and_env_reaches_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    let mut config = config(&app, &bp, Engine::Builtin);
    config
        .env("FOO", "1")
        .envs([("BAR", "2")])
        .app_dir_preprocessor(|dir| std::fs::write(dir.join("marker.txt"), "copied").unwrap());
    LocalRunner::default().build(&config, |ctx| {
        assert_contains!(ctx.pack_stdout, "build saw FOO=1 BAR=2 marker=copied");
        // The same config again (it was only borrowed): a rebuild runs the preprocessor again.
        ctx.rebuild(&ctx.config, |ctx| {
            assert_contains!(ctx.pack_stdout, "marker=copied");
        });
    });
    assert!(
        !app.join("marker.txt").exists(),
        "the app itself is unchanged"
    );
    assert_not_contains!(
        std::fs::read_to_string(app.join("app.txt")).unwrap(),
        "copied"
    );
}

/// The pack engine: `run_shell_command` through `docker run --entrypoint launcher`, and a
/// container that runs to its end, removed afterwards.
#[test]
fn shell_commands_and_containers_on_the_pack_engine() {
    if !libcnb_exec_env_test::require(Engine::Pack) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp) = fixture(tmp.path());
    LocalRunner::default().build(config(&app, &bp, Engine::Pack), |ctx| {
        let output = ctx.run_shell_command("echo \"GREETING=$GREETING\"; greet");
        assert_contains!(output.stdout, "GREETING=hello");
        assert_contains!(output.stdout, "greetings from the layer");
        let failed = ctx.try_run_shell_command("echo oops >&2; exit 3").unwrap();
        assert_eq!(failed.exit_code, Some(3), "{failed}");
        assert_contains!(failed.stderr, "oops");
        let mut once = ContainerConfig::new();
        once.entrypoint("launcher")
            .command(["echo \"ran with $GREETING\""]);
        let mut name = String::new();
        ctx.start_container(&once, |container| {
            let logs = container.logs_wait();
            assert_contains!(logs.stdout, "ran with hello");
            assert_eq!(logs.exit_code, Some(0));
            name.clone_from(&container.container_name);
        });
        assert!(name.starts_with("cnb-local-launch-"), "{name}");
    });
}
