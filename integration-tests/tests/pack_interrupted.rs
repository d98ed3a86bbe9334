//! Interrupted and concurrent builds under the pack engine (issue 19): real `pack build` on a
//! real Docker engine, killed at random points, leaves a build cache volume that the next build
//! uses or discards correctly, and that build's result equals a clean build's (the same layers
//! with the same types, the same processes, the same test outcome); two builds sharing one
//! cache volume at once serialize on the cache lock and leave it intact.
//!
//! Two ways to kill, alternating: `SIGKILL` to the process group running `pack build` and then
//! to its build container (a CI runner cancelling a job; Docker would otherwise keep the
//! container running), or `SIGKILL` to the build container only (the OOM killer; pack then fails
//! the build itself). The delay is random within a clean build's duration (seed printed;
//! `CNB_KILL_SEED` repeats it). `CNB_KILL_ROUNDS` sets the kills per example app (default 1,
//! for CI; `docs/bad-input.md` records a campaign of 10). What a killed pack leaves (its build
//! container, its `pack-layers-*`/`pack-app-*` volumes, its ephemeral `pack.local/*` images) is
//! removed by the test; the image and cache volumes by `TempCache`.
//!
//! Under CI (`CI=true`) a missing Docker engine, pack or builder fails these tests.

#![allow(clippy::unwrap_used)]

use integration_tests::copy_example_app;
use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_package::{PackageOptions, package_workspace_buildpack};
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LayerState, LocalRunner, Progress,
    TempCache, TestContext, pack, require,
};
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant};

const CHILD: &str = "PACK_INTERRUPTED_CHILD";

/// One pack test at a time in this binary: what a killed build leaves is found by what appeared
/// while it ran.
static SERIAL: Mutex<()> = Mutex::new(());

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

fn config(app: &Path, buildpack: &Path, env: &ExecEnv, cache: &Path) -> BuildConfig {
    let mut config = BuildConfig::new(app);
    config
        .buildpacks([BuildpackReference::Packaged(buildpack.to_path_buf())])
        .exec_env(env.clone())
        .engine(Engine::Pack)
        .cache_dir(cache);
    config
}

/// The build run by the child process; a no-op in a normal test run.
#[test]
fn pack_interrupted_child() {
    let Some(spec) = std::env::var_os(CHILD) else {
        return;
    };
    let spec = spec.into_string().unwrap();
    let [app, buildpack, env, cache] = spec.split('\n').collect::<Vec<_>>()[..] else {
        panic!("bad {CHILD}: {spec:?}");
    };
    // pack's output on stderr: the parent reads the ephemeral image names pack prints.
    let _ = LocalRunner::default().try_build(
        config(
            Path::new(app),
            Path::new(buildpack),
            &env.parse().unwrap(),
            Path::new(cache),
        )
        .progress(Progress::Stderr),
    );
}

/// The `pack.local/<kind>/<hex>:latest` names in `text` (pack prints the ephemeral lifecycle
/// image it selects).
fn pack_local_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .filter(|word| word.starts_with("pack.local/"))
        .map(|word| word.trim_end_matches(['.', ',']).to_owned())
        .collect()
}

fn docker() -> Command {
    pack::tools::locate().unwrap().docker()
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let output = docker().args(args).output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|line| !line.is_empty())
        .collect()
}

