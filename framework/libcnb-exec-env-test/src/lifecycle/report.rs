//! Reading what the real phases did back into the engine-neutral [`BuildReport`] parts.
//!
//! Sources: the detector's debug log (`phase/detector.go` prints one `pass:`/`fail:`/`skip:`/`err:`
//! line per buildpack and `Skipping ... due to execution environment mismatch`), `group.toml`,
//! `plan.toml`, the `<layer>.toml` files the builder leaves, and the exported image's
//! `io.buildpacks.build.metadata` label and entrypoint.

use crate::engine::{EngineError, Order};
use crate::results::{
    DetectOutcome, DetectReport, LayerReport, LayerState, PlanEntryReport, ProcessReport,
};
use libcnb_exec_env::ExecEnv;
use libcnb_exec_env::exec_env::ExecEnvSelector;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub(super) use crate::platform::escape_id;

#[derive(Clone, Debug, Default)]
struct Seen {
    outcome: Option<DetectOutcome>,
    output: String,
}

/// Each buildpack's detection, in order of the order (first appearance of each id), from the
/// detector's debug log.
#[must_use]
pub(crate) fn detect_reports(order: &Order, log: &str) -> Vec<DetectReport> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut capturing: Option<String> = None;
    // Outcome lines are those of a group's results (`======== Results ========`); the plan
    // resolution after them (`Resolving plan... (try #n)`) prints `fail: <bp> requires <x>`,
    // `skip: <bp> provides unused <x>` about buildpacks whose `bin/detect` passed.
    let mut in_results = false;
    for line in log.lines() {
        if line.starts_with("Resolving plan") {
            in_results = false;
        }
        if let Some(rest) = line.strip_prefix("======== ") {
            in_results = rest.starts_with("Results ");
            capturing = rest
                .strip_prefix("Output: ")
                .or_else(|| rest.strip_prefix("Error: "))
                .and_then(|rest| rest.strip_suffix(" ========"))
                .map(str::to_owned);
            if let Some(key) = &capturing
                && rest.starts_with("Output: ")
            {
                seen.entry(key.clone()).or_default().output.clear();
            }
            continue;
        }
        if let Some(key) = &capturing {
            if is_log_line(line) {
                capturing = None;
            } else {
                let entry = seen.entry(key.clone()).or_default();
                entry.output.push_str(line);
                entry.output.push('\n');
                continue;
            }
        }
        if let Some(rest) = line.strip_prefix("Skipping ")
            && let Some((key, _)) = rest.split_once(" due to execution environment mismatch")
        {
            seen.entry(key.to_owned()).or_default().outcome = Some(DetectOutcome::SkippedExecEnv {
                declared: ExecEnvSelector::All,
            });
            continue;
        }
        let (status, rest) = match line.split_once(": ") {
            Some((status @ ("pass" | "fail" | "skip" | "err"), rest)) if in_results => {
                (status, rest.trim())
            }
            _ => continue,
        };
        let mut words = rest.split_whitespace();
        let Some(key) = words.next() else { continue };
        if !key.contains('@') {
            continue;
        }
        let outcome = match status {
            "pass" => DetectOutcome::Pass,
            "fail" | "skip" => DetectOutcome::Fail,
            _ => DetectOutcome::Error(
                words
                    .next()
                    .and_then(|code| code.trim_matches(['(', ')']).parse().ok())
                    .unwrap_or(-1),
            ),
        };
        seen.entry(key.to_owned()).or_default().outcome = Some(outcome);
    }
    let mut reports: Vec<DetectReport> = Vec::new();
    for entry in order.iter().flatten() {
        let bp = &entry.buildpack;
        if reports.iter().any(|r| r.buildpack_id == bp.id) {
            continue;
        }
        let key = format!("{}@{}", bp.id, bp.version);
        let found = seen.get(&key).cloned().unwrap_or_default();
        let outcome = match found.outcome {
            Some(DetectOutcome::SkippedExecEnv { .. }) => DetectOutcome::SkippedExecEnv {
                declared: bp.descriptor.exec_env.clone(),
            },
            Some(outcome) => outcome,
            None => DetectOutcome::NotRun,
        };
        reports.push(DetectReport {
            buildpack_id: bp.id.clone(),
            version: bp.version.clone(),
            api: bp.api(),
            optional: entry.optional,
            outcome,
            output: found.output,
        });
    }
    reports
}

/// Whether `line` is one of the lifecycle's own log lines (which end a buildpack's output).
fn is_log_line(line: &str) -> bool {
    [
        "pass: ",
        "fail: ",
        "skip: ",
        "err:  ",
        "Resolving plan",
        "Timer: ",
        "Skipping ",
        "Checking for match",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix))
}

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

