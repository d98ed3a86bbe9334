//! Finding the Node.js runtime: `node` and `npm` on `PATH`, and their versions.
//!
//! This buildpack does not install Node.js. The build image (or an earlier buildpack) provides
//! it; the run image must provide it too, since the processes run `node` and `npm`.

use crate::errors::NodejsError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `node` and `npm` this build uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NodeRuntime {
    /// Path of `node`.
    pub(crate) node: PathBuf,
    /// Path of `npm`.
    pub(crate) npm: PathBuf,
    /// `node --version` without the leading `v`, e.g. `20.20.2`.
    pub(crate) node_version: String,
    /// `npm --version`, e.g. `11.19.1`.
    pub(crate) npm_version: String,
}

impl NodeRuntime {
    /// Finds `node` and `npm` on `path` (a `PATH` value) and asks them their versions.
    ///
    /// # Errors
    /// A tool is missing, cannot run, or prints no version.
    pub(crate) fn find(path: Option<&OsString>) -> Result<Self, NodejsError> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let lookup = |tool: &'static str| {
            which::which_in(tool, path, &cwd)
                .map_err(|error| NodejsError::ToolNotFound { tool, error })
        };
        let node = lookup("node")?;
        let npm = lookup("npm")?;
        let node_version = version(&node)?;
        let npm_version = version(&npm)?;
        Ok(Self {
            node,
            npm,
            node_version,
            npm_version,
        })
    }
}

/// Runs `<tool> --version` and returns the version without a leading `v`.
fn version(tool: &Path) -> Result<String, NodejsError> {
    let command = format!("{} --version", tool.display());
    let output = Command::new(tool)
        .arg("--version")
        .output()
        .map_err(|error| NodejsError::Spawn {
            command: command.clone(),
            error,
        })?;
    if !output.status.success() {
        return Err(NodejsError::CommandFailed {
            command,
            status: output.status,
        });
    }
    parse_version(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| {
        NodejsError::UnexpectedVersion {
            command,
            output: String::from_utf8_lossy(&output.stdout).into_owned(),
        }
    })
}

/// `v20.1.0\n` -> `20.1.0`; `None` unless it looks like `<digits>.<...>`.
fn parse_version(output: &str) -> Option<String> {
    let version = output.trim().trim_start_matches('v');
    let mut parts = version.split('.');
    let major = parts.next()?;
    let well_formed = !major.is_empty()
        && major.chars().all(|c| c.is_ascii_digit())
        && parts.next().is_some()
        && !version.contains(char::is_whitespace);
    well_formed.then(|| version.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_parsed_without_the_v() {
        assert_eq!(parse_version("v20.20.2\n").as_deref(), Some("20.20.2"));
        assert_eq!(parse_version("11.19.1\n").as_deref(), Some("11.19.1"));
        assert_eq!(parse_version("command not found"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn missing_node_is_reported_by_name() {
        let empty = tempfile::tempdir().unwrap();
        let error = NodeRuntime::find(Some(&empty.path().as_os_str().to_owned())).unwrap_err();
        assert!(
            matches!(error, NodejsError::ToolNotFound { tool: "node", .. }),
            "{error}"
        );
    }

    #[test]
    fn missing_npm_is_reported_by_name() {
        // A PATH with only `node` on it (a link to the real one).
        let node = which::which("node").expect("these tests need node on PATH");
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&node, dir.path().join("node")).unwrap();
        let error = NodeRuntime::find(Some(&dir.path().as_os_str().to_owned())).unwrap_err();
        assert!(
            matches!(error, NodejsError::ToolNotFound { tool: "npm", .. }),
            "{error}"
        );
    }

    #[test]
    fn real_node_and_npm_are_found_with_versions() {
        let runtime = NodeRuntime::find(std::env::var_os("PATH").as_ref()).unwrap();
        assert!(runtime.node.ends_with("node"));
        assert!(runtime.npm.ends_with("npm"));
        assert!(runtime.node_version.split('.').count() >= 3, "{runtime:?}");
        assert!(runtime.npm_version.split('.').count() >= 3, "{runtime:?}");
    }
}
