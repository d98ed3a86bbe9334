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
use crate::toml_text;
use libcnb::data::layer::LayerName;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
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

/// The name of the env-scoped layer `name` in `env`: `<base>-<env>`, each part escaped so
/// that the name is always a valid layer name and no two (name, env) pairs share one.
///
/// # The encoding
///
/// - **base**: the layer name with `-` written `%2D` and `%` written `%25`; every other
///   character is kept. So the escaped base holds no `-`.
/// - **separator**: one `-`: the first `-` of an env-scoped name always ends the base.
/// - **env**: ASCII letters, digits, `.`, `-` and `_` kept; every other byte of the name's
///   UTF-8 written `%XX` (upper-case hex): `eu:west` gives `eu%3Awest`. Only those characters
///   and `%` reach the file name, so no `:` (which would split `PATH` when a layer's `bin` is
///   put on it), no shell metacharacters, no non-ASCII.
///
/// Injective: the first `-` splits any name back into the two escaped parts, and both escapes
/// are prefix-free codes with an exact inverse ([`split_env_scoped_name`]). Always valid: the
/// result is not empty, holds a `-` (so it is none of the reserved `build`, `launch`, `store`),
/// and adds no newline to a valid base (libcnb's rule: `^(?!(build|launch|store)$).+$`).
/// So the name is built without running libcnb's validation regex (compiled on every parse,
/// ~1 ms each).
///
/// Names chosen for readability: a base without `-` or `%` in the three standard environments
/// (every layer of the example buildpacks) keeps the name earlier versions gave it:
/// `gems-test`, `node_modules-production`. A base with `-` gets a new name (`go-cache` in
/// `test` is now `go%2Dcache-test`, where it was `go-cache-test`, the name `go` in
/// `cache-test` also had): its next build rebuilds it once, and the old layer is discarded.
///
/// Worst case length: a 64-byte environment of escaped bytes takes 192 bytes, so a base of up
/// to 57 bytes always fits a 255-byte file name with `.toml`; common names take a few bytes.
///
/// ```
/// use libcnb::data::layer_name;
/// use libcnb_exec_env::{layers::env_scoped_name, ExecEnv};
///
/// assert_eq!(env_scoped_name(&layer_name!("gems"), &ExecEnv::Test).as_str(), "gems-test");
/// let staging = "staging_eu".parse().unwrap();
/// assert_eq!(env_scoped_name(&layer_name!("gems"), &staging).as_str(), "gems-staging_eu");
/// // `gems-x` in `test` and `gems` in `x-test` no longer share `gems-x-test`:
/// let x_test = "x-test".parse().unwrap();
/// assert_eq!(env_scoped_name(&layer_name!("gems-x"), &ExecEnv::Test).as_str(), "gems%2Dx-test");
/// assert_eq!(env_scoped_name(&layer_name!("gems"), &x_test).as_str(), "gems-x-test");
/// let colon = "eu:west".parse().unwrap();
/// assert_eq!(env_scoped_name(&layer_name!("gems"), &colon).as_str(), "gems-eu%3Awest");
/// ```
#[must_use]
pub fn env_scoped_name(name: &LayerName, env: &ExecEnv) -> LayerName {
    let base = name.as_str();
    let mut encoded = String::with_capacity(base.len() + 1 + env.as_str().len());
    for c in base.chars() {
        match c {
            '-' => encoded.push_str("%2D"),
            '%' => encoded.push_str("%25"),
            c => encoded.push(c),
        }
    }
    encoded.push('-');
    push_escaped_env(&mut encoded, env);
    debug_assert!(is_valid_layer_name(&encoded), "{encoded:?}");
    // Valid by construction (see above): `new_unchecked` is what libcnb's own `layer_name!`
    // macro uses once it has checked a literal at compile time.
    LayerName::new_unchecked(&encoded)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `env` with every byte outside ASCII letters, digits, `.`, `-`, `_` written `%XX`.
fn push_escaped_env(encoded: &mut String, env: &ExecEnv) {
    for byte in env.as_str().bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'_') {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
}

/// The base name and environment of an env-scoped layer name, when `name` is exactly what
/// [`env_scoped_name`] gives for them (`None` otherwise: a shared layer's name, a name from
/// another encoding, a non-canonical escape such as `%41`).
///
/// ```
/// use libcnb::data::layer_name;
/// use libcnb_exec_env::{layers::split_env_scoped_name, ExecEnv};
///
/// assert_eq!(split_env_scoped_name("gems-test"), Some((layer_name!("gems"), ExecEnv::Test)));
/// assert_eq!(
///     split_env_scoped_name("go%2Dcache-x-test"),
///     Some((layer_name!("go-cache"), "x-test".parse().unwrap()))
/// );
/// assert_eq!(split_env_scoped_name("ruby"), None);
/// assert_eq!(split_env_scoped_name("gems-a%2Fb"), None); // "a/b" is no environment
/// ```
#[must_use]
pub fn split_env_scoped_name(name: &str) -> Option<(LayerName, ExecEnv)> {
    let (base, env) = name.split_once('-')?;
    let base = String::from_utf8(percent_decode(base)?).ok()?;
    let env = ExecEnv::from_str(&String::from_utf8(percent_decode(env)?).ok()?).ok()?;
    if !is_valid_layer_name(&base) {
        return None;
    }
    let base = LayerName::new_unchecked(&base);
    (env_scoped_name(&base, &env).as_str() == name).then_some((base, env))
}

/// A set of environments sharing one cached layer ([`crate::BuildContext::scoped_cached_layer`]):
/// test and development installing the same development dependencies, say.
///
/// Never empty, kept sorted by name and without duplicates, so the same set always gives the
/// same layer name whatever order it was written in.
///
/// ```
/// use libcnb_exec_env::{EnvScope, ExecEnv};
///
/// let scope = EnvScope::of([ExecEnv::Test, ExecEnv::Development, ExecEnv::Test]);
/// assert_eq!(scope.envs(), [ExecEnv::Development, ExecEnv::Test]);
/// assert!(scope.contains(&ExecEnv::Test));
/// assert!(!scope.contains(&ExecEnv::Production));
/// assert_eq!(scope.to_string(), "development, test");
/// assert!(EnvScope::try_from_envs(Vec::new()).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvScope(Vec<ExecEnv>);

/// An [`EnvScope`] needs at least one environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "an environment scope needs at least one environment (a layer of every environment is a shared_cached_layer)"
)]
pub struct EmptyEnvScope;

