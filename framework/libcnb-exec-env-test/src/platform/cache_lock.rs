//! The cache directory's lock: builds sharing a cache directory serialize on `<cache>/.lock`,
//! whichever engine runs them, and a build that waits too long fails naming the holder.

use crate::engine::EngineError;
use crate::platform::log::Log;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a build waits for another build holding the cache lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// An exclusive lock on a cache directory, released on drop.
pub(crate) struct CacheLock {
    _file: std::fs::File,
}

impl CacheLock {
    /// Takes the lock on `<cache_dir>/.lock`, waiting for another build that holds it.
    pub(crate) fn acquire(cache_dir: &Path, log: &mut Log) -> Result<Self, EngineError> {
        Self::acquire_within(cache_dir, log, LOCK_TIMEOUT)
    }

    pub(crate) fn acquire_within(
        cache_dir: &Path,
        log: &mut Log,
        timeout: Duration,
    ) -> Result<Self, EngineError> {
        std::fs::create_dir_all(cache_dir).map_err(EngineError::io(format!(
            "cannot create the cache directory {}",
            cache_dir.display()
        )))?;
        let path = cache_dir.join(".lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(EngineError::io(format!("cannot open {}", path.display())))?;
        let started = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    if started.elapsed() >= timeout {
                        return Err(EngineError::CacheLocked {
                            dir: cache_dir.to_path_buf(),
                            lock: path,
                            holder: if holder.trim().is_empty() {
                                "unknown process".to_owned()
                            } else {
                                holder.trim().to_owned()
                            },
                            waited: timeout,
                        });
                    }
                    if !told {
                        log.line(&format!(
                            "Waiting for the cache {}: another build holds it ({})",
                            cache_dir.display(),
                            holder.trim()
                        ));
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(EngineError::io(format!("cannot lock {}", path.display()))(
                        error,
                    ));
                }
            }
        }
        let _ = file.set_len(0);
        let _ = write!(file, "pid {}", std::process::id());
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Progress;

    #[test]
    fn a_held_lock_makes_the_next_build_wait_then_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::new(Progress::Quiet);
        let held = CacheLock::acquire(dir.path(), &mut log).unwrap();
        let error = CacheLock::acquire_within(dir.path(), &mut log, Duration::from_millis(200))
            .err()
            .unwrap();
        let message = error.to_string();
        assert!(
            matches!(error, EngineError::CacheLocked { .. }),
            "{message}"
        );
        assert!(
            message.contains(&format!("pid {}", std::process::id())) && message.contains(".lock"),
            "{message}"
        );
        assert!(log.take().contains("Waiting for the cache"));
        drop(held);
        assert!(
            CacheLock::acquire_within(dir.path(), &mut log, Duration::from_millis(200)).is_ok()
        );
    }
}
