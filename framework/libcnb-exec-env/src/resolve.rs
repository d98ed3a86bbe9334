//! Where the current execution environment comes from.
//!
//! Order, first hit wins:
//! 1. the process environment variable `CNB_EXEC_ENV` (what the lifecycle sets for buildpacks of
//!    API 0.12 and later),
//! 2. the platform env file `<platform>/env/CNB_EXEC_ENV` (what `pack build --env
//!    CNB_EXEC_ENV=test` gives on platforms older than pack 0.40, and with `clear-env = true`),
//! 3. `production`.
//!
//! An empty value counts as unset, as in the lifecycle (`platform/lifecycle_inputs.go`). A
//! single trailing newline in the platform env file is ignored (editors add one). Anything else
//! that is not a valid name is an error that names the source and quotes the value.

use crate::exec_env::{ExecEnv, ExecEnvError};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The variable that names the execution environment.
pub const CNB_EXEC_ENV: &str = "CNB_EXEC_ENV";

/// Where a [`ResolvedExecEnv`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecEnvSource {
    /// The process environment variable `CNB_EXEC_ENV`.
    ProcessEnv,
    /// The platform env file at this path.
    PlatformEnvFile(PathBuf),
    /// Nothing set one: the default, `production`.
    Default,
}

impl fmt::Display for ExecEnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecEnvSource::ProcessEnv => write!(f, "the {CNB_EXEC_ENV} environment variable"),
            ExecEnvSource::PlatformEnvFile(path) => {
                write!(f, "the platform env file {}", path.display())
            }
            ExecEnvSource::Default => {
                write!(f, "the default: {CNB_EXEC_ENV} is not set")
            }
        }
    }
}

/// An execution environment with where it came from, for logs.
///
/// ```
/// use libcnb_exec_env::{ExecEnv, ExecEnvSource, ResolvedExecEnv};
///
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir(dir.path().join("env")).unwrap();
/// std::fs::write(dir.path().join("env/CNB_EXEC_ENV"), "test\n").unwrap();
///
/// let resolved = ResolvedExecEnv::resolve(None, dir.path()).unwrap();
/// assert_eq!(resolved.env, ExecEnv::Test);
/// assert!(matches!(resolved.source, ExecEnvSource::PlatformEnvFile(_)));
///
/// let from_process = ResolvedExecEnv::resolve(Some("development".into()), dir.path()).unwrap();
/// assert_eq!(from_process.env, ExecEnv::Development);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedExecEnv {
    /// The environment.
    pub env: ExecEnv,
    /// Where it came from.
    pub source: ExecEnvSource,
}

/// Why the execution environment could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The process variable holds an invalid name.
    #[error("invalid {CNB_EXEC_ENV} environment variable: {0}")]
    InvalidProcessEnv(#[source] ExecEnvError),
    /// The platform env file holds an invalid name.
    #[error("invalid execution environment in the platform env file {path}: {error}")]
    InvalidPlatformEnvFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content.
        #[source]
        error: ExecEnvError,
    },
    /// The platform env file exists but cannot be read.
    #[error("cannot read the platform env file {path}: {error}")]
    UnreadablePlatformEnvFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
}

impl ResolvedExecEnv {
    /// Resolves from the current process: `CNB_EXEC_ENV`, then `<platform_dir>/env/CNB_EXEC_ENV`.
    ///
    /// # Errors
    /// See [`ResolvedExecEnv::resolve`].
    pub fn from_process(platform_dir: &Path) -> Result<Self, ResolveError> {
        Self::resolve(std::env::var_os(CNB_EXEC_ENV), platform_dir)
    }

    /// Resolves from a given process value (`None` = unset) and a platform directory.
    ///
    /// # Errors
    /// An invalid value in the first source that sets one, or an unreadable platform env file.
    pub fn resolve(
        process_value: Option<OsString>,
        platform_dir: &Path,
    ) -> Result<Self, ResolveError> {
        if let Some(value) = process_value.filter(|value| !value.is_empty()) {
            let env = ExecEnv::from_os_str(&value).map_err(ResolveError::InvalidProcessEnv)?;
            return Ok(Self {
                env,
                source: ExecEnvSource::ProcessEnv,
            });
        }
        let path = platform_dir.join("env").join(CNB_EXEC_ENV);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let content = bytes
                    .strip_suffix(b"\r\n")
                    .or_else(|| bytes.strip_suffix(b"\n"))
                    .unwrap_or(&bytes);
                if content.is_empty() {
                    return Ok(Self::default());
                }
                let value = std::ffi::OsStr::new(
                    <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(content),
                );
                match ExecEnv::from_os_str(value) {
                    Ok(env) => Ok(Self {
                        env,
                        source: ExecEnvSource::PlatformEnvFile(path),
                    }),
                    Err(error) => Err(ResolveError::InvalidPlatformEnvFile { path, error }),
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(ResolveError::UnreadablePlatformEnvFile { path, error }),
        }
    }
}

