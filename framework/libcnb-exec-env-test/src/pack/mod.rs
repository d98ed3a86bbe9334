//! The pack engine: real `pack build` on a real builder with a real Docker engine, what buildpack
//! users run. Builds go through `pack build --exec-env` with a named build cache volume per cache
//! directory, and launches through `docker run`; the report is read from the image and the cache
//! volume (see [`image`]).
//!
//! Per cache directory the engine keeps one image tag (`cnb-local/app-<digest>`, the "previous
//! image" of the next build), one build cache volume (`cnb-local-cache-<digest>`) and one launch
//! cache volume (`cnb-local-launch-<digest>`, which pack's exporter keeps otherwise under a name
//! of its own). An image a rebuild replaces is removed. [`remove`] deletes the rest; the test API
//! does so when a temporary cache directory is dropped.
//!
//! Set up with `scripts/local-builder.sh` (Docker engine, pack, builder). Differences from the
//! other engines: the report has no plan (pack keeps `plan.toml` inside its container), and
//! layers that are neither exported nor cached (build-only layers, layers with every type false)
//! leave no trace to report.

pub mod image;
pub mod order;
pub mod output;
pub mod tools;

use crate::engine::{
    BuildEngine, BuildRequest, EngineError, LaunchRequest, LaunchResult, Progress,
};
use crate::platform::process;
use crate::platform::{build_metadata, detector_log, eligibility};
use crate::results::{BuildReport, EngineKind, Phase, TestReport};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The file in the image stand-in directory that names the image and cache volume.
pub const IMAGE_FILE: &str = "pack-image.json";

/// The pack engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct PackEngine;

/// Whether pack, a Docker engine and the builder are there (see [`tools::locate`]).
#[must_use]
pub fn available() -> bool {
    tools::locate().is_ok()
}

fn unavailable(reason: String) -> EngineError {
    EngineError::Unavailable {
        engine: "pack",
        reason,
    }
}

/// The image tag and cache volume of a cache directory.
#[must_use]
pub fn names(cache_dir: &Path) -> (String, String) {
    let path = std::fs::canonicalize(cache_dir).unwrap_or_else(|_| cache_dir.to_path_buf());
    let digest = Sha256::digest(path.to_string_lossy().as_bytes());
    let hex = digest.iter().take(8).fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    });
    (
        format!("cnb-local/app-{hex}"),
        format!("cnb-local-cache-{hex}"),
    )
}

/// The launch cache volume of a build cache volume.
fn launch_volume(volume: &str) -> String {
    volume.replacen("cnb-local-cache-", "cnb-local-launch-", 1)
}

/// Removes the image and cache volumes of `cache_dir` (nothing when pack is not set up).
pub fn remove(cache_dir: &Path) {
    let Ok(tools) = tools::find() else { return };
    let (image, volume) = names(cache_dir);
    let launch = launch_volume(&volume);
    for args in [
        vec!["image", "rm", "--force", image.as_str()],
        vec!["volume", "rm", "--force", volume.as_str()],
        vec!["volume", "rm", "--force", launch.as_str()],
    ] {
        let mut command = tools.docker();
        command.args(args);
        let _ = process::run(command, Progress::Quiet, None, "docker rm");
    }
}

impl BuildEngine for PackEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Pack
    }

    fn build(&self, request: &BuildRequest) -> Result<BuildReport, EngineError> {
        build(request)
    }

    fn launch(&self, request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
        launch(request)
    }

    fn prepare_launch(
        &self,
        request: &LaunchRequest,
    ) -> Result<crate::engine::PreparedLaunch, EngineError> {
        let prepared = prepare(request)?;
        let mut cleanup = prepared.tools.docker();
        cleanup.args(["rm", "--force", &prepared.name]);
        Ok(crate::engine::PreparedLaunch {
            command: prepared.command,
            cleanup: Some(cleanup),
            container: Some(prepared.name),
        })
    }
}

