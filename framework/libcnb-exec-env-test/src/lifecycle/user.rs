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
        if let Some(user) = lookup(&name)? {
            return Ok(user);
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

    /// Makes sure this user can traverse every directory from `/` down to `path` (when dropping
    /// root): directories it cannot enter get the search bit for others (`o+x`), nothing more.
    ///
    /// # Errors
    /// A directory cannot be read or changed.
    pub(super) fn ensure_traversable(&self, path: &Path) -> Result<(), EngineError> {
        if !self.drop_root {
            return Ok(());
        }
        for dir in path.ancestors() {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let Ok(meta) = std::fs::metadata(dir) else {
                continue;
            };
            if !meta.is_dir() || self.can_traverse(&meta) {
                continue;
            }
            let mut permissions = meta.permissions();
            permissions.set_mode(permissions.mode() | 0o001);
            std::fs::set_permissions(dir, permissions).map_err(EngineError::io(format!(
                "cannot let the unprivileged user {} enter {}",
                self.uid,
                dir.display()
            )))?;
        }
        Ok(())
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
