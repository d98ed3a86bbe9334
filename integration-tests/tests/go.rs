//! The Go example buildpack (`examples/go`), end to end: the packaged buildpack, the real `go`
//! command, the Go module proxy, and the local platform under every available engine (the
//! built-in one, and the real lifecycle when it is installed).
//!
//! Apps: `example-apps/go/{hello, modules, vendored, multi, pinned, failing-test}`.
//!
//! Each test function runs a sequence of builds that share one cache directory per engine (as
//! rebuilds of one app share `/cache` under pack), so the Go build cache fills once per sequence.

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LayerReport, LayerState, LocalRunner,
    PackResult, TestContext, available_engines, buildpack_id,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BUILDPACK: &str = "examples/go";
const LAYERS: &str = "layers/examples_go";
/// The layers a production image must not carry at launch.
const BUILD_ONLY: [&str; 3] = ["go-toolchain", "go-mod-cache", "go-build-cache"];

fn config(app: impl AsRef<Path>, exec_env: ExecEnv, engine: Engine) -> BuildConfig {
    let app = app.as_ref();
    let app_dir = if app.is_absolute() {
        app.to_path_buf()
    } else {
        PathBuf::from("../example-apps/go").join(app)
    };
    let mut config = BuildConfig::new(app_dir);
    config
        .buildpacks([BuildpackReference::WorkspaceBuildpack(buildpack_id!(
            "examples/go"
        ))])
        .exec_env(exec_env)
        .engine(engine);
    config
}

/// Runs `test` once per available engine, each with a fresh cache directory.
fn each_engine(test: impl Fn(Engine, &Path)) {
    for engine in available_engines() {
        eprintln!("--- engine: {engine}");
        let cache = tempfile::Builder::new()
            .prefix("go-it-cache.")
            .tempdir()
            .expect("a temporary cache directory");
        test(engine, cache.path());
    }
}

fn layer<'a>(ctx: &'a TestContext<'_>, name: &str) -> &'a LayerReport {
    ctx.layer(BUILDPACK, name).unwrap_or_else(|| {
        panic!(
            "no layer {name}; layers: {:?}\n{}",
            ctx.report.layers, ctx.pack_stdout
        )
    })
}

