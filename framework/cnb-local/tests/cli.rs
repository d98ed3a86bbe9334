//! The `cnb-local` command line, end to end, with shell buildpacks and the built-in engine.

// The shell-buildpack fixtures of the local platform's own tests: one copy for both crates.
#[path = "../../libcnb-exec-env-test/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::{app, buildpack};

fn cnb_local(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnb-local"))
        .args(args)
        .output()
        .expect("cnb-local runs")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const BUILD: &str = r#"mkdir -p "$1/deps"
if [ -f "$1/deps.toml" ]; then echo "deps restored"; fi
printf '[types]\ncache = true\nbuild = true\n' > "$1/deps.toml"
mkdir -p "$1/gems-$CNB_EXEC_ENV"
printf '[types]\nlaunch = true\n[metadata]\nexec-env = ["%s"]\n' "$CNB_EXEC_ENV" > "$1/gems-$CNB_EXEC_ENV.toml"
cat > "$1/launch.toml" <<'L'
[[processes]]
type = "web"
command = ["echo", "serving"]

[[processes]]
type = "test"
command = ["bash", "-c", "echo running tests; exit ${TEST_EXIT:-0}"]
default = true
exec-env = ["test"]
L"#;

fn setup(root: &Path) -> (String, String, String, String) {
    let app = app(root);
    let bp = buildpack(root, "cli/app", "0.12", "", "echo detecting", BUILD);
    let str = |p: &Path| p.to_string_lossy().into_owned();
    (
        str(&app),
        str(&bp),
        str(&root.join("cache")),
        str(&root.join("out")),
    )
}

#[test]
fn build_prints_a_summary_and_launch_refuses_ineligible_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp, cache, out) = setup(tmp.path());
    let build = |env: &str| {
        cnb_local(&[
            "build",
            &app,
            "--buildpack",
            &bp,
            "--engine",
            "builtin",
            "--cache",
            &cache,
            "--out",
            &out,
            "--exec-env",
            env,
        ])
    };
    let first = build("test");
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("===> DETECT") && stderr.contains("detecting"),
        "{stderr}"
    );
    assert!(stderr.contains("Engine: the built-in engine"), "{stderr}");
    assert!(stdout.contains("Group: cli/app@1.0.0"), "{stdout}");
    assert!(
        stdout.contains("deps") && stdout.contains("build,cache") && stdout.contains("created"),
        "{stdout}"
    );
    assert!(stdout.contains("Processes eligible in test:"), "{stdout}");
    assert!(
        stdout.contains("test         (default) bash -c"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Label io.buildpacks.exec-env = test"),
        "{stdout}"
    );

    let second = build("production");
    let (stdout, stderr) = text(&second);
    assert!(second.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("deps restored"), "{stderr}");
    let deps_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("deps "))
        .unwrap();
    assert!(deps_line.ends_with("restored"), "{deps_line}");
    assert!(
        stdout.contains("Not eligible in production: test (exec-env test)"),
        "{stdout}"
    );

    // The production image has no eligible default: `test` is refused, with the fix.
    let refused = cnb_local(&["launch", &out]);
    let (_, stderr) = text(&refused);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("process `test` may only run in test")
            && stderr.contains("docker run -e CNB_EXEC_ENV=test"),
        "{stderr}"
    );
    let web = cnb_local(&["launch", &out, "web"]);
    assert_eq!(text(&web).0, "serving\n");
    let with_args = cnb_local(&["launch", &out, "web", "--", "other", "args"]);
    assert_eq!(text(&with_args).0, "serving other args\n");
}

#[test]
fn run_builds_for_test_and_exits_with_the_tests_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, bp, cache, out) = setup(tmp.path());
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            &app,
            "--buildpack",
            &bp,
            "--engine",
            "builtin",
            "--cache",
            &cache,
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        cnb_local(&args)
    };
    let passed = run(&[]);
    let (stdout, stderr) = text(&passed);
    assert!(passed.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("running tests"), "{stdout}");
    assert!(
        stderr.contains("===> LAUNCH test (CNB_EXEC_ENV=test"),
        "{stderr}"
    );
    assert!(stderr.contains("PASSED in"), "{stderr}");
    let failed = run(&["--env", "TEST_EXIT=4"]);
    // --env is a platform env var at build, not the launch env: the tests still pass.
    assert!(failed.status.success());
    let failing_bp = buildpack(
        tmp.path(),
        "cli/failing",
        "0.12",
        "",
        "",
        "printf '[[processes]]\\ntype = \"test\"\\ncommand = [\"bash\", \"-c\", \"echo boom; exit 3\"]\\ndefault = true\\nexec-env = [\"test\"]\\n' > \"$1/launch.toml\"",
    );
    let failed = cnb_local(&[
        "run",
        &app,
        "--buildpack",
        &failing_bp.to_string_lossy(),
        "--engine",
        "builtin",
        "--cache",
        &cache,
        "--out",
        &out,
    ]);
    let (stdout, stderr) = text(&failed);
    assert_eq!(failed.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("FAILED in"), "{stderr}");
}