impl EnvScope {
    /// The scope of these environments; an empty array does not compile.
    ///
    /// ```compile_fail,E0080
    /// let scope = libcnb_exec_env::EnvScope::of([]);
    /// ```
    #[must_use]
    pub fn of<const N: usize>(envs: [ExecEnv; N]) -> Self {
        const { assert!(N > 0, "EnvScope::of needs at least one environment") };
        Self::from_nonempty(envs)
    }

    /// The scope of these environments, for sets only known at run time.
    ///
    /// # Errors
    /// [`EmptyEnvScope`] when `envs` is empty.
    pub fn try_from_envs(envs: impl IntoIterator<Item = ExecEnv>) -> Result<Self, EmptyEnvScope> {
        let scope = Self::from_nonempty(envs);
        if scope.0.is_empty() {
            Err(EmptyEnvScope)
        } else {
            Ok(scope)
        }
    }

    fn from_nonempty(envs: impl IntoIterator<Item = ExecEnv>) -> Self {
        // Sorted and without repeats, by insertion (no sort code in every buildpack binary).
        let mut list: Vec<ExecEnv> = Vec::new();
        for env in envs {
            if let Err(at) = list.binary_search_by(|known| known.as_str().cmp(env.as_str())) {
                list.insert(at, env);
            }
        }
        Self(list)
    }

    /// The environments, sorted by name.
    #[must_use]
    pub fn envs(&self) -> &[ExecEnv] {
        &self.0
    }

    /// Whether `env` is one of them.
    #[must_use]
    pub fn contains(&self, env: &ExecEnv) -> bool {
        self.0.contains(env)
    }

    /// The `exec-env = [...]` selector of these environments.
    #[must_use]
    pub fn selector(&self) -> ExecEnvSelector {
        ExecEnvSelector::only(self.0.iter().cloned())
    }

    /// Whether `selector` names exactly these environments, in any order.
    fn is_selected_by(&self, selector: &ExecEnvSelector) -> bool {
        match selector {
            ExecEnvSelector::All => false,
            ExecEnvSelector::Only(list) => {
                list.len() == self.0.len() && list.iter().all(|env| self.contains(env))
            }
        }
    }
}

impl From<ExecEnv> for EnvScope {
    fn from(env: ExecEnv) -> Self {
        Self(vec![env])
    }
}

impl std::fmt::Display for EnvScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(ExecEnv::as_str).collect();
        f.write_str(&names.join(", "))
    }
}

