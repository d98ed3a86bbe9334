//! Interrupted builds (issue 9, part 3): a build killed at some point (the whole process group,
//! `SIGKILL`, as a CI runner cancelling a job does) leaves a cache the next build can use: that
//! build succeeds, and its result equals a clean build's (processes, the launch layers' file
//! lists, the app directory's file list, the test process's outcome).
//!
//! The build to kill runs in a child process: this test binary again, running only
//! `interrupted_child` (which builds when `INTERRUPTED_CHILD` is set), in its own process group.
//! Kill points per app and engine: fractions of a clean build's duration, and the moment a
//! given layer directory appears (the buildpack is installing into it).

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LocalRunner, TestContext,
    available_engines, package_workspace_buildpack_in,
};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "INTERRUPTED_CHILD";

fn config(
    app: &Path,
    buildpack_dir: &Path,
    engine: Engine,
    cache: &Path,
    env: &ExecEnv,
) -> BuildConfig {
    let mut config = BuildConfig::new(app);
    config
        .buildpacks([BuildpackReference::Packaged(buildpack_dir.to_path_buf())])
        .exec_env(env.clone())
        .engine(engine)
        .cache_dir(cache);
    config
}

/// The build run by the child process; a no-op in a normal test run.
#[test]
fn interrupted_child() {
    let Some(spec) = std::env::var_os(CHILD) else {
        return;
    };
    let spec = spec.into_string().unwrap();
    let parts: Vec<&str> = spec.split('\n').collect();
    let [app, buildpack, engine, cache, env] = parts.as_slice() else {
        panic!("bad {CHILD}: {spec:?}");
    };
    let engine: Engine = engine.parse().unwrap();
    let _ = LocalRunner::default().try_build(config(
        Path::new(app),
        Path::new(buildpack),
        engine,
        Path::new(cache),
        &env.parse().unwrap(),
    ));
}

/// When to kill the build.
#[derive(Clone, Debug)]
enum KillPoint {
    /// This long after the start.
    After(Duration),
    /// As soon as this path (relative to the cache directory) exists.
    WhenExists(&'static str),
}

/// Runs the build in a child process group and kills the group at `point`. Returns whether the
/// kill landed before the build ended by itself.
fn build_and_kill(
    app: &Path,
    buildpack_dir: &Path,
    engine: Engine,
    cache: &Path,
    env: &ExecEnv,
    point: &KillPoint,
) -> bool {
    let spec = [
        app.to_str().unwrap(),
        buildpack_dir.to_str().unwrap(),
        &engine.to_string(),
        cache.to_str().unwrap(),
        env.as_str(),
    ]
    .join("\n");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "interrupted_child", "--nocapture"])
        .env(CHILD, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let group = child.id();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let due = match point {
            KillPoint::After(after) => started.elapsed() >= *after,
            KillPoint::WhenExists(path) => cache.join(path).exists(),
        };
        if due {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the child build hangs"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = |signal: &str| {
        Command::new("kill")
            .args([signal, "--", &format!("-{group}")])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    kill("-KILL");
    let status = child.wait().unwrap();
    // Wait until no process of the group is left (the lifecycle's phases, npm, bundle, go).
    while kill("-0") {
        std::thread::sleep(Duration::from_millis(10));
    }
    status.code().is_none()
}

/// A process: type, command, args, default, exec-env list.
type ProcessSummary = (String, String, Vec<String>, bool, Option<Vec<String>>);

/// What must not depend on how the cache came to be.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    processes: Vec<ProcessSummary>,
    launch_layers: BTreeMap<String, Vec<String>>,
    app_files: Vec<String>,
    test_passed: bool,
}

