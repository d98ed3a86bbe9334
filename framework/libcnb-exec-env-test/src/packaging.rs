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
    let mut buildpacks = Vec::new();
    for reference in references {
        let dir = match reference {
            BuildpackReference::Packaged(dir) => from_manifest_dir(dir),
            BuildpackReference::CurrentCrate => package_current_crate()?,
            BuildpackReference::WorkspaceBuildpack(id) => package_workspace_buildpack(id)?,
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

fn options() -> PackageOptions {
    PackageOptions::default().quiet(true)
}

fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn package_current_crate() -> Result<PathBuf, EngineError> {
    let dir = manifest_dir();
    packaged(format!("dir:{}", dir.display()), || {
        package_buildpack(&dir, &options())
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
    packaged(format!("id:{id}@{}", dir_in_workspace.display()), || {
        libcnb_exec_env_package::package_workspace_buildpack(dir_in_workspace, id, &options())
            .map(|packaged| packaged.dir)
            .map_err(|error| EngineError::Packaging {
                what: format!("workspace buildpack {id}"),
                reason: error.to_string(),
            })
    })
}

fn package_workspace_buildpack(id: &str) -> Result<PathBuf, EngineError> {
    package_workspace_buildpack_in(&manifest_dir(), id)
}
