//! The build cache (`GOCACHE`) and the module cache (`GOMODCACHE`): shared cached layers used by
//! every environment, launch layers only where `go test` / `go run` run at launch.

use crate::GoBuildpack;
use crate::cmd::Go;
use crate::errors::GoBuildpackError;
use bullet_stream::global::print;
use libcnb::data::layer::LayerName;
use libcnb::data::layer_name;
use libcnb::layer::{
    CachedLayerDefinition, EmptyLayerCause, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use libcnb_exec_env::BuildContext;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The layout of the cache layers; change it to drop every cached copy.
///
/// A string, not a number: the lifecycle keeps layer metadata as JSON between builds and
/// writes integers back as floats (`layout = 1.0`), which an integer field would refuse.
const LAYOUT: &str = "1";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheMetadata {
    layout: String,
}

/// Both cache directories.
#[derive(Clone, Debug)]
pub(crate) struct Caches {
    /// `GOCACHE`.
    pub(crate) build: PathBuf,
    /// `GOMODCACHE`.
    pub(crate) modules: PathBuf,
}

fn cache_layer(
    context: &BuildContext<GoBuildpack>,
    name: &LayerName,
    variable: &str,
    at_launch: bool,
) -> Result<PathBuf, libcnb::Error<GoBuildpackError>> {
    let toml = context.layers_dir.join(format!("{name}.toml"));
    let restored_metadata = std::fs::read_to_string(&toml).unwrap_or_default();
    let layer = context.shared_cached_layer(
        name,
        CachedLayerDefinition {
            build: false,
            launch: at_launch,
            invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
            restored_layer_action: &|metadata: &CacheMetadata, _: &Path| {
                if metadata.layout == LAYOUT {
                    RestoredLayerAction::KeepLayer
                } else {
                    RestoredLayerAction::DeleteLayer
                }
            },
        },
    )?;
    match &layer.state {
        LayerState::Restored { .. } => {
            print::bullet(format!("Reusing cached {variable} (layer {name})"));
        }
        LayerState::Empty { cause } => {
            match cause {
                EmptyLayerCause::NewlyCreated => {
                    print::bullet(format!("Creating {variable} (layer {name})"));
                }
                EmptyLayerCause::InvalidMetadataAction { .. } => print::bullet(format!(
                    "Recreating {variable} (layer {name}): unreadable cached metadata {restored_metadata:?}"
                )),
                EmptyLayerCause::RestoredLayerAction { .. } => print::bullet(format!(
                    "Recreating {variable} (layer {name}): cached layout is not {LAYOUT}"
                )),
            }
            layer.write_metadata(CacheMetadata {
                layout: LAYOUT.to_owned(),
            })?;
        }
    }
    let path = layer.path();
    layer.write_env(LayerEnv::new().chainable_insert(
        Scope::All,
        ModificationBehavior::Override,
        variable,
        &path,
    ))?;
    Ok(path)
}

/// Sets up both cache layers; `at_launch` makes them launch layers (test, development).
pub(crate) fn provide(
    context: &BuildContext<GoBuildpack>,
    at_launch: bool,
) -> Result<Caches, libcnb::Error<GoBuildpackError>> {
    Ok(Caches {
        build: cache_layer(
            context,
            &layer_name!("go-build-cache"),
            "GOCACHE",
            at_launch,
        )?,
        modules: cache_layer(
            context,
            &layer_name!("go-mod-cache"),
            "GOMODCACHE",
            at_launch,
        )?,
    })
}

/// Whether the app vendors its dependencies (`vendor/modules.txt`).
pub(crate) fn is_vendored(app_dir: &Path) -> bool {
    app_dir.join("vendor/modules.txt").is_file()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ModuleInfo {
    #[serde(default)]
    path: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    error: Option<String>,
}

/// The first module that failed in `go mod download -json` output.
fn failed_module(stdout: &str) -> Option<GoBuildpackError> {
    serde_json::Deserializer::from_str(stdout)
        .into_iter::<ModuleInfo>()
        .filter_map(Result::ok)
        .find_map(|info| {
            info.error.map(|detail| GoBuildpackError::ModuleDownload {
                module: info.path,
                version: info.version,
                detail,
            })
        })
}

/// The module named by a `go: <module>@<version>: <reason>` line on standard error, which the
/// `go` command prints when the module graph itself cannot be loaded.
fn failed_module_in_stderr(stderr: &str) -> Option<GoBuildpackError> {
    stderr.lines().enumerate().find_map(|(index, line)| {
        let rest = line.strip_prefix("go: ")?;
        let (module_version, reason) = rest.split_once(": ")?;
        let (module, version) = module_version.split_once('@')?;
        if module.is_empty() || version.is_empty() || module_version.contains(' ') {
            return None;
        }
        let mut detail = reason.to_owned();
        for more in stderr.lines().skip(index + 1) {
            if more.starts_with("go: ") {
                break;
            }
            detail.push('\n');
            detail.push_str(more.trim());
        }
        Some(GoBuildpackError::ModuleDownload {
            module: module.to_owned(),
            version: version.to_owned(),
            detail,
        })
    })
}

/// Fills the module cache with `go mod download` (skipped for vendored apps).
pub(crate) fn download_modules(go: &Go, app_dir: &Path) -> Result<(), GoBuildpackError> {
    if is_vendored(app_dir) {
        print::bullet("vendor/modules.txt found: building with -mod=vendor, no module download");
        return Ok(());
    }
    let args = ["mod", "download", "-json"];
    // Quiet (its output is JSON for this code, not for the user), with a timer instead.
    let timer = print::sub_start_timer(format!("$ {}", Go::display(&args)));
    let output = go.output(app_dir, &args);
    timer.done();
    let output = output?;
    if let Some(error) = failed_module(&output.stdout) {
        return Err(error);
    }
    if !output.success {
        if let Some(error) = failed_module_in_stderr(&output.stderr) {
            return Err(error);
        }
        return Err(GoBuildpackError::Command {
            command: Go::display(&args),
            output: output.combined(),
        });
    }
    let count = serde_json::Deserializer::from_str(&output.stdout)
        .into_iter::<ModuleInfo>()
        .filter_map(Result::ok)
        .count();
    print::sub_bullet(format!("{count} module(s) in the module cache"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_module_that_failed() {
        let stdout = r#"{
	"Path": "github.com/ok/mod",
	"Version": "v1.0.0",
	"Dir": "/x"
}
{
	"Path": "example.com/missing",
	"Version": "v9.9.9",
	"Error": "example.com/missing@v9.9.9: reading https://proxy.golang.org/...: 404 Not Found"
}
"#;
        let error = failed_module(stdout).unwrap();
        assert_eq!(
            error.to_string(),
            "cannot download module example.com/missing@v9.9.9: example.com/missing@v9.9.9: reading https://proxy.golang.org/...: 404 Not Found"
        );
        assert!(failed_module("{\"Path\":\"a\",\"Version\":\"v1\"}").is_none());
    }

    #[test]
    fn names_the_module_from_a_graph_loading_error() {
        let stderr = "go: github.com/google/uuid@v1.99.0: reading https://proxy.golang.org/github.com/google/uuid/@v/v1.99.0.mod: 403 Forbidden\n\tserver response: This module version is not available.\n";
        let error = failed_module_in_stderr(stderr).unwrap().to_string();
        assert!(
            error.starts_with("cannot download module github.com/google/uuid@v1.99.0: reading https://proxy.golang.org/")
                && error.contains("This module version is not available."),
            "{error}"
        );
        assert!(failed_module_in_stderr("go: updates to go.mod needed; to update it:\n").is_none());
    }

    #[test]
    fn vendoring_is_recognised_by_modules_txt() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_vendored(dir.path()));
        std::fs::create_dir_all(dir.path().join("vendor")).unwrap();
        assert!(!is_vendored(dir.path()));
        std::fs::write(dir.path().join("vendor/modules.txt"), "").unwrap();
        assert!(is_vendored(dir.path()));
    }
}
