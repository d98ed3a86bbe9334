//! The execution environment (`CNB_EXEC_ENV`) and the `exec-env = [...]` selector lists.
//!
//! # Validation rule
//!
//! The spec forbids only `/` in an environment name; the lifecycle passes any string through;
//! pack limits `pack build --exec-env` to ASCII letters, digits, `.` and `-` (RFC 0134's
//! wording). A platform is free to send more (`staging_eu`, `eu:west`, `QA+1`), so this crate
//! accepts every *printable* name the spec allows and refuses only what cannot be meant:
//!
//! - `/` (the spec reserves it for namespacing),
//! - the empty string (the lifecycle reads it as unset; [`crate::ResolvedExecEnv`] does too),
//! - whitespace, control characters and other characters that print as nothing or as
//!   something else (Unicode format characters such as U+200B or U+202E, unassigned code
//!   points: what Rust's `str::escape_debug` escapes; a combining mark only after another
//!   character), so the name in a log is the name,
//! - exactly `*`, the wildcard of `exec-env = ["*"]`: an environment of that name could not be
//!   told apart from "every environment" in the lists that name it,
//! - more than [`MAX_EXEC_ENV_LEN`] bytes (64: a name is a label, and every byte may cost three
//!   in an env-scoped layer's file name, see [`crate::layers::env_scoped_name`]),
//! - invalid UTF-8.
//!
//! A name pack would refuse ([`ExecEnv::is_pack_compatible`] is false) is accepted; the
//! runtime prints a warning naming pack's rule. Names are case-sensitive, as in the lifecycle:
//! `Test` is not `test`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The longest environment name accepted, in bytes.
pub const MAX_EXEC_ENV_LEN: usize = 64;

/// The wildcard of `exec-env = ["*"]`: every environment.
pub const WILDCARD: &str = "*";

/// An execution environment, as named by `CNB_EXEC_ENV`.
///
/// ```
/// use libcnb_exec_env::ExecEnv;
///
/// let env: ExecEnv = "test".parse().unwrap();
/// assert_eq!(env, ExecEnv::Test);
/// assert_eq!(env.to_string(), "test");
///
/// let custom: ExecEnv = "staging.eu-1".parse().unwrap();
/// assert_eq!(custom.as_str(), "staging.eu-1");
/// assert!("a/b".parse::<ExecEnv>().is_err());
/// assert_eq!("staging_eu".parse::<ExecEnv>().unwrap().as_str(), "staging_eu");
/// assert!("te st".parse::<ExecEnv>().is_err());
/// assert_eq!(ExecEnv::default(), ExecEnv::Production);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExecEnv {
    /// `production`, the default when nothing sets an environment.
    #[default]
    Production,
    /// `test`: test dependencies and a `test` process.
    Test,
    /// `development`: development dependencies and tools.
    Development,
    /// Any other valid name, such as `staging`.
    Other(OtherExecEnv),
}

/// A validated environment name that is none of the three standard ones.
///
/// Only [`ExecEnv::from_str`] creates it, so it is always valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OtherExecEnv(String);

impl OtherExecEnv {
    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not a valid environment name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecEnvError {
    /// The value is empty.
    #[error(
        "the execution environment is empty: expected a name such as \"production\" or \"test\""
    )]
    Empty,
    /// The value is longer than [`MAX_EXEC_ENV_LEN`].
    #[error(
        "the execution environment {value:?} is {len} bytes long: at most {MAX_EXEC_ENV_LEN} are allowed"
    )]
    TooLong {
        /// The value, as given.
        value: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The value holds `/`, which the spec reserves for namespacing.
    #[error(
        "the execution environment {value:?} contains '/', which the spec reserves and forbids"
    )]
    Slash {
        /// The value, as given.
        value: String,
    },
    /// The value is exactly `*`, the wildcard of `exec-env = ["*"]`.
    #[error(
        "the execution environment {value:?} is the wildcard of `exec-env = [\"*\"]` (every environment), not a name"
    )]
    Wildcard {
        /// The value, as given.
        value: String,
    },
    /// The value holds whitespace, a control character or another character that does not
    /// print as itself.
    #[error(
        "the execution environment {value:?} contains {character:?} at byte {position}: whitespace, control and invisible characters are not allowed"
    )]
    InvalidCharacter {
        /// The value, as given.
        value: String,
        /// The first offending character.
        character: char,
        /// Its byte offset.
        position: usize,
    },
    /// The value is not valid UTF-8 (shown lossily).
    #[error("the execution environment {value:?} is not valid UTF-8")]
    NotUnicode {
        /// The value, with invalid bytes replaced by U+FFFD.
        value: String,
    },
}