#[test]
fn clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (app, _, cache, out) = setup(tmp.path());
    let missing = cnb_local(&["build", "/nonexistent/app", "--engine", "builtin"]);
    let (_, stderr) = text(&missing);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr.contains("the app directory /nonexistent/app does not exist"),
        "{stderr}"
    );

    let nope = buildpack(
        tmp.path(),
        "cli/nope",
        "0.12",
        "",
        "echo 'no package.json'; exit 100",
        "",
    );
    let other = buildpack(
        tmp.path(),
        "cli/other",
        "0.12",
        "exec-env = [\"test\"]",
        "",
        "",
    );
    let failed = cnb_local(&[
        "build",
        &app,
        "--buildpack",
        &nope.to_string_lossy(),
        "--buildpack",
        &other.to_string_lossy(),
        "--engine",
        "builtin",
        "--cache",
        &cache,
        "--out",
        &out,
    ]);
    let (_, stderr) = text(&failed);
    assert_eq!(failed.status.code(), Some(20), "{stderr}");
    assert!(
        stderr.contains("no buildpack group passed detection in the production environment")
            && stderr.contains("cli/nope@1.0.0: failed (exit 100)")
            && stderr.contains("| no package.json")
            && stderr.contains("cli/other@1.0.0: skipped: it declares exec-env [test]"),
        "{stderr}"
    );

    let broken = buildpack(
        tmp.path(),
        "cli/broken",
        "0.12",
        "",
        "",
        "echo 'oh no'; exit 9",
    );
    let failed = cnb_local(&[
        "build",
        &app,
        "--buildpack",
        &broken.to_string_lossy(),
        "--engine",
        "builtin",
        "--cache",
        &cache,
        "--out",
        &out,
    ]);
    let (_, stderr) = text(&failed);
    assert_eq!(failed.status.code(), Some(51), "{stderr}");
    assert!(
        stderr.contains("oh no")
            && stderr.contains("buildpack cli/broken failed: bin/build exited with 9"),
        "{stderr}"
    );

    let usage = cnb_local(&["build", &app, "--bogus"]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(text(&usage).1.contains("unknown option --bogus"));
    let bad_env = cnb_local(&["build", &app, "--exec-env", "a/b"]);
    assert!(text(&bad_env).1.contains("'/'"), "{}", text(&bad_env).1);
}

/// The engines `--engine` can name here: `builtin`, and `lifecycle` when installed.
fn engines() -> Vec<&'static str> {
    let mut engines = vec!["builtin"];
    if libcnb_exec_env_test::require(libcnb_exec_env_test::Engine::Lifecycle) {
        engines.push("lifecycle");
    }
    engines
}

