//! Where the built-in engine and the lifecycle engine disagreed with the real lifecycle
//! (v0.21.11), issue 17: each rule checked under every available engine, with shell buildpacks.

mod support;

use libcnb_exec_env_test::{
    BuildConfig, DetectOutcome, Engine, EngineError, LaunchConfig, LayerState, LocalRunner,
    for_each_engine,
};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{app, buildpack, config};

/// `buildpack/build.go` `eachLayer`/`setupEnv`: build layers are applied in the order of their
/// `<layer>.toml` file names (`tool-x.toml` before `tool.toml`), so `tool` is applied last and
/// its override wins. The launcher (`launch/launcher.go` `eachLayer`) walks layer
/// *directories* (`tool` before `tool-x`), so there `tool-x` wins.
#[test]
fn layers_apply_in_the_lifecycles_order() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let tools = buildpack(
        tmp.path(),
        "t/tools",
        "0.12",
        "",
        "",
        r#"for layer in tool tool-x; do
  mkdir -p "$1/$layer/env.build" "$1/$layer/env.launch"
  printf '%s' "$layer" > "$1/$layer/env.build/WHICH.override"
  printf '%s' "$layer" > "$1/$layer/env.launch/LWHICH.override"
  printf '[types]\nbuild = true\nlaunch = true\n' > "$1/$layer.toml"
done
cat > "$1/launch.toml" <<'L'
[[processes]]
type = "show"
command = ["bash", "-c", "echo LWHICH=$LWHICH"]
L"#,
    );
    let user = buildpack(
        tmp.path(),
        "t/user",
        "0.12",
        "",
        "",
        "echo \"WHICH=$WHICH\"",
    );
    for_each_engine(|engine| {
        LocalRunner::default().build(config(&app, &[&tools, &user], engine), |ctx| {
            assert!(
                ctx.pack_stdout.contains("WHICH=tool\n"),
                "{engine}: {}",
                ctx.pack_stdout
            );
            let run = ctx.launch(LaunchConfig::new().process("show"));
            assert_eq!(
                run.stdout.trim(),
                "LWHICH=tool-x",
                "{engine}: {}",
                run.output()
            );
        });
    });
}

/// `launch/launch.go` `Process.ExecEnv` (`exec-env,omitempty`): the lifecycle records the list
/// as written, `["*"]` included, and leaves the key out when there is none.
#[test]
fn build_metadata_keeps_exec_env_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/procs",
        "0.12",
        "",
        "",
        r#"cat > "$1/launch.toml" <<'L'
[[processes]]
type = "any"
command = ["true"]
exec-env = ["*"]

[[processes]]
type = "both"
command = ["true"]
exec-env = ["test", "*"]

[[processes]]
type = "plain"
command = ["true"]

[[processes]]
type = "tests"
command = ["true"]
exec-env = ["test"]
L"#,
    );
    for_each_engine(|engine| {
        LocalRunner::default().build(config(&app, &[&bp], engine), |ctx| {
            let label = &ctx.report.labels["io.buildpacks.build.metadata"];
            let metadata: serde_json::Value = serde_json::from_str(label).unwrap();
            let exec_env = |kind: &str| {
                metadata["processes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["type"] == kind)
                    .unwrap_or_else(|| panic!("{engine}: no process {kind} in {label}"))
                    .get("exec-env")
                    .cloned()
            };
            assert_eq!(
                exec_env("any"),
                Some(serde_json::json!(["*"])),
                "{engine}: {label}"
            );
            assert_eq!(
                exec_env("both"),
                Some(serde_json::json!(["test", "*"])),
                "{engine}"
            );
            assert_eq!(exec_env("plain"), None, "{engine}: {label}");
            assert_eq!(
                exec_env("tests"),
                Some(serde_json::json!(["test"])),
                "{engine}"
            );
            // Eligibility is unchanged: "*" runs everywhere.
            assert!(ctx.processes_eligible().contains(&"any".to_owned()));
            assert!(
                ctx.launch(LaunchConfig::new().process("any")).success(),
                "{engine}"
            );
        });
    });
}

/// `launch/process.go` `ProcessFor`: with no default process, the user's arguments are the
/// command (`userProvidedProcess`), run through bash with the layers' launch env
/// (`launch/bash.go`); without arguments, the launcher fails.
#[test]
fn user_command_runs_in_an_image_without_default_process() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/nodefault",
        "0.12",
        "",
        "",
        r#"mkdir -p "$1/run/env.launch"
