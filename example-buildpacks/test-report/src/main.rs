//! Example test-only buildpack for `libcnb-exec-env`: a test-report step in test images.
//!
//! `buildpack.toml` declares `[buildpack] exec-env = ["test"]`, so:
//! - the lifecycle (Platform API >= 0.15, Buildpack API 0.12) skips it at detect in every other
//!   environment, production included;
//! - an older lifecycle does not filter, and the framework's own check fails detection outside
//!   `test` (the environment then comes from `<platform>/env/CNB_EXEC_ENV`, e.g.
//!   `pack build --env CNB_EXEC_ENV=test`).
//!
//! In a test build it adds a launch layer `test-report` holding the `test-report` program (on
//! `PATH` at launch), sets `CNB_TEST_RESULTS_DIR` (default `test-results`, relative to the app
//! directory; the platform may override it), and a non-default `test-report` process limited to
//! the test environment that summarizes the `JUnit`/TAP files found there. It is meant to be an
//! optional member of a composite's groups, after the language buildpack.

use bullet_stream::global::print;
use libcnb::data::layer_name;
use libcnb::data::process_type;
use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb::layer::UncachedLayerDefinition;
use libcnb::layer_env::{LayerEnv, ModificationBehavior, Scope};
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, ExecEnv,
    ProcessBuilder, buildpack_main,
};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use test_report::{DEFAULT_RESULTS_DIR, RESULTS_DIR_VAR};

#[cfg(test)]
use tempfile as _;

/// What can go wrong.
#[derive(Debug)]
enum TestReportError {
    /// The `test-report` program cannot be installed into the layer.
    Install {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The I/O error.
        error: std::io::Error,
    },
}

impl std::fmt::Display for TestReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Install {
                path,
                action,
                error,
            } => write!(f, "cannot {action} {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for TestReportError {}

// impl From<TestReportError> for libcnb::Error<TestReportError>, so `?` works.
libcnb_exec_env::buildpack_error!(TestReportError);

struct TestReportBuildpack;

impl Buildpack for TestReportBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = TestReportError;

    fn detect(
        &self,
        context: DetectContext<Self>,
    ) -> libcnb::Result<DetectResult, TestReportError> {
        // Only reached in an environment buildpack.toml declares (the framework checked).
        print::bullet(format!(
            "Execution environment {}: adding the test-report step",
            context.exec_env()
        ));
        DetectResultBuilder::pass().build()
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, TestReportError> {
        let layer = context.uncached_layer(
            layer_name!("test-report"),
            UncachedLayerDefinition {
                build: false,
                launch: true,
            },
        )?;
        let bin = layer.path().join("bin");
        std::fs::create_dir_all(&bin).map_err(|error| TestReportError::Install {
            path: bin.clone(),
            action: "create",
            error,
        })?;
        let source = context
            .buildpack_dir
            .join(".libcnb-cargo/additional-bin/test-report");
        let program = bin.join("test-report");
        std::fs::copy(&source, &program).map_err(|error| TestReportError::Install {
            path: source.clone(),
            action: "copy",
            error,
        })?;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).map_err(
            |error| TestReportError::Install {
                path: program.clone(),
                action: "make executable",
                error,
            },
        )?;
        layer.write_env(LayerEnv::new().chainable_insert(
            Scope::Launch,
            ModificationBehavior::Default,
            RESULTS_DIR_VAR,
            DEFAULT_RESULTS_DIR,
        ))?;
        print::bullet(format!(
            "Added the test-report process and {RESULTS_DIR_VAR}={DEFAULT_RESULTS_DIR} (execution environment {})",
            context.exec_env()
        ));

        BuildResultBuilder::new()
            .process(
                ProcessBuilder::new(process_type!("test-report"), ["test-report"])
                    .exec_env([ExecEnv::Test])
                    .default(false)
                    .build(),
            )
            .build()
    }
}

buildpack_main!(TestReportBuildpack);
