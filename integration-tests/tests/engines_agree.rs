//! Differential tests: the same small shell buildpacks, built and launched by the built-in engine
//! and by the real CNB lifecycle, must give the same observable results (detect outcome per
//! buildpack, group, plan, layers with types/state/exec-env, processes, default process, labels,
//! launch exit codes and output), and fail alike (exit code, failing phase, failing buildpack).
//!
//! Layer states are checked against what each engine really did, read from its own restorer
//! and exporter output (files restored from the cache, layer in the image, layer in the cache),
//! and those deeds must be the same under both engines.
//!
//! Differences that are lifecycle behaviour the built-in engine does not copy are listed in
//! `docs/lifecycle-engine.md` ("Quirks"); the comparison below leaves out only the image labels
//! that only a real export writes (`io.buildpacks.lifecycle.metadata`, ...).
//!
//! Every test skips, saying why, when the lifecycle is not installed (`scripts/install-lifecycle.sh`),
//! except under `CI=true`, where that fails it.

#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildReport, BuildpackReference, DetectOutcome, Engine, EngineError, LaunchConfig,
    LaunchResult, LocalRunner, TestContext,
};
use std::path::{Path, PathBuf};

/// Whether the real lifecycle is installed; under `CI=true` its absence fails the test instead.
fn lifecycle_installed() -> bool {
    libcnb_exec_env_test::require(Engine::Lifecycle)
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "engines-agree-{}-{name}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn buildpack(root: &Path, dir: &str, toml: &str, detect: &str, build: &str) -> PathBuf {
    let bp = root.join(dir);
    std::fs::create_dir_all(&bp).unwrap();
    std::fs::write(bp.join("buildpack.toml"), toml).unwrap();
    write_exec(&bp.join("bin/detect"), detect);
    write_exec(&bp.join("bin/build"), build);
    bp
}

/// `agree/runtime` (Buildpack API 0.10): a shared runtime layer (launch, build, cache) reused when
/// its metadata matches, a `greet` process, and a record of the `CNB_EXEC_ENV` it saw (none: the
/// lifecycle only passes it to API >= 0.12).
const RUNTIME_BUILD: &str = r#"#!/bin/sh
set -eu
echo "runtime build sees CNB_EXEC_ENV=${CNB_EXEC_ENV:-unset}"
echo "runtime=${CNB_EXEC_ENV:-unset}" > runtime-saw.txt
L="$CNB_LAYERS_DIR/runtime"
if [ -x "$L/bin/greet" ] && grep -q 'version = "1"' "$L.toml" 2>/dev/null; then
  echo "runtime: reusing the runtime layer"
else
  rm -rf "$L"
  mkdir -p "$L/bin" "$L/env.launch"
  printf '#!/bin/sh\necho "greet: $*; GREETING=$GREETING; CNB_EXEC_ENV=${CNB_EXEC_ENV:-unset}"\n' > "$L/bin/greet"
  chmod +x "$L/bin/greet"
  printf 'hello' > "$L/env.launch/GREETING.default"
fi
cat > "$L.toml" <<EOF
[types]
launch = true
build = true
cache = true
[metadata]
version = "1"
EOF
cat > "$CNB_LAYERS_DIR/launch.toml" <<EOF
[[processes]]
type = "greet"
command = ["greet"]
args = ["world"]
EOF
"#;

/// `agree/envy` (Buildpack API 0.12): an env-scoped cached layer `deps-<env>`, other environments'
/// `deps-*` layers retained as cache-only, processes restricted to environments, a label.
const ENVY_BUILD: &str = r#"#!/bin/sh
set -eu
env="${CNB_EXEC_ENV:-unset}"
foo="$(cat "$CNB_PLATFORM_DIR/env/FOO" 2>/dev/null || echo none)"
echo "envy build sees CNB_EXEC_ENV=$env FOO=$foo"
echo "envy=$env foo=$foo" > envy-saw.txt
command -v greet >/dev/null && echo "envy: greet is on the build PATH"
L="$CNB_LAYERS_DIR/deps-$env"
if [ -f "$L/stamp" ]; then
  echo "envy: reusing deps-$env"
else
  rm -rf "$L"
  mkdir -p "$L"
  echo "deps for $env" > "$L/stamp"
fi
cat > "$L.toml" <<EOF
[types]
launch = true
cache = true
[metadata]
exec-env = ["$env"]
EOF
for t in "$CNB_LAYERS_DIR"/deps-*.toml; do
  [ -e "$t" ] || continue
  n="$(basename "$t" .toml)"
  [ "$n" = "deps-$env" ] && continue
  echo "envy: retaining $n for ${n#deps-}"
  cat > "$t" <<EOF
[types]
cache = true
[metadata]
exec-env = ["${n#deps-}"]
EOF
done
prod=false; test=false
[ "$env" = production ] && prod=true
[ "$env" = test ] && test=true
cat > "$CNB_LAYERS_DIR/launch.toml" <<EOF
[[processes]]
type = "web"
command = ["greet"]
args = ["web"]
default = $prod
exec-env = ["production"]

