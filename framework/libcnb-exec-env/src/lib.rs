#![doc = include_str!("../README.md")]

pub mod buildpack;
pub mod context;
pub mod descriptor;
pub mod exec_env;
pub mod launch;
pub mod layers;
mod output;
pub mod resolve;
pub mod result;
pub mod runtime;

pub use buildpack::Buildpack;
pub use context::{BuildContext, DetectContext, Layer};
pub use exec_env::{ExecEnv, ExecEnvError, ExecEnvSelector};
pub use launch::{Launch, Process, ProcessBuilder, test_process};
pub use layers::RetentionPolicy;
pub use resolve::{CNB_EXEC_ENV, ExecEnvSource, ResolvedExecEnv};
pub use result::{BuildResult, BuildResultBuilder};
pub use runtime::{LibcnbBuildpack, run};

/// Re-export, so buildpacks name one crate for the framework and libcnb.
pub use libcnb;

/// Generates `main` for a framework buildpack.
///
/// ```ignore
/// libcnb_exec_env::buildpack_main!(MyBuildpack);
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
