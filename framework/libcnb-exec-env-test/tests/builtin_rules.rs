//! The built-in engine's rules, each checked against what the lifecycle (v0.21.11) source does.
//! Shell buildpacks written for the tests; no Docker, no network.

mod support;

use libcnb_exec_env::{ExecEnv, ExecEnvSelector};
use libcnb_exec_env_test::{
    BuildConfig, DetectOutcome, Engine, EngineError, LaunchConfig, LayerState, LocalRunner,
    PackResult, TestResultsFormat,
};
use support::{app, buildpack};

/// A build with the built-in engine (whose rules these are).
fn config(app: &std::path::Path, bps: &[&std::path::Path]) -> BuildConfig {
    support::config(app, bps, Engine::Builtin)
}

const PRINT_ENV: &str = r#"echo "EXEC_ENV=${CNB_EXEC_ENV-unset} TARGET_OS=${CNB_TARGET_OS-unset} BP_DIR=${CNB_BUILDPACK_DIR-unset}"
echo "PWD_HAS_APP=$(test -f app.txt && echo yes || echo no)""#;

/// `buildpack/detect.go` and `build.go`: `CNB_EXEC_ENV` only for api >= 0.12; targets from
/// 0.10; `CNB_BUILD_PLAN_PATH` at detect, `CNB_BP_PLAN_PATH` and `CNB_LAYERS_DIR` at build.
#[test]
fn exec_env_reaches_only_api_0_12_buildpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let detect = format!("{PRINT_ENV}\necho \"PLAN=${{CNB_BUILD_PLAN_PATH-unset}} ARG2=$2\"");
    let build = format!(
        "{PRINT_ENV}\necho \"LAYERS=${{CNB_LAYERS_DIR-unset}} ARG1=$1 BPPLAN=${{CNB_BP_PLAN_PATH-unset}} ARG3=$3 BUILDPLAN=${{CNB_BUILD_PLAN_PATH-unset}}\""
    );
    let old = buildpack(tmp.path(), "t/old", "0.10", "", &detect, &build);
    let new = buildpack(tmp.path(), "t/new", "0.12", "", &detect, &build);
    for env in [ExecEnv::Test, ExecEnv::Production] {
        LocalRunner::default().build(config(&app, &[&old, &new]).exec_env(env.clone()), |ctx| {
            let old_detect = &ctx.report.detect[0].output;
            let new_detect = &ctx.report.detect[1].output;
            assert!(
                old_detect.contains("EXEC_ENV=unset TARGET_OS=linux"),
                "{old_detect}"
            );
            assert!(
                new_detect.contains(&format!("EXEC_ENV={env} TARGET_OS=linux")),
                "{new_detect}"
            );
            for output in [old_detect, new_detect] {
                assert!(output.contains("PWD_HAS_APP=yes"), "{output}");
                let line = output.lines().find(|l| l.starts_with("PLAN=")).unwrap();
                let (plan, arg) = line["PLAN=".len()..].split_once(" ARG2=").unwrap();
                assert_eq!(plan, arg, "CNB_BUILD_PLAN_PATH is the plan argument");
            }
            let build_lines: Vec<&str> = ctx
                .pack_stdout
                .lines()
                .filter(|l| l.starts_with("EXEC_ENV="))
                .collect();
            // detect x2 then build x2.
            assert_eq!(build_lines.len(), 4, "{}", ctx.pack_stdout);
            assert!(
                build_lines[2].starts_with("EXEC_ENV=unset"),
                "{}",
                build_lines[2]
            );
            assert!(
                build_lines[3].starts_with(&format!("EXEC_ENV={env}")),
                "{}",
                build_lines[3]
            );
            let layers_line = ctx
                .pack_stdout
                .lines()
                .find(|l| l.starts_with("LAYERS="))
                .unwrap();
            assert!(layers_line.contains("BUILDPLAN=unset"), "{layers_line}");
            let parts: Vec<&str> = layers_line.split(' ').collect();
            assert_eq!(parts[0]["LAYERS=".len()..], parts[1]["ARG1=".len()..]);
            assert!(parts[0].ends_with("/layers/t_old"), "{layers_line}");
            assert_eq!(parts[2]["BPPLAN=".len()..], parts[3]["ARG3=".len()..]);
            assert_eq!(ctx.report.labels["io.buildpacks.exec-env"], env.to_string());
        });
    }
}

