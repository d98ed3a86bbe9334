//! The real-lifecycle engine: drives the CNB lifecycle's own binaries (`lifecycle`, `launcher`,
//! v0.21.x, from `scripts/install-lifecycle.sh`) as plain processes on host directories, with
//! Platform API 0.15 and `CNB_EXEC_ENV`, as `pack build --exec-env <env>` (pack 0.40) would.
//!
//! Every phase runs for real: `analyze`, `detect`, `restore`, `build` and `export`, with a
//! directory cache (`-cache-dir`) and the exporter's OCI layout mode (`-layout`, experimental,
//! `CNB_EXPERIMENTAL_MODE=warn`) over a minimal run image the harness writes itself. The exported
//! image is unpacked into the image stand-in, and launches run the image's own
//! `/cnb/lifecycle/launcher` (through its `/cnb/process/<type>` links).
//!
//! Per cache directory, everything lives in `<cache>/lifecycle/`: `cache/` (the lifecycle's
//! cache), `layout/` (run image and the previous app image) and `work/` (`layers`, `workspace`,
//! `platform`, `buildpacks`), whose paths stay the same from build to build, as `/layers` and
//! `/workspace` do in a container: the lifecycle records absolute paths in its layer archives
//! and restores cached layers to them (`layers/extract.go`).
//!
//! See `docs/lifecycle-engine.md` for the setup and the lifecycle quirks.

mod oci;
pub(crate) mod report;
mod user;

use crate::engine::{BuildRequest, EngineError, LaunchRequest, LaunchResult, Progress};
use crate::results::{
    BuildReport, EngineKind, Phase, PhaseOutput, ProcessReport, TestReport, TestResultsFile,
};
use libcnb_exec_env::ExecEnv;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use user::{DEFAULT_USER, USER_ENV};

/// The lifecycle release the install script pins.
pub const LIFECYCLE_VERSION: &str = "v0.21.11";

/// The Platform API the phases run with (the first with `CNB_EXEC_ENV`).
pub const PLATFORM_API: &str = "0.15";

/// The environment variable naming the directory with the `lifecycle` and `launcher` binaries.
pub const DIR_ENV: &str = "CNB_LIFECYCLE_DIR";

/// Where the real lifecycle binaries are, when installed: `$CNB_LIFECYCLE_DIR`, else the install
/// script's default, `${XDG_CACHE_HOME:-$HOME/.cache}/libcnb-exec-env/lifecycle/<version>`
/// (version from `$CNB_LIFECYCLE_VERSION`, default [`LIFECYCLE_VERSION`]).
///
/// ```
/// // `None` unless `scripts/install-lifecycle.sh` (or CNB_LIFECYCLE_DIR) provides both binaries.
/// if let Some(dir) = libcnb_exec_env_test::lifecycle::locate() {
///     assert!(dir.join("lifecycle").is_file() && dir.join("launcher").is_file());
/// }
/// ```
#[must_use]
pub fn locate() -> Option<PathBuf> {
    let usable = |dir: &Path| {
        ["lifecycle", "launcher"]
            .iter()
            .all(|bin| dir.join(bin).is_file())
    };
    if let Some(dir) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return usable(&dir).then_some(dir);
    }
    let version =
        std::env::var("CNB_LIFECYCLE_VERSION").unwrap_or_else(|_| LIFECYCLE_VERSION.to_owned());
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    let dir = cache
        .join("libcnb-exec-env")
        .join("lifecycle")
        .join(version);
    usable(&dir).then_some(dir)
}

/// Whether the real lifecycle is installed (see [`locate`]).
#[must_use]
pub fn available() -> bool {
    locate().is_some()
}

fn unavailable(reason: impl Into<String>) -> EngineError {
    EngineError::Unavailable {
        engine: "lifecycle",
        reason: reason.into(),
    }
}

/// The paths of one cache directory's lifecycle state.
struct Dirs {
    root: PathBuf,
    cache: PathBuf,
    layout: PathBuf,
    home: PathBuf,
    work: PathBuf,
    layers: PathBuf,
    workspace: PathBuf,
    platform: PathBuf,
    buildpacks: PathBuf,
}

impl Dirs {
    fn new(cache_dir: &Path) -> Self {
        let root = cache_dir.join("lifecycle");
        let work = root.join("work");
        Self {
            cache: root.join("cache"),
            layout: root.join("layout"),
            home: root.join("home"),
            layers: work.join("layers"),
            workspace: work.join("workspace"),
            platform: work.join("platform"),
            buildpacks: work.join("buildpacks"),
            work,
            root,
        }
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> EngineError {
    EngineError::io(context)
}

fn mkdirs(path: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(path).map_err(io(format!("cannot create {}", path.display())))
}

/// Copies `from` into `to` (created), keeping modes and symlinks.
fn copy_tree(from: &Path, to: &Path) -> Result<(), EngineError> {
    crate::platform::tree::copy_dir(from, to, &[]).map_err(io(format!(
        "cannot copy {} to {}",
        from.display(),
        to.display()
    )))
}

fn remove_dir(path: &Path) -> Result<(), EngineError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io(format!("cannot remove {}", path.display()))(error)),
    }
}

