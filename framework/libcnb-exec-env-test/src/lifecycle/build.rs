//! The build: the five phases in a row, as pack runs them, then the report.

use super::binaries::{DIR_ENV, locate, unavailable};
use super::failure::build_failure;
use super::files::{mkdirs, write_file};
use super::image::{IMAGE_ID_FILE, IMAGE_META_DIR, default_process_of, image_moves, install};
use super::phases::Runner;
use super::workdir::{Dirs, Prepared, path_str, prepare};
use super::{PLATFORM_API, oci, report, user};
use crate::engine::{BuildRequest, EngineError, Progress};
use crate::results::{BuildReport, EngineKind, Phase};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

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
        staged,
        mut host_changes,
    } = prepare(request, &dirs, &user, &bin_dir)?;
    let app_image = oci::layout_path(&dirs.layout, oci::APP_IMAGE);
    // A previous image half written by a build killed while exporting (an index naming a
    // manifest or blob that is not there) would stop the analyzer ("failed to find manifest
    // at index"). A registry or daemon never shows a half-written image; this layout is the
    // engine's own, so it is dropped, as for a new image name (the cache stays).
    let broken_previous = request.previous_image
        && app_image.join("index.json").exists()
        && !oci::is_complete(&app_image);
    if !request.previous_image || broken_previous {
        // As for a new image name: the analyzer finds no previous app image (the cache stays).
        super::files::remove_dir(&app_image)?;
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
    for change in &host_changes {
        let _ = writeln!(intro, "Changed on this machine: {change}");
    }
    if broken_previous {
        let _ = writeln!(
            intro,
            "Previous app image {} was incomplete (a build stopped while exporting?): building without one; the cache stays",
            app_image.display()
        );
    }
    if !staged.is_empty() {
        let _ = writeln!(
            intro,
            "Staged buildpacks (new or changed): {}",
            staged.join(", ")
        );
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
    let paths = PhasePaths {
        app: path_str(&dirs.workspace)?,
        buildpacks: path_str(&dirs.buildpacks)?,
        layers: path_str(&dirs.layers)?,
        platform: path_str(&dirs.platform)?,
        analyzed: path_str(&analyzed)?,
        group: path_str(&group)?,
        plan: path_str(&plan)?,
        cache: path_str(&dirs.cache)?,
        layout_dir: path_str(&layout_dir)?,
        uid: &uid,
        gid: &gid,
    };
    let run_toml = path_str(&run_toml)?;

    let args = PhaseArgs::new(&paths)
        .layers()
        .analyzed()
        .flag("-run", run_toml)
        .flag("-run-image", oci::RUN_IMAGE)
        .layout()
        .user()
        .arg(oci::APP_IMAGE);
    let run = runner.phase(Phase::Analyze, &args.list)?;
    if run.code != Some(0) {
        return Err(runner.failed(Phase::Analyze, &run));
    }

    let args = PhaseArgs::new(&paths)
        .debug()
        .app()
        .buildpacks()
        .layers()
        .flag("-order", path_str(&order_path)?)
        .platform()
        .analyzed()
        .group()
        .plan();
    let run = runner.phase(Phase::Detect, &args.list)?;
    let detect = crate::platform::detector_log::detect_reports(&request.order, &run.output);
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

    let args = PhaseArgs::new(&paths)
        .debug()
        .layers()
        .analyzed()
        .group()
        .cache()
        .layout()
        .user();
    let run = runner.phase(Phase::Restore, &args.list)?;
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

    let args = PhaseArgs::new(&paths)
        .debug()
        .app()
        .buildpacks()
        .layers()
        .platform()
        .analyzed()
        .group()
        .plan();
    let run = runner.phase(Phase::Build, &args.list)?;
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

    let args = PhaseArgs::new(&paths)
        .app()
        .layers()
        .analyzed()
        .group()
        .cache()
        .layout()
        .flag("-launcher", path_str(&launcher)?)
        .flag("-run", run_toml)
        .user()
        .arg(oci::APP_IMAGE);
    let run = runner.phase(Phase::Export, &args.list)?;
    if run.code != Some(0) {
        return Err(runner.failed(Phase::Export, &run));
    }

    let plan = report::plan_entries(&plan)?;
    let image = oci::LayoutImage::read(&oci::layout_path(&dirs.layout, oci::APP_IMAGE))?;
    let image_id = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    // The image goes into the stand-in, which outlives the next build with this cache: only the
    // layers that changed since the last unpack into it. The build paths keep the build's state
    // until a launch puts the image there from the stand-in (`read_image_meta`): the work
    // directory no longer says it holds an image.
    let _ = std::fs::remove_file(dirs.work.join(IMAGE_ID_FILE));
    let out = &request.output_dir;
    let owner = user.drop_root.then_some((user.uid, user.gid));
    let stats = install(
        &image,
        out,
        &image_moves(&dirs.layers, &dirs.workspace, out),
        owner,
    )?;
    let meta_dir = out.join(IMAGE_META_DIR);
    mkdirs(&meta_dir)?;
    let config_path = meta_dir.join("config.json");
    write_file(&config_path, &image.config_json)?;
    let paths_path = meta_dir.join("paths.json");
    write_file(
        &paths_path,
        &serde_json::json!({ "layers": dirs.layers, "app": dirs.workspace }).to_string(),
    )?;
    write_file(&meta_dir.join(IMAGE_ID_FILE), &image_id)?;
    for path in [
        out,
        &meta_dir,
        &config_path,
        &paths_path,
        &meta_dir.join(IMAGE_ID_FILE),
    ] {
        user.own_entry(path)?;
    }
    host_changes = user.ensure_traversable(out)?;
    let mut note = format!(
        "Image stand-in {}: {} layer(s) unpacked, {} unchanged since the last build\n",
        out.display(),
        stats.unpacked,
        stats.kept
    );
    for change in &host_changes {
        let _ = writeln!(note, "Changed on this machine: {change}");
    }
    if request.progress == Progress::Stderr {
        eprint!("{note}");
    }
    if let Some(export) = runner.phases.last_mut() {
        export.output.push_str(&note);
    }

    let labels = image.labels();
    let default_process = default_process_of(&image.entrypoint());
    let processes = crate::platform::build_metadata::processes(
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

/// The paths and ids the phases share, as the strings their flags take.
struct PhasePaths<'a> {
    app: &'a str,
    buildpacks: &'a str,
    layers: &'a str,
    platform: &'a str,
    analyzed: &'a str,
    group: &'a str,
    plan: &'a str,
    cache: &'a str,
    layout_dir: &'a str,
    uid: &'a str,
    gid: &'a str,
}

/// One phase's arguments, flag by flag in the order pack gives them; the common flags are
/// named once here instead of spelled out in every phase.
struct PhaseArgs<'a> {
    paths: &'a PhasePaths<'a>,
    list: Vec<&'a str>,
}

impl<'a> PhaseArgs<'a> {
    fn new(paths: &'a PhasePaths<'a>) -> Self {
        Self {
            paths,
            list: Vec::new(),
        }
    }

    fn flag(mut self, name: &'a str, value: &'a str) -> Self {
        self.list.extend([name, value]);
        self
    }

    /// A flag whose value is one of the shared paths.
    fn path(self, name: &'a str, pick: fn(&PhasePaths<'a>) -> &'a str) -> Self {
        let value = pick(self.paths);
        self.flag(name, value)
    }

    fn arg(mut self, value: &'a str) -> Self {
        self.list.push(value);
        self
    }

    /// `-log-level debug`: the detector's log is how detection is reported.
    fn debug(self) -> Self {
        self.flag("-log-level", "debug")
    }

    fn app(self) -> Self {
        self.path("-app", |paths| paths.app)
    }

    fn buildpacks(self) -> Self {
        self.path("-buildpacks", |paths| paths.buildpacks)
    }

    fn layers(self) -> Self {
        self.path("-layers", |paths| paths.layers)
    }

    fn platform(self) -> Self {
        self.path("-platform", |paths| paths.platform)
    }

    fn analyzed(self) -> Self {
        self.path("-analyzed", |paths| paths.analyzed)
    }

    fn group(self) -> Self {
        self.path("-group", |paths| paths.group)
    }

    fn plan(self) -> Self {
        self.path("-plan", |paths| paths.plan)
    }

    fn cache(self) -> Self {
        self.path("-cache-dir", |paths| paths.cache)
    }

    /// Images in an OCI layout directory instead of a registry or daemon.
    fn layout(self) -> Self {
        self.arg("-layout")
            .path("-layout-dir", |paths| paths.layout_dir)
    }

    /// The unprivileged build user's ids.
    fn user(self) -> Self {
        self.path("-uid", |paths| paths.uid)
            .path("-gid", |paths| paths.gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_args_keep_flag_value_pairs_in_order() {
        let paths = PhasePaths {
            app: "/w",
            buildpacks: "/b",
            layers: "/l",
            platform: "/p",
            analyzed: "/l/analyzed.toml",
            group: "/l/group.toml",
            plan: "/l/plan.toml",
            cache: "/c",
            layout_dir: "/o",
            uid: "1000",
            gid: "1001",
        };
        let args = PhaseArgs::new(&paths)
            .debug()
            .layers()
            .cache()
            .layout()
            .user()
            .arg("img");
        assert_eq!(
            args.list,
            [
                "-log-level",
                "debug",
                "-layers",
                "/l",
                "-cache-dir",
                "/c",
                "-layout",
                "-layout-dir",
                "/o",
                "-uid",
                "1000",
                "-gid",
                "1001",
                "img"
            ]
        );
    }
}
