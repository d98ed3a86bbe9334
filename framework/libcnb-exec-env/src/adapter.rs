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
    /// Runs the author's `build`, then writes what it returned: the environment marks and the
    /// retention of other environments' layers, `launch.toml`, `store.toml` and the SBOM files.
    #[inline(never)]
    fn build_and_write(
        &self,
        context: libcnb::build::BuildContext<Self>,
    ) -> libcnb::Result<(), B::Error> {
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
        result.write(&layers_dir)?;
        output::done(self.started);
        Ok(())
    }

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

    // Inlined into libcnb's runtime so that the compiler sees the result it gets is always
    // empty: libcnb's `launch.toml` and `store.toml` writers (its TOML serializer) are then left
    // out of every buildpack binary. The framework writes those files itself
    // (`BuildResult::write`), in the same places and forms.
    #[allow(clippy::inline_always)] // the point: see above
    #[inline(always)]
    fn build(
        &self,
        context: libcnb::build::BuildContext<Self>,
    ) -> libcnb::Result<libcnb::build::BuildResult, Self::Error> {
        self.build_and_write(context)?;
        libcnb::build::BuildResultBuilder::new().build()
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
