//! Which target triple to compile buildpacks for, and why.

use crate::PackageError;
use libcnb_package::cross_compile::{CrossCompileAssistance, cross_compile_assistance};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Command;

/// A target triple chosen for packaging, with the reason it was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The triple, e.g. `x86_64-unknown-linux-musl`.
    pub triple: String,
    /// Why this triple.
    pub choice: TargetChoice,
}

/// Why a target triple was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetChoice {
    /// The caller asked for it ([`crate::PackageOptions::target`]).
    Requested,
    /// The default: the static musl target of this machine's architecture, whose Rust standard
    /// library and C toolchain (`musl-gcc` or a cross gcc) are installed. What `cargo libcnb
    /// package` builds too, and what runs in any Linux build image.
    Musl,
    /// The musl target cannot be built here, so the host triple is used: the binaries run on
    /// this machine (the local platform) but are linked against its C library.
    HostFallback {
        /// What is missing for the musl target.
        reason: String,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.choice {
            TargetChoice::Requested => write!(f, "{} (requested)", self.triple),
            TargetChoice::Musl => write!(f, "{} (default: musl target installed)", self.triple),
            TargetChoice::HostFallback { reason } => {
                write!(f, "{} (host triple, because {reason})", self.triple)
            }
        }
    }
}

impl Target {
    /// A target the caller asked for.
    #[must_use]
    pub fn requested(triple: impl Into<String>) -> Self {
        Self {
            triple: triple.into(),
            choice: TargetChoice::Requested,
        }
    }
}

/// The musl triple of this machine's architecture (`x86_64-unknown-linux-musl` on x86-64).
#[must_use]
pub fn musl_triple() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

/// The default target: [`musl_triple`] when its Rust target and C toolchain are installed,
/// else the host triple (see [`TargetChoice`]).
///
/// # Errors
/// [`PackageError::Rustc`] when `rustc` cannot be run to find the host triple.
pub fn default_target() -> Result<Target, PackageError> {
    let musl = musl_triple();
    let Some(reason) = musl_missing(&musl) else {
        return Ok(Target {
            triple: musl,
            choice: TargetChoice::Musl,
        });
    };
    Ok(Target {
        triple: host_triple()?,
        choice: TargetChoice::HostFallback { reason },
    })
}

/// Why the musl target cannot be built here, or `None` when it can.
fn musl_missing(musl: &str) -> Option<String> {
    if std::env::consts::OS != "linux" {
        return Some(format!(
            "this is not a Linux host ({})",
            std::env::consts::OS
        ));
    }
    match target_libdir(musl) {
        Some(dir) if dir.is_dir() => {}
        _ => {
            return Some(format!(
                "the Rust target {musl} is not installed (rustup target add {musl})"
            ));
        }
    }
    match cross_compile_assistance(musl) {
        CrossCompileAssistance::HelpText(_) => Some(format!(
            "no C toolchain for {musl} is installed (apt-get install musl-tools)"
        )),
        CrossCompileAssistance::Configuration { .. } | CrossCompileAssistance::NoAssistance => None,
    }
}

fn rustc() -> OsString {
    std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"))
}

fn target_libdir(triple: &str) -> Option<PathBuf> {
    let output = Command::new(rustc())
        .args(["--print", "target-libdir", "--target", triple])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    // `rustc` prints the directory even when the target is not installed: it must hold libstd.
    let dir = PathBuf::from(dir);
    std::fs::read_dir(&dir)
        .ok()?
        .filter_map(Result::ok)
        .any(|entry| entry.file_name().to_string_lossy().starts_with("libstd-"))
        .then_some(dir)
}

/// The host triple, from `rustc -vV`.
///
/// # Errors
/// [`PackageError::Rustc`] when `rustc` cannot be run or prints no `host:` line.
pub fn host_triple() -> Result<String, PackageError> {
    let output =
        Command::new(rustc())
            .arg("-vV")
            .output()
            .map_err(|error| PackageError::Rustc {
                message: format!("cannot run rustc -vV: {error}"),
            })?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| PackageError::Rustc {
            message: format!(
                "rustc -vV printed no `host:` line (exit status {})",
                output.status
            ),
        })
}

/// The Cargo environment that cross-compiles to `triple` (libcnb-package's assistance).
pub(crate) fn cross_compile_env(
    target: &Target,
) -> Result<Vec<(OsString, OsString)>, PackageError> {
    match cross_compile_assistance(&target.triple) {
        CrossCompileAssistance::Configuration { cargo_env } => Ok(cargo_env),
        CrossCompileAssistance::NoAssistance => Ok(Vec::new()),
        CrossCompileAssistance::HelpText(help) => Err(PackageError::CrossCompile {
            target: target.triple.clone(),
            help,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_target_is_musl_exactly_when_it_can_be_built() {
        let target = default_target().unwrap();
        let musl = musl_triple();
        match musl_missing(&musl) {
            None => {
                assert_eq!(target.triple, musl);
                assert_eq!(target.choice, TargetChoice::Musl);
                assert!(target.to_string().contains("musl target installed"));
            }
            Some(reason) => {
                assert_eq!(target.triple, host_triple().unwrap());
                assert_eq!(target.choice, TargetChoice::HostFallback { reason });
            }
        }
    }

    #[test]
    fn an_uninstalled_target_is_reported() {
        assert!(target_libdir("riscv64gc-unknown-none-elf").is_none());
        assert!(host_triple().unwrap().contains('-'));
    }
}
