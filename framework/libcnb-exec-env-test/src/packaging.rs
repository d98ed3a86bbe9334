//! Turns [`BuildpackReference`]s into an [`Order`] of packaged buildpack directories.

use crate::engine::{EngineError, GroupEntry, Order, PackagedBuildpack};
use crate::runner::{BuildpackReference, from_manifest_dir};
use libcnb_exec_env::ExecEnvSelector;
use libcnb_exec_env_package::{PackageOptions, package_buildpack};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Resolves buildpack references to the order to detect over.
///
/// A plain list is one group of required buildpacks. A single composite brings its own
/// `[[order]]`, whose components are looked up by id among the other references, the
/// composite's subdirectories and its sibling directories.
///
/// # Errors
/// A directory that is not a packaged buildpack, a component that cannot be found, a
/// workspace buildpack that cannot be packaged.
pub fn resolve_order(references: &[BuildpackReference]) -> Result<Order, EngineError> {
    resolve_order_for(references, None)
}

/// [`resolve_order`], compiling Rust buildpacks for `target_triple` (`None`: the host).
///
/// # Errors
/// As [`resolve_order`]; [`EngineError::Unsupported`] for a [`BuildpackReference::Other`] that
/// is not a directory.
pub fn resolve_order_for(
    references: &[BuildpackReference],
    target_triple: Option<&str>,
) -> Result<Order, EngineError> {
    let mut buildpacks = Vec::new();
    for reference in references {
        let dir = match reference {
            BuildpackReference::Packaged(dir) => from_manifest_dir(dir),
            BuildpackReference::Other(other) => other_dir(other)?,
            BuildpackReference::CurrentCrate => package_current_crate(target_triple)?,
            BuildpackReference::WorkspaceBuildpack(id) => {
                package_workspace_buildpack(id.as_str(), target_triple)?
            }
        };
        if !dir.join("buildpack.toml").is_file() {
            return Err(EngineError::InvalidBuildpack {
                dir,
                reason: "it has no buildpack.toml".to_owned(),
            });
        }
        buildpacks.push(PackagedBuildpack::read(&dir)?);
    }
    if buildpacks.is_empty() {
        return Err(EngineError::InvalidBuildpack {
            dir: PathBuf::new(),
            reason: "no buildpack was given".to_owned(),
        });
    }
    if let [composite] = buildpacks.as_slice()
        && composite.is_composite()
    {
        return composite_order(composite, &[]);
    }
    if let Some(composite) = buildpacks.iter().find(|bp| bp.is_composite()) {
        if buildpacks.iter().filter(|bp| bp.is_composite()).count() == 1 {
            let others: Vec<PackagedBuildpack> = buildpacks
                .iter()
                .filter(|bp| !bp.is_composite())
                .cloned()
                .collect();
            return composite_order(composite, &others);
        }
        return Err(EngineError::InvalidBuildpack {
            dir: composite.dir.clone(),
            reason: "only one composite buildpack may be given".to_owned(),
        });
    }
    for buildpack in &buildpacks {
        check_component(buildpack)?;
    }
    Ok(vec![
        buildpacks
            .into_iter()
            .map(|buildpack| GroupEntry {
                buildpack,
                optional: false,
                exec_env: ExecEnvSelector::All,
            })
            .collect(),
    ])
}

fn check_component(buildpack: &PackagedBuildpack) -> Result<(), EngineError> {
    for bin in ["detect", "build"] {
        let path = buildpack.dir.join("bin").join(bin);
        if !path.is_file() {
            return Err(EngineError::InvalidBuildpack {
                dir: buildpack.dir.clone(),
                reason: format!("{} is missing", path.display()),
            });
        }
    }
    Ok(())
}

fn candidate_dirs(composite: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for parent in [Some(composite), composite.parent()].into_iter().flatten() {
        if let Ok(entries) = std::fs::read_dir(parent) {
            let mut children: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.join("buildpack.toml").is_file() && path != composite)
                .collect();
            children.sort();
            dirs.extend(children);
        }
    }
    // libcnb-package writes `package.toml` with the components' paths.
    if let Ok(text) = std::fs::read_to_string(composite.join("package.toml"))
        && let Ok(table) = toml::from_str::<toml::Table>(&text)
    {
        for dependency in table
            .get("dependencies")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(uri) = dependency.get("uri").and_then(toml::Value::as_str) {
                let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
                dirs.insert(0, composite.join(path));
            }
        }
    }
    dirs
}