/// The binaries, reachable by the user the phases run as: the installed ones, or (root dropping
/// to a user that cannot enter the install directory, e.g. under `/root`) copies in the system
/// temp directory, made once per installed build.
fn stage_binaries(bin_dir: &Path, user: &user::RunUser) -> Result<PathBuf, EngineError> {
    // Partial directories are unique per thread too: tests build in parallel threads.
    static STAGING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    if ["lifecycle", "launcher"]
        .iter()
        .all(|bin| user.can_reach(&bin_dir.join(bin)))
    {
        return Ok(bin_dir.to_path_buf());
    }
    let meta = std::fs::metadata(bin_dir.join("lifecycle"))
        .map_err(io(format!("cannot read {}", bin_dir.display())))?;
    let stamp = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let staged = std::env::temp_dir()
        .join("libcnb-exec-env-lifecycle")
        .join(format!("{}-{stamp}", meta.len()));
    if ["lifecycle", "launcher"]
        .iter()
        .all(|bin| staged.join(bin).is_file())
    {
        return Ok(staged);
    }
    let partial = staged.with_extension(format!(
        "partial-{}-{}",
        std::process::id(),
        STAGING.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    remove_dir(&partial)?;
    mkdirs(&partial)?;
    for bin in ["lifecycle", "launcher"] {
        std::fs::copy(bin_dir.join(bin), partial.join(bin)).map_err(io(format!(
            "cannot copy the lifecycle to {}",
            partial.display()
        )))?;
    }
    for dir in [staged.parent().unwrap_or(&staged), partial.as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(io(format!("cannot open {} to all", dir.display())))?;
    }
    if std::fs::rename(&partial, &staged).is_err() {
        // Another build staged it first.
        remove_dir(&partial)?;
    }
    Ok(staged)
}

/// One phase run: its combined output and exit code.
struct PhaseRun {
    output: String,
    code: Option<i32>,
}

/// Runs a command with stdout and stderr combined into one stream, optionally echoed.
fn run_combined(
    mut command: Command,
    progress: Progress,
    what: &str,
) -> Result<PhaseRun, EngineError> {
    const TEXT_FILE_BUSY: i32 = 26;
    let (reader, writer) = std::io::pipe().map_err(io(format!("cannot run {what}")))?;
    let writer2 = writer
        .try_clone()
        .map_err(io(format!("cannot run {what}")))?;
    command.stdin(Stdio::null()).stdout(writer).stderr(writer2);
    // ETXTBSY: a child forked by another thread while the binaries were being staged still
    // holds them open for writing until it execs; that passes within moments.
    let mut attempts = 0;
    let mut child = loop {
        match command.spawn() {
            Err(error) if error.raw_os_error() == Some(TEXT_FILE_BUSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            result => break result.map_err(io(format!("cannot start {what}")))?,
        }
    };
    drop(command);
    let mut output = String::new();
    let mut lines = std::io::BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = lines
            .read_until(b'\n', &mut buf)
            .map_err(io(format!("cannot read the output of {what}")))?;
        if read == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        if progress == Progress::Stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        output.push_str(&line);
    }
    let status = child
        .wait()
        .map_err(io(format!("cannot wait for {what}")))?;
    Ok(PhaseRun {
        output,
        code: status.code(),
    })
}

/// The lifecycle's inputs shared by every phase.
struct Runner<'a> {
    lifecycle: PathBuf,
    user: &'a user::RunUser,
    dirs: &'a Dirs,
    exec_env: &'a ExecEnv,
    progress: Progress,
    phases: Vec<PhaseOutput>,
    /// Lines put before the next phase's output (which engine runs, who runs it).
    intro: String,
}

impl Runner<'_> {
    fn phase(&mut self, phase: Phase, args: &[&str]) -> Result<PhaseRun, EngineError> {
        let mut command = Command::new(&self.lifecycle);
        command.arg(phase.to_string()).args(args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CNB_") {
                command.env_remove(key);
            }
        }
        command
            .env("CNB_PLATFORM_API", PLATFORM_API)
            .env("CNB_EXEC_ENV", self.exec_env.to_string())
            .env("CNB_EXPERIMENTAL_MODE", "warn")
            .env("CNB_NO_COLOR", "true")
            .current_dir(&self.dirs.work);
        self.user.apply(&mut command, &self.dirs.home);
        if self.progress == Progress::Stderr {
            eprintln!("===> {} (CNB lifecycle)", phase.to_string().to_uppercase());
        }
        let run = run_combined(
            command,
            self.progress,
            &format!("the lifecycle's {phase} phase"),
        )?;
        self.phases.push(PhaseOutput {
            phase,
            output: format!("{}{}", std::mem::take(&mut self.intro), run.output),
            success: run.code == Some(0),
        });
        Ok(run)
    }

    fn output(&self) -> String {
        let mut text = String::new();
        for phase in &self.phases {
            let _ = write!(
                text,
                "===> {}\n{}",
                phase.phase.to_string().to_uppercase(),
                phase.output
            );
        }
        text
    }

    fn failed(&self, phase: Phase, run: &PhaseRun) -> EngineError {
        EngineError::PhaseFailed {
            phase: phase.to_string(),
            code: run
                .code
                .map_or_else(|| "a signal".to_owned(), |code| code.to_string()),
            output: self.output(),
        }
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

/// What [`prepare`] set up.
struct Prepared {
    bins: PathBuf,
    order_path: PathBuf,
    run_toml: PathBuf,
    layout_dir: PathBuf,
}

/// Lays out a fresh work directory (app copy, buildpacks, platform env, `order.toml`), the run
/// image and `run.toml`, and gives it all to the user the phases run as.
fn prepare(
    request: &BuildRequest,
    dirs: &Dirs,
    user: &user::RunUser,
    bin_dir: &Path,
) -> Result<Prepared, EngineError> {
    let bin_dir = bin_dir.to_path_buf();
    let bins = stage_binaries(&bin_dir, user)?;
    remove_dir(&dirs.work)?;
    for dir in [
        &dirs.cache,
        &dirs.layout,
        &dirs.home,
        &dirs.layers,
        &dirs.platform,
        &dirs.buildpacks,
    ] {
        mkdirs(dir)?;
    }
    copy_tree(&request.app_dir, &dirs.workspace)?;
    let env_dir = dirs.platform.join("env");
    mkdirs(&env_dir)?;
    for (key, value) in &request.platform_env {
        let path = env_dir.join(key);
        std::fs::write(&path, value).map_err(io(format!("cannot write {}", path.display())))?;
    }
    let mut order_toml = String::new();
    for group in &request.order {
        order_toml.push_str("[[order]]\n");
        for entry in group {
            let bp = &entry.buildpack;
            let dest = dirs
                .buildpacks
                .join(report::escape_id(&bp.id))
                .join(&bp.version);
            if !dest.exists() {
                copy_tree(&bp.dir, &dest)?;
            }
            let _ = write!(
                order_toml,
                "[[order.group]]\nid = {}\nversion = {}\noptional = {}\n",
                toml::Value::from(bp.id.as_str()),
                toml::Value::from(bp.version.as_str()),
                entry.optional
            );
        }
    }
    let order_path = dirs.work.join("order.toml");
    std::fs::write(&order_path, order_toml)
        .map_err(io(format!("cannot write {}", order_path.display())))?;
    let run_toml = dirs.work.join("run.toml");
    std::fs::write(
        &run_toml,
        format!("[[images]]\nimage = \"{}\"\n", oci::RUN_IMAGE),
    )
    .map_err(io(format!("cannot write {}", run_toml.display())))?;
    let path_var = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    oci::write_run_image(&dirs.layout, &request.target, user.uid, user.gid, &path_var)?;
    user.ensure_traversable(&dirs.root)?;
    user.own(&dirs.root)?;
    let layout_dir = layout_link(&dirs.layout)?;
    Ok(Prepared {
        bins,
        order_path,
        run_toml,
        layout_dir,
    })
}

/// The lifecycle engine: the real CNB lifecycle's phases as plain processes (see the module).
#[derive(Clone, Copy, Debug, Default)]
pub struct LifecycleEngine;

impl crate::engine::BuildEngine for LifecycleEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Lifecycle
    }

    fn build(&self, request: &BuildRequest) -> Result<BuildReport, EngineError> {
        build(request)
    }

    fn launch(&self, request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
        launch(request)
    }
}

