//! `cnb-local launch` and `cnb-local run`.

use crate::Failure;
use crate::args::{LaunchArgs, RunArgs};
use crate::build::{absolute, build};
use crate::summary::print_launch;
use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{Engine, LaunchRequest, run_launch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `cnb-local launch`: the process's exit code.
pub(crate) fn launch(args: &LaunchArgs) -> Result<i32, Failure> {
    let out = args
        .out
        .as_deref()
        .ok_or("missing <out>: the output directory of `cnb-local build`")?;
    let process = args.process_type.clone().or_else(|| args.process.clone());
    let image_dir = absolute(Path::new(out));
    let engine = if image_dir.join("image.toml").is_file() {
        Engine::Builtin
    } else if image_dir
        .join(libcnb_exec_env_test::pack::IMAGE_FILE)
        .is_file()
    {
        Engine::Pack
    } else {
        Engine::Lifecycle
    };
    launch_image(
        engine,
        &LaunchRequest {
            image_dir,
            process,
            exec_env: args.exec_env.clone(),
            env: args.env.iter().cloned().collect(),
            args: args.trailing.clone(),
            timeout: args.timeout,
            user_command: false,
        },
    )
}

fn launch_image(engine: Engine, request: &LaunchRequest) -> Result<i32, Failure> {
    let result = run_launch(engine, request)?;
    print_launch(&result);
    Ok(result.exit_code.unwrap_or(1))
}

/// `cnb-local run`: builds (default environment `test`), then launches the `test` process of a
/// test build or the default process, in the build's environment. The process's exit code.
pub(crate) fn run(args: &RunArgs) -> Result<i32, Failure> {
    let exec_env = args.build.exec_env.clone().unwrap_or(ExecEnv::Test);
    let (report, engine) = build(&args.build, &exec_env)?;
    let process = args.process.clone().or_else(|| {
        if report.processes.iter().any(|p| p.r#type == "test") && exec_env == ExecEnv::Test {
            Some("test".to_owned())
        } else {
            None
        }
    });
    let name = process
        .clone()
        .or_else(|| report.default_process.clone())
        .unwrap_or_else(|| "<default>".to_owned());
    eprintln!();
    eprintln!(
        "===> LAUNCH {name} (CNB_EXEC_ENV={exec_env}, as `docker run -e CNB_EXEC_ENV={exec_env}`)"
    );
    let image_dir: PathBuf = report.image_dir.clone();
    launch_image(
        engine,
        &LaunchRequest {
            image_dir,
            process,
            exec_env: Some(exec_env),
            // `--env` of `run` is the build's platform env, not the launch's.
            env: BTreeMap::new(),
            args: args.trailing.clone(),
            timeout: args.timeout,
            user_command: false,
        },
    )
}
