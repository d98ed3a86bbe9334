//! Stat snapshots of directory trees: what the built-in engine's cache uses to decide, without
//! reading any file's content, whether a layer is still what was cached, and which of its
//! entries a build changed.
//!
//! A snapshot lists every entry below a directory (the directory itself excluded) by relative
//! path, with its type, permission bits, size and modification time (regular files) and target
//! (symlinks). Two digests come out of it:
//! - the *portable* digest (paths, types, modes, sizes, file mtimes, link targets) survives a
//!   copy that keeps times ([`copy_dir_keeping_times`]), a move and an archive round trip: the
//!   cache index records it, and a cached layer whose files no longer match is not trusted;
//! - the *local* comparison ([`Snapshot::changes`]) adds each entry's inode and status-change
//!   time, which every write, `chmod`, `touch` or replacement updates (a build cannot fake them):
//!   what decides that a restored layer is unchanged, or which of its entries changed.
//!
//! Moving the snapshotted directory itself (a rename) changes none of its entries, so a layer
//! moved between the cache and the layers directory keeps its snapshot.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The type of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of a [`Snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryStat {
    pub(crate) kind: Kind,
    /// Permission and special bits (`st_mode & 0o7777`).
    pub(crate) mode: u32,
    /// Bytes (regular files; 0 otherwise).
    pub(crate) size: u64,
    /// Modification time, seconds and nanoseconds (regular files; 0 otherwise).
    pub(crate) mtime: (i64, i64),
    /// Symlink target.
    pub(crate) link: Option<PathBuf>,
    /// Inode number and status-change time: local to this file system.
    pub(crate) ino: u64,
    pub(crate) ctime: (i64, i64),
    /// Hard links to it (regular files). Not compared itself; a link made or removed elsewhere
    /// shows in `ctime`, so a layer's links must not change between two local snapshots.
    pub(crate) nlink: u64,
}

impl EntryStat {
    /// Whether `self` and `later` differ in anything a write, replacement or mode change
    /// shows. Directories compare by type and mode only: entries added or removed in them show
    /// as entries of their own.
    fn changed(&self, later: &EntryStat) -> bool {
        if self.kind == Kind::Dir && later.kind == Kind::Dir {
            return self.mode != later.mode;
        }
        (
            self.kind, self.mode, self.size, self.mtime, &self.link, self.ino, self.ctime,
        ) != (
            later.kind,
            later.mode,
            later.size,
            later.mtime,
            &later.link,
            later.ino,
            later.ctime,
        )
    }
}

/// A stat snapshot of a directory tree (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Relative path -> stat, parents before children.
    pub(crate) entries: BTreeMap<PathBuf, EntryStat>,
}

/// What a build changed in a tree, relative to an earlier [`Snapshot`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Entries gone (or whose type changed), parents before children.
    pub(crate) removed: Vec<PathBuf>,
    /// Entries new or changed, parents before children.
    pub(crate) written: Vec<PathBuf>,
}

impl Changes {
    /// Nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.written.is_empty()
    }
}

impl Snapshot {
    /// Snapshots the tree below `dir` (symlinks never followed).
    pub(crate) fn take(dir: &Path) -> std::io::Result<Self> {
        fn walk(
            dir: &Path,
            relative: &Path,
            entries: &mut BTreeMap<PathBuf, EntryStat>,
        ) -> std::io::Result<()> {
            for entry in std::fs::read_dir(dir)? {
                let entry = entry?;
                let path = entry.path();
                let name = relative.join(entry.file_name());
                let meta = std::fs::symlink_metadata(&path)?;
                let kind = if meta.file_type().is_symlink() {
                    Kind::Symlink
                } else if meta.is_dir() {
                    Kind::Dir
                } else if meta.is_file() {
                    Kind::File
                } else {
                    Kind::Other
                };
                let file = kind == Kind::File;
                entries.insert(
                    name.clone(),
                    EntryStat {
                        kind,
                        mode: meta.mode() & 0o7777,
                        size: if file { meta.len() } else { 0 },
                        mtime: if file {
                            (meta.mtime(), meta.mtime_nsec())
                        } else {
                            (0, 0)
                        },
                        link: if kind == Kind::Symlink {
                            Some(std::fs::read_link(&path)?)
                        } else {
                            None
                        },
                        ino: meta.ino(),
                        ctime: (meta.ctime(), meta.ctime_nsec()),
                        nlink: if file { meta.nlink() } else { 1 },
                    },
                );
                if kind == Kind::Dir {
                    walk(&path, &name, entries)?;
                }
            }
            Ok(())
        }
        let mut entries = BTreeMap::new();
        walk(dir, Path::new(""), &mut entries)?;
        Ok(Self { entries })
    }