printf 'from-layer' > "$1/run/env.launch/LAYERVAR"
printf '[types]\nlaunch = true\n' > "$1/run.toml"
cat > "$1/launch.toml" <<'L'
[[processes]]
type = "web"
command = ["echo", "web"]
L"#,
    );
    for_each_engine(|engine| {
        LocalRunner::default().build(config(&app, &[&bp], engine), |ctx| {
            assert_eq!(ctx.report.default_process, None);
            let run = ctx
                .try_launch(LaunchConfig::new().args([
                    "bash",
                    "-c",
                    "echo user-cmd $LAYERVAR in $(basename $PWD); exit 3",
                ]))
                .unwrap_or_else(|error| panic!("{engine}: {error}"));
            assert_eq!(
                run.stdout.trim(),
                "user-cmd from-layer in workspace",
                "{engine}: {}",
                run.output()
            );
            assert_eq!(run.exit_code, Some(3), "{engine}");
            let error = ctx.try_launch(LaunchConfig::new()).unwrap_err();
            assert!(
                matches!(error, EngineError::NoDefaultProcess(_)),
                "{engine}: {error}"
            );
            assert_eq!(error.exit_code(), 82);
        });
    });
}

/// `buildpack/layermetadata.go` `Decode`: `launch`/`build`/`cache` at the top level of a
/// `<layer>.toml` ("should be in the types table"), or of another type than a boolean, fail the
/// builder (exit 52, `platform/exit.go` `BuildError`), whatever `bin/build` exited with.
#[test]
fn invalid_layer_types_fail_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    for (index, toml) in [
        "launch = true\n",
        "cache = false\n[types]\nbuild = true\n",
        "[types]\nlaunch = \"yes\"\n",
        "types = 1\n",
    ]
    .into_iter()
    .enumerate()
    {
        let bp = buildpack(
            tmp.path(),
            &format!("t/bad-types-{index}"),
            "0.12",
            "",
            "",
            &format!(
                "mkdir -p \"$1/deps\"\ncat > \"$1/deps.toml\" <<'T'\n{toml}T\necho wrote-deps"
            ),
        );
        for_each_engine(|engine| {
            let error = LocalRunner::default()
                .try_build(config(&app, &[&bp], engine))
                .map(|_| ())
                .expect_err(&format!("{engine}: {toml:?} must fail the build"));
            let message = error.to_string();
            match &error {
                EngineError::InvalidBuildpackOutput {
                    buildpack_id, path, ..
                } => {
                    assert_eq!(buildpack_id, &format!("t/bad-types-{index}"));
                    assert!(path.ends_with("deps.toml"), "{engine}: {message}");
                }
                other => panic!("{engine}: {toml:?}: {other}"),
            }
            eprintln!("{engine}: {toml:?}: {message}");
            assert_eq!(error.exit_code(), 52, "{engine}: {message}");
            assert!(
                !message.contains("Some(") && !message.contains("bin/build exited"),
                "{engine}: {message}"
            );
            if engine == Engine::Lifecycle {
                assert!(
                    message.contains("the lifecycle's builder exited with 52: failed to build"),
                    "{message}"
                );
            }
        });
    }
}

/// `phase/detector.go` `runTrial`: an optional buildpack whose requires nothing provides leaves
/// the group ("skip: <bp> requires <x>"), but its `bin/detect` passed.
#[test]
fn plan_resolution_lines_are_not_detect_outcomes() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let composite_dir = tmp.path().join("composite");
    std::fs::create_dir_all(&composite_dir).unwrap();
    buildpack(
        &composite_dir,
        "t/needs",
        "0.12",
        "",
        "printf '[[requires]]\\nname = \"nothing-provides-this\"\\n' > \"$2\"",
        "",
    );
    buildpack(&composite_dir, "t/plain", "0.12", "", "", "");
    let meta = composite_dir.join("meta");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("buildpack.toml"),
        "api = \"0.12\"\n[buildpack]\nid = \"t/meta\"\nversion = \"1.0.0\"\n\
         [[order]]\n[[order.group]]\nid = \"t/needs\"\nversion = \"1.0.0\"\noptional = true\n\
         [[order.group]]\nid = \"t/plain\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    for_each_engine(|engine| {
        LocalRunner::default().build(config(&app, &[&meta], engine), |ctx| {
            assert_eq!(ctx.report.group, vec!["t/plain"], "{engine}");
            let needs = ctx
                .report
                .detect
                .iter()
                .find(|d| d.buildpack_id == "t/needs")
                .unwrap();
            assert_eq!(
                needs.outcome,
                DetectOutcome::Pass,
                "{engine}: {}",
                ctx.pack_stdout
            );
        });
    });
}

