//! Environment benchmarks of libcnb-exec-env (BENCHMARKS.md, parts 2-5).
//!
//! For each app (the example apps, then generated scale apps), with the example buildpacks
//! packaged in release mode and one fresh platform cache:
//!
//! 1. cold `test` build, then the image's `test` process (part 4: local platform vs a shell
//!    script running the same toolchain commands, `floor/<lang>.sh`, with fresh caches too,
//!    including the buildpack's runtime install as the step `runtime`; the ratio without that
//!    step is reported beside the goal's);
//! 2. `production` build, 3. `test` build again (part 2: cache reuse across environments);
//! 4. `test` build, nothing changed (part 3).
//!
//! Each build's wall time is reported as a ratio of the cold build, with the layers the
//! platform's report calls created / restored / retained. Benchmarks are not tests: goals are
//! printed as met or MISSED, nothing fails on time.

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_package::{CargoProfile, PackageOptions, package_workspace_buildpack};
use libcnb_exec_env_test::{
    BuildReport, BuildRequest, BuildpackReference, Engine, LaunchRequest, LayerState, Progress,
    Target, resolve_order, run_build, run_launch,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Options {
    root: PathBuf,
    long: bool,
    json: Option<PathBuf>,
    engine: Engine,
    only: Vec<String>,
    repetitions: usize,
    scale: bool,
    progress: Progress,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        root: PathBuf::from("."),
        long: false,
        json: None,
        engine: Engine::Builtin,
        only: Vec::new(),
        repetitions: 1,
        scale: false,
        progress: Progress::Quiet,
    };
    let mut repetitions = None;
    let mut no_scale = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--root" => options.root = PathBuf::from(value("--root")?),
            "--json" => options.json = Some(PathBuf::from(value("--json")?)),
            "--long" => {
                options.long = true;
                options.scale = true;
            }
            "--scale" => options.scale = true,
            "--no-scale" => no_scale = true,
            // Streams every phase's output to stderr (to see where a build spends its time).
            "--progress" => options.progress = Progress::Stderr,
            "--repetitions" => {
                repetitions = Some(
                    value("--repetitions")?
                        .parse()
                        .map_err(|error| format!("--repetitions: {error}"))?,
                );
            }
            "--only" => options.only.push(value("--only")?),
            "--engine" => {
                options.engine = match value("--engine")?.as_str() {
                    "builtin" => Engine::Builtin,
                    "lifecycle" => Engine::Lifecycle,
                    "pack" => Engine::Pack,
                    "auto" => Engine::Auto,
                    other => {
                        return Err(format!(
                            "--engine {other}: builtin, lifecycle, pack or auto"
                        ));
                    }
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    options.repetitions = repetitions.unwrap_or(3).max(1);
    if no_scale {
        options.scale = false;
    }
    options.root = options
        .root
        .canonicalize()
        .map_err(|error| format!("--root: {error}"))?;
    Ok(options)
}

/// An app to build and the floor script that does its toolchain work by hand.
struct App {
    label: String,
    buildpack: &'static str,
    dir: PathBuf,
    floor: &'static str,
    /// What it is, for the report (`"example app"`, `"502 npm packages"`).
    note: String,
}

/// What one build did.
struct BuildFigures {
    seconds: f64,
    created: Vec<String>,
    restored: Vec<String>,
    retained: Vec<String>,
    /// Layers not cached by design (`cache = false`): rewritten by every build.
    uncached: Vec<String>,
    /// Tool probes the buildpack ran (`Probing: ` lines: Ruby's `ruby -e`, `bundle --version`,
    /// `bundle exec rake -P`): zero on a rebuild with unchanged tools.
    probes: usize,
    /// Go packages whose test binary the test precompile built and linked (`ok` lines without
    /// `(cached)`): zero when Go's test cache serves an unchanged app.
    tests_linked: usize,
    /// The lifecycle engine's image stand-in after export: layers unpacked, layers unchanged
    /// since the last build (`Image stand-in ...: N layer(s) unpacked, M unchanged ...`).
    unpacked: Option<(u64, u64)>,
}

/// Counts the lines of a build's output that show a tool probe, and Go test packages compiled
/// rather than served from Go's test cache.
/// The lifecycle engine's `Image stand-in <dir>: N layer(s) unpacked, M unchanged since the last
/// build` line: how much of the exported image it unpacked.
fn unpacked_layers(output: &str) -> Option<(u64, u64)> {
    let line = output.lines().find(|line| {
        line.starts_with("Image stand-in ") && line.contains(" layer(s) unpacked, ")
    })?;
    let (_, counts) = line.rsplit_once(": ")?;
    let (unpacked, rest) = counts.split_once(" layer(s) unpacked, ")?;
    let kept = rest.split_whitespace().next()?;
    Some((unpacked.parse().ok()?, kept.parse().ok()?))
}

fn count_work(output: &str) -> (usize, usize) {
    let mut probes = 0;
    let mut linked = 0;
    for line in output.lines() {
        // Build output is in bullet_stream's style: a probe is a `- Probing: ...` step.
        let line = line.trim_start().trim_start_matches("- ");
        if line.starts_with("Probing: `") {
            probes += 1;
        } else if line.starts_with("ok  \t") && !line.contains("(cached)") {
            linked += 1;
        }
    }
    (probes, linked)
}

impl BuildFigures {
    fn from_report(report: &BuildReport, elapsed: Duration) -> Self {
        let names = |state: LayerState| {
            report
                .layers
                .iter()
                .filter(|layer| layer.state == state)
                .map(|layer| layer.name.clone())
                .collect::<Vec<_>>()
        };
        let output: String = report
            .phases
            .iter()
            .map(|phase| phase.output.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let (probes, tests_linked) = count_work(&output);
        Self {
            probes,
            tests_linked,
            unpacked: unpacked_layers(&output),
            seconds: elapsed.as_secs_f64(),
            created: names(LayerState::Created),
            restored: names(LayerState::Restored),
            retained: names(LayerState::Retained),
            uncached: report
                .layers
                .iter()
                .filter(|layer| !layer.cache && layer.state != LayerState::Retained)
                .map(|layer| layer.name.clone())
                .collect(),
        }
    }

    fn to_json(&self, cold: f64) -> Value {
        json!({
            "seconds": self.seconds,
            "ratio_to_cold": self.seconds / cold,
            "created": self.created,
            "restored": self.restored,
            "retained": self.retained,
            "uncached": self.uncached,
            "probes": self.probes,
            "tests_linked": self.tests_linked,
            "unpacked": self.unpacked.map(|(unpacked, _)| unpacked),
            "unpacked_unchanged": self.unpacked.map(|(_, kept)| kept),
        })
    }
}

struct Platform {
    engine: Engine,
    target: Target,
    packaged: BTreeMap<&'static str, PathBuf>,
    progress: Progress,
}

/// A build's cache directory, removed after use with what the engine keeps outside it (the
/// pack engine's image and cache volumes).
struct Cache {
    dir: tempfile::TempDir,
    engine: Engine,
}

impl Cache {
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        if self.engine.resolve() == Engine::Pack {
            libcnb_exec_env_test::pack::remove(self.dir.path());
        }
    }
}

impl Platform {
    fn cache(&self) -> Result<Cache, String> {
        let dir = tempfile::Builder::new()
            .prefix("cnb-bench-cache.")
            .tempdir()
            .map_err(|error| error.to_string())?;
        Ok(Cache {
            dir,
            engine: self.engine,
        })
    }

    fn build(
        &self,
        app: &App,
        env: &ExecEnv,
        cache: &Path,
    ) -> Result<(BuildReport, Duration), String> {
        let order = resolve_order(&[BuildpackReference::Packaged(
            self.packaged[app.buildpack].clone(),
        )])
        .map_err(|error| format!("{}: {error}", app.label))?;
        let request = BuildRequest {
            app_dir: app.dir.clone(),
            order,
            exec_env: env.clone(),
            platform_env: BTreeMap::new(),
            cache_dir: cache.to_path_buf(),
            // Stable, as the local platform's runner keeps it: env files hold layer paths.
            output_dir: cache.join("image"),
            target: self.target.clone(),
            progress: self.progress,
            previous_image: true,
        };
        let start = Instant::now();
        let report = run_build(self.engine, &request)
            .map_err(|error| format!("{} {env} build failed: {error}", app.label))?;
        Ok((report, start.elapsed()))
    }

    fn launch_test(&self, label: &str, report: &BuildReport) -> Result<Duration, String> {
        let request = LaunchRequest {
            image_dir: report.image_dir.clone(),
            process: Some("test".to_owned()),
            exec_env: Some(ExecEnv::Test),
            timeout: Some(Duration::from_mins(30)),
            ..LaunchRequest::default()
        };
        let start = Instant::now();
        let result = run_launch(self.engine, &request)
            .map_err(|error| format!("{label}: launching `test` failed: {error}"))?;
        let elapsed = start.elapsed();
        if !result.success() {
            return Err(format!(
                "{label}: the `test` process failed ({:?}):\n{}",
                result.exit_code,
                tail(&result.output())
            ));
        }
        Ok(elapsed)
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs `floor/<lang>.sh` on a fresh directory: the time of the toolchain commands alone.
fn run_floor(
    bench_dir: &Path,
    app: &App,
    floor_env: &[(String, String)],
) -> Result<(f64, BTreeMap<String, f64>), String> {
    let work = tempfile::Builder::new()
        .prefix("cnb-bench-floor.")
        .tempdir()
        .map_err(|error| error.to_string())?;
    let steps = work.path().join("steps");
    let run_dir = work.path().join("run");
    std::fs::create_dir(&run_dir).map_err(|error| error.to_string())?;
    let start = Instant::now();
    let output = Command::new("bash")
        .arg(bench_dir.join("floor").join(app.floor))
        .arg(&app.dir)
        .arg(&run_dir)
        .env("STEPS", &steps)
        .envs(floor_env.iter().map(|(key, value)| (key, value)))
        .output()
        .map_err(|error| format!("floor script {}: {error}", app.floor))?;
    let seconds = start.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "floor script {} failed on {}:\n{}{}",
            app.floor,
            app.label,
            tail(&String::from_utf8_lossy(&output.stdout)),
            tail(&String::from_utf8_lossy(&output.stderr))
        ));
    }
    let mut step_seconds = BTreeMap::new();
    for line in std::fs::read_to_string(&steps).unwrap_or_default().lines() {
        if let Some((name, ns)) = line.split_once(' ')
            && let Ok(ns) = ns.trim().parse::<f64>()
        {
            *step_seconds.entry(name.to_owned()).or_insert(0.0) += ns / 1e9;
        }
    }
    Ok((seconds, step_seconds))
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_bytes(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// The seconds `cp -a` takes to copy `dir`: what copying a build's layers once costs.
fn copy_seconds(dir: &Path) -> f64 {
    let Ok(target) = tempfile::Builder::new().prefix("cnb-bench-copy.").tempdir() else {
        return f64::NAN;
    };
    let start = Instant::now();
    let ok = Command::new("cp")
        .arg("-a")
        .arg(dir)
        .arg(target.path().join("copy"))
        .status()
        .is_ok_and(|status| status.success());
    if ok {
        start.elapsed().as_secs_f64()
    } else {
        f64::NAN
    }
}

/// Whether `app`'s floor repeats choices the buildpack made (and needs a build to read them).
fn needs_build_facts(app: &App) -> bool {
    matches!(app.floor, "ruby.sh" | "nodejs.sh")
}

/// The environment of `app`'s floor script: the buildpack's choices, read from a test build.
///
/// - `ruby.sh`: `TEST_COMMAND`, the image's `test` process (the buildpack chooses it from the
///   Rakefile, `spec/` or a setting).
/// - `nodejs.sh`: `NODE_PACKAGE`, `NODE_VERSION` and `NPM_VERSION`, the runtime the buildpack
///   installed into its `nodejs` layer (from the build output's `Node.js <version>: the newest
///   <package> release ...` and `npm <version>: the newest release ...` steps).
fn floor_env(app: &App, report: &BuildReport) -> Result<Vec<(String, String)>, String> {
    match app.floor {
        "ruby.sh" => Ok(vec![(
            "TEST_COMMAND".to_owned(),
            report
                .processes
                .iter()
                .find(|process| process.r#type == "test")
                .map(|process| shell_join(process.command.iter().chain(&process.args)))
                .unwrap_or_default(),
        )]),
        "nodejs.sh" => {
            let output = report.output();
            let (package, node, npm) = node_runtime(&output).ok_or_else(|| {
                format!(
                    "{}: the test build's output names no Node.js and npm versions \
                     (`Node.js <version>: the newest <package> release`, \
                     `npm <version>: the newest release`):\n{}",
                    app.label,
                    tail(&output)
                )
            })?;
            Ok(vec![
                ("NODE_PACKAGE".to_owned(), package),
                ("NODE_VERSION".to_owned(), node),
                ("NPM_VERSION".to_owned(), npm),
            ])
        }
        _ => Ok(Vec::new()),
    }
}

/// The Node.js package and version and the npm version the Node.js buildpack installed, from
/// its build output.
fn node_runtime(output: &str) -> Option<(String, String, String)> {
    let mut node = None;
    let mut npm = None;
    for line in output.lines() {
        let line = line.trim_start().trim_start_matches("- ");
        if let Some((version, rest)) = line
            .strip_prefix("Node.js ")
            .and_then(|rest| rest.split_once(": the newest "))
        {
            let package = rest.split_whitespace().next()?;
            node = Some((package.to_owned(), version.to_owned()));
        } else if let Some((version, _)) = line
            .strip_prefix("npm ")
            .and_then(|rest| rest.split_once(": the newest release"))
        {
            npm = Some(version.to_owned());
        }
    }
    let (package, node) = node?;
    Some((package, node, npm?))
}

/// One repetition of the whole scenario on one app.
fn scenario(
    platform: &Platform,
    bench_dir: &Path,
    app: &App,
    floor_first: bool,
) -> Result<Value, String> {
    let load_before = loadavg();
    let mut floor = None;
    // What the floor was told of the buildpack's choices (kept in the JSON to check it).
    let mut used_env = Vec::new();
    if floor_first {
        // A floor that repeats the buildpack's choices needs a test build to read them from:
        // a throwaway one when the floor runs first, else the cold build below.
        let floor_env = if needs_build_facts(app) {
            let cache = platform.cache()?;
            let (report, _) = platform.build(app, &ExecEnv::Test, cache.path())?;
            floor_env(app, &report)?
        } else {
            Vec::new()
        };
        floor = Some(run_floor(bench_dir, app, &floor_env)?);
        used_env = floor_env;
    }
    let cache = platform.cache()?;
    let (cold_report, cold_time) = platform.build(app, &ExecEnv::Test, cache.path())?;
    let launch = platform.launch_test(&app.label, &cold_report)?;
    let cold = BuildFigures::from_report(&cold_report, cold_time);
    let image_bytes = dir_bytes(&cold_report.image_dir);
    let image_copy = copy_seconds(&cold_report.image_dir);

    let (report, time) = platform.build(app, &ExecEnv::Production, cache.path())?;
    let production = BuildFigures::from_report(&report, time);
    let (report, time) = platform.build(app, &ExecEnv::Test, cache.path())?;
    let back_to_test = BuildFigures::from_report(&report, time);
    let (report, time) = platform.build(app, &ExecEnv::Test, cache.path())?;
    let unchanged = BuildFigures::from_report(&report, time);

    if floor.is_none() {
        used_env = floor_env(app, &cold_report)?;
        floor = Some(run_floor(bench_dir, app, &used_env)?);
    }
    let (floor_seconds, floor_steps) = floor.unwrap_or_default();
    // The floor without the buildpack's runtime install done by hand (the figure before the
    // floors did it): what the platform costs beyond the toolchain commands proper.
    let floor_without_runtime = floor_seconds - floor_steps.get("runtime").copied().unwrap_or(0.0);
    let platform_seconds = cold.seconds + launch.as_secs_f64();
    let c = cold.seconds;
    Ok(json!({
        "builds": {
            "1_test_cold": cold.to_json(c),
            "2_production": production.to_json(c),
            "3_test_again": back_to_test.to_json(c),
            "4_test_unchanged": unchanged.to_json(c),
        },
        "test_process_seconds": launch.as_secs_f64(),
        "platform_test_build_and_run_seconds": platform_seconds,
        "floor_seconds": floor_seconds,
        "floor_steps_seconds": floor_steps,
        "floor_env": used_env.into_iter().collect::<BTreeMap<_, _>>(),
        "platform_to_floor_ratio": platform_seconds / floor_seconds,
        "floor_without_runtime_seconds": floor_without_runtime,
        "platform_to_floor_without_runtime_ratio": platform_seconds / floor_without_runtime,
        "image_bytes": image_bytes,
        "image_copy_seconds": image_copy,
        "loadavg_before_after": [load_before, loadavg()],
    }))
}

/// Why the engine named by `--engine` cannot run here, if it cannot.
fn unavailable_engine() -> Option<String> {
    let mut args = std::env::args().skip_while(|arg| arg != "--engine").skip(1);
    match args.next()?.as_str() {
        "lifecycle" if libcnb_exec_env_test::lifecycle::locate().is_none() => {
            Some("lifecycle engine: no lifecycle found (scripts/install-lifecycle.sh)".to_owned())
        }
        "pack" => libcnb_exec_env_test::pack::tools::locate()
            .err()
            .map(|reason| format!("pack engine: {reason} (scripts/local-builder.sh)")),
        _ => None,
    }
}

/// The 1-minute load average: how busy the machine was (the figures are only as good as this).
fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn shell_join<'a>(words: impl Iterator<Item = &'a String>) -> String {
    words
        .map(|word| {
            if word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:".contains(c))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

fn get_f64(value: &Value, path: &[&str]) -> f64 {
    let mut current = value;
    for key in path {
        current = &current[*key];
    }
    current.as_f64().unwrap_or(f64::NAN)
}

/// min, median and max over repetitions of the figure at `path`.
fn spread_of(runs: &[Value], path: &[&str]) -> (f64, f64, f64) {
    let mut values: Vec<f64> = runs.iter().map(|run| get_f64(run, path)).collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, median(&mut values), max)
}

/// `x0.336 (0.301-0.402)`: the median ratio and its range over the repetitions.
fn show_spread((min, median, max): (f64, f64, f64)) -> String {
    format!("x{median:.3} ({min:.3}-{max:.3})")
}

fn spread_json((min, median, max): (f64, f64, f64)) -> Value {
    json!({ "min": min, "median": median, "max": max })
}

/// Median over repetitions of the figure at `path`.
fn median_of(runs: &[Value], path: &[&str]) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(|run| get_f64(run, path)).collect();
    median(&mut values)
}

fn list(value: &Value) -> String {
    let names: Vec<&str> = value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(",")
    }
}

#[allow(clippy::too_many_lines)] // one table and its goal lines, in print order
fn summarize(app: &App, runs: &[Value]) -> (String, Value) {
    let mut text = String::new();
    let last = &runs[runs.len() - 1];
    let _ = writeln!(
        text,
        "  {} ({}, {}; {} repetition(s): medians, ratios as median (min-max))",
        app.label,
        app.buildpack,
        app.note,
        runs.len()
    );
    let cold = median_of(runs, &["builds", "1_test_cold", "seconds"]);
    for (key, name) in [
        ("1_test_cold", "test (cold)"),
        ("2_production", "production"),
        ("3_test_again", "test again"),
        ("4_test_unchanged", "test unchanged"),
    ] {
        let seconds = median_of(runs, &["builds", key, "seconds"]);
        let build = &last["builds"][key];
        let _ = writeln!(
            text,
            "    {name:15} {seconds:8.2} s  {} of cold | probes: {}, test packages linked: {} (most in one repetition){} | created: {} | restored: {} | retained: {} | (uncached: {})",
            show_spread(spread_of(runs, &["builds", key, "ratio_to_cold"])),
            spread_of(runs, &["builds", key, "probes"]).2,
            spread_of(runs, &["builds", key, "tests_linked"]).2,
            match (
                build["unpacked"].as_u64(),
                build["unpacked_unchanged"].as_u64()
            ) {
                (Some(unpacked), Some(kept)) => {
                    format!(" | image layers unpacked after export: {unpacked} ({kept} unchanged)")
                }
                _ => String::new(),
            },
            list(&build["created"]),
            list(&build["restored"]),
            list(&build["retained"]),
            list(&build["uncached"]),
        );
    }
    let platform = median_of(runs, &["platform_test_build_and_run_seconds"]);
    let floor = median_of(runs, &["floor_seconds"]);
    let test_run = median_of(runs, &["test_process_seconds"]);
    let mut steps = String::new();
    if let Some(map) = last["floor_steps_seconds"].as_object() {
        for (name, _) in map {
            let _ = write!(
                steps,
                " {name} {:.2}",
                median_of(runs, &["floor_steps_seconds", name])
            );
        }
    }
    // The floors do the buildpack's runtime install by hand (step `runtime`); the ratio without
    // it is the figure from before they did.
    let has_runtime = last["floor_steps_seconds"].get("runtime").is_some();
    let floor_without_runtime = median_of(runs, &["floor_without_runtime_seconds"]);
    let _ = writeln!(
        text,
        "    local platform (cold test build {cold:.2} s + test process {test_run:.2} s) {platform:.2} s vs shell floor {floor:.2} s (steps:{steps}): {}{}",
        show_spread(spread_of(runs, &["platform_to_floor_ratio"])),
        if has_runtime {
            format!(
                "; without the floor's runtime install ({floor_without_runtime:.2} s): {}",
                show_spread(spread_of(
                    runs,
                    &["platform_to_floor_without_runtime_ratio"]
                ))
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        text,
        "    image stand-in {:.1} MB; copying it once with cp -a takes {:.2} s; load average {:.1} -> {:.1}",
        get_f64(last, &["image_bytes"]) / 1e6,
        median_of(runs, &["image_copy_seconds"]),
        last["loadavg_before_after"][0].as_f64().unwrap_or(f64::NAN),
        last["loadavg_before_after"][1].as_f64().unwrap_or(f64::NAN),
    );

    // Goals of the issue.
    let third = median_of(runs, &["builds", "3_test_again", "seconds"]) / cold;
    let fourth = median_of(runs, &["builds", "4_test_unchanged", "seconds"]) / cold;
    let uncached = |key: &str, name: &str| {
        last["builds"][key]["uncached"]
            .as_array()
            .is_some_and(|names| names.iter().any(|n| n.as_str() == Some(name)))
    };
    let shared_recreated: Vec<String> = last["builds"]["2_production"]["created"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| !uncached("2_production", name))
        .filter(|name| {
            last["builds"]["1_test_cold"]["created"]
                .as_array()
                .is_some_and(|cold| cold.iter().any(|c| c.as_str() == Some(name)))
        })
        .map(str::to_owned)
        .collect();
    let cached_created = |key: &str| {
        last["builds"][key]["created"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|name| !uncached(key, name))
            .count()
    };
    let unchanged_created = cached_created("4_test_unchanged");
    let third_created = cached_created("3_test_again");
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let _ = writeln!(
        text,
        "    goals: switch reinstalls nothing shared: {} (layers of the cold build made again by production: {}); test again <= 0.2 x cold: {} (x{third:.3}, {third_created} cached layers created); unchanged <= 0.1 x cold with 0 created: {} (x{fourth:.3}, {unchanged_created} cached layers created); platform <= 1.10 x floor: {} (x{:.3}{})",
        verdict(shared_recreated.is_empty()),
        if shared_recreated.is_empty() {
            "none".to_owned()
        } else {
            shared_recreated.join(",")
        },
        verdict(third <= 0.2),
        verdict(fourth <= 0.1 && unchanged_created == 0),
        verdict(platform / floor <= 1.10),
        platform / floor,
        if has_runtime {
            format!(
                "; without the floor's runtime install x{:.3}",
                platform / floor_without_runtime
            )
        } else {
            String::new()
        }
    );
    let summary = json!({
        "app": app.label,
        "buildpack": app.buildpack,
        "note": app.note,
        "repetitions": runs.len(),
        "median_cold_seconds": cold,
        "median_ratio_test_again": third,
        "median_ratio_unchanged": fourth,
        "median_platform_to_floor": platform / floor,
        "median_platform_to_floor_without_runtime": platform / floor_without_runtime,
        "floor_has_runtime_step": has_runtime,
        "spread": {
            "production": spread_json(spread_of(runs, &["builds", "2_production", "ratio_to_cold"])),
            "test_again": spread_json(spread_of(runs, &["builds", "3_test_again", "ratio_to_cold"])),
            "unchanged": spread_json(spread_of(runs, &["builds", "4_test_unchanged", "ratio_to_cold"])),
            "platform_to_floor": spread_json(spread_of(runs, &["platform_to_floor_ratio"])),
            "platform_to_floor_without_runtime": spread_json(spread_of(runs, &["platform_to_floor_without_runtime_ratio"])),
        },
        "shared_layers_recreated_by_switch": shared_recreated,
        "runs": runs,
    });
    (text, summary)
}

fn command_ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The example apps: one per example buildpack.
fn example_apps(root: &Path, work: &Path) -> Vec<App> {
    let mut apps = vec![
        App {
            label: "nodejs/greeting-service".to_owned(),
            buildpack: "examples/nodejs",
            dir: root.join("example-apps/nodejs/greeting-service"),
            floor: "nodejs.sh",
            note: "example app".to_owned(),
        },
        App {
            label: "go/hello".to_owned(),
            buildpack: "examples/go",
            dir: root.join("example-apps/go/hello"),
            floor: "go.sh",
            note: "example app".to_owned(),
        },
    ];
    // Ruby apps need their gems in vendor/cache, made from Debian's installed gems.
    let ruby_source = root.join("example-apps/ruby/rack-minitest");
    let vendored = work.join("ruby-rack-minitest");
    if command_ok("bundle", &["--version"]) && ruby_source.is_dir() {
        let _ = std::fs::remove_dir_all(&vendored);
        let copied = command_ok(
            "cp",
            &[
                "-a",
                &ruby_source.to_string_lossy(),
                &vendored.to_string_lossy(),
            ],
        );
        let packed = copied
            && command_ok(
                "ruby",
                &[
                    &root
                        .join("example-apps/ruby/vendor-system-gems.rb")
                        .to_string_lossy(),
                    "--relock",
                    &vendored.to_string_lossy(),
                ],
            );
        if packed {
            apps.push(App {
                label: "ruby/rack-minitest".to_owned(),
                buildpack: "examples/ruby",
                dir: vendored,
                floor: "ruby.sh",
                note: "example app, gems vendored from Debian's".to_owned(),
            });
        } else {
            println!(
                "  (ruby/rack-minitest skipped: its gems are not installed here; apt-get install ruby-rack ruby-webrick ruby-minitest rake)"
            );
        }
    } else {
        println!("  (ruby/rack-minitest skipped: no bundler; apt-get install ruby bundler)");
    }
    apps
}

/// A Node.js app whose lockfile names about `target` packages (npm resolves it once).
fn node_scale_app(work: &Path, long: bool) -> Result<App, String> {
    let (dependencies, dev_dependencies) = if long {
        (
            r#""express": "4.21.2", "lodash": "4.17.21", "axios": "1.7.9", "moment": "2.30.1", "yargs": "17.7.2", "chalk": "4.1.2", "commander": "12.1.0", "uuid": "11.0.3""#,
            r#""eslint": "8.57.1", "mocha": "10.8.2", "webpack": "5.97.1", "@babel/core": "7.26.0", "jest": "29.7.0""#,
        )
    } else {
        (
            r#""express": "4.21.2", "lodash": "4.17.21", "commander": "12.1.0""#,
            r#""mocha": "10.8.2", "eslint": "8.57.1""#,
        )
    };
    let dir = work.join(if long {
        "node-scale-long"
    } else {
        "node-scale-short"
    });
    let lock = dir.join("package-lock.json");
    if !lock.is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("test")).map_err(|error| error.to_string())?;
        let package = format!(
            "{{\n  \"name\": \"scale\",\n  \"version\": \"1.0.0\",\n  \"private\": true,\n  \"scripts\": {{ \"start\": \"node index.js\", \"test\": \"node --test test/\" }},\n  \"dependencies\": {{ {dependencies} }},\n  \"devDependencies\": {{ {dev_dependencies} }}\n}}\n"
        );
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).map_err(|error| format!("{name}: {error}"))
        };
        write("package.json", &package)?;
        write(
            "index.js",
            "const express = require('express');\nconst _ = require('lodash');\nconst app = express();\napp.get('/', (req, res) => res.send(_.capitalize('hello')));\nif (require.main === module) app.listen(process.env.PORT || 8080);\nmodule.exports = app;\n",
        )?;
        for i in 0..20 {
            write(
                &format!("test/t{i:02}.test.js"),
                &format!(
                    "const test = require('node:test');\nconst assert = require('node:assert');\nconst _ = require('lodash');\ntest('sum {i}', () => assert.strictEqual(_.sum([{i}, 1]), {}));\n",
                    i + 1
                ),
            )?;
        }
        let status = Command::new("npm")
            .args([
                "install",
                "--package-lock-only",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
            ])
            .current_dir(&dir)
            .output()
            .map_err(|error| format!("npm: {error}"))?;
        if !status.status.success() {
            return Err(format!(
                "npm install --package-lock-only failed:\n{}",
                String::from_utf8_lossy(&status.stderr)
            ));
        }
    }
    let text = std::fs::read_to_string(&lock).map_err(|error| error.to_string())?;
    let lock: Value = serde_json::from_str(&text).map_err(|error| error.to_string())?;
    let packages = lock["packages"]
        .as_object()
        .map_or(0, |map| map.keys().filter(|key| !key.is_empty()).count());
    let production = lock["packages"].as_object().map_or(0, |map| {
        map.iter()
            .filter(|(key, value)| !key.is_empty() && value["dev"] != Value::Bool(true))
            .count()
    });
    Ok(App {
        label: format!("nodejs/scale-{packages}"),
        buildpack: "examples/nodejs",
        dir,
        floor: "nodejs.sh",
        note: format!("{packages} npm packages ({production} production), generated"),
    })
}

/// A Go module of `count` packages (a tree of imports), each with a test, and one command
/// that imports them all.
fn go_scale_app(work: &Path, count: usize) -> Result<App, String> {
    let dir = work.join(format!("go-scale-{count}"));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |path: PathBuf, text: String| -> Result<(), String> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| error.to_string())?;
        }
        std::fs::write(&path, text).map_err(|error| format!("{}: {error}", path.display()))
    };
    write(
        dir.join("go.mod"),
        "module example.com/scale\n\ngo 1.22\n".to_owned(),
    )?;
    for i in 0..count {
        let name = format!("p{i:03}");
        let (import, body) = if i == 0 {
            (String::new(), "x".to_owned())
        } else {
            let parent = format!("p{:03}", (i - 1) / 2);
            (
                format!("import \"example.com/scale/pkg/{parent}\"\n\n"),
                format!("{parent}.F0(x)"),
            )
        };
        let mut code = format!("// Package {name} is generated.\npackage {name}\n\n{import}");
        for f in 0..12 {
            let _ = write!(
                code,
                "// F{f} is generated.\nfunc F{f}(x int) int {{\n\ty := {body} + {f}\n\tfor i := 0; i < {f}; i++ {{\n\t\ty = y*31 + i\n\t}}\n\treturn y\n}}\n\n"
            );
        }
        write(dir.join(format!("pkg/{name}/{name}.go")), code)?;
        write(
            dir.join(format!("pkg/{name}/{name}_test.go")),
            format!(
                "package {name}\n\nimport \"testing\"\n\nfunc TestF0(t *testing.T) {{\n\tif F0(1) == F0(2) {{\n\t\tt.Fatal(\"F0 is constant\")\n\t}}\n}}\n"
            ),
        )?;
    }
    let mut main = "package main\n\nimport (\n\t\"fmt\"\n".to_owned();
    for i in 0..count {
        let _ = writeln!(main, "\t\"example.com/scale/pkg/p{i:03}\"");
    }
    main.push_str(")\n\nfunc main() {\n\tsum := 0\n");
    for i in 0..count {
        let _ = writeln!(main, "\tsum += p{i:03}.F11(1)");
    }
    main.push_str("\tfmt.Println(sum)\n}\n");
    write(dir.join("cmd/scale/main.go"), main)?;
    Ok(App {
        label: format!("go/scale-{count}"),
        buildpack: "examples/go",
        dir,
        floor: "go.sh",
        note: format!("{} Go packages, generated", count + 1),
    })
}

