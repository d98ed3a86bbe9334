//! What a build returns: libcnb's result plus processes that carry `exec-env`.

use crate::launch::{Launch, LaunchLabel, LaunchSlice, Process};
use libcnb::data::sbom::SbomFormat;
use libcnb::data::store::Store;
use libcnb::sbom::Sbom;
use std::path::{Path, PathBuf};

/// Where the lifecycle reads a buildpack's SBOM of `kind` (`build` or `launch`) in `format`
/// (Buildpack API: `<layers>/<kind>.sbom.<ext>`, as libcnb writes it).
fn sbom_path(layers_dir: &Path, kind: &str, format: &SbomFormat) -> PathBuf {
    let extension = match format {
        SbomFormat::CycloneDxJson => "cdx.json",
        SbomFormat::SpdxJson => "spdx.json",
        SbomFormat::SyftJson => "syft.json",
    };
    layers_dir.join(format!("{kind}.sbom.{extension}"))
}

/// The result of [`crate::Buildpack::build`].
#[must_use]
pub struct BuildResult {
    pub(crate) launch: Launch,
    pub(crate) store: Option<Store>,
    pub(crate) build_sboms: Vec<Sbom>,
    pub(crate) launch_sboms: Vec<Sbom>,
}

impl BuildResult {
    /// Writes what libcnb's runtime would write for this result: `launch.toml` (with
    /// `exec-env`), `store.toml` and the SBOM files (`<layers>/{build,launch}.sbom.<ext>`).
    pub(crate) fn write<E>(&self, layers_dir: &Path) -> Result<(), libcnb::Error<E>> {
        if !self.launch.is_empty() {
            self.launch.write(layers_dir).map_err(|error| {
                libcnb::Error::CannotWriteLaunch(libcnb::TomlFileError::IoError(
                    std::io::Error::other(error),
                ))
            })?;
        }
        if let Some(store) = &self.store {
            std::fs::write(
                layers_dir.join("store.toml"),
                crate::toml_text::store_document(&store.metadata),
            )
            .map_err(|error| {
                libcnb::Error::CannotWriteStore(libcnb::TomlFileError::IoError(error))
            })?;
        }
        for sbom in &self.build_sboms {
            std::fs::write(sbom_path(layers_dir, "build", &sbom.format), &sbom.data)
                .map_err(libcnb::Error::CannotWriteBuildSbom)?;
        }
        for sbom in &self.launch_sboms {
            std::fs::write(sbom_path(layers_dir, "launch", &sbom.format), &sbom.data)
                .map_err(libcnb::Error::CannotWriteLaunchSbom)?;
        }
        Ok(())
    }

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
    launch: Launch,
    store: Option<Store>,
    build_sboms: Vec<Sbom>,
    launch_sboms: Vec<Sbom>,
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

    /// Adds everything of a libcnb `Launch`: its processes (each running in every
    /// environment, see [`Process`]'s `From`), labels and slices. What a ported libcnb
    /// buildpack already builds with `LaunchBuilder` goes in unchanged, and can be mixed with
    /// [`BuildResultBuilder::process`].
    ///
    /// ```
    /// use libcnb::data::launch::{LaunchBuilder, ProcessBuilder};
    /// use libcnb::data::process_type;
    /// use libcnb_exec_env::{BuildResultBuilder, ExecEnv, ProcessBuilder as ExecEnvProcessBuilder};
    ///
    /// let launch = LaunchBuilder::new()
    ///     .process(ProcessBuilder::new(process_type!("web"), ["npm", "start"]).default(true).build())
    ///     .label(libcnb::data::launch::Label { key: "org.example.team".into(), value: "web".into() })
    ///     .slice(libcnb::data::launch::Slice { path_globs: vec!["public/**".into()] })
    ///     .build();
    /// let result = BuildResultBuilder::new()
    ///     .launch(launch)
    ///     .process(
    ///         ExecEnvProcessBuilder::new(process_type!("test"), ["npm", "test"])
    ///             .exec_env([ExecEnv::Test])
    ///             .build(),
    ///     )
    ///     .build_unwrapped();
    /// let written = result.launch();
    /// assert_eq!(written.processes.len(), 2);
    /// assert!(written.processes[0].default && written.processes[0].exec_env.is_all());
    /// assert_eq!(written.labels[0].key, "org.example.team");
    /// assert_eq!(written.slices[0].paths, ["public/**"]);
    /// assert!(written.validate().is_ok());
    /// ```
    pub fn launch(mut self, launch: libcnb::data::launch::Launch) -> Self {
        self.launch
            .processes
            .extend(launch.processes.into_iter().map(Process::from));
        self.launch
            .labels
            .extend(launch.labels.into_iter().map(LaunchLabel::from));
        self.launch
            .slices
            .extend(launch.slices.into_iter().map(LaunchSlice::from));
        self
    }

