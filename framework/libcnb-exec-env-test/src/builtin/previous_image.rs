//! The previous image's layers (the last output of the same output directory): moved aside
//! before a build, read by the analyzer for layer metadata, and reused by the restorer and the
//! exporter when a layer is unchanged (lifecycle `phase/analyzer.go`, `phase/exporter.go`'s
//! layer reuse).

use super::restorer::Cache;
use super::{Log, escape_id};
use crate::engine::{EngineError, GroupEntry};
use std::path::{Path, PathBuf};

/// The layers of the previous image (the last output of the same output directory), moved
/// aside before the new build, for the analyzer's metadata restore and the exporter's reuse.
pub(crate) struct PreviousImage {
    dir: tempfile::TempDir,
}

impl PreviousImage {
    /// Moves `<output>/layers` aside when `<output>` holds an image of the built-in engine.
    pub(crate) fn take(output: &Path) -> Result<Option<Self>, EngineError> {
        let layers = output.join("layers");
        if !output.join("image.toml").is_file() || !layers.is_dir() {
            return Ok(None);
        }
        let parent = output.parent().unwrap_or(output);
        let dir = tempfile::Builder::new()
            .prefix(".previous-image.")
            .tempdir_in(parent)
            .map_err(EngineError::io(format!(
                "cannot create a directory in {}",
                parent.display()
            )))?;
        std::fs::rename(&layers, dir.path().join("layers")).map_err(EngineError::io(format!(
            "cannot move the previous image's layers {} aside",
            layers.display()
        )))?;
        Ok(Some(Self { dir }))
    }

    fn layer_toml(&self, buildpack_id: &str, name: &str) -> Option<toml::Table> {
        let path = self
            .dir
            .path()
            .join("layers")
            .join(escape_id(buildpack_id))
            .join(format!("{name}.toml"));
        toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// The analyzer's metadata restore (`internal/layer/metadata_restorer.go`): for each
    /// `launch = true` layer of the previous image, except `build = true, cache = false` ones and
    /// `cache = true` ones the cache does not hold, `<layer>.toml` without `[types]` and without
    /// its directory; and `store.toml`.
    pub(crate) fn restore_metadata(
        &self,
        group: &[GroupEntry],
        layers_dir: &Path,
        cache: &Cache,
        log: &mut Log,
    ) -> Result<(), EngineError> {
        for entry in group {
            let id = &entry.buildpack.id;
            let from = self.dir.path().join("layers").join(escape_id(id));
            let to = layers_dir.join(escape_id(id));
            let Ok(entries) = std::fs::read_dir(&from) else {
                continue;
            };
            std::fs::create_dir_all(&to)
                .map_err(EngineError::io(format!("cannot create {}", to.display())))?;
            if from.join("store.toml").is_file() {
                std::fs::copy(from.join("store.toml"), to.join("store.toml")).map_err(
                    EngineError::io(format!("cannot restore store.toml of {id}")),
                )?;
            }
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                let Some(mut table) = self.layer_toml(id, &name) else {
                    continue;
                };
                let flag = |key: &str| {
                    table
                        .get("types")
                        .and_then(|t| t.get(key))
                        .and_then(toml::Value::as_bool)
                        .unwrap_or(false)
                };
                let (launch, build, cached) = (flag("launch"), flag("build"), flag("cache"));
                if !launch || (build && !cached) {
                    continue;
                }
                if cached && !cache.holds(id, &name) {
                    continue;
                }
                table.remove("types");
                std::fs::write(
                    to.join(format!("{name}.toml")),
                    toml::to_string(&table).unwrap_or_default(),
                )
                .map_err(EngineError::io(format!("cannot write {name}.toml of {id}")))?;
                log.line(&format!(
                    "Restoring metadata for \"{id}:{name}\" from app image"
                ));
            }
        }
        Ok(())
    }

    /// Where the previous image keeps a layer's directory (which may not exist).
    pub(crate) fn layer_dir(&self, buildpack_id: &str, name: &str) -> PathBuf {
        self.dir
            .path()
            .join("layers")
            .join(escape_id(buildpack_id))
            .join(name)
    }

    /// The exporter's reuse (`phase/exporter.go`): a `launch = true` layer without a directory
    /// takes the previous image's layer. `false` when the previous image has none.
    pub(crate) fn reuse(
        &self,
        buildpack_id: &str,
        name: &str,
        target: &Path,
    ) -> std::io::Result<bool> {
        let source = self
            .dir
            .path()
            .join("layers")
            .join(escape_id(buildpack_id))
            .join(name);
        if !source.is_dir() {
            return Ok(false);
        }
        std::fs::rename(&source, target)?;
        Ok(true)
    }
}
