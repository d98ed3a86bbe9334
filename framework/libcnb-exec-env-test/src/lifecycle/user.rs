//! Who runs the lifecycle's phases.
//!
//! The lifecycle's detector and builder refuse to run as root (`cmd/lifecycle/detector.go`,
//! `cmd/lifecycle/builder.go`, via `priv.IsPrivileged`). When this process is root, every phase
//! (and the launched processes) runs as an unprivileged user instead, as a builder image's `CNB_USER_ID`
//! would: `$CNB_LIFECYCLE_USER` (a user name), else `cnb`, which is created with `useradd` when absent.
//! When this process is not root, the phases run as the current user.

use crate::engine::EngineError;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The environment variable naming the unprivileged user (when this process is root).
pub const USER_ENV: &str = "CNB_LIFECYCLE_USER";

/// The user created when none is named and `cnb` does not exist.
pub const DEFAULT_USER: &str = "cnb";

/// The environment variable that allows the engine to create the unprivileged user with
/// `useradd` (`1` or `true`); without it a missing user is an error naming the command.
pub const CREATE_USER_ENV: &str = "CNB_LIFECYCLE_CREATE_USER";

/// The user the phases run as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RunUser {
    /// The user id.
    pub(super) uid: u32,
    /// The group id.
    pub(super) gid: u32,
    /// Its home directory, when it has one that exists.
    pub(super) home: Option<PathBuf>,
    /// Whether this process drops from root to this user for every phase.
    pub(super) drop_root: bool,
    /// What was done to get it (a `useradd`), for the build output.
    pub(super) note: Option<String>,
}

static USERADD: Mutex<()> = Mutex::new(());

impl RunUser {
    /// The user for this process: itself when not root, else the unprivileged user.
    ///
    /// # Errors
    /// Root, and the user neither exists nor can be created.
    pub(super) fn resolve() -> Result<Self, EngineError> {
        // `/proc/self` belongs to the effective user and group of the process reading it.
        let me = std::fs::metadata("/proc/self").map_err(EngineError::io(
            "cannot read /proc/self to learn who runs this",
        ))?;
        let (uid, gid) = (me.uid(), me.gid());
        if uid != 0 {
            return Ok(Self {
                uid,
                gid,
                home: std::env::var_os("HOME").map(PathBuf::from),
                drop_root: false,
                note: None,
            });
        }
        let name = std::env::var(USER_ENV)
            .ok()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_USER.to_owned());
        let allowed = std::env::var(CREATE_USER_ENV)
            .is_ok_and(|value| matches!(value.trim(), "1" | "true" | "yes"));
        Self::unprivileged(&name, allowed)
    }

    /// The unprivileged user `name`, created with `useradd` only when `create` allows it.
    fn unprivileged(name: &str, create: bool) -> Result<Self, EngineError> {
        let name = name.to_owned();
        if let Some(user) = lookup(&name)? {
            return Ok(user);
        }
        if !create {
            return Err(EngineError::Unavailable {
                engine: "lifecycle",
                reason: format!(
                    "running as root, and the unprivileged user `{name}` that the lifecycle's detector and builder need does not exist; create it (`useradd --create-home --user-group --shell /bin/sh {name}`), name another one with {USER_ENV}, or set {CREATE_USER_ENV}=1 to let the engine run useradd"
                ),
            });
        }
        let _guard = USERADD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(user) = lookup(&name)? {
            return Ok(user);
        }
        let output = Command::new("useradd")
            .args(["--create-home", "--user-group", "--shell", "/bin/sh", &name])
            .output();
        let failure = match output {
            Ok(output) if output.status.success() => None,
            Ok(output) => Some(format!(
                "`useradd --create-home --user-group {name}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(error) => Some(format!("cannot run useradd: {error}")),
        };
        match lookup(&name)? {
            Some(mut user) => {
                user.note = Some(format!(
                    "created the unprivileged user `{name}` (uid {}) with useradd: the lifecycle's detector and builder refuse to run as root",
                    user.uid
                ));
                Ok(user)
            }
            None => Err(EngineError::Unavailable {
                engine: "lifecycle",
                reason: format!(
                    "running as root, and the unprivileged user `{name}` that the lifecycle's detector and builder need does not exist{}; create it (`useradd --create-home --user-group {name}`) or name another one with {USER_ENV}",
                    failure.map(|f| format!(" ({f})")).unwrap_or_default()
                ),
            }),
        }
    }

    /// Makes `command` run as this user (when dropping root), with `HOME` set to its home.
    pub(super) fn apply(&self, command: &mut Command, fallback_home: &Path) {
        if self.drop_root {
            command.uid(self.uid).gid(self.gid);
            let home = self
                .home
                .clone()
                .unwrap_or_else(|| fallback_home.to_path_buf());
            command.env("HOME", home);
        }
    }

    /// Gives this user `path` and everything under it (when dropping root).
    ///
    /// # Errors
    /// A file cannot be read or changed.
    pub(super) fn own(&self, path: &Path) -> Result<(), EngineError> {
        if !self.drop_root {
            return Ok(());
        }
        chown_tree(path, self.uid, self.gid)
    }

    /// Gives this user `path` itself, not what is under it (when dropping root).
    ///
    /// # Errors
    /// The file cannot be read or changed.
    pub(super) fn own_entry(&self, path: &Path) -> Result<(), EngineError> {
        if !self.drop_root {
            return Ok(());
        }
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid)).map_err(EngineError::io(
            format!("cannot give {} to uid {}", path.display(), self.uid),
        ))
    }

    /// Makes sure this user can traverse every directory from `/` down to `path` (when dropping
    /// root): a directory it cannot enter gets the search bit for others (`o+x`), nothing more,
    /// and only when it belongs to this process's user; one of another user is an error naming
    /// it. Returns the changes made, for the build output.
    ///
    /// # Errors
    /// A directory cannot be read or changed, or belongs to another user.
    pub(super) fn ensure_traversable(&self, path: &Path) -> Result<Vec<String>, EngineError> {
        let mut changes = Vec::new();
        if !self.drop_root {
            return Ok(changes);
        }
        let me = current_uid();
        let mut dirs: Vec<&Path> = path.ancestors().collect();
        dirs.reverse();
        for dir in dirs {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            if !meta.is_dir() || self.can_traverse(&meta) {
                continue;
            }
            if meta.uid() != me {
                return Err(EngineError::Unavailable {
                    engine: "lifecycle",
                    reason: format!(
                        "the unprivileged user (uid {}) cannot enter {} (owner uid {}, mode {:o}), and it is not this process's to change; give it the search bit for others (chmod o+x) or use a cache directory it can reach",
                        self.uid,
                        dir.display(),
                        meta.uid(),
                        meta.mode() & 0o7777
                    ),
                });
            }
            let mut permissions = meta.permissions();
            permissions.set_mode(permissions.mode() | 0o001);
            std::fs::set_permissions(dir, permissions).map_err(EngineError::io(format!(
                "cannot let the unprivileged user {} enter {}",
                self.uid,
                dir.display()
            )))?;
            changes.push(format!(
                "chmod o+x {} (was {:o}) so that uid {} can enter it",
                dir.display(),
                meta.mode() & 0o7777,
                self.uid
            ));
        }
        Ok(changes)
    }

    /// Whether this user can reach `path` (every ancestor searchable, the file readable).
    #[must_use]
    pub(super) fn can_reach(&self, path: &Path) -> bool {
        if !self.drop_root {
            return true;
        }
        path.ancestors().skip(1).all(|dir| {
            dir.as_os_str().is_empty()
                || std::fs::metadata(dir).is_ok_and(|meta| self.can_traverse(&meta))
        }) && std::fs::metadata(path).is_ok_and(|meta| {
            let mode = meta.mode();
            (meta.uid() == self.uid && mode & 0o500 == 0o500)
                || (meta.gid() == self.gid && mode & 0o050 == 0o050)
                || mode & 0o005 == 0o005
        })
    }

    fn can_traverse(&self, meta: &std::fs::Metadata) -> bool {
        let mode = meta.mode();
        (meta.uid() == self.uid && mode & 0o100 != 0)
            || (meta.gid() == self.gid && mode & 0o010 != 0)
            || mode & 0o001 != 0
    }
}