impl Outcome {
    /// What differs, briefly: the first entries of each list that differs.
    fn differences(&self, expected: &Self) -> String {
        let mut out = Vec::new();
        if self.processes != expected.processes {
            out.push(format!(
                "processes {:?} instead of {:?}",
                self.processes, expected.processes
            ));
        }
        let lists = |o: &Self| {
            let mut lists: Vec<(String, Vec<String>)> = o
                .launch_layers
                .iter()
                .map(|(k, v)| (format!("layer {k}"), v.clone()))
                .collect();
            lists.push(("app".to_owned(), o.app_files.clone()));
            lists
        };
        for ((name, got), (_, want)) in lists(self).into_iter().zip(lists(expected)) {
            if got != want {
                let extra: Vec<_> = got.iter().filter(|f| !want.contains(f)).take(5).collect();
                let missing: Vec<_> = want.iter().filter(|f| !got.contains(f)).take(5).collect();
                out.push(format!("{name}: extra {extra:?}, missing {missing:?}"));
            }
        }
        if self.launch_layers.keys().ne(expected.launch_layers.keys()) {
            out.push(format!(
                "launch layers {:?} instead of {:?}",
                self.launch_layers.keys().collect::<Vec<_>>(),
                expected.launch_layers.keys().collect::<Vec<_>>()
            ));
        }
        if self.test_passed != expected.test_passed {
            out.push(format!("test process passed: {}", self.test_passed));
        }
        out.join("; ")
    }
}

fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, relative: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let name = relative.join(entry.file_name());
            out.push(name.to_string_lossy().into_owned());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &name, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out);
    out.sort();
    out
}

fn outcome(ctx: &TestContext<'_>, buildpack_id: &str) -> Outcome {
    let mut processes: Vec<_> = ctx
        .report
        .processes
        .iter()
        .map(|p| {
            (
                p.r#type.clone(),
                p.command.join(" "),
                p.args.clone(),
                p.default,
                p.exec_env.to_list(),
            )
        })
        .collect();
    processes.sort();
    let layers_dir = ctx
        .image_dir()
        .join("layers")
        .join(buildpack_id.replace('/', "_"));
    let launch_layers = ctx
        .report
        .layers
        .iter()
        .filter(|layer| layer.launch && layer.buildpack_id == buildpack_id)
        .map(|layer| {
            // A build cache's files (Go's GOCACHE) are not a function of the inputs: two clean
            // builds differ. Only its presence is compared.
            let list = if layer.name.ends_with("-cache") {
                Vec::new()
            } else {
                files(&layers_dir.join(&layer.name))
            };
            (layer.name.clone(), list)
        })
        .collect();
    // The test process, in a test build; a production image has none.
    let test_passed = ctx.report.exec_env != ExecEnv::Test
        || ctx
            .launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test))
            .success();
    Outcome {
        processes,
        launch_layers,
        app_files: files(&ctx.image_dir().join("workspace")),
        test_passed,
    }
}

/// A kill point, and whether the build it kills starts from an empty cache (`Fresh`) or from
/// the cache of a complete build (`Warm`, durations relative to a warm build).
#[derive(Clone, Copy, Debug)]
enum Point {
    /// Kill a build with an empty cache after this fraction (percent) of a clean build.
    FreshAt(u32),
    /// Kill a build with an empty cache when the buildpack's layer directory appears.
    FreshInLayer,
    /// Kill a build with a full cache after this fraction (percent) of a warm build.
    WarmAt(u32),
    /// Kill a build with a full cache while the built-in engine saves the cache (built-in only).
    WarmSavingCache,
}

