//! Tolerant `buildpack.toml` reading: Buildpack API 0.12 keys that `libcnb-data` rejects.
//!
//! `libcnb-data` parses `buildpack.toml` with `deny_unknown_fields`, so an environment
//! declaration makes it fail. This module reads the file as plain TOML first, takes the
//! declarations out, and hands the rest to `libcnb-data`.
//!
//! Two declaration forms are read:
//! - the lifecycle/pack form, `[buildpack] exec-env = ["test"]` (`buildpack/descriptor.go` in
//!   the lifecycle, `pkg/dist/buildmodule.go` in pack): a list of strings;
//! - the spec's form, `[[buildpack.exec-env]]` tables with a `name` key.
//!
//! The lifecycle's TOML decoder fails on the spec's form while it sets up the detector ("failed
//! to initialize detector"), so write only the list form; [`DeclarationForm::SpecTables`] is
//! reported so tools can warn about it.
//!
//! Composite buildpacks may carry `exec-env` on `[[order.group]]` entries; those are read too
//! (the lifecycle does not apply them yet: its group type has no such field).

use crate::exec_env::{ExecEnvError, ExecEnvSelector};
use crate::toml_text::{take_key, value_text};
use libcnb::data::buildpack::{BuildpackApi, ComponentBuildpackDescriptor};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Buildpack API versions this framework runs: 0.10 and 0.11 (nothing a Rust buildpack notices
/// changed) and 0.12 (execution environments).
pub const SUPPORTED_APIS: [(u64, u64); 3] = [(0, 10), (0, 11), (0, 12)];

/// The first Buildpack API that receives `CNB_EXEC_ENV` from the lifecycle.
pub const EXEC_ENV_API: (u64, u64) = (0, 12);

/// How a buildpack.toml wrote its environment declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclarationForm {
    /// `[buildpack] exec-env = ["test"]`, what the lifecycle and pack read.
    StringList,
    /// `[[buildpack.exec-env]] name = "test"`, the spec's text; breaks the lifecycle's detector.
    SpecTables,
}

/// A `buildpack.toml`, read tolerantly.
///
/// `stripped` is the rest of the document: a [`toml::Table`] by default (what tools inspect), or
/// libcnb's typed descriptor when read with [`BuildpackToml::parse_as`] (what the runtime needs:
/// one pass of `toml`'s deserializer, no second one through `toml::Value`).
///
/// ```
/// use libcnb_exec_env::internal::descriptor::{BuildpackToml, DeclarationForm};
/// use libcnb_exec_env::ExecEnv;
///
/// let toml = BuildpackToml::parse(
///     r#"
/// api = "0.12"
/// [buildpack]
/// id = "example/test-report"
/// version = "1.0.0"
/// exec-env = ["test"]
/// "#,
///     "buildpack.toml",
/// )
/// .unwrap();
/// assert_eq!(toml.api_string(), "0.12");
/// assert!(toml.exec_env.matches(&ExecEnv::Test));
/// assert!(!toml.exec_env.matches(&ExecEnv::Production));
/// assert_eq!(toml.declaration_form, Some(DeclarationForm::StringList));
/// let libcnb: libcnb::data::buildpack::ComponentBuildpackDescriptor = toml.component().unwrap();
/// assert_eq!(libcnb.buildpack.id.as_str(), "example/test-report");
/// ```
#[derive(Clone, Debug)]
pub struct BuildpackToml<D = toml::Table> {
    /// The file it was read from.
    pub path: PathBuf,
    /// The `api` value, major and minor.
    pub api: (u64, u64),
    /// The environments the buildpack declares (every one when it declares none).
    pub exec_env: ExecEnvSelector,
    /// How the declaration was written, when there is one.
    pub declaration_form: Option<DeclarationForm>,
    /// For composites: the `exec-env` of each `[[order]]`'s `[[order.group]]` entries, in order.
    pub order_exec_env: Vec<Vec<ExecEnvSelector>>,
    /// The document without the `exec-env` keys: what `libcnb-data` accepts.
    pub stripped: D,
}
/// Why a `buildpack.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// The file cannot be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path} is not valid TOML: {error}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parse error (with line and column).
        #[source]
        error: toml::de::Error,
    },
    /// `api` is missing or not a string.
    #[error("{path}: key `api` must be a string such as \"0.12\", found {found}")]
    MissingApi {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        found: String,
    },
    /// `api` names a version this framework does not run.
    #[error(
        "{path}: key `api` = {value:?} is not supported: this framework runs Buildpack API 0.10, 0.11 and 0.12"
    )]
    UnsupportedApi {
        /// The file.
        path: PathBuf,
        /// The value.
        value: String,
    },
    /// A key has the wrong type.
    #[error("{path}: key `{key}` must be {expected}, found {found}")]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What it must be.
        expected: &'static str,
        /// What was found (as TOML).
        found: String,
    },
    /// An environment name in a declaration is invalid.
    #[error("{path}: key `{key}`: {error}")]
    InvalidExecEnv {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: String,
        /// What is wrong with the name (quotes the value).
        #[source]
        error: ExecEnvError,
    },
    /// `libcnb-data` rejects the rest of the document.
    #[error("{path} is not a valid component buildpack descriptor: {error}")]
    Libcnb {
        /// The file.
        path: PathBuf,
        /// The deserialization error.
        #[source]
        error: toml::de::Error,
    },
}