impl ExecEnv {
    /// The name, as written in `CNB_EXEC_ENV`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            ExecEnv::Production => "production",
            ExecEnv::Test => "test",
            ExecEnv::Development => "development",
            ExecEnv::Other(other) => other.as_str(),
        }
    }

    /// Parses a name that may not be UTF-8, such as an environment variable's value.
    ///
    /// # Errors
    /// [`ExecEnvError::NotUnicode`] for invalid UTF-8, else what [`str::parse`] returns.
    pub fn from_os_str(value: &std::ffi::OsStr) -> Result<Self, ExecEnvError> {
        value.to_str().map_or_else(
            || {
                Err(ExecEnvError::NotUnicode {
                    value: value.to_string_lossy().into_owned(),
                })
            },
            str::parse,
        )
    }

    /// Whether pack would accept this name for `pack build --exec-env` ([`PACK_RULE`]: ASCII
    /// letters, digits, `.` and `-`). Other names are valid here, as in the spec and the
    /// lifecycle, but a user cannot give them with pack's flag.
    ///
    /// ```
    /// use libcnb_exec_env::ExecEnv;
    ///
    /// assert!(ExecEnv::Test.is_pack_compatible());
    /// assert!("staging.eu-1".parse::<ExecEnv>().unwrap().is_pack_compatible());
    /// assert!(!"staging_eu".parse::<ExecEnv>().unwrap().is_pack_compatible());
    /// ```
    #[must_use]
    pub fn is_pack_compatible(&self) -> bool {
        self.as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    }

    /// Whether this is [`ExecEnv::Production`].
    #[must_use]
    pub fn is_production(&self) -> bool {
        *self == ExecEnv::Production
    }
}

impl FromStr for ExecEnv {
    type Err = ExecEnvError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        validate(value)?;
        Ok(match value {
            "production" => ExecEnv::Production,
            "test" => ExecEnv::Test,
            "development" => ExecEnv::Development,
            other => ExecEnv::Other(OtherExecEnv(other.to_owned())),
        })
    }
}

fn validate(value: &str) -> Result<(), ExecEnvError> {
    if value.is_empty() {
        return Err(ExecEnvError::Empty);
    }
    if value.len() > MAX_EXEC_ENV_LEN {
        return Err(ExecEnvError::TooLong {
            value: value.to_owned(),
            len: value.len(),
        });
    }
    if value.contains('/') {
        return Err(ExecEnvError::Slash {
            value: value.to_owned(),
        });
    }
    if value == WILDCARD {
        return Err(ExecEnvError::Wildcard {
            value: value.to_owned(),
        });
    }
    match value
        .char_indices()
        .find(|&(position, c)| !is_printable(c, position == 0))
    {
        Some((position, character)) => Err(ExecEnvError::InvalidCharacter {
            value: value.to_owned(),
            character,
            position,
        }),
        None => Ok(()),
    }
}

