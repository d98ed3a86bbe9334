//! The built-in engine: the lifecycle's contract with buildpacks, emulated phase by phase
//! (one module per phase), with no container and no image.
//!
//! The "image" is a directory (the request's `output_dir`): `workspace/` (the app, built in
//! place), `layers/<buildpack id, / as _>/<layer>/` (launch layers only, after export),
//! `layers/config/metadata.toml` (buildpacks, processes, default process) and `image.toml`
//! (labels, execution environment). Buildpacks build directly in that directory, so absolute
//! paths they write into env files stay valid at launch, as `/layers` and `/workspace` do in a
//! real image.

mod builder;
mod detector;
pub(crate) mod env_files;
mod exporter;
pub(crate) mod isolation;
mod launcher;
mod plan;
mod previous_image;
mod restorer;

use crate::engine::Progress;
use crate::engine::{BuildRequest, EngineError, PackagedBuildpack};
use crate::results::{BuildReport, EngineKind, Phase, PhaseOutput};
use env_files::Env;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

pub(crate) use crate::platform::cache_lock::CacheLock;
pub(crate) use crate::platform::escape_id;
pub(crate) use crate::platform::log::Log;
pub use crate::platform::test_results::{
    TEST_RESULTS_DIR_ENV, TEST_RESULTS_FORMAT_ENV, TEST_RESULTS_FORMAT_LABEL,
    TEST_RESULTS_PATH_ENV, TEST_RESULTS_PATH_LABEL,
};
pub(crate) use crate::platform::tree::{copy_dir, remove_path};
pub use isolation::LAUNCH_ISOLATION_ENV;

/// Whether the built-in engine isolates launched processes on this machine (each sees the
/// image's layers through an overlay of its own; see [`LAUNCH_ISOLATION_ENV`]). When it does,
/// the export hard-links layers that are both exported and cached instead of copying them.
///
/// ```
/// // Probed once per process; `CNB_LOCAL_LAUNCH_ISOLATION=off` turns it off.
/// let isolated: bool = libcnb_exec_env_test::builtin::launch_isolation_available();
/// # let _ = isolated;
/// ```
#[must_use]
pub fn launch_isolation_available() -> bool {
    isolation::available()
}
pub use launcher::launch;

/// Directories a build works in.
pub(crate) struct Workspace {
    /// `<output>/workspace`: the app copy, the buildpacks' working directory.
    pub(crate) app_dir: PathBuf,
    /// `<output>/layers`.
    pub(crate) layers_dir: PathBuf,
    /// The platform directory (`env/` holds the platform env).
    pub(crate) platform_dir: PathBuf,
    /// The build env inherited from this process (lifecycle `env.NewBuildEnv`).
    pub(crate) base_env: Env,
    /// The previous image's layers (the previous output of this directory), moved aside.
    pub(crate) previous: Option<restorer::PreviousImage>,
    _platform: tempfile::TempDir,
}

/// Runs `command`, stdout and stderr interleaved into one pipe, collected into the returned
/// text and appended to `log`. Returns the exit code (`None` when killed by a signal).
pub(crate) fn run_captured(
    mut command: std::process::Command,
    log: &mut Log,
    _label: &str,
) -> std::io::Result<(Option<i32>, String)> {
    let (mut reader, writer) = std::io::pipe()?;
    command
        .stdin(std::process::Stdio::null())
        .stdout(writer.try_clone()?)
        .stderr(writer);
    let mut child = command.spawn()?;
    drop(command);
    let mut output = Vec::new();
    let mut buffer = [0_u8; 8192];
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        output.extend_from_slice(&buffer[..read]);
        if log.progress == Progress::Stderr {
            let _ = std::io::stderr().write_all(&buffer[..read]);
        }
    }
    let status = child.wait()?;
    let text = String::from_utf8_lossy(&output).into_owned();
    log.text.push_str(&text);
    Ok((status.code(), text))
}

