//! Processes that carry `exec-env`, and the `launch.toml` that holds them.
//!
//! `libcnb-data`'s `Process` has no `exec-env` field (and denies unknown fields), so this module
//! has its own process type, written to `<layers>/launch.toml` per Buildpack API 0.12:
//! `exec-env` is left out when a process runs in every environment.

use crate::exec_env::{ExecEnv, ExecEnvSelector};
use crate::toml_text;
use libcnb::data::launch::{Label, ProcessType, Slice, WorkingDirectory};
use libcnb::data::process_type;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A process type with an optional environment restriction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// The process type, such as `web` or `test`.
    pub r#type: ProcessType,
    /// The command and its fixed leading arguments.
    pub command: Vec<String>,
    /// Default arguments, replaced by user arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Whether this is the default process.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// The working directory.
    #[serde(
        rename = "working-dir",
        default,
        skip_serializing_if = "WorkingDirectory::is_app"
    )]
    pub working_directory: WorkingDirectory,
    /// The environments this process may run in.
    #[serde(
        rename = "exec-env",
        default,
        skip_serializing_if = "ExecEnvSelector::is_all"
    )]
    pub exec_env: ExecEnvSelector,
}

/// Builds a [`Process`].
///
/// ```
/// use libcnb::data::process_type;
/// use libcnb_exec_env::{ExecEnv, ProcessBuilder};
///
/// let process = ProcessBuilder::new(process_type!("lint"), ["npm", "run", "lint"])
///     .exec_env([ExecEnv::Test, ExecEnv::Development])
///     .build();
/// assert!(process.exec_env.matches(&ExecEnv::Test));
/// assert!(!process.exec_env.matches(&ExecEnv::Production));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ProcessBuilder {
    process: Process,
}

impl ProcessBuilder {
    /// A process of this type running `command` in every environment.
    pub fn new(r#type: ProcessType, command: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            process: Process {
                r#type,
                command: command.into_iter().map(Into::into).collect(),
                args: Vec::new(),
                default: false,
                working_directory: WorkingDirectory::App,
                exec_env: ExecEnvSelector::All,
            },
        }
    }

    /// Appends a default argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.process.args.push(arg.into());
        self
    }

    /// Appends default arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.process.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Makes this the default process (or not).
    pub fn default(mut self, value: bool) -> Self {
        self.process.default = value;
        self
    }

    /// Sets the working directory.
    pub fn working_directory(mut self, value: WorkingDirectory) -> Self {
        self.process.working_directory = value;
        self
    }

    /// Restricts the process to these environments (an empty list lifts the restriction).
    pub fn exec_env(mut self, envs: impl IntoIterator<Item = ExecEnv>) -> Self {
        self.process.exec_env = ExecEnvSelector::only(envs);
        self
    }

    /// Sets the environment selector.
    pub fn exec_env_selector(mut self, selector: ExecEnvSelector) -> Self {
        self.process.exec_env = selector;
        self
    }

    /// The process.
    #[must_use]
    pub fn build(self) -> Process {
        self.process
    }
}

/// The `test` process, restricted to the test environment and default, for test builds.
///
/// RFC 0134 recommends the test process be the default of a test image. Remember that the
/// launcher reads `CNB_EXEC_ENV` from the running container (default `production`): run a test
/// image with `docker run -e CNB_EXEC_ENV=test`.
///
/// ```
/// use libcnb_exec_env::{test_process, ExecEnv};
///
/// let process = test_process(["npm", "test"]);
/// assert_eq!(process.r#type.as_str(), "test");
/// assert!(process.default);
/// assert_eq!(process.exec_env.to_list(), Some(vec!["test".to_owned()]));
/// ```
pub fn test_process(command: impl IntoIterator<Item = impl Into<String>>) -> Process {
    ProcessBuilder::new(process_type!("test"), command)
        .exec_env([ExecEnv::Test])
        .default(true)
        .build()
}

/// The content of `launch.toml`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Launch {
    /// Image labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<LaunchLabel>,
    /// Processes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Process>,
    /// Slices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<LaunchSlice>,
}

/// A label in `launch.toml` (`libcnb-data`'s `Label` lacks `PartialEq`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchLabel {
    /// The label key.
    pub key: String,
    /// The label value.
    pub value: String,
}

/// A slice in `launch.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchSlice {
    /// Path globs inside the app directory.
    pub paths: Vec<String>,
}

impl From<Label> for LaunchLabel {
    fn from(label: Label) -> Self {
        Self {
            key: label.key,
            value: label.value,
        }
    }
}

impl From<Slice> for LaunchSlice {
    fn from(slice: Slice) -> Self {
        Self {
            paths: slice.path_globs,
        }
    }
}