fn run() -> Result<(), String> {
    let options = parse_args()?;
    let bench_dir = options.root.join("benches/environments");
    let work = options.root.join("benches/target/apps");
    std::fs::create_dir_all(&work).map_err(|error| error.to_string())?;

    let mut apps = example_apps(&options.root, &work);
    if options.scale {
        apps.push(node_scale_app(&work, options.long)?);
        apps.push(go_scale_app(&work, if options.long { 200 } else { 50 })?);
    }
    if !options.only.is_empty() {
        apps.retain(|app| {
            options
                .only
                .iter()
                .any(|only| app.label.contains(only.as_str()))
        });
    }

    // Package the example buildpacks once, in release mode, as a buildpack author ships them.
    let package_options = PackageOptions::default()
        .profile(CargoProfile::Release)
        .quiet(true);
    let mut packaged = BTreeMap::new();
    for app in &apps {
        if !packaged.contains_key(app.buildpack) {
            let dir = package_workspace_buildpack(&options.root, app.buildpack, &package_options)
                .map_err(|error| format!("packaging {}: {error}", app.buildpack))?
                .dir;
            packaged.insert(app.buildpack, dir);
        }
    }
    let platform = Platform {
        engine: options.engine,
        target: Target::host(),
        packaged,
        progress: options.progress,
    };
    println!(
        "  engine: {:?}; {} repetition(s) per app, local platform and floor interleaved",
        options.engine.resolve(),
        options.repetitions
    );

    let mut summaries = Vec::new();
    for app in &apps {
        let mut runs = Vec::new();
        for repetition in 0..options.repetitions {
            runs.push(scenario(&platform, &bench_dir, app, repetition % 2 == 1)?);
        }
        let (text, summary) = summarize(app, &runs);
        print!("{text}");
        summaries.push(summary);
    }
    if let Some(path) = &options.json {
        let text = serde_json::to_string_pretty(&json!({
            "engine": format!("{:?}", options.engine.resolve()),
            "long": options.long,
            "apps": summaries,
        }))
        .map_err(|error| error.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(())
}

fn main() {
    if let Some(reason) = std::env::args()
        .any(|arg| arg == "--engine")
        .then(unavailable_engine)
        .flatten()
    {
        // `scripts/bench.sh` measures every engine that runs here and says which did not.
        println!("  SKIPPED: {reason}");
        return;
    }
    if let Err(error) = run() {
        eprintln!("bench-environments: {error}");
        std::process::exit(1);
    }
}
