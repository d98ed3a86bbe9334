//! The engine-neutral contract: what a build and a launch take and give, whichever engine runs.
//!
//! Every engine implements [`BuildEngine`]: the built-in engine ([`crate::builtin`]), the
//! real-lifecycle engine ([`crate::lifecycle`]) and the pack engine ([`crate::pack`]). The test
//! API and the CLI talk to the trait only.

use crate::results::{BuildReport, EngineKind, TestReport};
use libcnb_exec_env::ExecEnv;
use libcnb_exec_env::exec_env::ExecEnvSelector;
use libcnb_exec_env::internal::descriptor::{BuildpackToml, DescriptorError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What every engine does: build an app into an image, and launch a process of that image.
///
/// Each engine takes the same [`BuildRequest`] and fills the same [`BuildReport`], so tests are
/// written once and run under each; where the real lifecycle (or pack) and the built-in engine
/// disagree, the built-in engine is wrong.
///
/// ```
/// use libcnb_exec_env_test::{BuildEngine, EngineKind};
/// use libcnb_exec_env_test::builtin::BuiltinEngine;
///
/// let engine: &dyn BuildEngine = &BuiltinEngine;
/// assert_eq!(engine.kind(), EngineKind::Builtin);
/// ```
pub trait BuildEngine {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Runs detect, restore, build and export for `request`.
    ///
    /// # Errors
    /// The engine cannot run here, the inputs are invalid, or the build failed (with its output).
    fn build(&self, request: &BuildRequest) -> Result<BuildReport, EngineError>;

    /// Launches a process of an image this engine built.
    ///
    /// # Errors
    /// Unknown process, no default process, the process is not eligible in the launch's
    /// environment, or the engine cannot run it.
    fn launch(&self, request: &LaunchRequest) -> Result<LaunchResult, EngineError>;

    /// The command that starts a process of an image this engine built, not yet started: the
    /// test API's `start_container` runs it in the background, in a process group of its own,
    /// and ends it (and runs [`PreparedLaunch::cleanup`]) when the test is done with it.
    ///
    /// # Errors
    /// As [`BuildEngine::launch`]; [`EngineError::Unsupported`] for an engine that cannot.
    fn prepare_launch(&self, request: &LaunchRequest) -> Result<PreparedLaunch, EngineError> {
        let _ = request;
        Err(EngineError::Unsupported {
            engine: self.kind().to_string(),
            what: "starting a process in the background".to_owned(),
            why: "this engine does not implement `prepare_launch`".to_owned(),
        })
    }
}

/// A launch ready to start in the background ([`BuildEngine::prepare_launch`]).
#[derive(Debug)]
pub struct PreparedLaunch {
    /// The command: the process itself, or the client that runs it (`docker run`).
    pub command: std::process::Command,
    /// Run after the process group is killed, when ending the group is not enough (the pack
    /// engine's `docker rm --force <container>`).
    pub cleanup: Option<std::process::Command>,
    /// The Docker container it runs in, when it does (the pack engine), for `docker exec`.
    pub container: Option<String>,
}

/// A packaged buildpack: a directory with `buildpack.toml`, `bin/detect` and `bin/build`.
#[derive(Clone, Debug)]
pub struct PackagedBuildpack {
    /// The directory.
    pub dir: PathBuf,
    /// Its `buildpack.id`.
    pub id: String,
    /// Its `buildpack.version`.
    pub version: String,
    /// Its `buildpack.toml`, read with the framework's tolerant reader.
    pub descriptor: BuildpackToml,
}

impl PackagedBuildpack {
    /// Reads `<dir>/buildpack.toml`.
    ///
    /// # Errors
    /// The descriptor cannot be read, or has no `buildpack.id`/`buildpack.version`.
    pub fn read(dir: impl AsRef<Path>) -> Result<Self, EngineError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join("buildpack.toml");
        let descriptor = BuildpackToml::read(&path)?;
        let field = |key: &str| {
            descriptor
                .stripped
                .get("buildpack")
                .and_then(|bp| bp.get(key))
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| EngineError::InvalidBuildpack {
                    dir: dir.clone(),
                    reason: format!("{} has no string `buildpack.{key}`", path.display()),
                })
        };
        Ok(Self {
            id: field("id")?,
            version: field("version")?,
            dir: dir.clone(),
            descriptor,
        })
    }

    /// The `api` as written (`0.12`).
    #[must_use]
    pub fn api(&self) -> String {
        self.descriptor.api_string()
    }

    /// Whether this is a composite (it has `[[order]]`).
    #[must_use]
    pub fn is_composite(&self) -> bool {
        self.descriptor.stripped.contains_key("order")
    }
}

