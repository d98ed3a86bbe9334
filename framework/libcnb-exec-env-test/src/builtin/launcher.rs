//! Launching a process of the image stand-in, as the lifecycle's launcher does
//! (`launch/launcher.go`, `launch/process.go`, `env/launch.go`).
//!
//! - The launch's `CNB_EXEC_ENV` comes from the launch (the container env), default
//!   `production`; the image label is *not* read.
//! - A process is eligible when it has no `exec-env`, lists the environment, or lists `"*"`.
//!   The real launcher then treats an ineligible name as a command to run; here it is an error
//!   that says which environment the process needs and how to pass it.
//! - Env: the container env minus `CNB_LAYERS_DIR`, `CNB_APP_DIR`, `CNB_PROCESS_TYPE`,
//!   `CNB_PLATFORM_API`, `CNB_DEPRECATION_MODE`; then, buildpack by buildpack in group order,
//!   every layer's `bin/` and `lib/` (`PATH`, `LD_LIBRARY_PATH`), then every layer's `env/`,
//!   `env.launch/` and `env.launch/<process>/`.
//! - User arguments replace the process's default arguments (Buildpack API >= 0.9).
//!
//! Test results (this crate's convention, see the README): a `test` process gets a
//! [`TestReport`]: pass/fail, duration, and the results files the image declared: every `*.xml`
//! (`JUnit`) and `*.tap` file under `CNB_TEST_RESULTS_DIR` (launch env), and the one file named
//! by `CNB_TEST_RESULTS_PATH` / `CNB_TEST_RESULTS_FORMAT` (launch env) or by the image labels
//! `io.buildpacks.test.results-path` / `io.buildpacks.test.results-format`. Relative paths are
//! relative to the app directory.

use super::env_files::Env;
use super::escape_id;
use super::exporter::{ImageConfig, ImageMetadata, ImageProcess};
use super::isolation::{self, Isolation};
use crate::engine::{EngineError, LaunchRequest, LaunchResult};
use crate::platform::test_results::results_files;
use crate::results::TestReport;
use libcnb_exec_env::ExecEnv;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Reads the image stand-in's process metadata and config.
pub(crate) fn read_image(image_dir: &Path) -> Result<(ImageMetadata, ImageConfig), EngineError> {
    let read = |path: PathBuf| -> Result<String, EngineError> {
        std::fs::read_to_string(&path).map_err(|error| EngineError::InvalidImage {
            path: path.clone(),
            reason: format!("{error} (is this the output of a build?)"),
        })
    };
    let metadata_path = image_dir.join("layers/config/metadata.toml");
    let metadata: ImageMetadata =
        toml::from_str(&read(metadata_path.clone())?).map_err(|error| {
            EngineError::InvalidImage {
                path: metadata_path,
                reason: error.to_string(),
            }
        })?;
    let config_path = image_dir.join("image.toml");
    let config: ImageConfig =
        toml::from_str(&read(config_path.clone())?).map_err(|error| EngineError::InvalidImage {
            path: config_path,
            reason: error.to_string(),
        })?;
    Ok((metadata, config))
}

