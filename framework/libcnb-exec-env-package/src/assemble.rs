//! Compiling buildpack binaries and writing packaged directories.

use crate::{CargoProfile, PackageError, PackageOptions, Target};
use libcnb_data::buildpack::BuildpackId;
use libcnb_exec_env::internal::descriptor::BuildpackToml;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// An exclusive lock on an output directory, held while packaging into it, so concurrent
/// packagers (parallel tests, several processes) do not write the same directories at once.
pub(crate) struct OutputLock {
    _file: File,
}

impl OutputLock {
    pub(crate) fn acquire(output_dir: &Path) -> Result<Self, PackageError> {
        fs::create_dir_all(output_dir).map_err(|error| io(output_dir, "create", error))?;
        let path = output_dir.join(".package.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| io(&path, "open", error))?;
        file.lock().map_err(|error| io(&path, "lock", error))?;
        Ok(Self { _file: file })
    }
}

fn io(path: &Path, action: &'static str, error: std::io::Error) -> PackageError {
    PackageError::Io {
        path: path.to_path_buf(),
        action,
        error,
    }
}

/// The compiled binaries of a crate: `(target name, path)`.
pub(crate) struct Binaries {
    pub(crate) main: (String, PathBuf),
    pub(crate) additional: Vec<(String, PathBuf)>,
}

/// Whether the crate in `crate_dir` is a package of this workspace metadata.
pub(crate) fn is_member(metadata: &cargo_metadata::Metadata, crate_dir: &Path) -> bool {
    package_of(metadata, &crate_dir.join("Cargo.toml")).is_some()
}

fn package_of<'a>(
    metadata: &'a cargo_metadata::Metadata,
    manifest: &Path,
) -> Option<&'a cargo_metadata::Package> {
    metadata.packages.iter().find(|package| {
        fs::canonicalize(package.manifest_path.as_std_path()).is_ok_and(|path| path == manifest)
    })
}

pub(crate) fn build_binaries(
    crate_dir: &Path,
    metadata: &cargo_metadata::Metadata,
    target: &Target,
    options: &PackageOptions,
    cross_env: &[(OsString, OsString)],
) -> Result<Binaries, PackageError> {
    let manifest = crate_dir.join("Cargo.toml");
    let package = package_of(metadata, &manifest).ok_or_else(|| PackageError::BinaryTarget {
        manifest: manifest.clone(),
        message: format!(
            "not a member of the Cargo workspace at {}",
            metadata.workspace_root
        ),
    })?;
    let names: Vec<String> = package
        .targets
        .iter()
        .filter(|target| target.is_bin())
        .map(|target| target.name.clone())
        .collect();
    // As libcnb-package: the only binary, or the one named like the package.
    let main = match names.as_slice() {
        [] => {
            return Err(PackageError::BinaryTarget {
                manifest,
                message: "the crate has no binary target to become bin/build and bin/detect"
                    .to_owned(),
            });
        }
        [only] => only.clone(),
        _ if names.contains(&package.name.to_string()) => package.name.to_string(),
        _ => {
            return Err(PackageError::BinaryTarget {
                manifest,
                message: format!(
                    "several binary targets ({}) and none is named like the package ({})",
                    names.join(", "),
                    package.name
                ),
            });
        }
    };

    run_cargo_build(&manifest, crate_dir, target, options, cross_env)?;
    let out_dir = metadata
        .target_directory
        .as_std_path()
        .join(&target.triple)
        .join(match options.profile {
            CargoProfile::Dev => "debug",
            CargoProfile::Release => "release",
        });
    let path_of = |name: &String| (name.clone(), out_dir.join(name));
    Ok(Binaries {
        main: path_of(&main),
        additional: names
            .iter()
            .filter(|name| **name != main)
            .map(path_of)
            .collect(),
    })
}