/// A libcnb process runs in every environment, so a ported buildpack keeps its processes.
///
/// ```
/// use libcnb::data::launch::ProcessBuilder as LibcnbProcessBuilder;
/// use libcnb::data::process_type;
/// use libcnb_exec_env::{ExecEnv, Process};
///
/// let libcnb_process = LibcnbProcessBuilder::new(process_type!("web"), ["bundle", "exec", "puma"])
///     .arg("-p")
///     .default(true)
///     .build();
/// let process = Process::from(libcnb_process);
/// assert_eq!(process.r#type.as_str(), "web");
/// assert_eq!(process.command, ["bundle", "exec", "puma"]);
/// assert_eq!(process.args, ["-p"]);
/// assert!(process.default);
/// assert!(process.exec_env.is_all());
/// assert!(process.exec_env.matches(&ExecEnv::Production));
/// ```
impl From<libcnb::data::launch::Process> for Process {
    fn from(process: libcnb::data::launch::Process) -> Self {
        Self {
            r#type: process.r#type,
            command: process.command,
            args: process.args,
            default: process.default,
            working_directory: process.working_directory,
            exec_env: ExecEnvSelector::All,
        }
    }
}

/// Why processes cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Two processes have the same type.
    #[error("process type `{0}` is declared twice: each process type must be unique")]
    DuplicateProcessType(String),
    /// More than one process is the default.
    #[error("processes `{first}` and `{second}` are both marked default: at most one may be")]
    TwoDefaults {
        /// The first default.
        first: String,
        /// The second default.
        second: String,
    },
    /// A process has an empty command.
    #[error("process `{0}` has an empty command")]
    EmptyCommand(String),
    /// `launch.toml` cannot be written.
    #[error("cannot write {path}: {error}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// `launch.toml` cannot be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// `launch.toml` is not valid.
    #[error("{path} is not a valid launch.toml: {error}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        error: toml::de::Error,
    },
}

impl Launch {
    /// Checks the rules the lifecycle and the spec impose on one buildpack's processes.
    ///
    /// # Errors
    /// Duplicate process types, two defaults, or an empty command.
    pub fn validate(&self) -> Result<(), LaunchError> {
        let mut default: Option<&str> = None;
        for (index, process) in self.processes.iter().enumerate() {
            let name = process.r#type.as_str();
            if self.processes[..index]
                .iter()
                .any(|earlier| earlier.r#type == process.r#type)
            {
                return Err(LaunchError::DuplicateProcessType(name.to_owned()));
            }
            if process.command.is_empty() {
                return Err(LaunchError::EmptyCommand(name.to_owned()));
            }
            if process.default {
                if let Some(first) = default {
                    return Err(LaunchError::TwoDefaults {
                        first: first.to_owned(),
                        second: name.to_owned(),
                    });
                }
                default = Some(name);
            }
        }
        Ok(())
    }

    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.processes.is_empty() && self.slices.is_empty()
    }

    /// Validates and writes `<layers_dir>/launch.toml`.
    ///
    /// # Errors
    /// A validation error, or an I/O error naming the file.
    pub fn write(&self, layers_dir: &Path) -> Result<(), LaunchError> {
        self.validate()?;
        let path = layers_dir.join("launch.toml");
        let text = self.to_toml().map_err(|error| LaunchError::Write {
            path: path.clone(),
            error,
        })?;
        std::fs::write(&path, text).map_err(|error| LaunchError::Write { path, error })
    }

