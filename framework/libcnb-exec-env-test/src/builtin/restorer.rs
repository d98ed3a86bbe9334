//! The restore phase, and the cache it restores from.
//!
//! Semantics (lifecycle `phase/restorer.go`, `phase/cache.go`):
//! - only layers of buildpacks in the detected group, and only those the cache recorded with
//!   `cache = true`, are restored;
//! - a restored `<layer>.toml` carries the layer's `[metadata]` but **no `[types]`**: the
//!   buildpack must set the types again during build, or the layer is neither exported nor
//!   cached again (that is how layers leave the cache: eviction);
//! - the cache is rewritten after every successful build from the layers marked `cache = true`
//!   at the end of that build.
//!
//! The built-in cache lives in `<cache>/builtin/`: `metadata.toml` (layer types per buildpack)
//! and `layers/<buildpack>/<layer>/` plus `<layer>.toml`. A corrupt or unreadable cache is
//! reported and treated as empty, never a crash. `<cache>/.lock` serializes builds sharing a
//! cache directory.
//!
//! Like the lifecycle, which checks every cached layer's content digest before restoring it,
//! `metadata.toml` records a digest of each cached layer's tree (paths, types, modes, sizes,
//! symlink targets; see [`tree_digest`]). A layer whose files no longer match (truncated,
//! removed, added) is not restored, so the buildpack builds it again instead of trusting
//! broken files. Contents are not hashed (that would cost a full read of every cached layer per
//! build): a same-size corruption inside a file is not detected here, the lifecycle catches it.

use super::{Log, copy_dir, escape_id, remove_path};
use crate::engine::{EngineError, GroupEntry};
use crate::platform::layer_toml::CachedLayer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CACHE_FORMAT: u32 = 2;

/// The layers of the previous image (the last output of the same output directory), moved
/// aside before the new build, for the analyzer's metadata restore and the exporter's reuse.
pub(crate) struct PreviousImage {
    dir: tempfile::TempDir,
}

impl PreviousImage {
    /// Moves `<output>/layers` aside when `<output>` holds an image of the built-in engine.
    pub(crate) fn take(output: &Path) -> Result<Option<Self>, EngineError> {
        let layers = output.join("layers");
        if !output.join("image.toml").is_file() || !layers.is_dir() {
            return Ok(None);
        }
        let parent = output.parent().unwrap_or(output);
        let dir = tempfile::Builder::new()
            .prefix(".previous-image.")
            .tempdir_in(parent)
            .map_err(EngineError::io(format!(
                "cannot create a directory in {}",
                parent.display()
            )))?;
        std::fs::rename(&layers, dir.path().join("layers")).map_err(EngineError::io(format!(
            "cannot move the previous image's layers {} aside",
            layers.display()
        )))?;
        Ok(Some(Self { dir }))
    }

    fn layer_toml(&self, buildpack_id: &str, name: &str) -> Option<toml::Table> {
        let path = self
            .dir
            .path()
            .join("layers")
            .join(escape_id(buildpack_id))
            .join(format!("{name}.toml"));
        toml::from_str(&std::fs::read_to_string(path).ok()?).ok()
    }

    /// The analyzer's metadata restore (`internal/layer/metadata_restorer.go`): for each
    /// `launch = true` layer of the previous image, except `build = true, cache = false` ones and
    /// `cache = true` ones the cache does not hold, `<layer>.toml` without `[types]` and without
    /// its directory; and `store.toml`.
    pub(crate) fn restore_metadata(
        &self,
        group: &[GroupEntry],
        layers_dir: &Path,
        cache: &Cache,
        log: &mut Log,
    ) -> Result<(), EngineError> {
        for entry in group {
            let id = &entry.buildpack.id;
            let from = self.dir.path().join("layers").join(escape_id(id));
            let to = layers_dir.join(escape_id(id));
            let Ok(entries) = std::fs::read_dir(&from) else {
                continue;
            };
            std::fs::create_dir_all(&to)
                .map_err(EngineError::io(format!("cannot create {}", to.display())))?;
            if from.join("store.toml").is_file() {
                std::fs::copy(from.join("store.toml"), to.join("store.toml")).map_err(
                    EngineError::io(format!("cannot restore store.toml of {id}")),
                )?;
            }
            let mut names: Vec<String> = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in names {
                let Some(mut table) = self.layer_toml(id, &name) else {
                    continue;
                };
                let flag = |key: &str| {
                    table
                        .get("types")
                        .and_then(|t| t.get(key))
                        .and_then(toml::Value::as_bool)
                        .unwrap_or(false)
                };
                let (launch, build, cached) = (flag("launch"), flag("build"), flag("cache"));
                if !launch || (build && !cached) {
                    continue;
                }
                if cached && !cache.holds(id, &name) {
                    continue;
                }
                table.remove("types");
                std::fs::write(
                    to.join(format!("{name}.toml")),
                    toml::to_string(&table).unwrap_or_default(),
                )
                .map_err(EngineError::io(format!("cannot write {name}.toml of {id}")))?;
                log.line(&format!(
                    "Restoring metadata for \"{id}:{name}\" from app image"
                ));
            }
        }
        Ok(())
    }