/// The separator between the environments of a scoped layer's name: `+`, which
/// [`env_scoped_name`] always escapes (`%2B`) inside an environment.
pub const SCOPE_SEPARATOR: char = '+';

/// The name of the layer `name` shared by the environments of `scope`:
/// `<base>-<env>+<env>...`, the base and each environment escaped as in [`env_scoped_name`],
/// the environments sorted by name.
///
/// A scope of one environment gives exactly the env-scoped name (`EnvScope::of([Test])` is
/// `env_cached_layer` in test: the same layer). A scope of two or more always holds a `+` after
/// its first `-`, which no env-scoped name does (an environment's `+` is written `%2B`), so a
/// set-scoped layer never takes the name of an env-scoped one, nor of another set's.
///
/// Length: each environment adds its escaped name and one byte; the standard three together
/// add 26 bytes. A build whose name exceeds the file system's limit (255 bytes with `.toml`)
/// fails with the I/O error naming the layer.
///
/// ```
/// use libcnb::data::layer_name;
/// use libcnb_exec_env::{layers::scoped_name, EnvScope, ExecEnv};
///
/// let dev_and_test = EnvScope::of([ExecEnv::Test, ExecEnv::Development]);
/// assert_eq!(scoped_name(&layer_name!("dev_deps"), &dev_and_test).as_str(), "dev_deps-development+test");
/// assert_eq!(scoped_name(&layer_name!("dev_deps"), &EnvScope::of([ExecEnv::Test])).as_str(), "dev_deps-test");
/// let plus = "a+b".parse().unwrap(); // an environment named `a+b` alone: escaped, no `+`
/// assert_eq!(scoped_name(&layer_name!("x"), &EnvScope::of([plus])).as_str(), "x-a%2Bb");
/// ```
#[must_use]
pub fn scoped_name(name: &LayerName, scope: &EnvScope) -> LayerName {
    let mut envs = scope.envs().iter();
    let Some(first) = envs.next() else {
        // Unreachable: a scope is never empty. The base alone would be the shared layer.
        return name.clone();
    };
    let mut encoded = env_scoped_name(name, first).as_str().to_owned();
    for env in envs {
        encoded.push(SCOPE_SEPARATOR);
        push_escaped_env(&mut encoded, env);
    }
    debug_assert!(is_valid_layer_name(&encoded), "{encoded:?}");
    LayerName::new_unchecked(&encoded)
}

/// The base name and environments of a scoped layer name, when `name` is exactly what
/// [`scoped_name`] (or [`env_scoped_name`], a scope of one) gives for them.
///
/// ```
/// use libcnb::data::layer_name;
/// use libcnb_exec_env::{layers::split_scoped_name, EnvScope, ExecEnv};
///
/// assert_eq!(
///     split_scoped_name("dev_deps-development+test"),
///     Some((layer_name!("dev_deps"), EnvScope::of([ExecEnv::Development, ExecEnv::Test])))
/// );
/// assert_eq!(split_scoped_name("gems-test"), Some((layer_name!("gems"), EnvScope::of([ExecEnv::Test]))));
/// assert_eq!(split_scoped_name("dev_deps-test+development"), None); // not sorted: not ours
/// assert_eq!(split_scoped_name("dev_deps-test+test"), None);
/// ```
#[must_use]
pub fn split_scoped_name(name: &str) -> Option<(LayerName, EnvScope)> {
    let (base, envs) = name.split_once('-')?;
    let base = String::from_utf8(percent_decode(base)?).ok()?;
    if !is_valid_layer_name(&base) {
        return None;
    }
    let mut list = Vec::new();
    for env in envs.split(SCOPE_SEPARATOR) {
        list.push(ExecEnv::from_str(&String::from_utf8(percent_decode(env)?).ok()?).ok()?);
    }
    let base = LayerName::new_unchecked(&base);
    let scope = EnvScope::try_from_envs(list).ok()?;
    (scoped_name(&base, &scope).as_str() == name).then_some((base, scope))
}

/// `%XX` to the byte `0xXX`, other bytes as they are; `None` for a `%` not followed by two
/// hex digits.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    Some(out)
}