fn build(request: &BuildRequest) -> Result<BuildReport, EngineError> {
    let started = Instant::now();
    let tools = tools::locate().map_err(unavailable)?;
    if !request.app_dir.is_dir() {
        return Err(EngineError::MissingAppDir(request.app_dir.clone()));
    }
    let state = request.cache_dir.join("pack");
    std::fs::create_dir_all(&state).map_err(EngineError::io(format!(
        "cannot create {}",
        state.display()
    )))?;
    let mut lock_log = crate::platform::log::Log::new(request.progress);
    let lock = crate::platform::cache_lock::CacheLock::acquire(&request.cache_dir, &mut lock_log)?;
    let order_cnb = order::package(&tools, &request.order, &state)?;
    let (image, volume) = names(&request.cache_dir);
    let cache_before = image::cache_layers(&tools, &volume)?;
    let mut previous_id = image::ImageConfig::inspect(&tools, &image)
        .ok()
        .map(|config| config.id);
    if !request.previous_image
        && let Some(previous) = previous_id.take()
    {
        // No previous image: the analyzer finds none under the tag (the cache volume stays).
        let mut remove = tools.docker();
        remove.args(["image", "rm", "--force", &previous]);
        let _ = process::run(remove, Progress::Quiet, None, "docker image rm");
    }

    let mut intro = lock_log.take();
    let _ = writeln!(
        intro,
        "Engine: pack ({}) on builder {}, image {image}, cache volume {volume}, --exec-env {}",
        tools.pack.display(),
        tools.builder,
        request.exec_env
    );
    if request.progress == Progress::Stderr {
        eprint!("{intro}");
    }
    let command = build_command(&tools, request, &image, &volume, &order_cnb);
    let finished = process::run(command, request.progress, None, "pack build")?;
    let text = finished.output();
    let mut phases = output::phases(&text, !finished.success());
    if let Some(first) = phases.first_mut() {
        first.output.insert_str(0, &intro);
    }
    let detect_log = phases
        .iter()
        .find(|phase| phase.phase == Phase::Detect)
        .map_or("", |phase| phase.output.as_str());
    let detect = detector_log::detect_reports(&request.order, detect_log);
    if !finished.success() {
        drop(lock);
        return Err(failure(request, &finished, &phases, &detect));
    }

    let report = read_build(
        &tools,
        request,
        Built {
            image: &image,
            volume: &volume,
            cache_before: &cache_before,
            previous_id,
            phases,
            detect,
            started,
        },
    );
    drop(lock);
    report
}

/// What a successful `pack build` left to read.
struct Built<'a> {
    image: &'a str,
    volume: &'a str,
    cache_before: &'a image::Recorded,
    previous_id: Option<String>,
    phases: Vec<crate::results::PhaseOutput>,
    detect: Vec<crate::results::DetectReport>,
    started: Instant,
}

/// The report of a successful build, read from the image and the cache volume; the image
/// stand-in written, the replaced image removed.
fn read_build(
    tools: &tools::Tools,
    request: &BuildRequest,
    built: Built<'_>,
) -> Result<BuildReport, EngineError> {
    let config = image::ImageConfig::inspect(tools, built.image)?;
    let cache_after = image::cache_layers(tools, built.volume)?;
    if let Some(previous) = built.previous_id.filter(|previous| *previous != config.id) {
        // The replaced image, untagged now: nothing refers to it any more.
        let mut remove = tools.docker();
        remove.args(["image", "rm", &previous]);
        let _ = process::run(remove, Progress::Quiet, None, "docker image rm");
    }
    let build_metadata = config
        .labels
        .get("io.buildpacks.build.metadata")
        .map_or("{}", String::as_str);
    let group = image::group(build_metadata);
    let image_layers = image::recorded_layers(
        config
            .labels
            .get("io.buildpacks.lifecycle.metadata")
            .map_or("{}", String::as_str),
    );
    let layers = image::layer_reports(
        &group,
        &image_layers,
        built.cache_before,
        &cache_after,
        &request.exec_env,
    );
    let default_process = config.default_process();
    let processes = build_metadata::processes(
        build_metadata,
        default_process.as_deref(),
        Path::new(built.image),
    )?;
    let out = &request.output_dir;
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)
        .map_err(EngineError::io(format!("cannot create {}", out.display())))?;
    let record =
        serde_json::json!({ "image": built.image, "id": config.id, "volume": built.volume });
    let record_path = out.join(IMAGE_FILE);
    std::fs::write(&record_path, record.to_string()).map_err(EngineError::io(format!(
        "cannot write {}",
        record_path.display()
    )))?;
    Ok(BuildReport {
        engine: EngineKind::Pack,
        exec_env: request.exec_env.clone(),
        detect: built.detect,
        group,
        plan: Vec::new(),
        layers,
        processes,
        default_process,
        labels: config.labels,
        phases: built.phases,
        image_dir: out.clone(),
        duration: built.started.elapsed(),
    })
}