/// Whether `c` prints as itself in a name: ASCII graphic characters, and other characters that
/// are neither whitespace nor control and that Rust's `str::escape_debug` leaves as they are (its table of
/// printable characters: no format characters, no unassigned or private-use code points; a
/// combining mark only after another character).
fn is_printable(c: char, first: bool) -> bool {
    if c.is_ascii() {
        return c.is_ascii_graphic();
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    let mut sample = String::with_capacity(5);
    if !first {
        sample.push('a');
    }
    sample.push(c);
    sample.escape_debug().count() == sample.chars().count()
}

/// What pack accepts for `pack build --exec-env`: ASCII letters, digits, `.` and `-`.
pub const PACK_RULE: &str = "ASCII letters, digits, '.' and '-'";

impl fmt::Display for ExecEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ExecEnv {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ExecEnv {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// The meaning of an `exec-env = [...]` list on a process, layer or buildpack.
///
/// Follows the lifecycle (`launch/process.go`): an absent or empty list and a list holding
/// `"*"` select every environment; otherwise only the listed ones.
///
/// ```
/// use libcnb_exec_env::{ExecEnv, ExecEnvSelector};
///
/// let only_test = ExecEnvSelector::only([ExecEnv::Test]);
/// assert!(only_test.matches(&ExecEnv::Test));
/// assert!(!only_test.matches(&ExecEnv::Production));
///
/// let any: ExecEnvSelector = toml::from_str::<toml::Table>(r#"e = ["*", "test"]"#).unwrap()["e"]
///     .clone()
///     .try_into()
///     .unwrap();
/// assert_eq!(any, ExecEnvSelector::All);
/// assert!(any.matches(&ExecEnv::Development));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ExecEnvSelector {
    /// Every environment (absent list, empty list, or `"*"`).
    #[default]
    All,
    /// Only these environments (never empty).
    Only(Vec<ExecEnv>),
}

impl ExecEnvSelector {
    /// A selector for exactly these environments; an empty iterator gives [`ExecEnvSelector::All`].
    pub fn only(envs: impl IntoIterator<Item = ExecEnv>) -> Self {
        let mut list: Vec<ExecEnv> = Vec::new();
        for env in envs {
            if !list.contains(&env) {
                list.push(env);
            }
        }
        if list.is_empty() {
            ExecEnvSelector::All
        } else {
            ExecEnvSelector::Only(list)
        }
    }

    /// Whether `env` is selected.
    #[must_use]
    pub fn matches(&self, env: &ExecEnv) -> bool {
        match self {
            ExecEnvSelector::All => true,
            ExecEnvSelector::Only(list) => list.contains(env),
        }
    }

    /// Whether this selects every environment.
    #[must_use]
    pub fn is_all(&self) -> bool {
        *self == ExecEnvSelector::All
    }

    /// The list to write: `None` for every environment (the key is then left out, as the spec
    /// says for unrestricted entries), else the names.
    #[must_use]
    pub fn to_list(&self) -> Option<Vec<String>> {
        match self {
            ExecEnvSelector::All => None,
            ExecEnvSelector::Only(list) => Some(list.iter().map(ToString::to_string).collect()),
        }
    }

    /// Reads a list of names with the lifecycle's semantics.
    ///
    /// # Errors
    /// The first name that is neither `"*"` nor a valid environment name.
    pub fn from_names<S: AsRef<str>>(
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, ExecEnvError> {
        let mut envs = Vec::new();
        let mut wildcard = false;
        for name in names {
            let name = name.as_ref();
            if name == WILDCARD {
                wildcard = true;
            } else {
                envs.push(name.parse::<ExecEnv>()?);
            }
        }
        Ok(if wildcard {
            ExecEnvSelector::All
        } else {
            ExecEnvSelector::only(envs)
        })
    }
}

impl fmt::Display for ExecEnvSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecEnvSelector::All => f.write_str("every environment"),
            ExecEnvSelector::Only(list) => {
                let names: Vec<&str> = list.iter().map(ExecEnv::as_str).collect();
                f.write_str(&names.join(", "))
            }
        }
    }
}

impl Serialize for ExecEnvSelector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.to_list() {
            Some(list) => list.serialize(serializer),
            None => [WILDCARD].serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ExecEnvSelector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        ExecEnvSelector::from_names(names).map_err(serde::de::Error::custom)
    }
}

