//! Example Go buildpack of the `libcnb-exec-env` framework.
//!
//! - production: the main packages compiled with `go build -trimpath` into a launch layer; no
//!   toolchain, cache or source is needed at launch.
//! - test: the toolchain, the module cache and the build cache are launch layers, the tests are
//!   pre-compiled, and the default `test` process runs `go test ./...`.
//! - development: like test, plus a `dev` process running `go run`.
//!
//! The toolchain (pinned by `go.mod` or from PATH), `GOCACHE` and `GOMODCACHE` live in shared
//! cached layers that every environment and every rebuild reuse. See `README.md`.

mod build;
mod caches;
mod cmd;
mod config;
mod detect;
mod errors;
mod fs_util;
mod go_mod;
mod test;
mod toolchain;

use crate::config::BuildConfig;
use crate::errors::GoBuildpackError;
use crate::go_mod::GoMod;
use bullet_stream::global::print;
use libcnb::Platform;
use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, ExecEnv,
    buildpack_main,
};

#[cfg(test)]
use tempfile as _;

/// The Go buildpack.
pub(crate) struct GoBuildpack;

/// Whether the toolchain, sources and caches are needed at launch in `env`.
pub(crate) fn keeps_toolchain(env: &ExecEnv) -> bool {
    matches!(env, ExecEnv::Test | ExecEnv::Development)
}

impl Buildpack for GoBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = GoBuildpackError;

    fn detect(
        &self,
        context: DetectContext<Self>,
    ) -> libcnb::Result<DetectResult, GoBuildpackError> {
        if detect::is_go_module(&context.app_dir) {
            DetectResultBuilder::pass().build()
        } else {
            print::bullet("No go.mod in the app directory: not a Go module");
            DetectResultBuilder::fail().build()
        }
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, GoBuildpackError> {
        let env = context.exec_env().clone();
        let at_launch = keeps_toolchain(&env);
        print::header(format!("Building for the {env} environment"));

        let go_mod =
            GoMod::read(&context.app_dir.join("go.mod")).map_err(GoBuildpackError::from)?;
        let config = BuildConfig::read(&context.app_dir)?;

        let path_go = toolchain::find_path_go()?;
        let choice = toolchain::choose(&go_mod, path_go.as_ref())?;
        let toolchain = toolchain::provide(
            &context,
            &choice,
            path_go.as_ref(),
            toolchain::Needs { at_launch },
        )?;

        let caches = caches::provide(&context, at_launch)?;
        let vendored = caches::is_vendored(&context.app_dir);
        // -trimpath everywhere (build and launch): compile results do not depend on where
        // GOROOT or the workspace are, so the standard library compiled in a production build
        // is reused by a test build whose toolchain lives in a layer, and at launch.
        let goflags = if vendored {
            "-modcacherw -buildvcs=false -trimpath -mod=vendor"
        } else {
            "-modcacherw -buildvcs=false -trimpath"
        };
        let cgo = context
            .platform
            .env()
            .get("CGO_ENABLED")
            .cloned()
            .or_else(|| std::env::var_os("CGO_ENABLED"))
            .unwrap_or_else(|| "0".into());
        let go = toolchain
            .go
            .clone()
            .with_env("GOTOOLCHAIN", "local")
            .with_env("GOCACHE", &caches.build)
            .with_env("GOMODCACHE", &caches.modules)
            .with_env("GOFLAGS", goflags)
            .with_env("CGO_ENABLED", cgo.clone());
        write_go_env(&context, goflags, &cgo)?;

        caches::download_modules(&go, &context.app_dir)?;
        let main_packages = build::main_packages(&go, &context.app_dir)?;

        let mut result = BuildResultBuilder::new()
            .label("org.example.go.version", toolchain.version.to_string());
        if at_launch {
            test::precompile(&go, &context.app_dir)?;
            result = result.processes(test::processes(&env, &main_packages)?);
        } else {
            let module = go_mod.module.clone().unwrap_or_default();
            let packages = build::select(&config, &module, &main_packages)?;
            let binaries = build::build_binaries(&context, &go, &packages)?;
            print::bullet(format!("Built {}", binaries.join(", ")));
            result = result.processes(build::processes(&binaries));
        }
        result.build()
    }

    fn on_error(&self, error: libcnb::Error<GoBuildpackError>) {
        errors::report(&error);
    }
}

/// The variables the app's own `go` commands get at launch (test, development) and later
/// buildpacks get at build: `GOTOOLCHAIN=local`, the `GOFLAGS` used here, `CGO_ENABLED`.
fn write_go_env(
    context: &BuildContext<GoBuildpack>,
    goflags: &str,
    cgo: &std::ffi::OsStr,
) -> libcnb::Result<(), GoBuildpackError> {
    use libcnb::data::layer_name;
    use libcnb::layer::UncachedLayerDefinition;
    use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
    let layer = context.uncached_layer(
        layer_name!("go-env"),
        UncachedLayerDefinition {
            build: true,
            launch: keeps_toolchain(context.exec_env()),
        },
    )?;
    layer.write_env(
        LayerEnv::new()
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Override,
                "GOTOOLCHAIN",
                "local",
            )
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Override,
                "GOFLAGS",
                goflags,
            )
            .chainable_insert(
                Scope::All,
                ModificationBehavior::Default,
                "CGO_ENABLED",
                cgo,
            ),
    )?;
    Ok(())
}

buildpack_main!(GoBuildpack);
