//! Tests of Heroku's buildpacks, ported to `libcnb-exec-env-test` and run against this
//! workspace's example buildpacks (`examples/nodejs`, `examples/go`) and example apps.
//!
//! Each test names the upstream repository, file and test it was ported from. What changed, and
//! why, is shown per test as a diff in `docs/porting-from-libcnb.md` ("Five tests of Heroku's
//! buildpacks, ported"): the imports, the builder name (gone: there is none), and what the
//! example buildpacks print or set differently from Heroku's. The helpers below stand in for
//! Heroku's `test_support` crate, with the same names and shapes.
//!
//! They run under the built-in engine; `detect_rejects_non_npm_project`, which builds nothing,
//! also runs under the real lifecycle when it is installed (`for_each_engine`). The Node.js and
//! Go builds download Node.js and compile Go's standard library into fresh caches: about a
//! minute each on a quiet 2-core machine, several when it is shared.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, ContainerConfig, Engine, PackResult, TestContext, TestRunner,
    assert_contains, assert_not_contains, buildpack_id, for_each_engine,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

// --- Stand-ins for heroku/buildpacks-nodejs `test_support` (same names and shapes) ----------

/// Heroku's `test_support::nodejs_integration_test`: the Node.js buildpack on a fixture.
fn nodejs_integration_test(fixture: &str, test_body: fn(TestContext)) {
    nodejs_integration_test_with_config(fixture, |_| {}, test_body);
}

/// Heroku's `test_support::nodejs_integration_test_with_config`.
fn nodejs_integration_test_with_config(
    fixture: &str,
    with_config: fn(&mut BuildConfig),
    test_body: fn(TestContext),
) {
    integration_test_with_config(
        fixture,
        with_config,
        test_body,
        &[BuildpackReference::WorkspaceBuildpack(buildpack_id!(
            "examples/nodejs"
        ))],
        Engine::Builtin,
    );
}

/// Heroku's `test_support::integration_test_with_config`, without the builder (and with the
/// engine to run on). Fixtures are the workspace's example apps, or a path under
/// `CARGO_TARGET_TMPDIR` for the ones made here.
fn integration_test_with_config(
    fixture: &str,
    with_config: fn(&mut BuildConfig),
    test_body: fn(TestContext),
    buildpacks: &[BuildpackReference],
    engine: Engine,
) {
    let app_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../example-apps")
        .join(fixture);
    let mut build_config = BuildConfig::new(app_dir);
    build_config.buildpacks(buildpacks);
    build_config.engine(engine);
    with_config(&mut build_config);
    TestRunner::default().build(build_config, test_body);
}

/// An empty app (Heroku's `tests/fixtures/empty`; the example apps have none).
fn empty_fixture() -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("heroku-ported-empty");
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

/// `GET /` on `address`, the response body (Heroku's tests use `ureq`; this workspace has no
/// HTTP client, and one request needs none).
fn http_get(address: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(10)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map_or(response.clone(), |(_, body)| body.to_owned())
}

// --- heroku/buildpacks-nodejs ----------------------------------------------------------------

/// Ported from heroku/buildpacks-nodejs,
/// `buildpacks/nodejs-npm-install/tests/integration_test.rs`, `test_npm_install_caching`.
#[test]
fn test_npm_install_caching() {
    nodejs_integration_test("./nodejs/greeting-service", |ctx| {
        assert_contains!(ctx.pack_stderr, "npm download cache: new layer");
        assert_contains!(ctx.pack_stderr, "added 1 package");
        let config = ctx.config.clone();
        ctx.rebuild(config, |ctx| {
            assert_contains!(ctx.pack_stderr, "npm download cache: reusing layer");
            assert_contains!(ctx.pack_stderr, "Reusing layer node_modules-production");
        });
    });
}

/// Ported from heroku/buildpacks-nodejs,
/// `buildpacks/nodejs-npm-install/tests/integration_test.rs`, `detect_rejects_non_npm_project`.
#[test]
fn detect_rejects_non_npm_project() {
    for_each_engine(|engine| {
        let fixture = empty_fixture();
        integration_test_with_config(
            &fixture,
            |config| {
                config.expected_pack_result(PackResult::Failure);
            },
            |ctx| {
                assert_contains!(ctx.pack_stdout, "fail: examples/nodejs");
            },
            &[BuildpackReference::WorkspaceBuildpack(buildpack_id!(
                "examples/nodejs"
            ))],
            engine,
        );
    });
}

/// Ported from heroku/buildpacks-nodejs,
/// `buildpacks/nodejs-npm-install/tests/integration_test.rs`, `npm_runtime_settings_are_set`.
#[test]
fn npm_runtime_settings_are_set() {
    nodejs_integration_test("./nodejs/greeting-service", |ctx| {
        let env_output = ctx.run_shell_command("env").stdout;
        assert_contains!(env_output, "NODE_ENV=production");
        assert_contains!(env_output, "npm_config_update_notifier=false");
    });
}