fn assert_state(ctx: &TestContext<'_>, name: &str, state: LayerState) {
    let layer = layer(ctx, name);
    assert_eq!(
        layer.state, state,
        "layer {name}: {layer:?}\n{}",
        ctx.pack_stdout
    );
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// A production image: the binaries are in the launch layer `bin`; neither the toolchain nor a
/// cache is a launch layer or part of the exported image.
fn assert_lean_production_image(ctx: &TestContext<'_>, binaries: &[&str]) {
    for binary in binaries {
        let path = ctx.image_dir().join(LAYERS).join("bin/bin").join(binary);
        assert!(
            path.is_file(),
            "{} missing\n{}",
            path.display(),
            ctx.pack_stdout
        );
    }
    assert!(layer(ctx, "bin").launch);
    for name in BUILD_ONLY {
        if let Some(layer) = ctx.layer(BUILDPACK, name) {
            assert!(
                !layer.launch,
                "{name} is a launch layer in production: {layer:?}"
            );
        }
        assert!(
            !ctx.image_dir().join(LAYERS).join(name).exists(),
            "{name} exported into the production image"
        );
    }
    assert_eq!(
        ctx.report
            .labels
            .get("io.buildpacks.exec-env")
            .map(String::as_str),
        Some("production")
    );
}

/// A test image: toolchain and caches are launch layers; `test` is the default process,
/// restricted to test.
fn assert_test_image(ctx: &TestContext<'_>) {
    for name in BUILD_ONLY {
        assert!(
            layer(ctx, name).launch,
            "{name} is not a launch layer in test"
        );
    }
    assert!(
        ctx.image_dir()
            .join(LAYERS)
            .join("go-toolchain/bin/go")
            .is_file(),
        "the toolchain is not in the test image"
    );
    let test = ctx
        .report
        .processes_of(BUILDPACK)
        .into_iter()
        .find(|(r#type, ..)| r#type == "test")
        .expect("a test process");
    assert_eq!(
        test,
        (
            "test".to_owned(),
            "go test ./...".to_owned(),
            true,
            Some(strings(&["test"]))
        )
    );
    assert!(ctx.processes_eligible().contains(&"test".to_owned()));
}

fn run_tests(ctx: &TestContext<'_>) -> libcnb_exec_env_test::LaunchResult {
    ctx.launch(
        LaunchConfig::new()
            .process("test")
            .exec_env(ExecEnv::Test)
            .timeout(Duration::from_secs(300)),
    )
}

/// The stdlib web server across environments: a lean production image, a test image whose
/// `test` process passes, caches restored across environments and rebuilds, the toolchain layer
/// reused by a test build after a production build, and a development image with `dev`.
#[test]
fn hello_across_environments() {
    each_engine(|engine, cache| {
        let runner = LocalRunner::default();
        runner.build(
            config("hello", ExecEnv::Production, engine).cache_dir(cache),
            |ctx| {
                assert_lean_production_image(&ctx, &["hello"]);
                assert!(
                    ctx.layer(BUILDPACK, "go-toolchain").is_none(),
                    "PATH go needs no toolchain layer in production"
                );
                assert_state(&ctx, "go-build-cache", LayerState::Created);
                assert_eq!(
                    ctx.report.processes_of(BUILDPACK),
                    vec![("web".to_owned(), "hello".to_owned(), true, None)]
                );
                let run = ctx.launch(LaunchConfig::new().process("web").args(["--greet"]));
                assert!(run.success(), "{}", run.output());
                assert_eq!(run.stdout.trim(), "Hello, world!");

                ctx.rebuild(config("hello", ExecEnv::Test, engine), |ctx| {
                    assert_test_image(&ctx);
                    assert_state(&ctx, "go-mod-cache", LayerState::Restored);
                    assert_state(&ctx, "go-build-cache", LayerState::Restored);
                    assert_state(&ctx, "go-toolchain", LayerState::Created);
                    assert!(
                        ctx.pack_stdout.contains("$ go test -run '^$' ./...")
                            && !ctx.pack_stdout.contains("-count=1"),
                        "{}",
                        ctx.pack_stdout
                    );
                    let run = run_tests(&ctx);
                    assert!(run.success(), "{}", run.output());
                    assert!(
                        run.output().contains("ok  \texample.com/hello"),
                        "{}",
                        run.output()
                    );
                    // Eligibility: the test image's default process only runs in test.
                    assert!(
                        ctx.try_launch(
                            LaunchConfig::new()
                                .process("test")
                                .exec_env(ExecEnv::Production)
                        )
                        .is_err()
                    );

                    ctx.rebuild(config("hello", ExecEnv::Production, engine), |ctx| {
                        assert_lean_production_image(&ctx, &["hello"]);
                        assert_state(&ctx, "go-mod-cache", LayerState::Restored);
                        assert_state(&ctx, "go-build-cache", LayerState::Restored);
                        // Kept in the cache for the next test build, not exported.
                        let toolchain = layer(&ctx, "go-toolchain");
                        assert_eq!(toolchain.state, LayerState::Restored, "{toolchain:?}");
                        assert!(toolchain.cache && !toolchain.launch, "{toolchain:?}");

                        ctx.rebuild(config("hello", ExecEnv::Test, engine), |ctx| {
                            assert_test_image(&ctx);
                            assert_state(&ctx, "go-toolchain", LayerState::Restored);
                            assert_state(&ctx, "go-mod-cache", LayerState::Restored);
                            assert_state(&ctx, "go-build-cache", LayerState::Restored);
                            assert!(
                                !ctx.pack_stdout.contains("Copying Go"),
                                "{}",
                                ctx.pack_stdout
                            );
                            // Unchanged sources: Go's test cache answers the precompile,
                            // no test binary is linked again.
                            assert!(
                                ctx.pack_stdout.contains(
                                    "ok  \texample.com/hello\t(cached) [no tests to run]"
                                ),
                                "{engine:?}: {}",
                                ctx.pack_stdout
                            );
                            let run = run_tests(&ctx);
                            assert!(run.success(), "{}", run.output());

                            ctx.rebuild(config("hello", ExecEnv::Development, engine), |ctx| {
                                assert_state(&ctx, "go-toolchain", LayerState::Restored);
                                assert!(layer(&ctx, "go-toolchain").launch);
                                let eligible = ctx.processes_eligible();
                                assert!(eligible.contains(&"dev".to_owned()), "{eligible:?}");
                                assert!(eligible.contains(&"test".to_owned()), "{eligible:?}");
                                assert_eq!(ctx.report.default_process.as_deref(), Some("dev"));
                                let run = ctx.launch(
                                    LaunchConfig::new()
                                        .process("dev")
                                        .exec_env(ExecEnv::Development)
                                        .args(["--greet"])
                                        .timeout(Duration::from_secs(300)),
                                );
                                assert!(run.success(), "{}", run.output());
                                assert_eq!(run.stdout.trim(), "Hello, world!");
                            });
                        });
                    });
                });
            },
        );
    });
}

/// Module-proxy, vendored, multi-binary and failing-test apps, sharing one cache per engine.
#[test]
fn modules_vendoring_multiple_binaries_and_failing_tests() {
    each_engine(|engine, cache| {
        let runner = LocalRunner::default();
        // Dependencies from the module proxy: the router in the binary, go-cmp in the tests.
        runner.build(
            config("modules", ExecEnv::Production, engine).cache_dir(cache),
            |ctx| {
                assert_lean_production_image(&ctx, &["modules"]);
                assert!(
                    ctx.pack_stdout.contains("2 module(s) in the module cache"),
                    "{}",
                    ctx.pack_stdout
                );
                ctx.rebuild(config("modules", ExecEnv::Test, engine), |ctx| {
                    assert_test_image(&ctx);
                    assert_state(&ctx, "go-mod-cache", LayerState::Restored);
                    assert_state(&ctx, "go-build-cache", LayerState::Restored);
                    let modules = ctx
                        .image_dir()
                        .join(LAYERS)
                        .join("go-mod-cache/github.com/google");
                    assert!(
                        modules.is_dir(),
                        "the test-only module is not in the test image"
                    );
                    let run = run_tests(&ctx);
                    assert!(run.success(), "{}", run.output());
                    assert!(
                        run.output().contains("ok  \texample.com/modules"),
                        "{}",
                        run.output()
                    );
                });
            },
        );

        // Vendored: no download, -mod=vendor at build and at launch.
        runner.build(
            config("vendored", ExecEnv::Test, engine).cache_dir(cache),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("building with -mod=vendor, no module download"),
                    "{}",
                    ctx.pack_stdout
                );
                let run = run_tests(&ctx);
                assert!(run.success(), "{}", run.output());
                ctx.rebuild(config("vendored", ExecEnv::Production, engine), |ctx| {
                    assert_lean_production_image(&ctx, &["vendored"]);
                    let run = ctx.launch(LaunchConfig::new().process("web"));
                    assert!(run.success(), "{}", run.output());
                    assert!(run.stdout.starts_with("req-"), "{}", run.output());
                });
            },
        );

        // Two main packages: two binaries, one process each, no default.
        runner.build(
            config("multi", ExecEnv::Production, engine).cache_dir(cache),
            |ctx| {
                assert_lean_production_image(&ctx, &["a", "b"]);
                assert_eq!(
                    ctx.report.processes_of(BUILDPACK),
                    vec![
                        ("a".to_owned(), "a".to_owned(), false, None),
                        ("b".to_owned(), "b".to_owned(), false, None),
                    ]
                );
                for binary in ["a", "b"] {
                    let run = ctx.launch(LaunchConfig::new().process(binary));
                    assert!(run.success(), "{}", run.output());
                    assert_eq!(run.stdout.trim(), format!("hello from {binary}"));
                }
            },
        );

        // A failing test: the build succeeds, the test process fails.
        runner.build(
            config("failing-test", ExecEnv::Test, engine).cache_dir(cache),
            |ctx| {
                assert_test_image(&ctx);
                let run = run_tests(&ctx);
                assert!(!run.success(), "{}", run.output());
                assert!(
                    run.output().contains("--- FAIL: TestAdd"),
                    "{}",
                    run.output()
                );
            },
        );
    });
}

/// `toolchain go1.25.4` in go.mod: installed once from the module proxy, then reused by a
/// rebuild and by a build in another environment; the test image runs its tests with it.
#[test]
fn pinned_toolchain_installs_once() {
    each_engine(|engine, cache| {
        let runner = LocalRunner::default();
        runner.build(
            config("pinned", ExecEnv::Production, engine).cache_dir(cache),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("Downloading golang.org/toolchain@v0.0.1-go1.25.4.linux-amd64"),
                    "{}",
                    ctx.pack_stdout
                );
                assert_state(&ctx, "go-toolchain", LayerState::Created);
                assert_lean_production_image(&ctx, &["pinned"]);
                let run = ctx.launch(LaunchConfig::new().process("web"));
                assert_eq!(run.stdout.trim(), "built with go1.25.4", "{}", run.output());
                assert_eq!(
                    ctx.report
                        .labels
                        .get("org.example.go.version")
                        .map(String::as_str),
                    Some("1.25.4")
                );

                ctx.rebuild(config("pinned", ExecEnv::Production, engine), |ctx| {
                    assert_state(&ctx, "go-toolchain", LayerState::Restored);
                    assert!(!ctx.pack_stdout.contains("Downloading golang.org/toolchain"));

                    ctx.rebuild(config("pinned", ExecEnv::Test, engine), |ctx| {
                        assert_state(&ctx, "go-toolchain", LayerState::Restored);
                        assert!(!ctx.pack_stdout.contains("Downloading golang.org/toolchain"));
                        assert_test_image(&ctx);
                        // The test asserts runtime.Version() == go1.25.4 at launch.
                        let run = run_tests(&ctx);
                        assert!(run.success(), "{}", run.output());
                    });
                });
            },
        );
    });
}