[[processes]]
type = "test"
command = ["sh", "-c", "echo running tests in \$CNB_EXEC_ENV; echo failing >&2; exit 3"]
default = $test
exec-env = ["test"]

[[processes]]
type = "show"
command = ["sh", "-c", "cat runtime-saw.txt envy-saw.txt; echo args: \"\$@\"", "show"]
args = ["default-arg"]

[[labels]]
key = "org.example.env"
value = "$env"
EOF
"#;

/// `agree/test-only` (Buildpack API 0.12, `exec-env = ["test"]`, the list form the lifecycle
/// reads): detection is skipped outside `test`.
const TEST_ONLY_BUILD: &str = r#"#!/bin/sh
set -eu
L="$CNB_LAYERS_DIR/tools"
mkdir -p "$L/bin"
printf '#!/bin/sh\necho linted\n' > "$L/bin/lint"
chmod +x "$L/bin/lint"
printf '[types]\nlaunch = true\n' > "$L.toml"
cat > "$CNB_LAYERS_DIR/launch.toml" <<EOF
[[processes]]
type = "lint"
command = ["lint"]
exec-env = ["test"]
EOF
"#;

fn fixture(root: &Path) -> Vec<BuildpackReference> {
    let runtime = buildpack(
        root,
        "runtime",
        "api = \"0.10\"\n[buildpack]\nid = \"agree/runtime\"\nversion = \"1.0.0\"\n",
        "#!/bin/sh\necho \"runtime detect sees CNB_EXEC_ENV=${CNB_EXEC_ENV:-unset}\"\nprintf '[[provides]]\\nname = \"runtime\"\\n[[requires]]\\nname = \"runtime\"\\n[requires.metadata]\\nfrom = \"runtime\"\\n' > \"$CNB_BUILD_PLAN_PATH\"\n",
        RUNTIME_BUILD,
    );
    let envy = buildpack(
        root,
        "envy",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/envy\"\nversion = \"1.0.0\"\n",
        "#!/bin/sh\necho \"envy detect sees CNB_EXEC_ENV=${CNB_EXEC_ENV:-unset}\"\nprintf '[[requires]]\\nname = \"runtime\"\\n[requires.metadata]\\nfrom = \"envy\"\\nenv = \"%s\"\\n' \"${CNB_EXEC_ENV:-unset}\" > \"$CNB_BUILD_PLAN_PATH\"\n",
        ENVY_BUILD,
    );
    let test_only = buildpack(
        root,
        "test-only",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/test-only\"\nversion = \"1.0.0\"\nexec-env = [\"test\"]\n",
        "#!/bin/sh\necho \"test-only detect runs\"\n",
        TEST_ONLY_BUILD,
    );
    [runtime, envy, test_only]
        .into_iter()
        .map(BuildpackReference::Packaged)
        .collect()
}

fn app(root: &Path) -> PathBuf {
    let app = root.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("README"), "an app\n").unwrap();
    app
}

/// Builds with `engine` and returns the context, panicking with the output on failure.
fn build<'a>(
    runner: &'a LocalRunner,
    engine: Engine,
    root: &Path,
    env: ExecEnv,
    cache: &Path,
) -> TestContext<'a> {
    let mut config = BuildConfig::new(app(root));
    config
        .buildpacks(fixture(root))
        .exec_env(env)
        .engine(engine)
        .env("FOO", "bar")
        .cache_dir(cache);
    runner
        .try_build(config)
        .unwrap_or_else(|error| panic!("{engine} build failed: {error}"))
}

