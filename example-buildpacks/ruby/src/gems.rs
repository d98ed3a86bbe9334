//! The env-scoped `gems` layer (`gems-production`, `gems-test`, ...): Bundler's `BUNDLE_PATH`.
//!
//! Its metadata is the cache key: the `Gemfile.lock` digest, the Ruby interpreter and the build
//! target. A different interpreter or target discards the layer (native extensions would not
//! load); a different lockfile keeps it and lets Bundler install only what changed; an equal
//! key reuses it without running Bundler at all.

use crate::ExampleRubyBuildpack;
use crate::bundle::{BundleSettings, Bundler};
use crate::errors::RubyBuildpackError;
use crate::gemfile_lock::GemfileLock;
use crate::runtime::{RubyInfo, Runtime};
use bullet_stream::global::print;
use libcnb::Target;
use libcnb::data::layer_name;
use libcnb::layer::{
    CachedLayerDefinition, EmptyLayerCause, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb::layer_env::Scope;
use libcnb::{Env, Platform};
use libcnb_exec_env::{BuildContext, Layer};
use serde::{Deserialize, Serialize};

/// The cache key of a gems layer, stored as its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GemsMetadata {
    /// SHA-256 of `Gemfile.lock`.
    pub(crate) lockfile_sha256: String,
    /// The interpreter (`ruby 3.1.2 (x86_64-linux-gnu)`).
    pub(crate) ruby: String,
    /// The build target (`linux/amd64 debian 12`).
    pub(crate) target: String,
}

/// Why a restored layer was kept or dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reuse {
    /// Same key: the installed gems are used as they are.
    Unchanged,
    /// Another lockfile: Bundler updates the installed gems.
    LockfileChanged,
    /// Another interpreter or target: everything is reinstalled.
    RuntimeChanged {
        /// What the layer was built for.
        was: String,
    },
}

/// Compares a restored layer's key with this build's.
pub(crate) fn reuse(old: &GemsMetadata, new: &GemsMetadata) -> (RestoredLayerAction, Reuse) {
    if old.ruby != new.ruby || old.target != new.target {
        (
            RestoredLayerAction::DeleteLayer,
            Reuse::RuntimeChanged {
                was: format!("{} on {}", old.ruby, old.target),
            },
        )
    } else if old.lockfile_sha256 == new.lockfile_sha256 {
        (RestoredLayerAction::KeepLayer, Reuse::Unchanged)
    } else {
        (RestoredLayerAction::KeepLayer, Reuse::LockfileChanged)
    }
}

/// A one-line description of a build target.
pub(crate) fn target_key(target: &Target) -> String {
    let variant = target
        .arch_variant
        .as_deref()
        .map(|variant| format!("/{variant}"))
        .unwrap_or_default();
    format!(
        "{}/{}{variant} {} {}",
        target.os, target.arch, target.distro_name, target.distro_version
    )
    .trim_end()
    .to_owned()
}

/// What the installation needs besides the build context.
pub(crate) struct Inputs<'a> {
    /// The programs.
    pub(crate) runtime: &'a Runtime,
    /// The interpreter.
    pub(crate) ruby: &'a RubyInfo,
    /// The checked lockfile.
    pub(crate) lock: &'a GemfileLock,
    /// Bundler's settings for this environment.
    pub(crate) settings: &'a BundleSettings,
}

