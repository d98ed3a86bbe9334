//! The entry point: API check, environment resolution, declared-environment check, then
//! libcnb's own detect/build runtime.
//!
//! libcnb 0.30's `libcnb_runtime` exits 254 for any `api` other than 0.10. This runtime checks
//! the API itself (0.10, 0.11, 0.12), reads `buildpack.toml` tolerantly, and then calls libcnb's
//! `libcnb_runtime_detect` / `libcnb_runtime_build`, which do the rest (platform, plan,
//! targets, `store.toml`, SBOMs) exactly as for a plain libcnb buildpack.

use crate::adapter::LibcnbBuildpack;
use crate::buildpack::Buildpack;
use crate::exec_env::{ExecEnv, ExecEnvSelector, PACK_RULE};
use crate::internal::descriptor::{BuildpackToml, DeclarationForm, DescriptorError};
use crate::output;
use crate::resolve::ResolvedExecEnv;
use libcnb::data::buildpack::ComponentBuildpackDescriptor;
use libcnb::{BuildArgs, DetectArgs};
use std::path::{Path, PathBuf};

/// Runs a framework buildpack as `bin/detect` or `bin/build` and exits. Use [`crate::buildpack_main`].
pub fn run<B: Buildpack>(buildpack: B) -> ! {
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(run_with_args(buildpack, &args))
}

/// Exit code: detect passed / build succeeded.
pub const EXIT_SUCCESS: i32 = 0;
/// Exit code: an error.
pub const EXIT_ERROR: i32 = 1;
/// Exit code: detect failed (the buildpack does not apply).
pub const EXIT_DETECT_FAIL: i32 = 100;
/// Exit code: unsupported Buildpack API (as libcnb).
pub const EXIT_API_ERROR: i32 = 254;
/// Exit code: called under a name other than `detect` or `build` (as libcnb).
pub const EXIT_NAME_ERROR: i32 = 255;

enum Phase {
    Detect(DetectArgs),
    Build(BuildArgs),
}

impl Phase {
    /// The phase the program was called as (`bin/detect`, `bin/build`) with its arguments, or
    /// the exit code after printing why not.
    fn from_args(args: &[String]) -> Result<Phase, i32> {
        let name = args
            .first()
            .map(Path::new)
            .and_then(Path::file_name)
            .and_then(|name| name.to_str())
            .unwrap_or("<unknown>");
        match name {
            "detect" => {
                let Ok(args) = DetectArgs::parse(args) else {
                    output::plain_error("usage: detect <platform> <plan>");
                    return Err(EXIT_ERROR);
                };
                Ok(Phase::Detect(args))
            }
            "build" => {
                let Ok(args) = BuildArgs::parse(args) else {
                    output::plain_error("usage: build <layers> <platform> <plan>");
                    return Err(EXIT_ERROR);
                };
                Ok(Phase::Build(args))
            }
            other => {
                output::plain_error(format!(
                    "this program must be called as `detect` or `build` (bin/detect, bin/build), not `{other}`"
                ));
                Err(EXIT_NAME_ERROR)
            }
        }
    }
}

