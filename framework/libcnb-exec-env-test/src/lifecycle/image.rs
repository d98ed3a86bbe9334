//! The exported image on disk: where its paths go on this machine, and putting it back at the
//! build paths for a launch.

use super::files::{copy_tree, remove_dir, write_file};
use super::user;
use crate::engine::{EngineError, Progress};
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
            user.ensure_traversable(&work)?;
        }
        drop(lock);
    }
    Ok((config, image_moves(&layers_dir, &app_dir, &work), work))
}

#[cfg(test)]
mod tests {
    use super::*;

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