/// phase/detector.go: a buildpack of api >= 0.12 declaring environments that exclude the
/// current one is skipped, also in production; "*" and api 0.10 declarations are not.
#[test]
fn declared_exec_env_skips_buildpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let only_test = buildpack(
        tmp.path(),
        "t/only-test",
        "0.12",
        "exec-env = [\"test\"]",
        "echo ran-detect",
        "",
    );
    let star = buildpack(tmp.path(), "t/star", "0.12", "exec-env = [\"*\"]", "", "");
    let old = buildpack(
        tmp.path(),
        "t/old-test",
        "0.10",
        "exec-env = [\"test\"]",
        "",
        "",
    );
    let bps = [only_test.as_path(), star.as_path(), old.as_path()];
    LocalRunner::default().build(config(&app, &bps), |ctx| {
        assert_eq!(ctx.report.group, vec!["t/star", "t/old-test"]);
        assert_eq!(
            ctx.report.detect[0].outcome,
            DetectOutcome::SkippedExecEnv {
                declared: ExecEnvSelector::Only(vec![ExecEnv::Test])
            }
        );
        assert!(!ctx.pack_stdout.contains("ran-detect"), "never run");
    });
    LocalRunner::default().build(config(&app, &bps).exec_env(ExecEnv::Test), |ctx| {
        assert_eq!(
            ctx.report.group,
            vec!["t/only-test", "t/star", "t/old-test"]
        );
        assert!(ctx.report.detect[0].output.contains("ran-detect"));
    });
}

/// phase/detector.go Resolve: a failing optional buildpack leaves the group; a failing required
/// one fails detection, and the error shows every buildpack's output.
#[test]
fn optional_buildpacks_and_detect_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let composite_dir = tmp.path().join("composite");
    std::fs::create_dir_all(&composite_dir).unwrap();
    let failing = buildpack(
        &composite_dir,
        "t/fails",
        "0.12",
        "",
        "echo 'no Gemfile here'; exit 100",
        "",
    );
    let passing = buildpack(&composite_dir, "t/passes", "0.12", "", "echo fine", "");
    let meta = composite_dir.join("meta");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("buildpack.toml"),
        "api = \"0.12\"\n[buildpack]\nid = \"t/meta\"\nversion = \"1.0.0\"\n\
         [[order]]\n[[order.group]]\nid = \"t/fails\"\nversion = \"1.0.0\"\noptional = true\n\
         [[order.group]]\nid = \"t/passes\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    LocalRunner::default().build(config(&app, &[&meta]), |ctx| {
        assert_eq!(ctx.report.group, vec!["t/passes"]);
        assert_eq!(ctx.report.detect[0].outcome, DetectOutcome::Fail);
        assert!(ctx.report.detect[0].optional);
    });
    let error = LocalRunner::default()
        .try_build(config(&app, &[&failing, &passing]))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, EngineError::DetectFailed { .. }),
        "{message}"
    );
    assert!(
        message.contains("t/fails@1.0.0: failed (exit 100)")
            && message.contains("| no Gemfile here")
            && message.contains("t/passes@1.0.0: passed"),
        "{message}"
    );
    // A detect exit code other than 0/100 is an error, reported as such.
    let erroring = buildpack(tmp.path(), "t/errs", "0.12", "", "exit 3", "");
    let message = LocalRunner::default()
        .try_build(config(&app, &[&erroring]))
        .unwrap_err()
        .to_string();
    assert!(message.contains("errored (exit 3)"), "{message}");
}

/// phase/detector.go runTrial + platform/files/plan.go Find/Filter: requires need an earlier
/// provider, `or` alternatives are tried, providers receive the requires' metadata.
#[test]
fn build_plan_resolution() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let provider = buildpack(
        tmp.path(),
        "t/node",
        "0.12",
        "",
        "cat > \"$2\" <<'P'\n[[provides]]\nname = \"node\"\n[[or]]\n[[or.provides]]\nname = \"yarn\"\nP",
        "echo \"PLAN:\"; cat \"$3\"",
    );
    let requirer = buildpack(
        tmp.path(),
        "t/app",
        "0.12",
        "",
        "cat > \"$2\" <<'P'\n[[requires]]\nname = \"yarn\"\n[requires.metadata]\nversion = \"4\"\nP",
        "echo \"APP PLAN:\"; cat \"$3\"",
    );
    LocalRunner::default().build(config(&app, &[&provider, &requirer]), |ctx| {
        assert_eq!(ctx.report.group, vec!["t/node", "t/app"]);
        assert_eq!(ctx.report.plan.len(), 1);
        assert_eq!(
            ctx.report.plan[0].name, "yarn",
            "the `or` alternative was chosen"
        );
        assert!(
            ctx.pack_stdout.contains(
                "PLAN:\n[[entries]]\nname = \"yarn\"\n\n[entries.metadata]\nversion = \"4\""
            ),
            "{}",
            ctx.pack_stdout
        );
        assert!(
            ctx.pack_stdout.contains("APP PLAN:\nentries = []"),
            "{}",
            ctx.pack_stdout
        );
    });
    // The requirer before the provider: nothing provides it earlier.
    let error = LocalRunner::default()
        .try_build(config(&app, &[&requirer, &provider]))
        .unwrap_err();
    assert!(
        error.to_string().contains("no build plan resolves"),
        "{error}"
    );
}