/// Picks the process: by type, or the default; checks its eligibility. With neither a type
/// nor a default, the user's arguments are the command (`launch/process.go`
/// `userProvidedProcess`): see [`user_process`].
pub(crate) fn select_process(
    image_dir: &Path,
    metadata: &ImageMetadata,
    wanted: Option<&str>,
    exec_env: Option<&ExecEnv>,
    user_args: Option<&[String]>,
) -> Result<ImageProcess, EngineError> {
    let name = match (wanted, metadata.default_process.as_deref()) {
        (Some(name), _) | (None, Some(name)) => name.to_owned(),
        (None, None) => {
            return user_args
                .and_then(user_process)
                .ok_or_else(|| EngineError::NoDefaultProcess(image_dir.to_path_buf()));
        }
    };
    let process = metadata
        .processes
        .iter()
        .find(|process| process.r#type == name)
        .ok_or_else(|| EngineError::NoSuchProcess {
            image_dir: image_dir.to_path_buf(),
            process: name.clone(),
            available: metadata
                .processes
                .iter()
                .map(|p| p.r#type.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let current = exec_env.cloned().unwrap_or_default();
    let selector = process.selector();
    if !selector.matches(&current) {
        return Err(EngineError::NotEligible {
            process: name,
            first: process.exec_env.first().cloned().unwrap_or_default(),
            needs: selector,
            current,
            unset: if exec_env.is_none() {
                " (CNB_EXEC_ENV is unset, which means production)"
            } else {
                ""
            },
        });
    }
    Ok(process.clone())
}

/// The process the launcher makes of the user's arguments when there is no default process
/// (`launch/process.go` `userProvidedProcess`): `-- <cmd> <args>` runs `<cmd>` directly,
/// anything else runs through bash (`launch/bash.go`): a single argument as a bash script,
/// several as tokens, each evaluated by the shell (`bashCommandWithTokens`). `None` without
/// arguments ("when there is no default process a command is required").
fn user_process(args: &[String]) -> Option<ImageProcess> {
    let process = |command: Vec<String>| ImageProcess {
        r#type: String::new(),
        command,
        args: Vec::new(),
        working_dir: None,
        buildpack_id: String::new(),
        exec_env: Vec::new(),
    };
    match args {
        [] => None,
        [dashes, direct @ ..] if dashes == "--" && !direct.is_empty() => {
            Some(process(direct.to_vec()))
        }
        [script] => Some(process(vec![
            "bash".to_owned(),
            "-c".to_owned(),
            r#"exec bash -c "$@""#.to_owned(),
            "launcher".to_owned(),
            script.clone(),
        ])),
        [command, rest @ ..] => {
            let mut tokens = r#""$(eval echo \"$0\")""#.to_owned();
            for index in 1..=rest.len() {
                let _ = write!(tokens, r#" "$(eval echo \"${{{index}}}\")""#);
            }
            let mut words = vec![
                "bash".to_owned(),
                "-c".to_owned(),
                format!(r#"exec bash -c '{tokens}' "${{@:1}}""#),
                "launcher".to_owned(),
                command.clone(),
            ];
            words.extend(rest.iter().cloned());
            Some(process(words))
        }
    }
}

/// A launch ready to start: the command, and what the report needs afterwards.
pub(crate) struct Prepared {
    /// The process's command (program, arguments, working directory, env).
    pub(crate) command: std::process::Command,
    process: ImageProcess,
    program: String,
    working_dir: PathBuf,
    env: Env,
    config: ImageConfig,
    app_dir: PathBuf,
    /// The launch's own overlay of the layers, when isolated ([`super::isolation`]).
    pub(crate) isolation: Option<Isolation>,
}

/// The command that launches the process `request` asks for, not started.
///
/// # Errors
/// See [`EngineError`]: no such process, no default, not eligible, I/O.
pub(crate) fn prepare(request: &LaunchRequest) -> Result<Prepared, EngineError> {
    let (metadata, config) = read_image(&request.image_dir)?;
    let process = if request.user_command {
        // `docker run --entrypoint launcher <image> <args>`: the arguments are the command,
        // whatever the default process.
        request
            .args
            .as_deref()
            .and_then(user_process)
            .ok_or_else(|| EngineError::NoDefaultProcess(request.image_dir.clone()))?
    } else {
        select_process(
            &request.image_dir,
            &metadata,
            request.process.as_deref(),
            request.exec_env.as_ref(),
            request.args.as_deref(),
        )?
    };
    // A user-provided process (no type): its arguments are in its command already.
    let user_provided = process.r#type.is_empty();
    let app_dir = request.image_dir.join("workspace");
    let layers_dir = request.image_dir.join("layers");

    // The container env: this process's env, plus `docker run -e` values.
    let mut container: Vec<(String, String)> = std::env::vars()
        .filter(|(key, _)| key != libcnb_exec_env::CNB_EXEC_ENV)
        .collect();
    if let Some(env) = &request.exec_env {
        container.push((libcnb_exec_env::CNB_EXEC_ENV.to_owned(), env.to_string()));
    }
    container.extend(request.env.clone());
    let mut env = Env::launch(container);
    for buildpack in &metadata.buildpacks {
        let dir = layers_dir.join(escape_id(&buildpack.id));
        let layers = layer_dirs(&dir);
        for layer in &layers {
            env.add_root_dir(layer);
        }
        for layer in &layers {
            let mut dirs = vec![layer.join("env"), layer.join("env.launch")];
            if !user_provided {
                dirs.push(layer.join("env.launch").join(&process.r#type));
            }
            for env_dir in dirs {
                env.add_env_dir(&env_dir).map_err(EngineError::io(format!(
                    "cannot read env files in {}",
                    env_dir.display()
                )))?;
            }
        }
    }

    let args = if user_provided {
        Vec::new()
    } else {
        request.args.clone().unwrap_or_else(|| process.args.clone())
    };
    let working_dir = process
        .working_dir
        .as_ref()
        .map_or_else(|| app_dir.clone(), |dir| app_dir.join(dir));
    let Some((program, leading)) = process.command.split_first() else {
        return Err(EngineError::InvalidImage {
            path: request.image_dir.join("layers/config/metadata.toml"),
            reason: format!("process `{}` has an empty command", process.r#type),
        });
    };
    let mut command = std::process::Command::new(program);
    command
        .args(leading)
        .args(&args)
        .current_dir(&working_dir)
        .env_clear()
        .envs(&env.vars);
    let isolation = isolation::isolate(&mut command, &layers_dir).map_err(EngineError::io(
        format!("cannot prepare an overlay of {}", layers_dir.display()),
    ))?;
    if isolation.is_none() {
        // Run in place: the image's files must not be the cache's.
        isolation::break_shared_links(&layers_dir).map_err(EngineError::io(format!(
            "cannot give the image {} files of its own",
            layers_dir.display()
        )))?;
    }
    let program = program.clone();
    Ok(Prepared {
        command,
        process,
        program,
        working_dir,
        env,
        config,
        app_dir,
        isolation,
    })
}

/// Launches a process of an exported image.
///
/// # Errors
/// See [`EngineError`]: no such process, no default, not eligible, I/O.
pub fn launch(request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    let Prepared {
        command,
        process,
        program,
        working_dir,
        env,
        config,
        app_dir,
        isolation,
    } = prepare(request)?;
    let started = Instant::now();
    let run = crate::platform::process::run(
        command,
        crate::engine::Progress::Quiet,
        request.timeout,
        &format!(
            "process `{}` ({program}) in {}",
            process.r#type,
            working_dir.display()
        ),
    )?;
    let duration = started.elapsed();
    drop(isolation);
    let mut stderr_text = run.stderr;
    if run.timed_out {
        let _ = writeln!(
            stderr_text,
            "\ncnb-local: process `{}` killed after {:?}",
            process.r#type,
            request.timeout.unwrap_or_default()
        );
    }
    let exit_code = run.code;
    let test = (process.r#type == "test").then(|| TestReport {
        passed: exit_code == Some(0),
        duration,
        results_file: results_files(|name| env.vars.get(name).cloned(), &config.labels, &app_dir)
            .into_iter()
            .next(),
    });
    Ok(LaunchResult {
        process_type: process.r#type,
        exit_code,
        stdout: run.stdout,
        stderr: stderr_text,
        duration,
        test,
    })
}

/// The layer directories of a buildpack in the image, in name order.
fn layer_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut layers: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.is_dir())
                .collect()
        })
        .unwrap_or_default();
    layers.sort();
    layers
}
