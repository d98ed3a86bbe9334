//! Reading the app's own files (manifests, lockfiles) without following links out of the app.
//!
//! A buildpack runs on code it did not write: `package-lock.json -> /etc/shadow` must not be
//! read, hashed into a cache key, or quoted in an error. [`read_app_file`] refuses a file whose
//! real path (after resolving every link) lies outside the app directory.

use std::path::{Path, PathBuf};

/// Why an app file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AppFileError {
    /// The file is a link (or behind one) that resolves outside the app directory.
    #[error(
        "{path} resolves to {target}, outside the app directory {app_dir}: refusing to read it"
    )]
    OutsideApp {
        /// The file, as named in the app.
        path: PathBuf,
        /// Where it resolves to.
        target: PathBuf,
        /// The app directory.
        app_dir: PathBuf,
    },
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
}

/// Reads `<app_dir>/<relative>`: `Ok(None)` when it does not exist, an error when it resolves
/// outside `app_dir` or cannot be read.
///
/// ```
/// use libcnb_exec_env::app_file::read_app_file;
///
/// let app = tempfile::tempdir().unwrap();
/// std::fs::write(app.path().join("go.mod"), "module example.com/x\n").unwrap();
/// assert_eq!(read_app_file(app.path(), "go.mod").unwrap().unwrap(), b"module example.com/x\n");
/// assert!(read_app_file(app.path(), "Gemfile.lock").unwrap().is_none());
///
/// std::os::unix::fs::symlink("/etc/hostname", app.path().join("package-lock.json")).unwrap();
/// assert!(read_app_file(app.path(), "package-lock.json").is_err());
/// ```
///
/// # Errors
/// See [`AppFileError`].
pub fn read_app_file(app_dir: &Path, relative: &str) -> Result<Option<Vec<u8>>, AppFileError> {
    let path = app_dir.join(relative);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| AppFileError::Io { path, error }
    };
    let target = match std::fs::canonicalize(&path) {
        Ok(target) => target,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // Absent, or a dangling link: a dangling link is absent for the buildpack too, but
            // only when it is not a link pointing outside (which could appear later).
            return match std::fs::symlink_metadata(&path) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Ok(_) => Err(AppFileError::Io {
                    path,
                    error: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "a link whose target does not exist",
                    ),
                }),
                Err(error) => Err(io(&path)(error)),
            };
        }
        Err(error) => return Err(io(&path)(error)),
    };
    let app_root = std::fs::canonicalize(app_dir).map_err(io(app_dir))?;
    if !target.starts_with(&app_root) {
        return Err(AppFileError::OutsideApp {
            path,
            target,
            app_dir: app_dir.to_path_buf(),
        });
    }
    std::fs::read(&target).map(Some).map_err(io(&path))
}

/// Reads the file at `path`, refusing it when it resolves outside its own directory (the app
/// directory for a top-level manifest such as `<app>/Gemfile.lock`): the same rule as
/// [`read_app_file`], as a plain `std::io::Result` (an absent file is `NotFound`).
///
/// ```
/// use libcnb_exec_env::app_file::read_confined;
///
/// let app = tempfile::tempdir().unwrap();
/// std::os::unix::fs::symlink("/etc/hostname", app.path().join("go.mod")).unwrap();
/// let error = read_confined(&app.path().join("go.mod")).unwrap_err();
/// assert!(error.to_string().contains("outside the app directory"));
/// ```
///
/// # Errors
/// `NotFound` when absent; `PermissionDenied` (with [`AppFileError`]'s message) when it resolves
/// outside; other I/O errors as they come.
pub fn read_confined(path: &Path) -> std::io::Result<Vec<u8>> {
    let (Some(dir), Some(name)) = (
        path.parent(),
        path.file_name().and_then(|name| name.to_str()),
    ) else {
        return std::fs::read(path);
    };
    match read_app_file(dir, name) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(std::io::ErrorKind::NotFound.into()),
        Err(AppFileError::Io { error, .. }) => Err(error),
        Err(error) => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            error.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_inside_the_app_are_read_and_links_out_are_refused() {
        let app = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
        std::fs::create_dir(app.path().join("config")).unwrap();
        std::fs::write(app.path().join("config/real.lock"), "ok").unwrap();
        std::os::unix::fs::symlink("config/real.lock", app.path().join("inside.lock")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), app.path().join("out.lock"))
            .unwrap();
        std::os::unix::fs::symlink(outside.path(), app.path().join("linked-dir")).unwrap();
        std::os::unix::fs::symlink("missing", app.path().join("dangling.lock")).unwrap();

        assert_eq!(
            read_app_file(app.path(), "inside.lock").unwrap().unwrap(),
            b"ok"
        );
        let error = read_app_file(app.path(), "out.lock").unwrap_err();
        assert!(matches!(error, AppFileError::OutsideApp { .. }), "{error}");
        assert!(!error.to_string().contains("s3cret"));
        assert!(error.to_string().contains("out.lock"), "{error}");
        assert!(matches!(
            read_app_file(app.path(), "linked-dir/secret").unwrap_err(),
            AppFileError::OutsideApp { .. }
        ));
        assert!(matches!(
            read_app_file(app.path(), "dangling.lock").unwrap_err(),
            AppFileError::Io { .. }
        ));
        assert!(read_app_file(app.path(), "absent.lock").unwrap().is_none());
    }
}
