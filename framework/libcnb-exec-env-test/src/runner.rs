//! The test-facing API, in libcnb-test's vocabulary: [`LocalRunner`], [`BuildConfig`],
//! [`TestContext`].

use crate::container::{ContainerConfig, ContainerContext, ContainerError, LogOutput};
use crate::engine::{BuildRequest, EngineError, LaunchRequest, LaunchResult, Progress, Target};
use crate::platform::build_watch::BuildWatch;
use crate::results::{BuildReport, LayerReport};
use crate::{packaging, run_build, run_launch};
use libcnb_data::buildpack::BuildpackId;
use libcnb_exec_env::ExecEnv;
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Which engine runs builds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Engine {
    /// The built-in engine of this crate (always available).
    Builtin,
    /// The real CNB lifecycle (when installed, see `scripts/install-lifecycle.sh`).
    Lifecycle,
    /// Real pack on a real Docker engine (set up by `scripts/local-builder.sh`).
    Pack,
    /// The real lifecycle when installed, else the built-in engine.
    #[default]
    Auto,
}

impl Engine {
    /// What a report built by this engine says it is ([`Engine::Auto`] resolved).
    #[must_use]
    pub fn kind(self) -> crate::EngineKind {
        match self.resolve() {
            Engine::Lifecycle => crate::EngineKind::Lifecycle,
            Engine::Pack => crate::EngineKind::Pack,
            Engine::Builtin | Engine::Auto => crate::EngineKind::Builtin,
        }
    }

    /// [`Engine::Auto`] resolved to the engine that will run.
    #[must_use]
    pub fn resolve(self) -> Engine {
        match self {
            Engine::Auto if crate::lifecycle::locate().is_some() => Engine::Lifecycle,
            Engine::Auto => Engine::Builtin,
            other => other,
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Builtin => "builtin",
            Engine::Lifecycle => "lifecycle",
            Engine::Pack => "pack",
            Engine::Auto => "auto",
        })
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "builtin" | "built-in" => Ok(Engine::Builtin),
            "lifecycle" => Ok(Engine::Lifecycle),
            "pack" => Ok(Engine::Pack),
            "auto" => Ok(Engine::Auto),
            other => Err(format!(
                "unknown engine {other:?}: expected auto, builtin, lifecycle or pack"
            )),
        }
    }
}

/// The build outcome a test expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PackResult {
    /// The build must succeed.
    #[default]
    Success,
    /// The build must fail.
    Failure,
}

/// A buildpack to build with: libcnb-test's `BuildpackReference`, plus [`Packaged`].
///
/// ```
/// use libcnb_exec_env_test::{buildpack_id, BuildpackReference};
///
/// let references = [
///     BuildpackReference::CurrentCrate,
///     BuildpackReference::WorkspaceBuildpack(buildpack_id!("examples/nodejs")),
///     BuildpackReference::Other("tests/fixtures/packaged-buildpack".to_owned()),
/// ];
/// ```
///
/// [`Packaged`]: BuildpackReference::Packaged
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildpackReference {
    /// The buildpack crate whose tests are running (`CARGO_MANIFEST_DIR`), packaged.
    CurrentCrate,
    /// A buildpack (or composite) of this Cargo workspace, by buildpack id, packaged.
    WorkspaceBuildpack(BuildpackId),
    /// Anything else, as libcnb-test takes it: a path to an already packaged buildpack directory
    /// (relative paths: to `CARGO_MANIFEST_DIR`) works on every engine. An image reference or a
    /// buildpack id of a builder (`heroku/nodejs`, `docker://...`) is refused with
    /// [`EngineError::Unsupported`]: every engine here builds from directories (the pack engine
    /// packages the order into one composite buildpack).
    Other(String),
    /// An already packaged buildpack directory (`buildpack.toml`, `bin/detect`, `bin/build`).
    Packaged(PathBuf),
}

/// A function that changes the copy of the app before a build ([`BuildConfig::app_dir_preprocessor`]).
pub type AppDirPreprocessor = Arc<dyn Fn(PathBuf) + Send + Sync>;

