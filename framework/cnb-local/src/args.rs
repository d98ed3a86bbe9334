//! The command line: [`Cli`], parsed by clap (derive API) with the help text and usage errors
//! `cnb-local` always printed ([`USAGE`], `error: <message>` then the usage, exit code 2).

use clap::error::{ContextKind, ErrorKind};
use clap::{Args, Parser, Subcommand};
use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::Engine;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The help text (`cnb-local --help`, `cnb-local <command> --help`, and after a usage error).
pub(crate) const USAGE: &str = "\
cnb-local: build apps with Cloud Native Buildpacks and run their processes, without Docker

USAGE:
  cnb-local build  <app> [--exec-env ENV] [--buildpack ID|DIR]... [--cache DIR] [--out DIR]
                         [--engine auto|builtin|lifecycle|pack] [--env KEY=VALUE]... [--quiet]
                         [--no-previous-image]
  cnb-local launch <out> [PROCESS] [--exec-env ENV] [--env KEY=VALUE]... [--timeout SECS]
                         [-- ARGS...]
  cnb-local run    <app> [build options] [--process PROCESS] [--timeout SECS] [-- ARGS...]
  cnb-local new    <id> [--path DIR]

  build   detect, restore, build and export <app> (like `pack build --exec-env ENV`)
  launch  start a process of a built image, as the CNB launcher does: CNB_EXEC_ENV of the
          launch is --exec-env (unset means production, whatever the image was built for)
  run     build, then launch the `test` process (test builds) or the default process, in the
          build's environment; exits with the process's exit code
  new     generate a buildpack crate <id> (Cargo.toml, buildpack.toml, src/main.rs, an
          integration test with a fixture app) in DIR (default ./<last segment of id>)

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
  --no-previous-image  build as for a new image name: nothing from the last image built with
                       this cache (and output), the cache itself kept
  --path DIR           new: the directory of the new crate (must not exist, or be empty)

EXIT CODES (the lifecycle's own, platform/exit.go):
  0 success; 2 bad usage; 20 detect: no group passed; 21 detect: a buildpack's bin/detect
  errored; 51 build: a buildpack's bin/build failed; 52 build: invalid buildpack output (e.g. a
  <layer>.toml); 82 launch: no such process, no default process, or not eligible in the
  environment; launch/run: the process's own exit code (1 when killed); other lifecycle phase
  failures: the phase's code; anything else: 1
";

/// The commands, in the order the usage lists them.
pub(crate) const COMMANDS: [&str; 4] = ["build", "launch", "run", "new"];

/// `cnb-local <command> ...`.
#[derive(Debug, Parser)]
#[command(
    name = "cnb-local",
    override_help = USAGE,
    disable_help_subcommand = true,
    disable_version_flag = true
)]
pub(crate) struct Cli {
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// One of [`COMMANDS`].
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Detect, restore, build and export an app.
    #[command(override_help = USAGE, args_override_self = true)]
    Build(BuildArgs),
    /// Start a process of a built image.
    #[command(override_help = USAGE, args_override_self = true)]
    Launch(LaunchArgs),
    /// Build, then launch.
    #[command(override_help = USAGE, args_override_self = true)]
    Run(RunArgs),
    /// Generate a buildpack crate.
    #[command(override_help = USAGE, args_override_self = true)]
    New(NewArgs),
}

/// The options of `build` (and of `run`'s build).
#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The application directory.
    #[arg(value_name = "app")]
    pub(crate) app: Option<PathBuf>,
    /// The execution environment.
    #[arg(long, value_name = "ENV", value_parser = exec_env, allow_hyphen_values = true)]
    pub(crate) exec_env: Option<ExecEnv>,
    /// Packaged buildpack directories or workspace buildpack ids, in group order.
    #[arg(long = "buildpack", value_name = "ID|DIR", allow_hyphen_values = true)]
    pub(crate) buildpacks: Vec<String>,
    /// The cache directory.
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub(crate) cache: Option<PathBuf>,
    /// The output image directory.
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub(crate) out: Option<PathBuf>,
    /// The engine.
    #[arg(long, value_name = "E", value_parser = engine, default_value = "auto", allow_hyphen_values = true)]
    pub(crate) engine: Engine,
    /// Platform env vars.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value, allow_hyphen_values = true)]
    pub(crate) env: Vec<(String, String)>,
    /// Do not stream buildpack output.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
    /// Build without the previous image, keeping the cache.
    #[arg(long)]
    pub(crate) no_previous_image: bool,
}

