//! What each execution environment means for a Node.js app, in one place.

use libcnb_exec_env::ExecEnv;

/// How this buildpack builds for one execution environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EnvPolicy {
    /// The `NODE_ENV` value for npm at build time and for the app at launch.
    pub(crate) node_env: &'static str,
    /// Whether `devDependencies` are installed into the launch `node_modules`.
    pub(crate) dev_dependencies: bool,
    /// Whether `npm run build` runs (when the app defines `scripts.build`).
    pub(crate) run_build_script: bool,
    /// The environment-only process the image gets, besides `web`.
    pub(crate) extra_process: Option<ExtraProcess>,
}

/// A process only some environments get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExtraProcess {
    /// `test`: `npm test`.
    Test,
    /// `dev`: `npm run dev`, when the app defines `scripts.dev`.
    Dev,
}

impl EnvPolicy {
    /// The policy for `env`. Environments other than `test` and `development` (`production`,
    /// and any custom one such as `staging`) are built like production.
    pub(crate) fn for_env(env: &ExecEnv) -> Self {
        match env {
            ExecEnv::Test => Self {
                node_env: "test",
                dev_dependencies: true,
                run_build_script: false,
                extra_process: Some(ExtraProcess::Test),
            },
            ExecEnv::Development => Self {
                node_env: "development",
                dev_dependencies: true,
                run_build_script: false,
                extra_process: Some(ExtraProcess::Dev),
            },
            ExecEnv::Production | ExecEnv::Other(_) => Self {
                node_env: "production",
                dev_dependencies: false,
                run_build_script: true,
                extra_process: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_test_and_development_get_dev_dependencies() {
        assert!(!EnvPolicy::for_env(&ExecEnv::Production).dev_dependencies);
        assert!(EnvPolicy::for_env(&ExecEnv::Test).dev_dependencies);
        assert!(EnvPolicy::for_env(&ExecEnv::Development).dev_dependencies);
        let staging: ExecEnv = "staging".parse().unwrap();
        assert_eq!(
            EnvPolicy::for_env(&staging),
            EnvPolicy::for_env(&ExecEnv::Production)
        );
    }

    #[test]
    fn node_env_follows_the_environment() {
        assert_eq!(
            EnvPolicy::for_env(&ExecEnv::Production).node_env,
            "production"
        );
        assert_eq!(EnvPolicy::for_env(&ExecEnv::Test).node_env, "test");
        assert_eq!(
            EnvPolicy::for_env(&ExecEnv::Development).node_env,
            "development"
        );
    }

    #[test]
    fn build_script_runs_only_in_production_like_builds() {
        assert!(EnvPolicy::for_env(&ExecEnv::Production).run_build_script);
        assert!(!EnvPolicy::for_env(&ExecEnv::Test).run_build_script);
        assert!(!EnvPolicy::for_env(&ExecEnv::Development).run_build_script);
    }
}