/// Asserts that two reports agree on everything observable, naming the first difference.
fn assert_agree(builtin: &BuildReport, lifecycle: &BuildReport) {
    let detect = |r: &BuildReport| -> Vec<(String, DetectOutcome, String)> {
        r.detect
            .iter()
            .map(|d| {
                (
                    d.buildpack_id.clone(),
                    d.outcome.clone(),
                    d.output.trim().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        detect(builtin),
        detect(lifecycle),
        "detect outcomes (builtin, then lifecycle)"
    );
    assert_eq!(builtin.group, lifecycle.group, "group");
    assert_eq!(builtin.plan, lifecycle.plan, "plan");
    assert_eq!(builtin.layers, lifecycle.layers, "layers");
    let processes = |r: &BuildReport| {
        let mut list = r.processes.clone();
        list.sort_by(|a, b| a.r#type.cmp(&b.r#type));
        list
    };
    assert_eq!(processes(builtin), processes(lifecycle), "processes");
    assert_eq!(
        builtin.default_process, lifecycle.default_process,
        "default process"
    );
    let labels = |r: &BuildReport| {
        r.labels
            .iter()
            // Labels the lifecycle writes from its own state, and the run image's own labels
            // (the local builder's `io.libcnb-exec-env.recipe`): not the buildpacks' doing.
            .filter(|(key, _)| {
                (!key.starts_with("io.buildpacks.") || *key == "io.buildpacks.exec-env")
                    && !key.starts_with("io.libcnb-exec-env.")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(labels(builtin), labels(lifecycle), "labels");
}

/// What an engine did to one layer, read from its own phase output (the lifecycle's restorer
/// and exporter lines, which the built-in engine writes the same way), not from its report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Done {
    /// `Restoring data for "<bp>:<layer>" from cache`: its files came back from the cache.
    data_restored: bool,
    /// `Adding layer` / `Reusing layer`: it is in the image.
    in_image: bool,
    /// `Adding cache layer` / `Reusing cache layer`: it is in the cache after the build.
    cached: bool,
}

/// [`Done`] per `<bp>:<layer>`, from a build's output.
fn what_was_done(output: &str) -> std::collections::BTreeMap<String, Done> {
    let mut done: std::collections::BTreeMap<String, Done> = std::collections::BTreeMap::new();
    let quoted = |rest: &str, quote: char| -> Option<String> {
        let rest = rest.strip_prefix(quote)?;
        Some(rest[..rest.find(quote)?].to_owned())
    };
    for line in output.lines() {
        // The lifecycle's lines may carry a log-level prefix.
        let line = line.trim();
        let line = line
            .find("Restoring data for ")
            .or_else(|| line.find("Adding "))
            .or_else(|| line.find("Reusing "))
            .map_or(line, |at| &line[at..]);
        if let Some(rest) = line.strip_prefix("Restoring data for ")
            && rest.ends_with(" from cache")
            && let Some(layer) = quoted(rest, '"')
        {
            done.entry(layer).or_default().data_restored = true;
        } else if let Some(rest) = line
            .strip_prefix("Adding cache layer ")
            .or_else(|| line.strip_prefix("Reusing cache layer "))
            && let Some(layer) = quoted(rest, '\'')
        {
            done.entry(layer).or_default().cached = true;
        } else if let Some(rest) = line
            .strip_prefix("Adding layer ")
            .or_else(|| line.strip_prefix("Reusing layer "))
            && let Some(layer) = quoted(rest, '\'')
        {
            done.entry(layer).or_default().in_image = true;
        }
    }
    // The lifecycle's own layers (launcher, config, process types, SBOM) are not buildpacks'.
    done.retain(|layer, _| !layer.starts_with("buildpacksio/lifecycle:"));
    done
}

/// Each layer's reported state must be what the engine's own evidence shows, and both engines
/// must have done the same to every layer: restored its files from the cache or not, put it in
/// the image or not, kept it in the cache or not.
fn assert_layers_done_alike(
    builtin: &BuildReport,
    builtin_output: &str,
    lifecycle: &BuildReport,
    lifecycle_output: &str,
) {
    use libcnb_exec_env_test::LayerState;
    let b = what_was_done(builtin_output);
    let l = what_was_done(lifecycle_output);
    for (engine, report, done, output) in [
        ("builtin", builtin, &b, builtin_output),
        ("lifecycle", lifecycle, &l, lifecycle_output),
    ] {
        for layer in &report.layers {
            let key = format!("{}:{}", layer.buildpack_id, layer.name);
            let did = done.get(&key).cloned().unwrap_or_default();
            let consistent = match layer.state {
                // Kept for another environment: back from the cache, into the cache again,
                // not in the image.
                LayerState::Retained => did.data_restored && did.cached && !did.in_image,
                // Back from the cache, or (a launch layer without a directory) from the image.
                LayerState::Restored => did.data_restored || did.in_image,
                LayerState::Created => true,
                LayerState::Ignored => !did.cached && !did.in_image,
            };
            assert!(
                consistent,
                "{engine}: layer {key} reported {:?} but the engine did {did:?}\n{output}",
                layer.state
            );
            assert_eq!(
                did.in_image, layer.launch,
                "{engine}: layer {key} launch = {} but in the image: {}\n{output}",
                layer.launch, did.in_image
            );
        }
    }
    assert_eq!(
        b, l,
        "what each engine did to the layers (builtin, then lifecycle)"
    );
}

/// What a failed build tells a script: the exit code the lifecycle gives it, the failing phase,
/// and the buildpack that failed it (when one did).
#[derive(Debug, PartialEq, Eq)]
struct Failure {
    exit_code: i32,
    phase: String,
    buildpack: Option<String>,
}

fn failure(error: &EngineError) -> Failure {
    let (phase, buildpack) = match error {
        EngineError::DetectFailed { .. } => ("detect".to_owned(), None),
        EngineError::BuildpackFailed { buildpack_id, .. }
        | EngineError::InvalidBuildpackOutput { buildpack_id, .. } => {
            ("build".to_owned(), Some(buildpack_id.clone()))
        }
        EngineError::PhaseFailed { phase, .. } => (phase.clone(), None),
        other => (format!("none (not a phase failure: {other})"), None),
    };
    Failure {
        exit_code: error.exit_code(),
        phase,
        buildpack,
    }
}

/// Both builds must fail alike (exit code, phase, buildpack); returns that failure.
fn assert_failures_agree(
    builtin: Result<TestContext<'_>, EngineError>,
    lifecycle: Result<TestContext<'_>, EngineError>,
) -> Failure {
    match (builtin, lifecycle) {
        (Err(b), Err(l)) => {
            let (fb, fl) = (failure(&b), failure(&l));
            assert_eq!(
                fb, fl,
                "failures differ (builtin, then lifecycle)\nbuiltin: {b}\nlifecycle: {l}"
            );
            fl
        }
        (b, l) => panic!(
            "both builds must fail: builtin {:?}, lifecycle {:?}",
            b.map(|ctx| ctx.pack_stdout),
            l.map(|ctx| ctx.pack_stdout)
        ),
    }
}

/// Launches the same process with both engines; the results must agree.
fn assert_launches_agree(
    builtin: &TestContext<'_>,
    lifecycle: &TestContext<'_>,
    config: &LaunchConfig,
) -> LaunchResult {
    let b = builtin.try_launch(config.clone());
    let l = lifecycle.try_launch(config.clone());
    match (b, l) {
        (Ok(b), Ok(l)) => {
            assert_eq!(
                (b.process_type.as_str(), b.exit_code, b.stdout.as_str()),
                (l.process_type.as_str(), l.exit_code, l.stdout.as_str()),
                "launch {config:?}: (type, exit code, stdout), builtin then lifecycle; stderr: {:?} / {:?}",
                b.stderr,
                l.stderr
            );
            assert_eq!(
                b.test.as_ref().map(|t| t.passed),
                l.test.as_ref().map(|t| t.passed),
                "test report"
            );
            l
        }
        (Err(b), Err(l)) => {
            assert_eq!(
                std::mem::discriminant(&b),
                std::mem::discriminant(&l),
                "launch {config:?} errors differ: builtin {b} / lifecycle {l}"
            );
            assert_eq!(b.to_string(), l.to_string(), "launch error messages");
            error_as_result(&l)
        }
        (b, l) => panic!("launch {config:?}: builtin {b:?} but lifecycle {l:?}"),
    }
}

/// A launch that failed the same way under both engines (checked by the caller's match).
fn error_as_result(error: &EngineError) -> LaunchResult {
    LaunchResult {
        process_type: String::new(),
        exit_code: None,
        stdout: String::new(),
        stderr: error.to_string(),
        duration: std::time::Duration::ZERO,
        test: None,
    }
}

#[test]
fn test_build_agrees() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("test");
    let (cache_b, cache_l) = (root.0.join("cache-b"), root.0.join("cache-l"));
    let runner = LocalRunner::default();
    let b = build(&runner, Engine::Builtin, &root.0, ExecEnv::Test, &cache_b);
    let l = build(&runner, Engine::Lifecycle, &root.0, ExecEnv::Test, &cache_l);
    assert!(l.pack_stdout.contains("===> EXPORT"), "{}", l.pack_stdout);
    assert_agree(&b.report, &l.report);
    assert_layers_done_alike(&b.report, &b.pack_stdout, &l.report, &l.pack_stdout);

    assert_eq!(
        l.report.group,
        ["agree/runtime", "agree/envy", "agree/test-only"]
    );
    assert_eq!(l.report.default_process.as_deref(), Some("test"));
    assert_eq!(
        l.report
            .labels
            .get("io.buildpacks.exec-env")
            .map(String::as_str),
        Some("test")
    );

    // The default process (test) in a test launch: exit code 3, stdout and test report agree.
    let run = assert_launches_agree(&b, &l, &LaunchConfig::new().exec_env(ExecEnv::Test));
    assert_eq!(run.exit_code, Some(3));
    assert_eq!(run.stdout, "running tests in test\n");
    assert!(run.test.is_some_and(|t| !t.passed));

    // What each buildpack saw: API 0.10 gets no CNB_EXEC_ENV; platform env reaches the build.
    let run = assert_launches_agree(
        &b,
        &l,
        &LaunchConfig::new().process("show").exec_env(ExecEnv::Test),
    );
    assert_eq!(
        run.stdout,
        "runtime=unset\nenvy=test foo=bar\nargs: default-arg\n"
    );

    // User args replace the overridable args, after the command's own.
    let run = assert_launches_agree(
        &b,
        &l,
        &LaunchConfig::new()
            .process("show")
            .exec_env(ExecEnv::Test)
            .args(["x", "y"]),
    );
    assert!(run.stdout.ends_with("args: x y\n"), "{}", run.stdout);

    // Layer env (env.launch default) and the launch's CNB_EXEC_ENV reach a process.
    let run = assert_launches_agree(
        &b,
        &l,
        &LaunchConfig::new().process("greet").exec_env(ExecEnv::Test),
    );
    assert_eq!(
        run.stdout,
        "greet: world; GREETING=hello; CNB_EXEC_ENV=test\n"
    );

    // A `.default` layer env file does not override the container's env.
    let run = assert_launches_agree(
        &b,
        &l,
        &LaunchConfig::new()
            .process("greet")
            .exec_env(ExecEnv::Test)
            .env("GREETING", "custom"),
    );
    assert_eq!(
        run.stdout,
        "greet: world; GREETING=custom; CNB_EXEC_ENV=test\n"
    );

    // A test-only process in a launch without CNB_EXEC_ENV (production): refused by both.
    let run = assert_launches_agree(&b, &l, &LaunchConfig::new().process("lint"));
    assert!(run.stderr.contains("may only run in"), "{}", run.stderr);
}

#[test]
fn production_build_agrees() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("production");
    let runner = LocalRunner::default();
    let b = build(
        &runner,
        Engine::Builtin,
        &root.0,
        ExecEnv::Production,
        &root.0.join("cache-b"),
    );
    let l = build(
        &runner,
        Engine::Lifecycle,
        &root.0,
        ExecEnv::Production,
        &root.0.join("cache-l"),
    );
    assert_agree(&b.report, &l.report);
    assert_eq!(l.report.group, ["agree/runtime", "agree/envy"]);
    assert!(matches!(
        l.report.detect[2].outcome,
        DetectOutcome::SkippedExecEnv { .. }
    ));
    assert_eq!(l.report.default_process.as_deref(), Some("web"));

    // No CNB_EXEC_ENV at launch: the default (web) runs.
    let run = assert_launches_agree(&b, &l, &LaunchConfig::new());
    assert_eq!(
        run.stdout,
        "greet: web; GREETING=hello; CNB_EXEC_ENV=unset\n"
    );
    assert_eq!(run.exit_code, Some(0));
    // The default process in a test launch is not eligible: refused by both.
    let run = assert_launches_agree(&b, &l, &LaunchConfig::new().exec_env(ExecEnv::Test));
    assert!(run.stderr.contains("may only run in"), "{}", run.stderr);
}

#[test]
fn test_production_test_cache_agrees() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("cache");
    let runner = LocalRunner::default();
    let (cache_b, cache_l) = (root.0.join("cache-b"), root.0.join("cache-l"));
    for (step, env) in [ExecEnv::Test, ExecEnv::Production, ExecEnv::Test]
        .into_iter()
        .enumerate()
    {
        let b = build(&runner, Engine::Builtin, &root.0, env.clone(), &cache_b);
        let l = build(&runner, Engine::Lifecycle, &root.0, env.clone(), &cache_l);
        assert_agree(&b.report, &l.report);
        assert_layers_done_alike(&b.report, &b.pack_stdout, &l.report, &l.pack_stdout);
        let state = |name: &str| l.report.layer("agree/envy", name).map(|layer| layer.state);
        let runtime = l
            .report
            .layer("agree/runtime", "runtime")
            .map(|layer| layer.state);
        match step {
            0 => {
                assert_eq!(
                    state("deps-test"),
                    Some(libcnb_exec_env_test::LayerState::Created)
                );
                assert_eq!(runtime, Some(libcnb_exec_env_test::LayerState::Created));
            }
            1 => {
                assert_eq!(
                    state("deps-production"),
                    Some(libcnb_exec_env_test::LayerState::Created)
                );
                assert_eq!(
                    state("deps-test"),
                    Some(libcnb_exec_env_test::LayerState::Retained)
                );
                assert_eq!(runtime, Some(libcnb_exec_env_test::LayerState::Restored));
            }
            _ => {
                assert_eq!(
                    state("deps-test"),
                    Some(libcnb_exec_env_test::LayerState::Restored)
                );
                assert_eq!(
                    state("deps-production"),
                    Some(libcnb_exec_env_test::LayerState::Retained)
                );
                assert!(
                    l.pack_stdout.contains("envy: reusing deps-test"),
                    "{}",
                    l.pack_stdout
                );
            }
        }
    }
}

/// Builds `buildpacks` over a small app with both engines (separate caches).
fn build_both<'a>(
    runner: &'a LocalRunner,
    root: &Path,
    buildpacks: &[PathBuf],
    env: &ExecEnv,
) -> (
    Result<TestContext<'a>, EngineError>,
    Result<TestContext<'a>, EngineError>,
) {
    let run = |engine: Engine, cache: &str| {
        runner.try_build(
            BuildConfig::new(app(root))
                .buildpacks(
                    buildpacks
                        .iter()
                        .cloned()
                        .map(BuildpackReference::Packaged)
                        .collect::<Vec<_>>(),
                )
                .exec_env(env.clone())
                .engine(engine)
                .cache_dir(root.join(cache)),
        )
    };
    (
        run(Engine::Builtin, "cache-b"),
        run(Engine::Lifecycle, "cache-l"),
    )
}

const PASS: &str = "#!/bin/sh\nexit 0\n";

#[test]
fn detect_errors_and_failures_agree() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("detect");
    let runner = LocalRunner::default();
    let fails = buildpack(
        &root.0,
        "fails",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/fails\"\nversion = \"1.0.0\"\n",
        "#!/bin/sh\necho not for me\nexit 100\n",
        PASS,
    );
    let errors = buildpack(
        &root.0,
        "errors",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/errors\"\nversion = \"1.0.0\"\n",
        "#!/bin/sh\necho broken >&2\nexit 7\n",
        PASS,
    );
    for (bps, code) in [(vec![fails.clone()], 20), (vec![errors.clone()], 21)] {
        let (b, l) = build_both(&runner, &root.0, &bps, &ExecEnv::Production);
        let failed = assert_failures_agree(b, l);
        assert_eq!(
            failed,
            Failure {
                exit_code: code,
                phase: "detect".to_owned(),
                buildpack: None
            }
        );
    }
}

#[test]
fn process_exec_env_wildcard_and_api_010_processes_agree() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("wildcard");
    let runner = LocalRunner::default();
    // An API 0.10 buildpack writing `exec-env` on a process, and a `"*"` process.
    let old = buildpack(
        &root.0,
        "old",
        "api = \"0.10\"\n[buildpack]\nid = \"agree/old\"\nversion = \"1.0.0\"\n",
        PASS,
        "#!/bin/sh\ncat > \"$CNB_LAYERS_DIR/launch.toml\" <<EOF\n[[processes]]\ntype = \"old-test\"\ncommand = [\"echo\", \"old\"]\nexec-env = [\"test\"]\n\n[[processes]]\ntype = \"everywhere\"\ncommand = [\"echo\", \"star\"]\nexec-env = [\"*\"]\ndefault = true\nEOF\n",
    );
    let (b, l) = build_both(&runner, &root.0, &[old], &ExecEnv::Production);
    let (b, l) = (b.unwrap(), l.unwrap());
    assert_agree(&b.report, &l.report);
    for process in ["old-test", "everywhere"] {
        for env in [ExecEnv::Production, ExecEnv::Development] {
            assert_launches_agree(&b, &l, &LaunchConfig::new().process(process).exec_env(env));
        }
    }
    let run = assert_launches_agree(&b, &l, &LaunchConfig::new().exec_env(ExecEnv::Development));
    assert_eq!(run.stdout, "star\n");
    // Eligibility is a Platform API matter: the API 0.10 buildpack's `exec-env` restricts too.
    let run = assert_launches_agree(&b, &l, &LaunchConfig::new().process("old-test"));
    assert!(run.stderr.contains("may only run in"), "{}", run.stderr);
}

