//! Build output: which environment is built, where it came from, what happened to layers.

use crate::resolve::ResolvedExecEnv;
use std::error::Error;
use std::fmt::Debug;

/// Prints the header line of a phase.
pub(crate) fn exec_env_header(phase: &str, resolved: &ResolvedExecEnv) {
    println!(
        "[{phase}] Execution environment: {} (from {})",
        resolved.env, resolved.source
    );
}

/// Prints one line of framework output.
pub(crate) fn line(message: impl std::fmt::Display) {
    println!("- {message}");
}

/// Prints a warning.
pub(crate) fn warning(message: impl std::fmt::Display) {
    eprintln!("! Warning: {message}");
}

/// Prints an error and its sources.
pub(crate) fn error<E: Debug>(error: &libcnb::Error<E>) {
    eprintln!("ERROR: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
}
