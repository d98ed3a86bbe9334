//! Reading what the real phases did back into the engine-neutral [`BuildReport`] parts.
//!
//! Sources: `group.toml`, `plan.toml` and the `<layer>.toml` files the builder leaves. The
//! detector's log and the image's `io.buildpacks.build.metadata` label, which the pack engine
//! reads too, are read in `crate::platform` (`detector_log`, `build_metadata`).

use crate::engine::EngineError;
use crate::results::{LayerReport, LayerState, PlanEntryReport};
use libcnb_exec_env::ExecEnv;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub(super) use crate::platform::escape_id;

fn read_toml(path: &Path) -> Result<toml::Table, EngineError> {
    let text = std::fs::read_to_string(path)
        .map_err(EngineError::io(format!("cannot read {}", path.display())))?;
    toml::from_str(&text).map_err(|error| EngineError::InvalidImage {
        path: path.to_path_buf(),
        reason: error.to_string(),
    })
}

/// The buildpack ids of `group.toml`, in order.
///
/// # Errors
/// The file cannot be read.
pub(super) fn group_ids(group_toml: &Path) -> Result<Vec<String>, EngineError> {
    let table = read_toml(group_toml)?;
    Ok(table
        .get("group")
        .and_then(toml::Value::as_array)
        .map(|group| {
            group
                .iter()
                .filter_map(|entry| entry.get("id").and_then(toml::Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

/// The resolved plan of `plan.toml`: per entry, its providers (the lifecycle gives an entry to
/// the buildpacks that provide it, `phase/builder.go`) and the metadata of every require.
///
/// # Errors
/// The file cannot be read.
pub(super) fn plan_entries(plan_toml: &Path) -> Result<Vec<PlanEntryReport>, EngineError> {
    let table = read_toml(plan_toml)?;
    let mut reports = Vec::new();
    for entry in table
        .get("entries")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let requires: Vec<&toml::Value> = entry
            .get("requires")
            .and_then(toml::Value::as_array)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        let name = requires
            .first()
            .and_then(|r| r.get("name"))
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let metadata: Vec<toml::Table> = requires
            .iter()
            .map(|r| {
                r.get("metadata")
                    .and_then(toml::Value::as_table)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let providers = entry
            .get("providers")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("id").and_then(toml::Value::as_str))
            .map(str::to_owned)
            .collect();
        reports.push(PlanEntryReport {
            name,
            providers,
            requires: metadata,
        });
    }
    Ok(reports)
}

/// What tells a layer directory kept as restored from one deleted and made again at the same
/// path (libcnb's `RestoredLayerAction::DeleteLayer`): device, inode and birth time. Its content
/// may change either way (libcnb rewrites a kept layer's `env/`), so it is not compared; this is
/// the built-in engine's rule too.
#[must_use]
pub(super) fn fingerprint(dir: &Path) -> Option<Fingerprint> {
    std::fs::symlink_metadata(dir)
        .ok()
        .map(|meta| (meta.dev(), meta.ino(), meta.created().ok()))
}

/// The layers a buildpack had after restore: name -> content fingerprint (`None`: metadata only).
pub(super) type Restored = BTreeMap<String, Option<Fingerprint>>;

/// A layer directory's device, inode and birth time.
pub(super) type Fingerprint = (u64, u64, Option<std::time::SystemTime>);

/// The layers of `bp_layers_dir` after the restorer: every `<name>.toml`, with a fingerprint of
/// `<name>/`.
#[must_use]
pub(super) fn restored_layers(bp_layers_dir: &Path) -> Restored {
    layer_names(bp_layers_dir)
        .into_iter()
        .map(|name| {
            let print = fingerprint(&bp_layers_dir.join(&name));
            (name, print)
        })
        .collect()
}

fn layer_names(bp_layers_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(bp_layers_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let layer = name.strip_suffix(".toml")?.to_owned();
            (!matches!(layer.as_str(), "launch" | "build" | "store")).then_some(layer)
        })
        .collect();
    // In order of the file names, as the lifecycle's `eachLayer` reads them.
    names.sort_by_cached_key(|name| format!("{name}.toml"));
    names
}

/// The layers of one buildpack at the end of the build, as the builder left them.
///
/// A layer whose types are all false is [`LayerState::Ignored`]: the builder renames it
/// `<name>.ignore` (`buildpack/build.go` `renameLayerDirIfNeeded`); it is neither exported nor
/// cached.
///
/// # Errors
/// A `<layer>.toml` cannot be read.
pub(super) fn final_layers(
    buildpack_id: &str,
    bp_layers_dir: &Path,
    restored: &Restored,
    exec_env: &ExecEnv,
) -> Result<Vec<LayerReport>, EngineError> {
    let mut layers = Vec::new();
    for name in layer_names(bp_layers_dir) {
        let table = read_toml(&bp_layers_dir.join(format!("{name}.toml")))?;
        let flag = |key: &str| {
            table
                .get("types")
                .and_then(|types| types.get(key))
                .and_then(toml::Value::as_bool)
                .unwrap_or(false)
        };
        let (launch, build, cache) = (flag("launch"), flag("build"), flag("cache"));
        let layer_env: Option<Vec<String>> = table
            .get("metadata")
            .and_then(|m| m.get("exec-env"))
            .and_then(toml::Value::as_array)
            .map(|envs| {
                envs.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            });
        let kept = restored
            .get(&name)
            .is_some_and(|before| *before == fingerprint(&bp_layers_dir.join(&name)));
        let state = if !launch && !build && !cache {
            LayerState::Ignored
        } else {
            crate::platform::layer_toml::layer_state(layer_env.as_ref(), exec_env, kept)
        };
        layers.push(LayerReport {
            buildpack_id: buildpack_id.to_owned(),
            name,
            launch,
            build,
            cache,
            state,
            exec_env: layer_env,
        });
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_goes_to_providers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        std::fs::write(
            &path,
            "[[entries]]\n[[entries.providers]]\nid = \"a\"\nversion = \"1\"\n[[entries.requires]]\nname = \"node\"\n[entries.requires.metadata]\nv = \"20\"\n",
        )
        .unwrap();
        let plan = plan_entries(&path).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].providers, vec!["a".to_owned()]);
        assert_eq!(plan[0].name, "node");
        assert_eq!(plan[0].requires[0]["v"].as_str(), Some("20"));
    }

    #[test]
    fn layers_report_types_states_and_envs() {
        let dir = tempfile::tempdir().unwrap();
        let bp = dir.path();
        for (name, toml) in [
            ("kept", "[types]\nlaunch = true\ncache = true\n"),
            ("made", "[types]\nbuild = true\n"),
            (
                "other-test",
                "[types]\ncache = true\n[metadata]\nexec-env = [\"test\"]\n",
            ),
            ("ignored", "[metadata]\nx = 1\n"),
        ] {
            std::fs::create_dir_all(bp.join(name)).unwrap();
            std::fs::write(bp.join(format!("{name}.toml")), toml).unwrap();
        }
        std::fs::write(bp.join("launch.toml"), "").unwrap();
        let restored = restored_layers(bp);
        assert!(restored.contains_key("kept"));
        std::fs::remove_dir_all(bp.join("made")).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::create_dir_all(bp.join("made")).unwrap();
        // Content written into a kept layer (libcnb rewrites `env/`) does not make it new.
        std::fs::write(bp.join("kept").join("f"), "x").unwrap();
        let layers = final_layers("a", bp, &restored, &ExecEnv::Production).unwrap();
        let names: Vec<_> = layers.iter().map(|l| (l.name.as_str(), l.state)).collect();
        assert_eq!(
            names,
            vec![
                ("ignored", LayerState::Ignored),
                ("kept", LayerState::Restored),
                ("made", LayerState::Created),
                ("other-test", LayerState::Retained)
            ]
        );
        assert_eq!(layers[3].exec_env, Some(vec!["test".to_owned()]));
        assert!(layers[1].launch && layers[1].cache && !layers[1].build);
    }
}