/// Launches of one image run in one place: the working directory, and with it the results file
/// path, is the same from launch to launch.
#[test]
fn launches_of_an_image_run_in_one_place() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/where",
        "0.12",
        "",
        "",
        r#"mkdir -p "$1/run/env.launch"
printf 'results.tap' > "$1/run/env.launch/CNB_TEST_RESULTS_PATH"
printf '[types]\nlaunch = true\n' > "$1/run.toml"
cat > "$1/launch.toml" <<'L'
[[processes]]
type = "test"
command = ["bash", "-c", "pwd; echo 'ok 1' > results.tap"]
default = true
L"#,
    );
    for_each_engine(|engine| {
        LocalRunner::default().build(config(&app, &[&bp], engine), |ctx| {
            let launch = || {
                let run = ctx.launch(LaunchConfig::new());
                assert!(run.success(), "{engine}: {}", run.output());
                let path = run.test.and_then(|t| t.results_file).map(|f| f.path);
                (run.stdout, path)
            };
            let first = launch();
            assert!(first.1.is_some(), "{engine}: no results file");
            for _ in 0..2 {
                assert_eq!(launch(), first, "{engine}");
            }
        });
    });
}

/// The lifecycle engine: a launch runs at the build paths (as a container sees the image), also
/// after another build with the same cache, a failed one included, has replaced the work
/// directory: the image is put back there, so the working directory and the results path do
/// not move between launches of one image.
#[test]
fn launches_stay_in_place_after_another_build_with_the_cache() {
    if !libcnb_exec_env_test::require(libcnb_exec_env_test::Engine::Lifecycle) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let cache = tmp.path().join("cache");
    let bp = buildpack(
        tmp.path(),
        "t/where",
        "0.12",
        "",
        "",
        r#"mkdir -p "$1/run/env.launch"
printf 'results.tap' > "$1/run/env.launch/CNB_TEST_RESULTS_PATH"
echo "runtime" > "$1/run/file"
printf '%s' "$1/run/file" > "$1/run/env.launch/RUN_FILE"
printf '[types]
launch = true
' > "$1/run.toml"
cat > "$1/launch.toml" <<'L'
[[processes]]
type = "test"
command = ["bash", "-c", "pwd; cat $RUN_FILE; echo 'ok 1' > results.tap"]
default = true
L"#,
    );
    let broken = buildpack(tmp.path(), "t/broken", "0.12", "", "", "exit 1");
    LocalRunner::default().build(
        config(&app, &[&bp], Engine::Lifecycle).cache_dir(&cache),
        |ctx| {
            let launch = || {
                let run = ctx.launch(LaunchConfig::new());
                assert!(run.success(), "{}", run.output());
                let path = run.test.and_then(|t| t.results_file).map(|f| f.path);
                (run.stdout, path)
            };
            let first = launch();
            assert!(first.0.ends_with("/workspace\nruntime\n"), "{first:?}");
            assert!(
                first.1.as_ref().is_some_and(|p| p.starts_with(&cache)),
                "{first:?}"
            );
            let error = LocalRunner::default()
                .try_build(config(&app, &[&broken], Engine::Lifecycle).cache_dir(&cache))
                .map(|_| ())
                .unwrap_err();
            assert_eq!(error.exit_code(), 51, "{error}");
            assert_eq!(launch(), first);
            assert_eq!(launch(), first);
        },
    );
}

/// Layers whose types are all false (renamed `<layer>.ignore`, `buildpack/build.go`) are in the
/// report as `Ignored`, so a summary can list every layer a buildpack wrote.
#[test]
fn layers_with_all_types_false_are_reported_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/scratch",
        "0.12",
        "",
        "",
        r#"mkdir -p "$1/scratch" "$1/kept"
printf '[metadata]\nnote = "scratch"\n' > "$1/scratch.toml"
printf '[types]\nlaunch = true\n' > "$1/kept.toml""#,
    );
    for_each_engine(|engine| {
        LocalRunner::default().build(config(&app, &[&bp], engine), |ctx| {
            let scratch = ctx.layer("t/scratch", "scratch").expect("reported");
            assert_eq!(scratch.state, LayerState::Ignored, "{engine}");
            assert!(!scratch.launch && !scratch.build && !scratch.cache);
            assert_eq!(
                ctx.layer("t/scratch", "kept").map(|l| l.state),
                Some(LayerState::Created)
            );
            assert!(
                !ctx.image_dir().join("layers/t_scratch/scratch").exists(),
                "{engine}: an ignored layer is not exported"
            );
        });
    });
}

