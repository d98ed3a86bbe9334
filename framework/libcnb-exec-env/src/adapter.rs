//! The adapter libcnb's runtime calls: a framework buildpack seen as a `libcnb::Buildpack`.
//!
//! It sits below the contexts and the entry point: `context.rs` names it in libcnb's context
//! types, `runtime.rs` hands it to libcnb, and it calls the author's [`Buildpack`].

use crate::buildpack::Buildpack;
use crate::context::{BuildContext, DetectContext};
use crate::layers::{self, LayerFileError};
use crate::output;
use crate::resolve::ResolvedExecEnv;
use std::time::Instant;

/// A framework buildpack seen as a `libcnb::Buildpack`: what libcnb's runtime calls.
pub struct LibcnbBuildpack<B> {
    buildpack: B,
    exec_env: ResolvedExecEnv,
    started: Instant,
}

impl<B: Buildpack> LibcnbBuildpack<B> {
    /// Wraps a buildpack for one run in `exec_env`. Tests use this to run `detect`/`build`
    /// in-process over contexts built by hand.
    pub fn new(buildpack: B, exec_env: ResolvedExecEnv) -> Self {
        Self {
            buildpack,
            exec_env,
            started: Instant::now(),
        }
    }
}

impl<B: Buildpack> libcnb::Buildpack for LibcnbBuildpack<B> {
    type Platform = B::Platform;
    type Metadata = B::Metadata;
    type Error = B::Error;

    fn detect(
        &self,
        context: libcnb::detect::DetectContext<Self>,
    ) -> libcnb::Result<libcnb::detect::DetectResult, Self::Error> {
        self.buildpack
            .detect(DetectContext::new(context, self.exec_env.clone()))
    }

    fn build(
        &self,
        context: libcnb::build::BuildContext<Self>,
    ) -> libcnb::Result<libcnb::build::BuildResult, Self::Error> {
        let layers_dir = context.layers_dir.clone();
        let context = BuildContext::new(context, self.exec_env.clone());
        let env_layers = context.env_layers.clone();
        let result = self.buildpack.build(context)?;

        let env = &self.exec_env.env;
        for name in env_layers.borrow().iter() {
            layers::mark_env_layer(&layers_dir, name, env).map_err(layer_file_error)?;
        }
        let actions = layers::retain_other_envs(
            &layers_dir,
            env,
            &env_layers.borrow(),
            &self.buildpack.retention(),
        )
        .map_err(layer_file_error)?;
        for action in &actions {
            output::line(action);
        }
        if !result.launch.is_empty() {
            result.launch.write(&layers_dir).map_err(|error| {
                libcnb::Error::CannotWriteLaunch(libcnb::TomlFileError::IoError(
                    std::io::Error::other(error),
                ))
            })?;
        }
        output::done(self.started);
        Ok(result.libcnb)
    }

    fn on_error(&self, error: libcnb::Error<Self::Error>) {
        self.buildpack.on_error(error);
    }
}

pub(crate) fn layer_file_error<E>(error: LayerFileError) -> libcnb::Error<E> {
    libcnb::Error::LayerError(libcnb::layer::LayerError::WriteLayerError(
        libcnb::layer::WriteLayerError::IoError(std::io::Error::other(error)),
    ))
}