/// The effective user id of this process (the owner of `/proc/self`), `0` when unknown.
pub(super) fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |me| me.uid())
}

/// Looks `name` up in `/etc/passwd`.
fn lookup(name: &str) -> Result<Option<RunUser>, EngineError> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(EngineError::io("cannot read /etc/passwd"))?;
    Ok(passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 || fields[0] != name {
            return None;
        }
        let uid = fields[2].parse().ok()?;
        let gid = fields[3].parse().ok()?;
        let home = PathBuf::from(fields[5]);
        Some(RunUser {
            uid,
            gid,
            home: home.is_dir().then_some(home),
            drop_root: true,
            note: None,
        })
    }))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), EngineError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(EngineError::io(format!("cannot read {}", path.display()))(
                error,
            ));
        }
    };
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(EngineError::io(format!(
            "cannot give {} to uid {uid}",
            path.display()
        )))?;
    }
    if meta.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(EngineError::io(format!("cannot list {}", path.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(EngineError::io(format!("cannot list {}", path.display())))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_user_is_created_only_on_request() {
        let name = "cnb-no-such-user-h8";
        let error = RunUser::unprivileged(name, false).unwrap_err();
        assert!(error.to_string().contains(CREATE_USER_ENV), "{error}");
        assert!(error.to_string().contains("useradd"), "{error}");
        assert_eq!(lookup(name).unwrap(), None);
    }

    #[test]
    fn only_own_directories_are_opened_and_each_change_is_reported() {
        if current_uid() != 0 {
            return; // dropping root needs root
        }
        let user = RunUser {
            uid: 65534,
            gid: 65534,
            home: None,
            drop_root: true,
            note: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o700)).unwrap();
        let changes = user.ensure_traversable(&mine).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(
            changes[0].contains(&mine.display().to_string()),
            "{changes:?}"
        );
        assert_eq!(std::fs::metadata(&mine).unwrap().mode() & 0o777, 0o701);
        assert!(user.ensure_traversable(&mine).unwrap().is_empty());
        // Another user's directory is not changed: an error names it.
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(1234), Some(1234)).unwrap();
        let error = user.ensure_traversable(&theirs.join("x")).unwrap_err();
        assert!(
            error.to_string().contains(&theirs.display().to_string()),
            "{error}"
        );
        assert_eq!(std::fs::metadata(&theirs).unwrap().mode() & 0o777, 0o700);
    }
}
