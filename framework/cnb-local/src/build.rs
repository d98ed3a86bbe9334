//! `cnb-local build`: the buildpacks to use, where cache and image go, the build itself.

use crate::Failure;
use crate::args::BuildArgs;
use crate::summary::{engine_line, print_summary};
use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildReport, BuildRequest, BuildpackReference, Engine, EngineError, Progress, Target,
    package_workspace_buildpack_in, resolve_order, run_build,
};
use sha2::Digest;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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

/// The nearest ancestor of `start` (itself included) whose `Cargo.toml` has a `[workspace]` table.
pub(crate) fn workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|line| line.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

fn buildpack_references(args: &BuildArgs) -> Result<Vec<BuildpackReference>, String> {
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
                        let id = libcnb_exec_env::internal::descriptor::BuildpackToml::read(path.join("buildpack.toml"))
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
        let id = libcnb_exec_env::internal::descriptor::BuildpackToml::read(
            composite.join("buildpack.toml"),
        )
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
        let id =
            libcnb_exec_env::internal::descriptor::BuildpackToml::read(dir.join("buildpack.toml"))
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

/// `path`, canonical when it exists.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `cnb-local build` (and the build of `run`): the report and the engine that ran.
pub(crate) fn build(
    args: &BuildArgs,
    exec_env: &ExecEnv,
) -> Result<(BuildReport, Engine), Failure> {
    let app_dir = args
        .app
        .clone()
        .ok_or("missing <app>: the application directory to build")?;
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
        platform_env: args.env_map(),
        cache_dir: cache_dir.clone(),
        output_dir,
        target: Target::host(),
        progress: if args.quiet {
            Progress::Quiet
        } else {
            Progress::Stderr
        },
        previous_image: !args.no_previous_image,
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
