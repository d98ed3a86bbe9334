//! `cnb-package`: packages buildpacks like `cargo libcnb package`, keeping `exec-env` keys.
//!
//! ```text
//! cnb-package [--release] [--target <triple>] [--package-dir <dir>] [--quiet] [<buildpack dir>...]
//! ```
//! Without directories: the buildpack in the current directory, or, when the current directory
//! holds no `buildpack.toml`, every Rust and composite buildpack of the Cargo workspace.
//! Prints each packaged directory on stdout; progress and warnings go to stderr.

use libcnb_exec_env_package::{
    CargoProfile, PackageOptions, PackagedBuildpack, PackagedKind, package_buildpack,
    package_workspace,
};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: cnb-package [--release] [--target <triple>] [--package-dir <dir>] [--quiet] [<buildpack dir>...]";

fn main() -> ExitCode {
    let mut options = PackageOptions::default();
    let mut dirs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--release" => options.profile = CargoProfile::Release,
            "--quiet" | "-q" => options.quiet = true,
            "--target" | "--package-dir" => {
                let Some(value) = args.next() else {
                    eprintln!("error: {arg} needs a value\n{USAGE}");
                    return ExitCode::from(2);
                };
                if arg == "--target" {
                    options.target = Some(value);
                } else {
                    options.package_dir = Some(PathBuf::from(value));
                }
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            flag if flag.starts_with('-') => {
                eprintln!("error: unknown option {flag}\n{USAGE}");
                return ExitCode::from(2);
            }
            dir => dirs.push(PathBuf::from(dir)),
        }
    }

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