/// libcnb-data's layer name rule (`^(?!(build|launch|store)$).+$`: not empty, not a reserved
/// name, no newline, since `.` does not match one) without compiling its regex.
/// `layers::tests` checks it agrees with `LayerName::from_str`.
fn is_valid_layer_name(name: &str) -> bool {
    !name.is_empty() && !matches!(name, "build" | "launch" | "store") && !name.contains('\n')
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

    #[test]
    fn standard_names_are_unchanged_for_plain_bases() {
        for (base, env, expected) in [
            (
                layer_name!("node_modules"),
                ExecEnv::Test,
                "node_modules-test",
            ),
            (layer_name!("gems"), ExecEnv::Production, "gems-production"),
            (
                layer_name!("deps"),
                ExecEnv::Development,
                "deps-development",
            ),
        ] {
            assert_eq!(env_scoped_name(&base, &env).as_str(), expected);
            assert_eq!(split_env_scoped_name(expected), Some((base, env)));
        }
        assert_eq!(
            split_env_scoped_name("%2Dx-test"),
            Some((layer_name!("-x"), ExecEnv::Test))
        );
        for odd in [
            "gems-%41", "gems-%4", "gems-%+1", "gems-%3a", "-test", "gems-*", "gems-%2A", "gems-",
            "gems-%2F",
        ] {
            assert_eq!(split_env_scoped_name(odd), None, "{odd}");
        }
    }

    fn valid_base() -> impl proptest::strategy::Strategy<Value = LayerName> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof!["[a-c%_-]{1,6}", proptest::prelude::any::<String>(),]
            .prop_filter_map("not a layer name", |name| name.parse::<LayerName>().ok())
    }

    fn valid_env() -> impl proptest::strategy::Strategy<Value = ExecEnv> {
        use proptest::strategy::Strategy;
        proptest::prop_oneof![
            "[a-c%:_-]{1,6}",
            "[!-.0-~]{1,64}",
            "[a-zé\u{301}ステ%-]{1,12}",
        ]
        .prop_filter_map("not an environment", |name| name.parse::<ExecEnv>().ok())
    }

    proptest::proptest! {
        #[test]
        fn encoding_is_injective_and_always_a_valid_layer_name(
            base_a in valid_base(), env_a in valid_env(), base_b in valid_base(), env_b in valid_env()
        ) {
            let a = env_scoped_name(&base_a, &env_a);
            let b = env_scoped_name(&base_b, &env_b);
            let parsed = a.as_str().parse::<LayerName>().ok();
            proptest::prop_assert_eq!(parsed.as_ref(), Some(&a));
            proptest::prop_assert_eq!(split_env_scoped_name(&a), Some((base_a.clone(), env_a.clone())));
            proptest::prop_assert_eq!(a == b, (&base_a, &env_a) == (&base_b, &env_b));
            let (_, env_part) = a.split_once('-').unwrap();
            proptest::prop_assert!(
                env_part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-%".contains(&b)),
                "{a}"
            );
        }

        #[test]
        fn scoped_names_are_injective_valid_and_decode_back(
            base_a in valid_base(), envs_a in proptest::collection::vec(valid_env(), 1..4),
            base_b in valid_base(), envs_b in proptest::collection::vec(valid_env(), 1..4),
        ) {
            let scope_a = EnvScope::try_from_envs(envs_a).unwrap();
            let scope_b = EnvScope::try_from_envs(envs_b).unwrap();
            let a = scoped_name(&base_a, &scope_a);
            let b = scoped_name(&base_b, &scope_b);
            let parsed = a.as_str().parse::<LayerName>().ok();
            proptest::prop_assert_eq!(parsed.as_ref(), Some(&a));
            proptest::prop_assert_eq!(split_scoped_name(&a), Some((base_a.clone(), scope_a.clone())));
            proptest::prop_assert_eq!(a == b, (&base_a, &scope_a) == (&base_b, &scope_b));
            // An env-scoped name only for a scope of one.
            proptest::prop_assert_eq!(split_env_scoped_name(&a).is_some(), scope_a.envs().len() == 1);
        }

        #[test]
        fn own_layer_name_rule_agrees_with_libcnb(name in proptest::prop_oneof![
            proptest::prelude::any::<String>(),
            "(build|launch|store|\n|\r|a\nb|x)",
        ]) {
            proptest::prop_assert_eq!(is_valid_layer_name(&name), name.parse::<LayerName>().is_ok());
        }

        #[test]
        fn split_never_panics_and_only_accepts_canonical_names(name in "[a-c%0-9A-F:-]{0,12}") {
            if let Some((base, env)) = split_env_scoped_name(&name) {
                let again = env_scoped_name(&base, &env);
                proptest::prop_assert_eq!(again.as_str(), name.as_str());
            }
        }

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