fn run_cargo_build(
    manifest: &Path,
    crate_dir: &Path,
    target: &Target,
    options: &PackageOptions,
    cross_env: &[(OsString, OsString)],
) -> Result<(), PackageError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .args([
            "build",
            "--bins",
            "--target",
            &target.triple,
            "--manifest-path",
        ])
        .arg(manifest);
    // In CI, a committed lock file must be used as it is; a workspace without one (a throwaway
    // test workspace) gets one created, as a plain `cargo build` would.
    if std::env::var_os("CI").is_some() && workspace_root(manifest).join("Cargo.lock").is_file() {
        command.arg("--locked");
    }
    if options.quiet {
        command.arg("--quiet");
    }
    // The same settings as `cargo libcnb package`, so both share Cargo's build cache: stripped
    // binaries without debug info (a smaller image, a faster copy).
    match options.profile {
        CargoProfile::Dev => {
            command
                .env("CARGO_PROFILE_DEV_DEBUG", "false")
                .env("CARGO_PROFILE_DEV_STRIP", "true");
        }
        CargoProfile::Release => {
            command
                .arg("--release")
                .env("CARGO_PROFILE_RELEASE_STRIP", "true");
        }
    }
    command
        .envs(cross_env.iter().map(|(key, value)| (key, value)))
        .envs(options.cargo_env.iter().map(|(key, value)| (key, value)))
        .current_dir(crate_dir);
    // Cargo's stdout (nothing, normally) goes to stderr: stdout is for results.
    if let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() {
        command.stdout(Stdio::from(stderr));
    }
    let status = command.status().map_err(|error| PackageError::CargoSpawn {
        program: cargo.to_string_lossy().into_owned(),
        error,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(PackageError::CargoBuild {
            manifest: manifest.to_path_buf(),
            target: target.triple.clone(),
            status,
        })
    }
}

static STAGING: AtomicU64 = AtomicU64::new(0);

fn staging_dir(destination: &Path) -> Result<PathBuf, PackageError> {
    let parent = destination.parent().unwrap_or(destination);
    let name = destination
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(
        ".{name}.staging-{}-{}",
        std::process::id(),
        STAGING.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(|error| io(&staging, "create", error))?;
    Ok(staging)
}

/// Writes a Rust buildpack's packaged directory; returns whether it was already up to date.
pub(crate) fn write_rust(
    source_dir: &Path,
    destination: &Path,
    binaries: &Binaries,
) -> Result<bool, PackageError> {
    let staging = staging_dir(destination)?;
    let result = (|| {
        copy(
            &source_dir.join("buildpack.toml"),
            &staging.join("buildpack.toml"),
        )?;
        let bin = staging.join("bin");
        fs::create_dir_all(&bin).map_err(|error| io(&bin, "create", error))?;
        copy(&binaries.main.1, &bin.join("build"))?;
        let detect = bin.join("detect");
        std::os::unix::fs::symlink("build", &detect)
            .map_err(|error| io(&detect, "create the link", error))?;
        if !binaries.additional.is_empty() {
            let additional = staging.join(".libcnb-cargo").join("additional-bin");
            fs::create_dir_all(&additional).map_err(|error| io(&additional, "create", error))?;
            for (name, path) in &binaries.additional {
                copy(path, &additional.join(name))?;
            }
        }
        let package_toml = staging.join("package.toml");
        fs::write(&package_toml, "[buildpack]\nuri = \".\"\n")
            .map_err(|error| io(&package_toml, "write", error))
    })();
    finish(&staging, destination, result)
}

/// Writes a composite's packaged directory through libcnb-package (which copies
/// `buildpack.toml` as it is and points `package.toml` at the packaged components).
pub(crate) fn write_composite(
    source_dir: &Path,
    destination: &Path,
    components: &BTreeMap<BuildpackId, PathBuf>,
) -> Result<bool, PackageError> {
    let staging = staging_dir(destination)?;
    let result =
        libcnb_package::package::package_composite_buildpack(source_dir, &staging, components)
            .map_err(|error| PackageError::PackageToml {
                path: source_dir.join("package.toml"),
                message: error.to_string(),
            });
    finish(&staging, destination, result)
}

fn finish(
    staging: &Path,
    destination: &Path,
    result: Result<(), PackageError>,
) -> Result<bool, PackageError> {
    if let Err(error) = result {
        let _ = fs::remove_dir_all(staging);
        return Err(error);
    }
    // Leave an identical directory alone: someone may be using it.
    if same_tree(staging, destination) {
        fs::remove_dir_all(staging).map_err(|error| io(staging, "remove", error))?;
        return Ok(true);
    }
    if destination.exists() {
        fs::remove_dir_all(destination).map_err(|error| io(destination, "remove", error))?;
    }
    fs::rename(staging, destination).map_err(|error| io(destination, "create", error))?;
    Ok(false)
}

fn copy(from: &Path, to: &Path) -> Result<(), PackageError> {
    fs::copy(from, to)
        .map(|_| ())
        .map_err(|error| io(from, "copy", error))
}

/// Whether two directory trees hold the same names, links and file contents.
fn same_tree(a: &Path, b: &Path) -> bool {
    fn entries(dir: &Path) -> Option<Vec<(OsString, PathBuf)>> {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .ok()?
            .map(|entry| entry.map(|entry| (entry.file_name(), entry.path())))
            .collect::<Result<_, _>>()
            .ok()?;
        entries.sort();
        Some(entries)
    }
    let (Some(left), Some(right)) = (entries(a), entries(b)) else {
        return false;
    };
    left.len() == right.len()
        && left.iter().zip(&right).all(|((name_a, a), (name_b, b))| {
            if name_a != name_b {
                return false;
            }
            let (Ok(meta_a), Ok(meta_b)) = (fs::symlink_metadata(a), fs::symlink_metadata(b))
            else {
                return false;
            };
            if meta_a.file_type() != meta_b.file_type() {
                return false;
            }
            if meta_a.is_symlink() {
                fs::read_link(a).ok() == fs::read_link(b).ok()
            } else if meta_a.is_dir() {
                same_tree(a, b)
            } else {
                meta_a.permissions().mode() == meta_b.permissions().mode()
                    && meta_a.len() == meta_b.len()
                    && fs::read(a).ok() == fs::read(b).ok()
            }
        })
}

pub(crate) fn verify(dir: &Path) -> Result<BuildpackToml, PackageError> {
    let layout = |problem: String| PackageError::Layout {
        dir: dir.to_path_buf(),
        problem,
    };
    let descriptor = BuildpackToml::read(dir.join("buildpack.toml"))?;
    if descriptor.stripped.contains_key("order") {
        if !dir.join("package.toml").is_file() {
            return Err(layout("a composite needs package.toml".to_owned()));
        }
        return Ok(descriptor);
    }
    let _ = descriptor.component::<libcnb_data::generic::GenericMetadata>()?;
    for name in ["build", "detect"] {
        let path = dir.join("bin").join(name);
        let metadata =
            fs::metadata(&path).map_err(|error| layout(format!("bin/{name}: {error}")))?;
        if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
            return Err(layout(format!("bin/{name} is not an executable file")));
        }
    }
    Ok(descriptor)
}

