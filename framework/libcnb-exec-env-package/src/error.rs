//! Why packaging failed.

use libcnb_exec_env::internal::descriptor::DescriptorError;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A `buildpack.toml` cannot be read or is invalid.
    #[error(transparent)]
    Descriptor(#[from] DescriptorError),
    /// `libcnb-data` rejects a composite's `buildpack.toml` once the `exec-env` keys are set aside.
    #[error("{path} is not a valid composite buildpack descriptor: {error}")]
    Composite {
        /// The file.
        path: PathBuf,
        /// The deserialization error.
        #[source]
        error: toml::de::Error,
    },
    /// A composite's `package.toml` cannot be read or is invalid.
    #[error("{path}: {message}")]
    PackageToml {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the key or the value).
        message: String,
    },
    /// The directory holds neither a Rust buildpack crate nor a composite.
    #[error(
        "{dir} is neither a Rust buildpack crate (buildpack.toml + Cargo.toml) nor a composite (buildpack.toml with [[order]] + package.toml)"
    )]
    NotPackageable {
        /// The directory.
        dir: PathBuf,
    },
    /// No buildpack in the workspace has this id.
    #[error("no buildpack with id {id:?} in the workspace at {workspace_root} (found: {})", known.join(", "))]
    UnknownBuildpack {
        /// The id asked for.
        id: String,
        /// The workspace root searched.
        workspace_root: PathBuf,
        /// The ids found.
        known: Vec<String>,
    },
    /// Composites depend on each other in a cycle.
    #[error("buildpack dependency cycle through {}", dirs.iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>().join(" -> "))]
    DependencyCycle {
        /// The directories on the cycle.
        dirs: Vec<PathBuf>,
    },
    /// `cargo metadata` failed.
    #[error("cargo metadata failed for {dir}: {message}")]
    CargoMetadata {
        /// Where it ran.
        dir: PathBuf,
        /// Its error.
        message: String,
    },
    /// The crate's binary target cannot be chosen.
    #[error("{manifest}: {message}")]
    BinaryTarget {
        /// The crate's `Cargo.toml`.
        manifest: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `cargo build` failed.
    #[error("cargo build --target {target} of {manifest} failed ({status}); its output is above")]
    CargoBuild {
        /// The crate's `Cargo.toml`.
        manifest: PathBuf,
        /// The target triple.
        target: String,
        /// Cargo's exit status.
        status: ExitStatus,
    },
    /// `cargo` cannot be started.
    #[error("cannot run cargo ({program}): {error}")]
    CargoSpawn {
        /// The program.
        program: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// `rustc` cannot tell the host triple.
    #[error("{message}")]
    Rustc {
        /// What went wrong.
        message: String,
    },
    /// The target needs a C toolchain that is not installed.
    #[error("cannot cross-compile to {target}:\n{help}")]
    CrossCompile {
        /// The target triple.
        target: String,
        /// libcnb-package's installation help.
        help: String,
    },
    /// Searching the workspace for buildpacks failed.
    #[error("cannot search {dir} for buildpacks: {message}")]
    Search {
        /// The directory.
        dir: PathBuf,
        /// The error.
        message: String,
    },
    /// A packaged directory lacks a file or has a wrong one.
    #[error("packaged buildpack {dir}: {problem}")]
    Layout {
        /// The packaged directory.
        dir: PathBuf,
        /// What is missing or wrong.
        problem: String,
    },
    /// Reading the packaged `buildpack.toml` back gave other `exec-env` values than the source.
    #[error("{path}: the exec-env keys did not survive packaging")]
    KeysLost {
        /// The packaged `buildpack.toml`.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("cannot {action} {path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
}
