#![doc = include_str!("../README.md")]

mod adapter;
pub mod app_file;
pub mod buildpack;
pub mod context;
pub mod exec_env;
#[doc(hidden)]
pub mod internal;
pub mod launch;
mod layer_names;
pub mod layers;
mod output;
pub mod resolve;
pub mod result;
mod runtime;
mod toml_text;

pub use buildpack::Buildpack;
pub use context::{BuildContext, DetectContext, Layer};
pub use exec_env::{ExecEnv, ExecEnvError, ExecEnvSelector};
pub use launch::{Launch, Process, ProcessBuilder, test_process};
pub use layers::{EnvScope, RetentionPolicy};
pub use resolve::{CNB_EXEC_ENV, ExecEnvSource, ResolvedExecEnv};
pub use result::{BuildResult, BuildResultBuilder};
pub use runtime::run;

/// Re-export, so buildpacks name one crate for the framework and libcnb.
pub use libcnb;

/// Generates `main` for a framework buildpack: the program behind `bin/detect` and `bin/build`.
///
/// ```
/// use libcnb::detect::{DetectResult, DetectResultBuilder};
/// use libcnb::generic::{GenericMetadata, GenericPlatform};
/// use std::convert::Infallible;
/// use libcnb_exec_env::{BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext};
///
/// struct NoopBuildpack;
///
/// impl Buildpack for NoopBuildpack {
///     type Platform = GenericPlatform;
///     type Metadata = GenericMetadata;
///     type Error = Infallible;
///
///     fn detect(&self, _: DetectContext<Self>) -> libcnb::Result<DetectResult, Infallible> {
///         DetectResultBuilder::pass().build()
///     }
///
///     fn build(&self, _: BuildContext<Self>) -> libcnb::Result<BuildResult, Infallible> {
///         BuildResultBuilder::new().build()
///     }
/// }
///
/// libcnb_exec_env::buildpack_main!(NoopBuildpack);
/// ```
#[macro_export]
macro_rules! buildpack_main {
    ($buildpack:expr) => {
        fn main() {
            $crate::run($buildpack)
        }
    };
}

#[cfg(test)]
use tempfile as _;