/// A launch timeout ends the process and everything it started: a grandchild holding the
/// output pipe does not keep the launch waiting.
#[test]
fn launch_timeouts_end_the_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/slow",
        "0.12",
        "",
        "",
        r#"cat > "$1/launch.toml" <<'L'
[[processes]]
type = "slow"
command = ["bash", "-c", "echo started; sleep 5 & sleep 5; wait"]
default = true
L"#,
    );
    for_each_engine(|engine| {
        LocalRunner::default().build(config(&app, &[&bp], engine), |ctx| {
            let started = Instant::now();
            let run = ctx.launch(LaunchConfig::new().timeout(Duration::from_millis(300)));
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(3),
                "{engine}: took {took:?}: {}",
                run.output()
            );
            assert_eq!(run.exit_code, None, "{engine}");
            assert!(run.stdout.contains("started"), "{engine}: {}", run.output());
        });
    });
}

/// `EngineError::exit_code`: the lifecycle's own exit codes (`platform/exit.go`).
#[test]
fn engine_errors_carry_the_lifecycles_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let fails = buildpack(tmp.path(), "t/fails", "0.12", "", "exit 100", "");
    let errs = buildpack(tmp.path(), "t/errs", "0.12", "", "exit 3", "");
    let broken = buildpack(tmp.path(), "t/broken", "0.12", "", "", "exit 7");
    let two_defaults = buildpack(
        tmp.path(),
        "t/two-defaults",
        "0.12",
        "",
        "",
        r#"cat > "$1/launch.toml" <<'L'
[[processes]]
type = "a"
command = ["true"]
default = true

[[processes]]
type = "b"
command = ["true"]
default = true
L"#,
    );
    for_each_engine(|engine| {
        let code = |bp: &Path| {
            let error = LocalRunner::default()
                .try_build(config(&app, &[bp], engine))
                .map(|_| ())
                .unwrap_err();
            (error.exit_code(), error.to_string())
        };
        let (detect_fail, message) = code(&fails);
        assert_eq!(detect_fail, 20, "{engine}: {message}");
        let (detect_error, message) = code(&errs);
        assert_eq!(detect_error, 21, "{engine}: {message}");
        assert!(!message.contains("Some("), "{engine}: {message}");
        let (build_fail, message) = code(&broken);
        assert_eq!(build_fail, 51, "{engine}: {message}");
        let (invalid, message) = code(&two_defaults);
        assert_eq!(invalid, 52, "{engine}: {message}");
    });
}

/// The previous image: the analyzer restores a launch layer's `<layer>.toml` (metadata only,
/// `launch = true, cache = false`) from the last image built with the cache, and the exporter
/// reuses its content when the buildpack keeps it without a directory. A build asked to have no
/// previous image (`without_previous_image`, like a new image name) gets no metadata back, while
/// a cached layer still comes back from the cache.
#[test]
fn a_build_can_have_no_previous_image_and_keep_its_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/prev",
        "0.12",
        "",
        "",
        r#"if [ -f "$1/meta.toml" ]; then echo "meta: from the previous image"; else echo "meta: none"; fi
if [ -d "$1/cached" ]; then echo "cached: restored"; else echo "cached: none"; fi
mkdir -p "$1/meta" "$1/cached"
echo content > "$1/meta/file"
echo content > "$1/cached/file"
printf '[types]\nlaunch = true\n[metadata]\nv = "1"\n' > "$1/meta.toml"
printf '[types]\ncache = true\n' > "$1/cached.toml""#,
    );
    for engine in libcnb_exec_env_test::engines_with_pack() {
        let cache = libcnb_exec_env_test::TempCache::new().unwrap();
        let runner = LocalRunner::default();
        let build = |mut config: BuildConfig| {
            runner
                .try_build(config.cache_dir(cache.path()))
                .unwrap_or_else(|error| panic!("{engine}: {error}"))
                .pack_stdout
        };
        let first = build(config(&app, &[&bp], engine));
        assert!(
            first.contains("meta: none") && first.contains("cached: none"),
            "{engine}: {first}"
        );
        let second = build(config(&app, &[&bp], engine));
        assert!(
            second.contains("meta: from the previous image") && second.contains("cached: restored"),
            "{engine}: {second}"
        );
        let fresh = build(
            config(&app, &[&bp], engine)
                .without_previous_image()
                .clone(),
        );
        assert!(
            fresh.contains("meta: none") && fresh.contains("cached: restored"),
            "{engine}: {fresh}"
        );
    }
}
