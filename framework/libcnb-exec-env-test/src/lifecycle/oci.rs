//! OCI image layouts: the minimal run image the harness writes, and the app image the exporter
//! writes (read back, and its layers unpacked into the image stand-in).
//!
//! The lifecycle maps an image reference to a layout directory with imgutil's
//! `layout.ParseRefToPath`: `<layout-dir>/<registry>/<repository>/<tag>`, so `cnb-local/run:latest`
//! lives in `<layout-dir>/index.docker.io/cnb-local/run/latest`.

// The index, manifest and config of a layout are read with `oci-spec` (0.10, `image` feature):
// serde structs that tolerate unknown keys. The run image written below stays `json!`: it is
// fixed text, not read.
use crate::engine::{EngineError, Target};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
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
    /// The config blob, parsed (`config` holds `Env`, `Entrypoint`, `Labels`, ...).
    pub(super) config: ImageConfiguration,
    /// The config blob as written, kept byte for byte for the launch side.
    pub(super) config_json: String,
    /// The layers, bottom first.
    pub(super) layers: Vec<Layer>,
}

/// One layer of an image: its blob, its media type and its digest (`sha256:<hex>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Layer {
    pub(super) blob: PathBuf,
    pub(super) media_type: String,
    pub(super) digest: String,
}

/// The owner given to every entry an unpack creates (`None`: left to this process).
pub(super) type Owner = Option<(u32, u32)>;

fn read_blob(path: &Path) -> Result<String, EngineError> {
    std::fs::read_to_string(path)
        .map_err(EngineError::io(format!("cannot read {}", path.display())))
}

fn blob_path(root: &Path, digest: &str) -> Result<PathBuf, EngineError> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| invalid(root, format!("unsupported digest {digest}")))?;
    Ok(root.join("blobs").join("sha256").join(hex))
}

/// Whether the layout at `root` holds a whole image: its index, manifest, config and every
/// layer blob readable (a build killed while exporting can leave an index naming a blob that
/// was never written).
pub(super) fn is_complete(root: &Path) -> bool {
    LayoutImage::read(root).is_ok_and(|image| image.layers.iter().all(|layer| layer.blob.is_file()))
}

impl LayoutImage {
    /// Reads the single image of the layout at `root`.
    ///
    /// # Errors
    /// Missing or malformed files.
    pub(super) fn read(root: &Path) -> Result<Self, EngineError> {
        let index_path = root.join("index.json");
        let index = ImageIndex::from_reader(read_blob(&index_path)?.as_bytes())
            .map_err(|error| invalid(&index_path, error.to_string()))?;
        let manifest_digest = index
            .manifests()
            .first()
            .ok_or_else(|| invalid(&index_path, "the index lists no manifest"))?
            .digest()
            .to_string();
        let manifest_path = blob_path(root, &manifest_digest)?;
        let manifest = ImageManifest::from_reader(read_blob(&manifest_path)?.as_bytes())
            .map_err(|error| invalid(&manifest_path, error.to_string()))?;
        let config_path = blob_path(root, manifest.config().digest().as_ref())?;
        let config_json = read_blob(&config_path)?;
        let config = ImageConfiguration::from_reader(config_json.as_bytes())
            .map_err(|error| invalid(&config_path, error.to_string()))?;
        let layers = manifest
            .layers()
            .iter()
            .map(|layer| {
                let digest = layer.digest().to_string();
                Ok(Layer {
                    blob: blob_path(root, &digest)?,
                    media_type: layer.media_type().to_string(),
                    digest,
                })
            })
            .collect::<Result<_, EngineError>>()?;
        Ok(Self {
            root: root.to_path_buf(),
            config,
            config_json,
            layers,
        })
    }

