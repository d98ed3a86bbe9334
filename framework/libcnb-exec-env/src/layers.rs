//! Env-scoped and shared cached layers, and the retention of other environments' layers.
//!
//! # Why retention needs the framework
//!
//! The lifecycle restores a cached layer's `<layer>.toml` *without* its `[types]` table
//! (`phase/restorer.go`: "`<layer>.toml` files never contain layer types information" at that
//! point); a layer whose buildpack does not set `cache = true` again during build is neither
//! exported nor cached again. A test build never touches `gems-production`, so without help
//! that layer would be dropped and the next production build would reinstall everything.
//!
//! Three kinds of cached layers: env-scoped ([`env_scoped_name`], one environment), set-scoped
//! ([`scoped_name`], an [`EnvScope`] of several), shared (every environment, libcnb's name).
//!
//! So, at the end of every build, the framework looks for env-scoped layers of *other*
//! environments (recognised by `exec-env` inside their `[metadata]`, as the spec writes it) and,
//! per the [`RetentionPolicy`], either marks them `cache = true` only (kept in the cache; not
//! exported, not on the build path of later buildpacks) or deletes them.

use crate::exec_env::{ExecEnv, ExecEnvSelector};
pub use crate::layer_names::{
    EmptyEnvScope, EnvScope, SCOPE_SEPARATOR, env_scoped_name, scoped_name, split_env_scoped_name,
    split_scoped_name,
};
use crate::toml_text;
use libcnb::data::layer::LayerName;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

/// The `[metadata]` key that names a layer's environments.
pub const EXEC_ENV_METADATA_KEY: &str = "exec-env";

/// Files in the layers directory that are not layer metadata.
const NOT_LAYERS: [&str; 3] = ["launch.toml", "build.toml", "store.toml"];

/// What happens to cached env-scoped layers of other environments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RetentionPolicy {
    /// Keep every environment's layers cached (the default: switching environments reinstalls
    /// nothing).
    #[default]
    KeepAll,
    /// Keep only the layers of these environments (besides the current one).
    KeepOnly(Vec<ExecEnv>),
    /// Keep no other environment's layers: the cache holds the current environment only.
    EvictOthers,
}

impl RetentionPolicy {
    fn keeps(&self, env: &ExecEnv) -> bool {
        match self {
            RetentionPolicy::KeepAll => true,
            RetentionPolicy::KeepOnly(list) => list.contains(env),
            RetentionPolicy::EvictOthers => false,
        }
    }
}

/// What the framework did to a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerAction {
    /// A layer of another environment was kept in the cache.
    Retained {
        /// The layer.
        layer: String,
        /// Its environments.
        exec_env: ExecEnvSelector,
    },
    /// A layer of another environment was deleted by the retention policy.
    Evicted {
        /// The layer.
        layer: String,
        /// Its environments.
        exec_env: ExecEnvSelector,
    },
    /// A layer was deleted because its metadata could not be read.
    DiscardedBroken {
        /// The layer.
        layer: String,
        /// Why.
        reason: String,
    },
    /// A cached layer marked with `exec-env` whose name is not the env-scoped name of that
    /// environment (left by an older naming scheme, or edited): deleted, not retained.
    DiscardedStale {
        /// The layer.
        layer: String,
        /// What its metadata claimed.
        exec_env: ExecEnvSelector,
    },
    /// A restored layer under this environment's name claimed another environment.
    DiscardedForeign {
        /// The layer.
        layer: String,
        /// What its metadata claimed.
        exec_env: ExecEnvSelector,
    },
}

impl std::fmt::Display for LayerAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerAction::Retained { layer, exec_env } => {
                write!(
                    f,
                    "Retained layer {layer} of {exec_env} (cached, not exported)"
                )
            }
            LayerAction::Evicted { layer, exec_env } => {
                write!(f, "Evicted layer {layer} of {exec_env} (retention policy)")
            }
            LayerAction::DiscardedBroken { layer, reason } => {
                write!(f, "Discarded layer {layer}: {reason}; it will be rebuilt")
            }
            LayerAction::DiscardedStale { layer, exec_env } => write!(
                f,
                "Discarded layer {layer} of {exec_env}: its name is not this framework's env-scoped name for it (an older naming scheme?)"
            ),
            LayerAction::DiscardedForeign { layer, exec_env } => write!(
                f,
                "Discarded layer {layer}: its metadata says it belongs to {exec_env}; it will be rebuilt"
            ),
        }
    }
}

