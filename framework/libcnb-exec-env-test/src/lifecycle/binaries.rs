//! Finding the lifecycle's `lifecycle` and `launcher` binaries, and staging them where the
//! unprivileged user the phases run as can reach them.

use super::files::{io, mkdirs, remove_dir};
use super::user;
use crate::engine::EngineError;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The lifecycle release the install script pins.
pub const LIFECYCLE_VERSION: &str = "v0.21.11";

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

pub(super) fn unavailable(reason: impl Into<String>) -> EngineError {
    EngineError::Unavailable {
        engine: "lifecycle",
        reason: reason.into(),
    }
}

/// The binaries, reachable by the user the phases run as: the installed ones, or (root dropping
/// to a user that cannot enter the install directory, e.g. under `/root`) copies in the system
/// temp directory, made once per installed build.
pub(super) fn stage_binaries(bin_dir: &Path, user: &user::RunUser) -> Result<PathBuf, EngineError> {
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
