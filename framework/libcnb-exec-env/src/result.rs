//! What a build returns: libcnb's result plus processes that carry `exec-env`.

use crate::launch::{Launch, LaunchLabel, LaunchSlice, Process};
use libcnb::data::store::Store;
use libcnb::sbom::Sbom;

/// The result of [`crate::Buildpack::build`].
#[must_use]
pub struct BuildResult {
    pub(crate) libcnb: libcnb::build::BuildResult,
    pub(crate) launch: Launch,
}

impl BuildResult {
    /// The `launch.toml` content this build writes.
    #[must_use]
    pub fn launch(&self) -> &Launch {
        &self.launch
    }
}

/// Builds a [`BuildResult`].
///
/// ```
/// use libcnb::data::process_type;
/// use libcnb_exec_env::{test_process, BuildResultBuilder, ProcessBuilder};
///
/// let result = BuildResultBuilder::new()
///     .process(ProcessBuilder::new(process_type!("web"), ["./server"]).build())
///     .process(test_process(["go", "test", "./..."]))
///     .label("org.example.built-by", "docs")
///     .build_unwrapped();
/// assert_eq!(result.launch().processes.len(), 2);
/// ```
#[must_use]
#[derive(Default)]
pub struct BuildResultBuilder {
    libcnb: libcnb::build::BuildResultBuilder,
    launch: Launch,
}

impl BuildResultBuilder {
    /// An empty result.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a process.
    pub fn process(mut self, process: Process) -> Self {
        self.launch.processes.push(process);
        self
    }

    /// Adds processes.
    pub fn processes(mut self, processes: impl IntoIterator<Item = Process>) -> Self {
        self.launch.processes.extend(processes);
        self
    }

    /// Adds an image label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.launch.labels.push(LaunchLabel {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Adds a slice.
    pub fn slice(mut self, paths: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.launch.slices.push(LaunchSlice {
            paths: paths.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Sets `store.toml`.
    pub fn store<S: Into<Store>>(mut self, store: S) -> Self {
        self.libcnb = self.libcnb.store(store);
        self
    }

    /// Adds a build SBOM.
    pub fn build_sbom(mut self, sbom: Sbom) -> Self {
        self.libcnb = self.libcnb.build_sbom(sbom);
        self
    }

    /// Adds a launch SBOM.
    pub fn launch_sbom(mut self, sbom: Sbom) -> Self {
        self.libcnb = self.libcnb.launch_sbom(sbom);
        self
    }

    /// The result, wrapped for returning from `build`.
    ///
    /// # Errors
    /// Never; the `Result` matches what `build` returns.
    pub fn build<E>(self) -> Result<BuildResult, E> {
        Ok(self.build_unwrapped())
    }

    /// The result.
    pub fn build_unwrapped(self) -> BuildResult {
        BuildResult {
            libcnb: self.libcnb.build_unwrapped(),
            launch: self.launch,
        }
    }
}