/// An I/O failure while handling layer metadata.
#[derive(Debug, thiserror::Error)]
#[error("cannot update layer metadata {path}: {error}")]
pub struct LayerFileError {
    /// The file or directory.
    pub path: PathBuf,
    /// The error.
    #[source]
    pub error: std::io::Error,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LayerFileError + '_ {
    move |error| LayerFileError {
        path: path.to_path_buf(),
        error,
    }
}

fn toml_path(layers_dir: &Path, name: &str) -> PathBuf {
    layers_dir.join(format!("{name}.toml"))
}

fn remove_layer(layers_dir: &Path, name: &str) -> Result<(), LayerFileError> {
    let dir = layers_dir.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
    }
    let file = toml_path(layers_dir, name);
    if file.exists() {
        std::fs::remove_file(&file).map_err(io_error(&file))?;
    }
    Ok(())
}

/// The layer's `<layer>.toml` as a table, or why it cannot be read.
enum LayerToml<'i> {
    Missing,
    Broken(String),
    Table(DeTable<'i>),
}

/// Reads `path` into `text` and parses it; the table borrows `text`.
fn read_layer_toml<'i>(path: &Path, text: &'i mut String) -> Result<LayerToml<'i>, LayerFileError> {
    match std::fs::read_to_string(path) {
        Ok(read) => *text = read,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LayerToml::Missing);
        }
        Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
            return Ok(LayerToml::Broken(format!(
                "{} is not valid UTF-8",
                path.display()
            )));
        }
        Err(error) => return Err(io_error(path)(error)),
    }
    let text: &'i String = text;
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(error) => {
            return Ok(LayerToml::Broken(format!(
                "{} is not valid TOML: {}",
                path.display(),
                error.message()
            )));
        }
    };
    let root = root.into_inner();
    Ok(match layer_shape_error(&root) {
        None => LayerToml::Table(root),
        Some(error) => {
            LayerToml::Broken(format!("{} is not layer metadata: {error}", path.display()))
        }
    })
}

/// What stops libcnb from reading this `<layer>.toml` (`types` a table of the booleans
/// `launch`, `build`, `cache`; `metadata` a table; no other keys): anything else would fail the
/// whole build inside libcnb instead of discarding this one layer. Checked on the parse tree,
/// not by a second deserializer (see `toml_text`).
fn layer_shape_error(root: &DeTable<'_>) -> Option<String> {
    for (key, value) in root {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("metadata", DeValue::Table(_)) => {}
            ("types", DeValue::Table(types)) => {
                for (key, value) in types {
                    match (key.get_ref().as_ref(), value.get_ref()) {
                        ("launch" | "build" | "cache", DeValue::Boolean(_)) => {}
                        ("launch" | "build" | "cache", other) => {
                            return Some(format!(
                                "types.{} = {} is not a boolean",
                                key.get_ref(),
                                toml_text::value_text(other)
                            ));
                        }
                        (other, _) => {
                            return Some(format!(
                                "unknown key types.{other}, expected `launch`, `build` or `cache`"
                            ));
                        }
                    }
                }
            }
            ("metadata" | "types", other) => {
                return Some(format!(
                    "{} = {} is not a table",
                    key.get_ref(),
                    toml_text::value_text(other)
                ));
            }
            (other, _) => {
                return Some(format!(
                    "unknown key {other}, expected `types` or `metadata`"
                ));
            }
        }
    }
    None
}

fn write_layer_toml(path: &Path, table: &DeTable<'_>) -> Result<(), LayerFileError> {
    std::fs::write(path, toml_text::document(table)).map_err(io_error(path))
}

/// A value written by this framework (no place in a source text).
fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn as_table_mut<'a, 'i>(value: &'a mut DeValue<'i>) -> Option<&'a mut DeTable<'i>> {
    match value {
        DeValue::Table(table) => Some(table),
        _ => None,
    }
}

/// The `exec-env` of a layer table's `[metadata]`: `None` when absent, `Err` when malformed.
fn metadata_exec_env(table: &DeTable<'_>) -> Option<Result<ExecEnvSelector, String>> {
    let DeValue::Table(metadata) = table.get("metadata")?.get_ref() else {
        return None;
    };
    let value = metadata.get(EXEC_ENV_METADATA_KEY)?.get_ref();
    let names = match value {
        DeValue::Array(items) => items
            .iter()
            .map(|item| item.get_ref().as_str())
            .collect::<Option<Vec<_>>>(),
        _ => None,
    };
    let quoted = || toml_text::value_text(value);
    Some(match names {
        None => Err(format!(
            "[metadata] {EXEC_ENV_METADATA_KEY} = {}: expected a list of strings",
            quoted()
        )),
        Some(names) => ExecEnvSelector::from_names(names)
            .map_err(|error| format!("[metadata] {EXEC_ENV_METADATA_KEY} = {}: {error}", quoted())),
    })
}

