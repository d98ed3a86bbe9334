//! The engine's directories per cache (`<cache>/lifecycle/...`), and laying out a build's work
//! directory: app copy, buildpacks, platform env, `order.toml`, run image and `run.toml`.

use super::binaries::stage_binaries;
use super::buildpacks::stage_buildpack;
use super::files::{copy_tree, io, mkdirs, remove_dir};
use super::{oci, user};
use crate::engine::{BuildRequest, EngineError};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The paths of one cache directory's lifecycle state.
pub(super) struct Dirs {
    pub(super) root: PathBuf,
    pub(super) cache: PathBuf,
    pub(super) layout: PathBuf,
    pub(super) home: PathBuf,
    pub(super) work: PathBuf,
    pub(super) layers: PathBuf,
    pub(super) workspace: PathBuf,
    pub(super) platform: PathBuf,
    pub(super) buildpacks: PathBuf,
    /// The phases' `TMPDIR`: the engine's own, whatever this process's `TMPDIR` is.
    pub(super) tmp: PathBuf,
}

impl Dirs {
    pub(super) fn new(cache_dir: &Path) -> Self {
        let root = cache_dir.join("lifecycle");
        let work = root.join("work");
        Self {
            cache: root.join("cache"),
            layout: root.join("layout"),
            home: root.join("home"),
            layers: work.join("layers"),
            workspace: work.join("workspace"),
            platform: work.join("platform"),
            // Outside the work directory, which every build lays out again: buildpacks are
            // staged once per content.
            buildpacks: root.join("buildpacks"),
            tmp: root.join("tmp"),
            work,
            root,
        }
    }
}

/// `path` as the lifecycle's flags take it: UTF-8, or refused with an error naming it (never
/// turned into `""`).
///
/// # Errors
/// The path is not UTF-8.
pub(super) fn path_str(path: &Path) -> Result<&str, EngineError> {
    path.to_str().ok_or_else(|| {
        EngineError::io(format!(
            "cannot give the lifecycle the path {}: it is not UTF-8",
            path.display()
        ))(std::io::Error::from(std::io::ErrorKind::InvalidFilename))
    })
}

/// What [`prepare`] set up.
pub(super) struct Prepared {
    pub(super) bins: PathBuf,
    pub(super) order_path: PathBuf,
    pub(super) run_toml: PathBuf,
    pub(super) layout_dir: PathBuf,
    /// The buildpacks copied in for this build (new, or changed since the last one).
    pub(super) staged: Vec<String>,
    /// What was changed on this machine outside the engine's directories (`chmod o+x`).
    pub(super) host_changes: Vec<String>,
}

/// Lays out a fresh work directory (app copy, buildpacks, platform env, `order.toml`), the run
/// image and `run.toml`, and gives it all to the user the phases run as.
pub(super) fn prepare(
    request: &BuildRequest,
    dirs: &Dirs,
    user: &user::RunUser,
    bin_dir: &Path,
) -> Result<Prepared, EngineError> {
    let bin_dir = bin_dir.to_path_buf();
    let bins = stage_binaries(&bin_dir, user)?;
    // Every flag given to the lifecycle is a path under the root: refuse a root that is not
    // UTF-8 before anything is written.
    path_str(&dirs.root)?;
    remove_dir(&dirs.work)?;
    remove_dir(&dirs.tmp)?;
    for dir in [
        &dirs.root,
        &dirs.cache,
        &dirs.layout,
        &dirs.home,
        &dirs.buildpacks,
    ] {
        mkdirs(dir)?;
        // Only the directory itself: what is inside was written by the phases, as the user.
        user.own_entry(dir)?;
    }
    for dir in [&dirs.work, &dirs.layers, &dirs.platform, &dirs.tmp] {
        mkdirs(dir)?;
    }
    std::fs::set_permissions(&dirs.tmp, std::fs::Permissions::from_mode(0o700))
        .map_err(io(format!("cannot make {} private", dirs.tmp.display())))?;
    copy_tree(&request.app_dir, &dirs.workspace)?;
    let env_dir = dirs.platform.join("env");
    mkdirs(&env_dir)?;
    for (key, value) in &request.platform_env {
        let path = env_dir.join(key);
        std::fs::write(&path, value).map_err(io(format!("cannot write {}", path.display())))?;
    }
    let mut order_toml = String::new();
    let mut staged = Vec::new();
    for group in &request.order {
        order_toml.push_str("[[order]]\n");
        for entry in group {
            let bp = &entry.buildpack;
            if stage_buildpack(&bp.dir, &dirs.buildpacks, &bp.id, &bp.version, user)? {
                staged.push(format!("{}@{}", bp.id, bp.version));
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
    let run_image =
        oci::write_run_image(&dirs.layout, &request.target, user.uid, user.gid, &path_var)?;
    // What this build wrote, and only that, goes to the user the phases run as.
    user.own(&run_image)?;
    for dir in run_image.ancestors().skip(1) {
        if !dir.starts_with(&dirs.layout) {
            break;
        }
        user.own_entry(dir)?;
    }
    user.own(&dirs.work)?;
    user.own(&dirs.tmp)?;
    let host_changes = user.ensure_traversable(&dirs.root)?;
    let layout_dir = layout_link(&dirs.layout)?;
    Ok(Prepared {
        bins,
        order_path,
        run_toml,
        layout_dir,
        staged,
        host_changes,
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
pub(super) fn layout_link(layout: &Path) -> Result<PathBuf, EngineError> {
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
pub(super) fn reference_safe(path: &Path) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_are_not_utf8_are_refused_by_name() {
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9/layers"));
        let error = path_str(path).unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
        assert!(error.to_string().contains("/tmp/caf"), "{error}");
        assert_eq!(path_str(Path::new("/tmp/cafe")).unwrap(), "/tmp/cafe");
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
