//! Example go buildpack (placeholder until its issue lands).

use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericError, GenericMetadata, GenericPlatform};
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, buildpack_main,
};

struct ExampleBuildpack;

impl Buildpack for ExampleBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = GenericError;

    fn detect(&self, _context: DetectContext<Self>) -> libcnb::Result<DetectResult, GenericError> {
        DetectResultBuilder::fail().build()
    }

    fn build(&self, _context: BuildContext<Self>) -> libcnb::Result<BuildResult, GenericError> {
        BuildResultBuilder::new().build()
    }
}

buildpack_main!(ExampleBuildpack);
