//! Not for buildpack authors: what the sibling crates of this workspace (the packager, the local
//! platform, `cnb-local`) and the framework's own tests need from the framework.
//!
//! Nothing here is part of the author's API and any of it may change in any release. A
//! buildpack needs only the crate root: [`crate::Buildpack`], the contexts, [`crate::ExecEnv`],
//! processes, layers and [`crate::buildpack_main`].

pub mod descriptor;

pub use crate::adapter::LibcnbBuildpack;
pub use crate::runtime::{
    EXIT_API_ERROR, EXIT_DETECT_FAIL, EXIT_ERROR, EXIT_NAME_ERROR, EXIT_SUCCESS, run_with_args,
};