#[test]
fn two_default_processes_for_different_envs_fail_under_both() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("defaults");
    let runner = LocalRunner::default();
    // `buildpack/build.go` validateNoMultipleDefaults: one launch.toml may mark one default,
    // whatever the processes' exec-env.
    let two = buildpack(
        &root.0,
        "two",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/two\"\nversion = \"1.0.0\"\n",
        PASS,
        "#!/bin/sh\ncat > \"$CNB_LAYERS_DIR/launch.toml\" <<EOF\n[[processes]]\ntype = \"web\"\ncommand = [\"echo\", \"web\"]\nexec-env = [\"production\"]\ndefault = true\n\n[[processes]]\ntype = \"test\"\ncommand = [\"echo\", \"test\"]\nexec-env = [\"test\"]\ndefault = true\nEOF\n",
    );
    let (b, l) = build_both(&runner, &root.0, &[two], &ExecEnv::Test);
    let failed = assert_failures_agree(b, l);
    assert_eq!(failed.phase, "build");
    assert_eq!(failed.buildpack.as_deref(), Some("agree/two"));
}

#[test]
fn spec_table_form_of_exec_env_agrees() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("table");
    let runner = LocalRunner::default();
    // The spec's `[[buildpack.exec-env]]` tables: the lifecycle's descriptor decoder wants a list
    // of strings (`buildpack/descriptor.go`) and the detector cannot start.
    let table = buildpack(
        &root.0,
        "table",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/table\"\nversion = \"1.0.0\"\n[[buildpack.exec-env]]\nname = \"test\"\n",
        PASS,
        PASS,
    );
    let (b, l) = build_both(&runner, &root.0, &[table], &ExecEnv::Test);
    let l = l
        .err()
        .unwrap_or_else(|| panic!("the lifecycle rejects the table form"));
    assert!(l.to_string().contains("exec-env"), "{l}");
    eprintln!("lifecycle: {l}");
    assert!(
        b.is_err(),
        "the built-in engine must reject the table form too: it builds with it"
    );
}

