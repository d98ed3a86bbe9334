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
//! `metadata.toml` records a digest of each cached layer's tree: paths, types, modes, sizes and
//! modification times of files, symlink targets ([`Snapshot::digest`]). A layer whose files no
//! longer match (truncated, rewritten, removed, added) is not restored, so the buildpack builds
//! it again instead of trusting broken files. Contents are not hashed (that would cost a full
//! read of every cached layer per build): a corruption that keeps a file's size and time is not
//! detected here, the lifecycle catches it.
//!
//! Layers are moved, never copied, between the cache, the previous image and the layers
//! directory whenever one copy is enough (see [`Cache::restore`] and [`Cache::save`]): a
//! rebuild costs what it changed, plus a stat walk of each restored layer.
//!
//! A layer both exported and cached (`launch = true, cache = true`) is hard-linked into the
//! cache when launches are isolated ([`super::isolation`]): no launched process can write into
//! the image, so the image's files stay what was cached. Where launches are not isolated, it is
//! copied, and image and cache share no inode. Nothing writes into shared files in place:
//! [`sync_changes`] replaces the entries it writes; a cached layer whose files another image
//! shares is copied out, not moved, before a build may write into it ([`Source::CacheCopy`]);
//! and a cached layer shared with the previous image of the same output is taken from that
//! image, which the build replaces anyway.

