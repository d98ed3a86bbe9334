//! The real-lifecycle engine: drives the CNB lifecycle's own binaries (`lifecycle`, `launcher`,
//! v0.21.x, from `scripts/install-lifecycle.sh`) as plain processes on host directories, with
//! Platform API 0.15 and `CNB_EXEC_ENV`, as `pack build --exec-env <env>` (pack 0.40) would.
//!
//! Every phase runs for real: `analyze`, `detect`, `restore`, `build` and `export`, with a
//! directory cache (`-cache-dir`) and the exporter's OCI layout mode (`-layout`, experimental,
//! `CNB_EXPERIMENTAL_MODE=warn`) over a minimal run image the harness writes itself. The exported
//! image is unpacked into the image stand-in, and launches run the image's own
//! `/cnb/lifecycle/launcher` (through its `/cnb/process/<type>` links).
//!
//! Per cache directory, everything lives in `<cache>/lifecycle/`: `cache/` (the lifecycle's
//! cache), `layout/` (run image and the previous app image) and `work/` (`layers`, `workspace`,
//! `platform`, `buildpacks`), whose paths stay the same from build to build, as `/layers` and
//! `/workspace` do in a container: the lifecycle records absolute paths in its layer archives
//! and restores cached layers to them (`layers/extract.go`).
//!
//! See `docs/lifecycle-engine.md` for the setup and the lifecycle quirks.

mod binaries;
mod build;
mod buildpacks;
mod failure;
mod files;
mod image;
mod launch;
mod oci;
mod phases;
mod report;
mod user;
mod workdir;

use crate::engine::{BuildRequest, EngineError, LaunchRequest, LaunchResult};
use crate::results::{BuildReport, EngineKind};

pub use binaries::{DIR_ENV, LIFECYCLE_VERSION, available, locate};
pub use build::build;
pub use launch::launch;
pub use user::{CREATE_USER_ENV, DEFAULT_USER, USER_ENV};

/// The Platform API the phases run with (the first with `CNB_EXEC_ENV`).
pub const PLATFORM_API: &str = "0.15";
/// The lifecycle engine: the real CNB lifecycle's phases as plain processes (see the module).
#[derive(Clone, Copy, Debug, Default)]
pub struct LifecycleEngine;

impl crate::engine::BuildEngine for LifecycleEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Lifecycle
    }

    fn build(&self, request: &BuildRequest) -> Result<BuildReport, EngineError> {
        build(request)
    }

    fn launch(&self, request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
        launch(request)
    }

    fn prepare_launch(
        &self,
        request: &LaunchRequest,
    ) -> Result<crate::engine::PreparedLaunch, EngineError> {
        Ok(crate::engine::PreparedLaunch {
            command: launch::prepare(request)?.command,
            cleanup: None,
            container: None,
        })
    }
}
