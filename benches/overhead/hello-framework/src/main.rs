//! A minimal real buildpack on libcnb-exec-env: one env-scoped cached layer with metadata and
//! an env var, one `web` process. Compared for size with `hello-libcnb`, which does the same.

use libcnb::data::{layer_name, process_type};
use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::GenericPlatform;
use libcnb::layer::{
    CachedLayerDefinition, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use libcnb_exec_env::libcnb;
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, ProcessBuilder,
};
use serde::{Deserialize, Serialize};

struct HelloBuildpack;

#[derive(Serialize, Deserialize, PartialEq)]
struct DepsMetadata {
    version: String,
}

impl Buildpack for HelloBuildpack {
    type Platform = GenericPlatform;
    type Metadata = libcnb::generic::GenericMetadata;
    type Error = std::io::Error;

    fn detect(&self, _: DetectContext<Self>) -> libcnb::Result<DetectResult, Self::Error> {
        DetectResultBuilder::pass().build()
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, Self::Error> {
        let wanted = DepsMetadata {
            version: "1".to_owned(),
        };
        let layer = context.env_cached_layer(
            layer_name!("deps"),
            CachedLayerDefinition {
                build: true,
                launch: true,
                invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
                restored_layer_action: &|cached: &DepsMetadata, _| {
                    if *cached == wanted {
                        RestoredLayerAction::KeepLayer
                    } else {
                        RestoredLayerAction::DeleteLayer
                    }
                },
            },
        )?;
        if let LayerState::Empty { .. } = layer.state {
            std::fs::write(layer.path().join("hello.txt"), "hello\n")
                .map_err(libcnb::Error::BuildpackError)?;
            layer.write_env(LayerEnv::new().chainable_insert(
                Scope::All,
                ModificationBehavior::Override,
                "HELLO",
                "1",
            ))?;
            layer.write_metadata(DepsMetadata {
                version: "1".to_owned(),
            })?;
        }
        BuildResultBuilder::new()
            .process(
                ProcessBuilder::new(process_type!("web"), ["cat", "hello.txt"])
                    .default(true)
                    .build(),
            )
            .build()
    }
}

libcnb_exec_env::buildpack_main!(HelloBuildpack);
