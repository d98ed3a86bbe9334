//! `cnb-local`: build apps with Cloud Native Buildpacks and launch their processes, per
//! execution environment, without Docker.
//!
//! ```text
//! cnb-local build  <app> [--exec-env ENV] [--buildpack ID|DIR]... [--cache DIR] [--out DIR]
//!                        [--engine auto|builtin|lifecycle|pack] [--env KEY=VALUE]... [--quiet]
//! cnb-local launch <out> [PROCESS] [--exec-env ENV] [--env KEY=VALUE]... [--timeout SECS]
//!                        [-- ARGS...]
//! cnb-local run    <app> [build options] [--process PROCESS] [-- ARGS...]
//! ```

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildReport, BuildRequest, BuildpackReference, DetectOutcome, Engine, EngineError,
    LaunchRequest, LaunchResult, LayerState, Progress, Target, TestResultsFormat,
    package_workspace_buildpack_in, resolve_order, run_build, run_launch,
};
use sha2::Digest;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
cnb-local: build apps with Cloud Native Buildpacks and run their processes, without Docker

USAGE:
  cnb-local build  <app> [--exec-env ENV] [--buildpack ID|DIR]... [--cache DIR] [--out DIR]
                         [--engine auto|builtin|lifecycle|pack] [--env KEY=VALUE]... [--quiet]
  cnb-local launch <out> [PROCESS] [--exec-env ENV] [--env KEY=VALUE]... [--timeout SECS]
                         [-- ARGS...]
  cnb-local run    <app> [build options] [--process PROCESS] [-- ARGS...]

  build   detect, restore, build and export <app> (like `pack build --exec-env ENV`)
  launch  start a process of a built image, as the CNB launcher does: CNB_EXEC_ENV of the
          launch is --exec-env (unset means production, whatever the image was built for)
  run     build, then launch the `test` process (test builds) or the default process, in the
          build's environment; exits with the process's exit code

OPTIONS:
  --exec-env ENV       execution environment (production, test, development, ...); build default
                       production, run default test
  --buildpack ID|DIR   a packaged buildpack directory, or the id of a buildpack of the Cargo
                       workspace of the current directory (packaged with libcnb-exec-env-package);
                       repeat for a group. Default: the workspace's example-buildpacks/examples
                       composite, or every buildpack under example-buildpacks/
  --cache DIR          cache directory (default ~/.cache/cnb-local/<app>-<hash>/cache)
  --out DIR            output image directory (default ~/.cache/cnb-local/<app>-<hash>/image)
  --engine E           auto (the real lifecycle when installed, else built-in), builtin, lifecycle,
                       pack (real pack and Docker, after scripts/local-builder.sh)
  --env KEY=VALUE      build: a platform env var (like `pack build --env`); launch: a process env
                       var (like `docker run -e`)
  --process PROCESS    run: the process to launch
  --timeout SECS       launch, run: end the process (and every process it started) after SECS
                       seconds (fractions allowed)
  --quiet              do not stream buildpack output

EXIT CODES (the lifecycle's own, platform/exit.go):
  0 success; 2 bad usage; 20 detect: no group passed; 21 detect: a buildpack's bin/detect
  errored; 51 build: a buildpack's bin/build failed; 52 build: invalid buildpack output (e.g. a
  <layer>.toml); 82 launch: no such process, no default process, or not eligible in the
  environment; launch/run: the process's own exit code (1 when killed); other lifecycle phase
  failures: the phase's code; anything else: 1
";

#[derive(Debug, Default)]
struct Args {
    command: String,
    positional: Vec<String>,
    exec_env: Option<ExecEnv>,
    buildpacks: Vec<String>,
    cache: Option<PathBuf>,
    out: Option<PathBuf>,
    engine: Engine,
    env: BTreeMap<String, String>,
    process: Option<String>,
    quiet: bool,
    timeout: Option<std::time::Duration>,
    trailing: Option<Vec<String>>,
}