fn pack_images() -> BTreeSet<String> {
    docker_lines(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .into_iter()
        .filter(|image| image.starts_with("pack.local/"))
        .collect()
}

/// What one `pack build` makes besides the image and cache volumes: its phase containers and
/// the volumes they share (`pack-layers-*`, `pack-app-*`), found through the cache volume the
/// analyzer and restorer mount.
#[derive(Default, Debug)]
struct Leftovers {
    containers: BTreeSet<String>,
    volumes: BTreeSet<String>,
    /// The `pack.local/*` images (ephemeral builder and lifecycle) those containers run.
    images: BTreeSet<String>,
}

impl Leftovers {
    /// Looks at the containers now: those mounting the build or launch cache volume (the
    /// analyzer, restorer, exporter) or a volume already known (the builder).
    fn observe(&mut self, cache_volume: &str) {
        let launch_volume = cache_volume.replacen("cnb-local-cache-", "cnb-local-launch-", 1);
        for line in docker_lines(&[
            "ps",
            "--all",
            "--no-trunc",
            "--format",
            "{{.ID}}\t{{.Image}}\t{{.Mounts}}",
        ]) {
            let mut fields = line.splitn(3, '\t');
            let (Some(id), Some(image), Some(mounts)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let mounts: Vec<&str> = mounts.split(',').collect();
            if mounts
                .iter()
                .any(|m| *m == cache_volume || *m == launch_volume || self.volumes.contains(*m))
            {
                self.containers.insert(id.to_owned());
                if image.starts_with("pack.local/") {
                    self.images.insert(image.to_owned());
                }
                for mount in mounts {
                    if mount.starts_with("pack-layers-") || mount.starts_with("pack-app-") {
                        self.volumes.insert(mount.to_owned());
                    }
                }
            }
        }
    }

    /// Takes every container and `pack-layers-*`/`pack-app-*` volume of pack's that is not in
    /// `before`: containers running a `pack.local/*` image or mounting such a volume.
    fn adopt_new_since(&mut self, before: &DockerThings) {
        let now = DockerThings::now();
        for (id, (image, mounts)) in &now.containers {
            if before.containers.contains_key(id) {
                continue;
            }
            let pack_volume =
                |m: &String| m.starts_with("pack-layers-") || m.starts_with("pack-app-");
            if image.starts_with("pack.local/") || mounts.iter().any(pack_volume) {
                self.containers.insert(id.clone());
                if image.starts_with("pack.local/") {
                    self.images.insert(image.clone());
                }
                self.volumes
                    .extend(mounts.iter().filter(|m| pack_volume(m)).cloned());
            }
        }
        for volume in now.volumes.difference(&before.volumes) {
            if volume.starts_with("pack-layers-") || volume.starts_with("pack-app-") {
                self.volumes.insert(volume.clone());
            }
        }
    }

    /// Kills and removes the containers, then the volumes.
    fn remove(&self) {
        for container in &self.containers {
            let _ = docker().args(["rm", "--force", container]).output();
        }
        for volume in &self.volumes {
            let _ = docker().args(["volume", "rm", "--force", volume]).output();
        }
    }
}

/// The engine's containers (id -> image, mounts) and volumes at one moment.
struct DockerThings {
    containers: std::collections::BTreeMap<String, (String, Vec<String>)>,
    volumes: BTreeSet<String>,
}

impl DockerThings {
    fn now() -> Self {
        let containers = docker_lines(&[
            "ps",
            "--all",
            "--no-trunc",
            "--format",
            "{{.ID}}\t{{.Image}}\t{{.Mounts}}",
        ])
        .into_iter()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let id = fields.next()?.to_owned();
            let image = fields.next()?.to_owned();
            let mounts = fields
                .next()
                .unwrap_or_default()
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            Some((id, (image, mounts)))
        })
        .collect();
        let volumes = docker_lines(&["volume", "ls", "--format", "{{.Name}}"])
            .into_iter()
            .collect();
        Self {
            containers,
            volumes,
        }
    }
}

