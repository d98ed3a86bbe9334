//! Test and development builds: tests pre-compiled into the build cache, and the `test`,
//! `test-verbose` and `dev` processes.

use crate::build::binary_names;
use crate::cmd::{Go, package_in_output};
use crate::errors::GoBuildpackError;
use libcnb::data::process_type;
use libcnb_exec_env::{ExecEnv, Process, ProcessBuilder, test_process};
use std::path::Path;

/// The command of the `test` process.
pub(crate) const TEST_COMMAND: [&str; 3] = ["go", "test", "./..."];

/// The arguments of the test precompile: `go test -run '^$' ./...`.
pub(crate) const PRECOMPILE_ARGS: [&str; 4] = ["test", "-run", "^$", "./..."];

/// Compiles (and links) every test binary without running a test, so that the build cache the
/// image carries makes `go test ./...` at launch start at once.
///
/// Without `-count=1`: Go's test cache then serves an unchanged package as `(cached)` on the
/// next build, without relinking its test binary. `-run '^$'` differs from the launch
/// command's flags, so a cached precompile never stands in for a real test run. `GOFLAGS`
/// carries `-trimpath` for this and for the production `go build` alike, so the restored build
/// cache serves both environments.
pub(crate) fn precompile(go: &Go, app_dir: &Path) -> Result<(), GoBuildpackError> {
    let args = PRECOMPILE_ARGS;
    let output = go.logged(app_dir, &args)?;
    if output.success {
        return Ok(());
    }
    let text = output.combined();
    Err(GoBuildpackError::TestCompile {
        package: package_in_output(&text).unwrap_or_else(|| "./...".to_owned()),
        output: text,
    })
}

/// The processes of a test or development build.
///
/// - test: `test` (`go test ./...`, default) and `test-verbose`, both restricted to test.
/// - development: `dev` (`go run <main package>`, default when there is one main package; one
///   `dev-<binary>` per package otherwise), plus `test`, all restricted to development.
pub(crate) fn processes(
    env: &ExecEnv,
    main_packages: &[String],
) -> Result<Vec<Process>, GoBuildpackError> {
    let mut processes = Vec::new();
    if env == &ExecEnv::Test {
        processes.push(test_process(TEST_COMMAND));
        processes.push(
            ProcessBuilder::new(process_type!("test-verbose"), ["go", "test", "-v", "./..."])
                .exec_env([ExecEnv::Test])
                .build(),
        );
    } else if env == &ExecEnv::Development {
        match main_packages {
            [] => {}
            [single] => processes.push(
                ProcessBuilder::new(process_type!("dev"), ["go", "run", single.as_str()])
                    .exec_env([ExecEnv::Development])
                    .default(true)
                    .build(),
            ),
            many => {
                for (package, name) in many.iter().zip(binary_names(many)?) {
                    let process_type = format!("dev-{name}")
                        .parse()
                        .unwrap_or_else(|_| process_type!("dev"));
                    processes.push(
                        ProcessBuilder::new(process_type, ["go", "run", package.as_str()])
                            .exec_env([ExecEnv::Development])
                            .build(),
                    );
                }
            }
        }
        processes.push(
            ProcessBuilder::new(process_type!("test"), TEST_COMMAND)
                .exec_env([ExecEnv::Development])
                .build(),
        );
    }
    Ok(processes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_builds_get_a_default_test_process_restricted_to_test() {
        let processes = processes(&ExecEnv::Test, &["m".to_owned()]).unwrap();
        assert_eq!(processes[0].r#type.as_str(), "test");
        assert_eq!(processes[0].command, TEST_COMMAND);
        assert!(processes[0].default);
        assert_eq!(
            processes[0].exec_env.to_list(),
            Some(vec!["test".to_owned()])
        );
        assert!(!processes[1].default);
        assert!(
            processes
                .iter()
                .all(|p| !p.exec_env.matches(&ExecEnv::Production))
        );
    }

    #[test]
    fn development_builds_get_dev_processes() {
        let single = processes(&ExecEnv::Development, &["example.com/hello".to_owned()]).unwrap();
        assert_eq!(single[0].r#type.as_str(), "dev");
        assert_eq!(single[0].command, ["go", "run", "example.com/hello"]);
        assert!(single[0].default);
        assert!(
            single
                .iter()
                .all(|p| p.exec_env.matches(&ExecEnv::Development)
                    && !p.exec_env.matches(&ExecEnv::Test))
        );
        let many = processes(
            &ExecEnv::Development,
            &["m/cmd/a".to_owned(), "m/cmd/b".to_owned()],
        )
        .unwrap();
        let types: Vec<&str> = many.iter().map(|p| p.r#type.as_str()).collect();
        assert_eq!(types, ["dev-a", "dev-b", "test"]);
        assert!(many.iter().all(|p| !p.default));
    }

    #[test]
    fn precompile_keeps_the_test_cache_on() {
        assert!(!PRECOMPILE_ARGS.contains(&"-count=1"));
        assert_eq!(Go::display(&PRECOMPILE_ARGS), "go test -run '^$' ./...");
    }

    #[test]
    fn production_gets_none_from_here() {
        assert!(
            processes(&ExecEnv::Production, &["m".to_owned()])
                .unwrap()
                .is_empty()
        );
    }
}