/// What to build and how: libcnb-test's `BuildConfig` (its methods take `&mut self` and return
/// `&mut Self`, so a chain can be passed to [`LocalRunner::build`] as is, or a config kept and
/// changed), without a builder, plus the execution environment and the engine.
///
/// ```no_run
/// use libcnb_exec_env::ExecEnv;
/// use libcnb_exec_env_test::{BuildConfig, BuildpackReference, Engine, LocalRunner};
///
/// LocalRunner::default().build(
///     BuildConfig::new("tests/fixtures/app")
///         .buildpacks([BuildpackReference::Packaged("tests/fixtures/bp".into())])
///         .exec_env(ExecEnv::Test)
///         .engine(Engine::Builtin)
///         .env("KEY", "value"),
///     |context| {
///         let mut config = context.config.clone();
///         config.env("OTHER", "value");
///         context.rebuild(config, |_| {});
///     },
/// );
/// ```
#[derive(Clone)]
pub struct BuildConfig {
    pub(crate) app_dir: PathBuf,
    pub(crate) buildpacks: Vec<BuildpackReference>,
    pub(crate) exec_env: ExecEnv,
    pub(crate) engine: Engine,
    pub(crate) platform_env: BTreeMap<String, String>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) expected_pack_result: PackResult,
    pub(crate) target: Option<Target>,
    pub(crate) target_triple: Option<String>,
    pub(crate) app_dir_preprocessor: Option<AppDirPreprocessor>,
    pub(crate) progress: Progress,
    pub(crate) previous_image: bool,
}

impl std::fmt::Debug for BuildConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildConfig")
            .field("app_dir", &self.app_dir)
            .field("buildpacks", &self.buildpacks)
            .field("exec_env", &self.exec_env)
            .field("engine", &self.engine)
            .field("env", &self.platform_env)
            .field("cache_dir", &self.cache_dir)
            .field("expected_pack_result", &self.expected_pack_result)
            .field("target", &self.target)
            .field("target_triple", &self.target_triple)
            .field("app_dir_preprocessor", &self.app_dir_preprocessor.is_some())
            .field("progress", &self.progress)
            .field("previous_image", &self.previous_image)
            .finish()
    }
}

/// Resolves a path relative to the running test crate's `CARGO_MANIFEST_DIR` (or the current
/// directory outside cargo).
pub(crate) fn from_manifest_dir(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir).join(path),
        None => path.to_path_buf(),
    }
}

impl BuildConfig {
    /// A build of `app_dir` (relative paths: to the test crate's `CARGO_MANIFEST_DIR`), with the
    /// current crate's buildpack, in `production`, on [`Engine::Auto`]. libcnb-test's
    /// `BuildConfig::new(builder, app_dir)` without the builder.
    #[must_use]
    pub fn new(app_dir: impl AsRef<Path>) -> Self {
        Self {
            app_dir: from_manifest_dir(app_dir.as_ref()),
            buildpacks: vec![BuildpackReference::CurrentCrate],
            exec_env: ExecEnv::Production,
            engine: Engine::Auto,
            platform_env: BTreeMap::new(),
            cache_dir: None,
            expected_pack_result: PackResult::Success,
            target: None,
            target_triple: None,
            app_dir_preprocessor: None,
            progress: Progress::Quiet,
            previous_image: true,
        }
    }

    /// The buildpacks, in order (one group, all required; a composite brings its own order).
    pub fn buildpacks(&mut self, buildpacks: impl Into<Vec<BuildpackReference>>) -> &mut Self {
        self.buildpacks = buildpacks.into();
        self
    }

    /// The execution environment, like `pack build --exec-env`.
    pub fn exec_env(&mut self, exec_env: ExecEnv) -> &mut Self {
        self.exec_env = exec_env;
        self
    }

    /// The engine.
    pub fn engine(&mut self, engine: Engine) -> &mut Self {
        self.engine = engine;
        self
    }

