//! Broken or foreign caches (issue 9, part 2): a cached layer from an older buildpack version,
//! another execution environment, another target arch or distro, or with truncated content is
//! recognised by its metadata (or, for truncated files, by the platform's layer digest) and
//! rebuilt, never reused wrongly. Every scenario runs under every available engine, tampering
//! with the cache directory between builds:
//!
//! - built-in engine: `<cache>/builtin/layers/<bp>/<layer>.toml` (metadata) and
//!   `<cache>/builtin/layers/<bp>/<layer>/` (files; `metadata.toml` records a digest of the tree);
//! - lifecycle engine: `<cache>/lifecycle/cache/committed/io.buildpacks.lifecycle.cache.metadata`
//!   (JSON: per buildpack, per layer, `sha` and `data` = the layer's `[metadata]`) and the layer
//!   tarballs `<cache>/lifecycle/cache/committed/<sha>.tar`.
//!
//! The tampered layer is the one kept in the cache for another environment (`node_modules-test`
//! after a production build, `gems-test` likewise): it is a cache-only layer, so the lifecycle
//! takes its metadata from the cache (launch layers take theirs from the previous image).

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LayerState, LocalRunner,
    available_engines,
};
use std::path::{Path, PathBuf};

fn config(buildpack: &str, app: &str, env: ExecEnv, engine: Engine, cache: &Path) -> BuildConfig {
    let dir = if Path::new(app).is_absolute() {
        PathBuf::from(app)
    } else {
        PathBuf::from("../example-apps").join(app)
    };
    let mut config = BuildConfig::new(dir);
    config
        .buildpacks([BuildpackReference::WorkspaceBuildpack(
            buildpack.parse().unwrap(),
        )])
        .exec_env(env)
        .engine(engine)
        .cache_dir(cache);
    config
}

/// The escaped buildpack id, as a directory name.
fn escaped(buildpack: &str) -> String {
    buildpack.replace('/', "_")
}

fn lifecycle_metadata(cache: &Path) -> PathBuf {
    cache.join("lifecycle/cache/committed/io.buildpacks.lifecycle.cache.metadata")
}

/// Rewrites one `"key":value` of a cached layer's metadata, in whichever engine's format the
/// cache holds. `toml_from`/`toml_to` and `json_from`/`json_to` are exact text replacements,
/// asserted to apply.
fn tamper_metadata(
    engine: Engine,
    cache: &Path,
    buildpack: &str,
    layer: &str,
    (toml_from, toml_to): (&str, &str),
    (json_from, json_to): (&str, &str),
) {
    let (path, from, to) = match engine {
        Engine::Lifecycle => (lifecycle_metadata(cache), json_from, json_to),
        _ => (
            cache
                .join("builtin/layers")
                .join(escaped(buildpack))
                .join(format!("{layer}.toml")),
            toml_from,
            toml_to,
        ),
    };
    let text = std::fs::read_to_string(&path).unwrap();
    // In the lifecycle's JSON, only replace inside this layer's entry.
    let start = if engine == Engine::Lifecycle {
        text.find(&format!("\"{layer}\":{{")).unwrap()
    } else {
        0
    };
    let at = start
        + text[start..]
            .find(from)
            .unwrap_or_else(|| panic!("{from:?} not in {}:\n{text}", path.display()));
    let tampered = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
    std::fs::write(&path, tampered).unwrap();
}

/// Cuts one file of a cached layer short: a file inside the built-in cache's copy, or the
/// lifecycle's layer tarball.
fn truncate_cached_layer(engine: Engine, cache: &Path, buildpack: &str, layer: &str, file: &str) {
    let path = match engine {
        Engine::Lifecycle => {
            let text = std::fs::read_to_string(lifecycle_metadata(cache)).unwrap();
            let entry = &text[text.find(&format!("\"{layer}\":{{\"sha\":\"")).unwrap()..];
            let sha = entry.split('"').nth(5).unwrap();
            cache.join(format!("lifecycle/cache/committed/{sha}.tar"))
        }
        _ => cache
            .join("builtin/layers")
            .join(escaped(buildpack))
            .join(layer)
            .join(file),
    };
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 16, "{} is too small to truncate", path.display());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