    /// The image labels.
    #[must_use]
    pub(super) fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .config()
            .as_ref()
            .and_then(|config| config.labels().as_ref())
            .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }

    /// `config.Entrypoint`.
    #[must_use]
    pub(super) fn entrypoint(&self) -> Vec<String> {
        self.config
            .config()
            .as_ref()
            .and_then(|config| config.entrypoint().clone())
            .unwrap_or_default()
    }

    /// The layers an unpack writes: every one but the run image's first.
    #[must_use]
    pub(super) fn app_layers(&self) -> &[Layer] {
        self.layers.get(1..).unwrap_or_default()
    }
}

impl Layer {
    /// Unpacks this layer, moving paths: each `(from, to)` of `moves` maps a path prefix of the
    /// image to a directory on this machine; entries under no prefix (the run image's own files)
    /// are left out. Returns every path written, in archive order.
    ///
    /// As the `tar` crate's `unpack_in`: nothing is written outside the destinations, never
    /// through a link already there (an existing link at an entry's own path is replaced, a link
    /// among its parents is an error), and link targets are stored, never followed.
    ///
    /// # Errors
    /// I/O, an archive that cannot be read, or an entry that would write through a link.
    pub(super) fn unpack(
        &self,
        moves: &[(PathBuf, PathBuf)],
        owner: Owner,
    ) -> Result<Vec<PathBuf>, EngineError> {
        let file = std::fs::File::open(&self.blob).map_err(EngineError::io(format!(
            "cannot open {}",
            self.blob.display()
        )))?;
        let reader: Box<dyn Read> = if self.media_type.contains("gzip") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        unpack_tar(reader, &self.blob, moves, owner)
    }
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

/// The destination root (`to` of the move) that `dest` is under.
fn root_of<'a>(dest: &Path, moves: &'a [(PathBuf, PathBuf)]) -> Option<&'a Path> {
    moves
        .iter()
        .map(|(_, to)| to.as_path())
        .find(|to| dest.starts_with(to))
}

/// Creates the directories from `root` down to `dir`, refusing to go through a link: an entry
/// of the archive never writes where an earlier entry's link points.
fn create_dirs_in(
    root: &Path,
    dir: &Path,
    blob: &Path,
    owner: Owner,
    created: &mut Vec<PathBuf>,
) -> Result<(), EngineError> {
    if std::fs::symlink_metadata(root).is_ok_and(|meta| meta.file_type().is_symlink()) {
        return Err(invalid(
            blob,
            format!(
                "an entry would be written through the link {}",
                root.display()
            ),
        ));
    }
    if std::fs::symlink_metadata(root).is_err() {
        std::fs::create_dir_all(root)
            .map_err(EngineError::io(format!("cannot create {}", root.display())))?;
        chown(root, owner)?;
        created.push(root.to_path_buf());
    }
    let Ok(rest) = dir.strip_prefix(root) else {
        return Err(invalid(
            blob,
            format!("{} is outside {}", dir.display(), root.display()),
        ));
    };
    let mut at = root.to_path_buf();
    for component in rest.components() {
        at.push(component);
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(invalid(
                    blob,
                    format!(
                        "an entry would be written through the link {}",
                        at.display()
                    ),
                ));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(invalid(
                    blob,
                    format!("{} is not a directory", at.display()),
                ));
            }
            Err(_) => {
                std::fs::create_dir(&at)
                    .map_err(EngineError::io(format!("cannot create {}", at.display())))?;
                chown(&at, owner)?;
                created.push(at.clone());
            }
        }
    }
    Ok(())
}

fn chown(path: &Path, owner: Owner) -> Result<(), EngineError> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(EngineError::io(format!(
            "cannot give {} to uid {uid}",
            path.display()
        )))?;
    }
    Ok(())
}

