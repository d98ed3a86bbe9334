//! Platform rules of the local platform (`libcnb-exec-env-test`) with the real example
//! buildpacks, under every available engine: the built-in one and, when installed, the real
//! lifecycle. Each rule is what the lifecycle source does (cited per test); the built-in engine
//! must match it.

use libcnb_exec_env::{ExecEnv, ExecEnvSelector};
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, DetectOutcome, Engine, EngineError, LaunchConfig, LayerState,
    LocalRunner, buildpack_id, for_each_engine,
};
use std::time::Duration;

const NODEJS: &str = "examples/nodejs";
const TEST_REPORT: &str = "examples/test-report";

fn config(app: &str, exec_env: ExecEnv, engine: Engine) -> BuildConfig {
    let mut config = BuildConfig::new(format!("../example-apps/{app}"));
    config
        .buildpacks([BuildpackReference::WorkspaceBuildpack(buildpack_id!(
            "examples/composite"
        ))])
        .exec_env(exec_env)
        .engine(engine);
    config
}

/// `phase/detector.go`: `examples/test-report` declares `exec-env = ["test"]` (API 0.12), so it
/// is skipped in production, even as an optional member of the composite's group, and joins
/// the group in test.
#[test]
fn declared_environments_decide_the_group() {
    for_each_engine(|engine| {
        LocalRunner::default().build(
            config("nodejs/greeting-service", ExecEnv::Production, engine),
            |ctx| {
                assert_eq!(ctx.report.group, vec![NODEJS], "{}", ctx.pack_stdout);
                let skipped = ctx
                    .report
                    .detect
                    .iter()
                    .filter(|d| d.buildpack_id == TEST_REPORT)
                    .collect::<Vec<_>>();
                assert!(!skipped.is_empty());
                for report in skipped {
                    assert_eq!(
                        report.outcome,
                        DetectOutcome::SkippedExecEnv {
                            declared: ExecEnvSelector::Only(vec![ExecEnv::Test])
                        },
                        "{engine}"
                    );
                }
                assert_eq!(ctx.report.labels["io.buildpacks.exec-env"], "production");
            },
        );
        LocalRunner::default().build(
            config("nodejs/greeting-service", ExecEnv::Test, engine),
            |ctx| {
                assert_eq!(ctx.report.group, vec![NODEJS, TEST_REPORT]);
                assert_eq!(ctx.report.labels["io.buildpacks.exec-env"], "test");
            },
        );
    });
}

/// `phase/restorer.go` restores every cached layer whatever the environment; the framework
/// keeps other environments' env-scoped layers cache-only, so switching environments
/// reinstalls nothing and never exports the other environment's dependencies.
#[test]
fn switching_environments_keeps_each_environments_layers_cached() {
    for_each_engine(|engine| {
        LocalRunner::default().build(
            config("nodejs/greeting-service", ExecEnv::Test, engine),
            |ctx| {
                assert_eq!(
                    ctx.layer(NODEJS, "node_modules-test").map(|l| l.state),
                    Some(LayerState::Created)
                );
                ctx.rebuild(
                    config("nodejs/greeting-service", ExecEnv::Production, engine),
                    |ctx| {
                        let test = ctx.layer(NODEJS, "node_modules-test").unwrap();
                        assert_eq!(test.state, LayerState::Retained, "{engine}");
                        assert!(test.cache && !test.launch, "{test:?}");
                        assert_eq!(test.exec_env.as_deref(), Some(&["test".to_owned()][..]));
                        assert_eq!(
                            ctx.layer(NODEJS, "node_modules-production")
                                .map(|l| l.state),
                            Some(LayerState::Created)
                        );
                        assert_eq!(
                            ctx.layer(NODEJS, "npm-cache").map(|l| l.state),
                            Some(LayerState::Restored),
                            "the download cache is shared by every environment"
                        );
                        assert!(!ctx.processes_eligible().contains(&"test".to_owned()));
                        ctx.rebuild(
                            config("nodejs/greeting-service", ExecEnv::Test, engine),
                            |ctx| {
                                assert_eq!(
                                    ctx.layer(NODEJS, "node_modules-test").map(|l| l.state),
                                    Some(LayerState::Restored),
                                    "{engine}: {}",
                                    ctx.pack_stdout
                                );
                                assert_eq!(
                                    ctx.layer(NODEJS, "node_modules-production")
                                        .map(|l| l.state),
                                    Some(LayerState::Retained)
                                );
                            },
                        );
                    },
                );
            },
        );
    });
}

/// `launch/process.go`: the launcher takes `CNB_EXEC_ENV` from the launch (default
/// `production`), not from the image label, so the test image's default `test` process is
/// refused until the launch says `test`; the test result convention reports pass and fail.
#[test]
fn test_images_launch_only_in_the_test_environment() {
    for_each_engine(|engine| {
        LocalRunner::default().build(
            config("nodejs/greeting-service", ExecEnv::Test, engine),
            |ctx| {
                assert_eq!(ctx.report.default_process.as_deref(), Some("test"));
                let error = ctx.try_launch(LaunchConfig::new()).unwrap_err();
                assert!(
                    matches!(error, EngineError::NotEligible { .. }),
                    "{engine}: {error}"
                );
                assert!(
                    error
                        .to_string()
                        .contains("docker run -e CNB_EXEC_ENV=test"),
                    "{error}"
                );
                let run = ctx.launch(
                    LaunchConfig::new()
                        .exec_env(ExecEnv::Test)
                        .timeout(Duration::from_secs(120)),
                );
                assert!(run.success(), "{engine}: {}", run.output());
                let report = run.test.expect("a test process gets a test report");
                assert!(report.passed);
                assert!(report.duration > Duration::ZERO);
            },
        );
        LocalRunner::default().build(
            config("nodejs/failing-tests", ExecEnv::Test, engine),
            |ctx| {
                let run = ctx.launch(
                    LaunchConfig::new()
                        .exec_env(ExecEnv::Test)
                        .timeout(Duration::from_secs(120)),
                );
                assert!(!run.success(), "{engine}: {}", run.output());
                assert!(!run.test.unwrap().passed);
            },
        );
    });
}