/// One entry of a group.
#[derive(Clone, Debug)]
pub struct GroupEntry {
    /// The buildpack.
    pub buildpack: PackagedBuildpack,
    /// Whether the group may pass without it.
    pub optional: bool,
    /// The `exec-env` of the composite's order group entry (read, but, like the lifecycle,
    /// not applied).
    pub exec_env: ExecEnvSelector,
}

/// An order: groups tried in turn; the first whose detection passes is used.
pub type Order = Vec<Vec<GroupEntry>>;

/// The target the build runs for (`CNB_TARGET_*`, Buildpack API >= 0.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `CNB_TARGET_OS`.
    pub os: String,
    /// `CNB_TARGET_ARCH`.
    pub arch: String,
    /// `CNB_TARGET_ARCH_VARIANT` (left out when empty).
    pub arch_variant: Option<String>,
    /// `CNB_TARGET_DISTRO_NAME`.
    pub distro_name: Option<String>,
    /// `CNB_TARGET_DISTRO_VERSION`.
    pub distro_version: Option<String>,
}

impl Target {
    /// The machine this runs on: os and arch as Go names them, distro from `/etc/os-release`.
    #[must_use]
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            other => other,
        };
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let value = |key: &str| {
            os_release.lines().find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix('='))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        Self {
            os: std::env::consts::OS.to_owned(),
            arch: arch.to_owned(),
            arch_variant: None,
            distro_name: value("ID"),
            distro_version: value("VERSION_ID"),
        }
    }

    /// The `CNB_TARGET_*` variables, as the lifecycle sets them (`platform/target_data.go`:
    /// empty values are left out).
    #[must_use]
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let mut vars = vec![
            ("CNB_TARGET_OS".to_owned(), self.os.clone()),
            ("CNB_TARGET_ARCH".to_owned(), self.arch.clone()),
        ];
        for (key, value) in [
            ("CNB_TARGET_ARCH_VARIANT", &self.arch_variant),
            ("CNB_TARGET_DISTRO_NAME", &self.distro_name),
            ("CNB_TARGET_DISTRO_VERSION", &self.distro_version),
        ] {
            if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                vars.push((key.to_owned(), value.clone()));
            }
        }
        vars
    }
}

/// Where build progress goes while a build runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nowhere: output is only collected into the report.
    #[default]
    Quiet,
    /// Also streamed to this process's stderr, with a header per phase.
    Stderr,
}

/// Everything an engine needs for one build.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The application source. The engine builds a copy; this directory is never changed.
    pub app_dir: PathBuf,
    /// The order to detect over: one group of required buildpacks for a plain list.
    pub order: Order,
    /// The execution environment (`CNB_EXEC_ENV`).
    pub exec_env: ExecEnv,
    /// Platform env vars (`<platform>/env/<KEY>` files).
    pub platform_env: BTreeMap<String, String>,
    /// The cache directory: persists between builds.
    pub cache_dir: PathBuf,
    /// The exported image stand-in is written here (replaced if it exists).
    pub output_dir: PathBuf,
    /// The build target.
    pub target: Target,
    /// Where progress goes.
    pub progress: Progress,
    /// Whether the build may use the previous image: the last image built with this cache
    /// directory (and, for the built-in engine, into this output directory). `false` is a
    /// build as for a new image name: no layer metadata is restored from an earlier image and
    /// no launch layer is reused from it, while the cache is kept and restored as usual.
    pub previous_image: bool,
}

