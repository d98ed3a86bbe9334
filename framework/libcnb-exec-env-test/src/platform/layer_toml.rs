//! Reading a `<layer>.toml`'s types as the lifecycle does: one rule for every engine.

use crate::results::LayerState;
use libcnb_exec_env::{ExecEnv, ExecEnvSelector};
use serde::{Deserialize, Serialize};

/// The types of a cached layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedLayer {
    pub(crate) launch: bool,
    pub(crate) build: bool,
    pub(crate) cache: bool,
}

/// The `[types]` of a `<layer>.toml`, as the lifecycle decodes them
/// (`buildpack/layermetadata.go` `Decode`): `launch`, `build` or `cache` at the top level fail
/// the build ("should be in the types table"), and so does a `types` that is not a table or a
/// flag that is not a boolean (its TOML decoder's type error). Other keys are ignored. As in
/// the lifecycle's TOML decoder (`BurntSushi/toml`, which matches struct fields with Go's
/// `strings.EqualFold`), `types` and its flags are found in any case (`[Types]`, `LAUNCH`;
/// found by fuzzing against the lifecycle: `[types] BUILD = 0` failed there, not here), the
/// exact spelling first; the top-level check is case-sensitive, as the lifecycle's.
pub(crate) fn layer_types(table: &toml::Table) -> Result<CachedLayer, String> {
    if let Some(key) = ["launch", "build", "cache"]
        .into_iter()
        .find(|key| table.contains_key(*key))
    {
        return Err(format!(
            "`{key}` is at the top level: the launch, cache and build flags should be in the types table"
        ));
    }
    let types = match field(table, "types") {
        None => return Ok(CachedLayer::default()),
        Some(toml::Value::Table(types)) => types,
        Some(other) => {
            return Err(format!(
                "`types` must be a table, not the {} {other}",
                other.type_str()
            ));
        }
    };
    let flag = |key: &str| match field(types, key) {
        None => Ok(false),
        Some(toml::Value::Boolean(value)) => Ok(*value),
        Some(other) => Err(format!(
            "`types.{key}` must be a boolean, not the {} {other}",
            other.type_str()
        )),
    };
    Ok(CachedLayer {
        launch: flag("launch")?,
        build: flag("build")?,
        cache: flag("cache")?,
    })
}

/// The value of the key of `table` that the lifecycle's TOML decoder maps to the field `name`
/// (lower-case ASCII): the exact spelling, else one equal under Go's simple case folding (ASCII
/// case, and `ſ` for `s`).
fn field<'a>(table: &'a toml::Table, name: &str) -> Option<&'a toml::Value> {
    let folds = |key: &str| {
        key.chars().count() == name.len()
            && key
                .chars()
                .zip(name.chars())
                .all(|(k, n)| k.eq_ignore_ascii_case(&n) || (n == 's' && k == '\u{17f}'))
    };
    table.get(name).or_else(|| {
        table
            .iter()
            .find_map(|(key, value)| folds(key).then_some(value))
    })
}

/// The layer-state rule every engine applies to the evidence it has: a layer whose
/// `[metadata] exec-env` excludes the build's environment is kept for another environment
/// ([`LayerState::Retained`], the framework's notion: the lifecycle has none); else it was
/// [`LayerState::Restored`] when the engine saw it come back unchanged from the cache (`kept`),
/// else [`LayerState::Created`].
#[must_use]
pub(crate) fn layer_state(
    layer_exec_env: Option<&Vec<String>>,
    build: &ExecEnv,
    kept: bool,
) -> LayerState {
    let other_env = layer_exec_env.is_some_and(|list| {
        ExecEnvSelector::from_names(list).is_ok_and(|selector| !selector.matches(build))
    });
    if other_env {
        LayerState::Retained
    } else if kept {
        LayerState::Restored
    } else {
        LayerState::Created
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_flags_are_found_in_any_case_as_the_lifecycle_does() {
        let read = |text: &str| layer_types(&text.parse::<toml::Table>().unwrap());
        assert_eq!(
            read("[Types]\nLAUNCH = true\nCache = true\n"),
            Ok(CachedLayer {
                launch: true,
                build: false,
                cache: true
            })
        );
        assert!(read("[types]\nBUILD = 0\n").is_err());
        assert!(read("[\"type\u{17f}\"]\nbuild = 0\n").is_err());
        // The exact spelling wins over another one.
        assert_eq!(
            read("[types]\nbuild = true\nBuild = 1\n").map(|types| types.build),
            Ok(true)
        );
        // Top-level flags are refused only in lower case (`IsDefined` is case-sensitive).
        assert!(read("Launch = true\n").is_ok());
        assert!(read("launch = true\n").is_err());
    }
}

#[cfg(test)]
#[path = "layer_toml_fuzz.rs"]
mod fuzz;