/// Runs one phase with these arguments and the process environment; returns the exit code.
/// Not for buildpack authors (they use [`run`]): the framework's tests call it in-process.
#[must_use]
pub fn run_with_args<B: Buildpack>(buildpack: B, args: &[String]) -> i32 {
    output::to_stdout();
    let phase = match Phase::from_args(args) {
        Ok(phase) => phase,
        Err(code) => return code,
    };

    let Some(buildpack_dir) = std::env::var_os("CNB_BUILDPACK_DIR").map(PathBuf::from) else {
        output::plain_error(
            "CNB_BUILDPACK_DIR is not set: the platform must set it to the buildpack's directory",
        );
        return EXIT_ERROR;
    };
    // One pass of `toml`'s deserializer: the declarations taken out, the rest typed for libcnb.
    let descriptor: BuildpackToml<ComponentBuildpackDescriptor<B::Metadata>> =
        match BuildpackToml::read_as(buildpack_dir.join("buildpack.toml")) {
            Ok(descriptor) => descriptor,
            Err(error @ DescriptorError::UnsupportedApi { .. }) => {
                output::plain_error(error);
                return EXIT_API_ERROR;
            }
            Err(error) => {
                output::plain_error(error);
                return EXIT_ERROR;
            }
        };
    if descriptor.declaration_form == Some(DeclarationForm::SpecTables) {
        output::warning(format!(
            "{} declares environments as [[buildpack.exec-env]] tables; the lifecycle cannot read that form and fails with \"failed to initialize detector\". Write `exec-env = [\"test\"]` under [buildpack] instead.",
            descriptor.path.display()
        ));
    }
    let BuildpackToml {
        exec_env: declared,
        stripped: libcnb_descriptor,
        ..
    } = descriptor;

    let (phase_name, platform_dir) = match &phase {
        Phase::Detect(args) => ("detect", args.platform_dir_path.clone()),
        Phase::Build(args) => ("build", args.platform_dir_path.clone()),
    };
    let exec_env = match ResolvedExecEnv::from_process(&platform_dir) {
        Ok(exec_env) => exec_env,
        Err(error) => {
            output::plain_error(error);
            return EXIT_ERROR;
        }
    };
    announce(
        &display_name(&libcnb_descriptor),
        phase_name,
        &exec_env,
        &platform_dir,
    );

    if !declared.matches(&exec_env.env) {
        let message = not_declared(&declared, &exec_env);
        return match phase {
            Phase::Detect(_) => {
                output::line(format!("{message}: detect fails"));
                EXIT_DETECT_FAIL
            }
            Phase::Build(_) => {
                output::plain_error(format!("{message}: build must not run"));
                EXIT_ERROR
            }
        };
    }

    let adapter = LibcnbBuildpack::new(buildpack, exec_env);
    // libcnb's #[doc(hidden)] runtime functions: why the workspace pins libcnb exactly (=0.30.4).
    let result = match phase {
        Phase::Detect(args) => libcnb::libcnb_runtime_detect(&adapter, libcnb_descriptor, args),
        Phase::Build(args) => libcnb::libcnb_runtime_build(&adapter, libcnb_descriptor, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            libcnb::Buildpack::on_error(&adapter, error);
            EXIT_ERROR
        }
    }
}

/// The buildpack's `name`, or its id when it has none: the title of its output.
fn display_name<M>(descriptor: &ComponentBuildpackDescriptor<M>) -> String {
    descriptor
        .buildpack
        .name
        .clone()
        .unwrap_or_else(|| descriptor.buildpack.id.to_string())
}

/// The warning for a name pack would refuse: valid here (the spec forbids only `/`, the
/// lifecycle passes anything), but not one a user can give with `pack build --exec-env`.
#[must_use]
pub(crate) fn pack_warning(env: &ExecEnv) -> Option<String> {
    (!env.is_pack_compatible()).then(|| {
        format!(
            "the execution environment {:?} is accepted, but pack would refuse it: `pack build --exec-env` takes only {PACK_RULE}",
            env.as_str()
        )
    })
}

/// Prints which environment this phase runs in and where that came from, and warns when the
/// platform env file disagrees with the variable or pack would refuse the name.
fn announce(buildpack: &str, phase_name: &str, exec_env: &ResolvedExecEnv, platform_dir: &Path) {
    output::exec_env_header(buildpack, phase_name, exec_env);
    if let Some(message) = exec_env.platform_file_disagreement(platform_dir) {
        output::warning(message);
    }
    if let Some(warning) = pack_warning(&exec_env.env) {
        output::warning(warning);
    }
}

fn not_declared(declared: &ExecEnvSelector, current: &ResolvedExecEnv) -> String {
    format!(
        "This buildpack declares exec-env [{declared}] in buildpack.toml, and the execution environment is {current}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_warning_names_the_rule() {
        assert_eq!(pack_warning(&ExecEnv::Test), None);
        let warning = pack_warning(&"staging_eu".parse().unwrap()).unwrap();
        assert!(
            warning.contains("\"staging_eu\"")
                && warning.contains("ASCII letters, digits, '.' and '-'")
        );
    }
}