/// Runs a build with the real lifecycle: one phase after the other, as pack runs them.
///
/// # Errors
/// The lifecycle is not installed; no group passes detection; a buildpack fails; a phase fails;
/// I/O.
#[allow(clippy::too_many_lines)] // the five phases in a row, each with its flags
pub fn build(request: &BuildRequest) -> Result<BuildReport, EngineError> {
    let started = Instant::now();
    let bin_dir = locate().ok_or_else(|| {
        unavailable(format!(
            "no lifecycle binaries: run scripts/install-lifecycle.sh, or set {DIR_ENV} to a directory with `lifecycle` and `launcher`"
        ))
    })?;
    if !request.app_dir.is_dir() {
        return Err(EngineError::MissingAppDir(request.app_dir.clone()));
    }
    let user = user::RunUser::resolve()?;
    let dirs = Dirs::new(&request.cache_dir);
    mkdirs(&dirs.root)?;
    // The same lock as the built-in engine's (`<cache>/.lock`): builds sharing a cache
    // directory serialize whichever engine runs them (both write `<cache>/image`), and a build
    // that waits too long fails naming the holder.
    let mut lock_log = crate::platform::log::Log::new(request.progress);
    let lock = crate::platform::cache_lock::CacheLock::acquire(&request.cache_dir, &mut lock_log)?;

    let Prepared {
        bins,
        order_path,
        run_toml,
        layout_dir,
    } = prepare(request, &dirs, &user, &bin_dir)?;
    if !request.previous_image {
        // As for a new image name: the analyzer finds no previous app image (the cache stays).
        remove_dir(&oci::layout_path(&dirs.layout, oci::APP_IMAGE))?;
    }

    let mut runner = Runner {
        lifecycle: bins.join("lifecycle"),
        user: &user,
        dirs: &dirs,
        exec_env: &request.exec_env,
        progress: request.progress,
        phases: Vec::new(),
        intro: String::new(),
    };
    let mut intro = format!(
        "Engine: the real CNB lifecycle ({}), Platform API {PLATFORM_API}, CNB_EXEC_ENV={}, phases run as uid {}\n",
        bin_dir.display(),
        request.exec_env,
        user.uid
    );
    if let Some(note) = &user.note {
        let _ = writeln!(intro, "{note}");
    }
    if request.progress == Progress::Stderr {
        eprint!("{intro}");
    }
    intro.insert_str(0, &lock_log.take());
    runner.intro = intro;
    let (uid, gid) = (user.uid.to_string(), user.gid.to_string());
    let analyzed = dirs.layers.join("analyzed.toml");
    let group = dirs.layers.join("group.toml");
    let plan = dirs.layers.join("plan.toml");
    let launcher = bins.join("launcher");

    let run = runner.phase(
        Phase::Analyze,
        &[
            "-layers",
            path_str(&dirs.layers),
            "-analyzed",
            path_str(&analyzed),
            "-run",
            path_str(&run_toml),
            "-run-image",
            oci::RUN_IMAGE,
            "-layout",
            "-layout-dir",
            path_str(&layout_dir),
            "-uid",
            &uid,
            "-gid",
            &gid,
            oci::APP_IMAGE,
        ],
    )?;
    if run.code != Some(0) {
        return Err(runner.failed(Phase::Analyze, &run));
    }

    let run = runner.phase(
        Phase::Detect,
        &[
            "-log-level",
            "debug",
            "-app",
            path_str(&dirs.workspace),
            "-buildpacks",
            path_str(&dirs.buildpacks),
            "-layers",
            path_str(&dirs.layers),
            "-order",
            path_str(&order_path),
            "-platform",
            path_str(&dirs.platform),
            "-analyzed",
            path_str(&analyzed),
            "-group",
            path_str(&group),
            "-plan",
            path_str(&plan),
        ],
    )?;
    let detect = report::detect_reports(&request.order, &run.output);
    // 20: no group passed, 21: and a buildpack errored (`platform/exit.go`); anything else is
    // the detector failing on its own (e.g. an unreadable buildpack.toml).
    if !matches!(run.code, Some(0 | 20 | 21)) {
        return Err(runner.failed(Phase::Detect, &run));
    }
    if run.code != Some(0) {
        let details = detect
            .iter()
            .map(|d| format!("{}@{}: {:?}", d.buildpack_id, d.version, d.outcome))
            .collect::<Vec<_>>()
            .join("\n");
        let code = run.code.unwrap_or(20);
        return Err(EngineError::DetectFailed {
            exec_env: request.exec_env.clone(),
            errored: code == 21,
            details: format!("{details}\n(the lifecycle's detector exited with {code})"),
            output: runner.output(),
        });
    }
    let group_ids = report::group_ids(&group)?;

    let run = runner.phase(
        Phase::Restore,
        &[
            "-log-level",
            "debug",
            "-layers",
            path_str(&dirs.layers),
            "-analyzed",
            path_str(&analyzed),
            "-group",
            path_str(&group),
            "-cache-dir",
            path_str(&dirs.cache),
            "-layout",
            "-layout-dir",
            path_str(&layout_dir),
            "-uid",
            &uid,
            "-gid",
            &gid,
        ],
    )?;
    if run.code != Some(0) {
        return Err(runner.failed(Phase::Restore, &run));
    }
    let restored: BTreeMap<String, report::Restored> = group_ids
        .iter()
        .map(|id| {
            (
                id.clone(),
                report::restored_layers(&dirs.layers.join(report::escape_id(id))),
            )
        })
        .collect();

    let run = runner.phase(
        Phase::Build,
        &[
            "-log-level",
            "debug",
            "-app",
            path_str(&dirs.workspace),
            "-buildpacks",
            path_str(&dirs.buildpacks),
            "-layers",
            path_str(&dirs.layers),
            "-platform",
            path_str(&dirs.platform),
            "-analyzed",
            path_str(&analyzed),
            "-group",
            path_str(&group),
            "-plan",
            path_str(&plan),
        ],
    )?;
    if run.code != Some(0) {
        return Err(build_failure(&run, runner.output(), &dirs.layers));
    }
    let mut layers = Vec::new();
    for id in &group_ids {
        let empty = report::Restored::new();
        layers.extend(report::final_layers(
            id,
            &dirs.layers.join(report::escape_id(id)),
            restored.get(id).unwrap_or(&empty),
            &request.exec_env,
        )?);
    }

    let run = runner.phase(
        Phase::Export,
        &[
            "-app",
            path_str(&dirs.workspace),
            "-layers",
            path_str(&dirs.layers),
            "-analyzed",
            path_str(&analyzed),
            "-group",
            path_str(&group),
            "-cache-dir",
            path_str(&dirs.cache),
            "-layout",
            "-layout-dir",
            path_str(&layout_dir),
            "-launcher",
            path_str(&launcher),
            "-run",
            path_str(&run_toml),
            "-uid",
            &uid,
            "-gid",
            &gid,
            oci::APP_IMAGE,
        ],
    )?;
    if run.code != Some(0) {
        return Err(runner.failed(Phase::Export, &run));
    }

    let plan = report::plan_entries(&plan)?;
    let image = oci::LayoutImage::read(&oci::layout_path(&dirs.layout, oci::APP_IMAGE))?;
    // The image at the build paths, in place of the build's state, as a container sees it...
    let image_id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    for dir in [&dirs.layers, &dirs.workspace, &dirs.work.join("cnb")] {
        remove_dir(dir)?;
    }
    image.unpack(&image_moves(&dirs.layers, &dirs.workspace, &dirs.work))?;
    write_file(&dirs.work.join(IMAGE_ID_FILE), &image_id)?;
    user.own(&dirs.work)?;
    // ...and in the stand-in, which outlives the next build with this cache.
    let out = &request.output_dir;
    remove_dir(out)?;
    mkdirs(out)?;
    image.unpack(&image_moves(&dirs.layers, &dirs.workspace, out))?;
    let meta_dir = out.join(IMAGE_META_DIR);
    mkdirs(&meta_dir)?;
    let config_path = meta_dir.join("config.json");
    std::fs::write(&config_path, image.config.to_string())
        .map_err(io(format!("cannot write {}", config_path.display())))?;
    let paths_path = meta_dir.join("paths.json");
    std::fs::write(
        &paths_path,
        serde_json::json!({ "layers": dirs.layers, "app": dirs.workspace }).to_string(),
    )
    .map_err(io(format!("cannot write {}", paths_path.display())))?;
    write_file(&meta_dir.join(IMAGE_ID_FILE), &image_id)?;
    user.own(out)?;
    user.ensure_traversable(out)?;

    let labels = image.labels();
    let default_process = default_process_of(&image.entrypoint());
    let processes = report::processes(
        labels
            .get("io.buildpacks.build.metadata")
            .map_or("{}", String::as_str),
        default_process.as_deref(),
        &image.root,
    )?;
    drop(lock);
    Ok(BuildReport {
        engine: EngineKind::Lifecycle,
        exec_env: request.exec_env.clone(),
        detect,
        group: group_ids,
        plan,
        layers,
        processes,
        default_process,
        labels,
        phases: runner.phases,
        image_dir: out.clone(),
        duration: started.elapsed(),
    })
}