/// Everything an engine needs to launch a process of an exported image.
#[derive(Clone, Debug, Default)]
pub struct LaunchRequest {
    /// The exported image stand-in.
    pub image_dir: PathBuf,
    /// The process type; `None` = the default process.
    pub process: Option<String>,
    /// The launch's `CNB_EXEC_ENV`; `None` = unset, which the launcher treats as `production`
    /// (it does not read the image's label).
    pub exec_env: Option<ExecEnv>,
    /// Extra environment variables for the process (like `docker run -e`).
    pub env: BTreeMap<String, String>,
    /// User arguments: replace the process's default arguments when given.
    pub args: Option<Vec<String>>,
    /// Kill the process after this long.
    pub timeout: Option<Duration>,
    /// Run `args` as the launcher's own command, as `docker run --entrypoint launcher <image>
    /// <args>` does: no process type, not even the default one; a single argument is a bash
    /// script, `--` then words run directly. `process` is ignored.
    pub user_command: bool,
}

/// What a launched process did.
#[derive(Clone, Debug)]
pub struct LaunchResult {
    /// The process type run.
    pub process_type: String,
    /// The exit code (`None` when killed by a signal or the timeout).
    pub exit_code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// How long it ran.
    pub duration: Duration,
    /// For a `test` process: the test result convention's report.
    pub test: Option<TestReport>,
}

