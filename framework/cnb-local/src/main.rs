//! `cnb-local`: build apps with Cloud Native Buildpacks and launch their processes, per
//! execution environment, without Docker; and scaffold new buildpack crates.
//!
//! ```text
//! cnb-local build  <app> [--exec-env ENV] [--buildpack ID|DIR]... [--cache DIR] [--out DIR]
//!                        [--engine auto|builtin|lifecycle|pack] [--env KEY=VALUE]... [--quiet]
//! cnb-local launch <out> [PROCESS] [--exec-env ENV] [--env KEY=VALUE]... [--timeout SECS]
//!                        [-- ARGS...]
//! cnb-local run    <app> [build options] [--process PROCESS] [--timeout SECS] [-- ARGS...]
//! cnb-local new    <id> [--path DIR]
//! ```
//!
//! Modules by job: [`args`] (the command line, clap), [`build`] (`build`, and the buildpacks to
//! use), [`launch`] (`launch`, `run`), [`summary`] (what a build and a launch print), [`new`]
//! (the scaffold).

mod args;
mod build;
mod launch;
mod new;
mod summary;

#[cfg(test)]
use tempfile as _;

use args::{Command, Parsed, USAGE};
use libcnb_exec_env_test::EngineError;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match args::parse(std::env::args().skip(1).collect()) {
        Parsed::Run(cli) => cli,
        Parsed::Help(code) => {
            print!("{USAGE}");
            return ExitCode::from(code);
        }
        Parsed::Usage(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
        Parsed::UnknownCommand(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(1);
        }
    };
    let result = match &cli.command {
        Command::Build(args) => {
            build::build(args, &args.exec_env.clone().unwrap_or_default()).map(|_| 0)
        }
        Command::Launch(args) => launch::launch(args),
        Command::Run(args) => launch::run(args),
        Command::New(args) => new::run(args).map(|()| 0).map_err(Failure::from),
    };
    match result {
        Ok(code) => exit_code(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            exit_code(failure.code)
        }
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

/// A failed command: what to print, and the exit code ([`EngineError::exit_code`]).
#[derive(Debug)]
pub(crate) struct Failure {
    /// The message, printed after `error: `.
    pub(crate) message: String,
    /// The exit code.
    pub(crate) code: i32,
}

impl Failure {
    /// A failure with exit code 1.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Self {
        Self {
            code: error.exit_code(),
            message: error.to_string(),
        }
    }
}

impl From<new::NewError> for Failure {
    fn from(error: new::NewError) -> Self {
        Self::new(error.to_string())
    }
}
