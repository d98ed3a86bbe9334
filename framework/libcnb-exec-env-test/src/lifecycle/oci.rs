//! OCI image layouts: the minimal run image the harness writes, and the app image the exporter
//! writes (read back, and its layers unpacked into the image stand-in).
//!
//! The lifecycle maps an image reference to a layout directory with imgutil's
//! `layout.ParseRefToPath`: `<layout-dir>/<registry>/<repository>/<tag>`, so `cnb-local/run:latest`
//! lives in `<layout-dir>/index.docker.io/cnb-local/run/latest`.

use crate::engine::{EngineError, Target};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// The run image reference given to the analyzer (`-run-image`) and in `run.toml`.
pub(super) const RUN_IMAGE: &str = "cnb-local/run:latest";
/// The app image reference given to the analyzer and the exporter.
pub(super) const APP_IMAGE: &str = "cnb-local/app:latest";

/// The layout directory of `reference` (`name:tag`, Docker Hub) under `layout_dir`.
#[must_use]
pub(super) fn layout_path(layout_dir: &Path, reference: &str) -> PathBuf {
    let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    layout_dir.join("index.docker.io").join(name).join(tag)
}

fn invalid(path: &Path, reason: impl Into<String>) -> EngineError {
    EngineError::InvalidImage {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn write_blob(blobs: &Path, content: &[u8]) -> Result<(String, usize), EngineError> {
    let digest = format!("{:x}", Sha256::digest(content));
    let path = blobs.join(&digest);
    std::fs::write(&path, content)
        .map_err(EngineError::io(format!("cannot write {}", path.display())))?;
    Ok((format!("sha256:{digest}"), content.len()))
}

/// Writes the minimal run image: one empty layer, a config for `target` with `PATH` (the host's,
/// so launched processes find the host's tools), the user, and the distro labels the lifecycle
/// reads the target from (`platform/target_data.go`).
///
/// # Errors
/// I/O.
pub(super) fn write_run_image(
    layout_dir: &Path,
    target: &Target,
    uid: u32,
    gid: u32,
    path_var: &str,
) -> Result<PathBuf, EngineError> {
    let root = layout_path(layout_dir, RUN_IMAGE);
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(EngineError::io(format!(
            "cannot replace {}",
            root.display()
        )))?;
    }
    let blobs = root.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(EngineError::io(format!(
        "cannot create {}",
        blobs.display()
    )))?;
    // An empty tar archive: two 512-byte zero blocks.
    let layer = vec![0_u8; 1024];
    let (layer_digest, layer_size) = write_blob(&blobs, &layer)?;
    let mut labels = serde_json::Map::new();
    if let Some(name) = &target.distro_name {
        labels.insert("io.buildpacks.base.distro.name".into(), json!(name));
    }
    if let Some(version) = &target.distro_version {
        labels.insert("io.buildpacks.base.distro.version".into(), json!(version));
    }
    let mut config = json!({
        "architecture": target.arch,
        "os": target.os,
        "config": {
            "Env": [format!("PATH={path_var}")],
            "User": format!("{uid}:{gid}"),
            "Labels": labels,
        },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
        "history": [{ "created_by": "libcnb-exec-env-test: minimal run image" }],
    });
    if let Some(variant) = &target.arch_variant {
        config["variant"] = json!(variant);
    }
    let (config_digest, config_size) = write_blob(&blobs, config.to_string().as_bytes())?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size }],
    });
    let (manifest_digest, manifest_size) = write_blob(&blobs, manifest.to_string().as_bytes())?;
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size }],
    });
    for (name, content) in [
        ("index.json", index.to_string()),
        (
            "oci-layout",
            json!({ "imageLayoutVersion": "1.0.0" }).to_string(),
        ),
    ] {
        let path = root.join(name);
        std::fs::write(&path, content)
            .map_err(EngineError::io(format!("cannot write {}", path.display())))?;
    }
    Ok(root)
}

/// An image read from a layout.
#[derive(Clone, Debug)]
pub(super) struct LayoutImage {
    /// The layout directory.
    pub(super) root: PathBuf,
    /// The config blob (`config` holds `Env`, `Entrypoint`, `Labels`, ...).
    pub(super) config: Value,
    /// The layer blobs, bottom first, with their media types.
    pub(super) layers: Vec<(PathBuf, String)>,
}

fn read_json(path: &Path) -> Result<Value, EngineError> {
    let text =
        std::fs::read(path).map_err(EngineError::io(format!("cannot read {}", path.display())))?;
    serde_json::from_slice(&text).map_err(|error| invalid(path, error.to_string()))
}

fn blob_path(root: &Path, digest: Option<&str>) -> Result<PathBuf, EngineError> {
    let digest = digest.ok_or_else(|| invalid(root, "a descriptor has no digest"))?;
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| invalid(root, format!("unsupported digest {digest}")))?;
    Ok(root.join("blobs").join("sha256").join(hex))
}