/// The env of a buildpack process, lifecycle `buildpack/detect.go` and `buildpack/build.go`:
/// the build env with the platform's env files (unless `clear-env`), the target variables
/// from API 0.10, `CNB_EXEC_ENV` from API 0.12 only.
pub(crate) fn buildpack_env(
    request: &BuildRequest,
    workspace: &Workspace,
    buildpack: &PackagedBuildpack,
    env: &Env,
) -> Result<Vec<(String, String)>, EngineError> {
    let clear_env = buildpack
        .descriptor
        .stripped
        .get("buildpack")
        .and_then(|bp| bp.get("clear-env"))
        .and_then(toml::Value::as_bool)
        .unwrap_or(false);
    let platform = (!clear_env).then_some(workspace.platform_dir.as_path());
    let env = env
        .with_platform(platform)
        .map_err(EngineError::io(format!(
            "cannot read platform env files in {}",
            workspace.platform_dir.join("env").display()
        )))?;
    let mut vars: Vec<(String, String)> = env.vars.into_iter().collect();
    if buildpack.descriptor.api >= (0, 10) {
        vars.extend(request.target.env_vars());
    }
    if buildpack.descriptor.receives_exec_env() {
        vars.push((
            libcnb_exec_env::CNB_EXEC_ENV.to_owned(),
            request.exec_env.to_string(),
        ));
    }
    Ok(vars)
}

/// The built-in engine: an emulation of the lifecycle's contract, phase by phase, on host
/// directories (no Docker, no lifecycle binaries).
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinEngine;

impl crate::engine::BuildEngine for BuiltinEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Builtin
    }

    fn build(&self, request: &BuildRequest) -> Result<BuildReport, EngineError> {
        build(request)
    }

    fn launch(
        &self,
        request: &crate::engine::LaunchRequest,
    ) -> Result<crate::engine::LaunchResult, EngineError> {
        launch(request)
    }

    fn prepare_launch(
        &self,
        request: &crate::engine::LaunchRequest,
    ) -> Result<crate::engine::PreparedLaunch, EngineError> {
        let prepared = launcher::prepare(request)?;
        // The overlay's scratch directory outlives this call: removed after the process.
        let cleanup = prepared.isolation.map(|isolation| {
            let mut remove = std::process::Command::new("sh");
            remove
                .arg("-c")
                .arg(r#"chmod -R u+rwx "$0/work" 2>/dev/null; rm -rf -- "$0""#)
                .arg(isolation.keep());
            remove
        });
        Ok(crate::engine::PreparedLaunch {
            command: prepared.command,
            cleanup,
            container: None,
        })
    }
}

/// Runs a build.
///
/// # Errors
/// See [`EngineError`].
#[allow(clippy::too_many_lines)] // one phase, read top to bottom
pub fn build(request: &BuildRequest) -> Result<BuildReport, EngineError> {
    let started = Instant::now();
    if !request.app_dir.is_dir() {
        return Err(EngineError::MissingAppDir(request.app_dir.clone()));
    }
    let mut phases: Vec<PhaseOutput> = Vec::new();
    let mut log = Log::new(request.progress);
    let all_output = |phases: &[PhaseOutput], current: &str| {
        let mut text = String::new();
        for phase in phases {
            let _ = write!(
                text,
                "===> {}\n{}",
                phase.phase.to_string().to_uppercase(),
                phase.output
            );
        }
        text.push_str(current);
        text
    };

    let lock = CacheLock::acquire(&request.cache_dir, &mut log)?;
    let workspace = prepare(request)?;

    header(&mut log, Phase::Detect);
    let detected = match detector::detect(request, &workspace, &mut log) {
        Ok(detected) => detected,
        Err(EngineError::DetectFailed {
            exec_env,
            errored,
            details,
            output,
        }) => {
            return Err(EngineError::DetectFailed {
                exec_env,
                errored,
                details,
                output: all_output(&phases, &output),
            });
        }
        Err(error) => return Err(error),
    };
    phases.push(PhaseOutput {
        phase: Phase::Detect,
        output: log.take(),
        success: true,
    });

    header(&mut log, Phase::Restore);
    let mut cache = restorer::Cache::open(&request.cache_dir, &mut log);
    if let Some(previous) = &workspace.previous {
        previous.restore_metadata(&detected.group, &workspace.layers_dir, &cache, &mut log)?;
    }
    let restored = cache.restore(
        &detected.group,
        &workspace.layers_dir,
        workspace.previous.as_ref(),
        &mut log,
    )?;
    phases.push(PhaseOutput {
        phase: Phase::Restore,
        output: log.take(),
        success: true,
    });

    header(&mut log, Phase::Build);
    let built = builder::build(request, &workspace, &detected, &restored, &mut log);
    if built.is_err() {
        // A failed build leaves the cache as it found it.
        cache.put_back(&restored, &workspace.layers_dir, &mut log)?;
    }
    let built = match built {
        Ok(built) => built,
        Err(EngineError::BuildpackFailed {
            buildpack_id,
            code,
            output,
        }) => {
            return Err(EngineError::BuildpackFailed {
                buildpack_id,
                code,
                output: all_output(&phases, &output),
            });
        }
        Err(error) => return Err(error),
    };
    phases.push(PhaseOutput {
        phase: Phase::Build,
        output: log.take(),
        success: true,
    });

    header(&mut log, Phase::Export);
    let exported = exporter::export(
        request, &workspace, &detected, &built, &restored, &mut cache, &mut log,
    )?;
    phases.push(PhaseOutput {
        phase: Phase::Export,
        output: log.take(),
        success: true,
    });
    drop(lock);

    Ok(BuildReport {
        engine: EngineKind::Builtin,
        exec_env: request.exec_env.clone(),
        detect: detected.reports.clone(),
        group: detected
            .group
            .iter()
            .map(|entry| entry.buildpack.id.clone())
            .collect(),
        plan: detected
            .resolved
            .entries
            .iter()
            .map(|entry| crate::results::PlanEntryReport {
                name: entry.name.clone(),
                providers: entry.providers.clone(),
                requires: entry
                    .requires
                    .iter()
                    .map(|require| require.metadata.clone())
                    .collect(),
            })
            .collect(),
        layers: exported.layers,
        processes: exported.processes,
        default_process: exported.default_process,
        labels: exported.labels,
        phases,
        image_dir: request.output_dir.clone(),
        duration: started.elapsed(),
    })
}

