//! The test-facing API, in libcnb-test's vocabulary: [`LocalRunner`], [`BuildConfig`],
//! [`TestContext`].

use crate::engine::{BuildRequest, EngineError, LaunchRequest, LaunchResult, Progress, Target};
use crate::platform::build_watch::BuildWatch;
use crate::results::{BuildReport, LayerReport};
use crate::{packaging, run_build, run_launch};
use libcnb_exec_env::ExecEnv;
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

/// A buildpack to build with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildpackReference {
    /// The buildpack crate whose tests are running (`CARGO_MANIFEST_DIR`), packaged.
    CurrentCrate,
    /// A buildpack of this Cargo workspace, by buildpack id, packaged.
    WorkspaceBuildpack(String),
    /// An already packaged buildpack directory (`buildpack.toml`, `bin/detect`, `bin/build`).
    Packaged(PathBuf),
}

/// What to build and how.
///
/// ```no_run
/// use libcnb_exec_env::ExecEnv;
/// use libcnb_exec_env_test::{BuildConfig, BuildpackReference, Engine};
///
/// let config = BuildConfig::new("tests/fixtures/app")
///     .buildpacks([BuildpackReference::Packaged("tests/fixtures/bp".into())])
///     .exec_env(ExecEnv::Test)
///     .engine(Engine::Builtin)
///     .platform_env("KEY", "value");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct BuildConfig {
    pub(crate) app_dir: PathBuf,
    pub(crate) buildpacks: Vec<BuildpackReference>,
    pub(crate) exec_env: ExecEnv,
    pub(crate) engine: Engine,
    pub(crate) platform_env: BTreeMap<String, String>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) expected_pack_result: PackResult,
    pub(crate) target: Option<Target>,
    pub(crate) progress: Progress,
    pub(crate) previous_image: bool,
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
    /// current crate's buildpack, in `production`, on [`Engine::Auto`].
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
            progress: Progress::Quiet,
            previous_image: true,
        }
    }

    /// The buildpacks, in order (one group, all required; a composite brings its own order).
    pub fn buildpacks(mut self, buildpacks: impl IntoIterator<Item = BuildpackReference>) -> Self {
        self.buildpacks = buildpacks.into_iter().collect();
        self
    }

    /// The execution environment, like `pack build --exec-env`.
    pub fn exec_env(mut self, exec_env: ExecEnv) -> Self {
        self.exec_env = exec_env;
        self
    }

    /// The engine.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = engine;
        self
    }

    /// A platform env var (`<platform>/env/<key>`), like `pack build --env`.
    pub fn platform_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.platform_env.insert(key.into(), value.into());
        self
    }

    /// The cache directory (default: a fresh temporary one, kept for [`TestContext::rebuild`]).
    pub fn cache_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cache_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The expected outcome (default [`PackResult::Success`]).
    pub fn expected_pack_result(mut self, result: PackResult) -> Self {
        self.expected_pack_result = result;
        self
    }

    /// The build target (default: this machine).
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Builds without the previous image (like `pack build` of a new image name), keeping the
    /// cache: no layer metadata comes back from an earlier image, cached layers still do.
    pub fn without_previous_image(mut self) -> Self {
        self.previous_image = false;
        self
    }

    /// Streams progress to stderr while building.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The app directory, resolved.
    #[must_use]
    pub fn app_dir(&self) -> &Path {
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

/// A finished build, given to the test closure.
#[derive(Debug)]
pub struct TestContext<'a> {
    /// Every phase's output.
    pub build_output: String,
    /// What the build did.
    pub report: BuildReport,
    /// The configuration it ran with.
    pub config: BuildConfig,
    runner: &'a LocalRunner,
    cache: CacheDir,
}

impl LocalRunner {
    /// Builds, checks the outcome against [`BuildConfig::expected_pack_result`], and calls `f`.
    ///
    /// # Panics
    /// When the outcome is not the expected one (with the build output), as libcnb-test does.
    pub fn build<F: FnOnce(TestContext<'_>)>(&self, config: BuildConfig, f: F) {
        self.build_with_cache(config, None, f);
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
                    context.build_output
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
    pub fn try_build(&self, config: BuildConfig) -> Result<TestContext<'_>, EngineError> {
        self.run(config, None).map_err(|failure| failure.error)
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
        let order = match packaging::resolve_order(&config.buildpacks) {
            Ok(order) => order,
            Err(error) => return Err(fail(config, error)),
        };
        let request = BuildRequest {
            app_dir: config.app_dir.clone(),
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
            Ok(report) => Ok(TestContext {
                build_output: report.output(),
                report,
                config,
                runner: self,
                cache,
            }),
            Err(error) => {
                let partial = error.output().map(|output| TestContext {
                    build_output: format!("{output}\n{error}"),
                    report: BuildReport::failed(
                        config.engine.resolve(),
                        config.exec_env.clone(),
                        request.output_dir.clone(),
                    ),
                    config: config.clone(),
                    runner: self,
                    cache: cache.clone(),
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
        };
        let engine = match self.report.engine {
            crate::EngineKind::Lifecycle => Engine::Lifecycle,
            crate::EngineKind::Pack => Engine::Pack,
            crate::EngineKind::Builtin => Engine::Builtin,
        };
        run_launch(engine, &request)
    }

    /// Builds again with the same cache directory.
    ///
    /// # Panics
    /// As [`LocalRunner::build`].
    pub fn rebuild<F: FnOnce(TestContext<'_>)>(&self, config: BuildConfig, f: F) {
        self.runner
            .build_with_cache(config, Some(self.cache.clone()), f);
    }
}
