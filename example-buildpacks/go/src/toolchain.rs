//! Which Go builds the app, and where it lives.
//!
//! - A `toolchain go1.X.Y` line in `go.mod` pins a release. When the `go` on PATH is another
//!   release, the pinned one is installed from the Go module proxy's toolchain modules
//!   (`golang.org/toolchain@v0.0.1-go1.X.Y.<os>-<arch>`, what `GOTOOLCHAIN` downloads).
//! - Without a pin, the `go` on PATH is used when it satisfies the `go` line; otherwise the
//!   release the `go` line names is installed.
//!
//! Installed releases live in the shared cached layer `go-toolchain`, keyed on the Go version
//! (the layer's root is the `GOROOT`). In test and development the toolchain is also needed at
//! launch (the run image has no Go), so there the layer is a launch layer, and a `go` that came
//! from PATH is copied into it. Every later build of any environment reuses it.

use crate::cmd::Go;
use crate::errors::GoBuildpackError;
use crate::go_mod::{GoMod, GoVersion};
use crate::{GoBuildpack, fs_util};
use bullet_stream::global::print;
use libcnb::data::layer_name;
use libcnb::layer::{
    CachedLayerDefinition, EmptyLayerCause, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use libcnb_exec_env::BuildContext;
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The name of the toolchain layer.
pub(crate) const LAYER: &str = "go-toolchain";

/// The `go` found on PATH.
#[derive(Clone, Debug)]
pub(crate) struct PathGo {
    /// The binary.
    pub(crate) binary: PathBuf,
    /// Its version.
    pub(crate) version: GoVersion,
}

/// Looks for `go` on PATH and asks it for its version (with `GOTOOLCHAIN=local`, so it reports
/// itself rather than switching).
pub(crate) fn find_path_go() -> Result<Option<PathGo>, GoBuildpackError> {
    let Ok(binary) = which::which("go") else {
        return Ok(None);
    };
    let reported = Go::new(&binary)
        .with_env("GOTOOLCHAIN", "local")
        .version()?;
    let version =
        GoVersion::from_toolchain_name(&reported).map_err(|_| GoBuildpackError::Command {
            command: format!("{} env GOVERSION", binary.display()),
            output: format!("unexpected version `{reported}`"),
        })?;
    Ok(Some(PathGo { binary, version }))
}

/// What the buildpack decided to build with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    /// The `go` on PATH, as it is.
    Path,
    /// A release to install (or reuse from the cache).
    Install {
        /// The release.
        version: GoVersion,
        /// Why this release, for the build log.
        reason: String,
    },
}

/// Picks the toolchain for `go_mod` given the `go` on PATH.
pub(crate) fn choose(go_mod: &GoMod, path_go: Option<&PathGo>) -> Result<Choice, GoBuildpackError> {
    let file = go_mod.path.display();
    if let Some((pinned, line)) = &go_mod.toolchain {
        return Ok(match path_go {
            Some(path_go) if &path_go.version == pinned => Choice::Path,
            _ => Choice::Install {
                version: pinned.clone(),
                reason: format!("pinned by the toolchain line ({file}:{line})"),
            },
        });
    }
    match (path_go, &go_mod.go) {
        (Some(_), None) => Ok(Choice::Path),
        (Some(path_go), Some((minimum, _))) if &path_go.version >= minimum => Ok(Choice::Path),
        (Some(path_go), Some((minimum, line))) => Ok(Choice::Install {
            version: minimum.release(),
            reason: format!(
                "the go line ({file}:{line}) needs Go {minimum} or later and PATH has Go {}",
                path_go.version
            ),
        }),
        (None, Some((minimum, line))) => Ok(Choice::Install {
            version: minimum.release(),
            reason: format!("no go on PATH; the go line ({file}:{line}) names Go {minimum}"),
        }),
        (None, None) => Err(GoBuildpackError::NoGo {
            reason: format!("{file} has neither a toolchain nor a go line"),
        }),
    }
}