    /// A build-time env var: a platform env var (`<platform>/env/<key>`), like `pack build
    /// --env`. Not set for launched processes.
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.platform_env.insert(key.into(), value.into());
        self
    }

    /// Several build-time env vars ([`BuildConfig::env`]).
    pub fn envs<K: Into<String>, V: Into<String>, I: IntoIterator<Item = (K, V)>>(
        &mut self,
        envs: I,
    ) -> &mut Self {
        for (key, value) in envs {
            self.env(key, value);
        }
        self
    }

    /// The app directory (relative paths: to `CARGO_MANIFEST_DIR`), replacing the one given to
    /// [`BuildConfig::new`]: for a shared config built for another app.
    pub fn app_dir(&mut self, app_dir: impl AsRef<Path>) -> &mut Self {
        self.app_dir = from_manifest_dir(app_dir.as_ref());
        self
    }

    /// A function run on a fresh copy of the app directory before each build with this config:
    /// the build uses the copy, the app directory itself is not changed.
    pub fn app_dir_preprocessor<F: Fn(PathBuf) + Send + Sync + 'static>(
        &mut self,
        preprocessor: F,
    ) -> &mut Self {
        self.app_dir_preprocessor = Some(Arc::new(preprocessor));
        self
    }

    /// The target triple Rust buildpacks are compiled for (`CurrentCrate`,
    /// `WorkspaceBuildpack`). Default: the host's (libcnb-test's default is
    /// `x86_64-unknown-linux-musl`, for its Docker images; the built-in and lifecycle engines
    /// run buildpacks on the host, where either works).
    pub fn target_triple(&mut self, target_triple: impl Into<String>) -> &mut Self {
        self.target_triple = Some(target_triple.into());
        self
    }

    /// The cache directory (default: a fresh temporary one, kept for [`TestContext::rebuild`]).
    pub fn cache_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cache_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The expected outcome (default [`PackResult::Success`]).
    pub fn expected_pack_result(&mut self, result: PackResult) -> &mut Self {
        self.expected_pack_result = result;
        self
    }

    /// The build target, `CNB_TARGET_*` (default: this machine).
    pub fn target(&mut self, target: Target) -> &mut Self {
        self.target = Some(target);
        self
    }

    /// Builds without the previous image (like `pack build` of a new image name), keeping the
    /// cache: no layer metadata comes back from an earlier image, cached layers still do.
    pub fn without_previous_image(&mut self) -> &mut Self {
        self.previous_image = false;
        self
    }

    /// Streams progress to stderr while building.
    pub fn progress(&mut self, progress: Progress) -> &mut Self {
        self.progress = progress;
        self
    }

    /// The app directory, resolved.
    #[must_use]
    pub fn app_dir_path(&self) -> &Path {
        &self.app_dir
    }
}

/// A process launch, like `docker run`.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct LaunchConfig {
    pub(crate) process: Option<String>,
    pub(crate) exec_env: Option<ExecEnv>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) args: Option<Vec<String>>,
    pub(crate) timeout: Option<Duration>,
}

impl LaunchConfig {
    /// The default process, `CNB_EXEC_ENV` unset (= `production`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process type.
    pub fn process(mut self, process: impl Into<String>) -> Self {
        self.process = Some(process.into());
        self
    }

    /// The launch's `CNB_EXEC_ENV` (like `docker run -e CNB_EXEC_ENV=...`).
    pub fn exec_env(mut self, exec_env: ExecEnv) -> Self {
        self.exec_env = Some(exec_env);
        self
    }

    /// An env var for the process.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// User arguments (replace the process's default arguments).
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Kills the process after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// Runs builds, like libcnb-test's `TestRunner`, without Docker.
#[derive(Clone, Debug, Default)]
pub struct LocalRunner {
    _private: (),
}

/// A cache directory: the caller's, or a temporary one shared by rebuilds.
#[derive(Clone, Debug)]
enum CacheDir {
    Given(PathBuf),
    Temp(Arc<TempCache>),
}

/// A temporary cache directory for builds that share it ([`BuildConfig::cache_dir`]): removed
/// when dropped, with what the pack engine keeps for it outside the directory (its image and
/// cache volumes).
///
/// ```
/// let cache = libcnb_exec_env_test::TempCache::new().unwrap();
/// let path = cache.path().to_path_buf();
/// assert!(path.is_dir());
/// drop(cache);
/// assert!(!path.exists());
/// ```
#[derive(Debug)]
pub struct TempCache(tempfile::TempDir);

impl TempCache {
    /// A new empty cache directory in the system temp directory.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new() -> std::io::Result<Self> {
        tempfile::Builder::new()
            .prefix("cnb-cache.")
            .tempdir()
            .map(Self)
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for TempCache {
    fn drop(&mut self) {
        if self.0.path().join("pack").exists() {
            crate::pack::remove(self.0.path());
        }
    }
}

impl CacheDir {
    fn path(&self) -> &Path {
        match self {
            CacheDir::Given(path) => path,
            CacheDir::Temp(dir) => dir.0.path(),
        }
    }
}

/// A finished build, given to the test closure: libcnb-test's `TestContext`.
///
/// `pack_stdout` and `pack_stderr`: real pack splits its output by stream (the lifecycle's
/// own lines on stdout, and what buildpacks write to stderr on stderr). The engines of this
/// crate keep one log per phase, both streams interleaved as written, so **both fields hold the
/// same text**: every phase's output (`===> DETECT`, `===> BUILD`, ...), followed, when the
/// build failed, by the error. An assertion that a text appears works on either field; one that
/// `pack_stderr` is empty does not carry over (assert on what it means instead).
#[derive(Debug)]
pub struct TestContext<'a> {
    /// The build's log (see the type's documentation).
    pub pack_stdout: String,
    /// The build's log, the same text as `pack_stdout` (see the type's documentation).
    pub pack_stderr: String,
    /// What the build did.
    pub report: BuildReport,
    /// The configuration it ran with.
    pub config: BuildConfig,
    runner: &'a LocalRunner,
    cache: CacheDir,
    /// The preprocessed copy of the app, kept while the context lives.
    _app_copy: Option<Arc<tempfile::TempDir>>,
}

impl LocalRunner {
    /// Builds, checks the outcome against [`BuildConfig::expected_pack_result`], and calls `f`
    /// (libcnb-test's `TestRunner::build`).
    ///
    /// # Panics
    /// When the outcome is not the expected one (with the build output), as libcnb-test does.
    pub fn build<C: Borrow<BuildConfig>, F: FnOnce(TestContext<'_>)>(&self, config: C, f: F) {
        self.build_with_cache(config.borrow().clone(), None, f);
    }