fn parse(raw: Vec<String>) -> Result<Args, String> {
    let mut args = Args::default();
    let mut iter = raw.into_iter();
    args.command = iter.next().ok_or("missing command: build, launch or run")?;
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--" => {
                args.trailing = Some(iter.by_ref().collect());
            }
            "--exec-env" => {
                let text = value("--exec-env")?;
                args.exec_env = Some(
                    text.parse()
                        .map_err(|error| format!("--exec-env: {error}"))?,
                );
            }
            "--buildpack" => args.buildpacks.push(value("--buildpack")?),
            "--cache" => args.cache = Some(PathBuf::from(value("--cache")?)),
            "--out" => args.out = Some(PathBuf::from(value("--out")?)),
            "--engine" => args.engine = value("--engine")?.parse()?,
            "--process" => args.process = Some(value("--process")?),
            "--env" => {
                let pair = value("--env")?;
                let (key, val) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--env {pair:?}: expected KEY=VALUE"))?;
                args.env.insert(key.to_owned(), val.to_owned());
            }
            "--timeout" => {
                let text = value("--timeout")?;
                let secs: f64 = text
                    .parse()
                    .ok()
                    .filter(|secs: &f64| secs.is_finite() && *secs > 0.0)
                    .ok_or_else(|| {
                        format!("--timeout {text:?}: expected a positive number of seconds")
                    })?;
                args.timeout = Some(std::time::Duration::from_secs_f64(secs));
            }
            "--quiet" | "-q" => args.quiet = true,
            "--help" | "-h" => return Err(String::new()),
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            _ => args.positional.push(arg),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.is_empty() || raw[0] == "--help" || raw[0] == "-h" || raw[0] == "help" {
        print!("{USAGE}");
        return if raw.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let args = match parse(raw) {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "build" => build(&args, &args.exec_env.clone().unwrap_or_default()).map(|_| 0),
        "launch" => launch(&args),
        "run" => run(&args),
        other => Err(Failure::new(format!(
            "unknown command {other:?}: expected build, launch or run"
        ))),
    };
    match result {
        Ok(code) => exit_code(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            exit_code(failure.code)
        }
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

/// A failed command: what to print, and the exit code ([`EngineError::exit_code`]).
#[derive(Debug)]
struct Failure {
    message: String,
    code: i32,
}

impl Failure {
    /// A failure with exit code 1.
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<EngineError> for Failure {
    fn from(error: EngineError) -> Self {
        Self {
            code: error.exit_code(),
            message: error.to_string(),
        }
    }
}

/// `~/.cache/cnb-local/<app name>-<hash of its path>`.
fn state_dir(app: &Path) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let digest = sha2::Sha256::digest(app.to_string_lossy().as_bytes());
    let hash = digest.iter().take(4).fold(String::new(), |mut hash, byte| {
        let _ = write!(hash, "{byte:02x}");
        hash
    });
    let name = app
        .file_name()
        .map_or_else(|| "app".to_owned(), |n| n.to_string_lossy().into_owned());
    base.join("cnb-local").join(format!("{name}-{hash}"))
}

fn workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|line| line.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

fn buildpack_references(args: &Args) -> Result<Vec<BuildpackReference>, String> {
    let cwd =
        std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?;
    let package = |id: &str| {
        eprintln!("Packaging workspace buildpack {id} ...");
        package_workspace_buildpack_in(&cwd, id)
            .map(BuildpackReference::Packaged)
            .map_err(|error| error.to_string())
    };
    if !args.buildpacks.is_empty() {
        return args
            .buildpacks
            .iter()
            .map(|given| {
                let path = PathBuf::from(given);
                if path.join("buildpack.toml").is_file() {
                    if path.join("bin/build").is_file() || !path.join("Cargo.toml").is_file() {
                        Ok(BuildpackReference::Packaged(absolute(&path)))
                    } else {
                        // A buildpack crate directory: package it.
                        let id = libcnb_exec_env::descriptor::BuildpackToml::read(path.join("buildpack.toml"))
                            .ok()
                            .and_then(|d| d.stripped.get("buildpack")?.get("id")?.as_str().map(str::to_owned))
                            .ok_or_else(|| format!("{} has no buildpack.id", path.join("buildpack.toml").display()))?;
                        package(&id)
                    }
                } else if given.contains('/') && !path.exists() {
                    package(given)
                } else {
                    Err(format!(
                        "--buildpack {given}: neither a directory with buildpack.toml nor a buildpack id such as examples/nodejs"
                    ))
                }
            })
            .collect();
    }
    let root = workspace_root(&cwd).ok_or_else(|| {
        "no --buildpack given and the current directory is not in a Cargo workspace: pass --buildpack <dir|id>".to_owned()
    })?;
    let examples = root.join("example-buildpacks");
    let composite = examples.join("examples");
    if composite.join("buildpack.toml").is_file() {
        let id = libcnb_exec_env::descriptor::BuildpackToml::read(composite.join("buildpack.toml"))
            .ok()
            .and_then(|d| {
                d.stripped
                    .get("buildpack")?
                    .get("id")?
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "examples/composite".to_owned());
        eprintln!(
            "No --buildpack given: using the composite {id} ({})",
            composite.display()
        );
        return Ok(vec![package(&id)?]);
    }
    let mut refs = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&examples)
        .map_err(|e| format!("cannot read {}: {e}", examples.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|dir| dir.join("buildpack.toml").is_file() && dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    for dir in dirs {
        let id = libcnb_exec_env::descriptor::BuildpackToml::read(dir.join("buildpack.toml"))
            .ok()
            .and_then(|d| {
                d.stripped
                    .get("buildpack")?
                    .get("id")?
                    .as_str()
                    .map(str::to_owned)
            })
            .ok_or_else(|| format!("{} has no buildpack.id", dir.display()))?;
        refs.push(package(&id)?);
    }
    Ok(refs)
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn build(args: &Args, exec_env: &ExecEnv) -> Result<(BuildReport, Engine), Failure> {
    let app = args
        .positional
        .first()
        .ok_or("missing <app>: the application directory to build")?;
    let app_dir = PathBuf::from(app);
    if !app_dir.is_dir() {
        return Err(EngineError::MissingAppDir(app_dir).into());
    }
    let app_dir = absolute(&app_dir);
    let state = state_dir(&app_dir);
    let cache_dir = args
        .cache
        .clone()
        .map_or_else(|| state.join("cache"), |c| absolute_new(&c));
    let output_dir = args
        .out
        .clone()
        .map_or_else(|| state.join("image"), |o| absolute_new(&o));
    let references = buildpack_references(args)?;
    let order = resolve_order(&references)?;
    let engine = args.engine.resolve();
    eprintln!("{}", engine_line(args.engine, engine));
    let request = BuildRequest {
        app_dir,
        order,
        exec_env: exec_env.clone(),
        platform_env: args.env.clone(),
        cache_dir: cache_dir.clone(),
        output_dir,
        target: Target::host(),
        progress: if args.quiet {
            Progress::Quiet
        } else {
            Progress::Stderr
        },
    };
    eprintln!(
        "Building {} for exec-env {exec_env}",
        request.app_dir.display()
    );
    match run_build(engine, &request) {
        Ok(report) => {
            print_summary(&report, &cache_dir, args.engine, engine);
            Ok((report, engine))
        }
        Err(error) => {
            let code = error.exit_code();
            let message = match error {
                EngineError::BuildpackFailed {
                    buildpack_id,
                    code,
                    output,
                } => {
                    if args.quiet {
                        eprintln!("{output}");
                    }
                    format!(
                        "buildpack {buildpack_id} failed: bin/build exited with {code} (its output is above)"
                    )
                }
                EngineError::DetectFailed {
                    exec_env, details, ..
                } => format!(
                    "no buildpack group passed detection in the {exec_env} environment. Each buildpack:\n{details}"
                ),
                error => error.to_string(),
            };
            Err(Failure { message, code })
        }
    }
}

fn absolute_new(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    }
}

fn engine_line(asked: Engine, resolved: Engine) -> String {
    match (asked, resolved) {
        (Engine::Auto, Engine::Lifecycle) => format!(
            "Engine: auto -> the real CNB lifecycle ({})",
            libcnb_exec_env_test::lifecycle::locate()
                .map_or_else(String::new, |p| p.display().to_string())
        ),
        (Engine::Auto, _) => "Engine: auto -> the built-in engine (no real lifecycle installed; scripts/install-lifecycle.sh installs one)".to_owned(),
        (_, Engine::Lifecycle) => "Engine: the real CNB lifecycle".to_owned(),
        (_, Engine::Pack) => "Engine: pack on a Docker engine (scripts/local-builder.sh sets it up)".to_owned(),
        _ => "Engine: the built-in engine".to_owned(),
    }
}

fn print_summary(report: &BuildReport, cache_dir: &Path, asked: Engine, resolved: Engine) {
    let env = &report.exec_env;
    println!();
    println!("===> SUMMARY");
    println!(
        "{} (exec-env {env}, {:.1?})",
        engine_line(asked, resolved),
        report.duration
    );
    let group: Vec<String> = report
        .group
        .iter()
        .map(|id| {
            report
                .detect
                .iter()
                .find(|d| &d.buildpack_id == id && d.outcome == DetectOutcome::Pass)
                .map_or_else(|| id.clone(), |d| format!("{id}@{}", d.version))
        })
        .collect();
    println!("Group: {}", group.join(", "));
    for skipped in report
        .detect
        .iter()
        .filter(|d| matches!(d.outcome, DetectOutcome::SkippedExecEnv { .. }))
    {
        if let DetectOutcome::SkippedExecEnv { declared } = &skipped.outcome {
            println!(
                "  skipped {}: declares exec-env [{declared}]",
                skipped.buildpack_id
            );
        }
    }
    println!("Layers:");
    for id in &report.group {
        println!("  {id}");
        for layer in report.layers.iter().filter(|l| &l.buildpack_id == id) {
            let mut types = Vec::new();
            for (flag, name) in [
                (layer.launch, "launch"),
                (layer.build, "build"),
                (layer.cache, "cache"),
            ] {
                if flag {
                    types.push(name);
                }
            }
            let state = match layer.state {
                LayerState::Created => "created".to_owned(),
                LayerState::Restored => "restored".to_owned(),
                LayerState::Ignored => "ignored: no types (not exported, not cached)".to_owned(),
                LayerState::Retained => format!(
                    "retained for {}",
                    layer
                        .exec_env
                        .as_ref()
                        .map_or_else(|| "another env".to_owned(), |e| e.join(", "))
                ),
            };
            println!("    {:<32} {:<20} {state}", layer.name, types.join(","));
        }
    }
    let eligible = report.processes_eligible(env);
    println!("Processes eligible in {env}:");
    for process in report
        .processes
        .iter()
        .filter(|p| eligible.contains(&p.r#type))
    {
        println!(
            "  {:<12}{} {}",
            process.r#type,
            if process.default { " (default)" } else { "" },
            shell_words(&process.command, &process.args)
        );
    }
    let others: Vec<String> = report
        .processes
        .iter()
        .filter(|p| !eligible.contains(&p.r#type))
        .map(|p| format!("{} (exec-env {})", p.r#type, p.exec_env))
        .collect();
    if !others.is_empty() {
        println!("Not eligible in {env}: {}", others.join(", "));
    }
    println!("Image: {}", report.image_dir.display());
    println!("Cache: {}", cache_dir.display());
    if let Some(label) = report.labels.get("io.buildpacks.exec-env") {
        println!("Label io.buildpacks.exec-env = {label}");
    }
    let default = report.default_process.as_deref().unwrap_or("<process>");
    let flag = if env.is_production() {
        String::new()
    } else {
        format!(" --exec-env {env}")
    };
    println!(
        "Launch: cnb-local launch {} {default}{flag}",
        report.image_dir.display()
    );
}

fn shell_words(command: &[String], args: &[String]) -> String {
    command
        .iter()
        .chain(args)
        .map(|word| {
            if word.contains(' ') || word.is_empty() {
                format!("{word:?}")
            } else {
                word.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn launch(args: &Args) -> Result<i32, Failure> {
    let out = args
        .positional
        .first()
        .ok_or("missing <out>: the output directory of `cnb-local build`")?;
    let process = args
        .positional
        .get(1)
        .cloned()
        .or_else(|| args.process.clone());
    let image_dir = absolute(Path::new(out));
    let engine = if image_dir.join("image.toml").is_file() {
        Engine::Builtin
    } else if image_dir
        .join(libcnb_exec_env_test::pack::IMAGE_FILE)
        .is_file()
    {
        Engine::Pack
    } else {
        Engine::Lifecycle
    };
    launch_image(engine, image_dir, process, args.exec_env.clone(), args)
}

fn launch_image(
    engine: Engine,
    image_dir: PathBuf,
    process: Option<String>,
    exec_env: Option<ExecEnv>,
    args: &Args,
) -> Result<i32, Failure> {
    let request = LaunchRequest {
        image_dir,
        process,
        exec_env,
        env: if args.command == "launch" {
            args.env.clone()
        } else {
            BTreeMap::new()
        },
        args: args.trailing.clone(),
        timeout: args.timeout,
    };
    let result = run_launch(engine, &request)?;
    print_launch(&result);
    Ok(result.exit_code.unwrap_or(1))
}

fn print_launch(result: &LaunchResult) {
    print!("{}", result.stdout);
    eprint!("{}", result.stderr);
    if let Some(test) = &result.test {
        eprintln!();
        eprintln!("===> TEST RESULT");
        eprintln!(
            "{} in {:.2?} (exit code {})",
            if test.passed { "PASSED" } else { "FAILED" },
            test.duration,
            result
                .exit_code
                .map_or_else(|| "none: killed".to_owned(), |c| c.to_string())
        );
        if let Some(file) = &test.results_file {
            eprintln!(
                "Results file ({}): {} ({} bytes)",
                match &file.format {
                    TestResultsFormat::Junit => "JUnit XML".to_owned(),
                    TestResultsFormat::Tap => "TAP".to_owned(),
                    TestResultsFormat::Other(other) => other.clone(),
                },
                file.path.display(),
                file.content.len()
            );
        }
        if test.results_file.is_none() {
            eprintln!(
                "No results files (the image declares none, or the tests wrote none: see CNB_TEST_RESULTS_DIR in the libcnb-exec-env-test README)"
            );
        }
    }
}

fn run(args: &Args) -> Result<i32, Failure> {
    let exec_env = args.exec_env.clone().unwrap_or(ExecEnv::Test);
    let (report, engine) = build(args, &exec_env)?;
    let process = args.process.clone().or_else(|| {
        if report.processes.iter().any(|p| p.r#type == "test") && exec_env == ExecEnv::Test {
            Some("test".to_owned())
        } else {
            None
        }
    });
    let name = process
        .clone()
        .or_else(|| report.default_process.clone())
        .unwrap_or_else(|| "<default>".to_owned());
    eprintln!();
    eprintln!(
        "===> LAUNCH {name} (CNB_EXEC_ENV={exec_env}, as `docker run -e CNB_EXEC_ENV={exec_env}`)"
    );
    launch_image(
        engine,
        report.image_dir.clone(),
        process,
        Some(exec_env),
        args,
    )
}
