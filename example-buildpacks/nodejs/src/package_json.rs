//! Reading the app's `package.json` and npm lockfile.

use crate::errors::NodejsError;
use libcnb_exec_env::app_file::read_app_file;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The fields of `package.json` this buildpack uses, plus the whole document.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PackageJson {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// `name`, if any.
    pub(crate) name: Option<String>,
    /// `scripts`: script name -> shell command.
    pub(crate) scripts: BTreeMap<String, String>,
    /// Whether `workspaces` is set (npm workspaces are not supported by this example).
    pub(crate) has_workspaces: bool,
    /// `engines.node`: the Node.js versions the app supports (an npm range).
    pub(crate) engines_node: Option<String>,
    /// `engines.npm`: the npm versions the app supports (an npm range).
    pub(crate) engines_npm: Option<String>,
    /// The whole document.
    document: serde_json::Map<String, serde_json::Value>,
}

/// The typed view, checked while parsing (wrong types are errors naming the position).
#[derive(Deserialize)]
struct Fields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scripts: BTreeMap<String, String>,
    #[serde(default)]
    dependencies: BTreeMap<String, String>,
    #[serde(default, rename = "devDependencies")]
    dev_dependencies: BTreeMap<String, String>,
    #[serde(default)]
    workspaces: Option<serde_json::Value>,
    #[serde(default)]
    engines: Engines,
}

/// `engines`: a wrong type (`"engines": {"node": 18}`) is an error naming the position.
#[derive(Default, Deserialize)]
struct Engines {
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    npm: Option<String>,
}

