//! Running `npm` during the build, with the shared download cache and `NODE_ENV` set.

use crate::errors::NodejsError;
use bullet_stream::global::print;
use fun_run::{CmdError, CommandWithName};
use libcnb::Env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How to run `npm` in this build.
#[derive(Clone, Debug)]
pub(crate) struct Npm {
    program: PathBuf,
    env: Vec<(OsString, OsString)>,
}

impl Npm {
    /// `npm` at `program`, with its download cache in `cache_dir`, `NODE_ENV=node_env`, and
    /// the platform's environment variables (from `pack build --env`) on top, and `bin_dir`
    /// (the installed `node` and `npm`) first on `PATH`: npm starts with `#!/usr/bin/env node`
    /// and scripts call `node`, while the lifecycle adds the layer to `PATH` only for later
    /// buildpacks and the image.
    pub(crate) fn new(
        program: PathBuf,
        bin_dir: &Path,
        cache_dir: &Path,
        node_env: &str,
        platform_env: &Env,
    ) -> Self {
        let mut env: Vec<(OsString, OsString)> = vec![
            ("NODE_ENV".into(), node_env.into()),
            ("npm_config_cache".into(), cache_dir.as_os_str().to_owned()),
            // No debug log files: npm would write one per run into the cache layer (changing
            // a restored cache even when nothing was downloaded), and they would vanish with
            // the build anyway. npm's errors still go to the build output.
            ("npm_config_logs_max".into(), "0".into()),
            // Use cached package data without asking the registry whether it is still fresh.
            ("npm_config_prefer_offline".into(), "true".into()),
            ("npm_config_audit".into(), "false".into()),
            ("npm_config_fund".into(), "false".into()),
            ("npm_config_update_notifier".into(), "false".into()),
        ];
        let mut platform: Vec<_> = platform_env
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        platform.sort();
        let path = platform
            .iter()
            .find(|(key, _)| key == "PATH")
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(bin_dir.to_owned()).chain(std::env::split_paths(&path)),
        )
        .unwrap_or_else(|_| bin_dir.as_os_str().to_owned());
        env.extend(platform.into_iter().filter(|(key, _)| key != "PATH"));
        env.push(("PATH".into(), path));
        Self { program, env }
    }

    /// Runs `npm <args>` in `dir`, its output going to the build output.
    ///
    /// # Errors
    /// npm cannot be started or exits unsuccessfully.
    pub(crate) fn run(&self, dir: &Path, args: &[&str]) -> Result<(), NodejsError> {
        let command_line = format!("npm {}", args.join(" "));
        let mut command = Command::new(&self.program);
        command
            .args(args)
            .current_dir(dir)
            .envs(self.env.iter().map(|(key, value)| (key, value)));
        // Streamed live under a `$ npm …` step; fun_run also keeps a copy, unused here.
        let result = print::sub_stream_with(format!("$ {command_line}"), |out, err| {
            command.stream_output(out, err)
        });
        match result {
            Ok(_) => Ok(()),
            Err(CmdError::SystemError(_, error)) => Err(NodejsError::Spawn {
                command: command_line,
                error,
            }),
            Err(failed) => Err(NodejsError::CommandFailed {
                command: command_line,
                status: failed.status(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_runs_with_node_env_and_the_cache_dir_and_reports_failure() {
        let npm = which::which("npm").expect("these tests need npm on PATH");
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"scripts": {"show": "node -e \"require('fs').writeFileSync('out', process.env.NODE_ENV + ' ' + process.env.npm_config_cache + ' ' + process.env.FROM_PLATFORM)\"", "fail": "exit 3"}}"#,
        )
        .unwrap();
        let mut platform = Env::new();
        platform.insert("FROM_PLATFORM", "yes");
        let bin = npm.parent().unwrap().to_owned();
        let npm = Npm::new(npm, &bin, &cache, "test", &platform);
        npm.run(dir.path(), &["run", "show"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out")).unwrap(),
            format!("test {} yes", cache.display())
        );
        let error = npm.run(dir.path(), &["run", "fail"]).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("`npm run fail` failed (exit status: "),
            "{error}"
        );
    }
}