fn composite_order(
    composite: &PackagedBuildpack,
    given: &[PackagedBuildpack],
) -> Result<Order, EngineError> {
    let candidates = candidate_dirs(&composite.dir);
    let find = |id: &str| -> Result<PackagedBuildpack, EngineError> {
        if let Some(found) = given.iter().find(|bp| bp.id == id) {
            return Ok(found.clone());
        }
        for dir in &candidates {
            if let Ok(found) = PackagedBuildpack::read(dir)
                && found.id == id
            {
                return Ok(found);
            }
        }
        Err(EngineError::InvalidBuildpack {
            dir: composite.dir.clone(),
            reason: format!(
                "its order names `{id}`, which is neither given nor packaged in or next to it"
            ),
        })
    };
    let orders = composite
        .descriptor
        .stripped
        .get("order")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut order = Vec::new();
    for (order_index, group) in orders.iter().enumerate() {
        let mut entries = Vec::new();
        let members = group
            .get("group")
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (group_index, member) in members.iter().enumerate() {
            let id = member
                .get("id")
                .and_then(toml::Value::as_str)
                .ok_or_else(|| EngineError::InvalidBuildpack {
                    dir: composite.dir.clone(),
                    reason: format!("order[{order_index}].group[{group_index}] has no string `id`"),
                })?;
            let buildpack = find(id)?;
            check_component(&buildpack)?;
            entries.push(GroupEntry {
                buildpack,
                optional: member
                    .get("optional")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(false),
                exec_env: composite
                    .descriptor
                    .order_exec_env
                    .get(order_index)
                    .and_then(|selectors| selectors.get(group_index))
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        order.push(entries);
    }
    Ok(order)
}

/// Packaged directories, per process: each buildpack is packaged once per test binary.
static PACKAGED: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

fn packaged(
    key: String,
    package: impl FnOnce() -> Result<PathBuf, EngineError>,
) -> Result<PathBuf, EngineError> {
    // Holding the lock while packaging also serializes cargo builds of parallel tests.
    let mut cache = PACKAGED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(dir) = cache.get(&key) {
        return Ok(dir.clone());
    }
    let dir = package()?;
    cache.insert(key, dir.clone());
    Ok(dir)
}

/// The directory a [`BuildpackReference::Other`] names, when it names one.
fn other_dir(other: &str) -> Result<PathBuf, EngineError> {
    let dir = from_manifest_dir(Path::new(other.strip_prefix("file://").unwrap_or(other)));
    if dir.is_dir() {
        return Ok(dir);
    }
    let why = if other.starts_with("docker://") || other.starts_with("urn:cnb:") {
        "it is an image or registry reference; the engines here build from packaged buildpack \
         directories only (the pack engine packages the whole order into one composite \
         buildpack), so package it into a directory and pass that path"
    } else if Path::new(other)
        .extension()
        .is_some_and(|ext| ext == "cnb" || ext == "tgz")
    {
        "it is a buildpack archive; unpack it into a directory and pass that path"
    } else {
        "no directory has this path (relative paths are relative to CARGO_MANIFEST_DIR), and a \
         buildpack id of a builder or registry cannot be used: every engine here builds from \
         packaged buildpack directories"
    };
    Err(EngineError::Unsupported {
        engine: "test API".to_owned(),
        what: format!("use BuildpackReference::Other({other:?})"),
        why: why.to_owned(),
    })
}

fn options(target_triple: Option<&str>) -> PackageOptions {
    let options = PackageOptions::default().quiet(true);
    match target_triple {
        Some(triple) => options.target(triple),
        None => options,
    }
}

fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn package_current_crate(target_triple: Option<&str>) -> Result<PathBuf, EngineError> {
    let dir = manifest_dir();
    let key = format!("dir:{}:{}", dir.display(), target_triple.unwrap_or("host"));
    packaged(key, || {
        package_buildpack(&dir, &options(target_triple))
            .map(|packaged| packaged.dir)
            .map_err(|error| EngineError::Packaging {
                what: format!("the current crate ({})", dir.display()),
                reason: error.to_string(),
            })
    })
}

/// Packages the buildpack `id` of the Cargo workspace containing `dir_in_workspace`, once per
/// process, keeping its `exec-env` keys (crate `libcnb-exec-env-package`).
///
/// # Errors
/// [`EngineError::Packaging`] when no workspace buildpack has this id or packaging fails.
pub fn package_workspace_buildpack_in(
    dir_in_workspace: &Path,
    id: &str,
) -> Result<PathBuf, EngineError> {
    package_workspace_buildpack_for(dir_in_workspace, id, None)
}

fn package_workspace_buildpack_for(
    dir_in_workspace: &Path,
    id: &str,
    target_triple: Option<&str>,
) -> Result<PathBuf, EngineError> {
    let key = format!(
        "id:{id}@{}:{}",
        dir_in_workspace.display(),
        target_triple.unwrap_or("host")
    );
    packaged(key, || {
        libcnb_exec_env_package::package_workspace_buildpack(
            dir_in_workspace,
            id,
            &options(target_triple),
        )
        .map(|packaged| packaged.dir)
        .map_err(|error| EngineError::Packaging {
            what: format!("workspace buildpack {id}"),
            reason: error.to_string(),
        })
    })
}

fn package_workspace_buildpack(
    id: &str,
    target_triple: Option<&str>,
) -> Result<PathBuf, EngineError> {
    package_workspace_buildpack_for(&manifest_dir(), id, target_triple)
}
