//! The build phase: runs each buildpack of the group in order (lifecycle `phase/builder.go`,
//! `buildpack/build.go`).
//!
//! - `bin/build <layers>/<id> <platform> <plan>` runs in the app directory; env as for detect
//!   plus, from API 0.8, `CNB_LAYERS_DIR` and `CNB_BP_PLAN_PATH` (not `CNB_BUILD_PLAN_PATH`).
//! - After a buildpack, each of its layers with `[types] build = true` is added to the env of
//!   the *later* buildpacks: root dirs first, then `env/`, then `env.build/` (`setupEnv`).
//!   Layers whose types are all false are renamed `<layer>.ignore`.
//! - Entries a buildpack met (not listed in `build.toml` `[[unmet]]`) leave the plan of later
//!   buildpacks.

use super::detector::{Detected, path_string};
use super::plan::{self, PlanEntry};
use super::restorer::{RestoredLayer, identity};
use super::{Log, Workspace, buildpack_env, escape_id, run_captured};
use crate::engine::{BuildRequest, EngineError, GroupEntry};
use crate::platform::layer_toml::{CachedLayer, layer_types};
use crate::results::LayerState;
use libcnb_exec_env::Launch;
use std::collections::BTreeMap;
use std::path::Path;

/// A layer at the end of the build.
#[derive(Clone, Debug)]
pub(crate) struct BuiltLayer {
    pub(crate) buildpack_id: String,
    pub(crate) name: String,
    pub(crate) types: CachedLayer,
    pub(crate) exec_env: Option<Vec<String>>,
    pub(crate) state: LayerState,
    /// A `launch = true` layer without a directory, given the previous image's.
    pub(crate) reused_from_image: bool,
}

/// What one buildpack declared.
#[derive(Clone, Debug)]
pub(crate) struct BuiltBuildpack {
    pub(crate) entry: GroupEntry,
    pub(crate) launch: Launch,
    /// Each process type's `exec-env` as written (`["*"]` stays `["*"]`), for the image's
    /// build metadata; types without one are absent.
    pub(crate) exec_envs: BTreeMap<String, Vec<String>>,
}

/// The build phase's result.
pub(crate) struct Built {
    pub(crate) buildpacks: Vec<BuiltBuildpack>,
    pub(crate) layers: Vec<BuiltLayer>,
}