    /// The `launch.toml` text, by the framework's small TOML writer (see `toml_text`): keys in
    /// the order above, defaults left out, each `[[...]]` entry after a blank line.
    fn to_toml(&self) -> Result<String, std::io::Error> {
        let mut out = String::new();
        let entry = |out: &mut String, header: &str| {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(header);
        };
        for label in &self.labels {
            entry(&mut out, "[[labels]]\n");
            for (key, value) in [("key", &label.key), ("value", &label.value)] {
                out.push_str(key);
                out.push_str(" = ");
                toml_text::push_string(&mut out, value);
                out.push('\n');
            }
        }
        for process in &self.processes {
            entry(&mut out, "[[processes]]\ntype = ");
            toml_text::push_string(&mut out, process.r#type.as_str());
            out.push('\n');
            toml_text::push_string_array(
                &mut out,
                "command",
                process.command.iter().map(String::as_str),
            );
            if !process.args.is_empty() {
                toml_text::push_string_array(
                    &mut out,
                    "args",
                    process.args.iter().map(String::as_str),
                );
            }
            if process.default {
                out.push_str("default = true\n");
            }
            if let WorkingDirectory::Directory(dir) = &process.working_directory {
                let dir = dir.to_str().ok_or_else(|| {
                    std::io::Error::other(format!(
                        "working-dir {} of process {} is not UTF-8",
                        dir.display(),
                        process.r#type
                    ))
                })?;
                out.push_str("working-dir = ");
                toml_text::push_string(&mut out, dir);
                out.push('\n');
            }
            if let ExecEnvSelector::Only(envs) = &process.exec_env {
                toml_text::push_string_array(
                    &mut out,
                    "exec-env",
                    envs.iter().map(ExecEnv::as_str),
                );
            }
        }
        for slice in &self.slices {
            entry(&mut out, "[[slices]]\n");
            toml_text::push_string_array(&mut out, "paths", slice.paths.iter().map(String::as_str));
        }
        Ok(out)
    }

    /// Reads a `launch.toml`.
    ///
    /// # Errors
    /// An I/O or parse error naming the file.
    pub fn read(path: &Path) -> Result<Self, LaunchError> {
        let text = std::fs::read_to_string(path).map_err(|error| LaunchError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        toml::from_str(&text).map_err(|error| LaunchError::Parse {
            path: path.to_path_buf(),
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcnb::data::process_type;

    fn web() -> Process {
        ProcessBuilder::new(process_type!("web"), ["node", "server.js"]).build()
    }

    #[test]
    fn exec_env_is_written_only_when_restricted() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            processes: vec![web(), test_process(["npm", "test"])],
            ..Launch::default()
        };
        launch.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("launch.toml")).unwrap();
        assert_eq!(
            text,
            "[[processes]]\ntype = \"web\"\ncommand = [\"node\", \"server.js\"]\n\n\
             [[processes]]\ntype = \"test\"\ncommand = [\"npm\", \"test\"]\ndefault = true\nexec-env = [\"test\"]\n"
        );
        assert_eq!(
            Launch::read(&dir.path().join("launch.toml")).unwrap(),
            launch
        );
    }

    #[test]
    fn every_field_is_written_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            labels: vec![LaunchLabel {
                key: "a \"quoted\" key".to_owned(),
                value: "line\nbreak \\ tab\t".to_owned(),
            }],
            processes: vec![
                ProcessBuilder::new(process_type!("web"), ["node"])
                    .args(["server.js", "--port=\"5000\""])
                    .working_directory(WorkingDirectory::Directory("sub dir".into()))
                    .build(),
                test_process(["npm", "test"]),
            ],
            slices: vec![LaunchSlice {
                paths: vec!["public/**".to_owned(), "ü".to_owned()],
            }],
        };
        launch.write(dir.path()).unwrap();
        let path = dir.path().join("launch.toml");
        assert_eq!(Launch::read(&path).unwrap(), launch);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("[[labels]]\n") && text.contains("\n\n[[slices]]\npaths = "),
            "{text}"
        );
    }

    #[test]
    fn wildcard_and_empty_lists_read_as_unrestricted() {
        let launch: Launch = toml::from_str(
            "[[processes]]\ntype = \"a\"\ncommand = [\"x\"]\nexec-env = [\"*\"]\n\
             [[processes]]\ntype = \"b\"\ncommand = [\"x\"]\nexec-env = []\n",
        )
        .unwrap();
        assert!(launch.processes.iter().all(|p| p.exec_env.is_all()));
    }

    #[test]
    fn duplicate_types_and_two_defaults_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let duplicate = Launch {
            processes: vec![web(), web()],
            ..Launch::default()
        };
        let error = duplicate.write(dir.path()).unwrap_err();
        assert!(
            matches!(error, LaunchError::DuplicateProcessType(ref t) if t == "web"),
            "{error}"
        );
        let two_defaults = Launch {
            processes: vec![
                ProcessBuilder::new(process_type!("web"), ["a"])
                    .default(true)
                    .build(),
                test_process(["b"]),
            ],
            ..Launch::default()
        };
        let error = two_defaults.write(dir.path()).unwrap_err();
        assert!(error.to_string().contains("`web` and `test`"), "{error}");
        let empty = Launch {
            processes: vec![
                ProcessBuilder::new(process_type!("web"), Vec::<String>::new()).build(),
            ],
            ..Launch::default()
        };
        assert!(matches!(
            empty.write(dir.path()),
            Err(LaunchError::EmptyCommand(_))
        ));
        assert!(!dir.path().join("launch.toml").exists());
    }

    #[test]
    fn malformed_launch_toml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("launch.toml");
        std::fs::write(&path, "[[processes]]\ntype = \"web\"\ncommand = \"oops\"\n").unwrap();
        let error = Launch::read(&path).unwrap_err();
        assert!(
            error.to_string().contains("launch.toml") && error.to_string().contains("command"),
            "{error}"
        );
        std::fs::write(
            &path,
            "[[processes]]\ntype = \"web\"\ncommand = [\"x\"]\nexec-env = [\"a/b\"]\n",
        )
        .unwrap();
        assert!(Launch::read(&path).unwrap_err().to_string().contains("a/b"));
    }
}
