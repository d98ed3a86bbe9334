#![doc = include_str!("../README.md")]

#[macro_use]
mod assertions;
pub mod builtin;
pub mod container;
pub mod engine;
pub mod lifecycle;
pub mod pack;
mod packaging;
pub mod platform;
pub mod results;
mod runner;

pub use container::{ContainerConfig, ContainerContext, ContainerError, LogOutput};
pub use engine::{
    BuildEngine, BuildRequest, EngineError, GroupEntry, LaunchRequest, LaunchResult, Order,
    PackagedBuildpack, PreparedLaunch, Progress, Target,
};
/// Makes a [`libcnb_data::buildpack::BuildpackId`] from a literal, checked at compile time
/// (libcnb's `buildpack_id!`), for [`BuildpackReference::WorkspaceBuildpack`].
pub use libcnb_data::buildpack_id;
pub use packaging::{package_workspace_buildpack_in, resolve_order, resolve_order_for};
pub use results::{
    BuildReport, DetectOutcome, DetectReport, EngineKind, LayerReport, LayerState, Phase,
    PhaseOutput, PlanEntryReport, ProcessReport, TestReport, TestResultsFile, TestResultsFormat,
};
/// libcnb-test's name for [`LocalRunner`], so that a ported test keeps `TestRunner::default()`.
pub use runner::LocalRunner as TestRunner;
pub use runner::{
    AppDirPreprocessor, BuildConfig, BuildpackReference, Engine, LaunchConfig, LocalRunner,
    PackResult, TempCache, TestContext,
};

/// The engines that can run on this machine: always [`Engine::Builtin`], plus
/// [`Engine::Lifecycle`] when the real lifecycle is installed. [`Engine::Pack`] is not among them
/// (its builds take seconds, not milliseconds): tests that compare it say so with
/// [`engines_with_pack`].
///
/// ```
/// use libcnb_exec_env_test::{available_engines, Engine};
/// assert!(available_engines().contains(&Engine::Builtin));
/// ```
#[must_use]
pub fn available_engines() -> Vec<Engine> {
    let mut engines = vec![Engine::Builtin];
    if require(Engine::Lifecycle) {
        engines.push(Engine::Lifecycle);
    }
    engines
}

/// [`available_engines`] and, when it can run here, [`Engine::Pack`].
///
/// ```
/// use libcnb_exec_env_test::{engines_with_pack, Engine};
/// assert_eq!(engines_with_pack().first(), Some(&Engine::Builtin));
/// ```
#[must_use]
pub fn engines_with_pack() -> Vec<Engine> {
    let mut engines = available_engines();
    if require(Engine::Pack) {
        engines.push(Engine::Pack);
    }
    engines
}

/// Whether `engine` can run here. Under CI (`CI=true`) an engine that cannot is a failure, not a
/// skip: this panics with the reason. Elsewhere it says loudly on stderr that tests skip it.
///
/// # Panics
/// Under CI, when the engine cannot run.
#[must_use]
pub fn require(engine: Engine) -> bool {
    let missing = match engine {
        Engine::Lifecycle => lifecycle::locate().is_none().then(|| {
            "the real CNB lifecycle is not installed (scripts/install-lifecycle.sh, or set CNB_LIFECYCLE_DIR)".to_owned()
        }),
        Engine::Pack => pack::tools::locate().err(),
        Engine::Builtin | Engine::Auto => None,
    };
    let Some(reason) = missing else { return true };
    assert!(
        std::env::var("CI").map_or(true, |ci| ci != "true"),
        "CI=true and the {engine} engine cannot run: {reason}"
    );
    eprintln!("SKIPPED ({engine} engine): {reason}");
    false
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

/// The engine behind `engine` (resolving [`Engine::Auto`]).
#[must_use]
pub fn engine_for(engine: Engine) -> Box<dyn BuildEngine> {
    match engine.resolve() {
        Engine::Lifecycle => Box::new(lifecycle::LifecycleEngine),
        Engine::Pack => Box::new(pack::PackEngine),
        Engine::Builtin | Engine::Auto => Box::new(builtin::BuiltinEngine),
    }
}

/// Runs a build with `engine` (resolving [`Engine::Auto`]).
///
/// # Errors
/// What the engine reports.
pub fn run_build(engine: Engine, request: &BuildRequest) -> Result<BuildReport, EngineError> {
    engine_for(engine).build(request)
}

/// Launches a process with `engine` (resolving [`Engine::Auto`]).
///
/// # Errors
/// What the engine reports.
pub fn run_launch(engine: Engine, request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    engine_for(engine).launch(request)
}