impl From<ExecEnv> for ExecEnvSelector {
    fn from(env: ExecEnv) -> Self {
        ExecEnvSelector::Only(vec![env])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_names_parse_to_their_variants() {
        assert_eq!("production".parse(), Ok(ExecEnv::Production));
        assert_eq!("test".parse(), Ok(ExecEnv::Test));
        assert_eq!("development".parse(), Ok(ExecEnv::Development));
        let other: ExecEnv = "Test".parse().unwrap();
        assert!(
            matches!(other, ExecEnv::Other(_)),
            "names are case-sensitive"
        );
    }

    #[test]
    fn pack_charset_accepted() {
        for ok in ["staging", "a.b-c", "X9", &"a".repeat(MAX_EXEC_ENV_LEN)] {
            let env: ExecEnv = ok.parse().unwrap();
            assert_eq!(env.as_str(), ok);
            assert!(env.is_pack_compatible(), "{ok}");
        }
    }

    #[test]
    fn printable_names_beyond_pack_are_accepted_but_not_pack_compatible() {
        for ok in [
            "staging_eu",
            "eu:west",
            "QA+1",
            "a*b",
            "**",
            "tést",
            "te\u{301}st",
            "\"quoted\"",
            "~$%!@#",
            "ステージ",
        ] {
            let env: ExecEnv = ok.parse().unwrap_or_else(|error| panic!("{ok:?}: {error}"));
            assert_eq!(env.as_str(), ok);
            assert!(matches!(env, ExecEnv::Other(_)));
            assert!(!env.is_pack_compatible(), "{ok}");
        }
    }

    #[test]
    fn bad_values_are_rejected_with_the_value_quoted() {
        assert_eq!("".parse::<ExecEnv>(), Err(ExecEnvError::Empty));
        let slash = "a/b".parse::<ExecEnv>().unwrap_err();
        assert_eq!(
            slash,
            ExecEnvError::Slash {
                value: "a/b".into()
            }
        );
        assert!(slash.to_string().contains("\"a/b\""));
        for (value, character, position) in [
            (" test", ' ', 0),
            ("test\n", '\n', 4),
            ("te\u{7}st", '\u{7}', 2),
            ("te\u{a0}st", '\u{a0}', 2),
            ("te\u{200b}st", '\u{200b}', 2),
            ("te\u{202e}st", '\u{202e}', 2),
            ("\u{301}test", '\u{301}', 0),
            ("te\u{85}st", '\u{85}', 2),
            ("te\u{e000}", '\u{e000}', 2),
        ] {
            assert_eq!(
                value.parse::<ExecEnv>(),
                Err(ExecEnvError::InvalidCharacter {
                    value: value.into(),
                    character,
                    position
                }),
                "{value:?}"
            );
        }
        assert_eq!(
            "*".parse::<ExecEnv>(),
            Err(ExecEnvError::Wildcard { value: "*".into() })
        );
        let long = "a".repeat(MAX_EXEC_ENV_LEN + 1);
        let error = long.parse::<ExecEnv>().unwrap_err();
        assert!(matches!(error, ExecEnvError::TooLong { len, .. } if len == MAX_EXEC_ENV_LEN + 1));
    }

    #[test]
    fn non_utf8_is_rejected() {
        use std::os::unix::ffi::OsStrExt;
        let raw = std::ffi::OsStr::from_bytes(b"te\xffst");
        assert_eq!(
            ExecEnv::from_os_str(raw),
            Err(ExecEnvError::NotUnicode {
                value: "te\u{fffd}st".into()
            })
        );
    }

    #[test]
    fn serde_round_trip() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Doc {
            env: ExecEnv,
            sel: ExecEnvSelector,
        }
        let doc = Doc {
            env: "qa-1".parse().unwrap(),
            sel: ExecEnvSelector::only([ExecEnv::Test, ExecEnv::Development]),
        };
        let text = toml::to_string(&doc).unwrap();
        assert_eq!(text, "env = \"qa-1\"\nsel = [\"test\", \"development\"]\n");
        assert_eq!(toml::from_str::<Doc>(&text).unwrap(), doc);
        let error = toml::from_str::<Doc>("env = \"a/b\"\nsel = []").unwrap_err();
        assert!(error.to_string().contains("a/b"), "{error}");
    }

    #[test]
    fn selector_semantics_follow_the_lifecycle() {
        let empty = ExecEnvSelector::from_names(Vec::<String>::new()).unwrap();
        assert!(empty.matches(&ExecEnv::Production) && empty.is_all());
        let star = ExecEnvSelector::from_names(["test", "*"]).unwrap();
        assert!(star.matches(&ExecEnv::Production));
        let test = ExecEnvSelector::from_names(["test", "test"]).unwrap();
        assert_eq!(test, ExecEnvSelector::Only(vec![ExecEnv::Test]));
        assert!(!test.matches(&ExecEnv::Production));
        assert!(ExecEnvSelector::from_names(["te st"]).is_err());
        assert_eq!(test.to_list(), Some(vec!["test".to_owned()]));
        assert_eq!(ExecEnvSelector::All.to_list(), None);
    }
}
