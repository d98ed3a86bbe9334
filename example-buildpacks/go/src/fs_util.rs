//! File system helpers: copying a GOROOT, removing trees, readying a downloaded toolchain.

use crate::errors::GoBuildpackError;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Copies the directory tree `from` into `to` (created if needed), keeping permissions and
/// symbolic links.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), GoBuildpackError> {
    std::fs::create_dir_all(to).map_err(GoBuildpackError::io("create", to))?;
    for entry in std::fs::read_dir(from).map_err(GoBuildpackError::io("read", from))? {
        let entry = entry.map_err(GoBuildpackError::io("read", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(GoBuildpackError::io("inspect", &source))?;
        if kind.is_symlink() {
            let link =
                std::fs::read_link(&source).map_err(GoBuildpackError::io("read", &source))?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(GoBuildpackError::io("create", &target))?;
        } else if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(GoBuildpackError::io("copy", &source))?;
        }
    }
    Ok(())
}

/// Removes a directory tree, making read-only directories writable first (the module cache
/// writes them read-only unless `-modcacherw` is given). A missing tree is fine.
pub(crate) fn remove_tree(path: &Path) -> Result<(), GoBuildpackError> {
    if !path.exists() {
        return Ok(());
    }
    make_writable(path)?;
    std::fs::remove_dir_all(path).map_err(GoBuildpackError::io("remove", path))
}

fn make_writable(dir: &Path) -> Result<(), GoBuildpackError> {
    let metadata = std::fs::symlink_metadata(dir).map_err(GoBuildpackError::io("inspect", dir))?;
    if !metadata.is_dir() {
        return Ok(());
    }
    let mut permissions = metadata.permissions();
    if permissions.mode() & 0o700 != 0o700 {
        permissions.set_mode(permissions.mode() | 0o700);
        std::fs::set_permissions(dir, permissions).map_err(GoBuildpackError::io("chmod", dir))?;
    }
    for entry in std::fs::read_dir(dir).map_err(GoBuildpackError::io("read", dir))? {
        let entry = entry.map_err(GoBuildpackError::io("read", dir))?;
        if entry
            .file_type()
            .map_err(GoBuildpackError::io("inspect", entry.path()))?
            .is_dir()
        {
            make_writable(&entry.path())?;
        }
    }
    Ok(())
}

/// Module zips keep neither execute bits nor nested `go.mod` files (they are stored as
/// `_go.mod`). This restores both in a toolchain unpacked from `golang.org/toolchain`, as the
/// `go` command does after downloading a toolchain itself.
pub(crate) fn make_toolchain_runnable(goroot: &Path) -> Result<(), GoBuildpackError> {
    set_executable(&goroot.join("pkg/tool"), &|_| true)?;
    set_executable(&goroot.join("lib"), &|name| {
        name.starts_with("go_") && name.ends_with("_exec")
    })?;
    set_executable(&goroot.join("bin"), &|_| true)?;
    restore_go_mod_files(&goroot.join("src"))
}

fn set_executable(dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<(), GoBuildpackError> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(GoBuildpackError::io("read", dir))? {
        let entry = entry.map_err(GoBuildpackError::io("read", dir))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(GoBuildpackError::io("inspect", &path))?;
        if kind.is_dir() {
            set_executable(&path, wanted)?;
        } else if kind.is_file() && wanted(&entry.file_name().to_string_lossy()) {
            let mut permissions = entry
                .metadata()
                .map_err(GoBuildpackError::io("inspect", &path))?
                .permissions();
            permissions.set_mode(permissions.mode() | 0o111);
            std::fs::set_permissions(&path, permissions)
                .map_err(GoBuildpackError::io("chmod", &path))?;
        }
    }
    Ok(())
}

fn restore_go_mod_files(dir: &Path) -> Result<(), GoBuildpackError> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(GoBuildpackError::io("read", dir))? {
        let entry = entry.map_err(GoBuildpackError::io("read", dir))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(GoBuildpackError::io("inspect", &path))?;
        if kind.is_dir() {
            restore_go_mod_files(&path)?;
        } else if entry.file_name() == "_go.mod" {
            let target = dir.join("go.mod");
            std::fs::copy(&path, &target).map_err(GoBuildpackError::io("copy", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_links_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("bin")).unwrap();
        std::fs::write(from.join("bin/go"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(from.join("bin/go"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::os::unix::fs::symlink("bin/go", from.join("link")).unwrap();
        let to = dir.path().join("to");
        copy_tree(&from, &to).unwrap();
        assert_eq!(
            std::fs::metadata(to.join("bin/go"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o755
        );
        assert_eq!(
            std::fs::read_link(to.join("link")).unwrap(),
            Path::new("bin/go")
        );
    }

    #[test]
    fn readies_an_unpacked_toolchain() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "bin/go",
            "pkg/tool/linux_amd64/compile",
            "lib/wasm/go_js_wasm_exec",
            "lib/time/zoneinfo.zip",
            "src/crypto/x/_asm/_go.mod",
        ] {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "x").unwrap();
            std::fs::set_permissions(root.join(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        make_toolchain_runnable(root).unwrap();
        let mode = |file: &str| {
            std::fs::metadata(root.join(file))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("bin/go"), 0o755);
        assert_eq!(mode("pkg/tool/linux_amd64/compile"), 0o755);
        assert_eq!(mode("lib/wasm/go_js_wasm_exec"), 0o755);
        assert_eq!(mode("lib/time/zoneinfo.zip"), 0o644);
        assert!(root.join("src/crypto/x/_asm/go.mod").is_file());
    }

    #[test]
    fn removes_read_only_trees() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("cache/mod@v1");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("f"), "x").unwrap();
        std::fs::set_permissions(&tree, std::fs::Permissions::from_mode(0o555)).unwrap();
        remove_tree(&dir.path().join("cache")).unwrap();
        assert!(!dir.path().join("cache").exists());
        remove_tree(&dir.path().join("cache")).unwrap();
    }
}