    fn build_with_cache<F: FnOnce(TestContext<'_>)>(
        &self,
        config: BuildConfig,
        cache: Option<CacheDir>,
        f: F,
    ) {
        match self.run(config, cache) {
            Ok(context) => {
                assert!(
                    context.config.expected_pack_result != PackResult::Failure,
                    "the build succeeded, but failure was expected:\n{}",
                    context.pack_stdout
                );
                f(context);
            }
            Err(failure) => {
                let BuildFailure {
                    config,
                    error,
                    partial,
                } = *failure;
                assert!(
                    config.expected_pack_result != PackResult::Success,
                    "the build failed, but success was expected: {error}"
                );
                f(partial.unwrap_or_else(|| panic!("the build could not run: {error}")));
            }
        }
    }

    /// Builds and returns the context, or the error.
    ///
    /// # Errors
    /// When resolving the buildpacks or the build fails.
    pub fn try_build<C: Borrow<BuildConfig>>(
        &self,
        config: C,
    ) -> Result<TestContext<'_>, EngineError> {
        self.run(config.borrow().clone(), None)
            .map_err(|failure| failure.error)
    }

    fn run(
        &self,
        config: BuildConfig,
        cache: Option<CacheDir>,
    ) -> Result<TestContext<'_>, Box<BuildFailure<'_>>> {
        let fail = |config: BuildConfig, error: EngineError| {
            Box::new(BuildFailure {
                config,
                error,
                partial: None,
            })
        };
        let cache = match (cache, &config.cache_dir) {
            (Some(cache), _) => cache,
            (None, Some(dir)) => CacheDir::Given(dir.clone()),
            (None, None) => match TempCache::new() {
                Ok(dir) => CacheDir::Temp(Arc::new(dir)),
                Err(error) => {
                    return Err(fail(
                        config,
                        EngineError::io("cannot create a temporary cache directory")(error),
                    ));
                }
            },
        };
        let order =
            match packaging::resolve_order_for(&config.buildpacks, config.target_triple.as_deref())
            {
                Ok(order) => order,
                Err(error) => return Err(fail(config, error)),
            };
        let app_copy = match preprocess_app(&config) {
            Ok(copy) => copy.map(Arc::new),
            Err(error) => return Err(fail(config, error)),
        };
        let request = BuildRequest {
            app_dir: app_copy
                .as_ref()
                .map_or_else(|| config.app_dir.clone(), |copy| copy.path().to_path_buf()),
            order,
            exec_env: config.exec_env.clone(),
            platform_env: config.platform_env.clone(),
            cache_dir: cache.path().to_path_buf(),
            // Inside the cache directory, at a stable path: buildpacks write absolute layer
            // paths into env files, which must stay valid in the next build that restores
            // those layers (as `/layers` is stable in a real build).
            output_dir: cache.path().join("image"),
            target: config.target.clone().unwrap_or_else(Target::host),
            progress: config.progress,
            previous_image: config.previous_image,
        };
        let watch = BuildWatch::start(&build_label(&config));
        let result = run_build(config.engine, &request);
        watch.finish(result.is_ok());
        match result {
            Ok(report) => {
                let log = report.output();
                Ok(TestContext {
                    pack_stdout: log.clone(),
                    pack_stderr: log,
                    report,
                    config,
                    runner: self,
                    cache,
                    _app_copy: app_copy,
                })
            }
            Err(error) => {
                let partial = error.output().map(|output| {
                    let log = format!("{output}\n{error}");
                    TestContext {
                        pack_stdout: log.clone(),
                        pack_stderr: log,
                        report: BuildReport::failed(
                            config.engine.resolve(),
                            config.exec_env.clone(),
                            request.output_dir.clone(),
                        ),
                        config: config.clone(),
                        runner: self,
                        cache: cache.clone(),
                        _app_copy: app_copy.clone(),
                    }
                });
                Err(Box::new(BuildFailure {
                    config,
                    error,
                    partial,
                }))
            }
        }
    }
}

