//! A minimal real buildpack on plain libcnb 0.30: one cached layer with metadata and an env
//! var, one `web` process. Compared for size with `hello-framework`, which does the same.

use libcnb::build::{BuildContext, BuildResult, BuildResultBuilder};
use libcnb::data::launch::{LaunchBuilder, ProcessBuilder};
use libcnb::data::{layer_name, process_type};
use libcnb::detect::{DetectContext, DetectResult, DetectResultBuilder};
use libcnb::generic::GenericPlatform;
use libcnb::layer::{
    CachedLayerDefinition, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use libcnb::{Buildpack, buildpack_main};
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
        let layer = context.cached_layer(
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
            .launch(
                LaunchBuilder::new()
                    .process(
                        ProcessBuilder::new(process_type!("web"), ["cat", "hello.txt"])
                            .default(true)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }
}

buildpack_main!(HelloBuildpack);