/// The toolchain ready for use.
#[derive(Clone, Debug)]
pub(crate) struct Toolchain {
    /// The `go` to run, with `GOROOT`/`PATH` set when it lives in the layer.
    pub(crate) go: Go,
    /// Its version.
    pub(crate) version: GoVersion,
}

/// Metadata of the toolchain layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolchainMetadata {
    /// The Go release in the layer (`1.25.4`).
    pub(crate) version: String,
    /// Where it came from: `module proxy` or the PATH `go` it was copied from.
    pub(crate) source: String,
}

/// Where the toolchain must be, per environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The toolchain must be available at launch (test, development).
    pub(crate) at_launch: bool,
}

/// Makes the chosen toolchain available, installing or copying it into the `go-toolchain` layer
/// as needed; returns the `go` to build with.
pub(crate) fn provide(
    context: &BuildContext<GoBuildpack>,
    choice: &Choice,
    path_go: Option<&PathGo>,
    needs: Needs,
) -> Result<Toolchain, libcnb::Error<GoBuildpackError>> {
    match (choice, path_go) {
        (Choice::Path, Some(path_go)) if !needs.at_launch => {
            print::bullet(format!(
                "Using Go {} from PATH ({})",
                path_go.version,
                path_go.binary.display()
            ));
            retain_cached_toolchain(context)?;
            Ok(Toolchain {
                go: Go::new(&path_go.binary),
                version: path_go.version.clone(),
            })
        }
        (Choice::Path, Some(path_go)) => {
            print::bullet(format!(
                "Using Go {} from PATH ({}), kept in layer {LAYER} for launch",
                path_go.version,
                path_go.binary.display()
            ));
            in_layer(context, &path_go.version, needs, Source::CopyFrom(path_go))
        }
        (Choice::Install { version, reason }, _) => {
            print::bullet(format!("Using Go {version}: {reason}"));
            in_layer(context, version, needs, Source::Proxy(path_go))
        }
        (Choice::Path, None) => Err(GoBuildpackError::NoGo {
            reason: "the toolchain choice needs one".to_owned(),
        }
        .into()),
    }
}

#[derive(Clone, Copy)]
enum Source<'a> {
    /// Copy this `go`'s GOROOT.
    CopyFrom(&'a PathGo),
    /// Download from the module proxy with this `go` (if any).
    Proxy(Option<&'a PathGo>),
}

/// Keeps a restored toolchain layer only when it holds `version` and a `bin/go`.
fn keep_if_version(
    version: &GoVersion,
) -> impl Fn(&ToolchainMetadata, &Path) -> (RestoredLayerAction, String) {
    let wanted = version.to_string();
    move |metadata: &ToolchainMetadata, path: &Path| {
        if metadata.version != wanted {
            (
                RestoredLayerAction::DeleteLayer,
                format!("cached Go {} is not the wanted {wanted}", metadata.version),
            )
        } else if !path.join("bin/go").is_file() {
            (
                RestoredLayerAction::DeleteLayer,
                "cached toolchain has no bin/go".to_owned(),
            )
        } else {
            (RestoredLayerAction::KeepLayer, String::new())
        }
    }
}

/// The environment a `go` living in the layer at `goroot` runs with.
fn layer_go(goroot: &Path) -> Go {
    let mut path = OsString::from(goroot.join("bin"));
    if let Some(existing) = std::env::var_os("PATH") {
        path.push(":");
        path.push(existing);
    }
    Go::new(goroot.join("bin/go"))
        .with_env("GOROOT", goroot)
        .with_env("PATH", path)
}

fn in_layer(
    context: &BuildContext<GoBuildpack>,
    version: &GoVersion,
    needs: Needs,
    source: Source<'_>,
) -> Result<Toolchain, libcnb::Error<GoBuildpackError>> {
    let keep = keep_if_version(version);
    let layer = context.shared_cached_layer(
        layer_name!("go-toolchain"),
        CachedLayerDefinition {
            build: true,
            launch: needs.at_launch,
            invalid_metadata_action: &|_| {
                (
                    InvalidMetadataAction::DeleteLayer,
                    "unreadable metadata".to_owned(),
                )
            },
            restored_layer_action: &keep,
        },
    )?;
    let goroot = layer.path();
    match &layer.state {
        LayerState::Restored { .. } => {
            print::bullet(format!(
                "Reusing Go {version} from the cache (layer {LAYER})"
            ));
        }
        LayerState::Empty { cause } => {
            match cause {
                EmptyLayerCause::RestoredLayerAction { cause }
                | EmptyLayerCause::InvalidMetadataAction { cause } => {
                    print::bullet(format!("Replacing layer {LAYER}: {cause}"));
                }
                EmptyLayerCause::NewlyCreated => {}
            }
            let metadata = match source {
                Source::CopyFrom(path_go) => {
                    let from = Go::new(&path_go.binary)
                        .with_env("GOTOOLCHAIN", "local")
                        .goroot()?;
                    print::bullet(format!(
                        "Copying Go {version} from {} into layer {LAYER}",
                        from.display()
                    ));
                    fs_util::copy_tree(&from, &goroot)?;
                    ToolchainMetadata {
                        version: version.to_string(),
                        source: from.display().to_string(),
                    }
                }
                Source::Proxy(path_go) => {
                    download(context, version, path_go, &goroot)?;
                    ToolchainMetadata {
                        version: version.to_string(),
                        source: "module proxy".to_owned(),
                    }
                }
            };
            layer.write_metadata(metadata)?;
        }
    }
    let go = layer_go(&goroot);
    let reported = go.version()?;
    if GoVersion::from_toolchain_name(&reported).ok().as_ref() != Some(version) {
        return Err(GoBuildpackError::ToolchainMismatch {
            path: goroot.join("bin/go"),
            reported,
            wanted: version.clone(),
        }
        .into());
    }
    layer.write_env(
        LayerEnv::new()
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Override,
                "GOROOT",
                &goroot,
            )
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Override,
                "GOTOOLCHAIN",
                "local",
            ),
    )?;
    Ok(Toolchain {
        go,
        version: version.clone(),
    })
}

