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
use std::collections::BTreeSet;
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
pub struct BuildContext<B: Buildpack> {
    libcnb: LibcnbBuildContext<B>,
    exec_env: ResolvedExecEnv,
    pub(crate) env_layers: Rc<RefCell<BTreeSet<LayerName>>>,
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
        self.env_layers.borrow_mut().insert(scoped.clone());
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

    fn prepare(&self, name: &LayerName, env: Option<&ExecEnv>) -> libcnb::Result<(), B::Error> {
        let action =
            layers::prepare_layer(&self.libcnb.layers_dir, name, env).map_err(layer_file_error)?;
        if let Some(action) = action {
            crate::output::warning(&action);
        }
        Ok(())
    }
}

impl<B: Buildpack> Deref for BuildContext<B> {
    type Target = LibcnbBuildContext<B>;
    fn deref(&self) -> &Self::Target {
        &self.libcnb
    }
}