/// Creates or reuses the gems layer of this environment and installs the bundle into it.
/// Returns the environment later commands of this build run with (Bundler's settings applied).
///
/// # Errors
/// Layer errors, and Bundler failures with Bundler's output.
pub(crate) fn install(
    context: &BuildContext<ExampleRubyBuildpack>,
    inputs: &Inputs<'_>,
) -> libcnb::Result<Env, RubyBuildpackError> {
    let metadata = GemsMetadata {
        lockfile_sha256: inputs.lock.sha256.clone(),
        ruby: inputs.ruby.key(),
        target: target_key(&context.target),
    };
    let layer: Layer<ExampleRubyBuildpack, (), Reuse> = context.env_cached_layer(
        layer_name!("gems"),
        CachedLayerDefinition {
            build: true,
            launch: true,
            invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
            restored_layer_action: &|old: &GemsMetadata, _| reuse(old, &metadata),
        },
    )?;

    let layer_env = inputs.settings.layer_env(&layer.path(), inputs.ruby);
    let mut env = Env::from_current();
    for (key, value) in context.platform.env() {
        env.insert(key, value);
    }
    let env = layer_env.apply(Scope::Build, &env);
    let exec_env = context.exec_env();
    let bundler = Bundler {
        runtime: inputs.runtime,
        app_dir: &context.app_dir,
        env: env.clone(),
        exec_env,
    };

    let gems = inputs.lock.gems.len();
    let install = match &layer.state {
        LayerState::Restored {
            cause: Reuse::Unchanged,
        } => {
            print::bullet(format!(
                "Reusing the {gems} locked gems in layer gems-{exec_env}: Gemfile.lock, Ruby and target are unchanged"
            ));
            false
        }
        LayerState::Restored {
            cause: Reuse::LockfileChanged,
        } => {
            print::bullet(format!(
                "Gemfile.lock changed: updating the gems in layer gems-{exec_env}"
            ));
            true
        }
        LayerState::Empty {
            cause:
                EmptyLayerCause::RestoredLayerAction {
                    cause: Reuse::RuntimeChanged { was },
                },
        } => {
            print::bullet(format!(
                "The cached gems were built for {was}: reinstalling"
            ));
            true
        }
        LayerState::Empty { .. } | LayerState::Restored { .. } => {
            print::bullet(format!("Installing gems into layer gems-{exec_env}"));
            true
        }
    };
    if install {
        let vendored = context.app_dir.join("vendor").join("cache").is_dir();
        if vendored {
            print::bullet("vendor/cache found: installing from it, without a gem server (--local)");
        }
        bundler.install(vendored)?;
        if inputs.settings.clean {
            bundler.clean()?;
        }
    }
    layer.write_metadata(metadata)?;
    // Rewrite the env files only when they change, so that a reused layer stays byte-for-byte
    // the layer that was cached (platforms compare contents to tell reused layers from new).
    if layer.read_env()? != layer_env {
        layer.write_env(layer_env)?;
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(lock: &str, ruby: &str) -> GemsMetadata {
        GemsMetadata {
            lockfile_sha256: lock.into(),
            ruby: ruby.into(),
            target: "linux/amd64 debian 12".into(),
        }
    }

    #[test]
    fn reuse_depends_on_lockfile_ruby_and_target() {
        let old = key("aaa", "ruby 3.1.2 (x86_64-linux-gnu)");
        assert!(matches!(
            reuse(&old, &old.clone()),
            (RestoredLayerAction::KeepLayer, Reuse::Unchanged)
        ));
        assert!(matches!(
            reuse(&old, &key("bbb", "ruby 3.1.2 (x86_64-linux-gnu)")),
            (RestoredLayerAction::KeepLayer, Reuse::LockfileChanged)
        ));
        let (action, cause) = reuse(&old, &key("aaa", "ruby 3.2.0 (x86_64-linux-gnu)"));
        assert!(matches!(action, RestoredLayerAction::DeleteLayer));
        assert_eq!(
            cause,
            Reuse::RuntimeChanged {
                was: "ruby 3.1.2 (x86_64-linux-gnu) on linux/amd64 debian 12".into()
            }
        );
        let mut other_target = old.clone();
        other_target.target = "linux/arm64 debian 12".into();
        assert!(matches!(
            reuse(&old, &other_target).0,
            RestoredLayerAction::DeleteLayer
        ));
    }

    #[test]
    fn target_key_lists_os_arch_variant_and_distro() {
        let mut target = Target {
            os: "linux".into(),
            arch: "arm".into(),
            arch_variant: Some("v7".into()),
            distro_name: "ubuntu".into(),
            distro_version: "24.04".into(),
        };
        assert_eq!(target_key(&target), "linux/arm/v7 ubuntu 24.04");
        target.arch_variant = None;
        target.distro_name = String::new();
        target.distro_version = String::new();
        assert_eq!(target_key(&target), "linux/arm");
    }
}
