//! The exported image on disk: where its paths go on this machine, and putting it back at the
//! build paths for a launch.

use super::files::{copy_tree, remove_dir, write_file};
use super::{oci, user};
use crate::engine::{EngineError, Progress};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Path prefixes of the image mapped to directories on this machine.
pub(super) type Moves = Vec<(PathBuf, PathBuf)>;

/// Names the image unpacked in the work directory and in a stand-in.
pub(super) const IMAGE_ID_FILE: &str = "image-id";

/// Where the stand-in keeps what the launch needs from the image (its config, the build paths).
pub(super) const IMAGE_META_DIR: &str = ".cnb-lifecycle-image";

pub(super) fn image_moves(layers: &Path, workspace: &Path, out: &Path) -> Vec<(PathBuf, PathBuf)> {
    vec![
        (layers.to_path_buf(), out.join("layers")),
        (workspace.to_path_buf(), out.join("workspace")),
        (PathBuf::from("/cnb"), out.join("cnb")),
    ]
}

/// The default process type: the exporter points the entrypoint at `/cnb/process/<type>`
/// (`phase/exporter.go`), or at the bare launcher when there is none.
pub(super) fn default_process_of(entrypoint: &[String]) -> Option<String> {
    entrypoint
        .first()
        .and_then(|e| e.strip_prefix("/cnb/process/"))
        .map(str::to_owned)
}

/// The image config, and where a launch finds the image's files: always at the build paths
/// themselves (as in a container, absolute paths written at build time stay valid). When the
/// work directory no longer holds this image (another build with the cache ran since, even a
/// failed one), the image is put back there from the stand-in first, under the cache's lock, so
/// every launch of an image runs in the same place. Returns the config, the path moves, and the
/// directory holding `cnb/`.
pub(super) fn read_image_meta(
    out: &Path,
    user: &user::RunUser,
) -> Result<(serde_json::Value, Moves, PathBuf), EngineError> {
    let meta_dir = out.join(IMAGE_META_DIR);
    let read = |name: &str| -> Result<serde_json::Value, EngineError> {
        let path = meta_dir.join(name);
        let text = std::fs::read(&path).map_err(|error| EngineError::InvalidImage {
            path: path.clone(),
            reason: format!("not an image exported by the lifecycle engine ({error})"),
        })?;
        serde_json::from_slice(&text).map_err(|error| EngineError::InvalidImage {
            path: path.clone(),
            reason: error.to_string(),
        })
    };
    let config = read("config.json")?;
    let paths = read("paths.json")?;
    let layers_dir = PathBuf::from(paths["layers"].as_str().unwrap_or_default());
    let app_dir = PathBuf::from(paths["app"].as_str().unwrap_or_default());
    let image_id = std::fs::read_to_string(meta_dir.join(IMAGE_ID_FILE)).unwrap_or_default();
    let work = layers_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let in_place =
        || std::fs::read_to_string(work.join(IMAGE_ID_FILE)).is_ok_and(|id| id == image_id);
    if image_id.is_empty() || layers_dir.as_os_str().is_empty() {
        // Not written by this engine's build: run in the stand-in.
        let base = out.to_path_buf();
        return Ok((config, image_moves(&layers_dir, &app_dir, &base), base));
    }
    if !in_place() {
        // `<cache>/lifecycle/work`: the lock is the builds' (`<cache>/.lock`).
        let cache_dir = work
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut log = crate::platform::log::Log::new(Progress::Quiet);
        let lock = crate::platform::cache_lock::CacheLock::acquire(&cache_dir, &mut log)?;
        if !in_place() {
            for (image_path, stand_in) in image_moves(&layers_dir, &app_dir, out) {
                let at = if image_path == Path::new("/cnb") {
                    work.join("cnb")
                } else {
                    image_path
                };
                remove_dir(&at)?;
                copy_tree(&stand_in, &at)?;
            }
            write_file(&work.join(IMAGE_ID_FILE), &image_id)?;
            user.own(&work)?;
            // The work directory's ancestors are the build's: reported by the build.
            user.ensure_traversable(&work)?;
        }
        drop(lock);
    }
    Ok((config, image_moves(&layers_dir, &app_dir, &work), work))
}

/// The record of what an unpack wrote into a stand-in, kept in its [`IMAGE_META_DIR`]: the path
/// moves and, per layer digest, the paths the layer wrote (hex of their bytes: paths need not be
/// UTF-8).
const UNPACKED_FILE: &str = "unpacked.json";

#[derive(Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct Unpacked {
    moves: Vec<(String, String)>,
    layers: Vec<UnpackedLayer>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
struct UnpackedLayer {
    digest: String,
    paths: Vec<String>,
}