impl BuildArgs {
    /// `--env` pairs, the last one of a key winning.
    pub(crate) fn env_map(&self) -> BTreeMap<String, String> {
        self.env.iter().cloned().collect()
    }
}

/// The options of `launch`.
#[derive(Debug, Args)]
pub(crate) struct LaunchArgs {
    /// The output directory of a build.
    #[arg(value_name = "out")]
    pub(crate) out: Option<PathBuf>,
    /// The process to launch (else `--process`, else the default process).
    #[arg(value_name = "PROCESS")]
    pub(crate) process_type: Option<String>,
    /// The process to launch, when not given as the second argument.
    #[arg(long, value_name = "PROCESS", allow_hyphen_values = true)]
    pub(crate) process: Option<String>,
    /// The launch's execution environment.
    #[arg(long, value_name = "ENV", value_parser = exec_env, allow_hyphen_values = true)]
    pub(crate) exec_env: Option<ExecEnv>,
    /// Process env vars.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = key_value, allow_hyphen_values = true)]
    pub(crate) env: Vec<(String, String)>,
    /// End the process after this long.
    #[arg(long, value_name = "SECS", value_parser = timeout, allow_hyphen_values = true)]
    pub(crate) timeout: Option<Duration>,
    /// Accepted, as before clap, and without effect on a launch.
    #[arg(long, short = 'q', hide = true)]
    pub(crate) quiet: bool,
    /// The arguments after `--` (`Some(vec![])` for a bare `--`).
    #[arg(skip)]
    pub(crate) trailing: Option<Vec<String>>,
}

/// The options of `run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The build's options.
    #[command(flatten)]
    pub(crate) build: BuildArgs,
    /// The process to launch.
    #[arg(long, value_name = "PROCESS", allow_hyphen_values = true)]
    pub(crate) process: Option<String>,
    /// End the process after this long.
    #[arg(long, value_name = "SECS", value_parser = timeout, allow_hyphen_values = true)]
    pub(crate) timeout: Option<Duration>,
    /// The arguments after `--`.
    #[arg(skip)]
    pub(crate) trailing: Option<Vec<String>>,
}

/// The options of `new`.
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The buildpack id.
    #[arg(value_name = "id")]
    pub(crate) id: Option<String>,
    /// The directory of the new crate.
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    pub(crate) path: Option<PathBuf>,
}

/// What the command line asks for, or why it cannot be parsed.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A command to run.
    Run(Cli),
    /// Print [`USAGE`] on stdout and exit with this code.
    Help(u8),
    /// A usage error: `error: <message>`, [`USAGE`], exit code 2.
    Usage(String),
    /// An unknown command (exit code 1, as before clap).
    UnknownCommand(String),
}

/// Parses the arguments after the program name. Everything after the first `--` is the
/// process's arguments (`launch`, `run`), untouched by the option parser.
pub(crate) fn parse(raw: Vec<String>) -> Parsed {
    let Some(first) = raw.first() else {
        return Parsed::Help(2);
    };
    if matches!(first.as_str(), "--help" | "-h" | "help") {
        return Parsed::Help(0);
    }
    if !first.starts_with('-') && !COMMANDS.contains(&first.as_str()) {
        return Parsed::UnknownCommand(format!(
            "unknown command {first:?}: expected build, launch, run or new"
        ));
    }
    let mut options = raw;
    let trailing = options
        .iter()
        .position(|arg| arg == "--")
        .map(|at| options.split_off(at).split_off(1));
    let program = std::iter::once("cnb-local".to_owned());
    match Cli::try_parse_from(program.chain(options)) {
        Ok(mut cli) => {
            match &mut cli.command {
                Command::Launch(launch) => launch.trailing = trailing,
                Command::Run(run) => run.trailing = trailing,
                Command::Build(_) | Command::New(_) => {}
            }
            Parsed::Run(cli)
        }
        Err(error) => match error.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Parsed::Help(0),
            _ => Parsed::Usage(usage_message(&error)),
        },
    }
}