/// `cnb-local` exits with the lifecycle's own codes (`platform/exit.go`), whichever engine runs:
/// 20 no group passed detection, 21 a `bin/detect` errored, 51 a `bin/build` failed, 52 invalid
/// buildpack output, 82 a launch that cannot start its process; a launched process's own code.
#[test]
fn exit_codes_are_the_lifecycles() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let str = |p: &Path| p.to_string_lossy().into_owned();
    let fails = str(&buildpack(
        tmp.path(),
        "codes/fails",
        "0.12",
        "",
        "exit 100",
        "",
    ));
    let errs = str(&buildpack(
        tmp.path(),
        "codes/errs",
        "0.12",
        "",
        "exit 3",
        "",
    ));
    let broken = str(&buildpack(
        tmp.path(),
        "codes/broken",
        "0.12",
        "",
        "",
        "exit 9",
    ));
    let invalid = str(&buildpack(
        tmp.path(),
        "codes/invalid",
        "0.12",
        "",
        "",
        "printf 'launch = true\\n' > \"$1/deps.toml\"",
    ));
    let good = str(&buildpack(
        tmp.path(),
        "codes/good",
        "0.12",
        "",
        "",
        r#"cat > "$1/launch.toml" <<'L'
[[processes]]
type = "web"
command = ["bash", "-c", "echo web; exit 7"]
default = true

[[processes]]
type = "test"
command = ["true"]
exec-env = ["test"]
L"#,
    ));
    for engine in engines() {
        let cache = str(&tmp.path().join(format!("cache-{engine}")));
        let out = str(&tmp.path().join(format!("out-{engine}")));
        let build = |bp: &str| {
            cnb_local(&[
                "build",
                &str(&app),
                "--buildpack",
                bp,
                "--engine",
                engine,
                "--cache",
                &cache,
                "--out",
                &out,
                "--quiet",
            ])
        };
        for (bp, code) in [(&fails, 20), (&errs, 21), (&broken, 51), (&invalid, 52)] {
            let output = build(bp);
            let (stdout, stderr) = text(&output);
            assert_eq!(
                output.status.code(),
                Some(code),
                "{engine} {bp}: {stdout}\n{stderr}"
            );
            assert!(!stderr.contains("Some("), "{engine}: {stderr}");
        }
        let good_build = build(&good);
        assert!(
            good_build.status.success(),
            "{engine}: {}",
            text(&good_build).1
        );
        let launched = cnb_local(&["launch", &out]);
        assert_eq!(launched.status.code(), Some(7), "{engine}");
        assert_eq!(text(&launched).0, "web\n");
        for process in ["test", "nope"] {
            let refused = cnb_local(&["launch", &out, process]);
            assert_eq!(
                refused.status.code(),
                Some(82),
                "{engine} {process}: {}",
                text(&refused).1
            );
        }
    }
}

/// The summary lists every layer a buildpack wrote, those whose types are all false too.
#[test]
fn summary_lists_every_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "sum/layers",
        "0.12",
        "",
        "",
        r#"mkdir -p "$1/scratch" "$1/runtime"
printf '[metadata]\nnote = 1\n' > "$1/scratch.toml"
printf '[types]\nlaunch = true\n' > "$1/runtime.toml""#,
    );
    for engine in engines() {
        let output = cnb_local(&[
            "build",
            &app.to_string_lossy(),
            "--buildpack",
            &bp.to_string_lossy(),
            "--engine",
            engine,
            "--cache",
            &tmp.path().join(format!("cache-{engine}")).to_string_lossy(),
            "--out",
            &tmp.path().join(format!("out-{engine}")).to_string_lossy(),
            "--quiet",
        ]);
        let (stdout, stderr) = text(&output);
        assert!(output.status.success(), "{engine}: {stderr}");
        let line = |name: &str| {
            stdout
                .lines()
                .find(|line| line.trim_start().starts_with(name))
                .unwrap_or_else(|| panic!("{engine}: no layer {name} in\n{stdout}"))
                .to_owned()
        };
        assert!(
            line("scratch ").contains("ignored: no types"),
            "{engine}: {stdout}"
        );
        assert!(line("runtime ").contains("launch"), "{engine}: {stdout}");
    }
}

/// `launch --timeout SECS` ends the process and everything it started: a background
/// grandchild holding the output pipe does not keep the launch waiting.
#[test]
fn launch_timeout_ends_the_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    let app = app(tmp.path());
    let bp = buildpack(
        tmp.path(),
        "slow/proc",
        "0.12",
        "",
        "",
        r#"cat > "$1/launch.toml" <<'L'
[[processes]]
type = "slow"
command = ["bash", "-c", "echo started; sleep 20 & sleep 20; wait"]
default = true
L"#,
    );
    for engine in engines() {
        let out = tmp.path().join(format!("out-{engine}"));
        let built = cnb_local(&[
            "build",
            &app.to_string_lossy(),
            "--buildpack",
            &bp.to_string_lossy(),
            "--engine",
            engine,
            "--cache",
            &tmp.path().join(format!("cache-{engine}")).to_string_lossy(),
            "--out",
            &out.to_string_lossy(),
            "--quiet",
        ]);
        assert!(built.status.success(), "{engine}: {}", text(&built).1);
        let started = std::time::Instant::now();
        let launched = cnb_local(&["launch", &out.to_string_lossy(), "--timeout", "0.3"]);
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(5),
            "{engine}: {took:?}"
        );
        assert_eq!(text(&launched).0, "started\n", "{engine}");
        assert_eq!(launched.status.code(), Some(1), "{engine}: killed");
        let bad = cnb_local(&["launch", &out.to_string_lossy(), "--timeout", "soon"]);
        assert_eq!(bad.status.code(), Some(2));
    }
}
