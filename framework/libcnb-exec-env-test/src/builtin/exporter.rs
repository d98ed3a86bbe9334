//! The export phase: writes the image stand-in and the cache (lifecycle `phase/exporter.go`,
//! `phase/builder.go`).
//!
//! - Processes are merged in group order: a later buildpack's process replaces an earlier one
//!   of the same type; the default is the last process marked default, unset again when a later
//!   non-default process redefines that type (`processMap.add`); the list is sorted by type.
//! - Only `launch = true` layers stay in the image; `cache = true` layers go to the cache, which
//!   is replaced (layers no longer marked `cache = true` leave it).
//! - Labels: those of every `launch.toml`, plus `io.buildpacks.exec-env = <env>` (the lifecycle
//!   sets it for Platform API >= 0.15) and `io.buildpacks.build.metadata` (JSON).

use super::builder::Built;
use super::detector::Detected;
use super::restorer::{Cache, RestoredLayer, Source};
use super::{Log, Workspace, escape_id, remove_path};
use crate::engine::{BuildRequest, EngineError};
use crate::results::{LayerReport, ProcessReport};
use libcnb_exec_env::ExecEnvSelector;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The label naming the build's execution environment.
pub(crate) const EXEC_ENV_LABEL: &str = "io.buildpacks.exec-env";

/// `layers/config/metadata.toml` of the image stand-in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ImageMetadata {
    #[serde(default)]
    pub(crate) buildpacks: Vec<ImageBuildpack>,
    #[serde(default)]
    pub(crate) processes: Vec<ImageProcess>,
    #[serde(rename = "default-process", default)]
    pub(crate) default_process: Option<String>,
}

/// A buildpack of the image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ImageBuildpack {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) api: String,
}

/// A process of the image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ImageProcess {
    pub(crate) r#type: String,
    pub(crate) command: Vec<String>,
    #[serde(default)]
    pub(crate) args: Vec<String>,
    #[serde(rename = "working-dir", default)]
    pub(crate) working_dir: Option<String>,
    #[serde(rename = "buildpack-id")]
    pub(crate) buildpack_id: String,
    #[serde(rename = "exec-env", default)]
    pub(crate) exec_env: Vec<String>,
}

impl ImageProcess {
    pub(crate) fn selector(&self) -> ExecEnvSelector {
        ExecEnvSelector::from_names(&self.exec_env).unwrap_or_default()
    }
}

/// `image.toml` of the image stand-in: what a real image keeps in its config.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ImageConfig {
    pub(crate) engine: String,
    #[serde(rename = "exec-env")]
    pub(crate) exec_env: String,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
}

/// What export reports.
pub(crate) struct Exported {
    pub(crate) layers: Vec<LayerReport>,
    pub(crate) processes: Vec<ProcessReport>,
    pub(crate) default_process: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
}

