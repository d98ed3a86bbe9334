//! File operations of the engine, with errors that name the path.

use crate::engine::EngineError;
use std::path::Path;

pub(super) fn io(context: String) -> impl FnOnce(std::io::Error) -> EngineError {
    EngineError::io(context)
}

pub(super) fn mkdirs(path: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(path).map_err(io(format!("cannot create {}", path.display())))
}

/// Copies `from` into `to` (created), keeping modes and symlinks.
pub(super) fn copy_tree(from: &Path, to: &Path) -> Result<(), EngineError> {
    crate::platform::tree::copy_dir(from, to, &[]).map_err(io(format!(
        "cannot copy {} to {}",
        from.display(),
        to.display()
    )))
}

pub(super) fn remove_dir(path: &Path) -> Result<(), EngineError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io(format!("cannot remove {}", path.display()))(error)),
    }
}

pub(super) fn write_file(path: &Path, content: &str) -> Result<(), EngineError> {
    std::fs::write(path, content).map_err(io(format!("cannot write {}", path.display())))
}
