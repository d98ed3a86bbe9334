//! Installing `node_modules` into cached layers, and linking it into the app.
//!
//! # Where `node_modules` lives
//!
//! `npm ci` replaces a symlinked `node_modules` with a real directory, so npm cannot install
//! *through* a link. Instead the buildpack copies `package.json` (without `scripts`) and the
//! lockfile into the layer, runs npm there, and then links `<app>/node_modules` to
//! `<layer>/node_modules` with a relative symlink. Node resolves `require("express")` from
//! `/workspace` through that link, and `npm test` finds `node_modules/.bin` the same way. The
//! link is relative (`../layers/...`), so it holds wherever the platform puts `/workspace`
//! and `/layers` side by side, as every CNB image does.
//!
//! # Cache keys
//!
//! The layer's metadata ([`NodeModulesKey`]) records what the install depends on: the
//! lockfile digest (or the `package.json` digest when there is no lockfile), whether dev
//! dependencies are included, the node and npm versions and the target platform. A restored
//! layer whose key differs is deleted and reinstalled; an equal key reuses it untouched.

use crate::NodejsBuildpack;
use crate::errors::{NodejsError, write_error};
use crate::npm::Npm;
use crate::output;
use crate::package_json::{Lockfile, PackageJson, sha256_hex};
use crate::runtime::NodeRuntime;
use libcnb::Target;
use libcnb::data::layer::LayerName;
use libcnb::data::layer_name;
use libcnb::generic::GenericMetadata;
use libcnb::layer::{
    CachedLayerDefinition, EmptyLayerCause, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use libcnb_exec_env::BuildContext;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// The npm download cache, shared by every execution environment.
pub(crate) const NPM_CACHE_LAYER: &str = "npm-cache";

/// Everything an installed `node_modules` depends on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeModulesKey {
    /// The file the install follows: the lockfile, or `package.json` without one.
    pub(crate) manifest: String,
    /// SHA-256 of that file (of the copied `package.json` when there is no lockfile).
    pub(crate) manifest_sha256: String,
    /// Whether `devDependencies` are installed.
    pub(crate) dev_dependencies: bool,
    /// `node --version`.
    pub(crate) node_version: String,
    /// `npm --version`.
    pub(crate) npm_version: String,
    /// Target OS, e.g. `linux`.
    pub(crate) os: String,
    /// Target architecture, e.g. `amd64`.
    pub(crate) arch: String,
    /// Target distribution, e.g. `ubuntu`.
    pub(crate) distro_name: String,
    /// Target distribution version, e.g. `24.04`.
    pub(crate) distro_version: String,
}

impl NodeModulesKey {
    /// The key of an install of `package` (with `lockfile`) by `runtime` on `target`.
    pub(crate) fn new(
        package: &PackageJson,
        lockfile: Option<&Lockfile>,
        dev_dependencies: bool,
        runtime: &NodeRuntime,
        target: &Target,
    ) -> Self {
        let (manifest, manifest_sha256) = match lockfile {
            Some(lockfile) => (lockfile.file_name(), lockfile.digest.clone()),
            None => (
                "package.json".to_owned(),
                sha256_hex(package.install_manifest().as_bytes()),
            ),
        };
        Self {
            manifest,
            manifest_sha256,
            dev_dependencies,
            node_version: runtime.node_version.clone(),
            npm_version: runtime.npm_version.clone(),
            os: target.os.clone(),
            arch: target.arch.clone(),
            distro_name: target.distro_name.clone(),
            distro_version: target.distro_version.clone(),
        }
    }