    /// The portable digest: paths, types, modes, sizes and mtimes of files, link targets.
    pub(crate) fn digest(&self) -> String {
        use sha2::Digest;
        use std::os::unix::ffi::OsStrExt;
        let mut hasher = sha2::Sha256::new();
        for (path, entry) in &self.entries {
            hasher.update(path.as_os_str().as_bytes());
            hasher.update([0, entry.kind as u8]);
            hasher.update(entry.mode.to_le_bytes());
            hasher.update(entry.size.to_le_bytes());
            hasher.update(entry.mtime.0.to_le_bytes());
            hasher.update(entry.mtime.1.to_le_bytes());
            if let Some(link) = &entry.link {
                hasher.update(link.as_os_str().as_bytes());
            }
            hasher.update([0]);
        }
        format!("sha256:{:x}", hasher.finalize())
    }

    /// Whether some file of the tree has hard links outside it (more links than names for it
    /// inside): the tree shares files with another tree, an image's layer the export linked.
    pub(crate) fn links_outside(&self) -> bool {
        let mut inside: BTreeMap<u64, u64> = BTreeMap::new();
        for entry in self.entries.values() {
            if entry.kind == Kind::File && entry.nlink > 1 {
                *inside.entry(entry.ino).or_default() += 1;
            }
        }
        self.entries.values().any(|entry| {
            entry.kind == Kind::File
                && entry.nlink > inside.get(&entry.ino).copied().unwrap_or(0)
                && entry.nlink > 1
        })
    }

    /// What changed from `self` (earlier) to `later`.
    pub(crate) fn changes(&self, later: &Snapshot) -> Changes {
        let mut changes = Changes::default();
        for (path, before) in &self.entries {
            match later.entries.get(path) {
                None => changes.removed.push(path.clone()),
                Some(after) if after.kind != before.kind => changes.removed.push(path.clone()),
                Some(_) => {}
            }
        }
        for (path, after) in &later.entries {
            if self
                .entries
                .get(path)
                .is_none_or(|before| before.changed(after))
            {
                changes.written.push(path.clone());
            }
        }
        changes
    }
}

/// Makes `copy` (a tree whose stat snapshot was `before`, as `from`'s was) match `from`, whose
/// snapshot is now `after`: removes what `from` lost and copies what it gained or changed,
/// nothing else. Costs what changed, not the size of the tree.
pub(crate) fn sync_changes(
    from: &Path,
    copy: &Path,
    changes: &Changes,
    after: &Snapshot,
) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for path in &changes.removed {
        super::tree::remove_path(&copy.join(path))?;
    }
    for path in &changes.written {
        let Some(entry) = after.entries.get(path) else {
            continue;
        };
        let (source, target) = (from.join(path), copy.join(path));
        match entry.kind {
            Kind::Dir => {
                if !std::fs::symlink_metadata(&target).is_ok_and(|meta| meta.is_dir()) {
                    super::tree::remove_path(&target)?;
                    std::fs::create_dir(&target)?;
                }
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(entry.mode))?;
            }
            Kind::Symlink => {
                super::tree::remove_path(&target)?;
                std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
            }
            Kind::File | Kind::Other => {
                super::tree::remove_path(&target)?;
                copy_file_keeping_time(&source, &target)?;
            }
        }
    }
    Ok(())
}

/// Copies one file ([`super::tree::copy_file`]: modes and holes kept) and its modification time.
pub(crate) fn copy_file_keeping_time(from: &Path, to: &Path) -> std::io::Result<()> {
    super::tree::copy_file(from, to)?;
    let modified = std::fs::metadata(from)?.modified()?;
    std::fs::File::open(to)?.set_modified(modified)
}

/// [`super::tree::copy_dir`] that also keeps each file's modification time, so that the copy
/// has the same portable digest as the original.
pub(crate) fn copy_dir_keeping_times(from: &Path, to: &Path) -> std::io::Result<()> {
    mirror_tree(from, to, &|source, target, _| {
        copy_file_keeping_time(source, target)
    })
}

/// Makes `to` a tree of hard links to `from`'s files: directories made with their modes,
/// symlinks recreated, every regular file linked (`link(2)`: the same inode, no byte copied).
/// Same portable digest as `from`. Only for trees nothing writes into in place afterwards
/// (an image layer whose launches are isolated, see `builtin/isolation.rs`).
pub(crate) fn link_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    mirror_tree(from, to, &|source, target, regular| {
        if regular {
            std::fs::hard_link(source, target)
        } else {
            copy_file_keeping_time(source, target)
        }
    })
}

