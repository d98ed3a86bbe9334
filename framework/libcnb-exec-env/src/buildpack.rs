//! The trait buildpack authors implement.

use crate::context::{BuildContext, DetectContext};
use crate::layers::RetentionPolicy;
use crate::result::BuildResult;
use libcnb::detect::DetectResult;
use serde::de::DeserializeOwned;

/// A buildpack that knows its execution environment.
///
/// The same shape as `libcnb::Buildpack`; the contexts add [`DetectContext::exec_env`] and
/// [`BuildContext::exec_env`] and deref to libcnb's contexts, so every libcnb field and layer
/// method stays reachable.
///
/// ```
/// use libcnb::detect::DetectResultBuilder;
/// use libcnb::generic::{GenericMetadata, GenericPlatform};
/// use std::convert::Infallible;
/// use libcnb::data::process_type;
/// use libcnb_exec_env::{
///     buildpack_main, test_process, BuildContext, BuildResult, BuildResultBuilder, Buildpack,
///     DetectContext, ExecEnv, ProcessBuilder,
/// };
///
/// struct HelloBuildpack;
///
/// impl Buildpack for HelloBuildpack {
///     type Platform = GenericPlatform;
///     type Metadata = GenericMetadata;
///     type Error = Infallible;
///
///     fn detect(&self, context: DetectContext<Self>) -> libcnb::Result<libcnb::detect::DetectResult, Infallible> {
///         if context.app_dir.join("hello.sh").exists() {
///             DetectResultBuilder::pass().build()
///         } else {
///             DetectResultBuilder::fail().build()
///         }
///     }
///
///     fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, Infallible> {
///         let mut result = BuildResultBuilder::new()
///             .process(ProcessBuilder::new(process_type!("web"), ["sh", "hello.sh"]).build());
///         if context.exec_env() == &ExecEnv::Test {
///             result = result.process(test_process(["sh", "test.sh"]));
///         }
///         result.build()
///     }
/// }
///
/// buildpack_main!(HelloBuildpack);
/// # fn call_main() { main() }
/// ```
pub trait Buildpack: Sized {
    /// The platform type (usually `libcnb::generic::GenericPlatform`).
    type Platform: libcnb::Platform;
    /// The `[metadata]` type of `buildpack.toml`.
    type Metadata: DeserializeOwned;
    /// The buildpack's own error type. Its `Display` text and its `source()` chain are what the
    /// user sees when a build fails (a `thiserror` enum is the usual choice; a buildpack that
    /// cannot fail uses `std::convert::Infallible`, where libcnb's examples use `Infallible`).
    type Error: std::error::Error + 'static;

    /// Detect: decide whether this buildpack applies to the app.
    ///
    /// # Errors
    /// Any error; the runtime reports it through [`Buildpack::on_error`] and exits 1.
    fn detect(&self, context: DetectContext<Self>) -> libcnb::Result<DetectResult, Self::Error>;

    /// Build: create layers and describe processes.
    ///
    /// # Errors
    /// Any error; the runtime reports it through [`Buildpack::on_error`] and exits 1.
    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, Self::Error>;

    /// What to do with cached env-scoped layers of other environments (default: keep them all).
    fn retention(&self) -> RetentionPolicy {
        RetentionPolicy::KeepAll
    }

    /// Reports an error that ended detect or build.
    fn on_error(&self, error: libcnb::Error<Self::Error>) {
        crate::output::error(&error);
    }
}