impl LaunchResult {
    /// Exit code 0.
    #[must_use]
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// stdout then stderr.
    #[must_use]
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Why a build or launch failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine cannot run here.
    #[error("the {engine} engine is not available: {reason}")]
    Unavailable {
        /// The engine.
        engine: &'static str,
        /// Why.
        reason: String,
    },
    /// The app directory does not exist.
    #[error("the app directory {0} does not exist (or is not a directory)")]
    MissingAppDir(PathBuf),
    /// A buildpack directory is not usable.
    #[error("{dir} is not a packaged buildpack: {reason}")]
    InvalidBuildpack {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A `buildpack.toml` is invalid.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// No group passed detection.
    #[error("no buildpack group passed detection in the {exec_env} environment:\n{details}")]
    DetectFailed {
        /// The environment.
        exec_env: ExecEnv,
        /// Whether a buildpack's `bin/detect` errored (exit code other than 0 and 100): the
        /// lifecycle then exits 21 instead of 20 (`platform/exit.go`).
        errored: bool,
        /// Each buildpack's outcome and output.
        details: String,
        /// The per-phase output so far.
        output: String,
    },
    /// A buildpack's `bin/build` failed.
    #[error("buildpack {buildpack_id} failed: bin/build exited with {code}\n{output}")]
    BuildpackFailed {
        /// The buildpack.
        buildpack_id: String,
        /// The exit code (or signal description).
        code: String,
        /// The per-phase output so far.
        output: String,
    },
    /// A lifecycle phase failed on its own (not a buildpack's `bin/build`): the real-lifecycle
    /// engine's analyzer, restorer or exporter exited non-zero.
    #[error("the lifecycle's {phase} phase failed with exit code {code}\n{output}")]
    PhaseFailed {
        /// The phase (`analyze`, `restore`, `export`).
        phase: String,
        /// The exit code (or signal description).
        code: String,
        /// The per-phase output so far.
        output: String,
    },
    /// A buildpack wrote an invalid file.
    #[error("buildpack {buildpack_id} wrote an invalid {path}: {reason}")]
    InvalidBuildpackOutput {
        /// The buildpack.
        buildpack_id: String,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The process asked for does not exist.
    #[error("the image at {image_dir} has no process `{process}` (it has: {available})")]
    NoSuchProcess {
        /// The image.
        image_dir: PathBuf,
        /// The type asked for.
        process: String,
        /// The types it has.
        available: String,
    },
    /// No process given and the image has no default.
    #[error("the image at {0} has no default process: name one (cnb-local launch <out> <process>)")]
    NoDefaultProcess(PathBuf),
    /// The process is not eligible in the launch's environment (lifecycle `launch/process.go`).
    #[error(
        "process `{process}` may only run in {needs}, but this launch runs in `{current}`{unset}. \
         Pass the environment: here with `exec_env(ExecEnv::...)` or `cnb-local launch <out> {process} --exec-env {first}`, \
         and for a real image with `docker run -e CNB_EXEC_ENV={first} <image>` \
         (the launcher reads CNB_EXEC_ENV from the running container, not from the image label)"
    )]
    NotEligible {
        /// The process type.
        process: String,
        /// The environments it may run in.
        needs: ExecEnvSelector,
        /// The first of them.
        first: String,
        /// The environment of the launch.
        current: ExecEnv,
        /// Says when `CNB_EXEC_ENV` was unset, or is empty.
        unset: &'static str,
    },
    /// The cache is locked by another build.
    #[error(
        "the cache directory {dir} is locked by another build ({holder}) for more than {waited:?}; remove {lock} if that build is gone"
    )]
    CacheLocked {
        /// The cache directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it.
        holder: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The image stand-in is not valid.
    #[error("{path} is not a valid image stand-in: {reason}")]
    InvalidImage {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An I/O error.
    #[error("{context}: {error}")]
    Io {
        /// What was being done, naming the path.
        context: String,
        /// The error.
        #[source]
        error: std::io::Error,
    },
    /// The engine cannot do what was asked (a port on an engine without one, an image
    /// reference where only directories can be used, ...).
    #[error("the {engine} cannot {what}: {why}")]
    Unsupported {
        /// The engine (or the part of the test API) asked.
        engine: String,
        /// What was asked.
        what: String,
        /// Why it cannot, and what to do instead.
        why: String,
    },
    /// Packaging a workspace buildpack failed.
    #[error("cannot package {what}: {reason}")]
    Packaging {
        /// The buildpack or crate.
        what: String,
        /// Why.
        reason: String,
    },
}

impl EngineError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
        let context = context.into();
        move |error| EngineError::Io { context, error }
    }

    /// The exit code the lifecycle gives this failure (`platform/exit.go`, Platform API 0.15),
    /// which `cnb-local` exits with:
    ///
    /// | code | failure |
    /// |---|---|
    /// | 20 | detect: no group passed ([`EngineError::DetectFailed`]) |
    /// | 21 | detect: no group passed and a buildpack's `bin/detect` errored |
    /// | 51 | build: a buildpack's `bin/build` failed ([`EngineError::BuildpackFailed`]) |
    /// | 52 | build: a buildpack wrote invalid output ([`EngineError::InvalidBuildpackOutput`]) |
    /// | 82 | launch: no such process, no default process, not eligible in the environment |
    /// | the phase's | [`EngineError::PhaseFailed`]: the lifecycle phase's own exit code |
    /// | 1 | anything else (I/O, unusable input, no engine) |
    ///
    /// ```
    /// use libcnb_exec_env_test::EngineError;
    /// let error = EngineError::NoDefaultProcess("out".into());
    /// assert_eq!(error.exit_code(), 82);
    /// ```
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::DetectFailed { errored: false, .. } => 20,
            EngineError::DetectFailed { errored: true, .. } => 21,
            EngineError::BuildpackFailed { .. } => 51,
            EngineError::InvalidBuildpackOutput { .. } => 52,
            EngineError::NoSuchProcess { .. }
            | EngineError::NoDefaultProcess(_)
            | EngineError::NotEligible { .. } => 82,
            EngineError::PhaseFailed { code, .. } => {
                code.parse().ok().filter(|code| *code != 0).unwrap_or(1)
            }
            _ => 1,
        }
    }

    /// The phases' output carried by a build failure, if any.
    #[must_use]
    pub fn output(&self) -> Option<&str> {
        match self {
            EngineError::DetectFailed { output, .. }
            | EngineError::BuildpackFailed { output, .. }
            | EngineError::PhaseFailed { output, .. } => Some(output),
            _ => None,
        }
    }
}