/// Ported from heroku/buildpacks-nodejs,
/// `buildpacks/nodejs-npm-install/tests/integration_test.rs`,
/// `test_npm_start_script_creates_a_web_process_launcher`.
#[test]
fn test_npm_start_script_creates_a_web_process_launcher() {
    nodejs_integration_test_with_config(
        "./nodejs/greeting-service",
        |config| {
            config.app_dir_preprocessor(|app_dir| {
                add_build_script(&app_dir, "start");
            });
        },
        |ctx| {
            assert_contains!(ctx.pack_stderr, "web: npm start");
            // The start script the preprocessor wrote is the one the web process runs.
            ctx.start_container(ContainerConfig::new().expose_port(8080), |container| {
                let logs = container.logs_wait();
                assert_contains!(logs.stdout, "executed start");
            });
        },
    );
}

/// Heroku's `test_support::add_build_script`: a script `name` that echoes `executed <name>`.
fn add_build_script(app_dir: &std::path::Path, name: &str) {
    let path = app_dir.join("package.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = text.split_once("\"scripts\": {").unwrap();
    let (scripts, tail) = rest.split_once('}').unwrap();
    let mut kept: Vec<String> = scripts
        .split(',')
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with(&format!("\"{name}\"")))
        .map(str::to_owned)
        .collect();
    kept.push(format!("\"{name}\": \"echo executed {name}\""));
    std::fs::write(
        &path,
        format!(
            "{head}\"scripts\": {{\n    {}\n  }}{tail}",
            kept.join(",\n    ")
        ),
    )
    .unwrap();
}

// --- heroku/buildpacks-go --------------------------------------------------------------------

/// Heroku's `IntegrationTestConfig` (`buildpacks/go/tests/integration_test.rs`), without the
/// builder and the target triple (the engines here run buildpacks on the host).
struct IntegrationTestConfig {
    fixture: String,
}

impl IntegrationTestConfig {
    fn new<S: Into<String>>(fixture: S) -> Self {
        let fixture = format!("../example-apps/go/{}", fixture.into());
        Self { fixture }
    }
}

/// The built-in engine only: a first Go build compiles the standard library into a fresh
/// `GOCACHE` (minutes on a busy 2-core machine); `tests/go.rs` covers the lifecycle engine.
impl From<IntegrationTestConfig> for BuildConfig {
    fn from(integration_test_config: IntegrationTestConfig) -> BuildConfig {
        let mut build_config = BuildConfig::new(integration_test_config.fixture);
        build_config
            .buildpacks([BuildpackReference::WorkspaceBuildpack(buildpack_id!(
                "examples/go"
            ))])
            .engine(Engine::Builtin);
        build_config
    }
}

/// Heroku's `test_go_fixture` (`buildpacks/go/tests/integration_test.rs`): builds a fixture,
/// checks log lines, then starts the default process and asks it for `/`.
fn test_go_fixture(fixture: &str, expect_loglines: &[&str], refute_loglines: &[&str]) {
    let build_config: BuildConfig = IntegrationTestConfig::new(fixture).into();
    TestRunner::default().build(build_config, |ctx| {
        let logs = format!("{}\n{}", ctx.pack_stdout, ctx.pack_stderr);
        for expect_line in expect_loglines {
            assert_contains!(logs, expect_line);
        }
        for refute_line in refute_loglines {
            assert_not_contains!(logs, refute_line);
        }

        let port = 8080;
        ctx.start_container(ContainerConfig::new().expose_port(port), |container| {
            let addr = container.address_for_port(port);
            let resp = http_get(addr);

            assert_contains!(resp, "Hello, world!");
        });
    });
}

/// Ported from heroku/buildpacks-go, `buildpacks/go/tests/integration_test.rs`,
/// `test_basic_http_122`.
#[test]
fn test_basic_http_122() {
    test_go_fixture(
        "hello",
        &["Building for the production environment", "Built "],
        &["Downloading golang.org/toolchain"],
    );
}

/// Ported from heroku/buildpacks-go, `buildpacks/go/tests/integration_test.rs`,
/// `test_go_artifact_caching`.
#[test]
fn test_go_artifact_caching() {
    let build_config: BuildConfig = IntegrationTestConfig::new("multi").into();
    TestRunner::default().build(build_config, |ctx| {
        assert_contains!(ctx.pack_stdout, "Creating GOCACHE");
        let config = ctx.config.clone();
        ctx.rebuild(config, |ctx| {
            assert_contains!(ctx.pack_stdout, "Reusing cached GOCACHE");
        });
    });
}