/// The process groups of `pid` and of every process under it: the engine starts `pack build` in
/// a process group of its own, which a kill of the test's group alone would leave running.
fn process_groups_under(pid: u32) -> BTreeSet<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`; comm may hold spaces: read after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(own), Some(parent), Some(group)) = (
            head.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u32>().ok()),
            fields.get(1).and_then(|p| p.parse::<u32>().ok()),
            fields.get(2).and_then(|p| p.parse::<u32>().ok()),
        ) else {
            continue;
        };
        parents.push((own, parent, group));
    }
    let mut tree = BTreeSet::from([pid]);
    loop {
        let before = tree.len();
        for (own, parent, _) in &parents {
            if tree.contains(parent) {
                tree.insert(*own);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    parents
        .iter()
        .filter(|(own, _, _)| tree.contains(own))
        .map(|(_, _, group)| *group)
        .collect()
}

fn signal_groups(groups: &BTreeSet<u32>, signal: &str) -> bool {
    groups.iter().any(|group| {
        Command::new("kill")
            .args([signal, "--", &format!("-{group}")])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    })
}

#[derive(Clone, Copy, Debug)]
enum Kill {
    /// `SIGKILL` to the process group of `pack build`, then to its build containers.
    PackGroupThenContainer,
    /// `SIGKILL` to the build container only: pack sees it die and fails the build.
    ContainerOnly,
}

/// Runs the build in a child process group and kills it `after` its start. Returns whether the
/// kill landed before the build ended by itself; adds the ephemeral images of the killed pack
/// to `images`.
fn build_and_kill(
    images: &mut BTreeSet<String>,
    app: &Path,
    buildpack: &Path,
    env: &ExecEnv,
    cache: &Path,
    after: Duration,
    kill: Kill,
) -> bool {
    let (_, cache_volume) = pack::names(cache);
    let spec = [
        app.to_str().unwrap(),
        buildpack.to_str().unwrap(),
        env.as_str(),
        cache.to_str().unwrap(),
    ]
    .join("\n");
    let before = DockerThings::now();
    let output = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "pack_interrupted_child", "--nocapture"])
        .env(CHILD, spec)
        .stdout(Stdio::null())
        .stderr(output.reopen().unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut groups = BTreeSet::from([child.id()]);
    let mut leftovers = Leftovers::default();
    let mut looked = Instant::now();
    let landed = loop {
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        if started.elapsed() >= after {
            break true;
        }
        if looked.elapsed() > Duration::from_millis(300) {
            leftovers.observe(&cache_volume);
            groups.extend(process_groups_under(child.id()));
            looked = Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "the child build hangs"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    leftovers.observe(&cache_volume);
    groups.extend(process_groups_under(child.id()));
    let signal_group = |signal: &str| signal_groups(&groups, signal);
    if landed {
        match kill {
            Kill::PackGroupThenContainer => {
                signal_group("-KILL");
                for container in &leftovers.containers {
                    let _ = docker()
                        .args(["kill", "--signal", "KILL", container])
                        .output();
                }
            }
            Kill::ContainerOnly if leftovers.containers.is_empty() => {
                // No build container yet (pack is still preparing): the group is what runs.
                signal_group("-KILL");
            }
            Kill::ContainerOnly => {
                for container in &leftovers.containers {
                    let _ = docker()
                        .args(["kill", "--signal", "KILL", container])
                        .output();
                }
            }
        }
    }
    // The child ends by itself after a container kill (pack fails the build); give it time.
    let waited = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if waited.elapsed() > Duration::from_secs(120) {
            signal_group("-KILL");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    while signal_group("-0") {
        std::thread::sleep(Duration::from_millis(20));
    }
    leftovers.observe(&cache_volume);
    if std::env::var("CI").as_deref() == Ok("true") {
        // A kill during detection, before any container mounts the cache volume, leaves
        // containers the observation cannot tie to this build. Under CI nothing else runs pack
        // meanwhile (see `EphemeralImages`): everything of pack's that appeared is this build's.
        leftovers.adopt_new_since(&before);
    }
    leftovers.remove();
    images.extend(leftovers.images);
    images.extend(pack_local_names(&String::from_utf8_lossy(
        &std::fs::read(output.path()).unwrap_or_default(),
    )));
    landed
}

/// The `pack.local/*` images (pack's ephemeral builder and lifecycle images, random names) that
/// killed packs left behind, removed on drop, at the end of a test, when none of its builds runs
/// any more: those seen in use by a killed build's containers or named in its output, and under
/// `CI=true` (where nothing else builds with pack meanwhile: cargo runs one test binary at a time,
/// and this binary one pack test at a time)
/// every one that appeared since `before`. Never an image another pack on this machine may be
/// using.
struct EphemeralImages {
    before: BTreeSet<String>,
    killed: BTreeSet<String>,
}

impl Drop for EphemeralImages {
    fn drop(&mut self) {
        let mut remove = self.killed.clone();
        if std::env::var("CI").as_deref() == Ok("true") {
            remove.extend(pack_images().difference(&self.before).cloned());
        }
        for image in &remove {
            let _ = docker().args(["image", "rm", image]).output();
        }
    }
}

/// Layer: buildpack, name, launch, build, cache.
type LayerSummary = (String, String, bool, bool, bool);

/// What must not depend on how the cache came to be.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    layers: Vec<LayerSummary>,
    processes: Vec<(String, String, Vec<String>, bool)>,
    default_process: Option<String>,
    test_passed: bool,
}

fn outcome(ctx: &TestContext<'_>, env: &ExecEnv) -> Outcome {
    let mut layers: Vec<LayerSummary> = ctx
        .report
        .layers
        .iter()
        .filter(|layer| layer.state != LayerState::Retained)
        .map(|l| {
            (
                l.buildpack_id.clone(),
                l.name.clone(),
                l.launch,
                l.build,
                l.cache,
            )
        })
        .collect();
    layers.sort();
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
            )
        })
        .collect();
    processes.sort();
    let test_passed = *env != ExecEnv::Test
        || ctx
            .launch(
                LaunchConfig::new()
                    .exec_env(ExecEnv::Test)
                    .timeout(Duration::from_secs(600)),
            )
            .success();
    Outcome {
        layers,
        processes,
        default_process: ctx.report.default_process.clone(),
        test_passed,
    }
}

/// A small deterministic generator (the seed is printed so a campaign can be repeated).
struct Random(u64);

impl Random {
    fn new() -> Self {
        let seed = std::env::var("CNB_KILL_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .subsec_nanos(),
                )
            });
        eprintln!("CNB_KILL_SEED={seed}");
        Self(seed)
    }

    /// A fraction in [0.05, 0.95).
    fn fraction(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        #[allow(clippy::cast_precision_loss)]
        let unit = (self.0 >> 11) as f64 / (1u64 << 53) as f64;
        0.05 + 0.9 * unit
    }
}

fn rounds() -> usize {
    std::env::var("CNB_KILL_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(1)
}

/// Kills `rounds()` builds of `app` at random points, each from a fresh cache or from a warm
/// one (alternating), and checks the next build against a clean build.
fn killed_pack_builds_resume_like_a_clean_build(app: &str, env: &ExecEnv, main_layer: &str) {
    if !require(Engine::Pack) {
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut images = EphemeralImages {
        before: pack_images(),
        killed: BTreeSet::new(),
    };
    let app_dir = copy_example_app(app);
    let buildpack = composite();
    let runner = LocalRunner::default();
    let warm = TempCache::new().unwrap();
    let started = Instant::now();
    let clean = runner
        .try_build(config(app_dir.path(), buildpack, env, warm.path()))
        .unwrap();
    let clean_duration = started.elapsed();
    let expected = outcome(&clean, env);
    assert!(expected.test_passed, "{app}: the clean build's tests fail");
    drop(clean);
    eprintln!("--- {app}: clean build {clean_duration:.1?}");

    let mut random = Random::new();
    let mut landed = 0;
    for round in 0..rounds() {
        let fresh = TempCache::new().unwrap();
        let from_warm = round % 2 == 1;
        let cache = if from_warm { warm.path() } else { fresh.path() };
        let kill = if round % 4 < 2 {
            Kill::PackGroupThenContainer
        } else {
            Kill::ContainerOnly
        };
        let after = clean_duration.mul_f64(random.fraction());
        let killed = build_and_kill(
            &mut images.killed,
            app_dir.path(),
            buildpack,
            env,
            cache,
            after,
            kill,
        );
        landed += usize::from(killed);
        let resumed = runner
            .try_build(config(app_dir.path(), buildpack, env, cache))
            .unwrap_or_else(|error| {
                panic!("{app}: the build after a kill at {after:?} ({kill:?}) failed: {error}")
            });
        let state = resumed
            .report
            .layers
            .iter()
            .find(|layer| layer.name == main_layer)
            .map(|layer| layer.state);
        let got = outcome(&resumed, env);
        eprintln!(
            "--- {app} round {round}: {} cache, {kill:?} after {after:.1?} (killed: {killed}); next build: {main_layer} {state:?}, equals a clean build: {}",
            if from_warm { "warm" } else { "fresh" },
            got == expected
        );
        assert_eq!(
            got, expected,
            "{app}: the build after a kill at {after:?} ({kill:?}) differs from a clean build\n{}",
            resumed.pack_stdout
        );
    }
    assert!(
        landed * 2 >= rounds(),
        "{app}: only {landed} of {} kills landed before the build ended",
        rounds()
    );
}

#[test]
fn nodejs_pack_build_killed_then_resumed() {
    killed_pack_builds_resume_like_a_clean_build(
        "nodejs/greeting-service",
        &ExecEnv::Test,
        "node_modules-test",
    );
}

#[test]
fn ruby_pack_build_killed_then_resumed() {
    killed_pack_builds_resume_like_a_clean_build("ruby/rack-minitest", &ExecEnv::Test, "gems-test");
}

/// A production build: a Go test build exports a whole toolchain (minutes per build).
#[test]
fn go_pack_build_killed_then_resumed() {
    killed_pack_builds_resume_like_a_clean_build(
        "go/hello",
        &ExecEnv::Production,
        "go-build-cache",
    );
}

/// Two pack builds of two environments sharing one cache directory (one build cache volume) at
/// once: one waits for the other on the cache lock, both succeed, and the next builds restore
/// their layers from the volume and pass their tests.
#[test]
fn two_pack_builds_sharing_a_cache_volume_serialize_and_leave_it_intact() {
    if !require(Engine::Pack) {
        return;
    }
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let app = copy_example_app("nodejs/greeting-service");
    let buildpack = composite();
    let cache = TempCache::new().unwrap();
    let envs = [ExecEnv::Test, ExecEnv::Production];
    let barrier = Barrier::new(envs.len());
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = envs
            .iter()
            .map(|env| {
                let (barrier, app, cache) = (&barrier, app.path(), cache.path());
                scope.spawn(move || {
                    barrier.wait();
                    LocalRunner::default()
                        .try_build(config(app, buildpack, env, cache))
                        .map(|ctx| ctx.pack_stdout)
                        .map_err(|error| error.to_string())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in &results {
        assert!(result.is_ok(), "a concurrent pack build failed: {result:?}");
    }
    assert_eq!(
        results
            .iter()
            .filter(|result| result.as_ref().unwrap().contains("Waiting for the cache"))
            .count(),
        1,
        "exactly one pack build must have waited for the other: {results:#?}"
    );
    let runner = LocalRunner::default();
    for (env, layer) in [
        (ExecEnv::Production, "node_modules-production"),
        (ExecEnv::Test, "node_modules-test"),
    ] {
        let ctx = runner
            .try_build(config(app.path(), buildpack, &env, cache.path()))
            .unwrap();
        assert_eq!(
            ctx.layer("examples/nodejs", layer).map(|l| l.state),
            Some(LayerState::Restored),
            "{layer} must come back from the shared volume:\n{}",
            ctx.pack_stdout
        );
        if env == ExecEnv::Test {
            let run = ctx.launch(
                LaunchConfig::new()
                    .exec_env(ExecEnv::Test)
                    .timeout(Duration::from_secs(600)),
            );
            assert!(run.success(), "{}", run.output());
        }
    }
}