    /// What differs from `other`, e.g. `node_version 20.1.0 -> 22.0.0`.
    pub(crate) fn differences(&self, other: &Self) -> Vec<String> {
        let fields = |key: &Self| {
            [
                ("manifest", key.manifest.clone()),
                ("manifest_sha256", key.manifest_sha256.clone()),
                ("dev_dependencies", key.dev_dependencies.to_string()),
                ("node_version", key.node_version.clone()),
                ("npm_version", key.npm_version.clone()),
                ("os", key.os.clone()),
                ("arch", key.arch.clone()),
                ("distro_name", key.distro_name.clone()),
                ("distro_version", key.distro_version.clone()),
            ]
        };
        fields(self)
            .into_iter()
            .zip(fields(other))
            .filter(|((_, a), (_, b))| a != b)
            .map(|((name, a), (_, b))| {
                if name == "manifest_sha256" {
                    // Digests are long: the first 12 digits tell them apart in the build output.
                    format!("{name} {}… -> {}…", short(&a), short(&b))
                } else {
                    format!("{name} {a} -> {b}")
                }
            })
            .collect()
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// What to install into one `node_modules` layer.
pub(crate) struct Install<'a> {
    /// The layer's base name; the framework adds the environment (`node_modules-test`).
    pub(crate) layer: LayerName,
    /// Whether the layer is part of the image (else it is a cache-only build helper).
    pub(crate) launch: bool,
    /// Whether `devDependencies` are installed.
    pub(crate) dev_dependencies: bool,
    /// `NODE_ENV` for the image (launch layers only).
    pub(crate) node_env: &'a str,
}

/// The shared npm download cache layer: cached, not part of the image, in every environment.
///
/// # Errors
/// libcnb's layer errors.
pub(crate) fn npm_cache_layer(
    context: &BuildContext<NodejsBuildpack>,
) -> libcnb::Result<PathBuf, NodejsError> {
    let layer = context.shared_cached_layer(
        layer_name!("npm-cache"),
        CachedLayerDefinition {
            build: false,
            launch: false,
            invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
            restored_layer_action: &|_: &GenericMetadata, _| RestoredLayerAction::KeepLayer,
        },
    )?;
    match layer.state {
        LayerState::Restored { .. } => output::step(format!(
            "npm download cache: reusing layer {NPM_CACHE_LAYER} (shared by every environment)"
        )),
        LayerState::Empty { .. } => output::step(format!(
            "npm download cache: new layer {NPM_CACHE_LAYER} (shared by every environment)"
        )),
    }
    Ok(layer.path())
}

/// Installs `node_modules` into the env-scoped layer `install.layer`, or reuses the cached
/// one when its [`NodeModulesKey`] is unchanged. Returns the `node_modules` directory.
///
/// # Errors
/// Layer errors, file errors, or npm failing.
pub(crate) fn install(
    context: &BuildContext<NodejsBuildpack>,
    npm: &Npm,
    runtime: &NodeRuntime,
    package: &PackageJson,
    lockfile: Option<&Lockfile>,
    install: &Install<'_>,
) -> libcnb::Result<PathBuf, NodejsError> {
    let key = NodeModulesKey::new(
        package,
        lockfile,
        install.dev_dependencies,
        runtime,
        &context.target,
    );
    let layer = context.env_cached_layer(
        install.layer.clone(),
        CachedLayerDefinition {
            build: install.launch,
            launch: install.launch,
            invalid_metadata_action: &|_| {
                (
                    InvalidMetadataAction::DeleteLayer,
                    "its metadata is from another version of this buildpack".to_owned(),
                )
            },
            restored_layer_action: &|cached: &NodeModulesKey, _| {
                let changes = cached.differences(&key);
                if changes.is_empty() {
                    (RestoredLayerAction::KeepLayer, String::new())
                } else {
                    (RestoredLayerAction::DeleteLayer, changes.join(", "))
                }
            },
        },
    )?;
    let name = format!("{}-{}", install.layer, context.exec_env());
    let dir = layer.path();
    let node_modules = dir.join("node_modules");
    let what = if install.dev_dependencies {
        "with devDependencies"
    } else {
        "without devDependencies"
    };
    match &layer.state {
        LayerState::Restored { .. } => {
            output::step(format!(
                "Reusing layer {name} ({what}): {} unchanged",
                key.manifest
            ));
        }
        LayerState::Empty { cause } => {
            let reason = match cause {
                EmptyLayerCause::NewlyCreated => "nothing cached".to_owned(),
                EmptyLayerCause::InvalidMetadataAction { cause }
                | EmptyLayerCause::RestoredLayerAction { cause } => format!("changed: {cause}"),
            };
            output::step(format!("Installing into layer {name} ({what}): {reason}"));
            write_install_files(&dir, package, lockfile)?;
            let dev_flag = if install.dev_dependencies {
                "--include=dev"
            } else {
                "--omit=dev"
            };
            let command = if lockfile.is_some() { "ci" } else { "install" };
            npm.run(&dir, &[command, dev_flag])?;
            std::fs::create_dir_all(&node_modules)
                .map_err(write_error("create", node_modules.clone()))?;
            if install.launch {
                // Written with the layer, so a reused layer is left exactly as it was. The
                // value cannot change while the key stays: the environment is in the name.
                layer.write_env(
                    LayerEnv::new()
                        .chainable_insert(
                            Scope::All,
                            ModificationBehavior::Default,
                            "NODE_ENV",
                            install.node_env,
                        )
                        .chainable_insert(
                            Scope::Launch,
                            ModificationBehavior::Default,
                            "npm_config_update_notifier",
                            "false",
                        ),
                )?;
            }
            layer.write_metadata(&key)?;
        }
    }
    Ok(node_modules)
}

/// Writes what npm reads into the layer: `package.json` without scripts, the lockfile, and
/// the app's `.npmrc` (registry settings).
fn write_install_files(
    dir: &Path,
    package: &PackageJson,
    lockfile: Option<&Lockfile>,
) -> Result<(), NodejsError> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(write_error("write", path))
    };
    write("package.json", &package.install_manifest())?;
    if let Some(lockfile) = lockfile {
        write(&lockfile.file_name(), &lockfile.text)?;
    }
    if let Some(app_dir) = package.path.parent() {
        let npmrc = app_dir.join(".npmrc");
        if npmrc.is_file() {
            let target = dir.join(".npmrc");
            std::fs::copy(&npmrc, &target).map_err(write_error("copy", target))?;
        }
    }
    Ok(())
}