/// A path for the layout directory that the lifecycle can parse as part of an image reference.
///
/// The analyzer records the run image as `<layout-dir>/index.docker.io/...@sha256:...` and the
/// exporter parses that back as a Docker reference (`cmd/lifecycle/exporter.go`,
/// `layout.ParseIdentifier`): every path component must be lowercase letters, digits and
/// single `.`/`_`/`-` separators, which temporary directories (`/tmp/.tmpAbC12`) are not. So the
/// lifecycle is given a link with such a name, in the system temp directory
/// (`libcnb-exec-env-layouts-<uid>/<hash>`), to the layout directory kept in the cache.
fn layout_link(layout: &Path) -> Result<PathBuf, EngineError> {
    use sha2::Digest;
    if reference_safe(layout) {
        return Ok(layout.to_path_buf());
    }
    let temp = std::env::temp_dir();
    let base = if reference_safe(&temp) {
        temp
    } else {
        PathBuf::from("/tmp")
    };
    // One directory per user: another user's cannot be written to.
    let links = base.join(format!("libcnb-exec-env-layouts-{}", user::current_uid()));
    mkdirs(&links)?;
    let digest = sha2::Sha256::digest(layout.as_os_str().as_encoded_bytes());
    let name = digest.iter().take(12).fold(String::new(), |mut name, b| {
        let _ = write!(name, "{b:02x}");
        name
    });
    let link = links.join(name);
    if std::fs::read_link(&link).ok().as_deref() != Some(layout) {
        let partial = links.join(format!(".partial-{}", std::process::id()));
        let _ = std::fs::remove_file(&partial);
        std::os::unix::fs::symlink(layout, &partial)
            .map_err(io(format!("cannot link {}", partial.display())))?;
        std::fs::rename(&partial, &link).map_err(io(format!("cannot link {}", link.display())))?;
    }
    Ok(link)
}