    /// The exporter's reuse (`phase/exporter.go`): a `launch = true` layer without a directory
    /// takes the previous image's layer. `false` when the previous image has none.
    pub(crate) fn reuse(
        &self,
        buildpack_id: &str,
        name: &str,
        target: &Path,
    ) -> std::io::Result<bool> {
        let source = self
            .dir
            .path()
            .join("layers")
            .join(escape_id(buildpack_id))
            .join(name);
        if !source.is_dir() {
            return Ok(false);
        }
        std::fs::rename(&source, target)?;
        Ok(true)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Metadata {
    format: u32,
    #[serde(default)]
    buildpacks: BTreeMap<String, BTreeMap<String, CachedLayer>>,
    /// [`tree_digest`] of each cached layer directory, per buildpack and layer.
    #[serde(default)]
    digests: BTreeMap<String, BTreeMap<String, String>>,
}

/// Whether `name` (a layer name, or a buildpack id once escaped) can only name an entry inside
/// the directory it is joined to: not empty, not `.` or `..`, no `/` and no NUL.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The cache index without entries whose buildpack id or layer name could reach outside the
/// cache or layers directory (an index edited by hand, or written by something else): nothing
/// is ever restored or removed by such a name. Each is named in the log.
fn without_unsafe_names(mut metadata: Metadata, log: &mut Log) -> Metadata {
    metadata.buildpacks.retain(|id, layers| {
        let keep = is_plain_name(&escape_id(id));
        if !keep {
            log.line(&format!(
                "Warning: ignoring the cache entries of buildpack id {id:?}: not a usable buildpack id"
            ));
        }
        layers.retain(|name, _| {
            let keep = is_plain_name(name);
            if !keep {
                log.line(&format!(
                    "Warning: ignoring the cache entry {id}:{name:?}: not a layer name"
                ));
            }
            keep
        });
        keep
    });
    metadata.digests.retain(|id, layers| {
        layers.retain(|name, _| is_plain_name(name));
        is_plain_name(&escape_id(id))
    });
    metadata
}

/// A digest of a directory tree's shape: every entry's relative path, type, permission bits,
/// size (regular files) and target (symlinks), in name order; symlinks are never followed.
/// Changes when a file is truncated, grown, removed, added, renamed or re-linked.
pub(crate) fn tree_digest(dir: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &Path, relative: &Path, hasher: &mut sha2::Sha256) -> std::io::Result<()> {
        let mut entries: Vec<std::fs::DirEntry> =
            std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let name = relative.join(entry.file_name());
            let meta = std::fs::symlink_metadata(&path)?;
            hasher.update(name.as_os_str().as_bytes());
            hasher.update([0]);
            hasher.update(meta.mode().to_le_bytes());
            if meta.file_type().is_symlink() {
                hasher.update(std::fs::read_link(&path)?.as_os_str().as_bytes());
            } else if meta.is_dir() {
                walk(&path, &name, hasher)?;
            } else {
                hasher.update(meta.len().to_le_bytes());
            }
            hasher.update([0]);
        }
        Ok(())
    }
    let mut hasher = sha2::Sha256::new();
    walk(dir, Path::new(""), &mut hasher)?;
    Ok(format!("sha256:{:x}", hasher.finalize()))
}

/// The built-in cache of a cache directory.
pub(crate) struct Cache {
    root: PathBuf,
    metadata: Metadata,
}

/// A layer put in place by the restorer.
#[derive(Clone, Debug)]
pub(crate) struct RestoredLayer {
    pub(crate) buildpack_id: String,
    pub(crate) name: String,
    /// The restored directory's identity, to tell "kept" from "recreated" after the build.
    pub(crate) identity: Option<Identity>,
}

/// What tells a directory from one recreated at the same path: device, inode and birth time
/// (where the file system records it). The inode alone is not enough: a directory deleted and
/// made again at once often gets the same inode number back.
pub(crate) type Identity = (u64, u64, Option<std::time::SystemTime>);

/// The [`Identity`] of a path.
pub(crate) fn identity(path: &Path) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|meta| (meta.dev(), meta.ino(), meta.created().ok()))
}

