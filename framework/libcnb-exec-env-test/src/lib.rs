#![doc = include_str!("../README.md")]

pub mod builtin;
pub mod engine;
pub mod lifecycle;
mod packaging;
pub mod results;
mod runner;

pub use engine::{
    BuildRequest, EngineError, GroupEntry, LaunchRequest, LaunchResult, Order, PackagedBuildpack,
    Progress, Target,
};
pub use packaging::{package_workspace_buildpack_in, resolve_order};
pub use results::{
    BuildReport, DetectOutcome, DetectReport, EngineKind, LayerReport, LayerState, Phase,
    PhaseOutput, PlanEntryReport, ProcessReport, TestReport, TestResultsFile, TestResultsFormat,
};
pub use runner::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LocalRunner, PackResult, TestContext,
};

/// The engines that can run on this machine: always [`Engine::Builtin`], plus
/// [`Engine::Lifecycle`] when the real lifecycle is installed.
///
/// ```
/// use libcnb_exec_env_test::{available_engines, Engine};
/// assert!(available_engines().contains(&Engine::Builtin));
/// ```
#[must_use]
pub fn available_engines() -> Vec<Engine> {
    let mut engines = vec![Engine::Builtin];
    if lifecycle::locate().is_some() {
        engines.push(Engine::Lifecycle);
    }
    engines
}

/// Runs `test` once per engine of [`available_engines`], saying which on stderr: how tests run
/// under the built-in engine and the real lifecycle alike (differential testing).
///
/// ```
/// use libcnb_exec_env_test::{for_each_engine, Engine};
///
/// let mut seen = Vec::new();
/// for_each_engine(|engine| seen.push(engine));
/// assert_eq!(seen.first(), Some(&Engine::Builtin));
/// ```
pub fn for_each_engine(mut test: impl FnMut(Engine)) {
    for engine in available_engines() {
        eprintln!("--- engine: {engine}");
        test(engine);
    }
}

/// Runs a build with `engine` (resolving [`Engine::Auto`]).
///
/// # Errors
/// What the engine reports.
pub fn run_build(engine: Engine, request: &BuildRequest) -> Result<BuildReport, EngineError> {
    match engine.resolve() {
        Engine::Lifecycle => lifecycle::build(request),
        _ => builtin::build(request),
    }
}

/// Launches a process with `engine` (resolving [`Engine::Auto`]).
///
/// # Errors
/// What the engine reports.
pub fn run_launch(engine: Engine, request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    match engine.resolve() {
        Engine::Lifecycle => lifecycle::launch(request),
        _ => builtin::launch(request),
    }
}