#[test]
fn launch_layer_kept_from_the_previous_image() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("reuse");
    let runner = LocalRunner::default();
    // A launch-only layer (no cache): on a rebuild the restorer brings back only its metadata
    // from the previous image; a buildpack that keeps it rewrites the types without the
    // directory, and the exporter reuses the image's layer (`phase/exporter.go`).
    let keep = buildpack(
        &root.0,
        "keep",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/keep\"\nversion = \"1.0.0\"\n",
        PASS,
        "#!/bin/sh\nset -eu\nL=\"$CNB_LAYERS_DIR/static\"\nif [ -f \"$L.toml\" ]; then echo keeping static; else mkdir -p \"$L/bin\"; printf '#!/bin/sh\\necho static v1\\n' > \"$L/bin/static\"; chmod +x \"$L/bin/static\"; fi\nprintf '[types]\\nlaunch = true\\n[metadata]\\nv = 1\\n' > \"$L.toml\"\nprintf '[[processes]]\\ntype = \"static\"\\ncommand = [\"static\"]\\ndefault = true\\n' > \"$CNB_LAYERS_DIR/launch.toml\"\n",
    );
    let (first_b, first_l) = build_both(
        &runner,
        &root.0,
        std::slice::from_ref(&keep),
        &ExecEnv::Production,
    );
    assert_agree(&first_b.unwrap().report, &first_l.unwrap().report);
    let (b, l) = build_both(&runner, &root.0, &[keep], &ExecEnv::Production);
    let l = l.unwrap_or_else(|e| panic!("the lifecycle reuses the layer: {e}"));
    assert_eq!(
        l.report
            .layer("agree/keep", "static")
            .map(|layer| layer.state),
        Some(libcnb_exec_env_test::LayerState::Restored)
    );
    assert_eq!(l.launch(LaunchConfig::new()).stdout, "static v1\n");
    let b = b.unwrap_or_else(|e| panic!("the built-in engine must reuse it too: {e}"));
    assert_agree(&b.report, &l.report);
    assert_layers_done_alike(&b.report, &b.pack_stdout, &l.report, &l.pack_stdout);
}

