//! A buildpack that does nothing, on libcnb-exec-env: detect passes, build returns an empty
//! result. The same program as `noop-libcnb`, through the framework's entry point (API check
//! for 0.10-0.12, tolerant buildpack.toml reader, `CNB_EXEC_ENV` resolution, declared-env
//! check, env-layer retention pass, then libcnb's runtime).

use libcnb_exec_env::libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb_exec_env::libcnb::generic::{GenericMetadata, GenericPlatform};
use std::convert::Infallible;
use libcnb_exec_env::{BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext};

struct NoopBuildpack;

impl Buildpack for NoopBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = Infallible;

    fn detect(
        &self,
        _: DetectContext<Self>,
    ) -> libcnb_exec_env::libcnb::Result<DetectResult, Self::Error> {
        DetectResultBuilder::pass().build()
    }

    fn build(
        &self,
        _: BuildContext<Self>,
    ) -> libcnb_exec_env::libcnb::Result<BuildResult, Self::Error> {
        BuildResultBuilder::new().build()
    }
}

libcnb_exec_env::buildpack_main!(NoopBuildpack);
