//! Reading what a pack build made back into the report: the image's config (labels, entrypoint)
//! and the build cache volume's layer metadata.
//!
//! Layers come from two places the lifecycle writes: the image label
//! `io.buildpacks.lifecycle.metadata` (launch layers) and the cache volume's
//! `committed/io.buildpacks.lifecycle.cache.metadata` (cached layers). Each entry carries the
//! layer's types, its `[metadata]` and the digest of its content; a layer whose digest is the
//! one the cache held before the build was restored and kept, any other was made in this build.

use crate::engine::EngineError;
use crate::engine::Progress;
use crate::pack::order::ORDER_ID;
use crate::pack::tools::Tools;
use crate::platform::process;
use crate::results::LayerReport;
use libcnb_exec_env::ExecEnv;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The cache volume's metadata file.
const CACHE_METADATA: &str = "/cache/committed/io.buildpacks.lifecycle.cache.metadata";

/// What `docker image inspect` says of an image.
#[derive(Clone, Debug, Default)]
pub struct ImageConfig {
    /// The image id.
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its entrypoint.
    pub entrypoint: Vec<String>,
}

impl ImageConfig {
    /// Inspects `image`.
    ///
    /// # Errors
    /// docker fails, or its answer is not the JSON expected.
    pub fn inspect(tools: &Tools, image: &str) -> Result<Self, EngineError> {
        let mut command = tools.docker();
        command.args(["image", "inspect", "--format", "{{json .}}", image]);
        let finished = process::run(command, Progress::Quiet, None, "docker image inspect")?;
        let invalid = |reason: String| EngineError::InvalidImage {
            path: image.into(),
            reason,
        };
        if !finished.success() {
            return Err(invalid(format!(
                "docker image inspect exited with {}: {}",
                finished.code_text(),
                finished.stderr.trim()
            )));
        }
        let inspected: Inspected =
            serde_json::from_str(finished.stdout.trim()).map_err(|error| {
                invalid(format!(
                    "docker image inspect gave no JSON of an image: {error}"
                ))
            })?;
        let config = inspected.config.unwrap_or_default();
        Ok(Self {
            id: inspected.id,
            labels: config.labels.unwrap_or_default(),
            entrypoint: config.entrypoint.unwrap_or_default(),
        })
    }

    /// The default process: the entrypoint `/cnb/process/<type>` the exporter sets.
    #[must_use]
    pub fn default_process(&self) -> Option<String> {
        self.entrypoint
            .first()
            .and_then(|entry| entry.strip_prefix("/cnb/process/"))
            .map(str::to_owned)
    }
}

// `docker image inspect` output and the lifecycle's metadata labels, as far as they are read:
// small serde structs (unknown keys ignored). `oci-spec` does not model Docker's inspect format.
#[derive(Deserialize)]
struct Inspected {
    #[serde(default, rename = "Id")]
    id: String,
    #[serde(default, rename = "Config")]
    config: Option<InspectedConfig>,
}

#[derive(Default, Deserialize)]
struct InspectedConfig {
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "Entrypoint")]
    entrypoint: Option<Vec<String>>,
}

/// `io.buildpacks.build.metadata` (the group) and `io.buildpacks.lifecycle.metadata` / the cache
/// metadata (the layers): `{"buildpacks": [...]}`.
#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    buildpacks: Option<Vec<MetadataBuildpack>>,
}

#[derive(Deserialize)]
struct MetadataBuildpack {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    layers: Option<BTreeMap<String, MetadataLayer>>,
}

#[derive(Deserialize)]
struct MetadataLayer {
    #[serde(default)]
    sha: String,
    #[serde(default)]
    launch: bool,
    #[serde(default)]
    build: bool,
    #[serde(default)]
    cache: bool,
    #[serde(default)]
    data: Option<LayerData>,
}

#[derive(Deserialize)]
struct LayerData {
    #[serde(default, rename = "exec-env")]
    exec_env: Option<Vec<String>>,
}

/// The group's buildpack ids, from the `io.buildpacks.build.metadata` label (the composite
/// carrying the order left out).
#[must_use]
pub fn group(build_metadata: &str) -> Vec<String> {
    serde_json::from_str::<Metadata>(build_metadata)
        .ok()
        .and_then(|metadata| metadata.buildpacks)
        .into_iter()
        .flatten()
        .filter_map(|bp| bp.id)
        .filter(|id| id != ORDER_ID)
        .collect()
}

/// One layer as the lifecycle recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedLayer {
    /// Content digest.
    pub sha: String,
    /// `[types]`.
    pub launch: bool,
    /// `[types]`.
    pub build: bool,
    /// `[types]`.
    pub cache: bool,
    /// `[metadata] exec-env`, when present.
    pub exec_env: Option<Vec<String>>,
}

/// Layers per `(buildpack id, layer name)`.
pub type Recorded = BTreeMap<(String, String), RecordedLayer>;

