//! Set-scoped layers end to end (issue 18): this test binary re-runs itself as `bin/build` of a
//! small buildpack whose `dev_deps` layer is shared by test and development, as
//! `tests/runtime.rs` does, with the lifecycle's restore step between builds.

// Test helpers outside #[test] functions may unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb::data::layer_name;
use libcnb::detect::{DetectResult, DetectResultBuilder};
use libcnb::generic::{GenericMetadata, GenericPlatform};
use libcnb::layer::{
    CachedLayerDefinition, EmptyLayerCause, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb_exec_env::layers::{env_scoped_name, scoped_name, split_env_scoped_name};
use libcnb_exec_env::{
    BuildContext, BuildResult, BuildResultBuilder, Buildpack, DetectContext, EnvScope, ExecEnv,
    RetentionPolicy,
};
use serde::{Deserialize, Serialize};

mod support;

use support::{Dirs, RETENTION, restore_like_the_lifecycle};
const DEV_DEPS: &str = "dev_deps-development+test";

#[derive(Serialize, Deserialize)]
struct DevDepsMetadata {
    lock: String,
}

struct ScopedBuildpack;

impl Buildpack for ScopedBuildpack {
    type Platform = GenericPlatform;
    type Metadata = GenericMetadata;
    type Error = std::io::Error;

    fn detect(&self, _: DetectContext<Self>) -> libcnb::Result<DetectResult, std::io::Error> {
        DetectResultBuilder::pass().build()
    }

    fn build(&self, context: BuildContext<Self>) -> libcnb::Result<BuildResult, std::io::Error> {
        let env = context.exec_env().clone();
        let layer = context.scoped_cached_layer(
            layer_name!("dev_deps"),
            EnvScope::of([ExecEnv::Test, ExecEnv::Development]),
            CachedLayerDefinition {
                build: true,
                launch: false,
                invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
                restored_layer_action: &|metadata: &DevDepsMetadata, _| {
                    if metadata.lock == "v1" {
                        RestoredLayerAction::KeepLayer
                    } else {
                        RestoredLayerAction::DeleteLayer
                    }
                },
            },
        )?;
        let state = match &layer {
            None => "unused",
            Some(layer) => match layer.state {
                LayerState::Restored { .. } => "restored",
                LayerState::Empty {
                    cause: EmptyLayerCause::NewlyCreated,
                } => "created",
                LayerState::Empty { .. } => "recreated",
            },
        };
        if let Some(layer) = &layer {
            if !matches!(layer.state, LayerState::Restored { .. }) {
                std::fs::write(layer.path().join("installed-for"), env.as_str())
                    .map_err(libcnb::Error::BuildpackError)?;
                layer.write_metadata(DevDepsMetadata { lock: "v1".into() })?;
            }
        }
        std::fs::write(context.app_dir.join(format!("state-{env}")), state)
            .map_err(libcnb::Error::BuildpackError)?;
        BuildResultBuilder::new().build()
    }

    fn retention(&self) -> RetentionPolicy {
        match std::env::var(RETENTION).as_deref() {
            Ok("evict") => RetentionPolicy::EvictOthers,
            Ok("keep-test") => RetentionPolicy::KeepOnly(vec![ExecEnv::Test]),
            _ => RetentionPolicy::KeepAll,
        }
    }
}

/// The child entry point: runs the buildpack when the parent asks for it, else does nothing.
#[test]
fn child_entry() {
    if let Some(args) = support::child_args() {
        std::process::exit(libcnb_exec_env::internal::run_with_args(
            ScopedBuildpack,
            &args,
        ));
    }
}

fn dirs() -> Dirs {
    support::dirs("api = \"0.12\"\n[buildpack]\nid = \"test/scoped\"\nversion = \"1.0.0\"\n")
}

/// One build in `env`, then the lifecycle's restore step; returns the build's output.
fn build(dirs: &Dirs, env: &str, retention: Option<&str>) -> String {
    let mut command = support::phase_command("build", dirs);
    command.env("CNB_EXEC_ENV", env);
    if let Some(retention) = retention {
        command.env(RETENTION, retention);
    }
    let output = command.output().unwrap();
    let text = support::text(&output);
    assert_eq!(output.status.code(), Some(0), "{env}: {text}");
    restore_like_the_lifecycle(&dirs.layers);
    text
}

fn state(dirs: &Dirs, env: &str) -> String {
    std::fs::read_to_string(dirs.app.join(format!("state-{env}"))).unwrap()
}

fn installed_for(dirs: &Dirs) -> Option<String> {
    std::fs::read_to_string(dirs.layers.join(DEV_DEPS).join("installed-for")).ok()
}

#[test]
fn used_in_test_reused_in_development_retained_in_production() {
    let dirs = dirs();
    build(&dirs, "test", None);
    assert_eq!(state(&dirs, "test"), "created");
    let toml: toml::Table = toml::from_str(
        &std::fs::read_to_string(dirs.layers.join(format!("{DEV_DEPS}.toml"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        toml["metadata"]["exec-env"],
        toml::Value::Array(vec!["development".into(), "test".into()]),
        "the set, sorted, in [metadata]: {toml}"
    );
    assert_eq!(toml["metadata"]["lock"].as_str(), Some("v1"));

    build(&dirs, "development", None);
    assert_eq!(
        state(&dirs, "development"),
        "restored",
        "development reuses what test installed"
    );
    assert_eq!(installed_for(&dirs).as_deref(), Some("test"));

    let production = build(&dirs, "production", None);
    assert_eq!(state(&dirs, "production"), "unused");
    assert!(
        production.contains(&format!(
            "Retained layer {DEV_DEPS} of development, test (cached, not exported)"
        )),
        "{production}"
    );
    assert_eq!(
        installed_for(&dirs).as_deref(),
        Some("test"),
        "still cached after the production build"
    );

    build(&dirs, "test", None);
    assert_eq!(
        state(&dirs, "test"),
        "restored",
        "back in test: reused, not reinstalled"
    );
    let names: Vec<String> = std::fs::read_dir(&dirs.layers)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [DEV_DEPS], "one layer for the set");
}

#[test]
fn evicted_when_the_policy_keeps_none_of_its_environments() {
    let dirs = dirs();
    build(&dirs, "test", None);
    // Kept while the policy keeps one of its environments...
    let kept = build(&dirs, "production", Some("keep-test"));
    assert!(
        kept.contains(&format!("Retained layer {DEV_DEPS}")),
        "{kept}"
    );
    assert!(installed_for(&dirs).is_some());
    // ...evicted when it keeps none.
    let evicted = build(&dirs, "production", Some("evict"));
    assert!(
        evicted.contains(&format!(
            "Evicted layer {DEV_DEPS} of development, test (retention policy)"
        )),
        "{evicted}"
    );
    assert!(!dirs.layers.join(DEV_DEPS).exists());
    assert!(!dirs.layers.join(format!("{DEV_DEPS}.toml")).exists());
    build(&dirs, "development", None);
    assert_eq!(state(&dirs, "development"), "created");
}

#[test]
fn a_layer_claiming_another_set_is_rebuilt_not_reused() {
    let dirs = dirs();
    std::fs::create_dir_all(dirs.layers.join(DEV_DEPS)).unwrap();
    std::fs::write(dirs.layers.join(DEV_DEPS).join("installed-for"), "forged").unwrap();
    std::fs::write(
        dirs.layers.join(format!("{DEV_DEPS}.toml")),
        "[metadata]\nexec-env = [\"test\"]\nlock = \"v1\"\n",
    )
    .unwrap();
    let output = build(&dirs, "development", None);
    assert!(
        output.contains("its metadata says it belongs to test"),
        "{output}"
    );
    assert_eq!(state(&dirs, "development"), "created");
    assert_eq!(installed_for(&dirs).as_deref(), Some("development"));

    // The same set in another order is the same layer.
    std::fs::write(
        dirs.layers.join(format!("{DEV_DEPS}.toml")),
        "[metadata]\nexec-env = [\"test\", \"development\"]\nlock = \"v1\"\n",
    )
    .unwrap();
    build(&dirs, "test", None);
    assert_eq!(state(&dirs, "test"), "restored");
}

#[test]
fn set_names_never_collide_with_env_scoped_names() {
    let envs: Vec<ExecEnv> = [
        "production",
        "test",
        "development",
        "a+b",
        "a",
        "b",
        "x-test",
        "eu:west",
        "%2B",
    ]
    .iter()
    .map(|name| name.parse().unwrap())
    .collect();
    let bases = [
        layer_name!("deps"),
        layer_name!("deps-x"),
        layer_name!("a+b"),
    ];
    let mut seen = std::collections::BTreeMap::new();
    for base in &bases {
        for env in &envs {
            let name = env_scoped_name(base, env);
            assert_eq!(
                scoped_name(base, &EnvScope::of([env.clone()])),
                name,
                "a set of one is the env-scoped layer"
            );
            assert!(seen.insert(name, format!("{base} in {env}")).is_none());
        }
        for (i, a) in envs.iter().enumerate() {
            for b in &envs[i + 1..] {
                let name = scoped_name(base, &EnvScope::of([a.clone(), b.clone()]));
                assert_eq!(
                    name,
                    scoped_name(base, &EnvScope::of([b.clone(), a.clone()]))
                );
                assert_eq!(
                    split_env_scoped_name(&name),
                    None,
                    "{name} is no env-scoped name"
                );
                let what = format!("{base} in {a}, {b}");
                if let Some(earlier) = seen.insert(name.clone(), what.clone()) {
                    panic!("{name}: {earlier} and {what}");
                }
            }
        }
    }
    assert!(seen.contains_key(&layer_name!("deps-a+b")));
    assert!(seen.contains_key(&layer_name!("deps-a%2Bb")));
}