const NODEJS: &str = "examples/nodejs";

/// Breaks the cache of an engine.
type Breaking = Box<dyn Fn(Engine, &Path)>;

/// One scenario: build production (the test layer is retained in the cache), break the cached
/// test layer, build test: the layer must be built again and the test process must pass.
fn node_modules_test_is_rebuilt_after(
    engine: Engine,
    cache: &Path,
    what: &str,
    breaking: &dyn Fn(Engine, &Path),
    expected_output: &str,
) {
    let runner = LocalRunner::default();
    let app = "nodejs/greeting-service";
    let production = runner
        .try_build(config(NODEJS, app, ExecEnv::Production, engine, cache))
        .unwrap();
    assert_eq!(
        production
            .layer(NODEJS, "node_modules-test")
            .map(|layer| layer.state),
        Some(LayerState::Retained),
        "{what} ({engine}): the test layer must be kept in the cache first"
    );
    breaking(engine, cache);
    let test = runner
        .try_build(config(NODEJS, app, ExecEnv::Test, engine, cache))
        .unwrap_or_else(|error| panic!("{what} ({engine}): the build failed: {error}"));
    let layer = test.layer(NODEJS, "node_modules-test").unwrap();
    assert_eq!(
        layer.state,
        LayerState::Created,
        "{what} ({engine}): a broken cached layer must be rebuilt, not reused:\n{}",
        test.pack_stdout
    );
    assert!(
        test.pack_stdout.contains(expected_output),
        "{what} ({engine}): the output should say why ({expected_output:?}):\n{}",
        test.pack_stdout
    );
    let run = test.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
    assert!(
        run.success(),
        "{what} ({engine}): the rebuilt image's tests fail:\n{}",
        run.output()
    );
}

#[test]
fn nodejs_foreign_or_stale_cached_modules_are_rebuilt() {
    for engine in available_engines() {
        let cache = tempfile::tempdir().unwrap();
        let cache = cache.path();
        // A first test build fills the cache.
        LocalRunner::default().build(
            config(
                NODEJS,
                "nodejs/greeting-service",
                ExecEnv::Test,
                engine,
                cache,
            ),
            |_| {},
        );
        let scenarios: [(&str, Breaking, &str); 5] = [
            (
                "metadata of an older buildpack version (another schema)",
                Box::new(|engine, cache| {
                    tamper_metadata(
                        engine,
                        cache,
                        NODEJS,
                        "node_modules-test",
                        ("manifest_sha256 =", "lockfile_digest ="),
                        ("\"manifest_sha256\":", "\"lockfile_digest\":"),
                    );
                }),
                "another version of this buildpack",
            ),
            (
                "a layer of another environment under this name",
                Box::new(|engine, cache| {
                    tamper_metadata(
                        engine,
                        cache,
                        NODEJS,
                        "node_modules-test",
                        ("\"test\"", "\"production\""),
                        ("[\"test\"]", "[\"production\"]"),
                    );
                }),
                "its metadata says it belongs to production",
            ),
            (
                "a layer built for another target arch",
                Box::new(|engine, cache| {
                    tamper_metadata(
                        engine,
                        cache,
                        NODEJS,
                        "node_modules-test",
                        ("arch = \"", "arch = \"arm64-"),
                        ("\"arch\":\"", "\"arch\":\"arm64-"),
                    );
                }),
                "arch arm64-",
            ),
            (
                "a layer built for another distro",
                Box::new(|engine, cache| {
                    tamper_metadata(
                        engine,
                        cache,
                        NODEJS,
                        "node_modules-test",
                        ("distro_name = \"", "distro_name = \"alpine-"),
                        ("\"distro_name\":\"", "\"distro_name\":\"alpine-"),
                    );
                }),
                "distro_name alpine-",
            ),
            (
                "a layer with truncated files",
                Box::new(|engine, cache| {
                    truncate_cached_layer(
                        engine,
                        cache,
                        NODEJS,
                        "node_modules-test",
                        "node_modules/escape-html/index.js",
                    );
                }),
                match engine {
                    Engine::Lifecycle => {
                        "Skipping restore for layer examples/nodejs:node_modules-test"
                    }
                    _ => "skipping restore for layer examples/nodejs:node_modules-test",
                },
            ),
        ];
        for (what, breaking, expected_output) in &scenarios {
            eprintln!("--- {engine}: {what}");
            node_modules_test_is_rebuilt_after(engine, cache, what, breaking, expected_output);
        }
    }
}