/// buildpack/build.go setupEnv + env/env.go: later buildpacks see build layers' bin/, env/ and
/// env.build/ (with suffix actions), not env.launch/ nor non-build layers.
#[test]
fn build_env_of_earlier_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let first = buildpack(
        tmp.path(),
        "t/tools",
        "0.12",
        "",
        "",
        r#"mkdir -p "$1/tools/bin" "$1/tools/env" "$1/tools/env.build" "$1/tools/env.launch" "$1/hidden/bin"
printf '#!/bin/sh\necho tool-ran\n' > "$1/tools/bin/mytool"; chmod +x "$1/tools/bin/mytool"
printf 'base' > "$1/tools/env/FLAGS.default"
printf 'more' > "$1/tools/env.build/FLAGS.append"
printf ' ' > "$1/tools/env.build/FLAGS.delim"
printf 'pre' > "$1/tools/env.build/NODELIM.prepend"
printf 'launch-only' > "$1/tools/env.launch/LAUNCHVAR"
printf '[types]\nbuild = true\n' > "$1/tools.toml"
printf '#!/bin/sh\necho hidden\n' > "$1/hidden/bin/hiddentool"; chmod +x "$1/hidden/bin/hiddentool"
printf '[types]\nlaunch = true\n' > "$1/hidden.toml""#,
    );
    let second = buildpack(
        tmp.path(),
        "t/user",
        "0.12",
        "",
        "",
        r#"mytool
echo "FLAGS=[$FLAGS] NODELIM=[${NODELIM-}] LAUNCHVAR=[${LAUNCHVAR-unset}]"
command -v hiddentool || echo "no hiddentool""#,
    );
    LocalRunner::default().build(
        config(&app, &[&first, &second]).env("NODELIM", "plat"),
        |ctx| {
            let out = &ctx.pack_stdout;
            assert!(out.contains("tool-ran"), "{out}");
            // env/env.go WithOverrides: the platform's env files are applied last and override
            // layer values of non-path variables.
            assert!(
                out.contains("FLAGS=[base more] NODELIM=[plat] LAUNCHVAR=[unset]"),
                "{out}"
            );
            assert!(out.contains("no hiddentool"), "{out}");
        },
    );
}

const CACHE_BUILD: &str = r#"echo "RESTORED_TOML:"; cat "$1/deps.toml" 2>/dev/null || echo none
echo "RESTORED_FILE: $(cat "$1/deps/file" 2>/dev/null || echo none)"
if [ -f "$CNB_BUILDPACK_DIR/../drop" ]; then exit 0; fi
mkdir -p "$1/deps"; [ -f "$1/deps/file" ] || echo "v1" > "$1/deps/file"
printf '[types]\ncache = true\n[metadata]\nkey = "k1"\n' > "$1/deps.toml"
mkdir -p "$1/run"; printf '[types]\nlaunch = true\n' > "$1/run.toml""#;

