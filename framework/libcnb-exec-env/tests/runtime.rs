//! The runtime end to end: this test binary re-runs itself as `bin/detect` / `bin/build` of a
//! small framework buildpack, with the arguments and `CNB_*` variables the lifecycle gives, so
//! the real entry point (API check, resolution, declared environments, libcnb's runtime,
//! launch.toml, layer scoping and retention) runs in a child process with its own environment.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb::data::layer_name;
use libcnb::data::process_type;
use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb::layer::{
    CachedLayerDefinition, EmptyLayerCause, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, ExecEnv,
    ProcessBuilder, RetentionPolicy, test_process,
};
use serde::{Deserialize, Serialize};

use std::process::Output;

mod support;

use support::{Dirs, RETENTION, dirs, restore_like_the_lifecycle, text};

#[derive(Serialize, Deserialize, PartialEq, Clone)]
struct DepsMetadata {
    lock: String,
}

struct ProbeBuildpack;

impl Buildpack for ProbeBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = std::io::Error;

    fn detect(&self, context: DetectContext<Self>) -> libcnb::Result<DetectResult, std::io::Error> {
        std::fs::write(
            context.app_dir.join("detected-env"),
            context.exec_env().as_str(),
        )
        .map_err(libcnb::Error::BuildpackError)?;
        DetectResultBuilder::pass().build()
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, std::io::Error> {
        let env = context.exec_env().clone();
        let deps = context.env_cached_layer(
            layer_name!("deps"),
            CachedLayerDefinition {
                build: true,
                launch: true,
                invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
                restored_layer_action: &|metadata: &DepsMetadata, _| {
                    if metadata.lock == "v1" {
                        RestoredLayerAction::KeepLayer
                    } else {
                        RestoredLayerAction::DeleteLayer
                    }
                },
            },
        )?;
        let state = match deps.state {
            LayerState::Restored { .. } => "restored",
            LayerState::Empty {
                cause: EmptyLayerCause::NewlyCreated,
            } => "created",
            LayerState::Empty { .. } => "recreated",
        };
        if !matches!(deps.state, LayerState::Restored { .. }) {
            std::fs::write(deps.path().join("installed-for"), env.as_str())
                .map_err(libcnb::Error::BuildpackError)?;
            deps.write_metadata(DepsMetadata { lock: "v1".into() })?;
        }
        std::fs::write(context.app_dir.join(format!("deps-state-{env}")), state)
            .map_err(libcnb::Error::BuildpackError)?;

        let mut result = BuildResultBuilder::new()
            .process(ProcessBuilder::new(process_type!("web"), ["./web"]).build());
        if env == ExecEnv::Test {
            result = result.process(test_process(["./run-tests"]));
        }
        result.build()
    }

    fn retention(&self) -> RetentionPolicy {
        match std::env::var(RETENTION).as_deref() {
            Ok("evict") => RetentionPolicy::EvictOthers,
            _ => RetentionPolicy::KeepAll,
        }
    }
}

/// The child entry point: runs the buildpack when the parent asks for it, else does nothing.
#[test]
fn child_entry() {
    if let Some(args) = support::child_args() {
        std::process::exit(libcnb_exec_env::internal::run_with_args(
            ProbeBuildpack,
            &args,
        ));
    }
}

const BP: &str = "api = \"0.12\"\n[buildpack]\nid = \"test/probe\"\nversion = \"1.0.0\"\n";