    /// Sets `store.toml`.
    pub fn store<S: Into<Store>>(mut self, store: S) -> Self {
        self.store = Some(store.into());
        self
    }

    /// Adds a build SBOM.
    pub fn build_sbom(mut self, sbom: Sbom) -> Self {
        self.build_sboms.push(sbom);
        self
    }

    /// Adds a launch SBOM.
    pub fn launch_sbom(mut self, sbom: Sbom) -> Self {
        self.launch_sboms.push(sbom);
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
            launch: self.launch,
            store: self.store,
            build_sboms: self.build_sboms,
            launch_sboms: self.launch_sboms,
        }
    }
}

/// Generates the `From<MyError> for libcnb::Error<MyError>` every buildpack needs so that `?`
/// turns its own errors into libcnb's (`libcnb::Error::BuildpackError`).
///
/// ```
/// use libcnb_exec_env::buildpack_error;
///
/// #[derive(Debug, thiserror::Error)]
/// enum MyError {
///     #[error("cannot read {0}")]
///     Read(String),
/// }
///
/// buildpack_error!(MyError);
///
/// fn step() -> libcnb::Result<(), MyError> {
///     Err(MyError::Read("package.json".into()))?
/// }
///
/// assert!(matches!(step(), Err(libcnb::Error::BuildpackError(MyError::Read(file))) if file == "package.json"));
/// ```
#[macro_export]
macro_rules! buildpack_error {
    ($error:ty) => {
        impl ::core::convert::From<$error> for $crate::libcnb::Error<$error> {
            fn from(error: $error) -> Self {
                $crate::libcnb::Error::BuildpackError(error)
            }
        }
    };
}

/// The repository README's "framework in one page" example runs as a doc test (with
/// `cargo test --doc -p libcnb-exec-env`), so it stays complete and compiling.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct RepositoryReadme;

/// `docs/porting-from-libcnb.md`: its before and after buildpacks run as doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/porting-from-libcnb.md")]
struct PortingGuide;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_sboms_are_written_where_libcnb_writes_them() {
        let layers = tempfile::tempdir().unwrap();
        let mut metadata = toml::Table::new();
        metadata.insert("version".into(), "1.2.3".into());
        metadata.insert("count".into(), 3.into());
        let mut nested = toml::Table::new();
        nested.insert(
            "odd key".into(),
            toml::Value::Array(vec![1.5.into(), true.into()]),
        );
        metadata.insert("nested".into(), toml::Value::Table(nested));
        let result = BuildResultBuilder::new()
            .store(Store {
                metadata: metadata.clone(),
            })
            .build_sbom(Sbom::from_bytes(SbomFormat::SpdxJson, *b"{}"))
            .launch_sbom(Sbom::from_bytes(SbomFormat::CycloneDxJson, *b"[]"))
            .build_unwrapped();
        result
            .write::<std::convert::Infallible>(layers.path())
            .unwrap();

        let store = std::fs::read_to_string(layers.path().join("store.toml")).unwrap();
        let read: Store = toml::from_str(&store).unwrap();
        assert_eq!(read.metadata, metadata, "{store}");
        assert_eq!(
            std::fs::read(layers.path().join("build.sbom.spdx.json")).unwrap(),
            b"{}"
        );
        assert_eq!(
            std::fs::read(layers.path().join("launch.sbom.cdx.json")).unwrap(),
            b"[]"
        );
        assert!(
            !layers.path().join("launch.toml").exists(),
            "no processes: no launch.toml"
        );
    }
}
