//! Finding buildpacks in a Cargo workspace, and telling their kinds apart.

use crate::PackageError;
use libcnb_data::buildpack::{BuildpackId, CompositeBuildpackDescriptor};
use libcnb_data::generic::GenericMetadata;
use libcnb_data::package_descriptor::PackageDescriptor;
use libcnb_exec_env::internal::descriptor::BuildpackToml;
use std::path::{Path, PathBuf};

/// A buildpack found in a workspace.
#[derive(Clone, Debug)]
pub struct WorkspaceBuildpack {
    /// Its id.
    pub id: BuildpackId,
    /// Its source directory.
    pub dir: PathBuf,
    /// What kind it is.
    pub kind: WorkspaceBuildpackKind,
    /// Its `buildpack.toml`, read tolerantly.
    pub descriptor: BuildpackToml,
}

/// What kind of buildpack a directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceBuildpackKind {
    /// `buildpack.toml` and `Cargo.toml`: compiled and packaged.
    Rust,
    /// `buildpack.toml` with `[[order]]`: packaged with its `package.toml` components.
    Composite,
    /// A component `buildpack.toml` without `Cargo.toml` (not packaged here).
    Other,
}

/// Every directory under the workspace root (honouring `.gitignore`, as `cargo libcnb package`
/// does) holding a `buildpack.toml`, sorted by path, except those under a directory in `skip`
/// (e.g. the Cargo target directory, where packaged copies live). An unreadable or invalid
/// `buildpack.toml` is an error naming the file.
///
/// # Errors
/// [`PackageError::Search`] when walking fails, [`PackageError::Descriptor`] for a bad
/// `buildpack.toml`.
pub fn find_workspace_buildpacks(
    workspace_root: &Path,
    skip: &[PathBuf],
) -> Result<Vec<WorkspaceBuildpack>, PackageError> {
    let mut dirs = libcnb_package::find_buildpack_dirs(workspace_root).map_err(|error| {
        PackageError::Search {
            dir: workspace_root.to_path_buf(),
            message: error.to_string(),
        }
    })?;
    dirs.sort();
    dirs.into_iter()
        .map(|dir| std::fs::canonicalize(&dir).unwrap_or(dir))
        .filter(|dir| !skip.iter().any(|skipped| dir.starts_with(skipped)))
        .map(|dir| {
            let descriptor = BuildpackToml::read(dir.join("buildpack.toml"))?;
            let kind = kind_of(&dir, &descriptor)?;
            let id = id_of(&descriptor)?;
            Ok(WorkspaceBuildpack {
                id,
                dir,
                kind,
                descriptor,
            })
        })
        .collect()
}

pub(crate) fn kind_of(
    dir: &Path,
    descriptor: &BuildpackToml,
) -> Result<WorkspaceBuildpackKind, PackageError> {
    if descriptor.stripped.contains_key("order") {
        let _: CompositeBuildpackDescriptor<GenericMetadata> = descriptor
            .stripped
            .clone()
            .try_into()
            .map_err(|error| PackageError::Composite {
                path: descriptor.path.clone(),
                error,
            })?;
        Ok(WorkspaceBuildpackKind::Composite)
    } else {
        let _ = descriptor.component::<GenericMetadata>()?;
        Ok(if dir.join("Cargo.toml").is_file() {
            WorkspaceBuildpackKind::Rust
        } else {
            WorkspaceBuildpackKind::Other
        })
    }
}

pub(crate) fn id_of(descriptor: &BuildpackToml) -> Result<BuildpackId, PackageError> {
    let id = descriptor
        .stripped
        .get("buildpack")
        .and_then(|buildpack| buildpack.get("id"))
        .and_then(toml::Value::as_str)
        .unwrap_or_default();
    id.parse().map_err(|_| {
        PackageError::Descriptor(
            libcnb_exec_env::internal::descriptor::DescriptorError::WrongType {
                path: descriptor.path.clone(),
                key: "buildpack.id".to_owned(),
                expected: "a buildpack id such as \"examples/nodejs\"",
                found: format!("{id:?}"),
            },
        )
    })
}

/// The ids of a composite's `libcnb:<id>` dependencies in its `package.toml`, in order.
pub(crate) fn libcnb_dependencies(dir: &Path) -> Result<Vec<BuildpackId>, PackageError> {
    let path = dir.join("package.toml");
    let text = std::fs::read_to_string(&path).map_err(|error| PackageError::PackageToml {
        path: path.clone(),
        message: format!("cannot read it: {error}"),
    })?;
    let descriptor: PackageDescriptor =
        toml::from_str(&text).map_err(|error| PackageError::PackageToml {
            path: path.clone(),
            message: error.to_string(),
        })?;
    descriptor
        .dependencies
        .iter()
        .filter_map(|dependency| {
            let uri = dependency.uri.to_string();
            uri.strip_prefix("libcnb:").map(|id| {
                id.parse().map_err(|_| PackageError::PackageToml {
                    path: path.clone(),
                    message: format!("dependencies: uri {uri:?} names no valid buildpack id"),
                })
            })
        })
        .collect()
}

pub(crate) fn cargo_metadata(dir: &Path) -> Result<cargo_metadata::Metadata, PackageError> {
    let mut command = cargo_metadata::MetadataCommand::new();
    command.current_dir(dir).no_deps();
    if let Some(cargo) = std::env::var_os("CARGO") {
        command.cargo_path(cargo);
    }
    command.exec().map_err(|error| PackageError::CargoMetadata {
        dir: dir.to_path_buf(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_told_apart_with_exec_env_keys() {
        let dir = tempfile::tempdir().unwrap();
        let composite = BuildpackToml::parse(
            "api = \"0.12\"\n[buildpack]\nid = \"a/c\"\nversion = \"1.0.0\"\n\
             [[order]]\n[[order.group]]\nid = \"a/b\"\nversion = \"1.0.0\"\nexec-env = [\"test\"]\n",
            dir.path().join("buildpack.toml"),
        )
        .unwrap();
        assert_eq!(
            kind_of(dir.path(), &composite).unwrap(),
            WorkspaceBuildpackKind::Composite
        );
        let component = BuildpackToml::parse(
            "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1.0.0\"\nexec-env = [\"test\"]\n",
            dir.path().join("buildpack.toml"),
        )
        .unwrap();
        assert_eq!(
            kind_of(dir.path(), &component).unwrap(),
            WorkspaceBuildpackKind::Other
        );
        std::fs::write(dir.path().join("Cargo.toml"), "").unwrap();
        assert_eq!(
            kind_of(dir.path(), &component).unwrap(),
            WorkspaceBuildpackKind::Rust
        );
        assert_eq!(id_of(&component).unwrap().as_str(), "a/b");
    }

    #[test]
    fn libcnb_dependencies_are_listed_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("package.toml"),
            "[buildpack]\nuri = \".\"\n[[dependencies]]\nuri = \"libcnb:a/b\"\n\
             [[dependencies]]\nuri = \"docker://x/y\"\n[[dependencies]]\nuri = \"libcnb:a/c\"\n",
        )
        .unwrap();
        let ids = libcnb_dependencies(dir.path()).unwrap();
        assert_eq!(
            ids.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
            ["a/b", "a/c"]
        );
        std::fs::write(
            dir.path().join("package.toml"),
            "[buildpack]\nuri = \".\"\n[[dependencies]]\nuri = \"libcnb:A B\"\n",
        )
        .unwrap();
        let error = libcnb_dependencies(dir.path()).unwrap_err().to_string();
        assert!(error.contains("package.toml"), "{error}");
        let error = libcnb_dependencies(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing/package.toml"), "{error}");
    }
}