impl Cache {
    /// Opens `<cache_dir>/builtin`; a corrupt cache is reported and emptied.
    pub(crate) fn open(cache_dir: &Path, log: &mut Log) -> Self {
        let root = cache_dir.join("builtin");
        let path = root.join("metadata.toml");
        let metadata = match std::fs::read_to_string(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                log.line("Layer cache not found");
                Metadata::default()
            }
            Err(error) => {
                log.line(&format!(
                    "Warning: ignoring the unreadable cache {}: {error}",
                    path.display()
                ));
                Metadata::default()
            }
            Ok(text) => match toml::from_str::<Metadata>(&text) {
                Ok(metadata) if metadata.format == CACHE_FORMAT => metadata,
                Ok(metadata) => {
                    log.line(&format!(
                        "Warning: ignoring the cache {}: format {} is not {CACHE_FORMAT}",
                        path.display(),
                        metadata.format
                    ));
                    Metadata::default()
                }
                Err(error) => {
                    log.line(&format!(
                        "Warning: the cache metadata {} is corrupt, starting with an empty cache: {}",
                        path.display(),
                        error.message()
                    ));
                    Metadata::default()
                }
            },
        };
        Self {
            root,
            metadata: without_unsafe_names(metadata, log),
        }
    }

    /// Whether the cache holds this layer as `cache = true`.
    pub(crate) fn holds(&self, buildpack_id: &str, name: &str) -> bool {
        self.metadata
            .buildpacks
            .get(buildpack_id)
            .and_then(|layers| layers.get(name))
            .is_some_and(|layer| layer.cache)
    }

    /// Restores the group's `cache = true` layers into `layers_dir`, `<layer>.toml` without
    /// `[types]`.
    pub(crate) fn restore(
        &self,
        group: &[GroupEntry],
        layers_dir: &Path,
        log: &mut Log,
    ) -> Result<Vec<RestoredLayer>, EngineError> {
        let mut restored = Vec::new();
        for entry in group {
            let id = &entry.buildpack.id;
            let Some(layers) = self.metadata.buildpacks.get(id) else {
                continue;
            };
            let cached_dir = self.root.join("layers").join(escape_id(id));
            let target_dir = layers_dir.join(escape_id(id));
            for (name, types) in layers {
                if !types.cache {
                    continue;
                }
                let source = cached_dir.join(name);
                let toml_path = cached_dir.join(format!("{name}.toml"));
                let content = std::fs::read_to_string(&toml_path)
                    .ok()
                    .and_then(|text| toml::from_str::<toml::Table>(&text).ok());
                let (Some(mut content), true) = (content, source.is_dir()) else {
                    log.line(&format!(
                        "Warning: skipping restore for layer {id}:{name}: its cached files are missing or corrupt"
                    ));
                    continue;
                };
                let recorded = self.metadata.digests.get(id).and_then(|d| d.get(name));
                let found = tree_digest(&source).map_err(|error| error.to_string());
                if recorded.is_none() || found.as_ref().ok() != recorded {
                    log.line(&format!(
                        "Warning: skipping restore for layer {id}:{name}: its cached files changed after they were cached (expected {}, found {})",
                        recorded.map_or("no digest", String::as_str),
                        found.as_deref().unwrap_or_else(|error| error)
                    ));
                    continue;
                }
                // phase/restorer.go: "<layer>.toml files never contain layer types information"
                // at this point; the buildpack sets them again during build.
                content.remove("types");
                let target = target_dir.join(name);
                let io = |what: &str| {
                    EngineError::io(format!("cannot restore layer {id}:{name} ({what})"))
                };
                std::fs::create_dir_all(&target_dir).map_err(io("create dir"))?;
                remove_path(&target).map_err(io("clear target"))?;
                if let Err(error) = copy_dir(&source, &target, &[]) {
                    log.line(&format!(
                        "Warning: skipping restore for layer {id}:{name}: {error}"
                    ));
                    let _ = remove_path(&target);
                    continue;
                }
                let text = toml::to_string(&content).unwrap_or_default();
                std::fs::write(target_dir.join(format!("{name}.toml")), text)
                    .map_err(io("write toml"))?;
                log.line(&format!("Restoring data for \"{id}:{name}\" from cache"));
                restored.push(RestoredLayer {
                    buildpack_id: id.clone(),
                    name: name.clone(),
                    identity: identity(&target),
                });
            }
        }
        Ok(restored)
    }

    /// Replaces the cache with the `cache = true` layers of this build.
    pub(crate) fn save(
        &self,
        layers: &[(String, String, CachedLayer)],
        layers_dir: &Path,
        log: &mut Log,
    ) -> Result<(), EngineError> {
        let staging = self.root.with_file_name("builtin.staging");
        let io = |what: String| EngineError::io(what);
        remove_path(&staging).map_err(io(format!("cannot clear {}", staging.display())))?;
        let mut metadata = Metadata {
            format: CACHE_FORMAT,
            buildpacks: BTreeMap::new(),
            digests: BTreeMap::new(),
        };
        for (id, name, types) in layers {
            if !types.cache {
                continue;
            }
            let from = layers_dir.join(escape_id(id));
            let to = staging.join("layers").join(escape_id(id));
            std::fs::create_dir_all(&to).map_err(io(format!("cannot create {}", to.display())))?;
            if from.join(name).is_dir() {
                copy_dir(&from.join(name), &to.join(name), &[])
                    .map_err(io(format!("cannot cache layer {id}:{name}")))?;
            } else {
                std::fs::create_dir_all(to.join(name))
                    .map_err(io(format!("cannot cache layer {id}:{name}")))?;
            }
            std::fs::copy(
                from.join(format!("{name}.toml")),
                to.join(format!("{name}.toml")),
            )
            .map_err(io(format!("cannot cache layer {id}:{name}.toml")))?;
            let digest = tree_digest(&to.join(name))
                .map_err(io(format!("cannot read the cached layer {id}:{name}")))?;
            metadata
                .digests
                .entry(id.clone())
                .or_default()
                .insert(name.clone(), digest);
            log.line(&format!("Adding cache layer \"{id}:{name}\""));
            metadata
                .buildpacks
                .entry(id.clone())
                .or_default()
                .insert(name.clone(), types.clone());
        }
        std::fs::create_dir_all(&staging)
            .map_err(io(format!("cannot create {}", staging.display())))?;
        let text = toml::to_string(&metadata).unwrap_or_default();
        std::fs::write(staging.join("metadata.toml"), text)
            .map_err(io(format!("cannot write {}", staging.display())))?;
        let old = self.root.with_file_name("builtin.old");
        remove_path(&old).map_err(io(format!("cannot clear {}", old.display())))?;
        if self.root.exists() {
            std::fs::rename(&self.root, &old)
                .map_err(io(format!("cannot replace {}", self.root.display())))?;
        }
        std::fs::rename(&staging, &self.root)
            .map_err(io(format!("cannot replace {}", self.root.display())))?;
        remove_path(&old).map_err(io(format!("cannot remove {}", old.display())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Progress;

    #[test]
    fn layer_names_from_the_cache_index_never_reach_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let cache_dir = tmp.path().join("cache");
        let root = cache_dir.join("builtin");
        std::fs::create_dir_all(&root).unwrap();
        // Something outside the layers directory that a `../` name would replace.
        let outside = tmp.path().join("precious");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("file"), "keep me").unwrap();
        // An entry that passes every other check: cached files, toml and digest in place.
        let source = root.join("precious");
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("file"), "from the cache").unwrap();
        std::fs::write(root.join("precious.toml"), "[metadata]\n").unwrap();
        let digest = tree_digest(&source).unwrap();
        std::fs::write(
            root.join("metadata.toml"),
            format!(
                "format = {CACHE_FORMAT}\n[buildpacks.\"a/b\".\"../../precious\"]\nlaunch = false\nbuild = false\ncache = true\n[buildpacks.\"..\".x]\nlaunch = false\nbuild = false\ncache = true\n[digests.\"a/b\"]\n\"../../precious\" = \"{digest}\"\n"
            ),
        )
        .unwrap();
        let mut log = Log::new(Progress::Quiet);
        let cache = Cache::open(&cache_dir, &mut log);
        let text = log.take();
        assert!(
            text.contains("\"../../precious\": not a layer name")
                && text.contains("buildpack id \"..\""),
            "{text}"
        );
        assert!(!cache.holds("a/b", "../../precious"));
        assert!(!cache.holds("..", "x"));
        // `<layers>/a_b/../../precious` is `<tmp>/precious`.
        let layers = tmp.path().join("l");
        std::fs::create_dir_all(&layers).unwrap();
        let group = vec![GroupEntry {
            buildpack: crate::engine::PackagedBuildpack {
                dir: tmp.path().to_path_buf(),
                id: "a/b".into(),
                version: "1".into(),
                descriptor: libcnb_exec_env::internal::descriptor::BuildpackToml::parse(
                    "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1\"\n",
                    Path::new("buildpack.toml"),
                )
                .unwrap(),
            },
            optional: false,
            exec_env: libcnb_exec_env::ExecEnvSelector::All,
        }];
        let restored = cache.restore(&group, &layers, &mut log).unwrap();
        assert!(restored.is_empty());
        assert_eq!(
            std::fs::read_to_string(outside.join("file")).unwrap(),
            "keep me"
        );
    }

    #[test]
    fn restore_strips_types_and_skips_non_cache_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let cache_dir = tmp.path().join("cache");
        let layers = tmp.path().join("layers");
        let bp_layers = layers.join("a_b");
        std::fs::create_dir_all(bp_layers.join("kept")).unwrap();
        std::fs::write(bp_layers.join("kept/file"), "x").unwrap();
        std::fs::write(
            bp_layers.join("kept.toml"),
            "[types]\ncache = true\n[metadata]\nk = 1\n",
        )
        .unwrap();
        let mut log = Log::new(Progress::Quiet);
        let cache = Cache::open(&cache_dir, &mut log);
        let kept = CachedLayer {
            launch: false,
            build: false,
            cache: true,
        };
        let launch_only = CachedLayer {
            launch: true,
            build: false,
            cache: false,
        };
        cache
            .save(
                &[
                    ("a/b".into(), "kept".into(), kept),
                    ("a/b".into(), "gone".into(), launch_only),
                ],
                &layers,
                &mut log,
            )
            .unwrap();
        let cache = Cache::open(&cache_dir, &mut log);
        assert!(cache.holds("a/b", "kept") && !cache.holds("a/b", "gone"));
        let target = tmp.path().join("new-layers");
        let group = vec![GroupEntry {
            buildpack: crate::engine::PackagedBuildpack {
                dir: tmp.path().to_path_buf(),
                id: "a/b".into(),
                version: "1".into(),
                descriptor: libcnb_exec_env::internal::descriptor::BuildpackToml::parse(
                    "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1\"\n",
                    "bp.toml",
                )
                .unwrap(),
            },
            optional: false,
            exec_env: libcnb_exec_env::ExecEnvSelector::All,
        }];
        let restored = cache.restore(&group, &target, &mut log).unwrap();
        assert_eq!(restored.len(), 1);
        assert_eq!(
            std::fs::read_to_string(target.join("a_b/kept.toml")).unwrap(),
            "[metadata]\nk = 1\n"
        );
        assert_eq!(
            std::fs::read_to_string(target.join("a_b/kept/file")).unwrap(),
            "x"
        );
        // Another buildpack's group restores nothing.
        let mut other = group.clone();
        other[0].buildpack.id = "c/d".into();
        assert!(
            cache
                .restore(&other, &tmp.path().join("x"), &mut log)
                .unwrap()
                .is_empty()
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(
                std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
            ))]

            /// Any `metadata.toml` and cached `<layer>.toml` text: the cache opens (a broken
            /// index counts as empty), restores what it can and skips the rest, never panics.
            #[test]
            fn cache_metadata_and_layer_toml_never_panic(
                index in prop_oneof![
                    any::<String>(),
                    Just("format = 2\n[buildpacks.\"a/b\".l]\nlaunch = true\nbuild = false\ncache = true\n".to_owned()),
                    Just("format = 2\n[buildpacks.\"a/b\".l]\ncache = \"yes\"\n".to_owned()),
                    Just("format = 2\n[digests.\"a/b\"]\nl = 3\n".to_owned()),
                ],
                layer_toml in any::<String>(),
            ) {
                let tmp = tempfile::tempdir().unwrap();
                let cached = tmp.path().join("builtin/layers/a_b");
                std::fs::create_dir_all(cached.join("l")).unwrap();
                std::fs::write(cached.join("l.toml"), &layer_toml).unwrap();
                std::fs::write(tmp.path().join("builtin/metadata.toml"), &index).unwrap();
                let mut log = Log::new(Progress::Quiet);
                let cache = Cache::open(tmp.path(), &mut log);
                let group = vec![GroupEntry {
                    buildpack: crate::engine::PackagedBuildpack {
                        dir: tmp.path().to_path_buf(),
                        id: "a/b".into(),
                        version: "1".into(),
                        descriptor: libcnb_exec_env::internal::descriptor::BuildpackToml::parse(
                            "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1\"\n",
                            "bp.toml",
                        )
                        .unwrap(),
                    },
                    optional: false,
                    exec_env: libcnb_exec_env::ExecEnvSelector::All,
                }];
                let restored = cache.restore(&group, &tmp.path().join("layers"), &mut log).unwrap();
                // Without a matching digest nothing may be restored.
                prop_assert!(restored.is_empty());
            }
        }
    }
}

#[cfg(test)]
#[path = "restorer_fuzz.rs"]
mod index_fuzz;
