//! Bad input through the local platform (issue 9, part 1; the table is `docs/bad-input.md`),
//! under every available engine:
//!
//! - an earlier buildpack's `launch.toml` malformed (not TOML, or wrong types): the build fails
//!   naming the buildpack and the file, under the built-in engine and the real lifecycle;
//! - an app's `package.json`, `Gemfile.lock` or `go.mod` malformed: the example buildpack fails
//!   naming the file, and what it had cached from an earlier good build is still there: once the
//!   file is fixed, the next build restores its layers instead of starting over.
//!
//! Framework-level rows (`CNB_EXEC_ENV` values, platform env file, `buildpack.toml`, layer
//! TOML) are tested in `framework/libcnb-exec-env/tests/runtime.rs`.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, LayerState, LocalRunner, PackResult, available_engines,
};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn write_exec(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A shell buildpack (API 0.12) whose build writes `launch_toml` as its `launch.toml`.
fn shell_buildpack(root: &Path, id: &str, launch_toml: &str) -> PathBuf {
    let dir = root.join(id.replace('/', "_"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("buildpack.toml"),
        format!("api = \"0.12\"\n[buildpack]\nid = \"{id}\"\nversion = \"1.0.0\"\n"),
    )
    .unwrap();
    write_exec(&dir.join("bin/detect"), "#!/bin/sh\nexit 0\n");
    std::fs::write(dir.join("launch.toml.in"), launch_toml).unwrap();
    write_exec(
        &dir.join("bin/build"),
        "#!/bin/sh\nset -eu\ncp \"$CNB_BUILDPACK_DIR/launch.toml.in\" \"$1/launch.toml\"\n",
    );
    dir
}

#[test]
fn a_malformed_launch_toml_of_an_earlier_buildpack_fails_the_build_naming_it() {
    let cases = [
        ("[[processes]\ntype = \"web\"\n", "not TOML"),
        (
            "[[processes]]\ntype = 1\ncommand = [\"x\"]\n",
            "wrong type for `type`",
        ),
        (
            "[[processes]]\ntype = \"web\"\ncommand = \"x\"\n",
            "wrong type for `command`",
        ),
        ("processes = \"web\"\n", "`processes` not a list"),
    ];
    for engine in available_engines() {
        for (launch_toml, what) in cases {
            let root = tempfile::tempdir().unwrap();
            let app = root.path().join("app");
            std::fs::create_dir_all(&app).unwrap();
            std::fs::write(app.join("README"), "app").unwrap();
            let first = shell_buildpack(root.path(), "bad/first", launch_toml);
            let second = shell_buildpack(
                root.path(),
                "good/second",
                "[[processes]]\ntype = \"web\"\ncommand = [\"true\"]\ndefault = true\n",
            );
            let runner = LocalRunner::default();
            let error = runner
                .try_build(
                    BuildConfig::new(&app)
                        .buildpacks([
                            BuildpackReference::Packaged(first),
                            BuildpackReference::Packaged(second),
                        ])
                        .engine(engine),
                )
                .err()
                .unwrap_or_else(|| panic!("{engine}, {what}: the build must fail"));
            let message = format!("{error}\n{}", error.output().unwrap_or_default());
            eprintln!("--- {engine}, {what}: {error}");
            assert!(
                message.contains("launch.toml") && message.contains("bad/first"),
                "{engine}, {what}: the error must name the buildpack and launch.toml:\n{message}"
            );
            assert!(
                !message.contains("panicked"),
                "{engine}, {what}:\n{message}"
            );
        }
    }
}

/// Good build, then `file` replaced by `broken`: the build fails naming the file (and
/// `expected` parts), with no panic; with the file restored, the next build restores
/// `cached_layer` from the cache (nothing cached was destroyed by the failed build).
fn malformed_app_file(
    exec_env: &ExecEnv,
    buildpack: &str,
    app: &str,
    file: &str,
    broken: &[u8],
    expected: &[&str],
    cached_layer: &str,
) {
    for engine in available_engines() {
        let app_dir = integration_tests::copy_example_app(app);
        let cache = tempfile::tempdir().unwrap();
        let config = || {
            BuildConfig::new(app_dir.path())
                .buildpacks([BuildpackReference::WorkspaceBuildpack(
                    buildpack.parse().unwrap(),
                )])
                .exec_env(exec_env.clone())
                .engine(engine)
                .cache_dir(cache.path())
                .clone()
        };
        let runner = LocalRunner::default();
        runner.build(config(), |_| {});
        let good = std::fs::read(app_dir.path().join(file)).unwrap();
        std::fs::write(app_dir.path().join(file), broken).unwrap();
        runner.build(config().expected_pack_result(PackResult::Failure), |ctx| {
            eprintln!(
                "--- {engine}, broken {file}:\n{}",
                tail(&ctx.pack_stdout, 6)
            );
            for part in expected {
                assert!(
                    ctx.pack_stdout.contains(part),
                    "{engine}, broken {file}: expected {part:?} in:\n{}",
                    ctx.pack_stdout
                );
            }
            assert!(
                !ctx.pack_stdout.contains("panicked"),
                "{engine}, broken {file}:\n{}",
                ctx.pack_stdout
            );
        });
        std::fs::write(app_dir.path().join(file), good).unwrap();
        runner.build(config(), |ctx| {
            assert_eq!(
                ctx.layer(buildpack, cached_layer).map(|layer| layer.state),
                Some(LayerState::Restored),
                "{engine}: the failed build must not destroy the cached {cached_layer}:\n{}",
                ctx.pack_stdout
            );
        });
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[test]
fn malformed_package_json_fails_naming_it_and_keeps_the_cache() {
    malformed_app_file(
        &ExecEnv::Test,
        "examples/nodejs",
        "nodejs/greeting-service",
        "package.json",
        b"{ \"name\": \"greeting-service\", \"dependencies\": ",
        &["package.json"],
        "node_modules-test",
    );
}

#[test]
fn package_json_with_wrong_types_fails_naming_the_key() {
    malformed_app_file(
        &ExecEnv::Test,
        "examples/nodejs",
        "nodejs/greeting-service",
        "package.json",
        b"{ \"name\": \"greeting-service\", \"scripts\": { \"test\": 42 } }",
        &["package.json"],
        "node_modules-test",
    );
}

#[test]
fn malformed_gemfile_lock_fails_naming_it_and_keeps_the_cache() {
    malformed_app_file(
        &ExecEnv::Test,
        "examples/ruby",
        "ruby/rack-minitest",
        "Gemfile.lock",
        b"GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (\nBUNDLED WITH\n",
        &["Gemfile.lock"],
        "gems-test",
    );
}

/// Not UTF-8: the build fails naming the file (before `bundle --version`, which reads the
/// lockfile too and crashed with a Ruby backtrace), and keeps the cache.
#[test]
fn gemfile_lock_that_is_not_utf8_fails_and_keeps_the_cache() {
    malformed_app_file(
        &ExecEnv::Test,
        "examples/ruby",
        "ruby/rack-minitest",
        "Gemfile.lock",
        b"GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (3.0.8)\n\xff\xfe\n",
        &["Gemfile.lock", "not valid UTF-8"],
        "gems-test",
    );
}

#[test]
fn malformed_go_mod_fails_naming_it_and_keeps_the_cache() {
    // A production build: a Go test build copies the whole toolchain into a launch layer.
    malformed_app_file(
        &ExecEnv::Production,
        "examples/go",
        "go/hello",
        "go.mod",
        b"module example.com/hello\n\ngo 1.x.y\nrequire (\n",
        &["go.mod"],
        "go-mod-cache",
    );
}

/// Issue 19: a platform may send any printable `CNB_EXEC_ENV` the spec allows. `staging_eu`
/// (refused by pack's `--exec-env`, passed through by the lifecycle) builds every example
/// under the built-in engine, with a warning that names pack's rule, and the env-scoped layers
/// are named for it.
#[test]
fn an_exec_env_pack_would_refuse_builds_every_example_with_a_warning() {
    let staging: ExecEnv = "staging_eu".parse().unwrap();
    for (buildpack, app, env_layer) in [
        (
            "examples/ruby",
            "ruby/rack-minitest",
            Some("gems-staging_eu"),
        ),
        ("examples/go", "go/hello", None),
        (
            "examples/nodejs",
            "nodejs/greeting-service",
            Some("node_modules-staging_eu"),
        ),
    ] {
        let app_dir = integration_tests::copy_example_app(app);
        let mut config = BuildConfig::new(app_dir.path());
        config
            .buildpacks([BuildpackReference::WorkspaceBuildpack(
                buildpack.parse().unwrap(),
            )])
            .exec_env(staging.clone())
            .engine(libcnb_exec_env_test::Engine::Builtin);
        LocalRunner::default().build(config, |ctx| {
            for expected in [
                "Execution environment: staging_eu (from the CNB_EXEC_ENV environment variable)",
                "Warning: the execution environment \"staging_eu\" is accepted, but pack would refuse it: `pack build --exec-env` takes only ASCII letters, digits, '.' and '-'",
            ] {
                assert!(
                    ctx.pack_stdout.contains(expected),
                    "{buildpack}: expected {expected:?} in:\n{}",
                    ctx.pack_stdout
                );
            }
            if let Some(layer) = env_layer {
                assert!(
                    ctx.layer(buildpack, layer).is_some(),
                    "{buildpack}: no layer {layer}:\n{}",
                    ctx.pack_stdout
                );
            }
        });
    }
}
