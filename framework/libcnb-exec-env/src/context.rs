//! Detect and build contexts: libcnb's context (through `Deref`) plus the execution environment.

use crate::adapter::{LibcnbBuildpack, layer_file_error};
use crate::buildpack::Buildpack;
use crate::exec_env::ExecEnv;
use crate::layers;
use crate::resolve::{ExecEnvSource, ResolvedExecEnv};
use libcnb::data::layer::LayerName;
use libcnb::layer::{
    CachedLayerDefinition, IntoAction, InvalidMetadataAction, LayerRef, RestoredLayerAction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Borrow;
use std::cell::RefCell;
use std::ops::Deref;
use std::rc::Rc;

/// libcnb's detect context for a framework buildpack.
pub type LibcnbDetectContext<B> = libcnb::detect::DetectContext<LibcnbBuildpack<B>>;
/// libcnb's build context for a framework buildpack.
pub type LibcnbBuildContext<B> = libcnb::build::BuildContext<LibcnbBuildpack<B>>;
/// A layer handle of a framework buildpack.
pub type Layer<B, MAC = (), RAC = ()> = LayerRef<LibcnbBuildpack<B>, MAC, RAC>;

/// The detect context: every field of libcnb's (`app_dir`, `platform`, ...) plus the environment.
pub struct DetectContext<B: Buildpack> {
    libcnb: LibcnbDetectContext<B>,
    exec_env: ResolvedExecEnv,
}

impl<B: Buildpack> DetectContext<B> {
    /// Wraps libcnb's context (for tests that build one by hand).
    pub fn new(libcnb: LibcnbDetectContext<B>, exec_env: ResolvedExecEnv) -> Self {
        Self { libcnb, exec_env }
    }

    /// The execution environment of this build.
    pub fn exec_env(&self) -> &ExecEnv {
        &self.exec_env.env
    }

    /// Where the execution environment came from.
    pub fn exec_env_source(&self) -> &ExecEnvSource {
        &self.exec_env.source
    }
}

impl<B: Buildpack> Deref for DetectContext<B> {
    type Target = LibcnbDetectContext<B>;
    fn deref(&self) -> &Self::Target {
        &self.libcnb
    }
}

/// The build context: every field and layer method of libcnb's, plus the environment and
/// env-scoped layers.
///
/// # Layers: which method, and the `Deref` bypass
///
/// | Layer | Method | Name | Retained in other environments |
/// |---|---|---|---|
/// | one environment's (`gems` of `test`) | [`BuildContext::env_cached_layer`] | `gems-test` | yes, per [`crate::RetentionPolicy`] |
/// | a set of environments' (dev dependencies of `test` and `development`) | [`BuildContext::scoped_cached_layer`] | `dev_deps-development+test` | yes, per [`crate::RetentionPolicy`] |
/// | every environment's (a runtime, a download cache) | [`BuildContext::shared_cached_layer`] | `ruby` | used in every build |
///
/// **Warning: libcnb's own `cached_layer` and `uncached_layer` are reachable through `Deref`
/// (`ctx.cached_layer(...)`) and bypass environment scoping entirely.** Such a layer has one
/// name for every environment, carries no `exec-env`, is never retained nor evicted by the
/// framework, and a broken `<layer>.toml` fails the build instead of being rebuilt. That is
/// right only for a layer every environment shares *and* that needs no retention:
/// `uncached_layer` for scratch or launch-only content rebuilt on every build, `cached_layer`
/// when you knowingly want libcnb's exact behaviour. For anything that differs between
/// environments use `env_cached_layer` or `scoped_cached_layer`; for a cached layer shared by
/// every environment prefer `shared_cached_layer` (libcnb's `cached_layer` plus the broken
/// metadata recovery). A test build that writes test dependencies into a plain `cached_layer`
/// ships them in the production image built next from the same cache.
pub struct BuildContext<B: Buildpack> {
    libcnb: LibcnbBuildContext<B>,
    exec_env: ResolvedExecEnv,
    pub(crate) env_layers: Rc<RefCell<Vec<LayerName>>>,
}

impl<B: Buildpack> BuildContext<B> {
    /// Wraps libcnb's context (for tests that build one by hand).
    pub fn new(libcnb: LibcnbBuildContext<B>, exec_env: ResolvedExecEnv) -> Self {
        Self {
            libcnb,
            exec_env,
            env_layers: Rc::default(),
        }
    }

    /// The execution environment of this build.
    pub fn exec_env(&self) -> &ExecEnv {
        &self.exec_env.env
    }

    /// Where the execution environment came from.
    pub fn exec_env_source(&self) -> &ExecEnvSource {
        &self.exec_env.source
    }

    /// A cached layer of this environment only, named `<name>-<env>` (`gems-test`), with
    /// `exec-env = [env]` in its `[metadata]`. Other environments' layers of the same `name`
    /// stay cached across builds (see [`crate::RetentionPolicy`]).
    ///
    /// The metadata type `M` never sees the `exec-env` key. A restored layer whose
    /// `<layer>.toml` is not valid TOML is deleted and rebuilt.
    ///
    /// # Errors
    /// libcnb's layer errors.
    pub fn env_cached_layer<'a, M, MA, RA, MAC, RAC>(
        &self,
        name: impl Borrow<LayerName>,
        definition: impl Borrow<CachedLayerDefinition<'a, M, MA, RA>>,
    ) -> libcnb::Result<Layer<B, MAC, RAC>, B::Error>
    where
        M: 'a + Serialize + DeserializeOwned,
        MA: 'a + IntoAction<InvalidMetadataAction<M>, MAC, B::Error>,
        RA: 'a + IntoAction<RestoredLayerAction, RAC, B::Error>,
    {
        let scoped = layers::env_scoped_name(name.borrow(), &self.exec_env.env);
        self.prepare(&scoped, Some(&self.exec_env.env))?;
        self.note_env_layer(&scoped);
        self.libcnb.cached_layer(scoped, definition)
    }

    /// A cached layer shared by every environment (a language runtime, a download cache).
    /// The same as libcnb's `cached_layer`, except that a broken `<layer>.toml` deletes the
    /// layer instead of failing the build.
    ///
    /// # Errors
    /// libcnb's layer errors.
    pub fn shared_cached_layer<'a, M, MA, RA, MAC, RAC>(
        &self,
        name: impl Borrow<LayerName>,
        definition: impl Borrow<CachedLayerDefinition<'a, M, MA, RA>>,
    ) -> libcnb::Result<Layer<B, MAC, RAC>, B::Error>
    where
        M: 'a + Serialize + DeserializeOwned,
        MA: 'a + IntoAction<InvalidMetadataAction<M>, MAC, B::Error>,
        RA: 'a + IntoAction<RestoredLayerAction, RAC, B::Error>,
    {
        self.prepare(name.borrow(), None)?;
        self.libcnb.cached_layer(name, definition)
    }

    /// Remembers an env-scoped layer this build used (once; a list, not a set: a build uses a
    /// handful, and a set would add its own code to every buildpack binary).
    fn note_env_layer(&self, name: &LayerName) {
        let mut used = self.env_layers.borrow_mut();
        if !used.contains(name) {
            used.push(name.clone());
        }
    }

    fn prepare(&self, name: &LayerName, env: Option<&ExecEnv>) -> libcnb::Result<(), B::Error> {
        let action =
            layers::prepare_layer(&self.libcnb.layers_dir, name, env).map_err(layer_file_error)?;
        if let Some(action) = action {
            crate::output::warning(&action);
        }
        Ok(())
    }

    /// A cached layer shared by the environments of `scope` (test and development installing
    /// the same development dependencies), named by [`layers::scoped_name`]
    /// (`dev_deps-development+test`), with `exec-env = [the set]` in its `[metadata]`.
    ///
    /// When this build's environment is in `scope`, the layer is used as `definition` says
    /// (restored, on the build path, exported per its types) and returned; a build in
    /// `development` reuses what a build in `test` installed. Otherwise nothing is touched
    /// and `None` is returned: the layer stays in the cache only (not exported, not on the
    /// build path), or is evicted, per [`crate::RetentionPolicy`] (kept while the policy keeps
    /// any of its environments). A scope of one environment is exactly
    /// [`BuildContext::env_cached_layer`]. The metadata type `M` never sees the `exec-env` key.
    ///
    /// ```
    /// # use libcnb::data::layer_name;
    /// # use libcnb::layer::{CachedLayerDefinition, InvalidMetadataAction, RestoredLayerAction};
    /// # use libcnb_exec_env::{BuildContext, BuildResult, BuildResultBuilder, EnvScope, ExecEnv};
    /// # struct MyBuildpack;
    /// # impl libcnb_exec_env::Buildpack for MyBuildpack {
    /// #     type Platform = libcnb::generic::GenericPlatform;
    /// #     type Metadata = libcnb::generic::GenericMetadata;
    /// #     type Error = std::io::Error;
    /// #     fn detect(&self, _: libcnb_exec_env::DetectContext<Self>) -> libcnb::Result<libcnb::detect::DetectResult, Self::Error> {
    /// #         libcnb::detect::DetectResultBuilder::pass().build()
    /// #     }
    /// fn build(&self, ctx: BuildContext<Self>) -> libcnb::Result<BuildResult, std::io::Error> {
    ///     let dev_deps = ctx.scoped_cached_layer(
    ///         layer_name!("dev_deps"),
    ///         EnvScope::of([ExecEnv::Test, ExecEnv::Development]),
    ///         CachedLayerDefinition {
    ///             build: true,
    ///             launch: true,
    ///             invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
    ///             restored_layer_action: &|_: &libcnb::generic::GenericMetadata, _| RestoredLayerAction::KeepLayer,
    ///         },
    ///     )?;
    ///     if let Some(dev_deps) = dev_deps {
    ///         // test or development: install into dev_deps.path() unless restored
    ///         # let _ = dev_deps;
    ///     }
    ///     BuildResultBuilder::new().build()
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// libcnb's layer errors; an I/O error preparing the restored `<layer>.toml`.
    pub fn scoped_cached_layer<'a, M, MA, RA, MAC, RAC>(
        &self,
        name: impl Borrow<LayerName>,
        scope: impl Borrow<layers::EnvScope>,
        definition: impl Borrow<CachedLayerDefinition<'a, M, MA, RA>>,
    ) -> libcnb::Result<Option<Layer<B, MAC, RAC>>, B::Error>
    where
        M: 'a + Serialize + DeserializeOwned,
        MA: 'a + IntoAction<InvalidMetadataAction<M>, MAC, B::Error>,
        RA: 'a + IntoAction<RestoredLayerAction, RAC, B::Error>,
    {
        let scope = scope.borrow();
        if !scope.contains(&self.exec_env.env) {
            return Ok(None);
        }
        let scoped = layers::scoped_name(name.borrow(), scope);
        let action = layers::prepare_scoped_layer(&self.libcnb.layers_dir, &scoped, Some(scope))
            .map_err(layer_file_error)?;
        if let Some(action) = action {
            crate::output::warning(&action);
        }
        self.note_env_layer(&scoped);
        self.libcnb.cached_layer(scoped, definition).map(Some)
    }
}

impl<B: Buildpack> Deref for BuildContext<B> {
    type Target = LibcnbBuildContext<B>;
    fn deref(&self) -> &Self::Target {
        &self.libcnb
    }
}
