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
/// to a user that cannot enter the install directory, e.g. under `/root`) copies in
/// `$TMPDIR/libcnb-exec-env-lifecycle-<uid>/<sha256 of both binaries>/`. That directory belongs
/// to this process's user and only it can write there (mode `0711`: the phases' user may enter
/// it, not list or change it); a copy is used only when its SHA-256 equals the installed
/// binary's, else it is made again.
///
/// # Errors
/// I/O; the staging directory belongs to someone else or others can write it.
pub(super) fn stage_binaries(bin_dir: &Path, user: &user::RunUser) -> Result<PathBuf, EngineError> {
    if BINARIES
        .iter()
        .all(|bin| user.can_reach(&bin_dir.join(bin)))
    {
        return Ok(bin_dir.to_path_buf());
    }
    stage_in(bin_dir, &std::env::temp_dir())
}

const BINARIES: [&str; 2] = ["lifecycle", "launcher"];

fn sha256_file(path: &Path) -> Result<String, EngineError> {
    use sha2::Digest;
    let mut file =
        std::fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(format!("cannot read {}", path.display())))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// A directory of this process's user that no one else can write: created `0711` when absent,
/// refused when it is a link, belongs to another user, or others may write it.
fn private_dir(dir: &Path) -> Result<(), EngineError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o711).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(io(format!("cannot create {}", dir.display()))(error)),
    }
    let meta =
        std::fs::symlink_metadata(dir).map_err(io(format!("cannot read {}", dir.display())))?;
    if !meta.is_dir() || meta.uid() != user::current_uid() || meta.mode() & 0o022 != 0 {
        return Err(unavailable(format!(
            "{} must be a directory of uid {} that no one else can write (it is {}, uid {}, mode {:o}); remove it",
            dir.display(),
            user::current_uid(),
            if meta.file_type().is_symlink() {
                "a link"
            } else if meta.is_dir() {
                "a directory"
            } else {
                "a file"
            },
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    // Enterable by the phases' user, nothing more.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
        .map_err(io(format!("cannot set the mode of {}", dir.display())))
}

/// Stages copies of the binaries of `bin_dir` under `temp` (see [`stage_binaries`]).
fn stage_in(bin_dir: &Path, temp: &Path) -> Result<PathBuf, EngineError> {
    // Partial directories are unique per thread too: tests build in parallel threads.
    static STAGING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let digests = BINARIES
        .iter()
        .map(|bin| sha256_file(&bin_dir.join(bin)))
        .collect::<Result<Vec<_>, _>>()?;
    let base = temp.join(format!("libcnb-exec-env-lifecycle-{}", user::current_uid()));
    private_dir(&base)?;
    let name = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(digests.join("\n")))
    };
    let staged = base.join(&name[..32]);
    let verified = |dir: &Path| -> bool {
        BINARIES
            .iter()
            .zip(&digests)
            .all(|(bin, digest)| sha256_file(&dir.join(bin)).is_ok_and(|found| found == *digest))
    };
    if staged.is_dir() && verified(&staged) {
        return Ok(staged);
    }
    let partial = base.join(format!(
        ".partial-{}-{}",
        std::process::id(),
        STAGING.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    remove_dir(&partial)?;
    mkdirs(&partial)?;
    for bin in BINARIES {
        let to = partial.join(bin);
        std::fs::copy(bin_dir.join(bin), &to).map_err(io(format!(
            "cannot copy the lifecycle to {}",
            partial.display()
        )))?;
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o555))
            .map_err(io(format!("cannot set the mode of {}", to.display())))?;
    }
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
        .map_err(io(format!("cannot set the mode of {}", partial.display())))?;
    if !verified(&partial) {
        remove_dir(&partial)?;
        return Err(unavailable(format!(
            "the copies of {} changed while they were made",
            bin_dir.display()
        )));
    }
    // A copy that failed the check goes; another build's verified copy stays.
    if staged.exists() && !verified(&staged) {
        remove_dir(&staged)?;
    }
    if std::fs::rename(&partial, &staged).is_err() {
        // Another build staged it first.
        remove_dir(&partial)?;
        if !verified(&staged) {
            return Err(unavailable(format!(
                "the staged lifecycle in {} does not match {}",
                staged.display(),
                bin_dir.display()
            )));
        }
    }
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(dir: &Path, content: &str) -> PathBuf {
        let bins = dir.join("bins");
        std::fs::create_dir_all(&bins).unwrap();
        for bin in BINARIES {
            std::fs::write(bins.join(bin), format!("{content} {bin}")).unwrap();
        }
        bins
    }

    #[test]
    fn a_tampered_staged_copy_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let bins = install(dir.path(), "v1");
        let temp = dir.path().join("tmp");
        std::fs::create_dir_all(&temp).unwrap();
        let staged = stage_in(&bins, &temp).unwrap();
        assert_eq!(
            std::fs::read_to_string(staged.join("lifecycle")).unwrap(),
            "v1 lifecycle"
        );
        // Same length, same mtime: only the digest tells.
        let lifecycle = staged.join("lifecycle");
        std::fs::set_permissions(&lifecycle, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(&lifecycle, "xx lifecycle").unwrap();
        let again = stage_in(&bins, &temp).unwrap();
        assert_eq!(again, staged);
        assert_eq!(
            std::fs::read_to_string(again.join("lifecycle")).unwrap(),
            "v1 lifecycle"
        );
        // Another install: another directory.
        let bins2 = install(&dir.path().join("other"), "v2");
        assert_ne!(stage_in(&bins2, &temp).unwrap(), staged);
    }

    #[test]
    fn a_staging_directory_others_can_write_is_refused() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let bins = install(dir.path(), "v1");
        let temp = dir.path().join("tmp");
        let base = temp.join(format!("libcnb-exec-env-lifecycle-{}", user::current_uid()));
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = stage_in(&bins, &temp).unwrap_err();
        assert!(
            error.to_string().contains("no one else can write"),
            "{error}"
        );
        // The engine's own directory, once fixed, is used, and only its owner can write it.
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
        stage_in(&bins, &temp).unwrap();
        let meta = std::fs::metadata(&base).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o711);
        assert_eq!(meta.uid(), user::current_uid());
    }
}