#[test]
fn restored_layers_left_alone_and_working_dirs_agree() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("alone");
    let runner = LocalRunner::default();
    // `once` (cache only) is made in the first build; the second build finds it restored and
    // leaves it alone: its restored `<layer>.toml` has no `[types]`, so the lifecycle drops it
    // (`buildpack/build.go` renameLayerDirIfNeeded). `sub` runs in a working directory.
    let alone = buildpack(
        &root.0,
        "alone",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/alone\"\nversion = \"1.0.0\"\n",
        PASS,
        "#!/bin/sh\nset -eu\nmkdir -p sub\necho inside > sub/marker\nL=\"$CNB_LAYERS_DIR/once\"\nif [ -f \"$L.toml\" ]; then echo \"once restored: $(cat \"$L.toml\" | tr '\\n' ' ')\"; else mkdir -p \"$L\"; echo x > \"$L/f\"; printf '[types]\\ncache = true\\n[metadata]\\nv = 1\\n' > \"$L.toml\"; fi\nprintf '[[processes]]\\ntype = \"sub\"\\ncommand = [\"cat\", \"marker\"]\\nworking-dir = \"sub\"\\ndefault = true\\n' > \"$CNB_LAYERS_DIR/launch.toml\"\n",
    );
    for _ in 0..3 {
        let (b, l) = build_both(
            &runner,
            &root.0,
            std::slice::from_ref(&alone),
            &ExecEnv::Production,
        );
        let (b, l) = (b.unwrap(), l.unwrap());
        assert_agree(&b.report, &l.report);
        assert_layers_done_alike(&b.report, &b.pack_stdout, &l.report, &l.pack_stdout);
        let run = assert_launches_agree(&b, &l, &LaunchConfig::new());
        assert_eq!(run.stdout, "inside\n");
    }
}