/// phase/restorer.go: only cache=true layers come back, <layer>.toml without [types]; a layer
/// not marked cache=true again leaves the cache (eviction).
#[test]
fn cache_restore_and_eviction() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(tmp.path(), "t/cache", "0.12", "", "", CACHE_BUILD);
    let cache = tmp.path().join("cache");
    let build = || config(&app, &[&bp]).cache_dir(&cache).clone();
    LocalRunner::default().build(build(), |ctx| {
        assert!(ctx.pack_stdout.contains("RESTORED_TOML:\nnone"));
        let deps = ctx.layer("t/cache", "deps").unwrap();
        assert_eq!(deps.state, LayerState::Created);
        assert!(deps.cache && !deps.launch);
        assert!(
            !ctx.image_dir().join("layers/t_cache/deps").exists(),
            "cache-only: not exported"
        );
        assert!(ctx.image_dir().join("layers/t_cache/run").is_dir());
        ctx.rebuild(build(), |ctx| {
            let out = &ctx.pack_stdout;
            assert!(
                out.contains("RESTORED_TOML:\n[metadata]\nkey = \"k1\"\nRESTORED_FILE: v1"),
                "restored with metadata and without [types]: {out}"
            );
            assert_eq!(
                ctx.layer("t/cache", "deps").unwrap().state,
                LayerState::Restored
            );
            assert_eq!(
                ctx.layer("t/cache", "run").unwrap().state,
                LayerState::Created,
                "launch-only layers are not cached"
            );
        });
    });
    // The buildpack no longer sets the types: the layer is dropped from the cache.
    std::fs::write(tmp.path().join("drop"), "").unwrap();
    LocalRunner::default().build(build(), |ctx| {
        assert!(
            ctx.pack_stdout.contains("RESTORED_FILE: v1"),
            "{}",
            ctx.pack_stdout
        );
        // Restored but left without [types]: ignored (renamed <layer>.ignore), reported as
        // such, not cached again.
        let deps = ctx.layer("t/cache", "deps").expect("reported");
        assert_eq!(deps.state, LayerState::Ignored);
        assert!(!deps.launch && !deps.build && !deps.cache);
    });
    LocalRunner::default().build(build(), |ctx| {
        assert!(
            ctx.pack_stdout.contains("RESTORED_TOML:\nnone"),
            "evicted: {}",
            ctx.pack_stdout
        );
    });
}

/// A corrupt cache is reported and rebuilt, never a crash.
#[test]
fn corrupt_cache_is_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(tmp.path(), "t/cache", "0.12", "", "", CACHE_BUILD);
    let cache = tmp.path().join("cache");
    LocalRunner::default().build(config(&app, &[&bp]).cache_dir(&cache), |_| {});
    std::fs::write(cache.join("builtin/metadata.toml"), "format = [oops").unwrap();
    LocalRunner::default().build(config(&app, &[&bp]).cache_dir(&cache), |ctx| {
        assert!(
            ctx.pack_stdout
                .contains("is corrupt, starting with an empty cache")
        );
        assert_eq!(
            ctx.layer("t/cache", "deps").unwrap().state,
            LayerState::Created
        );
    });
    // Metadata fine, layer files gone.
    std::fs::remove_dir_all(cache.join("builtin/layers/t_cache/deps")).unwrap();
    LocalRunner::default().build(config(&app, &[&bp]).cache_dir(&cache), |ctx| {
        assert!(
            ctx.pack_stdout
                .contains("skipping restore for layer t/cache:deps"),
            "{}",
            ctx.pack_stdout
        );
        assert_eq!(
            ctx.layer("t/cache", "deps").unwrap().state,
            LayerState::Created
        );
    });
}

/// A layer whose [metadata] exec-env excludes the build's environment is reported as retained.
#[test]
fn other_env_layers_are_reported_retained() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/envs",
        "0.12",
        "",
        "",
        r#"mkdir -p "$1/gems-$CNB_EXEC_ENV"
printf '[types]\ncache = true\nlaunch = true\n[metadata]\nexec-env = ["%s"]\n' "$CNB_EXEC_ENV" > "$1/gems-$CNB_EXEC_ENV.toml"
for other in "$1"/gems-*.toml; do
  case "$other" in *"gems-$CNB_EXEC_ENV.toml") ;; *) sed -i 's/^\[metadata\]/[types]\ncache = true\n[metadata]/' "$other" ;; esac
done"#,
    );
    let cache = tmp.path().join("cache");
    let build = |env: ExecEnv| config(&app, &[&bp]).cache_dir(&cache).exec_env(env).clone();
    LocalRunner::default().build(build(ExecEnv::Test), |ctx| {
        ctx.rebuild(build(ExecEnv::Production), |ctx| {
            assert_eq!(
                ctx.layer("t/envs", "gems-production").unwrap().state,
                LayerState::Created
            );
            let test = ctx.layer("t/envs", "gems-test").unwrap();
            assert_eq!(test.state, LayerState::Retained);
            assert!(test.cache && !test.launch);
            assert_eq!(test.exec_env.as_deref(), Some(&["test".to_owned()][..]));
            assert!(!ctx.image_dir().join("layers/t_envs/gems-test").exists());
        });
    });
}