/// `pack build` of `request` on the builder, with the order as one composite buildpack.
fn build_command(
    tools: &tools::Tools,
    request: &BuildRequest,
    image: &str,
    volume: &str,
    order_cnb: &Path,
) -> std::process::Command {
    let mut command = tools.pack();
    command
        .arg("build")
        .arg(image)
        .args(["--builder", &tools.builder])
        // The order comes as an extra buildpack, which makes pack run the five-phase flow with a
        // lifecycle image; the builder's own lifecycle serves (no registry to pull one from).
        .args(["--lifecycle-image", &tools.builder])
        .arg("--buildpack")
        .arg(order_cnb)
        .arg("--path")
        .arg(&request.app_dir)
        .args(["--exec-env", &request.exec_env.to_string()])
        .arg("--cache")
        .arg(format!("type=build;format=volume;name={volume}"))
        // One `--cache` per cache: pack applies every name of one flag to its last `type`.
        .arg("--cache")
        .arg(format!(
            "type=launch;format=volume;name={}",
            launch_volume(volume)
        ))
        .args([
            "--pull-policy",
            "never",
            "--docker-host",
            "inherit",
            "--network",
            "host",
            "--trust-builder",
            "--verbose",
            "--no-color",
        ]);
    for (key, value) in &request.platform_env {
        command.arg("--env").arg(format!("{key}={value}"));
    }
    command
}

/// The error of a failed `pack build`, by the lifecycle's exit code and the phase it stopped in.
fn failure(
    request: &BuildRequest,
    finished: &process::Finished,
    phases: &[crate::results::PhaseOutput],
    detect: &[crate::results::DetectReport],
) -> EngineError {
    let text = finished.output();
    let output = phases.iter().fold(String::new(), |mut all, phase| {
        let _ = write!(
            all,
            "===> {}\n{}",
            phase.phase.to_string().to_uppercase(),
            phase.output
        );
        all
    });
    let code = output::lifecycle_code(&text);
    match (phases.last().map(|phase| phase.phase), code) {
        (Some(Phase::Detect), _) | (_, Some(20 | 21)) => EngineError::DetectFailed {
            exec_env: request.exec_env.clone(),
            errored: code == Some(21),
            details: detect
                .iter()
                .map(|d| format!("{}@{}: {:?}", d.buildpack_id, d.version, d.outcome))
                .collect::<Vec<_>>()
                .join("\n"),
            output,
        },
        (Some(Phase::Build), Some(code)) => EngineError::BuildpackFailed {
            buildpack_id: output::last_buildpack_built(&text)
                .unwrap_or_else(|| "(unknown)".to_owned()),
            code: code.to_string(),
            output,
        },
        (phase, code) => EngineError::PhaseFailed {
            phase: phase.map_or_else(|| "pack build".to_owned(), |p| p.to_string()),
            code: code.map_or_else(|| finished.code_text(), |code| code.to_string()),
            output,
        },
    }
}

/// The image a pack build recorded in `image_dir` (its tag).
///
/// # Errors
/// `image_dir` holds no record of a pack build.
pub fn image_name(image_dir: &Path) -> Result<String, EngineError> {
    let path = image_dir.join(IMAGE_FILE);
    let invalid = |reason: String| EngineError::InvalidImage {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|error| invalid(format!("not an image of the pack engine: {error}")))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
    value["image"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| invalid("no `image` key".to_owned()))
}

/// A `docker run` ready to start, and what the report needs afterwards.
struct Prepared {
    command: std::process::Command,
    tools: tools::Tools,
    name: String,
    image: String,
    process_type: String,
    processes: Vec<crate::results::ProcessReport>,
    config: image::ImageConfig,
}