/// The message of a clap error, in `cnb-local`'s words: `unknown option --x`, `--x needs a
/// value`, the value parser's own message (which names the option).
pub(crate) fn usage_message(error: &clap::Error) -> String {
    let context = |kind| error.get(kind).map(ToString::to_string).unwrap_or_default();
    let option = || {
        context(ContextKind::InvalidArg)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    match error.kind() {
        ErrorKind::UnknownArgument => {
            let arg = context(ContextKind::InvalidArg);
            if arg.starts_with('-') {
                format!("unknown option {arg}")
            } else {
                format!("unexpected argument {arg:?}")
            }
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals
            if context(ContextKind::InvalidValue).is_empty() =>
        {
            format!("{} needs a value", option())
        }
        ErrorKind::ValueValidation => {
            std::error::Error::source(error).map_or_else(|| first_line(error), ToString::to_string)
        }
        _ => first_line(error),
    }
}

/// The first line of clap's rendering, without its `error: ` prefix.
fn first_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let line = rendered.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

fn exec_env(text: &str) -> Result<ExecEnv, String> {
    text.parse().map_err(|error| format!("--exec-env: {error}"))
}

fn engine(text: &str) -> Result<Engine, String> {
    text.parse()
}

fn key_value(pair: &str) -> Result<(String, String), String> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| format!("--env {pair:?}: expected KEY=VALUE"))?;
    Ok((key.to_owned(), value.to_owned()))
}

fn timeout(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .filter(|secs: &f64| secs.is_finite() && *secs > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("--timeout {text:?}: expected a positive number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Parsed {
        parse(args.iter().map(|arg| (*arg).to_owned()).collect())
    }

    #[test]
    fn options_and_trailing_arguments() {
        let Parsed::Run(cli) = parse_strs(&[
            "launch",
            "out",
            "web",
            "--env",
            "A=1",
            "--env",
            "A=2",
            "--timeout",
            "0.5",
            "--exec-env",
            "test",
            "--",
            "--env",
            "x",
        ]) else {
            panic!("parses");
        };
        let Command::Launch(launch) = cli.command else {
            panic!("launch");
        };
        assert_eq!(launch.process_type.as_deref(), Some("web"));
        assert_eq!(launch.timeout, Some(Duration::from_millis(500)));
        assert_eq!(launch.exec_env, Some(ExecEnv::Test));
        assert_eq!(
            launch.env.iter().cloned().collect::<BTreeMap<_, _>>()["A"],
            "2"
        );
        assert_eq!(
            launch.trailing,
            Some(vec!["--env".to_owned(), "x".to_owned()])
        );
        let Parsed::Run(cli) = parse_strs(&["run", "app", "--", ""]) else {
            panic!("parses");
        };
        let Command::Run(run) = cli.command else {
            panic!("run");
        };
        assert_eq!(run.trailing, Some(vec![String::new()]));
        assert_eq!(run.build.engine, Engine::Auto);
    }

    #[test]
    fn repeated_options_take_the_last_value() {
        let Parsed::Run(cli) = parse_strs(&[
            "build",
            "app",
            "--engine",
            "lifecycle",
            "--engine",
            "builtin",
            "-q",
            "--buildpack",
            "a",
            "--buildpack",
            "b",
        ]) else {
            panic!("parses");
        };
        let Command::Build(build) = cli.command else {
            panic!("build");
        };
        assert_eq!(build.engine, Engine::Builtin);
        assert!(build.quiet);
        assert_eq!(build.buildpacks, ["a", "b"]);
    }

    #[test]
    fn usage_errors_in_cnb_locals_words() {
        let message = |args: &[&str]| match parse_strs(args) {
            Parsed::Usage(message) | Parsed::UnknownCommand(message) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message(&["build", "app", "--bogus"]),
            "unknown option --bogus"
        );
        assert_eq!(
            message(&["build", "app", "--cache"]),
            "--cache needs a value"
        );
        assert_eq!(
            message(&["launch", "out", "--timeout", "-1"]),
            "--timeout \"-1\": expected a positive number of seconds"
        );
        assert_eq!(
            message(&["build", "app", "--env", "NOPE"]),
            "--env \"NOPE\": expected KEY=VALUE"
        );
        assert!(
            message(&["build", "app", "--engine", "docker"])
                .starts_with("unknown engine \"docker\"")
        );
        assert!(message(&["build", "app", "--exec-env", "a/b"]).starts_with("--exec-env: "));
        assert_eq!(
            message(&["deploy"]),
            "unknown command \"deploy\": expected build, launch, run or new"
        );
        assert!(matches!(parse_strs(&[]), Parsed::Help(2)));
        assert!(matches!(parse_strs(&["help"]), Parsed::Help(0)));
        assert!(matches!(parse_strs(&["build", "-h"]), Parsed::Help(0)));
    }
}