/// Makes `<app_dir>/node_modules` a relative symlink to `node_modules`, replacing whatever
/// was there (a `node_modules` committed with the app is replaced, with a warning).
///
/// # Errors
/// The old entry cannot be removed or the link cannot be made.
pub(crate) fn link_into_app(app_dir: &Path, node_modules: &Path) -> Result<(), NodejsError> {
    let link = app_dir.join("node_modules");
    match std::fs::symlink_metadata(&link) {
        Ok(metadata) if metadata.is_dir() => {
            output::warning(format!(
                "{} is part of the app source; it is replaced by the installed node_modules (add it to .gitignore / project.toml excludes)",
                link.display()
            ));
            std::fs::remove_dir_all(&link).map_err(write_error("remove", link.clone()))?;
        }
        Ok(_) => std::fs::remove_file(&link).map_err(write_error("remove", link.clone()))?,
        Err(_) => {}
    }
    let app_dir = std::fs::canonicalize(app_dir).map_err(write_error("resolve", app_dir))?;
    let target =
        std::fs::canonicalize(node_modules).map_err(write_error("resolve", node_modules))?;
    std::os::unix::fs::symlink(relative_path(&app_dir, &target), &link)
        .map_err(write_error("link", link))
}

/// The path of `to` relative to the directory `from` (both absolute and normalised).
pub(crate) fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component<'_>> = from.components().collect();
    let to: Vec<Component<'_>> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in &to[common..] {
        relative.push(component);
    }
    relative
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> NodeRuntime {
        NodeRuntime {
            bin_dir: "/layers/examples_nodejs/nodejs/bin".into(),
            npm: "/layers/examples_nodejs/nodejs/bin/npm".into(),
            node_version: "20.20.2".into(),
            npm_version: "11.19.1".into(),
        }
    }

    fn target() -> Target {
        Target {
            os: "linux".into(),
            arch: "amd64".into(),
            arch_variant: None,
            distro_name: "debian".into(),
            distro_version: "12".into(),
        }
    }

    fn package() -> PackageJson {
        PackageJson::parse(
            "/workspace/package.json".into(),
            r#"{"name": "a", "scripts": {"test": "mocha"}, "dependencies": {"ms": "2.1.3"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_key_follows_the_lockfile_digest() {
        let lock = |text: &str| {
            Lockfile::parse("/workspace/package-lock.json".into(), text.to_owned()).unwrap()
        };
        let a = NodeModulesKey::new(
            &package(),
            Some(&lock(r#"{"lockfileVersion": 3}"#)),
            true,
            &runtime(),
            &target(),
        );
        let same = NodeModulesKey::new(
            &package(),
            Some(&lock(r#"{"lockfileVersion": 3}"#)),
            true,
            &runtime(),
            &target(),
        );
        assert_eq!(a, same);
        assert!(a.differences(&same).is_empty());
        let changed = NodeModulesKey::new(
            &package(),
            Some(&lock(r#"{"lockfileVersion": 3, "packages": {}}"#)),
            true,
            &runtime(),
            &target(),
        );
        let differences = a.differences(&changed);
        assert_eq!(differences.len(), 1, "{differences:?}");
        assert!(
            differences[0].starts_with("manifest_sha256 "),
            "{differences:?}"
        );
        assert_eq!(a.manifest, "package-lock.json");
    }

    #[test]
    fn the_key_follows_node_version_target_and_dev_dependencies() {
        let base = NodeModulesKey::new(&package(), None, false, &runtime(), &target());
        assert_eq!(base.manifest, "package.json");
        let mut newer_node = runtime();
        newer_node.node_version = "22.0.0".into();
        let mut arm = target();
        arm.arch = "arm64".into();
        let mut ubuntu = target();
        ubuntu.distro_name = "ubuntu".into();
        assert_eq!(
            base.differences(&NodeModulesKey::new(
                &package(),
                None,
                false,
                &newer_node,
                &target()
            )),
            vec!["node_version 20.20.2 -> 22.0.0"]
        );
        assert_eq!(
            base.differences(&NodeModulesKey::new(
                &package(),
                None,
                false,
                &runtime(),
                &arm
            )),
            vec!["arch amd64 -> arm64"]
        );
        assert_eq!(
            base.differences(&NodeModulesKey::new(
                &package(),
                None,
                false,
                &runtime(),
                &ubuntu
            )),
            vec!["distro_name debian -> ubuntu"]
        );
        assert_eq!(
            base.differences(&NodeModulesKey::new(
                &package(),
                None,
                true,
                &runtime(),
                &target()
            )),
            vec!["dev_dependencies false -> true"]
        );
    }

    #[test]
    fn without_a_lockfile_scripts_do_not_change_the_key() {
        let other_scripts = PackageJson::parse(
            "/workspace/package.json".into(),
            r#"{"name": "a", "scripts": {"test": "tap"}, "dependencies": {"ms": "2.1.3"}}"#,
        )
        .unwrap();
        assert_eq!(
            NodeModulesKey::new(&package(), None, false, &runtime(), &target()),
            NodeModulesKey::new(&other_scripts, None, false, &runtime(), &target())
        );
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        assert_eq!(
            relative_path(
                Path::new("/workspace"),
                Path::new("/layers/examples_nodejs/node_modules-test/node_modules")
            ),
            PathBuf::from("../layers/examples_nodejs/node_modules-test/node_modules")
        );
        assert_eq!(
            relative_path(Path::new("/a/b"), Path::new("/a/b/c")),
            PathBuf::from("c")
        );
    }

    #[test]
    fn the_link_replaces_a_committed_node_modules_and_resolves() {
        let root = tempfile::tempdir().unwrap();
        let app = root.path().join("workspace");
        let installed = root
            .path()
            .join("layers/examples_nodejs/node_modules-test/node_modules");
        std::fs::create_dir_all(app.join("node_modules/stale")).unwrap();
        std::fs::create_dir_all(installed.join("ms")).unwrap();
        link_into_app(&app, &installed).unwrap();
        let link = std::fs::read_link(app.join("node_modules")).unwrap();
        assert_eq!(
            link,
            PathBuf::from("../layers/examples_nodejs/node_modules-test/node_modules")
        );
        assert!(app.join("node_modules/ms").is_dir());
        assert!(!installed.join("stale").exists());
        // Linking again (a second install in the same build) replaces the link.
        let other = root
            .path()
            .join("layers/examples_nodejs/build_node_modules-production/node_modules");
        std::fs::create_dir_all(&other).unwrap();
        link_into_app(&app, &other).unwrap();
        assert!(
            std::fs::read_link(app.join("node_modules"))
                .unwrap()
                .ends_with("build_node_modules-production/node_modules")
        );
    }
}