/// The processes of the exported image, from its `io.buildpacks.build.metadata` label (the
/// lifecycle lists them sorted by type, `phase/builder.go`), with `default` set on `default_type`.
///
/// # Errors
/// The label is not JSON.
pub(crate) fn processes(
    build_metadata: &str,
    default_type: Option<&str>,
    label_path: &Path,
) -> Result<Vec<ProcessReport>, EngineError> {
    let value: serde_json::Value =
        serde_json::from_str(build_metadata).map_err(|error| EngineError::InvalidImage {
            path: label_path.to_path_buf(),
            reason: format!("label io.buildpacks.build.metadata: {error}"),
        })?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(value["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|process| {
            let r#type = process["type"].as_str().unwrap_or_default().to_owned();
            ProcessReport {
                buildpack_id: process["buildpackID"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                default: default_type == Some(r#type.as_str()),
                r#type,
                command: strings(&process["command"]),
                args: strings(&process["args"]),
                working_dir: process["working-dir"]
                    .as_str()
                    .filter(|dir| !dir.is_empty())
                    .map(str::to_owned),
                exec_env: ExecEnvSelector::from_names(strings(&process["exec-env"]))
                    .unwrap_or_default(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{GroupEntry, PackagedBuildpack};

    fn order_of(dir: &Path, bps: &[(&str, &str)]) -> Order {
        vec![
            bps.iter()
                .map(|(id, extra)| {
                    let bp_dir = dir.join(escape_id(id));
                    std::fs::create_dir_all(&bp_dir).unwrap();
                    std::fs::write(
                        bp_dir.join("buildpack.toml"),
                        format!(
                            "api = \"0.12\"\n[buildpack]\nid = \"{id}\"\nversion = \"1.0\"\n{extra}"
                        ),
                    )
                    .unwrap();
                    GroupEntry {
                        buildpack: PackagedBuildpack::read(&bp_dir).unwrap(),
                        optional: false,
                        exec_env: ExecEnvSelector::All,
                    }
                })
                .collect(),
        ]
    }

    #[test]
    fn detect_log_gives_outcomes_and_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let order = order_of(
            dir.path(),
            &[
                ("a/one", ""),
                ("b/two", "exec-env = [\"test\"]\n"),
                ("c/three", ""),
                ("d/four", ""),
                ("e/five", ""),
            ],
        );
        let log = "Skipping b/two@1.0 due to execution environment mismatch; current: production, buildpack supports: [test]\n\
======== Output: a/one@1.0 ========\nhello from a\nsecond line\n\
======== Output: c/three@1.0 ========\nnope\n\
======== Output: d/four@1.0 ========\nboom\n\
======== Results ========\npass: a/one@1.0\nfail: c/three@1.0\nerr:  d/four@1.0 (1)\nResolving plan... (try #1)\n\
fail: a/one@1.0 requires node\nskip: a/one@1.0 provides unused npm\n";
        let reports = detect_reports(&order, log);
        let outcomes: Vec<_> = reports.iter().map(|r| r.outcome.clone()).collect();
        assert_eq!(outcomes[0], DetectOutcome::Pass);
        assert!(
            matches!(&outcomes[1], DetectOutcome::SkippedExecEnv { declared } if declared.matches(&ExecEnv::Test) && !declared.is_all())
        );
        assert_eq!(outcomes[2], DetectOutcome::Fail);
        assert_eq!(outcomes[3], DetectOutcome::Error(1));
        assert_eq!(outcomes[4], DetectOutcome::NotRun);
        assert_eq!(reports[0].output, "hello from a\nsecond line\n");
        assert_eq!(reports[3].output, "boom\n");
    }

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

    #[test]
    fn processes_come_from_the_build_metadata_label() {
        let label = r#"{"processes":[{"type":"test","command":["sh","-c","x"],"args":null,"direct":true,"buildpackID":"a","exec-env":["test"]},{"type":"web","command":["w"],"args":["1"],"direct":true,"buildpackID":"a"}]}"#;
        let processes = processes(label, Some("test"), Path::new("x")).unwrap();
        assert_eq!(processes.len(), 2);
        assert!(processes[0].default && !processes[1].default);
        assert_eq!(
            processes[0].exec_env,
            ExecEnvSelector::only([ExecEnv::Test])
        );
        assert_eq!(processes[1].exec_env, ExecEnvSelector::All);
        assert_eq!(processes[1].args, vec!["1".to_owned()]);
    }
}