impl BuildpackToml {
    /// Reads and parses a `buildpack.toml`.
    ///
    /// # Errors
    /// See [`DescriptorError`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, DescriptorError> {
        Self::read_as(path)
    }

    /// Parses the text of a `buildpack.toml`; `path` is used in errors.
    ///
    /// # Errors
    /// See [`DescriptorError`].
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, DescriptorError> {
        Self::parse_as(text, path)
    }

    /// The `libcnb-data` view of the document, without the `exec-env` keys.
    ///
    /// # Errors
    /// [`DescriptorError::Libcnb`] when `libcnb-data` rejects the rest of the document.
    pub fn component<M: DeserializeOwned>(
        &self,
    ) -> Result<ComponentBuildpackDescriptor<M>, DescriptorError> {
        self.stripped
            .clone()
            .try_into()
            .map_err(|error| DescriptorError::Libcnb {
                path: self.path.clone(),
                error,
            })
    }
}

impl<D: DeserializeOwned> BuildpackToml<D> {
    /// Reads a `buildpack.toml` with the rest of the document as `D`.
    ///
    /// # Errors
    /// See [`DescriptorError`].
    pub fn read_as(path: impl AsRef<Path>) -> Result<Self, DescriptorError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| DescriptorError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse_as(&text, path)
    }

    /// Parses a `buildpack.toml` with the rest of the document as `D`, such as libcnb's
    /// `ComponentBuildpackDescriptor`; `path` is used in errors.
    ///
    /// ```
    /// use libcnb::data::buildpack::ComponentBuildpackDescriptor;
    /// use libcnb_exec_env::internal::descriptor::BuildpackToml;
    ///
    /// let text = "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1.0.0\"\nexec-env = [\"test\"]\n";
    /// let parsed: BuildpackToml<ComponentBuildpackDescriptor> =
    ///     BuildpackToml::parse_as(text, "buildpack.toml").unwrap();
    /// assert_eq!(parsed.stripped.buildpack.id.as_str(), "a/b");
    /// ```
    ///
    /// # Errors
    /// See [`DescriptorError`]; [`DescriptorError::Libcnb`] when `D` rejects the rest.
    pub fn parse_as(text: &str, path: impl AsRef<Path>) -> Result<Self, DescriptorError> {
        let path = path.as_ref().to_path_buf();
        let mut root = DeTable::parse(text).map_err(|error| DescriptorError::Toml {
            path: path.clone(),
            error,
        })?;
        let table = root.get_mut();
        let api = parse_api(table, &path)?;

        let (exec_env, declaration_form) = match table
            .get_mut("buildpack")
            .and_then(|value| as_table_mut(value.get_mut()))
            .and_then(|buildpack| take_key(buildpack, "exec-env"))
        {
            None => (ExecEnvSelector::All, None),
            Some(value) => {
                let (selector, form) = parse_declaration(value.get_ref(), &path)?;
                (selector, Some(form))
            }
        };

        let mut order_exec_env = Vec::new();
        if let Some(DeValue::Array(orders)) = table.get_mut("order").map(Spanned::get_mut) {
            for (order_index, order) in orders.iter_mut().enumerate() {
                let mut selectors = Vec::new();
                let groups = as_table_mut(order.get_mut())
                    .and_then(|order| order.get_mut("group"))
                    .and_then(|groups| match groups.get_mut() {
                        DeValue::Array(groups) => Some(groups),
                        _ => None,
                    });
                for (group_index, entry) in groups
                    .into_iter()
                    .flat_map(|groups| groups.iter_mut())
                    .enumerate()
                {
                    let key = format!("order[{order_index}].group[{group_index}].exec-env");
                    let selector = match as_table_mut(entry.get_mut())
                        .and_then(|entry| take_key(entry, "exec-env"))
                    {
                        None => ExecEnvSelector::All,
                        Some(value) => parse_string_list(value.get_ref(), &path, &key)?,
                    };
                    selectors.push(selector);
                }
                order_exec_env.push(selectors);
            }
        }

        let stripped =
            D::deserialize(toml::de::Deserializer::from(root)).map_err(|mut error| {
                error.set_input(Some(text));
                DescriptorError::Libcnb {
                    path: path.clone(),
                    error,
                }
            })?;
        Ok(Self {
            path,
            api,
            exec_env,
            declaration_form,
            order_exec_env,
            stripped,
        })
    }
}