/// Readies a restored layer before libcnb sees it: a broken `<layer>.toml` deletes the layer
/// (only that layer); for env-scoped layers (`env` given) the `exec-env` key is checked against
/// `env` and taken out, so the author's metadata type never sees it.
///
/// # Errors
/// I/O errors other than the file being absent.
pub(crate) fn prepare_layer(
    layers_dir: &Path,
    name: &LayerName,
    env: Option<&ExecEnv>,
) -> Result<Option<LayerAction>, LayerFileError> {
    prepare_scoped_layer(layers_dir, name, env.cloned().map(EnvScope::from).as_ref())
}

/// [`prepare_layer`] for a layer of a set of environments: its `exec-env` must name exactly
/// the environments of `scope`, in any order.
///
/// # Errors
/// I/O errors other than the file being absent.
pub(crate) fn prepare_scoped_layer(
    layers_dir: &Path,
    name: &LayerName,
    scope: Option<&EnvScope>,
) -> Result<Option<LayerAction>, LayerFileError> {
    let path = toml_path(layers_dir, name.as_str());
    let mut text = String::new();
    let mut table = match read_layer_toml(&path, &mut text)? {
        LayerToml::Missing => return Ok(None),
        LayerToml::Broken(reason) => {
            remove_layer(layers_dir, name.as_str())?;
            return Ok(Some(LayerAction::DiscardedBroken {
                layer: name.to_string(),
                reason,
            }));
        }
        LayerToml::Table(table) => table,
    };
    let Some(scope) = scope else { return Ok(None) };
    match metadata_exec_env(&table) {
        None => Ok(None),
        Some(Err(reason)) => {
            remove_layer(layers_dir, name.as_str())?;
            Ok(Some(LayerAction::DiscardedBroken {
                layer: name.to_string(),
                reason,
            }))
        }
        Some(Ok(selector)) if !scope.is_selected_by(&selector) => {
            remove_layer(layers_dir, name.as_str())?;
            Ok(Some(LayerAction::DiscardedForeign {
                layer: name.to_string(),
                exec_env: selector,
            }))
        }
        Some(Ok(_)) => {
            if let Some(metadata) = table
                .get_mut("metadata")
                .and_then(|metadata| as_table_mut(metadata.get_mut()))
            {
                toml_text::take_key(metadata, EXEC_ENV_METADATA_KEY);
            }
            write_layer_toml(&path, &table)?;
            Ok(None)
        }
    }
}

/// Writes `exec-env = [env]` into the `[metadata]` of an env-scoped layer used in this build;
/// for a layer of a set of environments (its name decodes to one, [`split_scoped_name`]),
/// `exec-env` lists the set.
///
/// # Errors
/// I/O errors; a layer that libcnb deleted (no `<layer>.toml`) is skipped.
pub(crate) fn mark_env_layer(
    layers_dir: &Path,
    name: &LayerName,
    env: &ExecEnv,
) -> Result<(), LayerFileError> {
    let path = toml_path(layers_dir, name.as_str());
    let mut text = String::new();
    let LayerToml::Table(mut table) = read_layer_toml(&path, &mut text)? else {
        return Ok(());
    };
    let metadata = table
        .entry(spanned(Cow::Borrowed("metadata")))
        .or_insert_with(|| spanned(DeValue::Table(DeTable::new())));
    if let Some(metadata) = as_table_mut(metadata.get_mut()) {
        let envs = match split_scoped_name(name.as_str()) {
            Some((_, scope)) => scope.envs().to_vec(),
            None => vec![env.clone()],
        };
        let mut list = DeArray::new();
        for env in &envs {
            list.push(spanned(DeValue::String(Cow::Owned(env.to_string()))));
        }
        metadata.insert(
            spanned(Cow::Borrowed(EXEC_ENV_METADATA_KEY)),
            spanned(DeValue::Array(list)),
        );
    }
    write_layer_toml(&path, &table)
}

