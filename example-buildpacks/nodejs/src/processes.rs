//! Which processes the image gets, per execution environment.
//!
//! | process | command                                    | in builds for     | exec-env      | default in          |
//! |---------|--------------------------------------------|-------------------|---------------|---------------------|
//! | `web`   | `npm start`, else `node server.js`/`index.js` | every environment | (all)      | production, development without `dev` |
//! | `test`  | `npm test`                                 | test              | `test`        | test                |
//! | `dev`   | `npm run dev`                              | development, if `scripts.dev` | `development` | development |

use crate::package_json::PackageJson;
use crate::policy::{EnvPolicy, ExtraProcess};
use libcnb::data::process_type;
use libcnb_exec_env::{ExecEnv, Process, ProcessBuilder, test_process};
use std::fmt::Write as _;
use std::path::Path;

/// Files started with `node` when `package.json` has no `start` script, in this order.
pub(crate) const WEB_ENTRY_FILES: [&str; 2] = ["server.js", "index.js"];

/// The command of the `web` process: `npm start` when `scripts.start` is defined, else
/// `node server.js` or `node index.js` when that file exists; `None` otherwise.
pub(crate) fn web_command(package: &PackageJson, app_dir: &Path) -> Option<Vec<String>> {
    if package.script("start").is_some() {
        return Some(vec!["npm".into(), "start".into()]);
    }
    WEB_ENTRY_FILES
        .into_iter()
        .find(|file| app_dir.join(file).is_file())
        .map(|file| vec!["node".into(), file.into()])
}

/// The processes of a build in an environment with `policy`.
pub(crate) fn processes(
    policy: &EnvPolicy,
    package: &PackageJson,
    web: Option<Vec<String>>,
) -> Vec<Process> {
    let test = policy.extra_process == Some(ExtraProcess::Test);
    let dev = policy.extra_process == Some(ExtraProcess::Dev) && package.script("dev").is_some();
    let mut processes = Vec::new();
    if let Some(command) = web {
        processes.push(
            ProcessBuilder::new(process_type!("web"), command)
                .default(!test && !dev)
                .build(),
        );
    }
    if test {
        processes.push(test_process(["npm", "test"]));
    }
    if dev {
        processes.push(
            ProcessBuilder::new(process_type!("dev"), ["npm", "run", "dev"])
                .exec_env([ExecEnv::Development])
                .default(true)
                .build(),
        );
    }
    processes
}

/// One line per process for the build output: `web: npm start (default)`.
pub(crate) fn describe(process: &Process) -> String {
    let mut line = format!("{}: {}", process.r#type, process.command.join(" "));
    if process.default {
        line.push_str(" (default)");
    }
    if let Some(envs) = process.exec_env.to_list() {
        let _ = write!(line, " [exec-env: {}]", envs.join(", "));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn package(json: &str) -> PackageJson {
        PackageJson::parse(PathBuf::from("package.json"), json).unwrap()
    }

    fn summary(processes: &[Process]) -> Vec<(String, String, bool, Option<Vec<String>>)> {
        processes
            .iter()
            .map(|p| {
                (
                    p.r#type.to_string(),
                    p.command.join(" "),
                    p.default,
                    p.exec_env.to_list(),
                )
            })
            .collect()
    }

    fn for_env(env: &ExecEnv, json: &str) -> Vec<(String, String, bool, Option<Vec<String>>)> {
        let package = package(json);
        let web = package
            .script("start")
            .map(|_| vec!["npm".to_owned(), "start".to_owned()]);
        summary(&processes(&EnvPolicy::for_env(env), &package, web))
    }

    const FULL: &str = r#"{"scripts": {"start": "node server.js", "test": "mocha", "dev": "node --watch server.js"}}"#;

    #[test]
    fn production_has_only_the_default_web_process() {
        assert_eq!(
            for_env(&ExecEnv::Production, FULL),
            vec![("web".into(), "npm start".into(), true, None)]
        );
    }

    #[test]
    fn test_adds_a_default_test_process_restricted_to_test() {
        assert_eq!(
            for_env(&ExecEnv::Test, FULL),
            vec![
                ("web".into(), "npm start".into(), false, None),
                (
                    "test".into(),
                    "npm test".into(),
                    true,
                    Some(vec!["test".into()])
                ),
            ]
        );
    }

    #[test]
    fn development_adds_dev_only_when_the_script_exists() {
        assert_eq!(
            for_env(&ExecEnv::Development, FULL),
            vec![
                ("web".into(), "npm start".into(), false, None),
                (
                    "dev".into(),
                    "npm run dev".into(),
                    true,
                    Some(vec!["development".into()])
                ),
            ]
        );
        assert_eq!(
            for_env(
                &ExecEnv::Development,
                r#"{"scripts": {"start": "node a.js"}}"#
            ),
            vec![("web".into(), "npm start".into(), true, None)]
        );
    }

    #[test]
    fn custom_environments_are_built_like_production() {
        let staging: ExecEnv = "staging".parse().unwrap();
        assert_eq!(for_env(&staging, FULL), for_env(&ExecEnv::Production, FULL));
    }

    #[test]
    fn web_falls_back_to_server_js_then_index_js() {
        let dir = tempfile::tempdir().unwrap();
        let bare = package("{}");
        assert_eq!(web_command(&bare, dir.path()), None);
        std::fs::write(dir.path().join("index.js"), "").unwrap();
        assert_eq!(
            web_command(&bare, dir.path()),
            Some(vec!["node".into(), "index.js".into()])
        );
        std::fs::write(dir.path().join("server.js"), "").unwrap();
        assert_eq!(
            web_command(&bare, dir.path()),
            Some(vec!["node".into(), "server.js".into()])
        );
        let with_start = package(r#"{"scripts": {"start": "node app.js"}}"#);
        assert_eq!(
            web_command(&with_start, dir.path()),
            Some(vec!["npm".into(), "start".into()])
        );
    }

    #[test]
    fn without_a_web_command_test_builds_still_get_the_test_process() {
        let package = package(r#"{"scripts": {"test": "tap"}}"#);
        let test = processes(&EnvPolicy::for_env(&ExecEnv::Test), &package, None);
        assert_eq!(
            summary(&test),
            vec![(
                "test".into(),
                "npm test".into(),
                true,
                Some(vec!["test".into()])
            )]
        );
        assert!(processes(&EnvPolicy::for_env(&ExecEnv::Production), &package, None).is_empty());
    }

    #[test]
    fn processes_are_described_for_the_build_output() {
        assert_eq!(
            describe(&test_process(["npm", "test"])),
            "test: npm test (default) [exec-env: test]"
        );
    }
}
