//! The built-in engine's cache costs what a build changed: layers move between the cache, the
//! previous image and the layers directory instead of being copied, unchanged layers are not
//! written again, and the cache stays sound when a build fails half way or a launch writes into
//! the image. Shell buildpacks written for the tests; no Docker, no network.

#![allow(clippy::unwrap_used)]

mod support;

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{BuildConfig, BuildpackReference, Engine, LayerState, LocalRunner};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use support::{app, buildpack};

/// `deps` (launch + cache) keeps its big file and rewrites its `env/` on every build, as libcnb
/// does; `$2/env/MODIFY` appends to the big file; `gems-<env>` (cache only, env-scoped) keeps
/// the other environments' `gems-*` as cache-only layers; `$2/env/FAIL` copies the cache index
/// to `$2/env/FAIL`'s path and fails the build.
const BUILD: &str = r#"L="$1/deps"
if [ -f "$L/big" ]; then echo "deps: reusing"; else mkdir -p "$L"; head -c 100000 /dev/zero | tr '\0' x > "$L/big"; fi
if [ -f "$2/env/MODIFY" ]; then echo more >> "$L/big"; fi
rm -rf "$L/env"; mkdir -p "$L/env"; printf 'v' > "$L/env/VAR.override"
printf '[types]\nlaunch = true\ncache = true\n' > "$L.toml"
G="$1/gems-$CNB_EXEC_ENV"
if [ -f "$G/file" ]; then echo "gems: reusing"; else mkdir -p "$G"; echo "gems for $CNB_EXEC_ENV" > "$G/file"; fi
printf '[types]\ncache = true\n[metadata]\nexec-env = ["%s"]\n' "$CNB_EXEC_ENV" > "$G.toml"
for other in "$1"/gems-*.toml; do
  case "$other" in *"gems-$CNB_EXEC_ENV.toml") ;; *) sed -i 's/^\[metadata\]/[types]\ncache = true\n[metadata]/' "$other" ;; esac
done
if [ -f "$2/env/FAIL" ]; then
  target="$(cat "$2/env/FAIL")"
  cp "$target/cache/builtin/metadata.toml" "$target/index-during-build.toml"
  ls "$target/cache/builtin/layers/t_cache" > "$target/cache-during-build.txt"
  exit 1
fi"#;

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    app: PathBuf,
    bp: PathBuf,
    cache: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Self {
            app: app(&root),
            bp: buildpack(&root, "t/cache", "0.12", "", "", BUILD),
            cache: root.join("cache"),
            root,
            _tmp: tmp,
        }
    }

    fn config(&self, env: ExecEnv) -> BuildConfig {
        let mut config = BuildConfig::new(&self.app);
        config
            .buildpacks([BuildpackReference::Packaged(self.bp.clone())])
            .engine(Engine::Builtin)
            .cache_dir(&self.cache)
            .exec_env(env);
        config
    }

    fn cached(&self, layer_file: &str) -> PathBuf {
        self.cache.join("builtin/layers/t_cache").join(layer_file)
    }
}

/// Whether launches are isolated here (so the export links instead of copying). Under CI it
/// must be, unless turned off on purpose (`.ci/run` runs these tests once more that way, for
/// the copying fallback).
fn isolated() -> bool {
    let available = libcnb_exec_env_test::builtin::launch_isolation_available();
    let turned_off = std::env::var(libcnb_exec_env_test::builtin::LAUNCH_ISOLATION_ENV)
        .is_ok_and(|value| matches!(value.trim(), "off" | "0" | "false"));
    assert!(
        available || turned_off || std::env::var_os("CI").is_none(),
        "launch isolation is not available under CI"
    );
    if !available {
        eprintln!("NOTE: launch isolation is not available here: testing the copying cache");
    }
    available
}

/// Inode and modification time: a file written again (or copied) gets others.
fn stamp(path: &Path) -> (u64, i64, i64) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.ino(), meta.mtime(), meta.mtime_nsec())
}