/// Runs every buildpack of the group.
#[allow(clippy::too_many_lines)] // one phase, read top to bottom
pub(crate) fn build(
    request: &BuildRequest,
    workspace: &Workspace,
    detected: &Detected,
    restored: &[RestoredLayer],
    log: &mut Log,
) -> Result<Built, EngineError> {
    let mut env = workspace.base_env.clone();
    let mut entries: Vec<PlanEntry> = detected.resolved.entries.clone();
    let mut built = Built {
        buildpacks: Vec::new(),
        layers: Vec::new(),
    };
    let plan_root = tempfile::Builder::new()
        .prefix("plans.")
        .tempdir()
        .map_err(EngineError::io("cannot create the plan directory"))?;
    for entry in &detected.group {
        let buildpack = &entry.buildpack;
        let id = &buildpack.id;
        log.line(&format!(
            "Running build for buildpack {id}@{}",
            buildpack.version
        ));
        let bp_layers = workspace.layers_dir.join(escape_id(id));
        let plan_dir = plan_root.path().join(escape_id(id));
        for dir in [&bp_layers, &plan_dir] {
            std::fs::create_dir_all(dir)
                .map_err(EngineError::io(format!("cannot create {}", dir.display())))?;
        }
        let requires = plan::plan_for(&entries, id);
        let plan_path = plan_dir.join("plan.toml");
        std::fs::write(&plan_path, plan::buildpack_plan_toml(&requires)).map_err(
            EngineError::io(format!("cannot write {}", plan_path.display())),
        )?;

        let mut command = std::process::Command::new(buildpack.dir.join("bin").join("build"));
        command
            .arg(&bp_layers)
            .arg(&workspace.platform_dir)
            .arg(&plan_path)
            .current_dir(&workspace.app_dir);
        let mut vars = buildpack_env(request, workspace, buildpack, &env)?;
        vars.push(("CNB_BUILDPACK_DIR".into(), path_string(&buildpack.dir)));
        if buildpack.descriptor.api >= (0, 8) {
            vars.push((
                "CNB_PLATFORM_DIR".into(),
                path_string(&workspace.platform_dir),
            ));
            vars.push(("CNB_BP_PLAN_PATH".into(), path_string(&plan_path)));
            vars.push(("CNB_LAYERS_DIR".into(), path_string(&bp_layers)));
        }
        command.env_clear().envs(vars);
        let (code, _) =
            run_captured(command, log, &format!("{id} build")).map_err(EngineError::io(
                format!("cannot run {}", buildpack.dir.join("bin/build").display()),
            ))?;
        if code != Some(0) {
            return Err(EngineError::BuildpackFailed {
                buildpack_id: id.clone(),
                code: code.map_or_else(|| "a signal".to_owned(), |c| c.to_string()),
                output: log.take(),
            });
        }

        let layers = process_layers(request, workspace, id, &bp_layers, restored)?;
        for layer in &layers {
            if !layer.types.build {
                continue;
            }
            let path = bp_layers.join(&layer.name);
            env.add_root_dir(&path);
            for dir in ["env", "env.build"] {
                env.add_env_dir(&path.join(dir))
                    .map_err(EngineError::io(format!(
                        "cannot read env files in {}",
                        path.join(dir).display()
                    )))?;
            }
        }
        built.layers.extend(layers);

        let unmet = read_unmet(id, &bp_layers.join("build.toml"))?;
        let met: Vec<String> = requires
            .iter()
            .map(|require| require.name.clone())
            .filter(|name| !unmet.contains(name))
            .collect();
        plan::filter_met(&mut entries, &met);

        let (launch, exec_envs) = read_launch(id, &bp_layers.join("launch.toml"))?;
        built.buildpacks.push(BuiltBuildpack {
            entry: entry.clone(),
            launch,
            exec_envs,
        });
    }
    Ok(built)
}