/// Whether every component of `path` is a valid Docker reference path component.
fn reference_safe(path: &Path) -> bool {
    path.components().all(|component| match component {
        std::path::Component::RootDir => true,
        std::path::Component::Normal(name) => name.to_str().is_some_and(|name| {
            let bytes = name.as_bytes();
            let ends_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
                && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
            let chars_ok = bytes.iter().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
            // Separators between alphanumerics: `.`, `_`, `__`, or a run of `-`.
            let separators_ok = name
                .split(|c: char| c.is_ascii_alphanumeric())
                .filter(|run| !run.is_empty())
                .all(|run| matches!(run, "." | "_" | "__") || run.bytes().all(|b| b == b'-'));
            ends_ok && chars_ok && separators_ok
        }),
        _ => false,
    })
}

/// A failed builder run, as what it is:
///
/// - a buildpack's `bin/build` failed (the builder says `exit status <n>`, and exits 51):
///   [`EngineError::BuildpackFailed`] with the buildpack's exit code;
/// - `bin/build` succeeded but the builder refused what it wrote (exit 52, `BuildError`): a
///   `<layer>.toml`, `launch.toml` or `build.toml` it could not decode. The builder's error does
///   not always name the file (a TOML type error does not), so the buildpack's files are checked
///   in the builder's order to name it: [`EngineError::InvalidBuildpackOutput`], its reason
///   ending with the builder's own error;
/// - anything else: [`EngineError::PhaseFailed`] for the `build` phase, with its exit code.
fn build_failure(run: &PhaseRun, output: String, layers: &Path) -> EngineError {
    let buildpack_id = run
        .output
        .lines()
        .filter_map(|line| line.strip_prefix("Running build for buildpack "))
        .next_back()
        .map(|el| el.rsplit_once('@').map_or(el, |(id, _)| id).to_owned());
    let bin_build_code = run.output.lines().rev().find_map(|line| {
        line.split_once("exit status ")
            .map(|(_, code)| code.trim().to_owned())
    });
    if let (Some(buildpack_id), Some(code)) = (&buildpack_id, bin_build_code) {
        return EngineError::BuildpackFailed {
            buildpack_id: buildpack_id.clone(),
            code,
            output,
        };
    }
    let phase_code = run
        .code
        .map_or_else(|| "a signal".to_owned(), |code| code.to_string());
    let lifecycle_error = run
        .output
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("ERROR: "))
        .unwrap_or("(no error message)");
    if let Some(buildpack_id) = buildpack_id
        && let Some((path, reason)) = invalid_output(
            &layers.join(report::escape_id(&buildpack_id)),
            lifecycle_error,
        )
    {
        return EngineError::InvalidBuildpackOutput {
            buildpack_id,
            path,
            reason: format!(
                "{reason} (the lifecycle's builder exited with {phase_code}: {lifecycle_error})"
            ),
        };
    }
    EngineError::PhaseFailed {
        phase: Phase::Build.to_string(),
        code: phase_code,
        output,
    }
}