/// The directory of the Cargo workspace `manifest` belongs to: the nearest directory at or above
/// it whose `Cargo.toml` has a `[workspace]` table, else the manifest's own directory.
fn workspace_root(manifest: &Path) -> &Path {
    let own = manifest.parent().unwrap_or(manifest);
    own.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .ok()
                .and_then(|text| text.parse::<toml::Table>().ok())
                .is_some_and(|table| table.contains_key("workspace"))
        })
        .unwrap_or(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_trees_are_detected_and_differences_are_not_missed() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            fs::create_dir(dir.join("bin")).unwrap();
            fs::write(dir.join("bin/build"), "x").unwrap();
            std::os::unix::fs::symlink("build", dir.join("bin/detect")).unwrap();
        }
        assert!(same_tree(a.path(), b.path()));
        fs::write(b.path().join("bin/build"), "y").unwrap();
        assert!(!same_tree(a.path(), b.path()));
        fs::write(b.path().join("bin/build"), "x").unwrap();
        fs::write(b.path().join("extra"), "").unwrap();
        assert!(!same_tree(a.path(), b.path()));
        assert!(!same_tree(a.path(), &a.path().join("missing")));
    }

    #[test]
    fn verify_names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("buildpack.toml"),
            "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1.0.0\"\nexec-env = [\"test\"]\n",
        )
        .unwrap();
        let error = verify(dir.path()).unwrap_err().to_string();
        assert!(error.contains("bin/build"), "{error}");
        fs::create_dir(dir.path().join("bin")).unwrap();
        fs::write(dir.path().join("bin/build"), "").unwrap();
        let error = verify(dir.path()).unwrap_err().to_string();
        assert!(error.contains("not an executable"), "{error}");
        fs::set_permissions(
            dir.path().join("bin/build"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("build", dir.path().join("bin/detect")).unwrap();
        let descriptor = verify(dir.path()).unwrap();
        assert!(!descriptor.exec_env.is_all());
    }
}