/// The interrupted-then-resumed builds of `app` equal a clean build, under every engine.
fn resumes_like_a_clean_build(
    buildpack_id: &str,
    app: &Path,
    env: &ExecEnv,
    layer: &str,
    points: &[Point],
) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let buildpack_dir = package_workspace_buildpack_in(manifest, buildpack_id).unwrap();
    let runner = LocalRunner::default();
    let escaped = buildpack_id.replace('/', "_");
    for engine in available_engines() {
        let warm_cache = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let clean = runner
            .try_build(config(app, &buildpack_dir, engine, warm_cache.path(), env))
            .unwrap();
        let clean_duration = started.elapsed();
        let expected = outcome(&clean, buildpack_id);
        assert!(
            expected.test_passed,
            "{engine}: the clean build's tests fail"
        );
        drop(clean);
        let warm_duration = if points.iter().any(|p| matches!(p, Point::WarmAt(_))) {
            let started = Instant::now();
            runner
                .try_build(config(app, &buildpack_dir, engine, warm_cache.path(), env))
                .unwrap();
            started.elapsed()
        } else {
            Duration::ZERO
        };

        let layer_dir: &'static str = Box::leak(
            match engine {
                Engine::Lifecycle => format!("lifecycle/work/layers/{escaped}/{layer}"),
                _ => format!("image/layers/{escaped}/{layer}"),
            }
            .into_boxed_str(),
        );
        let mut landed = 0;
        for point in points {
            let fresh_cache = tempfile::tempdir().unwrap();
            let (cache, kill) = match *point {
                Point::FreshAt(percent) => (
                    fresh_cache.path(),
                    KillPoint::After(clean_duration * percent / 100),
                ),
                Point::FreshInLayer => (fresh_cache.path(), KillPoint::WhenExists(layer_dir)),
                Point::WarmAt(percent) => (
                    warm_cache.path(),
                    KillPoint::After(warm_duration * percent / 100),
                ),
                Point::WarmSavingCache if engine == Engine::Builtin => {
                    (warm_cache.path(), KillPoint::WhenExists("builtin.staging"))
                }
                Point::WarmSavingCache => continue,
            };
            let killed = build_and_kill(app, &buildpack_dir, engine, cache, env, &kill);
            eprintln!("--- {buildpack_id} {engine}: {point:?} ({kill:?}): killed {killed}");
            landed += usize::from(killed);
            let resumed = runner
                .try_build(config(app, &buildpack_dir, engine, cache, env))
                .unwrap_or_else(|error| {
                    panic!("{engine}: the build after a kill at {point:?} failed: {error}")
                });
            let got = outcome(&resumed, buildpack_id);
            assert!(
                got == expected,
                "{engine}: the build after a kill at {point:?} differs from a clean build: {}\n{}",
                got.differences(&expected),
                resumed.pack_stdout
            );
        }
        assert!(
            landed * 2 >= points.len().max(2),
            "{engine}: only {landed} of {} kills landed before the build ended",
            points.len()
        );
    }
}

#[test]
fn nodejs_build_killed_then_resumed() {
    resumes_like_a_clean_build(
        "examples/nodejs",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-apps/nodejs/greeting-service"),
        &ExecEnv::Test,
        "node_modules-test",
        &[
            Point::FreshAt(20),
            Point::FreshInLayer,
            Point::FreshAt(60),
            Point::WarmAt(50),
            Point::WarmSavingCache,
        ],
    );
}

#[test]
fn ruby_build_killed_then_resumed() {
    let app = integration_tests::copy_example_app("ruby/rack-minitest");
    resumes_like_a_clean_build(
        "examples/ruby",
        app.path(),
        &ExecEnv::Test,
        "gems-test",
        &[
            Point::FreshAt(25),
            Point::FreshInLayer,
            Point::WarmAt(50),
            Point::WarmSavingCache,
        ],
    );
}

/// Go test builds copy a whole toolchain into a launch layer (minutes per resumed build under
/// the lifecycle, which exports it): the Go builds killed here are production builds (the
/// toolchain only cached), killed while `go build` fills its cache: one point per engine, as
/// a clean Go build takes about a minute here.
#[test]
fn go_build_killed_then_resumed() {
    resumes_like_a_clean_build(
        "examples/go",
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-apps/go/hello"),
        &ExecEnv::Production,
        "go-build-cache",
        &[Point::FreshInLayer],
    );
}