/// A fresh copy of the app with the config's preprocessor run on it (none without one).
fn preprocess_app(config: &BuildConfig) -> Result<Option<tempfile::TempDir>, EngineError> {
    let Some(preprocessor) = &config.app_dir_preprocessor else {
        return Ok(None);
    };
    if !config.app_dir.is_dir() {
        return Err(EngineError::MissingAppDir(config.app_dir.clone()));
    }
    let copy = tempfile::Builder::new()
        .prefix("cnb-app.")
        .tempdir()
        .map_err(EngineError::io(
            "cannot create a directory for the app's copy",
        ))?;
    crate::platform::tree::copy_dir(&config.app_dir, copy.path(), &[]).map_err(EngineError::io(
        format!(
            "cannot copy the app {} to {}",
            config.app_dir.display(),
            copy.path().display()
        ),
    ))?;
    preprocessor(copy.path().to_path_buf());
    Ok(Some(copy))
}

/// What a slow build's progress lines call it: app, environment, engine.
fn build_label(config: &BuildConfig) -> String {
    let app = config.app_dir.file_name().map_or_else(
        || config.app_dir.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    format!(
        "{app} ({}, {} engine)",
        config.exec_env,
        config.engine.resolve()
    )
}

/// A build that did not succeed.
struct BuildFailure<'a> {
    config: BuildConfig,
    error: EngineError,
    partial: Option<TestContext<'a>>,
}