#[test]
fn launches_see_the_image_not_the_build() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("image");
    let runner = LocalRunner::default();
    // Absolute build-time paths written into launch env stay valid at launch (as `/layers` in a
    // container), and a build-only layer is not in the image.
    let paths = buildpack(
        &root.0,
        "paths",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/paths\"\nversion = \"1.0.0\"\n",
        PASS,
        r#"#!/bin/sh
set -eu
mkdir -p "$CNB_LAYERS_DIR/rt/env.launch" "$CNB_LAYERS_DIR/tools"
echo "runtime file" > "$CNB_LAYERS_DIR/rt/file"
echo "build tool" > "$CNB_LAYERS_DIR/tools/tool"
printf '%s' "$CNB_LAYERS_DIR/rt/file" > "$CNB_LAYERS_DIR/rt/env.launch/RT_FILE.default"
printf '%s' "$CNB_LAYERS_DIR/tools/tool" > "$CNB_LAYERS_DIR/rt/env.launch/TOOL_FILE.default"
printf '[types]\nlaunch = true\n' > "$CNB_LAYERS_DIR/rt.toml"
printf '[types]\nbuild = true\n' > "$CNB_LAYERS_DIR/tools.toml"
cat > "$CNB_LAYERS_DIR/launch.toml" <<EOF
[[processes]]
type = "check"
command = ["sh", "-c", "cat \"\$RT_FILE\"; if [ -e \"\$TOOL_FILE\" ]; then echo build layer present; else echo build layer absent; fi"]
default = true
EOF
"#,
    );
    let (b, l) = build_both(&runner, &root.0, &[paths], &ExecEnv::Production);
    let (b, l) = (b.unwrap(), l.unwrap());
    assert_agree(&b.report, &l.report);
    let run = assert_launches_agree(&b, &l, &LaunchConfig::new());
    assert_eq!(run.stdout, "runtime file\nbuild layer absent\n");
}