impl PackageJson {
    /// Reads `<app_dir>/package.json`.
    ///
    /// # Errors
    /// The file cannot be read, is not JSON, is not an object, or has a field of the wrong type.
    pub(crate) fn read(app_dir: &Path) -> Result<Self, NodejsError> {
        let path = app_dir.join("package.json");
        let bytes = read_app_file(app_dir, "package.json")?.ok_or_else(|| NodejsError::Read {
            path: path.clone(),
            error: std::io::ErrorKind::NotFound.into(),
        })?;
        let text = String::from_utf8(bytes).map_err(|error| NodejsError::Read {
            path: path.clone(),
            error: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` as the `package.json` at `path`.
    ///
    /// # Errors
    /// Not JSON, not an object, or a field of the wrong type.
    pub(crate) fn parse(path: PathBuf, text: &str) -> Result<Self, NodejsError> {
        let invalid = |error| NodejsError::PackageJson {
            path: path.clone(),
            error,
        };
        let document: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(invalid)?;
        let fields: Fields = serde_json::from_str(text).map_err(invalid)?;
        // Checked for their types only: a malformed dependency list fails here, not in npm.
        let _ = (fields.dependencies, fields.dev_dependencies);
        Ok(Self {
            path,
            name: fields.name,
            scripts: fields.scripts,
            has_workspaces: fields.workspaces.is_some(),
            engines_node: fields.engines.node,
            engines_npm: fields.engines.npm,
            document,
        })
    }

    /// The script called `name`, if defined.
    pub(crate) fn script(&self, name: &str) -> Option<&str> {
        self.scripts.get(name).map(String::as_str)
    }

    /// The `package.json` written next to the installed `node_modules`: the app's own, without
    /// `scripts`, so that `npm ci` in the layer does not run the app's own lifecycle scripts
    /// (`postinstall`, `prepare`, ...) away from the app's sources. Dependencies' install
    /// scripts still run.
    pub(crate) fn install_manifest(&self) -> String {
        let mut document = self.document.clone();
        document.remove("scripts");
        let mut text = serde_json::Value::Object(document).to_string();
        text.push('\n');
        text
    }
}

/// An npm lockfile (`npm-shrinkwrap.json` or `package-lock.json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lockfile {
    /// Where it was read from.
    pub(crate) path: PathBuf,
    /// Its `lockfileVersion`.
    pub(crate) version: u64,
    /// SHA-256 of its bytes, hex.
    pub(crate) digest: String,
    /// Its content.
    pub(crate) text: String,
}

#[derive(Deserialize)]
struct LockfileFields {
    #[serde(rename = "lockfileVersion")]
    lockfile_version: u64,
}

/// The lockfile names npm reads, in npm's order of precedence.
pub(crate) const LOCKFILE_NAMES: [&str; 2] = ["npm-shrinkwrap.json", "package-lock.json"];

impl Lockfile {
    /// Reads the app's lockfile, `None` when it has none.
    ///
    /// # Errors
    /// The lockfile cannot be read, is not JSON or has no numeric `lockfileVersion`.
    pub(crate) fn find(app_dir: &Path) -> Result<Option<Self>, NodejsError> {
        for name in LOCKFILE_NAMES {
            let path = app_dir.join(name);
            if let Some(bytes) = read_app_file(app_dir, name)? {
                let text = String::from_utf8(bytes).map_err(|error| NodejsError::Read {
                    path: path.clone(),
                    error: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
                })?;
                return Self::parse(path, text).map(Some);
            }
        }
        Ok(None)
    }

    /// Parses `text` as the lockfile at `path`.
    ///
    /// # Errors
    /// Not JSON, or no numeric `lockfileVersion`.
    pub(crate) fn parse(path: PathBuf, text: String) -> Result<Self, NodejsError> {
        let fields: LockfileFields =
            serde_json::from_str(&text).map_err(|error| NodejsError::Lockfile {
                path: path.clone(),
                error,
            })?;
        Ok(Self {
            digest: sha256_hex(text.as_bytes()),
            version: fields.lockfile_version,
            path,
            text,
        })
    }

    /// The file name, e.g. `package-lock.json`.
    pub(crate) fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Lockfiles of other package managers, which this example does not use.
pub(crate) fn foreign_lockfiles(app_dir: &Path) -> Vec<&'static str> {
    ["yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock"]
        .into_iter()
        .filter(|name| app_dir.join(name).exists())
        .collect()
}

/// SHA-256 of `bytes` as lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PackageJson, NodejsError> {
        PackageJson::parse(PathBuf::from("/workspace/package.json"), text)
    }

    #[test]
    fn scripts_and_name_are_read() {
        let package = parse(
            r#"{"name": "hello", "scripts": {"start": "node server.js", "test": "mocha"},
                "dependencies": {"ms": "^2.1.3"}, "devDependencies": {"mocha": "^10"}}"#,
        )
        .unwrap();
        assert_eq!(package.name.as_deref(), Some("hello"));
        assert_eq!(package.script("start"), Some("node server.js"));
        assert_eq!(package.script("test"), Some("mocha"));
        assert_eq!(package.script("dev"), None);
        assert!(!package.has_workspaces);
    }

    #[test]
    fn engines_are_read_and_their_types_checked() {
        let package = parse(r#"{"engines": {"node": ">=18 <21", "npm": "10.x"}}"#).unwrap();
        assert_eq!(package.engines_node.as_deref(), Some(">=18 <21"));
        assert_eq!(package.engines_npm.as_deref(), Some("10.x"));
        let package = parse(r#"{"engines": {"vscode": "^1.80"}}"#).unwrap();
        assert_eq!(package.engines_node, None);
        let error = parse(r#"{"engines": {"node": 18}}"#).unwrap_err();
        assert!(error.to_string().contains("expected a string"), "{error}");
    }

    #[test]
    fn an_empty_object_is_a_valid_package_json() {
        let package = parse("{}").unwrap();
        assert!(package.scripts.is_empty());
        assert_eq!(package.name, None);
    }

    #[test]
    fn invalid_json_names_the_file_and_the_position() {
        let error = parse("{\n  \"name\": \"x\",\n}\n").unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("/workspace/package.json is not a valid package.json: "),
            "{message}"
        );
        assert!(message.contains("line 3"), "{message}");
    }

    #[test]
    fn a_field_of_the_wrong_type_is_an_error() {
        let error = parse(r#"{"scripts": {"start": ["node", "x.js"]}}"#).unwrap_err();
        assert!(matches!(error, NodejsError::PackageJson { .. }), "{error}");
        assert!(error.to_string().contains("expected a string"), "{error}");
        let error = parse(r#"{"dependencies": "ms"}"#).unwrap_err();
        assert!(error.to_string().contains("expected a map"), "{error}");
        let error = parse("[1, 2]").unwrap_err();
        assert!(error.to_string().contains("expected a map"), "{error}");
    }

    #[test]
    fn the_install_manifest_drops_only_scripts() {
        let package = parse(
            r#"{"name": "a", "scripts": {"postinstall": "node setup.js"},
                "dependencies": {"ms": "2.1.3"}, "overrides": {"ms": "2.1.3"}}"#,
        )
        .unwrap();
        let manifest: serde_json::Value =
            serde_json::from_str(&package.install_manifest()).unwrap();
        assert_eq!(
            manifest,
            serde_json::json!({"name": "a", "dependencies": {"ms": "2.1.3"}, "overrides": {"ms": "2.1.3"}})
        );
    }

    #[test]
    fn lockfiles_are_found_in_npm_order_and_digested() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Lockfile::find(dir.path()).unwrap(), None);
        std::fs::write(
            dir.path().join("package-lock.json"),
            r#"{"lockfileVersion": 3}"#,
        )
        .unwrap();
        let lock = Lockfile::find(dir.path()).unwrap().unwrap();
        assert_eq!(lock.file_name(), "package-lock.json");
        assert_eq!(lock.version, 3);
        assert_eq!(lock.digest, sha256_hex(br#"{"lockfileVersion": 3}"#));
        std::fs::write(
            dir.path().join("npm-shrinkwrap.json"),
            r#"{"lockfileVersion": 2}"#,
        )
        .unwrap();
        let lock = Lockfile::find(dir.path()).unwrap().unwrap();
        assert_eq!(lock.file_name(), "npm-shrinkwrap.json");
        assert_eq!(lock.version, 2);
    }

    #[test]
    fn a_malformed_lockfile_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("package-lock.json"),
            "{\"lockfileVersion\": ",
        )
        .unwrap();
        let error = Lockfile::find(dir.path()).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("package-lock.json is not a valid npm lockfile"),
            "{message}"
        );
        std::fs::write(dir.path().join("package-lock.json"), r#"{"name": "x"}"#).unwrap();
        let message = Lockfile::find(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("missing field `lockfileVersion`"),
            "{message}"
        );
    }

    #[test]
    fn sha256_is_hex_of_the_standard_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn other_package_managers_lockfiles_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("yarn.lock"), "").unwrap();
        assert_eq!(foreign_lockfiles(dir.path()), vec!["yarn.lock"]);
    }

    #[test]
    fn manifests_linked_outside_the_app_are_refused() {
        let app = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("lock.json"),
            r#"{"lockfileVersion": 3}"#,
        )
        .unwrap();
        std::fs::write(app.path().join("package.json"), r#"{"name": "x"}"#).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("lock.json"),
            app.path().join("package-lock.json"),
        )
        .unwrap();
        let error = Lockfile::find(app.path()).unwrap_err();
        assert!(
            error.to_string().contains("outside the app directory"),
            "{error}"
        );
        std::fs::remove_file(app.path().join("package.json")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("lock.json"),
            app.path().join("package.json"),
        )
        .unwrap();
        assert!(PackageJson::read(app.path()).is_err());
    }
}
