//! What a build reports, whichever engine ran it.
//!
//! Both engines (the built-in one and the real lifecycle) fill the same [`BuildReport`], so tests
//! can compare them: the real lifecycle is the final word on every rule.

use libcnb_exec_env::{ExecEnv, ExecEnvSelector};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Which engine ran a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// The built-in engine of this crate.
    Builtin,
    /// The real CNB lifecycle.
    Lifecycle,
    /// Real pack on a real Docker engine.
    Pack,
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineKind::Builtin => "built-in engine",
            EngineKind::Lifecycle => "CNB lifecycle",
            EngineKind::Pack => "pack",
        })
    }
}

/// A lifecycle phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `detect`.
    Detect,
    /// `analyze` (the lifecycle only).
    Analyze,
    /// `restore`.
    Restore,
    /// `build`.
    Build,
    /// `export`.
    Export,
    /// `launch`.
    Launch,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Detect => "detect",
            Phase::Analyze => "analyze",
            Phase::Restore => "restore",
            Phase::Build => "build",
            Phase::Export => "export",
            Phase::Launch => "launch",
        })
    }
}

/// One phase's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseOutput {
    /// The phase.
    pub phase: Phase,
    /// Everything it printed (buildpack output included), in order.
    pub output: String,
    /// Whether it succeeded.
    pub success: bool,
}

/// How a buildpack's detection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetectOutcome {
    /// `bin/detect` exited 0.
    Pass,
    /// `bin/detect` exited 100. (A buildpack whose `bin/detect` passed but whose plan could
    /// not be resolved is `Pass`, and left out of the group.)
    Fail,
    /// `bin/detect` exited with another code: an error.
    Error(i32),
    /// Not run: the buildpack declares environments that exclude the current one
    /// (lifecycle `phase/detector.go`).
    SkippedExecEnv {
        /// The environments it declares.
        declared: ExecEnvSelector,
    },
    /// Not run: an earlier group of the order already passed, or a required buildpack of the
    /// group failed first.
    NotRun,
}

/// One buildpack's detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectReport {
    /// The buildpack id.
    pub buildpack_id: String,
    /// Its version.
    pub version: String,
    /// Its `api`.
    pub api: String,
    /// Whether it is optional in its group.
    pub optional: bool,
    /// The outcome.
    pub outcome: DetectOutcome,
    /// What `bin/detect` printed (stdout and stderr interleaved).
    pub output: String,
}

/// A resolved build plan entry.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanEntryReport {
    /// The entry name.
    pub name: String,
    /// The buildpacks that provide it (and receive its requires in their buildpack plan).
    pub providers: Vec<String>,
    /// The `[metadata]` of each `requires` of this name, in group order.
    pub requires: Vec<toml::Table>,
}

/// What happened to a layer in a build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerState {
    /// Made (or remade) in this build.
    Created,
    /// Restored from the cache and kept as it was.
    Restored,
    /// Kept in the cache for another execution environment (its `[metadata] exec-env` does not
    /// include the current one): not exported, not on the build path.
    Retained,
    /// Written with every type false (no `[types]`, or all `false`): the lifecycle renames
    /// its directory `<layer>.ignore` (`buildpack/build.go` `renameLayerDirIfNeeded`); neither
    /// exported, cached nor on the build path.
    Ignored,
}

impl std::fmt::Display for LayerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LayerState::Created => "created",
            LayerState::Restored => "restored",
            LayerState::Retained => "retained for another env",
            LayerState::Ignored => "ignored (no types)",
        })
    }
}

/// A layer at the end of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerReport {
    /// The buildpack that owns it.
    pub buildpack_id: String,
    /// The layer name.
    pub name: String,
    /// `[types] launch`.
    pub launch: bool,
    /// `[types] build`.
    pub build: bool,
    /// `[types] cache`.
    pub cache: bool,
    /// What happened to it.
    pub state: LayerState,
    /// Its `[metadata] exec-env`, when it has one.
    pub exec_env: Option<Vec<String>>,
}

/// A process of the exported image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessReport {
    /// The buildpack that declared it (the last one, when several declared the type).
    pub buildpack_id: String,
    /// The process type.
    pub r#type: String,
    /// The command.
    pub command: Vec<String>,
    /// Default arguments.
    pub args: Vec<String>,
    /// Whether it is the image's default process.
    pub default: bool,
    /// Its working directory, when not the app directory.
    pub working_dir: Option<String>,
    /// The environments it may run in.
    pub exec_env: ExecEnvSelector,
}