const PROCESSES: &str = r#"mkdir -p "$1/launch/env.launch/web" "$1/launch/env" "$1/launch/env.launch"
printf 'all' > "$1/launch/env/SHARED"
printf 'launch' > "$1/launch/env.launch/SHARED.override"
printf 'webonly' > "$1/launch/env.launch/web/WEBVAR"
printf '[types]\nlaunch = true\n' > "$1/launch.toml"
cat > "$1/launch.toml" <<'L'
[[processes]]
type = "web"
command = ["bash", "-c", "echo web SHARED=$SHARED WEBVAR=${WEBVAR-unset} EXEC=${CNB_EXEC_ENV-unset} args:", "--"]
args = ["default-arg"]

[[processes]]
type = "test"
command = ["bash", "-c", "echo test SHARED=$SHARED WEBVAR=${WEBVAR-unset} args: \"$@\"; mkdir -p out; printf '<testsuite tests=\"1\"/>' > out/junit.xml; exit ${FAIL-0}", "--"]
default = true
exec-env = ["test"]

[[processes]]
type = "lint"
command = ["true"]
exec-env = ["*"]
L
printf '[types]\nlaunch = true\n' > "$1/launch.toml.tmp"; rm "$1/launch.toml.tmp"
printf '[types]\nlaunch = true\n' > "$1/launchlayer.toml"; mv "$1/launch" "$1/launchlayer"
mkdir -p "$1/launchlayer/env.launch/test"
printf 'out/junit.xml' > "$1/launchlayer/env.launch/test/CNB_TEST_RESULTS_PATH"
printf 'junit' > "$1/launchlayer/env.launch/test/CNB_TEST_RESULTS_FORMAT""#;

/// launch/process.go eligibility, phase/builder.go process merging, launch/launcher.go env.
#[test]
fn processes_filtering_and_launch_env() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let first = buildpack(tmp.path(), "t/procs", "0.12", "", "", PROCESSES);
    let second = buildpack(
        tmp.path(),
        "t/override",
        "0.12",
        "",
        "",
        "printf '[[processes]]\\ntype = \"web\"\\ncommand = [\"echo\", \"overridden\"]\\n' > \"$1/launch.toml\"",
    );
    LocalRunner::default().build(
        config(&app, &[&first, &second]).exec_env(ExecEnv::Test),
        |ctx| {
            assert_eq!(ctx.report.default_process.as_deref(), Some("test"));
            let web = ctx
                .report
                .processes
                .iter()
                .find(|p| p.r#type == "web")
                .unwrap();
            assert_eq!(
                web.buildpack_id, "t/override",
                "a later buildpack replaces the type"
            );
            let types: Vec<&str> = ctx
                .report
                .processes
                .iter()
                .map(|p| p.r#type.as_str())
                .collect();
            assert_eq!(types, vec!["lint", "test", "web"], "sorted by type");
            assert_eq!(ctx.processes_eligible(), vec!["lint", "test", "web"]);
            assert_eq!(
                ctx.report.processes_eligible(&ExecEnv::Production),
                vec!["lint", "web"]
            );

            // The default process is test-only: refused without CNB_EXEC_ENV, with the fix.
            let error = ctx.try_launch(LaunchConfig::new()).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, EngineError::NotEligible { .. }),
                "{message}"
            );
            assert!(
                message.contains("process `test` may only run in test")
                    && message.contains("CNB_EXEC_ENV is unset")
                    && message.contains("docker run -e CNB_EXEC_ENV=test")
                    && message.contains("--exec-env test"),
                "{message}"
            );
            let run = ctx.launch(LaunchConfig::new().exec_env(ExecEnv::Test).args(["a", "b"]));
            assert!(run.success(), "{}", run.output());
            assert!(
                run.stdout
                    .contains("test SHARED=launch WEBVAR=unset args: a b"),
                "{}",
                run.stdout
            );
            let report = run.test.unwrap();
            assert!(report.passed);
            let results = report.results_file.unwrap();
            assert_eq!(results.format, TestResultsFormat::Junit);
            assert!(results.content.contains("<testsuite"));
            let failed = ctx.launch(LaunchConfig::new().exec_env(ExecEnv::Test).env("FAIL", "3"));
            assert_eq!(failed.exit_code, Some(3));
            assert!(!failed.test.unwrap().passed);
            let web = ctx.launch(LaunchConfig::new().process("web"));
            assert_eq!(web.stdout, "overridden\n");
            let missing = ctx
                .try_launch(LaunchConfig::new().process("nope"))
                .unwrap_err();
            assert!(
                missing
                    .to_string()
                    .contains("has no process `nope` (it has: lint, test, web)"),
                "{missing}"
            );
        },
    );
    // Without the override: env.launch/<process>/ applies to that process only; user args
    // replace the default args.
    LocalRunner::default().build(config(&app, &[&first]), |ctx| {
        let web = ctx.launch(
            LaunchConfig::new()
                .process("web")
                .exec_env(ExecEnv::Production),
        );
        assert_eq!(
            web.stdout,
            "web SHARED=launch WEBVAR=webonly EXEC=production args:\n"
        );
        assert!(web.test.is_none());
        let web = ctx.launch(LaunchConfig::new().process("web"));
        assert!(web.stdout.contains("EXEC=unset"), "{}", web.stdout);
        assert_eq!(ctx.processes_eligible(), vec!["lint", "web"]);
    });
}