/// The first file of a buildpack's output the builder cannot decode, in the order it reads
/// them (`buildpack/build.go`: `eachLayer` decodes every `*.toml` by file name as layer
/// metadata, `launch.toml` and `build.toml` included; then it reads `launch.toml` and
/// `build.toml` for what they are), and why. A `launch.toml` that parses is blamed only when the builder's error
/// speaks of TOML or processes (`multiple default process types aren't allowed`).
fn invalid_output(bp_layers: &Path, lifecycle_error: &str) -> Option<(PathBuf, String)> {
    let mut files: Vec<String> = std::fs::read_dir(bp_layers)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_dir()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        // `eachLayer` decodes every `*.toml`, launch.toml and build.toml included.
        .filter(|name| Path::new(name).extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    for name in files {
        let path = bp_layers.join(&name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let reason = match toml::from_str::<toml::Table>(&text) {
            Err(error) => error.message().trim().to_owned(),
            Ok(table) => match crate::platform::layer_toml::layer_types(&table) {
                Err(reason) => reason,
                Ok(_) => continue,
            },
        };
        return Some((path, reason));
    }
    for file in ["launch.toml", "build.toml"] {
        let path = bp_layers.join(file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let reason = match toml::from_str::<toml::Table>(&text) {
            Err(error) => error.message().trim().to_owned(),
            Ok(_)
                if file == "launch.toml"
                    && (lifecycle_error.contains("toml")
                        || lifecycle_error.contains("process")) =>
            {
                "the builder refused it".to_owned()
            }
            Ok(_) => continue,
        };
        return Some((path, reason));
    }
    None
}

/// Path prefixes of the image mapped to directories on this machine.
type Moves = Vec<(PathBuf, PathBuf)>;

/// Names the image unpacked in the work directory and in a stand-in.
const IMAGE_ID_FILE: &str = "image-id";

fn write_file(path: &Path, content: &str) -> Result<(), EngineError> {
    std::fs::write(path, content).map_err(io(format!("cannot write {}", path.display())))
}

/// Where the stand-in keeps what the launch needs from the image (its config, the build paths).
const IMAGE_META_DIR: &str = ".cnb-lifecycle-image";

fn image_moves(layers: &Path, workspace: &Path, out: &Path) -> Vec<(PathBuf, PathBuf)> {
    vec![
        (layers.to_path_buf(), out.join("layers")),
        (workspace.to_path_buf(), out.join("workspace")),
        (PathBuf::from("/cnb"), out.join("cnb")),
    ]
}

/// The default process type: the exporter points the entrypoint at `/cnb/process/<type>`
/// (`phase/exporter.go`), or at the bare launcher when there is none.
fn default_process_of(entrypoint: &[String]) -> Option<String> {
    entrypoint
        .first()
        .and_then(|e| e.strip_prefix("/cnb/process/"))
        .map(str::to_owned)
}

/// The image config, and where a launch finds the image's files: always at the build paths
/// themselves (as in a container, absolute paths written at build time stay valid). When the
/// work directory no longer holds this image (another build with the cache ran since, even a
/// failed one), the image is put back there from the stand-in first, under the cache's lock, so
/// every launch of an image runs in the same place. Returns the config, the path moves, and the
/// directory holding `cnb/`.
fn read_image_meta(
    out: &Path,
    user: &user::RunUser,
) -> Result<(serde_json::Value, Moves, PathBuf), EngineError> {
    let meta_dir = out.join(IMAGE_META_DIR);
    let read = |name: &str| -> Result<serde_json::Value, EngineError> {
        let path = meta_dir.join(name);
        let text = std::fs::read(&path).map_err(|error| EngineError::InvalidImage {
            path: path.clone(),
            reason: format!("not an image exported by the lifecycle engine ({error})"),
        })?;
        serde_json::from_slice(&text).map_err(|error| EngineError::InvalidImage {
            path: path.clone(),
            reason: error.to_string(),
        })
    };
    let config = read("config.json")?;
    let paths = read("paths.json")?;
    let layers_dir = PathBuf::from(paths["layers"].as_str().unwrap_or_default());
    let app_dir = PathBuf::from(paths["app"].as_str().unwrap_or_default());
    let image_id = std::fs::read_to_string(meta_dir.join(IMAGE_ID_FILE)).unwrap_or_default();
    let work = layers_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let in_place =
        || std::fs::read_to_string(work.join(IMAGE_ID_FILE)).is_ok_and(|id| id == image_id);
    if image_id.is_empty() || layers_dir.as_os_str().is_empty() {
        // Not written by this engine's build: run in the stand-in.
        let base = out.to_path_buf();
        return Ok((config, image_moves(&layers_dir, &app_dir, &base), base));
    }
    if !in_place() {
        // `<cache>/lifecycle/work`: the lock is the builds' (`<cache>/.lock`).
        let cache_dir = work
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut log = crate::platform::log::Log::new(Progress::Quiet);
        let lock = crate::platform::cache_lock::CacheLock::acquire(&cache_dir, &mut log)?;
        if !in_place() {
            for (image_path, stand_in) in image_moves(&layers_dir, &app_dir, out) {
                let at = if image_path == Path::new("/cnb") {
                    work.join("cnb")
                } else {
                    image_path
                };
                remove_dir(&at)?;
                copy_tree(&stand_in, &at)?;
            }
            write_file(&work.join(IMAGE_ID_FILE), &image_id)?;
            user.own(&work)?;
            user.ensure_traversable(&work)?;
        }
        drop(lock);
    }
    Ok((config, image_moves(&layers_dir, &app_dir, &work), work))
}

/// Launches a process of an image the lifecycle engine exported, with the image's own launcher.
///
/// # Errors
/// Not an image of this engine; unknown process; no default process; the process is not eligible
/// in the launch's environment (the launcher's `process type <t> was not found`, exit 82); I/O.
pub fn launch(request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    let out = &request.image_dir;
    let meta_dir = out.join(IMAGE_META_DIR);
    let user = user::RunUser::resolve()?;
    let (config, moves, base) = read_image_meta(out, &user)?;
    let image_config = &config["config"];
    let entrypoint: Vec<String> = image_config["Entrypoint"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();
    let labels: BTreeMap<String, String> = image_config["Labels"]
        .as_object()
        .map(|l| {
            l.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let processes = report::processes(
        labels
            .get("io.buildpacks.build.metadata")
            .map_or("{}", String::as_str),
        None,
        &meta_dir,
    )?;
    let available = || {
        processes
            .iter()
            .map(|p| p.r#type.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let process_dir = base.join("cnb").join("process");
    let (program, process_type) = match &request.process {
        Some(process) => {
            let link = process_dir.join(process);
            if std::fs::symlink_metadata(&link).is_err() {
                return Err(EngineError::NoSuchProcess {
                    image_dir: out.clone(),
                    process: process.clone(),
                    available: available(),
                });
            }
            (link, process.clone())
        }
        None => match default_process_of(&entrypoint) {
            Some(process) => (process_dir.join(&process), process),
            None if request.args.as_ref().is_none_or(Vec::is_empty) => {
                return Err(EngineError::NoDefaultProcess(out.clone()));
            }
            None => (
                base.join("cnb").join("lifecycle").join("launcher"),
                String::new(),
            ),
        },
    };
    let command = launch_command(&program, image_config, &moves, request, &user);
    let started = Instant::now();
    let (code, stdout, stderr) = run_with_timeout(command, request.timeout, &program)?;
    let duration = started.elapsed();
    if code == Some(82) {
        let wanted = if process_type.is_empty() {
            None
        } else {
            Some(process_type.as_str())
        };
        if let Some(wanted) = wanted
            && format!("{stdout}{stderr}").contains(&format!("process type {wanted} was not found"))
            && let Some(process) = processes.iter().find(|p| p.r#type == wanted)
        {
            return Err(not_eligible(process, request.exec_env.as_ref()));
        }
    }
    let test = (process_type == "test").then(|| TestReport {
        passed: code == Some(0),
        duration,
        results_file: results_files(&base, &request.env, &labels, &process_type)
            .into_iter()
            .next(),
    });
    Ok(LaunchResult {
        process_type,
        exit_code: code,
        stdout,
        stderr,
        duration,
        test,
    })
}

/// The results files a `test` process declared, by the crate's convention (the same rules as the
/// built-in engine's launcher, see the crate README "Test results"): the file named by
/// `CNB_TEST_RESULTS_PATH` / `CNB_TEST_RESULTS_FORMAT` (else by the image labels), then every
/// `*.xml`/`*.tap` under `CNB_TEST_RESULTS_DIR`. The variables come from the launch env,
/// else from the layers' `env/`, `env.launch/` and `env.launch/<process>/` files (which the real
/// launcher applies inside the process, out of this engine's sight). Paths are relative to the
/// app directory.
fn results_files(
    out: &Path,
    launch_env: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    process_type: &str,
) -> Vec<TestResultsFile> {
    let from_layers = |name: &str| -> Option<String> {
        let mut found = None;
        let bps = std::fs::read_dir(out.join("layers")).ok()?;
        for bp in bps.flatten() {
            for layer in std::fs::read_dir(bp.path()).into_iter().flatten().flatten() {
                let layer = layer.path();
                for dir in [
                    layer.join("env"),
                    layer.join("env.launch"),
                    layer.join("env.launch").join(process_type),
                ] {
                    for suffix in ["", ".default", ".override"] {
                        if let Ok(value) =
                            std::fs::read_to_string(dir.join(format!("{name}{suffix}")))
                        {
                            found = Some(value.trim().to_owned());
                        }
                    }
                }
            }
        }
        found
    };
    let var = |name: &str| launch_env.get(name).cloned().or_else(|| from_layers(name));
    crate::platform::test_results::results_files(var, labels, &out.join("workspace"))
}

/// The launcher's command: the image's env (its build paths moved to the stand-in), `HOME`, the
/// launch's `CNB_EXEC_ENV` and env, the image's working directory, the user's args.
fn launch_command(
    program: &Path,
    image_config: &serde_json::Value,
    moves: &[(PathBuf, PathBuf)],
    request: &LaunchRequest,
    user: &user::RunUser,
) -> Command {
    let moves = moves.to_vec();
    let mut command = Command::new(program);
    command.env_clear();
    for var in image_config["Env"].as_array().into_iter().flatten() {
        let Some((key, value)) = var.as_str().and_then(|v| v.split_once('=')) else {
            continue;
        };
        let value = match key {
            "CNB_LAYERS_DIR" | "CNB_APP_DIR" => oci::relocate(Path::new(value), &moves)
                .map_or_else(|| value.to_owned(), |p| p.to_string_lossy().into_owned()),
            "PATH" => value
                .split(':')
                .map(|entry| {
                    oci::relocate(Path::new(entry), &moves)
                        .map_or_else(|| entry.to_owned(), |p| p.to_string_lossy().into_owned())
                })
                .collect::<Vec<_>>()
                .join(":"),
            _ => value.to_owned(),
        };
        command.env(key, value);
    }
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    if let Some(exec_env) = &request.exec_env {
        command.env("CNB_EXEC_ENV", exec_env.to_string());
    }
    command.env("CNB_NO_COLOR", "true");
    command.envs(&request.env);
    let workdir = image_config["WorkingDir"]
        .as_str()
        .and_then(|dir| oci::relocate(Path::new(dir), &moves))
        .unwrap_or_else(|| request.image_dir.join("workspace"));
    command.current_dir(&workdir);
    user.apply(&mut command, &request.image_dir.join("workspace"));
    if let Some(args) = &request.args {
        command.args(args);
    }
    command
}

pub(crate) fn not_eligible(process: &ProcessReport, exec_env: Option<&ExecEnv>) -> EngineError {
    let first = process
        .exec_env
        .to_list()
        .and_then(|list| list.into_iter().next())
        .unwrap_or_default();
    EngineError::NotEligible {
        process: process.r#type.clone(),
        needs: process.exec_env.clone(),
        first,
        current: exec_env.cloned().unwrap_or(ExecEnv::Production),
        unset: if exec_env.is_none() {
            " (CNB_EXEC_ENV is unset, which means production)"
        } else {
            ""
        },
    }
}

fn run_with_timeout(
    command: Command,
    timeout: Option<Duration>,
    program: &Path,
) -> Result<(Option<i32>, String, String), EngineError> {
    let run = crate::platform::process::run(
        command,
        crate::engine::Progress::Quiet,
        timeout,
        &program.display().to_string(),
    )?;
    Ok((run.code, run.stdout, run.stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_process_comes_from_the_entrypoint() {
        assert_eq!(
            default_process_of(&["/cnb/process/web".to_owned()]),
            Some("web".to_owned())
        );
        assert_eq!(
            default_process_of(&["/cnb/lifecycle/launcher".to_owned()]),
            None
        );
        assert_eq!(default_process_of(&[]), None);
    }

    #[test]
    fn reference_safe_paths_are_lowercase_and_separated() {
        assert!(reference_safe(Path::new("/tmp/cnb-cache/lifecycle/layout")));
        assert!(!reference_safe(Path::new(
            "/tmp/.tmpAbC12/lifecycle/layout"
        )));
        assert!(!reference_safe(Path::new("/tmp/cnb-cache.XyZ/layout")));
        assert!(!reference_safe(Path::new("/tmp/a..b")));
    }

    #[test]
    fn layout_link_points_at_the_layout() {
        let dir = tempfile::Builder::new().prefix("UPPER.").tempdir().unwrap();
        let layout = dir.path().join("layout");
        std::fs::create_dir_all(&layout).unwrap();
        let link = layout_link(&layout).unwrap();
        assert!(reference_safe(&link), "{}", link.display());
        assert_eq!(std::fs::read_link(&link).unwrap(), layout);
        assert_eq!(layout_link(&layout).unwrap(), link);
    }
}
