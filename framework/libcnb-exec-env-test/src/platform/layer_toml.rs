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
/// flag that is not a boolean (its TOML decoder's type error). Other keys are ignored.
pub(crate) fn layer_types(table: &toml::Table) -> Result<CachedLayer, String> {
    if let Some(key) = ["launch", "build", "cache"]
        .into_iter()
        .find(|key| table.contains_key(*key))
    {
        return Err(format!(
            "`{key}` is at the top level: the launch, cache and build flags should be in the types table"
        ));
    }
    let types = match table.get("types") {
        None => return Ok(CachedLayer::default()),
        Some(toml::Value::Table(types)) => types,
        Some(other) => {
            return Err(format!(
                "`types` must be a table, not the {} {other}",
                other.type_str()
            ));
        }
    };
    let flag = |key: &str| match types.get(key) {
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