impl LayoutImage {
    /// Reads the single image of the layout at `root`.
    ///
    /// # Errors
    /// Missing or malformed files.
    pub(super) fn read(root: &Path) -> Result<Self, EngineError> {
        let index = read_json(&root.join("index.json"))?;
        let manifest_digest = index["manifests"][0]["digest"].as_str();
        let manifest = read_json(&blob_path(root, manifest_digest)?)?;
        let config = read_json(&blob_path(root, manifest["config"]["digest"].as_str())?)?;
        let layers = manifest["layers"]
            .as_array()
            .ok_or_else(|| invalid(root, "the manifest has no layers"))?
            .iter()
            .map(|layer| {
                Ok((
                    blob_path(root, layer["digest"].as_str())?,
                    layer["mediaType"].as_str().unwrap_or_default().to_owned(),
                ))
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Self {
            root: root.to_path_buf(),
            config,
            layers,
        })
    }

    /// The image labels.
    #[must_use]
    pub(super) fn labels(&self) -> BTreeMap<String, String> {
        self.config["config"]["Labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `config.Entrypoint`.
    #[must_use]
    pub(super) fn entrypoint(&self) -> Vec<String> {
        string_list(&self.config["config"]["Entrypoint"])
    }

    /// Unpacks every layer (but the run image's first one) into `dest`, moving paths:
    /// each `(from, to)` of `moves` maps a path prefix of the image to a directory on this machine.
    /// Entries under no prefix (the run image's own files) are left out.
    ///
    /// # Errors
    /// I/O, or an archive that cannot be read.
    pub(super) fn unpack(&self, moves: &[(PathBuf, PathBuf)]) -> Result<(), EngineError> {
        for (blob, media_type) in self.layers.iter().skip(1) {
            let file = std::fs::File::open(blob)
                .map_err(EngineError::io(format!("cannot open {}", blob.display())))?;
            let reader: Box<dyn Read> = if media_type.contains("gzip") {
                Box::new(flate2::read::GzDecoder::new(file))
            } else {
                Box::new(file)
            };
            unpack_tar(reader, blob, moves)?;
        }
        Ok(())
    }
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Maps an absolute image path onto this machine, or `None` when no prefix matches.
#[must_use]
pub(super) fn relocate(path: &Path, moves: &[(PathBuf, PathBuf)]) -> Option<PathBuf> {
    moves.iter().find_map(|(from, to)| {
        path.strip_prefix(from)
            .ok()
            .filter(|rest| rest.components().all(|c| matches!(c, Component::Normal(_))))
            .map(|rest| to.join(rest))
    })
}

fn unpack_tar(
    reader: Box<dyn Read>,
    blob: &Path,
    moves: &[(PathBuf, PathBuf)],
) -> Result<(), EngineError> {
    let bad = |error: std::io::Error| invalid(blob, format!("unreadable layer archive: {error}"));
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let absolute = Path::new("/").join(&raw);
        let Some(dest) = relocate(&absolute, moves) else {
            continue;
        };
        let io = |what: &str| EngineError::io(format!("cannot {what} {}", dest.display()));
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(io("create the parent of"))?;
        }
        if kind.is_dir() {
            std::fs::create_dir_all(&dest).map_err(io("create"))?;
            continue;
        }
        if std::fs::symlink_metadata(&dest).is_ok() {
            std::fs::remove_file(&dest).map_err(io("replace"))?;
        }
        if kind.is_symlink() {
            let target = entry
                .link_name()
                .map_err(bad)?
                .map(std::borrow::Cow::into_owned)
                .unwrap_or_default();
            let target = if target.is_absolute() {
                relocate(&target, moves).unwrap_or(target)
            } else {
                target
            };
            std::os::unix::fs::symlink(&target, &dest).map_err(io("link"))?;
        } else if kind.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(bad)?
                .map(|t| Path::new("/").join(t))
                .and_then(|t| relocate(&t, moves))
                .ok_or_else(|| {
                    invalid(
                        blob,
                        format!("hard link {} leaves the image", raw.display()),
                    )
                })?;
            std::fs::hard_link(&target, &dest).map_err(io("link"))?;
        } else if kind.is_file() {
            let mut file = std::fs::File::create(&dest).map_err(io("create"))?;
            std::io::copy(&mut entry, &mut file).map_err(io("write"))?;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(io("set the mode of"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_path_follows_imgutil() {
        assert_eq!(
            layout_path(Path::new("/l"), "cnb-local/run:latest"),
            PathBuf::from("/l/index.docker.io/cnb-local/run/latest")
        );
    }

    #[test]
    fn relocate_maps_prefixes_and_drops_the_rest() {
        let moves = vec![
            (PathBuf::from("/w/layers"), PathBuf::from("/out/layers")),
            (PathBuf::from("/cnb"), PathBuf::from("/out/cnb")),
        ];
        assert_eq!(
            relocate(Path::new("/w/layers/a/b"), &moves),
            Some(PathBuf::from("/out/layers/a/b"))
        );
        assert_eq!(
            relocate(Path::new("/cnb/process/web"), &moves),
            Some(PathBuf::from("/out/cnb/process/web"))
        );
        assert_eq!(relocate(Path::new("/tmp"), &moves), None);
        assert_eq!(relocate(Path::new("/w/layers/../x"), &moves), None);
    }

    #[test]
    fn run_image_is_a_readable_layout() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target {
            os: "linux".into(),
            arch: "amd64".into(),
            arch_variant: None,
            distro_name: Some("debian".into()),
            distro_version: Some("12".into()),
        };
        let root = write_run_image(dir.path(), &target, 1000, 1000, "/usr/bin:/bin").unwrap();
        let image = LayoutImage::read(&root).unwrap();
        assert_eq!(image.layers.len(), 1);
        assert_eq!(image.config["os"], "linux");
        assert_eq!(
            image
                .labels()
                .get("io.buildpacks.base.distro.name")
                .map(String::as_str),
            Some("debian")
        );
        assert_eq!(image.config["config"]["User"], "1000:1000");
    }
}
