//! The `io.buildpacks.build.metadata` label of an exported image read back into
//! [`ProcessReport`]s. The lifecycle engine reads it from the OCI layout, the pack engine from
//! `docker image inspect`; the label is the same JSON (`platform/files/build_metadata.go` in the
//! lifecycle), read here once with typed structs that tolerate unknown keys.

use crate::engine::EngineError;
use crate::results::ProcessReport;
use libcnb_exec_env::exec_env::ExecEnvSelector;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct BuildMetadata {
    #[serde(default)]
    processes: Option<Vec<Process>>,
}

#[derive(Deserialize)]
struct Process {
    #[serde(default)]
    r#type: String,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default, rename = "buildpackID")]
    buildpack_id: String,
    #[serde(default, rename = "working-dir")]
    working_dir: Option<String>,
    #[serde(default, rename = "exec-env")]
    exec_env: Option<Vec<String>>,
}

/// The processes of the exported image, from its `io.buildpacks.build.metadata` label (the
/// lifecycle lists them sorted by type, `phase/builder.go`), with `default` set on
/// `default_type`.
///
/// # Errors
/// The label is not JSON of that shape; `label_path` names where it came from.
pub fn processes(
    build_metadata: &str,
    default_type: Option<&str>,
    label_path: &Path,
) -> Result<Vec<ProcessReport>, EngineError> {
    let metadata: BuildMetadata =
        serde_json::from_str(build_metadata).map_err(|error| EngineError::InvalidImage {
            path: label_path.to_path_buf(),
            reason: format!("label io.buildpacks.build.metadata: {error}"),
        })?;
    Ok(metadata
        .processes
        .unwrap_or_default()
        .into_iter()
        .map(|process| ProcessReport {
            buildpack_id: process.buildpack_id,
            default: default_type == Some(process.r#type.as_str()),
            r#type: process.r#type,
            command: process.command.unwrap_or_default(),
            args: process.args.unwrap_or_default(),
            working_dir: process.working_dir.filter(|dir| !dir.is_empty()),
            exec_env: ExecEnvSelector::from_names(process.exec_env.unwrap_or_default())
                .unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcnb_exec_env::ExecEnv;

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

    #[test]
    fn a_label_of_another_shape_names_the_label() {
        let error = processes(
            r#"{"processes":[{"command":"sh"}]}"#,
            None,
            Path::new("img/config"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("img/config") && error.contains("io.buildpacks.build.metadata"),
            "{error}"
        );
    }
}
