//! The app's build configuration: which main packages to build.
//!
//! Read from the app's `project.toml` (the CNB project descriptor), table `[examples.go]`
//! (this buildpack's id):
//!
//! ```toml
//! [examples.go]
//! packages = ["./cmd/api", "./cmd/worker"]
//! ```
//!
//! Without it, every main package of the module is built.

use crate::errors::GoBuildpackError;
use libcnb_exec_env::app_file::read_app_file;
use std::path::{Path, PathBuf};

/// The build configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BuildConfig {
    /// The file it came from (when there is one).
    pub(crate) path: Option<PathBuf>,
    /// The main packages to build (`./cmd/a` or full import paths); empty means all.
    pub(crate) packages: Vec<String>,
}

impl BuildConfig {
    /// Reads `project.toml` in `app_dir`; absent file or table means the defaults.
    pub(crate) fn read(app_dir: &Path) -> Result<Self, GoBuildpackError> {
        let path = app_dir.join("project.toml");
        // Through `read_app_file`: a `project.toml` linking out of the app is refused.
        let Some(bytes) = read_app_file(app_dir, "project.toml")? else {
            return Ok(Self::default());
        };
        let text = String::from_utf8(bytes).map_err(|_| {
            GoBuildpackError::io("read", &path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not valid UTF-8",
            ))
        })?;
        let malformed = |message: String| GoBuildpackError::BuildConfig {
            path: path.clone(),
            message,
        };
        let table: toml::Table = toml::from_str(&text)
            .map_err(|error| malformed(format!("not valid TOML: {}", error.message())))?;
        let Some(go) = table
            .get("examples")
            .and_then(toml::Value::as_table)
            .and_then(|examples| examples.get("go"))
        else {
            return Ok(Self::default());
        };
        let go = go
            .as_table()
            .ok_or_else(|| malformed("[examples.go] must be a table".to_owned()))?;
        let mut packages = Vec::new();
        if let Some(value) = go.get("packages") {
            let list = value.as_array().ok_or_else(|| {
                malformed(format!(
                    "[examples.go] packages must be an array of strings, found {value}"
                ))
            })?;
            for item in list {
                let package = item.as_str().ok_or_else(|| {
                    malformed(format!(
                        "[examples.go] packages must hold strings, found {item}"
                    ))
                })?;
                packages.push(package.to_owned());
            }
        }
        Ok(Self {
            path: Some(path),
            packages,
        })
    }
}

/// The import path a configured package names, given the module path: `./cmd/a` and `cmd/a`
/// become `<module>/cmd/a`, `.` the module itself; full import paths stay as they are.
pub(crate) fn import_path(module: &str, package: &str) -> String {
    let relative = package.trim_end_matches('/');
    if relative == "." || relative.is_empty() {
        return module.to_owned();
    }
    if let Some(rest) = relative.strip_prefix("./") {
        return format!("{module}/{rest}");
    }
    if relative == module || relative.starts_with(&format!("{module}/")) {
        return relative.to_owned();
    }
    format!("{module}/{relative}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_packages_list() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            BuildConfig::read(dir.path()).unwrap(),
            BuildConfig::default()
        );
        std::fs::write(
            dir.path().join("project.toml"),
            "[_]\nschema-version = \"0.2\"\n\n[examples.go]\npackages = [\"./cmd/a\"]\n",
        )
        .unwrap();
        let config = BuildConfig::read(dir.path()).unwrap();
        assert_eq!(config.packages, vec!["./cmd/a".to_owned()]);
    }

    /// A `project.toml` linking out of the app is refused, naming the file, never read.
    #[test]
    fn project_toml_linking_out_of_the_app_is_refused() {
        let app = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("secret"),
            "[examples.go]\npackages = [\"./s3cret\"]\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            app.path().join("project.toml"),
        )
        .unwrap();
        let error = BuildConfig::read(app.path()).unwrap_err();
        assert!(matches!(error, GoBuildpackError::AppFile(_)), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains(&app.path().join("project.toml").display().to_string())
                && message.contains("outside the app directory")
                && !message.contains("s3cret"),
            "{message}"
        );
    }

    #[test]
    fn malformed_config_names_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("project.toml"),
            "[examples.go]\npackages = \"./cmd/a\"\n",
        )
        .unwrap();
        let error = BuildConfig::read(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("project.toml") && error.contains("packages must be an array"),
            "{error}"
        );
        std::fs::write(
            dir.path().join("project.toml"),
            "[examples.go]\npackages = [1]\n",
        )
        .unwrap();
        let error = BuildConfig::read(dir.path()).unwrap_err().to_string();
        assert!(error.contains("must hold strings, found 1"), "{error}");
    }

    #[test]
    fn import_paths() {
        assert_eq!(
            import_path("example.com/m", "./cmd/a"),
            "example.com/m/cmd/a"
        );
        assert_eq!(
            import_path("example.com/m", "cmd/a/"),
            "example.com/m/cmd/a"
        );
        assert_eq!(import_path("example.com/m", "."), "example.com/m");
        assert_eq!(
            import_path("example.com/m", "example.com/m/cmd/b"),
            "example.com/m/cmd/b"
        );
    }
}