/// The toolchain module of `version` for this build's target.
pub(crate) fn module_of(version: &GoVersion, os: &str, arch: &str) -> String {
    format!("golang.org/toolchain@v0.0.1-go{version}.{os}-{arch}")
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DownloadInfo {
    #[serde(default)]
    dir: Option<PathBuf>,
    #[serde(default)]
    error: Option<String>,
}

/// Downloads the toolchain module with `go mod download` into a scratch module cache inside the
/// layer, moves the release to the layer's root and makes it runnable the way the `go` command
/// does after its own toolchain downloads.
fn download(
    context: &BuildContext<GoBuildpack>,
    version: &GoVersion,
    path_go: Option<&PathGo>,
    goroot: &Path,
) -> Result<(), GoBuildpackError> {
    let module = module_of(version, &context.target.os, &context.target.arch);
    let Some(path_go) = path_go else {
        return Err(GoBuildpackError::NoGoToDownload {
            version: version.clone(),
            module,
        });
    };
    let scratch = goroot.join(".download");
    std::fs::create_dir_all(&scratch).map_err(GoBuildpackError::io("create", &scratch))?;
    print::bullet(format!("Downloading {module} from the module proxy"));
    let go = Go::new(&path_go.binary)
        .with_env("GOTOOLCHAIN", "local")
        .with_env("GOMODCACHE", &scratch)
        .with_env("GOFLAGS", "-modcacherw")
        .with_env("GO111MODULE", "on");
    let args = ["mod", "download", "-json", &module];
    let output = go.output(&scratch, &args)?;
    let info: Option<DownloadInfo> = serde_json::from_str(&output.stdout).ok();
    let dir = match info {
        Some(DownloadInfo {
            dir: Some(dir),
            error: None,
        }) if output.success => dir,
        Some(DownloadInfo {
            error: Some(error), ..
        }) => {
            return Err(GoBuildpackError::ToolchainDownload {
                version: version.clone(),
                module,
                output: error,
            });
        }
        _ => {
            return Err(GoBuildpackError::ToolchainDownload {
                version: version.clone(),
                module,
                output: output.combined(),
            });
        }
    };
    for entry in std::fs::read_dir(&dir).map_err(GoBuildpackError::io("read", &dir))? {
        let entry = entry.map_err(GoBuildpackError::io("read", &dir))?;
        let target = goroot.join(entry.file_name());
        std::fs::rename(entry.path(), &target).map_err(GoBuildpackError::io("move", &target))?;
    }
    fs_util::remove_tree(&scratch)?;
    fs_util::make_toolchain_runnable(goroot)
}

/// In a production build with the `go` on PATH, the toolchain layer is not needed; a copy cached
/// by an earlier test or development build is kept in the cache (not exported) so the next such
/// build reuses it. The layer is only touched when it was restored.
fn retain_cached_toolchain(
    context: &BuildContext<GoBuildpack>,
) -> Result<(), libcnb::Error<GoBuildpackError>> {
    let toml = context.layers_dir.join(format!("{LAYER}.toml"));
    if !toml.is_file() {
        return Ok(());
    }
    let layer = context.shared_cached_layer(
        layer_name!("go-toolchain"),
        CachedLayerDefinition {
            build: false,
            launch: false,
            invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
            restored_layer_action: &|_: &ToolchainMetadata, path: &Path| {
                if path.join("bin/go").is_file() {
                    RestoredLayerAction::KeepLayer
                } else {
                    RestoredLayerAction::DeleteLayer
                }
            },
        },
    )?;
    match layer.state {
        LayerState::Restored { .. } => {
            print::bullet(format!(
                "Keeping the cached toolchain (layer {LAYER}) for later test builds; not exported"
            ));
        }
        LayerState::Empty { .. } => {
            // Nothing worth keeping: drop the empty layer rather than cache it.
            fs_util::remove_tree(&layer.path())?;
            std::fs::remove_file(&toml).map_err(GoBuildpackError::io("remove", &toml))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_mod(text: &str) -> GoMod {
        GoMod::parse(Path::new("/workspace/go.mod"), text).unwrap()
    }

    fn path_go(version: &str) -> PathGo {
        PathGo {
            binary: PathBuf::from("/usr/local/go/bin/go"),
            version: version.parse().unwrap(),
        }
    }

    #[test]
    fn a_pinned_release_is_installed_unless_path_has_exactly_it() {
        let pinned = go_mod("module m\ngo 1.25.0\ntoolchain go1.25.4\n");
        assert_eq!(
            choose(&pinned, Some(&path_go("1.25.4"))).unwrap(),
            Choice::Path
        );
        let Choice::Install { version, reason } =
            choose(&pinned, Some(&path_go("1.26.8"))).unwrap()
        else {
            panic!("expected an install");
        };
        assert_eq!(version.to_string(), "1.25.4");
        assert!(reason.contains("/workspace/go.mod:3"), "{reason}");
        assert!(matches!(
            choose(&pinned, None).unwrap(),
            Choice::Install { .. }
        ));
    }

    #[test]
    fn path_go_is_used_when_it_satisfies_the_go_line() {
        let plain = go_mod("module m\ngo 1.25\n");
        assert_eq!(
            choose(&plain, Some(&path_go("1.26.8"))).unwrap(),
            Choice::Path
        );
        assert_eq!(
            choose(&plain, Some(&path_go("1.25.0"))).unwrap(),
            Choice::Path
        );
        let Choice::Install { version, .. } = choose(&plain, Some(&path_go("1.24.9"))).unwrap()
        else {
            panic!("expected an install");
        };
        assert_eq!(version.to_string(), "1.25.0");
    }

    #[test]
    fn nothing_to_go_on_is_an_error() {
        let error = choose(&go_mod("module m\n"), None).unwrap_err();
        assert!(
            error.to_string().contains("no `go` command found on PATH"),
            "{error}"
        );
    }

    #[test]
    fn toolchain_module_names() {
        assert_eq!(
            module_of(&"1.25.4".parse().unwrap(), "linux", "amd64"),
            "golang.org/toolchain@v0.0.1-go1.25.4.linux-amd64"
        );
    }
}