fn launch(request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    let Prepared {
        command,
        tools,
        name,
        image,
        process_type,
        processes,
        config,
    } = prepare(request)?;
    let finished = process::run(command, Progress::Quiet, request.timeout, "docker run");
    if finished.as_ref().is_ok_and(|f| f.timed_out) {
        // The client was killed; the container may still run.
        let mut kill = tools.docker();
        kill.args(["kill", &name]);
        let _ = process::run(kill, Progress::Quiet, None, "docker kill");
    }
    let test = match &finished {
        Ok(finished) if process_type == "test" => Some(TestReport {
            passed: finished.success(),
            duration: finished.duration,
            results_file: results_file(&tools, &name, &image, &request.env, &config.labels),
        }),
        _ => None,
    };
    let mut remove = tools.docker();
    remove.args(["rm", "--force", &name]);
    let _ = process::run(remove, Progress::Quiet, None, "docker rm");
    let finished = finished?;
    if finished.code == Some(82)
        && !process_type.is_empty()
        && finished
            .output()
            .contains(&format!("process type {process_type} was not found"))
        && let Some(process) = processes.iter().find(|p| p.r#type == process_type)
    {
        return Err(eligibility::not_eligible(
            process,
            request.exec_env.as_ref(),
        ));
    }
    Ok(LaunchResult {
        process_type,
        exit_code: finished.code,
        stdout: finished.stdout,
        stderr: finished.stderr,
        duration: finished.duration,
        test,
    })
}

/// The `docker run` for `request`, not started.
fn prepare(request: &LaunchRequest) -> Result<Prepared, EngineError> {
    let tools = tools::locate().map_err(unavailable)?;
    let image = image_name(&request.image_dir)?;
    let config = image::ImageConfig::inspect(&tools, &image)?;
    let processes = build_metadata::processes(
        config
            .labels
            .get("io.buildpacks.build.metadata")
            .map_or("{}", String::as_str),
        None,
        &request.image_dir,
    )?;
    let process_type = match &request.process {
        _ if request.user_command => String::new(),
        Some(process) => {
            if !processes.iter().any(|p| &p.r#type == process) {
                return Err(EngineError::NoSuchProcess {
                    image_dir: request.image_dir.clone(),
                    process: process.clone(),
                    available: processes
                        .iter()
                        .map(|p| p.r#type.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
            process.clone()
        }
        None => match config.default_process() {
            Some(process) => process,
            None if request.args.as_ref().is_none_or(Vec::is_empty) => {
                return Err(EngineError::NoDefaultProcess(request.image_dir.clone()));
            }
            None => String::new(),
        },
    };
    let name = format!(
        "cnb-local-launch-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let mut command = tools.docker();
    command.args(["run", "--name", &name, "--network", "host"]);
    if let Some(exec_env) = &request.exec_env {
        command.arg("--env").arg(format!("CNB_EXEC_ENV={exec_env}"));
    }
    for (key, value) in &request.env {
        command.arg("--env").arg(format!("{key}={value}"));
    }
    if request.user_command {
        command.args(["--entrypoint", "/cnb/lifecycle/launcher"]);
    } else if !process_type.is_empty() {
        command
            .arg("--entrypoint")
            .arg(format!("/cnb/process/{process_type}"));
    }
    command.arg(&image);
    if let Some(args) = &request.args {
        command.args(args);
    }
    Ok(Prepared {
        command,
        tools,
        name,
        image,
        process_type,
        processes,
        config,
    })
}

/// The results file a `test` process declared (the crate's convention): the variables from the
/// launch env, else from the image's layer env files; the file copied out of the stopped
/// container.
fn results_file(
    tools: &tools::Tools,
    container: &str,
    image: &str,
    launch_env: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> Option<crate::results::TestResultsFile> {
    let layer_vars = layer_env_vars(tools, image);
    let var = |name: &str| {
        launch_env
            .get(name)
            .cloned()
            .or_else(|| layer_vars.get(name).cloned())
    };
    let scratch = tempfile::tempdir().ok()?;
    let mut copy = tools.docker();
    copy.arg("cp")
        .arg(format!("{container}:/workspace"))
        .arg(scratch.path());
    let copied = process::run(copy, Progress::Quiet, None, "docker cp").ok()?;
    if !copied.success() {
        return None;
    }
    let workspace = scratch.path().join("workspace");
    let mut file = crate::platform::test_results::results_files(var, labels, &workspace)
        .into_iter()
        .next()?;
    if let Ok(relative) = file.path.strip_prefix(&workspace) {
        file.path = PathBuf::from("/workspace").join(relative);
    }
    Some(file)
}

/// `CNB_TEST_RESULTS_*` values the image's layers set for a `test` process.
fn layer_env_vars(tools: &tools::Tools, image: &str) -> BTreeMap<String, String> {
    let script = "for f in /layers/*/*/env/CNB_TEST_RESULTS_* /layers/*/*/env.launch/CNB_TEST_RESULTS_* /layers/*/*/env.launch/test/CNB_TEST_RESULTS_*; do [ -f \"$f\" ] && printf '%s\\t%s\\n' \"$(basename \"$f\")\" \"$(cat \"$f\")\"; done; true";
    let mut command = tools.docker();
    command.args([
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        image,
        "-c",
        script,
    ]);
    process::run(
        command,
        Progress::Quiet,
        None,
        "docker run (reading layer env)",
    )
    .map(|finished| {
        finished
            .stdout
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(file, value)| {
                let name = file
                    .trim_end_matches(".default")
                    .trim_end_matches(".override");
                (name.to_owned(), value.trim().to_owned())
            })
            .collect()
    })
    .unwrap_or_default()
}