/// Everything a build did.
#[derive(Clone, Debug)]
pub struct BuildReport {
    /// The engine that ran it.
    pub engine: EngineKind,
    /// The execution environment of the build.
    pub exec_env: ExecEnv,
    /// Each buildpack's detection, in order of the order.
    pub detect: Vec<DetectReport>,
    /// Buildpack ids of the group that passed detection, in order.
    pub group: Vec<String>,
    /// The resolved plan entries.
    pub plan: Vec<PlanEntryReport>,
    /// The layers at the end of the build, per buildpack, in group order: every `<layer>.toml`
    /// a buildpack left, [`LayerState::Ignored`] ones included.
    pub layers: Vec<LayerReport>,
    /// The processes of the image, merged (later buildpacks override earlier ones of the same
    /// type).
    pub processes: Vec<ProcessReport>,
    /// The default process type, if any.
    pub default_process: Option<String>,
    /// The image labels (`io.buildpacks.exec-env` among them).
    pub labels: BTreeMap<String, String>,
    /// Each phase's output, in order.
    pub phases: Vec<PhaseOutput>,
    /// The exported image stand-in.
    pub image_dir: PathBuf,
    /// How long the build took.
    pub duration: Duration,
}

impl BuildReport {
    /// Every phase's output, concatenated.
    #[must_use]
    pub fn output(&self) -> String {
        let mut text = String::new();
        for phase in &self.phases {
            text.push_str("===> ");
            text.push_str(&phase.phase.to_string().to_uppercase());
            text.push('\n');
            text.push_str(&phase.output);
            if !phase.output.is_empty() && !phase.output.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }

    /// The layer `name` of buildpack `buildpack_id`.
    #[must_use]
    pub fn layer(&self, buildpack_id: &str, name: &str) -> Option<&LayerReport> {
        self.layers
            .iter()
            .find(|layer| layer.buildpack_id == buildpack_id && layer.name == name)
    }

    /// The processes `buildpack_id` declared, as `(type, command line, default, exec-env list)`
    /// sorted by type (the lifecycle keeps processes by type, not in the order written): the
    /// shape tests compare exactly.
    #[must_use]
    pub fn processes_of(
        &self,
        buildpack_id: &str,
    ) -> Vec<(String, String, bool, Option<Vec<String>>)> {
        let mut processes: Vec<_> = self
            .processes
            .iter()
            .filter(|process| process.buildpack_id == buildpack_id)
            .map(|process| {
                (
                    process.r#type.clone(),
                    process.command.join(" "),
                    process.default,
                    process.exec_env.to_list(),
                )
            })
            .collect();
        processes.sort();
        processes
    }

    /// The process types eligible in `env` (lifecycle `launch/process.go`).
    #[must_use]
    pub fn processes_eligible(&self, env: &ExecEnv) -> Vec<String> {
        self.processes
            .iter()
            .filter(|process| process.exec_env.matches(env))
            .map(|process| process.r#type.clone())
            .collect()
    }
}

/// The outcome of a `test` process (see the crate README, "Test results").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestReport {
    /// Exit code 0.
    pub passed: bool,
    /// How long it ran.
    pub duration: Duration,
    /// The results file the image declared (see the crate README, "Test results"), read after
    /// the run: the file named by `CNB_TEST_RESULTS_PATH`, else the first `*.xml`/`*.tap` file
    /// (by path) under `CNB_TEST_RESULTS_DIR`; `None` when none was declared or written.
    pub results_file: Option<TestResultsFile>,
}

/// A results file a `test` process wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResultsFile {
    /// Its format, as declared.
    pub format: TestResultsFormat,
    /// Where it was written (inside the image stand-in).
    pub path: PathBuf,
    /// Its content.
    pub content: String,
}

/// The format of a results file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestResultsFormat {
    /// `JUnit` XML.
    Junit,
    /// Test Anything Protocol.
    Tap,
    /// Anything else, as named.
    Other(String),
}

impl std::str::FromStr for TestResultsFormat {
    type Err = std::convert::Infallible;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(match value.to_ascii_lowercase().as_str() {
            "junit" | "junit-xml" | "xml" => TestResultsFormat::Junit,
            "tap" => TestResultsFormat::Tap,
            _ => TestResultsFormat::Other(value.to_owned()),
        })
    }
}

impl BuildReport {
    /// An empty report for a build that failed before it could report.
    #[must_use]
    pub fn failed(engine: crate::Engine, exec_env: ExecEnv, image_dir: PathBuf) -> Self {
        Self {
            engine: engine.kind(),
            exec_env,
            detect: Vec::new(),
            group: Vec::new(),
            plan: Vec::new(),
            layers: Vec::new(),
            processes: Vec::new(),
            default_process: None,
            labels: BTreeMap::new(),
            phases: Vec::new(),
            image_dir,
            duration: Duration::ZERO,
        }
    }
}