#[test]
fn an_unchanged_rebuild_leaves_the_cached_files_alone() {
    let fx = Fixture::new();
    let runner = LocalRunner::default();
    let mut image_big = (0, 0, 0);
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        image_big = stamp(&ctx.image_dir().join("layers/t_cache/deps/big"));
    });
    let big = stamp(&fx.cached("deps/big"));
    let gems = stamp(&fx.cached("gems-test/file"));
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        assert_eq!(
            ctx.layer("t/cache", "deps").unwrap().state,
            LayerState::Restored
        );
        assert!(ctx.pack_stdout.contains("deps: reusing"));
        assert!(
            ctx.pack_stdout
                .contains("Reusing cache layer 't/cache:gems-test'"),
            "{}",
            ctx.pack_stdout
        );
        // The image has the previous image's file (moved, not copied). With isolated
        // launches it is the cache's own file (hard-linked at export, no byte copied);
        // without, a copy.
        let now = stamp(&ctx.image_dir().join("layers/t_cache/deps/big"));
        assert_eq!(now, image_big, "the image's deps/big was copied again");
        if isolated() {
            assert_eq!(
                now.0, big.0,
                "the export copied deps/big instead of linking it"
            );
        } else {
            assert_ne!(now.0, big.0, "image and cache share an inode");
        }
    });
    assert_eq!(
        stamp(&fx.cached("deps/big")),
        big,
        "deps/big was written again"
    );
    assert_eq!(stamp(&fx.cached("gems-test/file")), gems);
    // What the build rewrote (env/) reached the cache.
    assert!(fx.cached("deps/env/VAR.override").is_file());
}

#[test]
fn a_retained_layer_of_another_env_is_not_touched() {
    let fx = Fixture::new();
    let runner = LocalRunner::default();
    runner.build(fx.config(ExecEnv::Test), |_| {});
    let gems = stamp(&fx.cached("gems-test/file"));
    runner.build(fx.config(ExecEnv::Production), |ctx| {
        assert_eq!(
            ctx.layer("t/cache", "gems-test").unwrap().state,
            LayerState::Retained
        );
    });
    assert_eq!(stamp(&fx.cached("gems-test/file")), gems);
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        assert_eq!(
            ctx.layer("t/cache", "gems-test").unwrap().state,
            LayerState::Restored
        );
        assert!(ctx.pack_stdout.contains("gems: reusing"));
    });
    assert_eq!(stamp(&fx.cached("gems-test/file")), gems);
}

#[test]
fn a_modified_layer_is_saved_again() {
    let fx = Fixture::new();
    let runner = LocalRunner::default();
    runner.build(fx.config(ExecEnv::Test), |_| {});
    runner.build(fx.config(ExecEnv::Test).env("MODIFY", "1"), |ctx| {
        assert!(
            ctx.pack_stdout
                .contains("Adding cache layer 't/cache:deps'"),
            "{}",
            ctx.pack_stdout
        );
    });
    let cached = std::fs::read_to_string(fx.cached("deps/big")).unwrap();
    assert!(cached.ends_with("more\n"), "the cache kept the old file");
    // The next build restores the modified layer (its digest matches what was saved).
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        assert!(ctx.pack_stdout.contains("deps: reusing"));
        let image = std::fs::read_to_string(ctx.image_dir().join("layers/t_cache/deps/big"));
        assert!(image.unwrap().ends_with("more\n"));
    });
}

#[test]
fn a_launch_that_writes_into_its_layers_changes_neither_the_image_nor_the_cache() {
    let fx = Fixture::new();
    let runner = LocalRunner::default();
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        let big = ctx.image_dir().join("layers/t_cache/deps/big");
        // A process that writes into an image layer in place, then reads it back.
        let output = ctx.run_shell_command(format!(
            "printf scribbled > '{0}' && printf x >> '{0}' && cat '{0}'",
            big.display()
        ));
        assert_eq!(output.stdout, "scribbledx", "{output:?}");
        let again = ctx.run_shell_command(format!("wc -c < '{}'", big.display()));
        if isolated() {
            // As with `docker run`: the write stayed in that launch.
            assert_eq!(std::fs::metadata(&big).unwrap().len(), 100_000);
            assert_eq!(again.stdout.trim(), "100000");
        } else {
            // Run in place: the image changed, on files of its own (below: not the cache's).
            assert_eq!(again.stdout.trim(), "10");
        }
    });
    assert_eq!(
        std::fs::metadata(fx.cached("deps/big")).unwrap().len(),
        100_000
    );
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        assert!(ctx.pack_stdout.contains("deps: reusing"));
        let image = ctx.image_dir().join("layers/t_cache/deps/big");
        assert_eq!(std::fs::metadata(image).unwrap().len(), 100_000);
    });
}

