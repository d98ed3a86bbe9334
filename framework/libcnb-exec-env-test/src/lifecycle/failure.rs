//! Reading a failed builder run: which buildpack failed, or which of its files the builder refused.

use super::phases::PhaseRun;
use super::report;
use crate::engine::EngineError;
use crate::results::Phase;
use std::path::{Path, PathBuf};

/// A failed builder run, as what it is:
///
/// - a buildpack's `bin/build` failed (the builder says `exit status <n>`, and exits 51):
///   [`EngineError::BuildpackFailed`] with the buildpack's exit code;
/// - `bin/build` succeeded but the builder refused what it wrote (exit 52, `BuildError`): a
///   `<layer>.toml`, `launch.toml` or `build.toml` it could not decode. The builder's error does
///   not always name the file (a TOML type error does not), so the buildpack's files are checked
///   in the builder's order to name it: [`EngineError::InvalidBuildpackOutput`], its reason
///   ending with the builder's own error;
/// - anything else: [`EngineError::PhaseFailed`] for the `build` phase, with its exit code.
pub(super) fn build_failure(run: &PhaseRun, output: String, layers: &Path) -> EngineError {
    let buildpack_id = run
        .output
        .lines()
        .filter_map(|line| line.strip_prefix("Running build for buildpack "))
        .next_back()
        .map(|el| el.rsplit_once('@').map_or(el, |(id, _)| id).to_owned());
    let bin_build_code = run.output.lines().rev().find_map(|line| {
        line.split_once("exit status ")
            .map(|(_, code)| code.trim().to_owned())
    });
    if let (Some(buildpack_id), Some(code)) = (&buildpack_id, bin_build_code) {
        return EngineError::BuildpackFailed {
            buildpack_id: buildpack_id.clone(),
            code,
            output,
        };
    }
    let phase_code = run
        .code
        .map_or_else(|| "a signal".to_owned(), |code| code.to_string());
    let lifecycle_error = run
        .output
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("ERROR: "))
        .unwrap_or("(no error message)");
    if let Some(buildpack_id) = buildpack_id
        && let Some((path, reason)) = invalid_output(
            &layers.join(report::escape_id(&buildpack_id)),
            lifecycle_error,
        )
    {
        return EngineError::InvalidBuildpackOutput {
            buildpack_id,
            path,
            reason: format!(
                "{reason} (the lifecycle's builder exited with {phase_code}: {lifecycle_error})"
            ),
        };
    }
    EngineError::PhaseFailed {
        phase: Phase::Build.to_string(),
        code: phase_code,
        output,
    }
}

/// The first file of a buildpack's output the builder cannot decode, in the order it reads
/// them (`buildpack/build.go`: `eachLayer` decodes every `*.toml` by file name as layer
/// metadata, `launch.toml` and `build.toml` included; then it reads `launch.toml` and
/// `build.toml` for what they are), and why. A `launch.toml` that parses is blamed only when the builder's error
/// speaks of TOML or processes (`multiple default process types aren't allowed`).
pub(super) fn invalid_output(bp_layers: &Path, lifecycle_error: &str) -> Option<(PathBuf, String)> {
    let mut files: Vec<String> = std::fs::read_dir(bp_layers)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| !kind.is_dir()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        // `eachLayer` decodes every `*.toml`, launch.toml and build.toml included.
        .filter(|name| Path::new(name).extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    for name in files {
        let path = bp_layers.join(&name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let reason = match toml::from_str::<toml::Table>(&text) {
            Err(error) => error.message().trim().to_owned(),
            Ok(table) => match crate::platform::layer_toml::layer_types(&table) {
                Err(reason) => reason,
                Ok(_) => continue,
            },
        };
        return Some((path, reason));
    }
    for file in ["launch.toml", "build.toml"] {
        let path = bp_layers.join(file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let reason = match toml::from_str::<toml::Table>(&text) {
            Err(error) => error.message().trim().to_owned(),
            Ok(_)
                if file == "launch.toml"
                    && (lifecycle_error.contains("toml")
                        || lifecycle_error.contains("process")) =>
            {
                "the builder refused it".to_owned()
            }
            Ok(_) => continue,
        };
        return Some((path, reason));
    }
    None
}