#[allow(clippy::too_many_lines)] // the PAX/GNU records, then each entry kind, in archive order
fn unpack_tar(
    reader: Box<dyn Read>,
    blob: &Path,
    moves: &[(PathBuf, PathBuf)],
    owner: Owner,
) -> Result<Vec<PathBuf>, EngineError> {
    let mut written = Vec::new();
    let bad = |error: std::io::Error| invalid(blob, format!("unreadable layer archive: {error}"));
    let mut archive = tar::Archive::new(reader);
    // Raw entries, with PAX and GNU long-name records read here: the `tar` crate splits PAX
    // records at every newline, so a file name holding a newline *and* a byte that is not
    // ASCII (which the lifecycle writes as a PAX `path` record, with a mangled USTAR name as
    // fallback) came out under the mangled name.
    let mut pending_path: Option<Vec<u8>> = None;
    let mut pending_link: Option<Vec<u8>> = None;
    for entry in archive.entries().map_err(bad)?.raw(true) {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_local_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(bad)?;
            if kind.is_pax_local_extensions() {
                for (key, value) in pax_records(&data) {
                    match key {
                        b"path" => pending_path = Some(value.to_vec()),
                        b"linkpath" => pending_link = Some(value.to_vec()),
                        _ => {}
                    }
                }
            } else {
                while data.last() == Some(&0) {
                    data.pop();
                }
                if kind.is_gnu_longname() {
                    pending_path = Some(data);
                } else {
                    pending_link = Some(data);
                }
            }
            continue;
        }
        if kind.is_pax_global_extensions() {
            continue;
        }
        let raw = PathBuf::from(std::ffi::OsString::from_vec(
            pending_path
                .take()
                .unwrap_or_else(|| entry.header().path_bytes().into_owned()),
        ));
        let link_name: Option<PathBuf> = pending_link
            .take()
            .or_else(|| {
                entry
                    .header()
                    .link_name_bytes()
                    .map(std::borrow::Cow::into_owned)
            })
            .map(|bytes| PathBuf::from(std::ffi::OsString::from_vec(bytes)));
        let absolute = Path::new("/").join(&raw);
        let Some(dest) = relocate(&absolute, moves) else {
            continue;
        };
        let io = |what: &str| EngineError::io(format!("cannot {what} {}", dest.display()));
        let mode = entry.header().mode().unwrap_or(0o644);
        let root = root_of(&dest, moves).unwrap_or(&dest).to_path_buf();
        if kind.is_dir() {
            create_dirs_in(&root, &dest, blob, owner, &mut written)?;
            if written.last().is_none_or(|last| *last != dest) {
                written.push(dest);
            }
            continue;
        }
        if let Some(parent) = dest.parent() {
            create_dirs_in(&root, parent, blob, owner, &mut written)?;
        }
        if let Ok(meta) = std::fs::symlink_metadata(&dest) {
            // A link, or a file, at the entry's own path is replaced, never written through.
            if meta.is_dir() {
                return Err(invalid(
                    blob,
                    format!("{} is a directory in an earlier layer", dest.display()),
                ));
            }
            std::fs::remove_file(&dest).map_err(io("replace"))?;
        }
        if kind.is_symlink() {
            let Some(target) = link_name else {
                return Err(invalid(
                    blob,
                    format!("link {} has no target", raw.display()),
                ));
            };
            // A target inside the image (`/cnb/lifecycle/launcher`, a build path) becomes a
            // relative link inside the destination, valid wherever the tree is copied; any
            // other target is kept as written (and never followed).
            let target = match (
                target.is_absolute(),
                relocate(&target, moves),
                dest.parent(),
            ) {
                (true, Some(inside), Some(parent)) => relative_to(&inside, parent),
                _ => target,
            };
            std::os::unix::fs::symlink(&target, &dest).map_err(io("link"))?;
            chown(&dest, owner)?;
        } else if kind.is_hard_link() {
            let target = link_name
                .map(|t| Path::new("/").join(t))
                .and_then(|t| relocate(&t, moves))
                .ok_or_else(|| {
                    invalid(
                        blob,
                        format!("hard link {} leaves the image", raw.display()),
                    )
                })?;
            // The target must be a file this unpack wrote inside the destination, reached
            // through no link.
            if let Some(parent) = target.parent() {
                create_dirs_in(
                    root_of(&target, moves).unwrap_or(&target),
                    parent,
                    blob,
                    owner,
                    &mut written,
                )?;
            }
            std::fs::hard_link(&target, &dest).map_err(io("link"))?;
        } else if kind.is_file() {
            // Holes stay holes: an app's huge sparse file does not fill the disk.
            let mut file = std::fs::File::create(&dest).map_err(io("create"))?;
            crate::platform::tree::write_sparse(&mut entry, &mut file).map_err(io("write"))?;
            chown(&dest, owner)?;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(io("set the mode of"))?;
        } else {
            continue;
        }
        written.push(dest);
    }
    Ok(written)
}