fn hex_path(path: &Path) -> String {
    use std::fmt::Write as _;
    path.as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

fn unhex_path(hex: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

fn moves_key(moves: &[(PathBuf, PathBuf)]) -> Vec<(String, String)> {
    moves
        .iter()
        .map(|(from, to)| (hex_path(from), hex_path(to)))
        .collect()
}

/// What [`install`] did: layers unpacked and layers kept from the last unpack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct InstallStats {
    pub(super) unpacked: usize,
    pub(super) kept: usize,
}

/// Puts `image` into the stand-in `out`, unpacking only the layers whose digest is not in the
/// record of the last unpack into `out` (with the same moves): the files of layers no longer in
/// the image are removed, the others stay as they are. Without a usable record, `out` is
/// emptied and every layer unpacked. Every entry created is given to `owner`; nothing else is
/// touched. The lifecycle's layers never write the same file twice (one directory per layer),
/// so the order of a partial unpack does not matter.
///
/// # Errors
/// I/O, an unreadable or unsafe layer archive.
pub(super) fn install(
    image: &oci::LayoutImage,
    out: &Path,
    moves: &[(PathBuf, PathBuf)],
    owner: oci::Owner,
) -> Result<InstallStats, EngineError> {
    let meta_dir = out.join(IMAGE_META_DIR);
    let record_path = meta_dir.join(UNPACKED_FILE);
    let key = moves_key(moves);
    let previous = std::fs::read(&record_path)
        .ok()
        .and_then(|text| serde_json::from_slice::<Unpacked>(&text).ok())
        .filter(|record| record.moves == key);
    // The record goes first: an unpack that stops half way leaves no record, so the next one
    // starts over.
    let _ = std::fs::remove_file(&record_path);
    let mut previous = if let Some(previous) = previous {
        previous
    } else {
        remove_dir(out)?;
        Unpacked::default()
    };
    let wanted: BTreeSet<&str> = image
        .app_layers()
        .iter()
        .map(|layer| layer.digest.as_str())
        .collect();
    let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut previous.layers)
        .into_iter()
        .partition(|layer| wanted.contains(layer.digest.as_str()));
    let kept_paths: BTreeSet<&str> = kept
        .iter()
        .flat_map(|layer| layer.paths.iter().map(String::as_str))
        .collect();
    // Deepest first, so directories are empty when their turn comes.
    let mut stale: Vec<PathBuf> = gone
        .iter()
        .flat_map(|layer| layer.paths.iter())
        .filter(|path| !kept_paths.contains(path.as_str()))
        .filter_map(|path| unhex_path(path))
        .collect();
    stale.sort_by(|a, b| b.cmp(a));
    for path in stale {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                // Still holding another layer's files: stays.
                let _ = std::fs::remove_dir(&path);
            }
            Ok(_) => std::fs::remove_file(&path)
                .map_err(EngineError::io(format!("cannot remove {}", path.display())))?,
            Err(_) => {}
        }
    }
    let mut record = Unpacked {
        moves: key,
        layers: Vec::new(),
    };
    let mut stats = InstallStats::default();
    for layer in image.app_layers() {
        if let Some(done) = kept.iter().find(|done| done.digest == layer.digest) {
            stats.kept += 1;
            record.layers.push(UnpackedLayer {
                digest: done.digest.clone(),
                paths: done.paths.clone(),
            });
            continue;
        }
        stats.unpacked += 1;
        let paths = layer.unpack(moves, owner)?;
        record.layers.push(UnpackedLayer {
            digest: layer.digest.clone(),
            paths: paths.iter().map(|path| hex_path(path)).collect(),
        });
    }
    std::fs::create_dir_all(&meta_dir).map_err(EngineError::io(format!(
        "cannot create {}",
        meta_dir.display()
    )))?;
    let text = serde_json::to_vec(&record).map_err(|error| EngineError::InvalidImage {
        path: record_path.clone(),
        reason: error.to_string(),
    })?;
    std::fs::write(&record_path, text).map_err(EngineError::io(format!(
        "cannot write {}",
        record_path.display()
    )))?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar layer blob at `path` holding `files` (path, content) and `links` (path, target).
    fn layer(dir: &Path, name: &str, files: &[(&str, &str)], links: &[(&str, &str)]) -> oci::Layer {
        let blob = dir.join(name);
        let mut builder = tar::Builder::new(std::fs::File::create(&blob).unwrap());
        for (path, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, path, content.as_bytes())
                .unwrap();
        }
        for (path, target) in links {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_entry_type(tar::EntryType::Symlink);
            builder.append_link(&mut header, path, target).unwrap();
        }
        builder.finish().unwrap();
        oci::Layer {
            blob,
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            digest: format!("sha256:{name}"),
        }
    }

    fn image(dir: &Path, layers: Vec<oci::Layer>) -> oci::LayoutImage {
        let mut all = vec![layer(dir, "run", &[], &[])];
        all.extend(layers);
        oci::LayoutImage {
            root: dir.to_path_buf(),
            config: oci_spec::image::ImageConfiguration::default(),
            config_json: "{}".to_owned(),
            layers: all,
        }
    }

    #[test]
    fn only_changed_layers_are_unpacked_and_gone_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let moves = image_moves(Path::new("/w/layers"), Path::new("/w/workspace"), &out);
        let a = layer(dir.path(), "a", &[("w/layers/bp/a/file", "a1")], &[]);
        let b1 = layer(dir.path(), "b1", &[("w/layers/bp/b/file", "b1")], &[]);
        let stats = install(&image(dir.path(), vec![a.clone(), b1]), &out, &moves, None).unwrap();
        assert_eq!(
            stats,
            InstallStats {
                unpacked: 2,
                kept: 0
            }
        );
        let a_file = out.join("layers/bp/a/file");
        let b_file = out.join("layers/bp/b/file");
        assert_eq!(std::fs::read_to_string(&b_file).unwrap(), "b1");
        // `a` unchanged: not unpacked again (a mark in it survives); `b` changed: its old
        // files go, the new ones come.
        std::fs::write(out.join("layers/bp/a/mark"), "").unwrap();
        let b2 = layer(dir.path(), "b2", &[("w/layers/bp/b2/other", "b2")], &[]);
        let stats = install(&image(dir.path(), vec![a, b2]), &out, &moves, None).unwrap();
        assert_eq!(
            stats,
            InstallStats {
                unpacked: 1,
                kept: 1
            }
        );
        assert_eq!(std::fs::read_to_string(&a_file).unwrap(), "a1");
        assert!(out.join("layers/bp/a/mark").exists());
        assert!(!b_file.exists());
        assert!(!out.join("layers/bp/b").exists());
        assert_eq!(
            std::fs::read_to_string(out.join("layers/bp/b2/other")).unwrap(),
            "b2"
        );
    }

    #[test]
    fn without_a_record_everything_is_unpacked_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let moves = image_moves(Path::new("/w/layers"), Path::new("/w/workspace"), &out);
        let a = layer(dir.path(), "a", &[("w/workspace/app", "x")], &[]);
        install(&image(dir.path(), vec![a.clone()]), &out, &moves, None).unwrap();
        std::fs::write(out.join("workspace/stray"), "").unwrap();
        std::fs::remove_file(out.join(IMAGE_META_DIR).join(UNPACKED_FILE)).unwrap();
        let stats = install(&image(dir.path(), vec![a]), &out, &moves, None).unwrap();
        assert_eq!(
            stats,
            InstallStats {
                unpacked: 1,
                kept: 0
            }
        );
        assert!(!out.join("workspace/stray").exists());
        assert!(out.join("workspace/app").exists());
    }

    #[test]
    fn every_entry_created_goes_to_the_owner_and_nothing_else() {
        use std::os::unix::fs::MetadataExt;
        if super::super::user::current_uid() != 0 {
            return; // giving files away needs root
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let moves = image_moves(Path::new("/w/layers"), Path::new("/w/workspace"), &out);
        let a = layer(
            dir.path(),
            "a",
            &[("w/layers/bp/a/file", "a1")],
            &[("w/workspace/link", "/w/layers/bp/a/file")],
        );
        install(
            &image(dir.path(), vec![a]),
            &out,
            &moves,
            Some((65534, 65534)),
        )
        .unwrap();
        for path in [
            "layers",
            "layers/bp",
            "layers/bp/a",
            "layers/bp/a/file",
            "workspace",
            "workspace/link",
        ] {
            let meta = std::fs::symlink_metadata(out.join(path)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534), "{path}");
        }
        // A link into the image is relative, so the tree can be copied to the build paths.
        assert_eq!(
            std::fs::read_link(out.join("workspace/link")).unwrap(),
            Path::new("../layers/bp/a/file")
        );
        assert_eq!(std::fs::metadata(dir.path()).unwrap().uid(), 0);
    }

    #[test]
    fn unpacking_never_writes_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let out = dir.path().join("out");
        let moves = image_moves(Path::new("/w/layers"), Path::new("/w/workspace"), &out);
        // A link to a directory outside, then a file through it.
        let evil = {
            let blob = dir.path().join("evil");
            let mut builder = tar::Builder::new(std::fs::File::create(&blob).unwrap());
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder
                .append_link(&mut header, "w/workspace/link", &outside)
                .unwrap();
            let mut header = tar::Header::new_gnu();
            header.set_size(4);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, "w/workspace/link/pwned", &b"evil"[..])
                .unwrap();
            builder.finish().unwrap();
            oci::Layer {
                blob,
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                digest: "sha256:evil".into(),
            }
        };
        let error = install(&image(dir.path(), vec![evil]), &out, &moves, None).unwrap_err();
        assert!(error.to_string().contains("through the link"), "{error}");
        assert!(!outside.join("pwned").exists());
        // The absolute target is kept as written, not followed nor rewritten.
        assert_eq!(
            std::fs::read_link(out.join("workspace/link")).unwrap(),
            outside
        );
    }

    #[test]
    fn default_process_comes_from_the_entrypoint() {
        assert_eq!(
            default_process_of(&["/cnb/process/web".to_owned()]),
            Some("web".to_owned())
        );
        assert_eq!(
            default_process_of(&["/cnb/lifecycle/launcher".to_owned()]),
            None
        );
        assert_eq!(default_process_of(&[]), None);
    }
}