/// Errors: missing app dir, a buildpack exiting non-zero (with its output).
#[test]
fn clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/broken",
        "0.12",
        "",
        "",
        "echo 'compiling...'; exit 7",
    );
    let error = LocalRunner::default()
        .try_build(config(&tmp.path().join("nope"), &[&bp]))
        .unwrap_err();
    assert!(matches!(error, EngineError::MissingAppDir(_)), "{error}");
    assert!(error.to_string().contains("nope"));
    let error = LocalRunner::default()
        .try_build(config(&app, &[&bp]))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("buildpack t/broken failed: bin/build exited with 7")
            && message.contains("compiling..."),
        "{message}"
    );
    LocalRunner::default().build(
        config(&app, &[&bp]).expected_pack_result(PackResult::Failure),
        |ctx| {
            assert!(
                ctx.pack_stdout.contains("compiling..."),
                "{}",
                ctx.pack_stdout
            );
        },
    );
}

/// Two builds sharing a cache directory serialize on its lock.
#[test]
fn builds_sharing_a_cache_serialize() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "t/slow",
        "0.12",
        "",
        "",
        "echo \"START $(date +%s%N)\"; sleep 0.5; echo \"END $(date +%s%N)\"",
    );
    let cache = tmp.path().join("cache");
    let spans: Vec<(u128, u128)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let runner = LocalRunner::default();
                    let ctx = runner
                        .try_build(config(&app, &[&bp]).cache_dir(&cache))
                        .unwrap();
                    let value = |tag: &str| -> u128 {
                        ctx.pack_stdout
                            .lines()
                            .find_map(|l| l.strip_prefix(tag))
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap()
                    };
                    (value("START "), value("END "))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (a, b) = (spans[0], spans[1]);
    assert!(a.1 <= b.0 || b.1 <= a.0, "builds overlapped: {a:?} {b:?}");
}

/// `buildpack/build.go`: launch.toml keys the lifecycle does not know are ignored, a repeated
/// type replaces the earlier one, two defaults fail the build.
#[test]
fn launch_toml_is_read_like_the_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let lenient = buildpack(
        tmp.path(),
        "t/lenient",
        "0.12",
        "",
        "",
        "printf '[[bom]]\\nname = \"x\"\\n[[processes]]\\ntype = \"web\"\\ncommand = [\"echo\", \"one\"]\\nfuture-key = 1\\n[[processes]]\\ntype = \"web\"\\ncommand = [\"echo\", \"two\"]\\n' > \"$1/launch.toml\"",
    );
    LocalRunner::default().build(config(&app, &[&lenient]), |ctx| {
        assert_eq!(ctx.report.processes.len(), 1);
        assert_eq!(ctx.report.processes[0].command, vec!["echo", "two"]);
    });
    let two_defaults = buildpack(
        tmp.path(),
        "t/defaults",
        "0.12",
        "",
        "",
        "printf '[[processes]]\\ntype = \"a\"\\ncommand = [\"x\"]\\ndefault = true\\n[[processes]]\\ntype = \"b\"\\ncommand = [\"x\"]\\ndefault = true\\n' > \"$1/launch.toml\"",
    );
    let error = LocalRunner::default()
        .try_build(config(&app, &[&two_defaults]))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("multiple default process types aren't allowed: a, b"),
        "{error}"
    );
}
