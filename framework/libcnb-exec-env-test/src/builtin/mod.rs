//! The built-in engine: the lifecycle's contract with buildpacks, emulated phase by phase.

use crate::engine::{BuildRequest, EngineError, LaunchRequest, LaunchResult};
use crate::results::BuildReport;

/// Runs a build.
///
/// # Errors
/// See [`EngineError`].
pub fn build(_request: &BuildRequest) -> Result<BuildReport, EngineError> {
    Err(EngineError::Unavailable {
        engine: "built-in",
        reason: "not implemented yet".to_owned(),
    })
}

/// Launches a process of an exported image.
///
/// # Errors
/// See [`EngineError`].
pub fn launch(_request: &LaunchRequest) -> Result<LaunchResult, EngineError> {
    Err(EngineError::Unavailable {
        engine: "built-in",
        reason: "not implemented yet".to_owned(),
    })
}