/// `target` as a path relative to the directory `from` (both absolute, made of normal
/// components).
fn relative_to(target: &Path, from: &Path) -> PathBuf {
    let target: Vec<_> = target.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = target.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in &target[common..] {
        relative.push(component);
    }
    relative
}

/// The records of a PAX extended header (`<length> <key>=<value>\n`, the length counting the
/// whole record), values taken as bytes: they may hold newlines and non-UTF-8 bytes. A
/// malformed record ends the list.
fn pax_records(mut data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut records = Vec::new();
    while !data.is_empty() {
        let Some(space) = data.iter().position(|b| *b == b' ') else {
            break;
        };
        let Some(length) = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|digits| digits.parse::<usize>().ok())
            .filter(|length| *length > space + 1 && *length <= data.len())
        else {
            break;
        };
        let record = &data[space + 1..length];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(equals) = record.iter().position(|b| *b == b'=') {
            records.push((&record[..equals], &record[equals + 1..]));
        }
        data = &data[length..];
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_keep_newlines_and_raw_bytes_in_values() {
        let value: &[u8] = b"/w/dir/inner \xc3( \n.txt";
        let mut record = b" path=".to_vec();
        record.extend_from_slice(value);
        record.push(b'\n');
        let length = record.len() + 2;
        let mut data = format!("{length}").into_bytes();
        data.extend_from_slice(&record);
        data.extend_from_slice(b"12 uid=1000\n");
        assert_eq!(
            pax_records(&data),
            vec![(&b"path"[..], value), (&b"uid"[..], &b"1000"[..])]
        );
        assert!(pax_records(b"99 path=short\n").is_empty());
        assert!(pax_records(b"x path=\n").is_empty());
    }

    #[test]
    fn links_into_the_image_become_relative() {
        assert_eq!(
            relative_to(
                Path::new("/o/cnb/lifecycle/launcher"),
                Path::new("/o/cnb/process")
            ),
            PathBuf::from("../lifecycle/launcher")
        );
        assert_eq!(
            relative_to(Path::new("/o/layers/a"), Path::new("/o/workspace/x")),
            PathBuf::from("../../layers/a")
        );
    }

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
        assert_eq!(image.config.os().to_string(), "linux");
        assert_eq!(
            image
                .labels()
                .get("io.buildpacks.base.distro.name")
                .map(String::as_str),
            Some("debian")
        );
        assert_eq!(
            image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.user().as_deref()),
            Some("1000:1000")
        );
        let reread: serde_json::Value = serde_json::from_str(&image.config_json).unwrap();
        assert_eq!(reread["config"]["User"], "1000:1000");

        // Whole, then with its manifest or a layer blob missing (a killed export).
        assert!(is_complete(&root));
        let layer_blob = image.layers[0].blob.clone();
        let layer = std::fs::read(&layer_blob).unwrap();
        std::fs::remove_file(&layer_blob).unwrap();
        assert!(!is_complete(&root));
        std::fs::write(&layer_blob, layer).unwrap();
        assert!(is_complete(&root));
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("index.json")).unwrap())
                .unwrap();
        let manifest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
        std::fs::remove_file(blob_path(&root, &manifest).unwrap()).unwrap();
        assert!(!is_complete(&root));
    }
}

#[cfg(test)]
#[path = "oci_fuzz.rs"]
mod fuzz;