impl<D> BuildpackToml<D> {
    /// The `api` value as written in `major.minor` form.
    #[must_use]
    pub fn api_string(&self) -> String {
        format!("{}.{}", self.api.0, self.api.1)
    }

    /// Whether the lifecycle passes `CNB_EXEC_ENV` to this buildpack (`api >= 0.12`).
    #[must_use]
    pub fn receives_exec_env(&self) -> bool {
        self.api >= EXEC_ENV_API
    }

    /// Whether this framework runs this buildpack's API version.
    #[must_use]
    pub fn is_supported_api(&self) -> bool {
        SUPPORTED_APIS.contains(&self.api)
    }

    /// The `api` as `libcnb-data`'s type.
    #[must_use]
    pub fn libcnb_api(&self) -> BuildpackApi {
        BuildpackApi {
            major: self.api.0,
            minor: self.api.1,
        }
    }
}

fn as_table_mut<'a, 'i>(value: &'a mut DeValue<'i>) -> Option<&'a mut DeTable<'i>> {
    match value {
        DeValue::Table(table) => Some(table),
        _ => None,
    }
}

/// What a key holds, as TOML, for an error message.
fn found(value: Option<&Spanned<DeValue<'_>>>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |value| value_text(value.get_ref()))
}

fn parse_api(table: &DeTable<'_>, path: &Path) -> Result<(u64, u64), DescriptorError> {
    let value = match table.get("api").map(Spanned::get_ref) {
        Some(DeValue::String(value)) => value.to_string(),
        _ => {
            return Err(DescriptorError::MissingApi {
                path: path.to_path_buf(),
                found: found(table.get("api")),
            });
        }
    };
    let unsupported = || DescriptorError::UnsupportedApi {
        path: path.to_path_buf(),
        value: value.clone(),
    };
    let (major, minor) = value.split_once('.').unwrap_or((&value, "0"));
    let api = (
        major.parse::<u64>().map_err(|_| unsupported())?,
        minor.parse::<u64>().map_err(|_| unsupported())?,
    );
    if SUPPORTED_APIS.contains(&api) {
        Ok(api)
    } else {
        Err(unsupported())
    }
}

fn parse_declaration(
    value: &DeValue<'_>,
    path: &Path,
) -> Result<(ExecEnvSelector, DeclarationForm), DescriptorError> {
    const KEY: &str = "buildpack.exec-env";
    let tables = match value {
        DeValue::Array(items)
            if !items.is_empty() && items.iter().all(|item| item.get_ref().is_table()) =>
        {
            items
        }
        _ => {
            return Ok((
                parse_string_list(value, path, KEY)?,
                DeclarationForm::StringList,
            ));
        }
    };
    let mut names = Vec::new();
    for (index, item) in tables.iter().enumerate() {
        let name = item
            .get_ref()
            .as_table()
            .and_then(|table| table.get("name"));
        match name.map(Spanned::get_ref) {
            Some(DeValue::String(name)) => names.push(name.to_string()),
            _ => {
                return Err(DescriptorError::WrongType {
                    path: path.to_path_buf(),
                    key: format!("{KEY}[{index}].name"),
                    expected: "a string",
                    found: found(name),
                });
            }
        }
    }
    let selector =
        ExecEnvSelector::from_names(&names).map_err(|error| DescriptorError::InvalidExecEnv {
            path: path.to_path_buf(),
            key: KEY.to_owned(),
            error,
        })?;
    Ok((selector, DeclarationForm::SpecTables))
}

