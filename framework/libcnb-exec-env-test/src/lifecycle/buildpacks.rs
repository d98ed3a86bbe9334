//! Staging buildpacks where the lifecycle finds them (`<buildpacks>/<id with / as _>/<version>/`),
//! once per content: a buildpack is copied again only when the digest of its directory changed.

use super::files::{copy_tree, io, mkdirs, remove_dir, write_file};
use super::report::escape_id;
use super::user;
use crate::engine::EngineError;
use sha2::{Digest, Sha256};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The digest file next to a staged buildpack: `<version>.sha256`.
fn digest_file(buildpacks: &Path, id: &str, version: &str) -> std::path::PathBuf {
    buildpacks
        .join(escape_id(id))
        .join(format!(".{version}.sha256"))
}

/// Stages the buildpack at `dir` as `<buildpacks>/<id>/<version>`, unless the copy there has
/// the same content digest. Returns whether it copied.
///
/// # Errors
/// I/O.
pub(super) fn stage_buildpack(
    dir: &Path,
    buildpacks: &Path,
    id: &str,
    version: &str,
    user: &user::RunUser,
) -> Result<bool, EngineError> {
    let digest = tree_digest(dir).map_err(io(format!("cannot read {}", dir.display())))?;
    let dest = buildpacks.join(escape_id(id)).join(version);
    let marker = digest_file(buildpacks, id, version);
    if dest.is_dir() && std::fs::read_to_string(&marker).is_ok_and(|seen| seen == digest) {
        return Ok(false);
    }
    // The marker goes first: a copy that stops half way is copied again.
    let _ = std::fs::remove_file(&marker);
    remove_dir(&dest)?;
    if let Some(parent) = dest.parent() {
        mkdirs(parent)?;
        user.own_entry(parent)?;
    }
    copy_tree(dir, &dest)?;
    user.own(&dest)?;
    write_file(&marker, &digest)?;
    Ok(true)
}

/// The SHA-256 of a directory tree: every entry's relative path, kind and mode, a file's
/// content, a link's target, in name order.
///
/// # Errors
/// I/O.
pub(super) fn tree_digest(dir: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    hash_dir(dir, Path::new(""), &mut hasher)?;
    Ok(format!("{:x}", hasher.finalize()))
}

fn hash_dir(root: &Path, rel: &Path, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let rel = rel.join(entry.file_name());
        let meta = std::fs::symlink_metadata(entry.path())?;
        hasher.update(rel.as_os_str().as_bytes());
        hasher.update([0]);
        hasher.update(meta.mode().to_le_bytes());
        if meta.file_type().is_symlink() {
            hasher.update(b"L");
            hasher.update(std::fs::read_link(entry.path())?.as_os_str().as_bytes());
        } else if meta.is_dir() {
            hasher.update(b"D");
            hash_dir(root, &rel, hasher)?;
            hasher.update(b"E");
        } else {
            hasher.update(b"F");
            hasher.update(meta.len().to_le_bytes());
            let mut file = std::fs::File::open(entry.path())?;
            std::io::copy(&mut file, hasher)?;
        }
        hasher.update([0]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> user::RunUser {
        user::RunUser {
            uid: 0,
            gid: 0,
            home: None,
            drop_root: false,
            note: None,
        }
    }

    #[test]
    fn a_buildpack_is_copied_once_per_content() {
        let dir = tempfile::tempdir().unwrap();
        let bp = dir.path().join("bp");
        std::fs::create_dir_all(bp.join("bin")).unwrap();
        std::fs::write(bp.join("bin").join("build"), "#!/bin/sh\n").unwrap();
        let staged = dir.path().join("staged");
        assert!(stage_buildpack(&bp, &staged, "a/b", "1.0", &user()).unwrap());
        let copy = staged.join("a_b").join("1.0").join("bin").join("build");
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), "#!/bin/sh\n");
        // Same content: not copied again (a file only the copy has stays).
        std::fs::write(staged.join("a_b").join("1.0").join("mark"), "").unwrap();
        assert!(!stage_buildpack(&bp, &staged, "a/b", "1.0", &user()).unwrap());
        assert!(staged.join("a_b").join("1.0").join("mark").exists());
        // Changed content: copied again, from scratch.
        std::fs::write(bp.join("bin").join("build"), "#!/bin/sh\nexit 1\n").unwrap();
        assert!(stage_buildpack(&bp, &staged, "a/b", "1.0", &user()).unwrap());
        assert_eq!(
            std::fs::read_to_string(&copy).unwrap(),
            "#!/bin/sh\nexit 1\n"
        );
        assert!(!staged.join("a_b").join("1.0").join("mark").exists());
    }

    #[test]
    fn the_digest_sees_content_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let first = tree_digest(dir.path()).unwrap();
        assert_eq!(tree_digest(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("f"), "y").unwrap();
        let second = tree_digest(dir.path()).unwrap();
        assert_ne!(second, first);
        std::os::unix::fs::symlink("f", dir.path().join("l")).unwrap();
        assert_ne!(tree_digest(dir.path()).unwrap(), second);
    }
}