fn header(log: &mut Log, phase: Phase) {
    crate::platform::build_watch::phase(phase);
    if log.progress == Progress::Stderr {
        let _ = writeln!(
            std::io::stderr(),
            "===> {}",
            phase.to_string().to_uppercase()
        );
    }
}

/// Creates the output directory with the app copy, and the platform directory.
fn prepare(request: &BuildRequest) -> Result<Workspace, EngineError> {
    let output = &request.output_dir;
    let previous = if request.previous_image {
        restorer::PreviousImage::take(output)?
    } else {
        None
    };
    remove_path(output).map_err(EngineError::io(format!(
        "cannot remove the previous output {}",
        output.display()
    )))?;
    let app_dir = output.join("workspace");
    let layers_dir = output.join("layers");
    std::fs::create_dir_all(&layers_dir).map_err(EngineError::io(format!(
        "cannot create {}",
        layers_dir.display()
    )))?;
    // Never copy the output or cache into itself when they live inside the app.
    let mut skip: Vec<String> = Vec::new();
    for inner in [&request.output_dir, &request.cache_dir] {
        if let Ok(relative) = inner.strip_prefix(&request.app_dir)
            && let Some(first) = relative.components().next()
        {
            skip.push(first.as_os_str().to_string_lossy().into_owned());
        }
    }
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    copy_dir(&request.app_dir, &app_dir, &skip).map_err(EngineError::io(format!(
        "cannot copy the app {} to {}",
        request.app_dir.display(),
        app_dir.display()
    )))?;
    let platform = tempfile::Builder::new()
        .prefix("platform.")
        .tempdir()
        .map_err(EngineError::io("cannot create a platform directory"))?;
    let env_dir = platform.path().join("env");
    std::fs::create_dir_all(&env_dir).map_err(EngineError::io(format!(
        "cannot create {}",
        env_dir.display()
    )))?;
    for (key, value) in &request.platform_env {
        std::fs::write(env_dir.join(key), value).map_err(EngineError::io(format!(
            "cannot write platform env {}",
            env_dir.join(key).display()
        )))?;
    }
    Ok(Workspace {
        app_dir,
        layers_dir,
        platform_dir: platform.path().to_path_buf(),
        base_env: Env::build(std::env::vars()),
        previous,
        _platform: platform,
    })
}
