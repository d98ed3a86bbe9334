//! The real-lifecycle engine (owned by the lifecycle-engine work; this is its stub).

use crate::engine::{BuildRequest, EngineError, LaunchRequest, LaunchResult};
use crate::results::BuildReport;
use std::path::PathBuf;

/// Where the real lifecycle binaries are, when installed.
#[must_use]
pub fn locate() -> Option<PathBuf> {
    None
}

/// Runs a build with the real lifecycle.
///
/// # Errors
/// Always, in this stub: the engine is not available.
pub fn build(_request: &BuildRequest) -> Result<BuildReport, EngineError> {
    Err(EngineError::Unavailable {
        engine: "lifecycle",
        reason: "the lifecycle engine is not implemented yet".to_owned(),
    })
}

/// Launches a process with the real launcher.
///
/// # Errors
/// Always, in this stub: the engine is not available.
pub fn launch(_request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    Err(EngineError::Unavailable {
        engine: "lifecycle",
        reason: "the lifecycle engine is not implemented yet".to_owned(),
    })
}