impl ResolvedExecEnv {
    /// When the environment came from the process variable and the platform env file names a
    /// different one: a message naming both values, which one is used and why, and how to get
    /// the other. `None` when they agree, or the file is absent, empty or invalid.
    ///
    /// Lifecycle 0.21 (Platform API 0.15) sets `CNB_EXEC_ENV` itself for Buildpack API 0.12
    /// buildpacks, *after* applying the platform env files: `pack build --env CNB_EXEC_ENV=test`
    /// without `--exec-env` reaches the buildpack as `production` in the process and `test` in
    /// `<platform>/env/CNB_EXEC_ENV`. The process variable wins (it is what the lifecycle, the
    /// launcher and every other buildpack of the build use).
    ///
    /// ```
    /// use libcnb_exec_env::ResolvedExecEnv;
    ///
    /// let platform = tempfile::tempdir().unwrap();
    /// std::fs::create_dir(platform.path().join("env")).unwrap();
    /// std::fs::write(platform.path().join("env/CNB_EXEC_ENV"), "test").unwrap();
    /// let resolved = ResolvedExecEnv::resolve(Some("production".into()), platform.path()).unwrap();
    /// let message = resolved.platform_file_disagreement(platform.path()).unwrap();
    /// assert!(message.contains("pack build --exec-env test"));
    /// ```
    #[must_use]
    pub fn platform_file_disagreement(&self, platform_dir: &Path) -> Option<String> {
        if self.source != ExecEnvSource::ProcessEnv {
            return None;
        }
        let path = platform_dir.join("env").join(CNB_EXEC_ENV);
        let file = Self::resolve(None, platform_dir).ok()?;
        if file.source == ExecEnvSource::Default || file.env == self.env {
            return None;
        }
        Some(format!(
            "the {CNB_EXEC_ENV} environment variable says `{used}` but the platform env file {path} says `{other}`. \
             Building for `{used}`: the variable wins, as the lifecycle sets it for Buildpack API 0.12 buildpacks \
             after applying platform env files (lifecycle 0.21, Platform API 0.15), so `pack build --env {CNB_EXEC_ENV}={other}` \
             no longer selects the environment there. To build for `{other}`, run `pack build --exec-env {other}` (pack 0.40 or later).",
            used = self.env,
            other = file.env,
            path = path.display(),
        ))
    }
}

impl Default for ResolvedExecEnv {
    fn default() -> Self {
        Self {
            env: ExecEnv::Production,
            source: ExecEnvSource::Default,
        }
    }
}

impl fmt::Display for ResolvedExecEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.env, self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform_with(content: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("env")).unwrap();
        std::fs::write(dir.path().join("env").join(CNB_EXEC_ENV), content).unwrap();
        dir
    }

    #[test]
    fn process_env_wins_over_the_platform_file() {
        let platform = platform_with(b"development");
        let resolved = ResolvedExecEnv::resolve(Some("test".into()), platform.path()).unwrap();
        assert_eq!(resolved.env, ExecEnv::Test);
        assert_eq!(resolved.source, ExecEnvSource::ProcessEnv);
    }

    #[test]
    fn platform_file_is_used_when_the_process_env_is_unset_or_empty() {
        let platform = platform_with(b"development\n");
        for process in [None, Some(OsString::new())] {
            let resolved = ResolvedExecEnv::resolve(process, platform.path()).unwrap();
            assert_eq!(resolved.env, ExecEnv::Development);
            assert_eq!(
                resolved.source,
                ExecEnvSource::PlatformEnvFile(platform.path().join("env/CNB_EXEC_ENV"))
            );
        }
    }

    #[test]
    fn a_platform_file_that_disagrees_with_the_process_env_is_named() {
        let platform = platform_with(b"test\n");
        let resolved =
            ResolvedExecEnv::resolve(Some("production".into()), platform.path()).unwrap();
        assert_eq!(resolved.env, ExecEnv::Production);
        let message = resolved
            .platform_file_disagreement(platform.path())
            .unwrap();
        assert!(
            message.contains("says `production`")
                && message.contains("says `test`")
                && message.contains("Building for `production`")
                && message.contains("pack build --exec-env test"),
            "{message}"
        );
        let agreeing = ResolvedExecEnv::resolve(Some("test".into()), platform.path()).unwrap();
        assert_eq!(agreeing.platform_file_disagreement(platform.path()), None);
        let from_file = ResolvedExecEnv::resolve(None, platform.path()).unwrap();
        assert_eq!(from_file.platform_file_disagreement(platform.path()), None);
    }

    #[test]
    fn default_is_production() {
        let platform = tempfile::tempdir().unwrap();
        let resolved = ResolvedExecEnv::resolve(None, platform.path()).unwrap();
        assert_eq!(resolved, ResolvedExecEnv::default());
        assert_eq!(resolved.env, ExecEnv::Production);
        let empty_file = platform_with(b"");
        let resolved = ResolvedExecEnv::resolve(None, empty_file.path()).unwrap();
        assert_eq!(resolved.source, ExecEnvSource::Default);
    }

    #[test]
    fn invalid_values_name_their_source_and_value() {
        let platform = platform_with(b"a/b");
        let error = ResolvedExecEnv::resolve(None, platform.path()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("env/CNB_EXEC_ENV") && message.contains("\"a/b\""),
            "{message}"
        );

        let error = ResolvedExecEnv::resolve(Some("te st".into()), platform.path()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("CNB_EXEC_ENV environment variable") && message.contains("\"te st\""),
            "{message}"
        );

        let crlf = platform_with(b"test\r\n");
        assert_eq!(
            ResolvedExecEnv::resolve(None, crlf.path()).unwrap().env,
            ExecEnv::Test
        );
        let two_newlines = platform_with(b"test\n\n");
        assert!(ResolvedExecEnv::resolve(None, two_newlines.path()).is_err());
    }

    #[test]
    fn unreadable_platform_file_is_an_error() {
        let platform = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading it fails with something else than NotFound.
        std::fs::create_dir_all(platform.path().join("env").join(CNB_EXEC_ENV)).unwrap();
        let error = ResolvedExecEnv::resolve(None, platform.path()).unwrap_err();
        assert!(
            matches!(error, ResolveError::UnreadablePlatformEnvFile { .. }),
            "{error}"
        );
    }
}