#[test]
fn build_failures_agree() {
    if !lifecycle_installed() {
        return;
    }
    let root = Scratch::new("failures");
    let runner = LocalRunner::default();
    let first = buildpack(
        &root.0,
        "first",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/first\"\nversion = \"1.0.0\"\n",
        PASS,
        "#!/bin/sh\necho first builds\n",
    );
    // `bin/build` exits 7 in the second buildpack of the group: exit 51, build phase, that
    // buildpack.
    let exits = buildpack(
        &root.0,
        "exits",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/exits\"\nversion = \"1.0.0\"\n",
        PASS,
        "#!/bin/sh\necho about to fail\nexit 7\n",
    );
    let (b, l) = build_both(&runner, &root.0, &[first.clone(), exits], &ExecEnv::Test);
    assert_eq!(
        assert_failures_agree(b, l),
        Failure {
            exit_code: 51,
            phase: "build".to_owned(),
            buildpack: Some("agree/exits".to_owned())
        }
    );
    // A `<layer>.toml` with its types at the top level: `bin/build` exits 0, the lifecycle's
    // builder refuses the output (exit 52).
    let bad_toml = buildpack(
        &root.0,
        "bad-toml",
        "api = \"0.12\"\n[buildpack]\nid = \"agree/bad-toml\"\nversion = \"1.0.0\"\n",
        PASS,
        "#!/bin/sh\nmkdir -p \"$CNB_LAYERS_DIR/l\"\nprintf 'launch = true\\n' > \"$CNB_LAYERS_DIR/l.toml\"\n",
    );
    let (b, l) = build_both(&runner, &root.0, &[first, bad_toml], &ExecEnv::Test);
    assert_eq!(
        assert_failures_agree(b, l),
        Failure {
            exit_code: 52,
            phase: "build".to_owned(),
            buildpack: Some("agree/bad-toml".to_owned())
        }
    );
}

/// Removes the pack engine's image and cache volume of a cache directory when dropped.
struct PackCache(PathBuf);

impl Drop for PackCache {
    fn drop(&mut self) {
        libcnb_exec_env_test::pack::remove(&self.0);
    }
}

/// Real pack on a real Docker engine agrees with the lifecycle engine on everything both can
/// see (pack keeps the plan inside its container), across test -> production -> test with one
/// cache each: detect outcomes and output, group, layers with types and states read from each
/// engine's own evidence, processes, default process, labels, and launches.
#[test]
fn pack_agrees_with_the_lifecycle_across_environments() {
    if !lifecycle_installed() || !libcnb_exec_env_test::require(Engine::Pack) {
        return;
    }
    let root = Scratch::new("pack");
    let runner = LocalRunner::default();
    let cache_l = root.0.join("cache-l");
    let cache_p = PackCache(root.0.join("cache-p"));
    for (step, env) in [ExecEnv::Test, ExecEnv::Production, ExecEnv::Test]
        .into_iter()
        .enumerate()
    {
        let l = build(&runner, Engine::Lifecycle, &root.0, env.clone(), &cache_l);
        let p = build(&runner, Engine::Pack, &root.0, env.clone(), &cache_p.0);
        assert!(p.report.plan.is_empty());
        let mut without_plan = l.report.clone();
        without_plan.plan.clear();
        assert_agree(&without_plan, &p.report);
        let state = |name: &str| p.report.layer("agree/envy", name).map(|layer| layer.state);
        match step {
            0 => {
                assert_eq!(
                    state("deps-test"),
                    Some(libcnb_exec_env_test::LayerState::Created)
                );
                let run =
                    assert_launches_agree(&l, &p, &LaunchConfig::new().exec_env(ExecEnv::Test));
                assert_eq!(run.exit_code, Some(3));
                let run = assert_launches_agree(
                    &l,
                    &p,
                    &LaunchConfig::new()
                        .process("show")
                        .exec_env(ExecEnv::Test)
                        .args(["x", "y"]),
                );
                assert_eq!(run.stdout, "runtime=unset\nenvy=test foo=bar\nargs: x y\n");
                assert_launches_agree(&l, &p, &LaunchConfig::new().process("lint"));
            }
            1 => {
                assert_eq!(
                    state("deps-test"),
                    Some(libcnb_exec_env_test::LayerState::Retained)
                );
                assert_eq!(
                    p.report
                        .layer("agree/runtime", "runtime")
                        .map(|layer| layer.state),
                    Some(libcnb_exec_env_test::LayerState::Restored)
                );
                let run = assert_launches_agree(&l, &p, &LaunchConfig::new());
                assert_eq!(
                    run.stdout,
                    "greet: web; GREETING=hello; CNB_EXEC_ENV=unset\n"
                );
            }
            _ => {
                assert_eq!(
                    state("deps-test"),
                    Some(libcnb_exec_env_test::LayerState::Restored)
                );
                assert!(
                    p.pack_stdout.contains("envy: reusing deps-test"),
                    "{}",
                    p.pack_stdout
                );
            }
        }
    }
}