/// The built-in engine's own cache bookkeeping: a corrupt `metadata.toml` or a layer directory
/// deleted behind its back is reported and the layers are rebuilt, never a crash.
#[test]
fn builtin_corrupt_cache_index_and_missing_layer_dirs_are_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path();
    let app = "nodejs/greeting-service";
    let runner = LocalRunner::default();
    runner.build(
        config(NODEJS, app, ExecEnv::Test, Engine::Builtin, cache),
        |_| {},
    );
    std::fs::write(cache.join("builtin/metadata.toml"), "format = [broken").unwrap();
    let ctx = runner
        .try_build(config(NODEJS, app, ExecEnv::Test, Engine::Builtin, cache))
        .unwrap();
    assert!(
        ctx.pack_stdout
            .contains("is corrupt, starting with an empty cache"),
        "{}",
        ctx.pack_stdout
    );
    assert_eq!(
        ctx.layer(NODEJS, "node_modules-test").unwrap().state,
        LayerState::Created
    );
    std::fs::remove_dir_all(cache.join("builtin/layers/examples_nodejs/node_modules-test"))
        .unwrap();
    let ctx = runner
        .try_build(config(NODEJS, app, ExecEnv::Test, Engine::Builtin, cache))
        .unwrap();
    assert!(
        ctx.pack_stdout
            .contains("skipping restore for layer examples/nodejs:node_modules-test"),
        "{}",
        ctx.pack_stdout
    );
    assert_eq!(
        ctx.layer(NODEJS, "node_modules-test").unwrap().state,
        LayerState::Created
    );
    let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
    assert!(run.success(), "{}", run.output());
}

const RUBY: &str = "examples/ruby";

#[test]
fn ruby_gems_cached_for_another_target_are_reinstalled() {
    for engine in available_engines() {
        let cache = tempfile::tempdir().unwrap();
        let cache = cache.path();
        let vendored = integration_tests::copy_example_app("ruby/rack-minitest");
        let app = vendored.path().to_str().unwrap();
        let runner = LocalRunner::default();
        runner.build(config(RUBY, app, ExecEnv::Test, engine, cache), |_| {});
        runner.build(
            config(RUBY, app, ExecEnv::Production, engine, cache),
            |ctx| {
                assert_eq!(
                    ctx.layer(RUBY, "gems-test").unwrap().state,
                    LayerState::Retained
                );
            },
        );
        tamper_metadata(
            engine,
            cache,
            RUBY,
            "gems-test",
            ("target = \"linux/", "target = \"linux/arm64-"),
            ("\"target\":\"linux/", "\"target\":\"linux/arm64-"),
        );
        let ctx = runner
            .try_build(config(RUBY, app, ExecEnv::Test, engine, cache))
            .unwrap();
        assert_eq!(
            ctx.layer(RUBY, "gems-test").unwrap().state,
            LayerState::Created,
            "{engine}: gems built for another target must be reinstalled:\n{}",
            ctx.pack_stdout
        );
        let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
        assert!(run.success(), "{engine}: {}", run.output());
    }
}
