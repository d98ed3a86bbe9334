//! The names of env-scoped and set-scoped layers: `<base>-<env>` and `<base>-<env>+<env>`,
//! escaped so that a name is always a valid layer name and no two (layer, environments) pairs
//! share one. [`crate::layers`] re-exports everything here.

use crate::exec_env::{ExecEnv, ExecEnvSelector};
use libcnb::data::layer::LayerName;
use std::str::FromStr;

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
    pub(crate) fn is_selected_by(&self, selector: &ExecEnvSelector) -> bool {
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
/// `layer_names::tests` checks it agrees with `LayerName::from_str`.
pub(crate) fn is_valid_layer_name(name: &str) -> bool {
    !name.is_empty() && !matches!(name, "build" | "launch" | "store") && !name.contains('\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcnb::data::layer_name;

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
    }
}