fn write_app(dir: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("app dir");
        std::fs::write(path, content).expect("app file");
    }
}

/// Build errors name what is wrong: the go.mod line, the package that does not compile, the
/// module version that cannot be downloaded.
#[test]
fn build_errors_name_file_package_and_module() {
    each_engine(|engine, cache| {
        let runner = LocalRunner::default();
        let apps = tempfile::tempdir().expect("a temporary directory");
        let main = "package main\n\nfunc main() {}\n";

        let bad_go_line = apps.path().join("bad-go-line");
        write_app(
            &bad_go_line,
            &[
                ("go.mod", "module example.com/bad\n\ngo one.two\n"),
                ("main.go", main),
            ],
        );
        runner.build(
            config(&bad_go_line, ExecEnv::Production, engine)
                .cache_dir(cache)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout.contains("go.mod:3: invalid go version"),
                    "{}",
                    ctx.pack_stdout
                );
            },
        );

        let broken = apps.path().join("broken");
        write_app(
            &broken,
            &[
                ("go.mod", "module example.com/broken\n\ngo 1.24\n"),
                (
                    "cmd/tool/main.go",
                    "package main\n\nfunc main() { undefinedThing() }\n",
                ),
            ],
        );
        runner.build(
            config(&broken, ExecEnv::Production, engine)
                .cache_dir(cache)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("compiling package example.com/broken/cmd/tool failed"),
                    "{}",
                    ctx.pack_stdout
                );
                assert!(ctx.pack_stdout.contains("undefined: undefinedThing"));
            },
        );

        let missing = apps.path().join("missing-module");
        write_app(
            &missing,
            &[
                (
                    "go.mod",
                    "module example.com/missing\n\ngo 1.24\n\nrequire github.com/google/uuid v1.99.0\n",
                ),
                ("main.go", main),
            ],
        );
        runner.build(
            config(&missing, ExecEnv::Production, engine)
                .cache_dir(cache)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("cannot download module github.com/google/uuid@v1.99.0"),
                    "{}",
                    ctx.pack_stdout
                );
            },
        );
    });
}