/// Keeps or evicts the env-scoped layers of environments other than `env`, per `policy`.
/// Layers in `used` (touched by this build) are left alone.
///
/// # Errors
/// I/O errors while rewriting or deleting layers.
pub(crate) fn retain_other_envs(
    layers_dir: &Path,
    env: &ExecEnv,
    used: &[LayerName],
    policy: &RetentionPolicy,
) -> Result<Vec<LayerAction>, LayerFileError> {
    let mut actions = Vec::new();
    let entries = match std::fs::read_dir(layers_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(actions),
        Err(error) => return Err(io_error(layers_dir)(error)),
    };
    // In name order, inserted in place: a sort would add its own code to every buildpack binary.
    let mut names: Vec<String> = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Ok(file) = entry.file_name().into_string() else {
            continue;
        };
        if NOT_LAYERS.contains(&file.as_str()) {
            continue;
        }
        if let Some(name) = file.strip_suffix(".toml").filter(|name| !name.is_empty()) {
            if let Err(at) = names.binary_search_by(|known| known.as_str().cmp(name)) {
                names.insert(at, name.to_owned());
            }
        }
    }
    for name in names {
        if used.iter().any(|used| used.as_str() == name) {
            continue;
        }
        let path = toml_path(layers_dir, &name);
        let mut text = String::new();
        let LayerToml::Table(mut table) = read_layer_toml(&path, &mut text)? else {
            continue;
        };
        let Some(Ok(selector)) = metadata_exec_env(&table) else {
            continue;
        };
        if selector.matches(env) {
            continue;
        }
        // An env-scoped layer is one whose name decodes to an environment (or a set of them,
        // [`scoped_name`]) and whose metadata names those same environments. Anything else
        // carrying `exec-env` (a name from an older encoding such as `go-cache-test`, a
        // hand-edited file) is not kept forever.
        let scope = match split_scoped_name(&name) {
            Some((_, scope)) if scope.is_selected_by(&selector) => scope,
            _ => {
                remove_layer(layers_dir, &name)?;
                actions.push(LayerAction::DiscardedStale {
                    layer: name,
                    exec_env: selector,
                });
                continue;
            }
        };
        // A layer of several environments is kept while the policy keeps any of them.
        if scope.envs().iter().any(|env| policy.keeps(env)) {
            let mut types = DeTable::new();
            for (key, value) in [("launch", false), ("build", false), ("cache", true)] {
                types.insert(
                    spanned(Cow::Borrowed(key)),
                    spanned(DeValue::Boolean(value)),
                );
            }
            table.insert(
                spanned(Cow::Borrowed("types")),
                spanned(DeValue::Table(types)),
            );
            write_layer_toml(&path, &table)?;
            actions.push(LayerAction::Retained {
                layer: name,
                exec_env: selector,
            });
        } else {
            remove_layer(layers_dir, &name)?;
            actions.push(LayerAction::Evicted {
                layer: name,
                exec_env: selector,
            });
        }
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcnb::data::layer_name;

    fn write(dir: &Path, name: &str, toml: &str) {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("marker"), "x").unwrap();
        std::fs::write(dir.join(format!("{name}.toml")), toml).unwrap();
    }

    #[test]
    fn broken_layer_toml_deletes_only_that_layer() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "gems-test", "[metadata\n");
        write(dir.path(), "ruby", "[metadata]\nversion = \"3.1\"\n");
        let action =
            prepare_layer(dir.path(), &layer_name!("gems-test"), Some(&ExecEnv::Test)).unwrap();
        assert!(
            matches!(action, Some(LayerAction::DiscardedBroken { ref reason, .. }) if reason.contains("gems-test.toml")),
            "{action:?}"
        );
        assert!(!dir.path().join("gems-test").exists());
        assert!(dir.path().join("ruby/marker").exists());
        assert_eq!(
            prepare_layer(dir.path(), &layer_name!("ruby"), None).unwrap(),
            None
        );
    }

    #[test]
    fn foreign_env_under_this_name_is_discarded_and_own_key_is_stripped() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "gems-test",
            "[metadata]\nexec-env = [\"production\"]\n",
        );
        let action =
            prepare_layer(dir.path(), &layer_name!("gems-test"), Some(&ExecEnv::Test)).unwrap();
        assert!(matches!(action, Some(LayerAction::DiscardedForeign { .. })));
        assert!(!dir.path().join("gems-test").exists());

        write(
            dir.path(),
            "gems-test",
            "[metadata]\nexec-env = [\"test\"]\nlock = \"abc\"\n",
        );
        assert_eq!(
            prepare_layer(dir.path(), &layer_name!("gems-test"), Some(&ExecEnv::Test)).unwrap(),
            None
        );
        let text = std::fs::read_to_string(dir.path().join("gems-test.toml")).unwrap();
        assert!(
            !text.contains("exec-env") && text.contains("lock = \"abc\""),
            "{text}"
        );
        mark_env_layer(dir.path(), &layer_name!("gems-test"), &ExecEnv::Test).unwrap();
        let text = std::fs::read_to_string(dir.path().join("gems-test.toml")).unwrap();
        assert!(text.contains("exec-env = [\"test\"]"), "{text}");
    }

    #[test]
    fn retention_keeps_or_evicts_other_envs_only() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "gems-production",
            "[metadata]\nexec-env = [\"production\"]\n",
        );
        write(
            dir.path(),
            "gems-development",
            "[metadata]\nexec-env = [\"development\"]\n",
        );
        write(
            dir.path(),
            "gems-test",
            "[metadata]\nexec-env = [\"test\"]\n",
        );
        write(dir.path(), "ruby", "[metadata]\n");
        std::fs::write(dir.path().join("launch.toml"), "").unwrap();
        let actions = retain_other_envs(
            dir.path(),
            &ExecEnv::Test,
            &[],
            &RetentionPolicy::KeepOnly(vec![ExecEnv::Production]),
        )
        .unwrap();
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert!(
            matches!(&actions[0], LayerAction::Evicted { layer, .. } if layer == "gems-development")
        );
        assert!(
            matches!(&actions[1], LayerAction::Retained { layer, .. } if layer == "gems-production")
        );
        assert!(!dir.path().join("gems-development").exists());
        let kept: toml::Table = toml::from_str(
            &std::fs::read_to_string(dir.path().join("gems-production.toml")).unwrap(),
        )
        .unwrap();
        assert_eq!(kept["types"]["cache"].as_bool(), Some(true));
        assert_eq!(kept["types"]["launch"].as_bool(), Some(false));
        assert_eq!(kept["types"]["build"].as_bool(), Some(false));
        assert!(dir.path().join("gems-test/marker").exists());
        let untouched = std::fs::read_to_string(dir.path().join("gems-test.toml")).unwrap();
        assert!(!untouched.contains("types"));
    }

    #[test]
    fn retention_decodes_names_and_discards_stale_ones() {
        let dir = tempfile::tempdir().unwrap();
        // `gems-x` in test and `gems` in x-test: two layers now, where both were `gems-x-test`.
        let x_test: ExecEnv = "x-test".parse().unwrap();
        let gems_x_test = env_scoped_name(&layer_name!("gems-x"), &ExecEnv::Test);
        let gems_in_x_test = env_scoped_name(&layer_name!("gems"), &x_test);
        assert_ne!(gems_x_test, gems_in_x_test);
        write(
            dir.path(),
            &gems_x_test,
            "[metadata]\nexec-env = [\"test\"]\n",
        );
        write(
            dir.path(),
            &gems_in_x_test,
            "[metadata]\nexec-env = [\"x-test\"]\n",
        );
        // Left by the old `<name>-<env>` scheme: `go-cache` in test.
        write(
            dir.path(),
            "go-cache-test",
            "[metadata]\nexec-env = [\"test\"]\n",
        );
        let staging: ExecEnv = "staging_eu".parse().unwrap();
        let actions = retain_other_envs(
            dir.path(),
            &staging,
            &[],
            &RetentionPolicy::KeepOnly(vec![ExecEnv::Test]),
        )
        .unwrap();
        let described: Vec<String> = actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            described,
            [
                "Retained layer gems%2Dx-test of test (cached, not exported)",
                "Evicted layer gems-x-test of x-test (retention policy)",
                "Discarded layer go-cache-test of test: its name is not this framework's env-scoped name for it (an older naming scheme?)",
            ]
        );
        assert!(!dir.path().join("go-cache-test").exists());
        assert!(!dir.path().join("gems-x-test").exists());
        assert!(dir.path().join("gems%2Dx-test/marker").exists());
    }

    proptest::proptest! {
        #[test]
        fn layer_metadata_handling_never_panics_and_never_keeps_a_wrong_env(text in proptest::prelude::any::<String>(), env in "(test|production|[a-z]{1,5})") {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "gems-test", &text);
            let action = prepare_layer(dir.path(), &layer_name!("gems-test"), Some(&ExecEnv::Test));
            let kept = dir.path().join("gems-test.toml").exists();
            if let Ok(table) = DeTable::parse(&std::fs::read_to_string(dir.path().join("gems-test.toml")).unwrap_or_default()) {
                proptest::prop_assert!(!kept || metadata_exec_env(table.get_ref()).is_none(), "key stripped or layer gone");
            }
            proptest::prop_assert!(action.is_ok());
            let doc = format!("[metadata]\nexec-env = [{env:?}]\n");
            write(dir.path(), "gems-test", &doc);
            let action = prepare_layer(dir.path(), &layer_name!("gems-test"), Some(&ExecEnv::Test)).unwrap();
            proptest::prop_assert_eq!(action.is_none(), env == "test");
            proptest::prop_assert_eq!(dir.path().join("gems-test/marker").exists(), env == "test");
        }
    }
}