fn run(phase: &str, dirs: &Dirs, exec_env: Option<&str>, extra_env: &[(&str, &str)]) -> Output {
    let mut command = support::phase_command(phase, dirs);
    if let Some(value) = exec_env {
        command.env("CNB_EXEC_ENV", value);
    }
    for (key, value) in extra_env {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn detect_sees_the_resolved_env_and_says_where_it_came_from() {
    let dirs = dirs(BP);
    let output = run("detect", &dirs, Some("test"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        std::fs::read_to_string(dirs.app.join("detected-env")).unwrap(),
        "test"
    );
    assert!(
        text(&output)
            .contains("Execution environment: test (from the CNB_EXEC_ENV environment variable)"),
        "{}",
        text(&output)
    );

    std::fs::create_dir_all(dirs.platform.join("env")).unwrap();
    std::fs::write(dirs.platform.join("env/CNB_EXEC_ENV"), "development").unwrap();
    let output = run("detect", &dirs, None, &[]);
    assert_eq!(
        std::fs::read_to_string(dirs.app.join("detected-env")).unwrap(),
        "development"
    );
    assert!(
        text(&output).contains("from the platform env file"),
        "{}",
        text(&output)
    );
}

#[test]
fn apis_outside_0_10_to_0_12_exit_254_with_a_clear_error() {
    for (api, code) in [
        ("0.10", 0),
        ("0.11", 0),
        ("0.12", 0),
        ("0.9", 254),
        ("0.13", 254),
    ] {
        let dirs = dirs(&BP.replace("0.12", api));
        let output = run("detect", &dirs, None, &[]);
        assert_eq!(
            output.status.code(),
            Some(code),
            "api {api}: {}",
            text(&output)
        );
        if code != 0 {
            assert!(
                text(&output).contains(&format!("api` = \"{api}\" is not supported")),
                "{}",
                text(&output)
            );
        }
    }
}

#[test]
fn invalid_exec_env_fails_naming_value_and_source_and_writes_nothing() {
    let dirs = dirs(BP);
    let output = run("build", &dirs, Some("qa/1"), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output).contains("CNB_EXEC_ENV environment variable")
            && text(&output).contains("\"qa/1\""),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_dir(&dirs.layers).unwrap().count(),
        0,
        "nothing written"
    );
}

/// Issue 19: a platform may send any printable name the spec allows (`staging_eu`, `eu:west`):
/// detect and build succeed, with a warning naming pack's rule, and the env-scoped layer gets
/// its escaped name.
#[test]
fn printable_names_pack_refuses_build_with_a_warning_naming_packs_rule() {
    for (value, layer) in [
        ("staging_eu", "deps-staging_eu"),
        ("eu:west", "deps-eu%3Awest"),
        ("QA+1", "deps-QA%2B1"),
    ] {
        let dirs = dirs(&format!("{BP}exec-env = [{value:?}]\n"));
        for phase in ["detect", "build"] {
            let output = run(phase, &dirs, Some(value), &[]);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{value} {phase}: {}",
                text(&output)
            );
            let expected = format!(
                "! Warning: the execution environment {value:?} is accepted, but pack would refuse it: `pack build --exec-env` takes only ASCII letters, digits, '.' and '-'"
            );
            assert!(
                text(&output).contains(&expected)
                    && text(&output).contains(&format!(
                        "Execution environment: {value} (from the CNB_EXEC_ENV environment variable)"
                    )),
                "{value} {phase}: {}",
                text(&output)
            );
        }
        assert_eq!(
            std::fs::read_to_string(dirs.app.join("detected-env")).unwrap(),
            value
        );
        assert_eq!(
            std::fs::read_to_string(dirs.layers.join(layer).join("installed-for")).unwrap(),
            value,
            "{value}"
        );
        assert_eq!(
            layer_toml(&dirs, layer)["metadata"]["exec-env"]
                .as_array()
                .unwrap()[0]
                .as_str(),
            Some(value)
        );
    }
    // pack's names print no warning.
    let dirs = dirs(BP);
    let output = run("build", &dirs, Some("staging.eu-1"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        !text(&output).contains("pack would refuse"),
        "{}",
        text(&output)
    );
}

#[test]
fn undeclared_env_fails_detect_with_a_reason_in_both_declaration_forms() {
    let list = format!("{BP}exec-env = [\"test\"]\n");
    let tables = format!("{BP}[[buildpack.exec-env]]\nname = \"test\"\n");
    for toml in [list, tables] {
        let dirs = dirs(&toml);
        let output = run("detect", &dirs, None, &[]);
        assert_eq!(output.status.code(), Some(100), "{}", text(&output));
        assert!(
            text(&output).contains("declares exec-env [test]")
                && text(&output).contains("production"),
            "{}",
            text(&output)
        );
        let output = run("detect", &dirs, Some("test"), &[]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        if toml.contains("[[buildpack.exec-env]]") {
            assert!(
                text(&output).contains("failed to initialize detector"),
                "{}",
                text(&output)
            );
        }
    }
}

fn layer_toml(dirs: &Dirs, name: &str) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(dirs.layers.join(format!("{name}.toml"))).unwrap())
        .unwrap()
}

#[test]
fn test_then_production_then_test_reuses_the_retained_test_layer() {
    let dirs = dirs(BP);
    let build = |env: &str| {
        let output = run("build", &dirs, Some(env), &[]);
        assert_eq!(output.status.code(), Some(0), "{env}: {}", text(&output));
        restore_like_the_lifecycle(&dirs.layers);
        text(&output)
    };
    let state =
        |env: &str| std::fs::read_to_string(dirs.app.join(format!("deps-state-{env}"))).unwrap();

    let first = run("build", &dirs, Some("test"), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(state("test"), "created");
    let deps = layer_toml(&dirs, "deps-test");
    assert_eq!(
        deps["metadata"]["exec-env"].as_array().unwrap()[0].as_str(),
        Some("test")
    );
    assert_eq!(deps["metadata"]["lock"].as_str(), Some("v1"));
    let launch = std::fs::read_to_string(dirs.layers.join("launch.toml")).unwrap();
    assert!(
        launch.contains("type = \"test\"") && launch.contains("exec-env = [\"test\"]"),
        "{launch}"
    );
    restore_like_the_lifecycle(&dirs.layers);

    let production = build("production");
    assert_eq!(state("production"), "created");
    assert!(
        production.contains("Retained layer deps-test of test"),
        "{production}"
    );
    assert!(
        dirs.layers.join("deps-test/installed-for").exists(),
        "the test layer survived the production build"
    );

    build("test");
    assert_eq!(
        state("test"),
        "restored",
        "the test layer is reused, not rebuilt"
    );
    assert!(
        dirs.layers.join("deps-production/installed-for").exists(),
        "and the production one is kept in turn"
    );
}

#[test]
fn evict_policy_drops_other_envs() {
    let dirs = dirs(BP);
    let output = run("build", &dirs, Some("test"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    restore_like_the_lifecycle(&dirs.layers);
    let output = run("build", &dirs, Some("production"), &[(RETENTION, "evict")]);
    assert!(
        text(&output).contains("Evicted layer deps-test"),
        "{}",
        text(&output)
    );
    assert!(!dirs.layers.join("deps-test").exists());
    assert!(!dirs.layers.join("deps-test.toml").exists());
}

#[test]
fn broken_layer_toml_is_rebuilt_not_fatal() {
    let dirs = dirs(BP);
    std::fs::create_dir_all(dirs.layers.join("deps-test")).unwrap();
    std::fs::write(dirs.layers.join("deps-test.toml"), "[metadata\nlock = ").unwrap();
    let output = run("build", &dirs, Some("test"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        text(&output).contains("Discarded layer deps-test")
            && text(&output).contains("deps-test.toml"),
        "{}",
        text(&output)
    );
    assert_eq!(
        std::fs::read_to_string(dirs.app.join("deps-state-test")).unwrap(),
        "created"
    );
}

/// Like [`run`], with `CNB_EXEC_ENV` set to raw bytes (which may not be UTF-8).
fn run_with_raw_env(phase: &str, dirs: &Dirs, exec_env: &[u8]) -> Output {
    use std::os::unix::ffi::OsStrExt;
    support::phase_command(phase, dirs)
        .env("CNB_EXEC_ENV", std::ffi::OsStr::from_bytes(exec_env))
        .output()
        .unwrap()
}

/// Bad `CNB_EXEC_ENV` values (issue 9 bad-input matrix): detect and build exit 1 (an error,
/// not a detect failure), the message quotes the value and names its source, nothing is
/// written. The same values in the platform env file name the file. Empty means production.
#[test]
fn bad_exec_env_values_fail_with_exit_1_quoting_value_and_source() {
    let long = "a".repeat(65);
    let cases: Vec<(&[u8], &str)> = vec![
        (b"qa/1", "contains '/'"),
        (b"a/b", "contains '/'"),
        (b"*", "is the wildcard"),
        (b"te\xe2\x80\x8bst", "contains '\\u{200b}' at byte 2"),
        (b"te st", "contains ' ' at byte 2"),
        (b" test", "contains ' ' at byte 0"),
        (b"test\t", "contains '\\t' at byte 4"),
        (b"te\x07st", "contains '\\u{7}' at byte 2"),
        (b"te\nst", "contains '\\n' at byte 2"),
        (long.as_bytes(), "is 65 bytes long: at most 64"),
        (b"te\xffst", "is not valid UTF-8"),
    ];
    for (value, reason) in &cases {
        for phase in ["detect", "build"] {
            let dirs = dirs(BP);
            let output = run_with_raw_env(phase, &dirs, value);
            let shown = format!("{:?}", String::from_utf8_lossy(value));
            assert_eq!(
                output.status.code(),
                Some(1),
                "{shown} {phase}: {}",
                text(&output)
            );
            assert!(
                text(&output).contains("invalid CNB_EXEC_ENV environment variable")
                    && text(&output).contains(&shown)
                    && text(&output).contains(reason),
                "{shown} {phase}: {}",
                text(&output)
            );
            assert_eq!(std::fs::read_dir(&dirs.layers).unwrap().count(), 0);
            assert!(!dirs.app.join("detected-env").exists());

            // The same value from the platform env file (pack --env CNB_EXEC_ENV=... on older
            // platforms), with the process variable unset.
            std::fs::create_dir_all(dirs.platform.join("env")).unwrap();
            std::fs::write(dirs.platform.join("env/CNB_EXEC_ENV"), value).unwrap();
            let output = run(phase, &dirs, None, &[]);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{shown} {phase}: {}",
                text(&output)
            );
            assert!(
                text(&output).contains("invalid execution environment in the platform env file")
                    && text(&output).contains("env/CNB_EXEC_ENV")
                    && text(&output).contains(reason),
                "{shown} {phase}: {}",
                text(&output)
            );
        }
    }
    // Empty counts as unset (lifecycle `platform/lifecycle_inputs.go`): production.
    let dirs = dirs(BP);
    let output = run_with_raw_env("detect", &dirs, b"");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        std::fs::read_to_string(dirs.app.join("detected-env")).unwrap(),
        "production"
    );
}

/// An unreadable platform env file is an error naming it (a directory in its place: root reads
/// any file whatever its mode), not a silent production build.
#[test]
fn unreadable_platform_env_file_fails_naming_it() {
    let dirs = dirs(BP);
    std::fs::create_dir_all(dirs.platform.join("env/CNB_EXEC_ENV")).unwrap();
    for phase in ["detect", "build"] {
        let output = run(phase, &dirs, None, &[]);
        assert_eq!(output.status.code(), Some(1), "{phase}: {}", text(&output));
        assert!(
            text(&output).contains("cannot read the platform env file")
                && text(&output).contains("env/CNB_EXEC_ENV"),
            "{phase}: {}",
            text(&output)
        );
    }
    assert_eq!(std::fs::read_dir(&dirs.layers).unwrap().count(), 0);
}

/// Broken `buildpack.toml`: missing, not TOML, unknown API, `exec-env` of the wrong type or
/// with a bad name. Exit 1 (254 for the API, as libcnb), naming the file, key and value.
#[test]
fn broken_buildpack_toml_fails_naming_file_key_and_value() {
    let cases: [(Option<String>, i32, &[&str]); 7] = [
        (None, 1, &["cannot read", "buildpack.toml"]),
        (
            Some("api = \"0.12\"\n[buildpack\nid = ".to_owned()),
            1,
            &["buildpack.toml is not valid TOML"],
        ),
        (
            Some(BP.replace("0.12", "0.99")),
            254,
            &["key `api` = \"0.99\" is not supported"],
        ),
        (
            Some(BP.replace("api = \"0.12\"", "api = 0.12")),
            1,
            &["key `api` must be a string"],
        ),
        (
            Some(format!("{BP}exec-env = \"test\"\n")),
            1,
            &["key `buildpack.exec-env`", "\"test\""],
        ),
        (
            Some(format!("{BP}exec-env = [1]\n")),
            1,
            &["buildpack.exec-env", "1"],
        ),
        (
            Some(format!("{BP}exec-env = [\"qa/1\"]\n")),
            1,
            &["buildpack.exec-env", "\"qa/1\"", "'/'"],
        ),
    ];
    for (toml, code, expected) in cases {
        let dirs = dirs(BP);
        match &toml {
            Some(toml) => std::fs::write(dirs.buildpack.join("buildpack.toml"), toml).unwrap(),
            None => std::fs::remove_file(dirs.buildpack.join("buildpack.toml")).unwrap(),
        }
        for phase in ["detect", "build"] {
            let output = run(phase, &dirs, Some("test"), &[]);
            assert_eq!(
                output.status.code(),
                Some(code),
                "{toml:?}: {}",
                text(&output)
            );
            for part in expected {
                assert!(
                    text(&output).contains(part),
                    "{toml:?} {phase}: expected {part:?} in:\n{}",
                    text(&output)
                );
            }
            assert!(
                !text(&output).contains("panicked"),
                "{toml:?}: {}",
                text(&output)
            );
            assert_eq!(std::fs::read_dir(&dirs.layers).unwrap().count(), 0);
        }
    }
}

/// Layer TOML with wrong types (a restored `<layer>.toml` of a tampered cache): `exec-env` that
/// is not a list of names, or buildpack metadata of the wrong shape, discards that layer (it is
/// rebuilt) and only that layer; the build succeeds.
#[test]
fn layer_toml_with_wrong_types_is_rebuilt_and_others_are_kept() {
    for (broken, says) in [
        (
            "[metadata]\nlock = \"v1\"\nexec-env = \"test\"\n",
            "Discarded layer deps-test",
        ),
        (
            "[metadata]\nlock = \"v1\"\nexec-env = [\"a/b\"]\n",
            "Discarded layer deps-test",
        ),
        ("[metadata]\nlock = 1\nexec-env = [\"test\"]\n", ""),
        ("metadata = \"lock\"\n", "is not layer metadata"),
        (
            "[types]\nlaunch = \"yes\"\n[metadata]\nlock = \"v1\"\n",
            "is not layer metadata",
        ),
        (
            "unknown = 1\n[metadata]\nlock = \"v1\"\n",
            "is not layer metadata",
        ),
    ] {
        let dirs = dirs(BP);
        std::fs::create_dir_all(dirs.layers.join("deps-test")).unwrap();
        std::fs::write(dirs.layers.join("deps-test.toml"), broken).unwrap();
        // Another environment's layer, intact: it must survive.
        std::fs::create_dir_all(dirs.layers.join("deps-production")).unwrap();
        std::fs::write(
            dirs.layers.join("deps-production/installed-for"),
            "production",
        )
        .unwrap();
        std::fs::write(
            dirs.layers.join("deps-production.toml"),
            "[metadata]\nlock = \"v1\"\nexec-env = [\"production\"]\n",
        )
        .unwrap();
        let output = run("build", &dirs, Some("test"), &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{broken:?}: {}",
            text(&output)
        );
        assert!(
            text(&output).contains(says),
            "{broken:?}: {}",
            text(&output)
        );
        assert_ne!(
            std::fs::read_to_string(dirs.app.join("deps-state-test")).unwrap(),
            "restored",
            "{broken:?}: a layer with wrong types must not be reused"
        );
        assert_eq!(
            std::fs::read_to_string(dirs.layers.join("deps-production/installed-for")).unwrap(),
            "production",
            "{broken:?}: the other environment's layer must be kept"
        );
    }
}