#[test]
fn a_write_into_the_image_outside_any_launch_is_never_restored() {
    let fx = Fixture::new();
    let runner = LocalRunner::default();
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        // Someone edits the image stand-in by hand, in place: with a linked cache that is the
        // cache's file too, and the cache's digest no longer matches it.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(ctx.image_dir().join("layers/t_cache/deps/big"))
            .unwrap();
        std::io::Write::write_all(&mut file, b"scribbled").unwrap();
    });
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        // Restored only when the cache kept a copy of its own; never the scribbled file.
        assert_eq!(ctx.pack_stdout.contains("deps: reusing"), !isolated());
        let image = ctx.image_dir().join("layers/t_cache/deps/big");
        assert_eq!(std::fs::metadata(image).unwrap().len(), 100_000);
    });
}

#[test]
fn a_cached_layer_another_image_shares_is_copied_out_before_a_build_writes_into_it() {
    let fx = Fixture::new();
    let order = libcnb_exec_env_test::resolve_order(&[BuildpackReference::Packaged(fx.bp.clone())])
        .unwrap();
    let request = |output: &str, modify: bool| libcnb_exec_env_test::BuildRequest {
        app_dir: fx.app.clone(),
        order: order.clone(),
        exec_env: ExecEnv::Test,
        platform_env: if modify {
            [("MODIFY".to_owned(), "1".to_owned())].into()
        } else {
            std::collections::BTreeMap::new()
        },
        cache_dir: fx.cache.clone(),
        output_dir: fx.root.join(output),
        target: libcnb_exec_env_test::Target::host(),
        progress: libcnb_exec_env_test::Progress::Quiet,
        previous_image: true,
    };
    // Image A, whose deps the cache shares (when launches are isolated).
    libcnb_exec_env_test::run_build(Engine::Builtin, &request("a", false)).unwrap();
    let a_big = fx.root.join("a/layers/t_cache/deps/big");
    let before = stamp(&a_big);
    // Image B, same cache: its build appends to deps/big in place.
    let report = libcnb_exec_env_test::run_build(Engine::Builtin, &request("b", true)).unwrap();
    assert!(
        report.output().contains("deps: reusing"),
        "{}",
        report.output()
    );
    let b_big = std::fs::read_to_string(fx.root.join("b/layers/t_cache/deps/big")).unwrap();
    assert!(b_big.ends_with("more\n"));
    // Image A is as it was built.
    assert_eq!(std::fs::metadata(&a_big).unwrap().len(), 100_000);
    assert_eq!(stamp(&a_big), before);
    // And the cache holds B's layer: the next build of A restores the modified one.
    let report = libcnb_exec_env_test::run_build(Engine::Builtin, &request("a", false)).unwrap();
    assert!(
        report.output().contains("deps: reusing"),
        "{}",
        report.output()
    );
    let a_big = std::fs::read_to_string(&a_big).unwrap();
    assert!(a_big.ends_with("more\n"));
}

#[test]
fn a_failed_build_leaves_an_index_naming_only_layers_still_cached() {
    let fx = Fixture::new();
    let runner = LocalRunner::default();
    runner.build(fx.config(ExecEnv::Test), |_| {});
    let failed = runner.try_build(
        fx.config(ExecEnv::Test)
            .env("FAIL", fx.root.to_string_lossy()),
    );
    assert!(failed.is_err(), "the build must fail");
    // While the build ran, `gems-test` (cache only) was out of the cache, and the index did
    // not name it; `deps` came from the previous image, so the cache kept its copy, named.
    let index = std::fs::read_to_string(fx.root.join("index-during-build.toml")).unwrap();
    let listed = std::fs::read_to_string(fx.root.join("cache-during-build.txt")).unwrap();
    assert!(!index.contains("gems-test"), "{index}");
    assert!(!listed.lines().any(|l| l == "gems-test"), "{listed}");
    assert!(index.contains("deps"), "{index}");
    assert!(listed.lines().any(|l| l == "deps"), "{listed}");
    // The failed build left `gems-test` as restored, so it went back into the cache (the
    // lifecycle writes no cache for a failed build): the next build restores both.
    runner.build(fx.config(ExecEnv::Test), |ctx| {
        assert_eq!(
            ctx.layer("t/cache", "gems-test").unwrap().state,
            LayerState::Restored
        );
        assert_eq!(
            ctx.layer("t/cache", "deps").unwrap().state,
            LayerState::Restored
        );
    });
}
