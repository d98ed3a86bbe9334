//! Concurrency (issue 9, part 6): local-platform builds sharing one cache directory at the same
//! time serialize on the cache lock (`<cache>/.lock`, taken by both engines) and neither
//! corrupts the cache: the builds after them restore every layer intact and the image's tests
//! pass. (A build that waits longer than the lock timeout fails naming the holder's pid: see
//! the restorer's unit test `a_held_lock_makes_the_next_build_wait_then_fail_clearly`.)

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LayerState, LocalRunner,
    available_engines, buildpack_id,
};
use std::path::Path;
use std::sync::Barrier;

const NODEJS: &str = "examples/nodejs";
const APP: &str = "../example-apps/nodejs/greeting-service";
const WAITING: &str = "Waiting for the cache";

fn config(env: ExecEnv, engine: Engine, cache: &Path) -> BuildConfig {
    let mut config = BuildConfig::new(APP);
    config
        .buildpacks([BuildpackReference::WorkspaceBuildpack(buildpack_id!(
            "examples/nodejs"
        ))])
        .exec_env(env)
        .engine(engine)
        .cache_dir(cache);
    config
}

/// Runs the builds at once (released together by a barrier); returns each build's output, or
/// its error as text.
fn at_once(builds: &[(ExecEnv, Engine)], cache: &Path) -> Vec<Result<String, String>> {
    // Package the buildpack first, so both builds start building at the same moment.
    LocalRunner::default().build(
        config(ExecEnv::Test, Engine::Builtin, &cache.join("warm-up")),
        |_| {},
    );
    let barrier = Barrier::new(builds.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = builds
            .iter()
            .map(|(env, engine)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    LocalRunner::default()
                        .try_build(config(env.clone(), *engine, cache))
                        .map(|ctx| ctx.pack_stdout)
                        .map_err(|error| error.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    })
}

/// After concurrent builds: each environment's build restores its dependencies intact from the
/// shared cache, and the test image's tests pass.
fn cache_is_intact(engine: Engine, cache: &Path, production_too: bool) {
    let runner = LocalRunner::default();
    if production_too {
        let ctx = runner
            .try_build(config(ExecEnv::Production, engine, cache))
            .unwrap();
        assert_eq!(
            ctx.layer(NODEJS, "node_modules-production").unwrap().state,
            LayerState::Restored,
            "{engine}: the production modules must come back from the shared cache:\n{}",
            ctx.pack_stdout
        );
    }
    let ctx = runner
        .try_build(config(ExecEnv::Test, engine, cache))
        .unwrap();
    assert_eq!(
        ctx.layer(NODEJS, "node_modules-test").unwrap().state,
        LayerState::Restored,
        "{engine}: the test modules must come back from the shared cache:\n{}",
        ctx.pack_stdout
    );
    let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
    assert!(run.success(), "{engine}: {}", run.output());
}

#[test]
fn two_builds_sharing_a_cache_serialize_and_leave_it_intact() {
    for engine in available_engines() {
        let cache = tempfile::tempdir().unwrap();
        // Two environments at once: each build's layers must survive the other's cache save.
        let results = at_once(
            &[(ExecEnv::Test, engine), (ExecEnv::Production, engine)],
            cache.path(),
        );
        for result in &results {
            assert!(
                result.is_ok(),
                "{engine}: a concurrent build failed: {result:?}"
            );
        }
        assert!(
            results
                .iter()
                .filter(|result| result.as_ref().unwrap().contains(WAITING))
                .count()
                == 1,
            "{engine}: exactly one build must have waited for the other: {results:#?}"
        );
        cache_is_intact(engine, cache.path(), true);
    }
}

#[test]
fn builds_of_both_engines_sharing_a_cache_serialize_too() {
    if available_engines().len() < 2 {
        eprintln!("the real lifecycle is not installed: only one engine");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let results = at_once(
        &[
            (ExecEnv::Test, Engine::Builtin),
            (ExecEnv::Test, Engine::Lifecycle),
        ],
        cache.path(),
    );
    for result in &results {
        assert!(result.is_ok(), "a concurrent build failed: {result:?}");
    }
    assert!(
        results
            .iter()
            .any(|result| result.as_ref().unwrap().contains(WAITING)),
        "one build must have waited for the other: {results:#?}"
    );
    for engine in available_engines() {
        cache_is_intact(engine, cache.path(), false);
    }
}
