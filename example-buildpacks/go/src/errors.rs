//! Everything that can stop a Go build, each naming the file, package, module or version at fault.

use crate::go_mod::{GoModError, GoVersion};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The Go buildpack's errors.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GoBuildpackError {
    /// `go.mod` is missing, unreadable or malformed.
    #[error(transparent)]
    GoMod(#[from] GoModError),
    /// An app file (`project.toml`) is a link out of the app, or cannot be read.
    #[error(transparent)]
    AppFile(#[from] libcnb_exec_env::app_file::AppFileError),

    /// The build configuration (`project.toml`) is malformed.
    #[error("{}: {message}", path.display())]
    BuildConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// No `go` was found and none was pinned that could be installed.
    #[error(
        "no `go` command found on PATH, and {reason}. Add a `toolchain go1.X.Y` line to go.mod (the buildpack then installs that release), or put Go on the build image's PATH."
    )]
    NoGo {
        /// Why nothing could be installed instead.
        reason: String,
    },

    /// A toolchain release has to be downloaded, but no `go` command is there to do it.
    #[error(
        "Go {version} must be downloaded (module {module}), which needs a `go` command on PATH to fetch it from the module proxy; none was found"
    )]
    NoGoToDownload {
        /// The wanted release.
        version: GoVersion,
        /// The toolchain module.
        module: String,
    },

    /// The wanted toolchain release cannot be downloaded.
    #[error("cannot install Go {version}: downloading module {module} failed:\n{output}")]
    ToolchainDownload {
        /// The wanted release.
        version: GoVersion,
        /// The toolchain module (`golang.org/toolchain@v0.0.1-go1.25.4.linux-amd64`).
        module: String,
        /// What the `go` command said.
        output: String,
    },

    /// An installed toolchain reports another version than the one wanted.
    #[error("the toolchain in {} reports `{reported}`, not go{wanted}", path.display())]
    ToolchainMismatch {
        /// The `go` binary.
        path: PathBuf,
        /// What it said.
        reported: String,
        /// What was wanted.
        wanted: GoVersion,
    },

    /// A module dependency cannot be downloaded.
    #[error("cannot download module {module}@{version}: {detail}")]
    ModuleDownload {
        /// The module path.
        module: String,
        /// The module version.
        version: String,
        /// The `go` command's reason.
        detail: String,
    },

    /// The main packages of the app cannot be listed.
    #[error("cannot list the packages of the app (`go list ./...`) failed:\n{output}")]
    ListPackages {
        /// What the `go` command said.
        output: String,
    },

    /// A package listed in the build config is not a main package of the app.
    #[error("{}: `{package}` is not a main package of this module (main packages: {available})", path.display())]
    NotAMainPackage {
        /// The config file.
        path: PathBuf,
        /// The package named there.
        package: String,
        /// The main packages found.
        available: String,
    },

    /// The app has no main package to build.
    #[error(
        "no main package found in this module: production builds need at least one `package main` (checked with `go list ./...`)"
    )]
    NoMainPackage,

    /// Two main packages would produce the same binary name.
    #[error("main packages {first} and {second} would both be built as `{binary}`")]
    BinaryNameClash {
        /// The binary name.
        binary: String,
        /// The first package.
        first: String,
        /// The second package.
        second: String,
    },

    /// A main package does not compile.
    #[error("compiling package {package} failed:\n{output}")]
    Compile {
        /// The package import path.
        package: String,
        /// The compiler output.
        output: String,
    },

    /// The tests do not compile.
    #[error("compiling the tests failed (package {package}):\n{output}")]
    TestCompile {
        /// The first package named in the output.
        package: String,
        /// The compiler output.
        output: String,
    },

    /// A command cannot be started.
    #[error("cannot run `{command}`: {error}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },

    /// A `go` command failed (outside the cases above).
    #[error("`{command}` failed:\n{output}")]
    Command {
        /// The command line.
        command: String,
        /// Its output.
        output: String,
    },

    /// A file system operation failed.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What was attempted (`copy`, `create`, ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
}

impl GoBuildpackError {
    /// A closure mapping an I/O error on `path` to [`GoBuildpackError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> GoBuildpackError {
        let path = path.into();
        move |error| GoBuildpackError::Io {
            action,
            path,
            error,
        }
    }
}

impl From<GoBuildpackError> for libcnb::Error<GoBuildpackError> {
    fn from(error: GoBuildpackError) -> Self {
        libcnb::Error::BuildpackError(error)
    }
}

/// Prints a build error the way users read it: the buildpack's own message (libcnb would show
/// its `Debug` form), then the chain of causes.
pub(crate) fn report(error: &libcnb::Error<GoBuildpackError>) {
    let error: &dyn std::error::Error = match error {
        libcnb::Error::BuildpackError(error) => error,
        other => other,
    };
    let mut text = format!("ERROR: [examples/go] {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, "\n  caused by: {cause}");
        source = cause.source();
    }
    bullet_stream::global::print::error(text);
}
