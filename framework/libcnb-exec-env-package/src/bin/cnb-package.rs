//! `cnb-package`: packages buildpacks like `cargo libcnb package`, keeping `exec-env` keys.
//!
//! ```text
//! cnb-package [--release] [--target <triple>] [--package-dir <dir>] [--quiet] [<buildpack dir>...]
//! ```
//! Without directories: the buildpack in the current directory, or, when the current directory
//! holds no `buildpack.toml`, every Rust and composite buildpack of the Cargo workspace.
//! Prints each packaged directory on stdout; progress and warnings go to stderr.

use clap::Parser;
use clap::error::{ContextKind, ErrorKind};
use libcnb_exec_env_package::{
    CargoProfile, PackageOptions, PackagedBuildpack, PackagedKind, package_buildpack,
    package_workspace,
};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cnb-package [--release] [--target <triple>] [--package-dir <dir>] [--quiet] [<buildpack dir>...]";

/// The command line (clap, derive API); `--help` prints [`USAGE`].
#[derive(Debug, Parser)]
#[command(
    name = "cnb-package",
    override_help = USAGE,
    disable_version_flag = true,
    args_override_self = true
)]
struct Cli {
    /// Build with the release profile.
    #[arg(long)]
    release: bool,
    /// The target triple (default: from the buildpacks' `[[targets]]`).
    #[arg(long, value_name = "triple", allow_hyphen_values = true)]
    target: Option<String>,
    /// Where the packaged directories go.
    #[arg(long, value_name = "dir", allow_hyphen_values = true)]
    package_dir: Option<PathBuf>,
    /// No cargo output.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Buildpack directories.
    #[arg(value_name = "buildpack dir")]
    dirs: Vec<PathBuf>,
}

/// A clap error in `cnb-package`'s words: `unknown option --x`, `--x needs a value`.
fn usage_message(error: &clap::Error) -> String {
    let context = |kind| error.get(kind).map(ToString::to_string).unwrap_or_default();
    match error.kind() {
        ErrorKind::UnknownArgument => {
            format!("unknown option {}", context(ContextKind::InvalidArg))
        }
        ErrorKind::InvalidValue if context(ContextKind::InvalidValue).is_empty() => format!(
            "{} needs a value",
            context(ContextKind::InvalidArg)
                .split_whitespace()
                .next()
                .unwrap_or_default()
        ),
        _ => {
            let rendered = error.render().to_string();
            let line = rendered.lines().next().unwrap_or_default();
            line.strip_prefix("error: ").unwrap_or(line).to_owned()
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {}\n{USAGE}", usage_message(&error));
            return ExitCode::from(2);
        }
    };
    let mut options = PackageOptions::default();
    if cli.release {
        options.profile = CargoProfile::Release;
    }
    options.quiet = cli.quiet;
    options.target = cli.target;
    options.package_dir = cli.package_dir;
    let dirs = cli.dirs;

    let current_dir = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: cannot read the current directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = if dirs.is_empty() {
        if current_dir.join("buildpack.toml").is_file() {
            package_buildpack(&current_dir, &options).map(|packaged| vec![packaged])
        } else {
            package_workspace(&current_dir, &options)
        }
    } else {
        dirs.iter()
            .map(|dir| package_buildpack(dir, &options))
            .collect()
    };
    match result {
        Ok(packaged) if packaged.is_empty() => {
            eprintln!("error: no buildpacks found");
            ExitCode::FAILURE
        }
        Ok(packaged) => {
            for buildpack in &packaged {
                report(buildpack);
            }
            for buildpack in &packaged {
                println!("{}", buildpack.dir.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn report(buildpack: &PackagedBuildpack) {
    let kind = match &buildpack.kind {
        PackagedKind::Rust { binary, .. } => format!("binary {binary}"),
        PackagedKind::Composite { components } => format!(
            "composite of {}",
            components
                .iter()
                .map(|component| component.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    eprintln!(
        "📦 {} (api {}, exec-env [{}], {kind}) -> {}{}",
        buildpack.id,
        buildpack.api,
        buildpack.exec_env,
        buildpack.dir.display(),
        if buildpack.unchanged {
            " (unchanged)"
        } else {
            ""
        }
    );
    eprintln!("   target {}", buildpack.target);
}