use super::{Log, escape_id, isolation, remove_path};
use crate::engine::{EngineError, GroupEntry};
use crate::platform::layer_toml::CachedLayer;
use crate::platform::tree_stat::{
    Changes, Snapshot, copy_dir_keeping_times, link_tree, move_tree, sync_changes,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub(crate) use super::previous_image::PreviousImage;

const CACHE_FORMAT: u32 = 3;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Metadata {
    format: u32,
    #[serde(default)]
    buildpacks: BTreeMap<String, BTreeMap<String, CachedLayer>>,
    /// The portable digest ([`Snapshot::digest`]) of each cached layer directory, per
    /// buildpack and layer.
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

/// The built-in cache of a cache directory.
pub(crate) struct Cache {
    root: PathBuf,
    metadata: Metadata,
    /// The index entries (types, digest) of the layers this build moved out of the cache, so
    /// that a failed build can put them back ([`Cache::put_back`]).
    departed: BTreeMap<(String, String), (CachedLayer, String)>,
}

/// Where a restored layer's files came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Moved out of the cache: the cache (and its index) no longer hold the layer until the
    /// export puts it back.
    Cache,
    /// Moved from the previous image, whose copy had the cache's digest; the cache's copy
    /// stays where it is, still indexed.
    Image,
    /// Copied out of the cache, whose files another image shares (hard links an isolated
    /// export made): a build writing into them in place would change that image. The cache's
    /// copy stays where it is, still indexed.
    CacheCopy,
}

/// A layer put in place by the restorer.
#[derive(Clone, Debug)]
pub(crate) struct RestoredLayer {
    pub(crate) buildpack_id: String,
    pub(crate) name: String,
    /// The restored directory's identity, to tell "kept" from "recreated" after the build.
    pub(crate) identity: Option<Identity>,
    /// Where its files came from.
    pub(crate) source: Source,
    /// Its stat snapshot as restored, to tell what the build changed in it.
    pub(crate) snapshot: Snapshot,
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

/// A layer the export found as the restorer left it (`id`, `name`).
pub(crate) type Unchanged = BTreeSet<(String, String)>;

/// What the export does with one `cache = true` layer.
enum Save {
    /// The cache's copy is the layer as it still is: nothing to do.
    Keep { digest: String },
    /// The cache's copy gets the entries the build changed.
    Sync { changes: Changes, after: Snapshot },
    /// The layer moves into the cache (not in the image).
    Move { after: Snapshot },
    /// The layer is copied into the cache (it stays in the image too).
    Copy,
    /// Only `<layer>.toml`: the cache gets an empty directory.
    Empty,
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
            departed: BTreeMap::new(),
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

    /// Writes the index as it is now (a new file renamed over the old one: never half
    /// written).
    fn write_index(&self) -> Result<(), EngineError> {
        let io = |what: &str| EngineError::io(format!("cannot {what} {}", self.root.display()));
        std::fs::create_dir_all(&self.root).map_err(io("create"))?;
        let mut metadata = Metadata {
            format: CACHE_FORMAT,
            buildpacks: self.metadata.buildpacks.clone(),
            digests: self.metadata.digests.clone(),
        };
        metadata.buildpacks.retain(|_, layers| !layers.is_empty());
        metadata.digests.retain(|_, layers| !layers.is_empty());
        let text = toml::to_string(&metadata).unwrap_or_default();
        let temporary = self.root.join("metadata.toml.new");
        std::fs::write(&temporary, text).map_err(io("write the index of"))?;
        std::fs::rename(&temporary, self.root.join("metadata.toml"))
            .map_err(io("write the index of"))
    }

    fn forget(&mut self, buildpack_id: &str, name: &str) {
        if let Some(layers) = self.metadata.buildpacks.get_mut(buildpack_id) {
            layers.remove(name);
        }
        if let Some(digests) = self.metadata.digests.get_mut(buildpack_id) {
            digests.remove(name);
        }
    }

    /// Restores the group's `cache = true` layers into `layers_dir`, `<layer>.toml` without
    /// `[types]`.
    ///
    /// Nothing is copied: a layer whose previous-image copy has the cache's digest is moved
    /// from the previous image (the cache keeps its own); any other is moved out of the cache
    /// (renamed; copied only across file systems), after the index stops naming it, so an
    /// interrupted build leaves a cache without it, never an index naming a missing layer.
    #[allow(clippy::too_many_lines)] // one decision per layer, then the moves
    pub(crate) fn restore(
        &mut self,
        group: &[GroupEntry],
        layers_dir: &Path,
        previous: Option<&PreviousImage>,
        log: &mut Log,
    ) -> Result<Vec<RestoredLayer>, EngineError> {
        struct Planned {
            id: String,
            name: String,
            content: toml::Table,
            source: Source,
            from: PathBuf,
            snapshot: Snapshot,
        }
        let mut planned = Vec::new();
        for entry in group {
            let id = &entry.buildpack.id;
            let Some(layers) = self.metadata.buildpacks.get(id) else {
                continue;
            };
            let cached_dir = self.root.join("layers").join(escape_id(id));
            for (name, types) in layers {
                if !types.cache {
                    continue;
                }
                let source = cached_dir.join(name);
                let toml_path = cached_dir.join(format!("{name}.toml"));
                let content = std::fs::read_to_string(&toml_path)
                    .ok()
                    .and_then(|text| toml::from_str::<toml::Table>(&text).ok());
                let (Some(content), true) = (content, source.is_dir()) else {
                    log.line(&format!(
                        "Warning: skipping restore for layer {id}:{name}: its cached files are missing or corrupt"
                    ));
                    continue;
                };
                let recorded = self.metadata.digests.get(id).and_then(|d| d.get(name));
                let cached = Snapshot::take(&source).map_err(|error| error.to_string());
                let found: Result<String, String> =
                    cached.as_ref().map(Snapshot::digest).map_err(Clone::clone);
                let cached = match (recorded, cached) {
                    (Some(recorded), Ok(cached)) if found.as_ref() == Ok(recorded) => cached,
                    _ => {
                        log.line(&format!(
                            "Warning: skipping restore for layer {id}:{name}: its cached files changed after they were cached (expected {}, found {})",
                            recorded.map_or("no digest", String::as_str),
                            found.as_deref().unwrap_or_else(|error| error)
                        ));
                        continue;
                    }
                };
                // The previous image's copy, when it has the same files: the cache keeps its own.
                let from_image = previous
                    .map(|previous| previous.layer_dir(id, name))
                    .filter(|dir| dir.is_dir())
                    .and_then(|dir| {
                        let snapshot = Snapshot::take(&dir).ok()?;
                        (Some(&snapshot.digest()) == recorded).then_some((dir, snapshot))
                    });
                let (source, from, snapshot) = match from_image {
                    Some((dir, snapshot)) => (Source::Image, dir, snapshot),
                    None if cached.links_outside() => (Source::CacheCopy, source, cached),
                    None => (Source::Cache, source, cached),
                };
                planned.push(Planned {
                    id: id.clone(),
                    name: name.clone(),
                    content,
                    source,
                    from,
                    snapshot,
                });
            }
        }
        let leaving: Vec<(String, String)> = planned
            .iter()
            .filter(|plan| plan.source == Source::Cache)
            .map(|plan| (plan.id.clone(), plan.name.clone()))
            .collect();
        if !leaving.is_empty() {
            for (id, name) in &leaving {
                let types = self.metadata.buildpacks.get(id).and_then(|l| l.get(name));
                let digest = self.metadata.digests.get(id).and_then(|d| d.get(name));
                if let (Some(types), Some(digest)) = (types, digest) {
                    self.departed
                        .insert((id.clone(), name.clone()), (types.clone(), digest.clone()));
                }
                self.forget(id, name);
            }
            self.write_index()?;
        }
        let mut restored = Vec::new();
        for mut plan in planned {
            let (id, name) = (&plan.id, &plan.name);
            // phase/restorer.go: "<layer>.toml files never contain layer types information"
            // at this point; the buildpack sets them again during build.
            plan.content.remove("types");
            let target_dir = layers_dir.join(escape_id(id));
            let target = target_dir.join(name);
            let io =
                |what: &str| EngineError::io(format!("cannot restore layer {id}:{name} ({what})"));
            std::fs::create_dir_all(&target_dir).map_err(io("create dir"))?;
            remove_path(&target).map_err(io("clear target"))?;
            let placed = if plan.source == Source::CacheCopy {
                copy_dir_keeping_times(&plan.from, &target).map(|()| false)
            } else {
                move_tree(&plan.from, &target)
            };
            let snapshot = match placed {
                Ok(true) => plan.snapshot,
                Ok(false) => Snapshot::take(&target).map_err(io("read the copy"))?,
                Err(error) => {
                    log.line(&format!(
                        "Warning: skipping restore for layer {id}:{name}: {error}"
                    ));
                    let _ = remove_path(&target);
                    continue;
                }
            };
            let text = toml::to_string(&plan.content).unwrap_or_default();
            std::fs::write(target_dir.join(format!("{name}.toml")), text)
                .map_err(io("write toml"))?;
            log.line(&format!("Restoring data for \"{id}:{name}\" from cache"));
            restored.push(RestoredLayer {
                buildpack_id: plan.id.clone(),
                name: plan.name.clone(),
                identity: identity(&target),
                source: plan.source,
                snapshot,
            });
        }
        Ok(restored)
    }

    /// After a failed build: moves the layers this build took out of the cache back into it,
    /// when the build left their files as restored, so that a failed build leaves the cache as
    /// it found it (the lifecycle writes no cache for a failed build). A layer the build
    /// changed stays out of the cache and is built again next time.
    ///
    /// # Errors
    /// The index cannot be written.
    pub(crate) fn put_back(
        &mut self,
        restored: &[RestoredLayer],
        layers_dir: &Path,
        log: &mut Log,
    ) -> Result<(), EngineError> {
        let mut returned = false;
        for layer in restored
            .iter()
            .filter(|layer| layer.source == Source::Cache)
        {
            let key = (layer.buildpack_id.clone(), layer.name.clone());
            let Some((types, digest)) = self.departed.remove(&key) else {
                continue;
            };
            let (id, name) = (&layer.buildpack_id, &layer.name);
            let dir = layers_dir.join(escape_id(id)).join(name);
            if !Snapshot::take(&dir).is_ok_and(|now| now.digest() == digest) {
                log.line(&format!(
                    "Not returning layer {id}:{name} to the cache: the failed build changed it"
                ));
                continue;
            }
            let target = self.root.join("layers").join(escape_id(id)).join(name);
            match move_tree(&dir, &target) {
                Ok(_) => {
                    self.record(id, name, &types, digest);
                    returned = true;
                }
                Err(error) => log.line(&format!(
                    "Not returning layer {id}:{name} to the cache: {error}"
                )),
            }
        }
        if returned {
            self.write_index()?;
        }
        Ok(())
    }

    /// Makes the cache hold exactly the `cache = true` layers of this build, and returns the
    /// restored layers the build left unchanged.
    ///
    /// Costs what the build changed: a layer the previous image provided and the build left
    /// alone stays as cached; one it changed gets only the changed entries; a layer moved out
    /// of the cache moves back (linked or copied when the image keeps it too); new layers the
    /// image keeps are hard-linked whole (copied where launches are not isolated). While it runs, `builtin.staging` exists beside
    /// the cache and the index names only the layers left untouched; it is written whole at
    /// the end, and anything it does not name is removed.
    #[allow(clippy::too_many_lines)] // one decision per layer, then the writes
    pub(crate) fn save(
        &mut self,
        layers: &[(String, String, CachedLayer)],
        restored: &[RestoredLayer],
        layers_dir: &Path,
        log: &mut Log,
    ) -> Result<Unchanged, EngineError> {
        let staging = self.root.with_file_name("builtin.staging");
        let io = |what: String| EngineError::io(what);
        remove_path(&staging).map_err(io(format!("cannot clear {}", staging.display())))?;
        std::fs::create_dir_all(&staging)
            .map_err(io(format!("cannot create {}", staging.display())))?;
        // Leftovers of the format before this one (a staged copy of the whole cache).
        let _ = remove_path(&self.root.with_file_name("builtin.old"));

        // Decide, from stat snapshots only.
        let mut unchanged = Unchanged::new();
        let mut plans = Vec::new();
        for (id, name, types) in layers.iter().filter(|(_, _, types)| types.cache) {
            let dir = layers_dir.join(escape_id(id)).join(name);
            let read = |error: std::io::Error| EngineError::Io {
                context: format!("cannot read layer {id}:{name}"),
                error,
            };
            let kept = restored
                .iter()
                .find(|layer| &layer.buildpack_id == id && &layer.name == name)
                .filter(|layer| layer.identity.is_some() && layer.identity == identity(&dir));
            let plan = if !dir.is_dir() {
                Save::Empty
            } else if let Some(layer) = kept {
                let after = Snapshot::take(&dir).map_err(read)?;
                let changes = layer.snapshot.changes(&after);
                if changes.is_empty() {
                    unchanged.insert((id.clone(), name.clone()));
                }
                match (layer.source, changes.is_empty(), types.launch) {
                    (Source::Image | Source::CacheCopy, true, _) => Save::Keep {
                        digest: after.digest(),
                    },
                    (Source::Image | Source::CacheCopy, false, _) => Save::Sync { changes, after },
                    (Source::Cache, _, false) => Save::Move { after },
                    (Source::Cache, _, true) => Save::Copy,
                }
            } else if types.launch {
                Save::Copy
            } else {
                Save::Move {
                    after: Snapshot::take(&dir).map_err(read)?,
                }
            };
            plans.push((id, name, types, plan));
        }

        // The index names only what stays untouched while the cache is written.
        self.metadata = Metadata {
            format: CACHE_FORMAT,
            buildpacks: BTreeMap::new(),
            digests: BTreeMap::new(),
        };
        for (id, name, types, plan) in &plans {
            if let Save::Keep { digest } = plan {
                self.record(id, name, types, digest.clone());
            }
        }
        self.write_index()?;

        for (id, name, types, plan) in plans {
            let from = layers_dir.join(escape_id(id));
            let to_dir = self.root.join("layers").join(escape_id(id));
            let target = to_dir.join(name);
            let failed =
                |what: &str| EngineError::io(format!("cannot cache layer {id}:{name} ({what})"));
            std::fs::create_dir_all(&to_dir).map_err(failed("create dir"))?;
            let digest = match plan {
                Save::Keep { digest } => {
                    log.line(&format!("Reusing cache layer '{id}:{name}'"));
                    digest
                }
                Save::Sync { changes, after } => {
                    sync_changes(&from.join(name), &target, &changes, &after)
                        .map_err(failed("write the changed files"))?;
                    log.line(&format!("Adding cache layer '{id}:{name}'"));
                    after.digest()
                }
                Save::Move { after } => {
                    remove_path(&target).map_err(failed("clear"))?;
                    let renamed = move_tree(&from.join(name), &target).map_err(failed("move"))?;
                    let digest = if renamed {
                        after.digest()
                    } else {
                        Snapshot::take(&target).map_err(failed("read"))?.digest()
                    };
                    let verb = if unchanged.contains(&(id.clone(), name.clone())) {
                        "Reusing"
                    } else {
                        "Adding"
                    };
                    log.line(&format!("{verb} cache layer '{id}:{name}'"));
                    digest
                }
                Save::Copy => {
                    let staged = staging.join(format!("{}-{name}", escape_id(id)));
                    // Launches are isolated: the image's files never change after this, so
                    // the cache can share them (no byte copied). Otherwise, a copy.
                    // (Across file systems, a copy too.)
                    let linked = isolation::available()
                        && match link_tree(&from.join(name), &staged) {
                            Ok(()) => true,
                            Err(error) if error.kind() == std::io::ErrorKind::CrossesDevices => {
                                remove_path(&staged).map_err(failed("clear"))?;
                                false
                            }
                            Err(error) => return Err(failed("link")(error)),
                        };
                    if !linked {
                        copy_dir_keeping_times(&from.join(name), &staged)
                            .map_err(failed("copy"))?;
                    }
                    remove_path(&target).map_err(failed("clear"))?;
                    std::fs::rename(&staged, &target).map_err(failed("move the copy"))?;
                    let verb = if unchanged.contains(&(id.clone(), name.clone())) {
                        "Reusing"
                    } else {
                        "Adding"
                    };
                    log.line(&format!("{verb} cache layer '{id}:{name}'"));
                    Snapshot::take(&target).map_err(failed("read"))?.digest()
                }
                Save::Empty => {
                    remove_path(&target).map_err(failed("clear"))?;
                    std::fs::create_dir_all(&target).map_err(failed("create"))?;
                    log.line(&format!("Adding cache layer '{id}:{name}'"));
                    Snapshot::default().digest()
                }
            };
            std::fs::copy(
                from.join(format!("{name}.toml")),
                to_dir.join(format!("{name}.toml")),
            )
            .map_err(failed("<layer>.toml"))?;
            self.record(id, name, types, digest);
        }

        self.sweep()
            .map_err(io(format!("cannot clean {}", self.root.display())))?;
        self.write_index()?;
        remove_path(&staging).map_err(io(format!("cannot remove {}", staging.display())))?;
        Ok(unchanged)
    }

    fn record(&mut self, id: &str, name: &str, types: &CachedLayer, digest: String) {
        self.metadata
            .digests
            .entry(id.to_owned())
            .or_default()
            .insert(name.to_owned(), digest);
        self.metadata
            .buildpacks
            .entry(id.to_owned())
            .or_default()
            .insert(name.to_owned(), types.clone());
    }

    /// Removes from `<cache>/builtin/layers` everything the index does not name.
    fn sweep(&self) -> std::io::Result<()> {
        let layers = self.root.join("layers");
        let Ok(buildpacks) = std::fs::read_dir(&layers) else {
            return Ok(());
        };
        for buildpack in buildpacks {
            let buildpack = buildpack?;
            let escaped = buildpack.file_name().to_string_lossy().into_owned();
            let names = self
                .metadata
                .buildpacks
                .iter()
                .find(|(id, _)| escape_id(id) == escaped)
                .map(|(_, layers)| layers);
            let Some(names) = names else {
                remove_path(&buildpack.path())?;
                continue;
            };
            for entry in std::fs::read_dir(buildpack.path())? {
                let entry = entry?;
                let file = entry.file_name().to_string_lossy().into_owned();
                let layer = file.strip_suffix(".toml").unwrap_or(&file);
                if !names.contains_key(layer) {
                    remove_path(&entry.path())?;
                }
            }
        }
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
        let digest = Snapshot::take(&source).unwrap().digest();
        std::fs::write(
            root.join("metadata.toml"),
            format!(
                "format = {CACHE_FORMAT}\n[buildpacks.\"a/b\".\"../../precious\"]\nlaunch = false\nbuild = false\ncache = true\n[buildpacks.\"..\".x]\nlaunch = false\nbuild = false\ncache = true\n[digests.\"a/b\"]\n\"../../precious\" = \"{digest}\"\n"
            ),
        )
        .unwrap();
        let mut log = Log::new(Progress::Quiet);
        let mut cache = Cache::open(&cache_dir, &mut log);
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
        let restored = cache.restore(&group, &layers, None, &mut log).unwrap();
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
        let mut cache = Cache::open(&cache_dir, &mut log);
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
                &[],
                &layers,
                &mut log,
            )
            .unwrap();
        let mut cache = Cache::open(&cache_dir, &mut log);
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
        let restored = cache.restore(&group, &target, None, &mut log).unwrap();
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
                .restore(&other, &tmp.path().join("x"), None, &mut log)
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
                    Just("format = 3\n[buildpacks.\"a/b\".l]\nlaunch = true\nbuild = false\ncache = true\n".to_owned()),
                    Just("format = 3\n[buildpacks.\"a/b\".l]\ncache = \"yes\"\n".to_owned()),
                    Just("format = 3\n[digests.\"a/b\"]\nl = 3\n".to_owned()),
                ],
                layer_toml in any::<String>(),
            ) {
                let tmp = tempfile::tempdir().unwrap();
                let cached = tmp.path().join("builtin/layers/a_b");
                std::fs::create_dir_all(cached.join("l")).unwrap();
                std::fs::write(cached.join("l.toml"), &layer_toml).unwrap();
                std::fs::write(tmp.path().join("builtin/metadata.toml"), &index).unwrap();
                let mut log = Log::new(Progress::Quiet);
                let mut cache = Cache::open(tmp.path(), &mut log);
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
                let restored = cache.restore(&group, &tmp.path().join("layers"), None, &mut log).unwrap();
                // Without a matching digest nothing may be restored.
                prop_assert!(restored.is_empty());
            }
        }
    }
}

#[cfg(test)]
#[path = "restorer_fuzz.rs"]
mod index_fuzz;