impl TestContext<'_> {
    /// The layer `name` of buildpack `buildpack_id`.
    #[must_use]
    pub fn layer(&self, buildpack_id: &str, name: &str) -> Option<&LayerReport> {
        self.report.layer(buildpack_id, name)
    }

    /// The process types eligible in this build's environment.
    #[must_use]
    pub fn processes_eligible(&self) -> Vec<String> {
        self.report.processes_eligible(&self.config.exec_env)
    }

    /// The exported image stand-in: `<cache dir>/image` (the image of the latest build with
    /// this cache directory; a [`TestContext::rebuild`] replaces it).
    #[must_use]
    pub fn image_dir(&self) -> &Path {
        &self.report.image_dir
    }

    /// The cache directory (shared by [`TestContext::rebuild`]).
    #[must_use]
    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    /// Launches a process of the image.
    ///
    /// # Panics
    /// When the launch cannot happen (unknown process, not eligible, ...): use
    /// [`TestContext::try_launch`] to see the error.
    #[must_use]
    pub fn launch(&self, config: LaunchConfig) -> LaunchResult {
        self.try_launch(config)
            .unwrap_or_else(|error| panic!("launch failed: {error}"))
    }

    /// Launches a process of the image.
    ///
    /// # Errors
    /// Unknown process, no default, not eligible in the launch's environment, I/O.
    pub fn try_launch(&self, config: LaunchConfig) -> Result<LaunchResult, EngineError> {
        let request = LaunchRequest {
            image_dir: self.report.image_dir.clone(),
            process: config.process,
            exec_env: config.exec_env,
            env: config.env,
            args: config.args,
            timeout: config.timeout,
            user_command: false,
        };
        run_launch(self.engine(), &request)
    }

    /// The engine that built the image.
    fn engine(&self) -> Engine {
        match self.report.engine {
            crate::EngineKind::Lifecycle => Engine::Lifecycle,
            crate::EngineKind::Pack => Engine::Pack,
            crate::EngineKind::Builtin => Engine::Builtin,
        }
    }

    /// Runs `command` with bash in the image's launch environment, as libcnb-test does with
    /// `docker run --entrypoint launcher <image> <command>`: the layers' env and `PATH`, the app
    /// directory as working directory, `CNB_EXEC_ENV` the build's environment. The built-in and
    /// lifecycle engines run it on the host; the pack engine in a container of the image.
    ///
    /// ```no_run
    /// use libcnb_exec_env_test::{assert_contains, BuildConfig, LocalRunner};
    ///
    /// LocalRunner::default().build(BuildConfig::new("tests/fixtures/app"), |context| {
    ///     let output = context.run_shell_command("node --version");
    ///     assert_contains!(output.stdout, "v22.");
    /// });
    /// ```
    ///
    /// # Panics
    /// When the command cannot run or exits non-zero (with its output), as libcnb-test does:
    /// use [`TestContext::try_run_shell_command`] to look at a failing command.
    #[must_use]
    pub fn run_shell_command(&self, command: impl Into<String>) -> LogOutput {
        let command = command.into();
        match self.try_run_shell_command(command.as_str()) {
            Ok(output) if output.exit_code == Some(0) => output,
            Ok(output) => panic!("the shell command {command:?} failed:\n{output}"),
            Err(error) => panic!("the shell command {command:?} could not run: {error}"),
        }
    }

    /// [`TestContext::run_shell_command`] without the panics: a command that ran is `Ok`,
    /// whatever its exit code.
    ///
    /// # Errors
    /// The command could not run (no image, engine unavailable, I/O).
    pub fn try_run_shell_command(
        &self,
        command: impl Into<String>,
    ) -> Result<LogOutput, EngineError> {
        let request = LaunchRequest {
            image_dir: self.report.image_dir.clone(),
            process: None,
            exec_env: Some(self.config.exec_env.clone()),
            env: BTreeMap::new(),
            args: Some(vec![command.into()]),
            timeout: None,
            user_command: true,
        };
        let result = run_launch(self.engine(), &request)?;
        Ok(LogOutput {
            stdout: result.stdout,
            stderr: result.stderr,
            exit_code: result.exit_code,
        })
    }

    /// Starts a process of the image in the background and calls `f` with it; the process (its
    /// whole process group, or the pack engine's container) is ended when `f` returns or
    /// panics. libcnb-test's `start_container`; see [`crate::container`] for the port rule of
    /// local processes. The launch's `CNB_EXEC_ENV` is the build's unless the config sets one.
    ///
    /// ```no_run
    /// use libcnb_exec_env_test::{BuildConfig, ContainerConfig, LocalRunner};
    ///
    /// LocalRunner::default().build(BuildConfig::new("tests/fixtures/app"), |context| {
    ///     context.start_container(ContainerConfig::new().expose_port(8080), |container| {
    ///         let address = container.address_for_port(8080);
    ///         // ... an HTTP request to `address`
    ///     });
    /// });
    /// ```
    ///
    /// # Panics
    /// When the process cannot be started (unknown process, not eligible, ...): use
    /// [`TestContext::try_start_container`] to see the error.
    pub fn start_container<C: Borrow<ContainerConfig>, F: FnOnce(ContainerContext)>(
        &self,
        config: C,
        f: F,
    ) {
        let container = self
            .try_start_container(config)
            .unwrap_or_else(|error| panic!("start_container failed: {error}"));
        f(container);
    }

    /// Starts a process of the image in the background; it ends when the returned context is
    /// dropped.
    ///
    /// # Errors
    /// See [`ContainerError`].
    pub fn try_start_container<C: Borrow<ContainerConfig>>(
        &self,
        config: C,
    ) -> Result<ContainerContext, ContainerError> {
        let (request, ports) = config
            .borrow()
            .request(self.report.image_dir.clone(), self.config.exec_env.clone())?;
        ContainerContext::start(self.engine(), request, ports)
    }

    /// Builds again with the same cache directory (libcnb-test's `rebuild`; the context stays
    /// usable afterwards).
    ///
    /// # Panics
    /// As [`LocalRunner::build`].
    pub fn rebuild<C: Borrow<BuildConfig>, F: FnOnce(TestContext<'_>)>(&self, config: C, f: F) {
        self.runner
            .build_with_cache(config.borrow().clone(), Some(self.cache.clone()), f);
    }
}