/// Reads `launch.toml` as the lifecycle does (`buildpack/build.go` `readOutputFilesBp`): unknown
/// keys are ignored (its TOML decoder drops them), two defaults are an error, and a repeated
/// process type simply replaces the earlier one (`processMap.add`). Also returns each process
/// type's `exec-env` list as written (the lifecycle keeps it so, `launch/launch.go`).
fn read_launch(
    buildpack_id: &str,
    path: &Path,
) -> Result<(Launch, BTreeMap<String, Vec<String>>), EngineError> {
    const PROCESS_KEYS: [&str; 6] = [
        "type",
        "command",
        "args",
        "default",
        "working-dir",
        "exec-env",
    ];
    let invalid = |reason: String| EngineError::InvalidBuildpackOutput {
        buildpack_id: buildpack_id.to_owned(),
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Launch::default(), BTreeMap::new()));
        }
        Err(error) => return Err(invalid(error.to_string())),
    };
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    table.retain(|key, _| ["labels", "processes", "slices"].contains(&key));
    if let Some(processes) = table
        .get_mut("processes")
        .and_then(toml::Value::as_array_mut)
    {
        for process in processes.iter_mut().filter_map(toml::Value::as_table_mut) {
            process.retain(|key, _| PROCESS_KEYS.contains(&key));
        }
    }
    let mut exec_envs = BTreeMap::new();
    for process in table
        .get("processes")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(kind) = process.get("type").and_then(toml::Value::as_str) else {
            continue;
        };
        // A repeated type replaces the earlier one, its exec-env included.
        exec_envs.remove(kind);
        if let Some(list) = process.get("exec-env").and_then(toml::Value::as_array) {
            let names: Vec<String> = list
                .iter()
                .filter_map(toml::Value::as_str)
                .map(str::to_owned)
                .collect();
            if !names.is_empty() {
                exec_envs.insert(kind.to_owned(), names);
            }
        }
    }
    let mut launch: Launch = table
        .try_into()
        .map_err(|e: toml::de::Error| invalid(e.to_string()))?;
    let defaults: Vec<String> = launch
        .processes
        .iter()
        .filter(|process| process.default)
        .map(|process| process.r#type.to_string())
        .collect();
    if defaults.len() > 1 {
        return Err(invalid(format!(
            "multiple default process types aren't allowed: {}",
            defaults.join(", ")
        )));
    }
    let mut unique: Vec<libcnb_exec_env::Process> = Vec::new();
    for process in launch.processes {
        unique.retain(|earlier| earlier.r#type != process.r#type);
        unique.push(process);
    }
    launch.processes = unique;
    Ok((launch, exec_envs))
}

/// Reads every `<layer>.toml` of a buildpack (lifecycle `eachLayer`: `*.toml` files but
/// `launch.toml`, `build.toml`, `store.toml`), in order of their *file* names, as `os.ReadDir`
/// lists them (`tool-x.toml` before `tool.toml`): the order their build env is applied in.
#[allow(clippy::too_many_lines)] // the lifecycle's per-layer decisions, in one place
fn process_layers(
    request: &BuildRequest,
    workspace: &Workspace,
    buildpack_id: &str,
    bp_layers: &Path,
    restored: &[RestoredLayer],
) -> Result<Vec<BuiltLayer>, EngineError> {
    let mut names: Vec<String> = std::fs::read_dir(bp_layers)
        .map_err(EngineError::io(format!(
            "cannot read {}",
            bp_layers.display()
        )))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_dir()))
        .filter_map(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .strip_suffix(".toml")
                .map(str::to_owned)
        })
        .filter(|name| !["launch", "build", "store"].contains(&name.as_str()))
        .collect();
    names.sort_by_cached_key(|name| format!("{name}.toml"));
    let mut layers = Vec::new();
    for name in names {
        let toml_path = bp_layers.join(format!("{name}.toml"));
        let invalid = |reason: String| EngineError::InvalidBuildpackOutput {
            buildpack_id: buildpack_id.to_owned(),
            path: toml_path.clone(),
            reason,
        };
        let text = std::fs::read_to_string(&toml_path).map_err(|e| invalid(e.to_string()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let types = layer_types(&table).map_err(invalid)?;
        let exec_env: Option<Vec<String>> = table
            .get("metadata")
            .and_then(|metadata| metadata.get(libcnb_exec_env::layers::EXEC_ENV_METADATA_KEY))
            .and_then(toml::Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(toml::Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
        let dir = bp_layers.join(&name);
        if !types.launch && !types.build && !types.cache {
            // buildpack/build.go renameLayerDirIfNeeded.
            if dir.exists() {
                std::fs::rename(&dir, bp_layers.join(format!("{name}.ignore"))).map_err(
                    EngineError::io(format!("cannot rename {} to .ignore", dir.display())),
                )?;
            }
            // Neither exported, cached nor on the build path: reported, nothing more.
            layers.push(BuiltLayer {
                buildpack_id: buildpack_id.to_owned(),
                name,
                types,
                exec_env,
                state: LayerState::Ignored,
                reused_from_image: false,
            });
            continue;
        } else if types.launch && !dir.is_dir() {
            // phase/exporter.go: a launch layer without a directory is reused from the
            // previous image, or the export fails.
            let reused = match &workspace.previous {
                Some(previous) => previous
                    .reuse(buildpack_id, &name, &dir)
                    .map_err(|e| invalid(e.to_string()))?,
                None => false,
            };
            if !reused {
                return Err(invalid(format!(
                    "cannot reuse '{buildpack_id}:{name}', previous image has no metadata for layer '{buildpack_id}:{name}' (launch = true without a directory)"
                )));
            }
            layers.push(BuiltLayer {
                buildpack_id: buildpack_id.to_owned(),
                name,
                types,
                exec_env,
                state: LayerState::Restored,
                reused_from_image: true,
            });
            continue;
        }
        let was_restored = restored
            .iter()
            .find(|layer| layer.buildpack_id == buildpack_id && layer.name == name);
        let state = crate::platform::layer_toml::layer_state(
            exec_env.as_ref(),
            &request.exec_env,
            was_restored.is_some_and(|layer| layer.identity == identity(&dir)),
        );
        layers.push(BuiltLayer {
            buildpack_id: buildpack_id.to_owned(),
            name,
            types,
            exec_env,
            state,
            reused_from_image: false,
        });
    }
    Ok(layers)
}

fn read_unmet(buildpack_id: &str, path: &Path) -> Result<Vec<String>, EngineError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    let invalid = |reason: String| EngineError::InvalidBuildpackOutput {
        buildpack_id: buildpack_id.to_owned(),
        path: path.to_path_buf(),
        reason,
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let mut names = Vec::new();
    for unmet in table
        .get("unmet")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
    {
        match unmet.get("name").and_then(toml::Value::as_str) {
            Some(name) if !name.is_empty() => names.push(name.to_owned()),
            _ => return Err(invalid("unmet.name is required".to_owned())),
        }
    }
    Ok(names)
}

/// Fuzzing of the `launch.toml` reader (`docs/fuzzing.md`). `PROPTEST_CASES` sets the count.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "\"web\"",
            "\"\"",
            "\"a/b\"",
            "1",
            "true",
            "[\"x\"]",
            "[]",
            "[1]",
            "[\"test\", \"*\"]",
            "[\"a/b\"]",
            "{ a = 1 }",
        ])
        .prop_map(str::to_owned)
    }

    fn process() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "type",
                    "command",
                    "args",
                    "default",
                    "working-dir",
                    "exec-env",
                    "direct",
                    "other",
                ]),
                value(),
            ),
            0..6,
        )
        .prop_map(|pairs| {
            let mut seen = std::collections::BTreeSet::new();
            let mut text = "[[processes]]\n".to_owned();
            for (key, value) in pairs {
                if seen.insert(key) {
                    text.push_str(key);
                    text.push_str(" = ");
                    text.push_str(&value);
                    text.push('\n');
                }
            }
            text
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
        ))]

        /// Any text: a `Launch` or an `InvalidBuildpackOutput` naming the file, never a panic.
        #[test]
        fn launch_toml_reader_never_panics(text in any::<String>()) {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("launch.toml");
            std::fs::write(&path, &text).unwrap();
            match read_launch("a/b", &path) {
                Ok(_) => {}
                Err(EngineError::InvalidBuildpackOutput { path: named, .. }) => {
                    prop_assert_eq!(named, path);
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }

        /// Structured: processes with every key and value type. Valid ones come back with
        /// unique types and at most one default; invalid ones are errors naming the file.
        #[test]
        fn launch_toml_processes_are_read_or_refused(
            processes in prop::collection::vec(process(), 0..4),
            extra in prop::sample::select(vec!["", "[labels]\nx = 1\n", "slices = 1\n", "junk = 2\n"]),
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().join("launch.toml");
            std::fs::write(&path, format!("{extra}{}", processes.concat())).unwrap();
            match read_launch("a/b", &path) {
                Ok((launch, _)) => {
                    let types: std::collections::BTreeSet<_> =
                        launch.processes.iter().map(|p| p.r#type.to_string()).collect();
                    prop_assert_eq!(types.len(), launch.processes.len());
                    prop_assert!(launch.processes.iter().filter(|p| p.default).count() <= 1);
                }
                Err(EngineError::InvalidBuildpackOutput { path: named, .. }) => {
                    prop_assert_eq!(named, path);
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }
    }
}
