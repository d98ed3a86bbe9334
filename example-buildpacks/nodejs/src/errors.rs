//! Everything that can stop a Node.js build, each naming the file, command or tool involved.

use std::path::PathBuf;

/// Why the Node.js buildpack failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodejsError {
    /// `node` or `npm` is not on `PATH`.
    #[error(
        "`{tool}` was not found on PATH ({error}). This buildpack does not install Node.js: \
         use a build image that has `node` and `npm` on PATH, or put a buildpack that provides \
         Node.js before examples/nodejs in the buildpack order. The run image needs `node` (and \
         `npm` for the `test` and `dev` processes) too."
    )]
    ToolNotFound {
        /// `node` or `npm`.
        tool: &'static str,
        /// What `which` said.
        #[source]
        error: which::Error,
    },

    /// A command could not be started at all.
    #[error("cannot run `{command}`: {error}")]
    Spawn {
        /// The command line.
        command: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },

    /// A command ran and failed.
    #[error("`{command}` failed ({status}); its output is above")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it ended, e.g. `exit status: 1`.
        status: std::process::ExitStatus,
    },

    /// A command printed something that is not a version.
    #[error("`{command}` printed {output:?}, which is not a version number")]
    UnexpectedVersion {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },

    /// An app file resolves outside the app (a hostile link) or cannot be read.
    #[error(transparent)]
    AppFile(#[from] libcnb_exec_env::app_file::AppFileError),

    /// A file could not be read.
    #[error("cannot read {path}: {error}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },

    /// `package.json` is not valid JSON or has a field of the wrong type.
    #[error("{path} is not a valid package.json: {error}")]
    PackageJson {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        error: serde_json::Error,
    },

    /// `package-lock.json` / `npm-shrinkwrap.json` is not a valid npm lockfile.
    #[error(
        "{path} is not a valid npm lockfile: {error}. Regenerate it with `npm install` and commit it"
    )]
    Lockfile {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        error: serde_json::Error,
    },

    /// A file or directory could not be written, copied, linked or removed.
    #[error("cannot {action} {path}: {error}")]
    Write {
        /// What was being done: `write`, `link`, `remove`, ...
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
}

impl From<NodejsError> for libcnb::Error<NodejsError> {
    fn from(error: NodejsError) -> Self {
        libcnb::Error::BuildpackError(error)
    }
}

/// A closure for `map_err` that wraps an I/O error on `path`.
pub(crate) fn write_error(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> NodejsError {
    let path = path.into();
    move |error| NodejsError::Write {
        action,
        path,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_says_what_to_provide() {
        let error = NodejsError::ToolNotFound {
            tool: "npm",
            error: which::Error::CannotFindBinaryPath,
        };
        let message = error.to_string();
        assert!(
            message.starts_with("`npm` was not found on PATH"),
            "{message}"
        );
        assert!(message.contains("build image"), "{message}");
        assert!(message.contains("run image"), "{message}");
    }

    #[test]
    fn io_errors_name_the_path_and_the_action() {
        let error = write_error("link", "/workspace/node_modules")(std::io::Error::from(
            std::io::ErrorKind::PermissionDenied,
        ));
        assert_eq!(
            error.to_string(),
            "cannot link /workspace/node_modules: permission denied"
        );
    }
}