/// The layers of a lifecycle metadata document (`{"buildpacks": [{"key", "layers": {...}}]}`),
/// the shape of both the image label and the cache metadata.
#[must_use]
pub fn recorded_layers(json: &str) -> Recorded {
    let Ok(metadata) = serde_json::from_str::<Metadata>(json) else {
        return Recorded::new();
    };
    let mut layers = Recorded::new();
    for buildpack in metadata.buildpacks.into_iter().flatten() {
        let Some(id) = buildpack.key else {
            continue;
        };
        for (name, layer) in buildpack.layers.into_iter().flatten() {
            layers.insert(
                (id.clone(), name),
                RecordedLayer {
                    sha: layer.sha,
                    launch: layer.launch,
                    build: layer.build,
                    cache: layer.cache,
                    exec_env: layer.data.and_then(|data| data.exec_env),
                },
            );
        }
    }
    layers
}

/// The layers the cache volume holds (empty when the volume does not exist yet).
///
/// # Errors
/// docker cannot be run.
pub fn cache_layers(tools: &Tools, volume: &str) -> Result<Recorded, EngineError> {
    let mut exists = tools.docker();
    exists.args(["volume", "inspect", "--format", "{{.Name}}", volume]);
    if !process::run(exists, Progress::Quiet, None, "docker volume inspect")?.success() {
        return Ok(Recorded::new());
    }
    let mut cat = tools.docker();
    cat.args([
        "run",
        "--rm",
        "--network",
        "none",
        "--user",
        "root",
        "--entrypoint",
        "cat",
        "-v",
    ])
    .arg(format!("{volume}:/cache:ro"))
    .arg(&tools.builder)
    .arg(CACHE_METADATA);
    let finished = process::run(cat, Progress::Quiet, None, "docker run (reading the cache)")?;
    Ok(if finished.success() {
        recorded_layers(&finished.stdout)
    } else {
        Recorded::new()
    })
}

/// The layer reports of a build: every layer of the image and of the cache, per buildpack in
/// `group` order, by name.
#[must_use]
pub fn layer_reports(
    group: &[String],
    image: &Recorded,
    cache_before: &Recorded,
    cache_after: &Recorded,
    exec_env: &ExecEnv,
) -> Vec<LayerReport> {
    let mut reports = Vec::new();
    for buildpack in group.iter().filter(|id| *id != ORDER_ID) {
        let mut names: Vec<&String> = image
            .keys()
            .chain(cache_after.keys())
            .filter(|(id, _)| id == buildpack)
            .map(|(_, name)| name)
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            let key = (buildpack.clone(), name.clone());
            let Some(layer) = image.get(&key).or_else(|| cache_after.get(&key)) else {
                continue;
            };
            let cached = cache_after.get(&key);
            let kept = cache_before
                .get(&key)
                .is_some_and(|before| !before.sha.is_empty() && before.sha == layer.sha);
            reports.push(LayerReport {
                buildpack_id: buildpack.clone(),
                name: name.clone(),
                launch: layer.launch,
                build: layer.build,
                cache: layer.cache || cached.is_some_and(|c| c.cache),
                state: crate::platform::layer_toml::layer_state(
                    layer.exec_env.as_ref(),
                    exec_env,
                    kept,
                ),
                exec_env: layer.exec_env.clone(),
            });
        }
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::LayerState;

    const LABEL: &str = r#"{"app":[],"buildpacks":[{"key":"ex/node","version":"0.1.0","layers":{"node_modules-test":{"sha":"sha256:aa","data":{"exec-env":["test"]},"launch":true,"cache":true},"nodejs":{"sha":"sha256:nn","data":{"version":"22.1.0"},"launch":true,"build":true,"cache":true}}}],"runImage":{}}"#;
    const CACHE: &str = r#"{"buildpacks":[{"key":"ex/node","version":"0.1.0","layers":{"npm_cache":{"sha":"sha256:cc","cache":true},"node_modules-production":{"sha":"sha256:pp","data":{"exec-env":["production"]},"cache":true},"nodejs":{"sha":"sha256:nn","launch":true,"build":true,"cache":true}}}]}"#;

    #[test]
    fn layers_of_image_and_cache_with_their_states() {
        let image = recorded_layers(LABEL);
        let cache = recorded_layers(CACHE);
        let before = recorded_layers(
            r#"{"buildpacks":[{"key":"ex/node","layers":{"nodejs":{"sha":"sha256:nn"},"npm_cache":{"sha":"sha256:old"}}}]}"#,
        );
        let reports = layer_reports(
            &["ex/node".to_owned()],
            &image,
            &before,
            &cache,
            &ExecEnv::Test,
        );
        let states: Vec<(&str, LayerState)> = reports
            .iter()
            .map(|layer| (layer.name.as_str(), layer.state))
            .collect();
        assert_eq!(
            states,
            [
                ("node_modules-production", LayerState::Retained),
                ("node_modules-test", LayerState::Created),
                ("nodejs", LayerState::Restored),
                ("npm_cache", LayerState::Created),
            ]
        );
        let nodejs = reports.iter().find(|layer| layer.name == "nodejs").unwrap();
        assert!(nodejs.launch && nodejs.build && nodejs.cache);
        assert_eq!(reports[1].exec_env, Some(vec!["test".to_owned()]));
    }

    #[test]
    fn garbage_metadata_gives_no_layers() {
        assert!(recorded_layers("not json").is_empty());
        assert!(recorded_layers("{}").is_empty());
    }
}