/// Writes the cache and turns the output directory into the image stand-in.
#[allow(clippy::too_many_lines)] // one phase, read top to bottom
pub(crate) fn export(
    request: &BuildRequest,
    workspace: &Workspace,
    detected: &Detected,
    built: &Built,
    restored: &[RestoredLayer],
    cache: &mut Cache,
    log: &mut Log,
) -> Result<Exported, EngineError> {
    // Cache first: it needs the cache-only layers that the image drops.
    let cached: Vec<_> = built
        .layers
        .iter()
        .map(|layer| {
            (
                layer.buildpack_id.clone(),
                layer.name.clone(),
                layer.types.clone(),
            )
        })
        .collect();
    let unchanged = cache.save(&cached, restored, &workspace.layers_dir, log)?;

    // Processes, merged by lifecycle rules.
    let mut by_type: BTreeMap<String, ImageProcess> = BTreeMap::new();
    let mut default_process: Option<String> = None;
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for buildpack in &built.buildpacks {
        for process in &buildpack.launch.processes {
            let kind = process.r#type.to_string();
            if process.default {
                default_process = Some(kind.clone());
            } else if default_process.as_deref() == Some(kind.as_str()) {
                log.line(&format!("Warning: redefining the following default process type with a process not marked as default: {kind}"));
                default_process = None;
            }
            let working_dir = match &process.working_directory {
                libcnb_data::launch::WorkingDirectory::App => None,
                libcnb_data::launch::WorkingDirectory::Directory(dir) => {
                    Some(dir.to_string_lossy().into_owned())
                }
            };
            by_type.insert(
                kind.clone(),
                ImageProcess {
                    r#type: kind,
                    command: process.command.clone(),
                    args: process.args.clone(),
                    working_dir,
                    buildpack_id: buildpack.entry.buildpack.id.clone(),
                    exec_env: buildpack
                        .exec_envs
                        .get(&process.r#type.to_string())
                        .cloned()
                        .unwrap_or_default(),
                },
            );
        }
        for label in &buildpack.launch.labels {
            labels.insert(label.key.clone(), label.value.clone());
        }
    }
    labels.insert(EXEC_ENV_LABEL.to_owned(), request.exec_env.to_string());
    log.line(&format!(
        "Adding label '{EXEC_ENV_LABEL}' = '{}'",
        request.exec_env
    ));
    let metadata = ImageMetadata {
        buildpacks: detected
            .group
            .iter()
            .map(|entry| ImageBuildpack {
                id: entry.buildpack.id.clone(),
                version: entry.buildpack.version.clone(),
                api: entry.buildpack.api(),
            })
            .collect(),
        processes: by_type.into_values().collect(),
        default_process: default_process.clone(),
    };
    labels.insert(
        "io.buildpacks.build.metadata".to_owned(),
        serde_json::json!({
            "buildpacks": metadata.buildpacks.iter().map(|bp| serde_json::json!({"id": bp.id, "version": bp.version})).collect::<Vec<_>>(),
            "processes": metadata.processes.iter().map(|p| {
                let mut process = serde_json::json!({
                    "type": p.r#type, "command": p.command, "args": p.args,
                    "buildpackID": p.buildpack_id,
                });
                // launch/launch.go: `exec-env,omitempty`, the list as written otherwise.
                if !p.exec_env.is_empty() {
                    process["exec-env"] = serde_json::json!(p.exec_env);
                }
                process
            }).collect::<Vec<_>>(),
        })
        .to_string(),
    );

    // Keep only launch layers in the image.
    for entry in &detected.group {
        let bp_layers = workspace.layers_dir.join(escape_id(&entry.buildpack.id));
        prune(&bp_layers, built, &entry.buildpack.id).map_err(EngineError::io(format!(
            "cannot export the layers of {}",
            bp_layers.display()
        )))?;
    }
    for layer in built.layers.iter().filter(|layer| layer.types.launch) {
        // The image keeps the previous image's copy: one the restorer moved from it and the
        // build left unchanged, or one reused for a layer without a directory.
        let key = (layer.buildpack_id.clone(), layer.name.clone());
        let from_image = restored
            .iter()
            .any(|r| r.buildpack_id == key.0 && r.name == key.1 && r.source == Source::Image);
        let reused = (from_image && unchanged.contains(&key))
            || (layer.reused_from_image && layer.state == crate::results::LayerState::Restored);
        log.line(&format!(
            "{} layer '{}:{}'",
            if reused { "Reusing" } else { "Adding" },
            layer.buildpack_id,
            layer.name
        ));
    }
    let config_dir = workspace.layers_dir.join("config");
    write_toml(&config_dir.join("metadata.toml"), &metadata)?;
    let config = ImageConfig {
        engine: "builtin".to_owned(),
        exec_env: request.exec_env.to_string(),
        labels: labels.clone(),
    };
    write_toml(&request.output_dir.join("image.toml"), &config)?;
    log.line(&format!(
        "Image written to {}",
        request.output_dir.display()
    ));

    let processes = metadata
        .processes
        .iter()
        .map(|process| ProcessReport {
            buildpack_id: process.buildpack_id.clone(),
            r#type: process.r#type.clone(),
            command: process.command.clone(),
            args: process.args.clone(),
            default: default_process.as_deref() == Some(process.r#type.as_str()),
            working_dir: process.working_dir.clone(),
            exec_env: process.selector(),
        })
        .collect();
    let layers = built
        .layers
        .iter()
        .map(|layer| LayerReport {
            buildpack_id: layer.buildpack_id.clone(),
            name: layer.name.clone(),
            launch: layer.types.launch,
            build: layer.types.build,
            cache: layer.types.cache,
            state: layer.state,
            exec_env: layer.exec_env.clone(),
        })
        .collect();
    Ok(Exported {
        layers,
        processes,
        default_process,
        labels,
    })
}

fn prune(bp_layers: &Path, built: &Built, buildpack_id: &str) -> std::io::Result<()> {
    let launch: Vec<&str> = built
        .layers
        .iter()
        .filter(|layer| layer.buildpack_id == buildpack_id && layer.types.launch)
        .map(|layer| layer.name.as_str())
        .collect();
    let Ok(entries) = std::fs::read_dir(bp_layers) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let layer = name.strip_suffix(".toml").unwrap_or(&name);
        // store.toml stays: the next build's analyzer restores it from the image.
        if !launch.contains(&layer) && name != "store.toml" {
            remove_path(&entry.path())?;
        }
    }
    Ok(())
}

pub(crate) fn write_toml<T: Serialize>(path: &Path, value: &T) -> Result<(), EngineError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(EngineError::io(format!(
            "cannot create {}",
            parent.display()
        )))?;
    }
    let text = toml::to_string(value).map_err(|error| EngineError::Io {
        context: format!("cannot serialize {}", path.display()),
        error: std::io::Error::other(error),
    })?;
    std::fs::write(path, text).map_err(EngineError::io(format!("cannot write {}", path.display())))
}