/// Recreates `from`'s directories (with their modes) and symlinks under `to`, and hands every
/// other entry to `file(source, target, is_regular_file)`.
fn mirror_tree(
    from: &Path,
    to: &Path,
    file: &dyn Fn(&Path, &Path, bool) -> std::io::Result<()>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            mirror_tree(&source, &target, file)?;
        } else {
            file(&source, &target, kind.is_file())?;
        }
    }
    Ok(())
}

/// Moves a tree: a rename on one file system; a copy keeping times, then removal of the
/// source, across file systems. Returns `true` when it was a rename (the entries kept their
/// inodes, so their local snapshot too).
pub(crate) fn move_tree(from: &Path, to: &Path) -> std::io::Result<bool> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::CrossesDevices => {
            super::tree::remove_path(to)?;
            copy_dir_keeping_times(from, to)?;
            super::tree::remove_path(from)?;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_copy_keeping_times_has_the_same_digest_and_a_rewrite_changes_only_its_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        write(&a.join("x/file"), "one");
        write(&a.join("env/VAR.override"), "v");
        std::os::unix::fs::symlink("x/file", a.join("link")).unwrap();
        let before = Snapshot::take(&a).unwrap();
        let copy = tmp.path().join("copy");
        copy_dir_keeping_times(&a, &copy).unwrap();
        let copied = Snapshot::take(&copy).unwrap();
        assert_eq!(copied.digest(), before.digest());
        // The copy has other inodes: locally, every file and link differs.
        assert!(!before.changes(&copied).is_empty());

        // Moving the tree changes nothing inside it.
        let moved = tmp.path().join("moved");
        assert!(move_tree(&a, &moved).unwrap());
        assert!(before.changes(&Snapshot::take(&moved).unwrap()).is_empty());

        // Rewriting one file with the same bytes (libcnb rewrites env/ on every build) is a
        // change of that entry only; a new file and a removed one show too.
        std::fs::remove_dir_all(moved.join("env")).unwrap();
        write(&moved.join("env/VAR.override"), "v");
        write(&moved.join("x/new"), "n");
        std::fs::remove_file(moved.join("link")).unwrap();
        let after = Snapshot::take(&moved).unwrap();
        let changes = before.changes(&after);
        assert_eq!(changes.removed, [PathBuf::from("link")]);
        assert_eq!(
            changes.written,
            [PathBuf::from("env/VAR.override"), PathBuf::from("x/new")]
        );
        // Syncing the copy with those changes makes it match again, by digest.
        sync_changes(&moved, &copy, &changes, &after).unwrap();
        assert_eq!(Snapshot::take(&copy).unwrap().digest(), after.digest());
        assert_eq!(std::fs::read_to_string(copy.join("x/new")).unwrap(), "n");
        assert!(!copy.join("link").exists());
    }

    #[test]
    fn a_linked_tree_has_the_same_digest_and_shows_links_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        write(&a.join("x/file"), "one");
        std::os::unix::fs::symlink("x/file", a.join("link")).unwrap();
        std::fs::hard_link(a.join("x/file"), a.join("x/same")).unwrap();
        // Links only within the tree are not links outside it.
        assert!(!Snapshot::take(&a).unwrap().links_outside());
        let linked = tmp.path().join("linked");
        link_tree(&a, &linked).unwrap();
        let (before, after) = (
            Snapshot::take(&a).unwrap(),
            Snapshot::take(&linked).unwrap(),
        );
        assert_eq!(before.digest(), after.digest());
        assert!(before.links_outside() && after.links_outside());
        assert_eq!(
            std::fs::metadata(a.join("x/file")).unwrap().ino(),
            std::fs::metadata(linked.join("x/file")).unwrap().ino()
        );
        // Removing the other tree leaves the files as they were (the portable digest); only
        // their link count and status-change time moved.
        std::fs::remove_dir_all(&linked).unwrap();
        let alone = Snapshot::take(&a).unwrap();
        assert!(!alone.links_outside());
        assert_eq!(alone.digest(), before.digest());
    }

    #[test]
    fn same_size_rewrite_is_a_change() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("f"), "aaaa");
        let before = Snapshot::take(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("f"), "bbbb").unwrap();
        let after = Snapshot::take(tmp.path()).unwrap();
        assert_eq!(before.changes(&after).written, [PathBuf::from("f")]);
    }
}