fn parse_string_list(
    value: &DeValue<'_>,
    path: &Path,
    key: &str,
) -> Result<ExecEnvSelector, DescriptorError> {
    let wrong_type = || DescriptorError::WrongType {
        path: path.to_path_buf(),
        key: key.to_owned(),
        expected: "a list of strings such as [\"test\"]",
        found: value_text(value),
    };
    let DeValue::Array(items) = value else {
        return Err(wrong_type());
    };
    let names = items
        .iter()
        .map(|item| item.get_ref().as_str().ok_or_else(wrong_type))
        .collect::<Result<Vec<_>, _>>()?;
    ExecEnvSelector::from_names(names).map_err(|error| DescriptorError::InvalidExecEnv {
        path: path.to_path_buf(),
        key: key.to_owned(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExecEnv;
    use libcnb::generic::GenericMetadata;

    const HEAD: &str = "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1.0.0\"\n";

    #[test]
    fn both_declaration_forms_are_read() {
        let list = BuildpackToml::parse(
            &format!("{HEAD}exec-env = [\"test\", \"development\"]\n"),
            "bp.toml",
        )
        .unwrap();
        assert_eq!(list.declaration_form, Some(DeclarationForm::StringList));
        assert_eq!(
            list.exec_env,
            ExecEnvSelector::Only(vec![ExecEnv::Test, ExecEnv::Development])
        );
        let tables = BuildpackToml::parse(
            &format!("{HEAD}\n[[buildpack.exec-env]]\nname = \"test\"\n[[buildpack.exec-env]]\nname = \"development\"\n"),
            "bp.toml",
        )
        .unwrap();
        assert_eq!(tables.declaration_form, Some(DeclarationForm::SpecTables));
        assert_eq!(tables.exec_env, list.exec_env);
        for parsed in [list, tables] {
            let descriptor: ComponentBuildpackDescriptor<GenericMetadata> =
                parsed.component().unwrap();
            assert_eq!(descriptor.buildpack.id.as_str(), "a/b");
            assert_eq!(
                descriptor.api,
                BuildpackApi {
                    major: 0,
                    minor: 12
                }
            );
        }
    }

    #[test]
    fn no_declaration_means_every_env() {
        let parsed = BuildpackToml::parse(HEAD, "bp.toml").unwrap();
        assert!(parsed.exec_env.is_all());
        assert_eq!(parsed.declaration_form, None);
        assert!(parsed.receives_exec_env());
    }

    #[test]
    fn apis_are_checked() {
        for (api, receives) in [("0.10", false), ("0.11", false), ("0.12", true)] {
            let parsed = BuildpackToml::parse(&HEAD.replace("0.12", api), "bp.toml").unwrap();
            assert_eq!(parsed.receives_exec_env(), receives, "{api}");
        }
        for api in ["0.9", "0.13", "1.0", "x"] {
            let error =
                BuildpackToml::parse(&HEAD.replace("0.12", api), "dir/buildpack.toml").unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, DescriptorError::UnsupportedApi { .. }),
                "{message}"
            );
            assert!(
                message.contains("dir/buildpack.toml") && message.contains(&format!("{api:?}")),
                "{message}"
            );
        }
        let error = BuildpackToml::parse("api = 12\n", "bp.toml").unwrap_err();
        assert!(
            error.to_string().contains("`api`") && error.to_string().contains("12"),
            "{error}"
        );
    }

    #[test]
    fn wrong_types_name_file_key_and_value() {
        let error =
            BuildpackToml::parse(&format!("{HEAD}exec-env = \"test\"\n"), "bp.toml").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("bp.toml")
                && message.contains("buildpack.exec-env")
                && message.contains("\"test\""),
            "{message}"
        );
        let error =
            BuildpackToml::parse(&format!("{HEAD}exec-env = [1]\n"), "bp.toml").unwrap_err();
        assert!(
            matches!(error, DescriptorError::WrongType { .. }),
            "{error}"
        );
        let error =
            BuildpackToml::parse(&format!("{HEAD}exec-env = [\"a/b\"]\n"), "bp.toml").unwrap_err();
        assert!(error.to_string().contains("\"a/b\""), "{error}");
        let error = BuildpackToml::parse(
            &format!("{HEAD}\n[[buildpack.exec-env]]\nnom = \"x\"\n"),
            "bp.toml",
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("buildpack.exec-env[0].name"),
            "{error}"
        );
        let error = BuildpackToml::parse("api = \"0.12\"\n[buildpack\n", "bp.toml").unwrap_err();
        assert!(matches!(error, DescriptorError::Toml { .. }), "{error}");
        let error = BuildpackToml::read("/nonexistent/buildpack.toml").unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/buildpack.toml"),
            "{error}"
        );
    }

    #[test]
    fn order_group_exec_env_is_read_and_stripped() {
        let parsed = BuildpackToml::parse(
            "api = \"0.12\"\n[buildpack]\nid = \"a/c\"\nversion = \"1.0.0\"\n\
             [[order]]\n[[order.group]]\nid = \"a/b\"\nversion = \"1.0.0\"\nexec-env = [\"test\"]\n\
             [[order.group]]\nid = \"a/d\"\nversion = \"1.0.0\"\n",
            "bp.toml",
        )
        .unwrap();
        assert_eq!(
            parsed.order_exec_env,
            vec![vec![
                ExecEnvSelector::Only(vec![ExecEnv::Test]),
                ExecEnvSelector::All
            ]]
        );
        let composite: libcnb::data::buildpack::CompositeBuildpackDescriptor<GenericMetadata> =
            parsed.stripped.clone().try_into().unwrap();
        assert_eq!(composite.order[0].group.len(), 2);
    }
}
