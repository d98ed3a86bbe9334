//! Finding pack, the Docker engine and the builder the pack engine runs on.
//!
//! `scripts/local-builder.sh` sets all three up and writes them to
//! `${XDG_CACHE_HOME:-$HOME/.cache}/libcnb-exec-env/builder.env`; variables of this process
//! override that file: `CNB_PACK` (the pack binary, else `pack` on `PATH`), `DOCKER_HOST`,
//! `PACK_HOME` and `CNB_PACK_BUILDER` (the builder image).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The variable naming the builder image.
pub const BUILDER_ENV: &str = "CNB_PACK_BUILDER";

/// The variable naming the pack binary.
pub const PACK_ENV: &str = "CNB_PACK";

/// The builder `scripts/local-builder.sh` creates.
pub const DEFAULT_BUILDER: &str = "local/examples-builder:bookworm";

/// pack, docker and the builder, found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    /// The pack binary.
    pub pack: PathBuf,
    /// The docker client.
    pub docker: PathBuf,
    /// `DOCKER_HOST`, when set.
    pub docker_host: Option<String>,
    /// `PACK_HOME`, when set.
    pub pack_home: Option<String>,
    /// The builder image.
    pub builder: String,
}

impl Tools {
    /// A `pack` command with the engine's environment.
    #[must_use]
    pub fn pack(&self) -> Command {
        let mut command = Command::new(&self.pack);
        self.apply(&mut command);
        command
    }

    /// A `docker` command with the engine's environment.
    #[must_use]
    pub fn docker(&self) -> Command {
        let mut command = Command::new(&self.docker);
        self.apply(&mut command);
        command
    }

    fn apply(&self, command: &mut Command) {
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        if let Some(home) = &self.pack_home {
            command.env("PACK_HOME", home);
        }
        command.env("NO_COLOR", "1");
    }
}

/// The env file `scripts/local-builder.sh` writes.
#[must_use]
pub fn env_file() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache.join("libcnb-exec-env").join("builder.env"))
}

/// `KEY=VALUE` lines of a shell env file (`export ` prefix and one level of quotes allowed;
/// comments and other lines ignored).
#[must_use]
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let (key, value) = line.split_once('=')?;
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return None;
            }
            let value = value.trim();
            let value = ['"', '\'']
                .iter()
                .find_map(|quote| {
                    value
                        .strip_prefix(*quote)
                        .and_then(|rest| rest.strip_suffix(*quote))
                })
                .unwrap_or(value);
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// Finds the tools without asking the Docker engine anything.
///
/// # Errors
/// Why the pack engine cannot run here, saying how to fix it.
pub fn find() -> Result<Tools, String> {
    let from_file = env_file()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map(|text| parse_env_file(&text))
        .unwrap_or_default();
    let var = |key: &str| {
        std::env::var(key)
            .ok()
            .filter(|value| !value.is_empty())
            .or_else(|| {
                from_file
                    .get(key)
                    .cloned()
                    .filter(|value| !value.is_empty())
            })
    };
    let setup = "run scripts/local-builder.sh (it installs and starts a Docker engine, builds pack and a builder)";
    let pack = match var(PACK_ENV) {
        Some(pack) => PathBuf::from(pack),
        None => on_path("pack").ok_or_else(|| format!("pack is not installed: {setup}"))?,
    };
    if !pack.is_file() {
        return Err(format!("pack not found at {}: {setup}", pack.display()));
    }
    let docker = on_path("docker").ok_or_else(|| format!("no docker client on PATH: {setup}"))?;
    Ok(Tools {
        pack,
        docker,
        docker_host: var("DOCKER_HOST"),
        pack_home: var("PACK_HOME"),
        builder: var(BUILDER_ENV).unwrap_or_else(|| DEFAULT_BUILDER.to_owned()),
    })
}

/// Finds the tools and checks, once per process, that the Docker engine answers and has the
/// builder image.
///
/// # Errors
/// Why the pack engine cannot run here.
pub fn locate() -> Result<Tools, String> {
    static CHECKED: OnceLock<Result<Tools, String>> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let tools = find()?;
            let quiet = |mut command: Command| {
                command
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            };
            let mut info = tools.docker();
            info.args(["version", "--format", "{{.Server.Version}}"]);
            if !quiet(info) {
                return Err(format!(
                    "no Docker engine answers at {}: run scripts/local-builder.sh, or set DOCKER_HOST",
                    tools.docker_host.as_deref().unwrap_or("the default socket")
                ));
            }
            let mut inspect = tools.docker();
            inspect.args(["image", "inspect", "--format", "{{.Id}}", &tools.builder]);
            if !quiet(inspect) {
                return Err(format!(
                    "the builder image {} does not exist: run scripts/local-builder.sh, or set {BUILDER_ENV}",
                    tools.builder
                ));
            }
            Ok(tools)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_read_like_a_shell_would() {
        let vars = parse_env_file(
            "# written by scripts/local-builder.sh\nexport DOCKER_HOST=unix:///w/docker.sock\nexport CNB_PACK='/c/pack'\nPACK_HOME=\"/c/pack-home\"\nnot a variable\nBAD-KEY=1\n",
        );
        assert_eq!(
            vars.get("DOCKER_HOST").map(String::as_str),
            Some("unix:///w/docker.sock")
        );
        assert_eq!(vars.get("CNB_PACK").map(String::as_str), Some("/c/pack"));
        assert_eq!(
            vars.get("PACK_HOME").map(String::as_str),
            Some("/c/pack-home")
        );
        assert_eq!(vars.len(), 3, "{vars:?}");
    }
}
