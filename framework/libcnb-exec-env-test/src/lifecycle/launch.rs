//! Launching a process of an exported image with the image's own launcher.

use super::image::{IMAGE_META_DIR, default_process_of, read_image_meta};
use super::{oci, user};
use crate::engine::{EngineError, LaunchRequest, LaunchResult};
use crate::results::{ProcessReport, TestReport, TestResultsFile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Launches a process of an image the lifecycle engine exported, with the image's own launcher.
///
/// # Errors
/// Not an image of this engine; unknown process; no default process; the process is not eligible
/// in the launch's environment (the launcher's `process type <t> was not found`, exit 82); I/O.
pub fn launch(request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    let Prepared {
        command,
        program,
        process_type,
        processes,
        labels,
        base,
    } = prepare(request)?;
    let started = Instant::now();
    let (code, stdout, stderr) = run_with_timeout(command, request.timeout, &program)?;
    let duration = started.elapsed();
    if code == Some(82) {
        let wanted = if process_type.is_empty() {
            None
        } else {
            Some(process_type.as_str())
        };
        if let Some(wanted) = wanted
            && format!("{stdout}{stderr}").contains(&format!("process type {wanted} was not found"))
            && let Some(process) = processes.iter().find(|p| p.r#type == wanted)
        {
            return Err(crate::platform::eligibility::not_eligible(
                process,
                request.exec_env.as_ref(),
            ));
        }
    }
    let test = (process_type == "test").then(|| TestReport {
        passed: code == Some(0),
        duration,
        results_file: results_files(&base, &request.env, &labels, &process_type)
            .into_iter()
            .next(),
    });
    Ok(LaunchResult {
        process_type,
        exit_code: code,
        stdout,
        stderr,
        duration,
        test,
    })
}

/// A launch ready to start: the launcher's command, and what the report needs afterwards.
pub(crate) struct Prepared {
    /// The launcher's command.
    pub(crate) command: Command,
    program: PathBuf,
    process_type: String,
    processes: Vec<ProcessReport>,
    labels: BTreeMap<String, String>,
    base: PathBuf,
}

/// The launcher's command for `request`, not started.
///
/// # Errors
/// As [`launch`].
pub(crate) fn prepare(request: &LaunchRequest) -> Result<Prepared, EngineError> {
    let out = &request.image_dir;
    let meta_dir = out.join(IMAGE_META_DIR);
    let user = user::RunUser::resolve()?;
    let (config, moves, base) = read_image_meta(out, &user)?;
    let image_config = &config["config"];
    let entrypoint: Vec<String> = image_config["Entrypoint"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();
    let labels: BTreeMap<String, String> = image_config["Labels"]
        .as_object()
        .map(|l| {
            l.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let processes = crate::platform::build_metadata::processes(
        labels
            .get("io.buildpacks.build.metadata")
            .map_or("{}", String::as_str),
        None,
        &meta_dir,
    )?;
    let available = || {
        processes
            .iter()
            .map(|p| p.r#type.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let process_dir = base.join("cnb").join("process");
    let (program, process_type) = match &request.process {
        // `docker run --entrypoint launcher <image> <args>`.
        _ if request.user_command => (
            base.join("cnb").join("lifecycle").join("launcher"),
            String::new(),
        ),
        Some(process) => {
            let link = process_dir.join(process);
            if std::fs::symlink_metadata(&link).is_err() {
                return Err(EngineError::NoSuchProcess {
                    image_dir: out.clone(),
                    process: process.clone(),
                    available: available(),
                });
            }
            (link, process.clone())
        }
        None => match default_process_of(&entrypoint) {
            Some(process) => (process_dir.join(&process), process),
            None if request.args.as_ref().is_none_or(Vec::is_empty) => {
                return Err(EngineError::NoDefaultProcess(out.clone()));
            }
            None => (
                base.join("cnb").join("lifecycle").join("launcher"),
                String::new(),
            ),
        },
    };
    let command = launch_command(&program, image_config, &moves, request, &user);
    Ok(Prepared {
        command,
        program,
        process_type,
        processes,
        labels,
        base,
    })
}

/// The results files a `test` process declared, by the crate's convention (the same rules as the
/// built-in engine's launcher, see the crate README "Test results"): the file named by
/// `CNB_TEST_RESULTS_PATH` / `CNB_TEST_RESULTS_FORMAT` (else by the image labels), then every
/// `*.xml`/`*.tap` under `CNB_TEST_RESULTS_DIR`. The variables come from the launch env,
/// else from the layers' `env/`, `env.launch/` and `env.launch/<process>/` files (which the real
/// launcher applies inside the process, out of this engine's sight). Paths are relative to the
/// app directory.
pub(super) fn results_files(
    out: &Path,
    launch_env: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    process_type: &str,
) -> Vec<TestResultsFile> {
    let from_layers = |name: &str| -> Option<String> {
        let mut found = None;
        let bps = std::fs::read_dir(out.join("layers")).ok()?;
        for bp in bps.flatten() {
            for layer in std::fs::read_dir(bp.path()).into_iter().flatten().flatten() {
                let layer = layer.path();
                for dir in [
                    layer.join("env"),
                    layer.join("env.launch"),
                    layer.join("env.launch").join(process_type),
                ] {
                    for suffix in ["", ".default", ".override"] {
                        if let Ok(value) =
                            std::fs::read_to_string(dir.join(format!("{name}{suffix}")))
                        {
                            found = Some(value.trim().to_owned());
                        }
                    }
                }
            }
        }
        found
    };
    let var = |name: &str| launch_env.get(name).cloned().or_else(|| from_layers(name));
    crate::platform::test_results::results_files(var, labels, &out.join("workspace"))
}

/// The launcher's command: the image's env (its build paths moved to the stand-in), `HOME`, the
/// launch's `CNB_EXEC_ENV` and env, the image's working directory, the user's args.
pub(super) fn launch_command(
    program: &Path,
    image_config: &serde_json::Value,
    moves: &[(PathBuf, PathBuf)],
    request: &LaunchRequest,
    user: &user::RunUser,
) -> Command {
    let moves = moves.to_vec();
    let mut command = Command::new(program);
    command.env_clear();
    for var in image_config["Env"].as_array().into_iter().flatten() {
        let Some((key, value)) = var.as_str().and_then(|v| v.split_once('=')) else {
            continue;
        };
        let value = match key {
            "CNB_LAYERS_DIR" | "CNB_APP_DIR" => oci::relocate(Path::new(value), &moves)
                .map_or_else(|| value.to_owned(), |p| p.to_string_lossy().into_owned()),
            "PATH" => value
                .split(':')
                .map(|entry| {
                    oci::relocate(Path::new(entry), &moves)
                        .map_or_else(|| entry.to_owned(), |p| p.to_string_lossy().into_owned())
                })
                .collect::<Vec<_>>()
                .join(":"),
            _ => value.to_owned(),
        };
        command.env(key, value);
    }
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    if let Some(exec_env) = &request.exec_env {
        command.env("CNB_EXEC_ENV", exec_env.to_string());
    }
    command.env("CNB_NO_COLOR", "true");
    command.envs(&request.env);
    let workdir = image_config["WorkingDir"]
        .as_str()
        .and_then(|dir| oci::relocate(Path::new(dir), &moves))
        .unwrap_or_else(|| request.image_dir.join("workspace"));
    command.current_dir(&workdir);
    user.apply(&mut command, &request.image_dir.join("workspace"));
    if let Some(args) = &request.args {
        command.args(args);
    }
    command
}

pub(super) fn run_with_timeout(
    command: Command,
    timeout: Option<Duration>,
    program: &Path,
) -> Result<(Option<i32>, String, String), EngineError> {
    let run = crate::platform::process::run(
        command,
        crate::engine::Progress::Quiet,
        timeout,
        &program.display().to_string(),
    )?;
    Ok((run.code, run.stdout, run.stderr))
}
