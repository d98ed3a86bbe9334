//! Environment variables from layers: root directories (`bin/`, `lib/`, ...) and env files
//! (`env/`, `env.build/`, `env.launch/`, `env.launch/<process>/`).
//!
//! Semantics follow the lifecycle's `env/env.go`:
//! - a file `<NAME>` (no suffix) overrides (the default action since Buildpack API 0.5);
//! - `<NAME>.override`, `<NAME>.default` (only when the variable is unset or empty),
//!   `<NAME>.prepend`, `<NAME>.append`: prepend/append join with the content of `<NAME>.delim`,
//!   and with *nothing* when there is no `.delim` file;
//! - `<NAME>.` (empty suffix, the lifecycle's `ActionTypePrependPath`): prepend, joined with
//!   `<NAME>.delim` or else `:`;
//! - files are applied in directory-name order; directories and `.delim` files themselves are
//!   not variables;
//! - root directories are prepended with the path-list separator `:` (`AddRootDir`), and platform
//!   env files for root-dir variables are prepended too (`WithOverrides`).

use std::collections::BTreeMap;
use std::path::Path;

/// The build-time root directories (lifecycle `env/build.go`, `POSIXBuildEnv`).
pub(crate) const BUILD_ROOT_DIRS: &[(&str, &[&str])] = &[
    ("bin", &["PATH"]),
    ("include", &["CPATH"]),
    ("lib", &["LD_LIBRARY_PATH", "LIBRARY_PATH"]),
    ("pkgconfig", &["PKG_CONFIG_PATH"]),
];

/// The launch-time root directories (lifecycle `env/launch.go`, `POSIXLaunchEnv`).
pub(crate) const LAUNCH_ROOT_DIRS: &[(&str, &[&str])] =
    &[("bin", &["PATH"]), ("lib", &["LD_LIBRARY_PATH"])];

/// Variables a buildpack inherits from the platform's process (lifecycle `env/build.go`,
/// `BuildEnvIncludelist`), besides the root-dir variables.
const BUILD_INCLUDE_LIST: &[&str] = &[
    "CNB_STACK_ID",
    "HOSTNAME",
    "HOME",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Variables the launcher does not pass to a process (lifecycle `env/launch.go`).
const LAUNCH_EXCLUDE_LIST: &[&str] = &[
    "CNB_LAYERS_DIR",
    "CNB_APP_DIR",
    "CNB_PROCESS_TYPE",
    "CNB_PLATFORM_API",
    "CNB_DEPRECATION_MODE",
];

/// A set of environment variables plus the root-dir mapping in force.
#[derive(Clone, Debug)]
pub(crate) struct Env {
    pub(crate) vars: BTreeMap<String, String>,
    root_dirs: &'static [(&'static str, &'static [&'static str])],
}

impl Env {
    /// The build env: only the include list and the root-dir variables of `environ`.
    pub(crate) fn build(environ: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = environ
            .into_iter()
            .filter(|(key, _)| {
                BUILD_INCLUDE_LIST.contains(&key.as_str())
                    || BUILD_ROOT_DIRS
                        .iter()
                        .any(|(_, names)| names.contains(&key.as_str()))
            })
            .collect();
        Self {
            vars,
            root_dirs: BUILD_ROOT_DIRS,
        }
    }

    /// The launch env: `environ` without the exclude list.
    pub(crate) fn launch(environ: impl IntoIterator<Item = (String, String)>) -> Self {
        let vars = environ
            .into_iter()
            .filter(|(key, _)| !LAUNCH_EXCLUDE_LIST.contains(&key.as_str()))
            .collect();
        Self {
            vars,
            root_dirs: LAUNCH_ROOT_DIRS,
        }
    }

    fn is_root_var(&self, name: &str) -> bool {
        self.root_dirs
            .iter()
            .any(|(_, names)| names.contains(&name))
    }

    fn get(&self, name: &str) -> &str {
        self.vars.get(name).map_or("", String::as_str)
    }

    /// `AddRootDir`: prepends `<layer>/bin` to `PATH`, and so on, for directories that exist.
    pub(crate) fn add_root_dir(&mut self, layer: &Path) {
        for (dir, names) in self.root_dirs {
            let child = layer.join(dir);
            if !child.exists() {
                continue;
            }
            for name in *names {
                let value = join_prefix(&child.to_string_lossy(), ":", self.get(name));
                self.vars.insert((*name).to_owned(), value);
            }
        }
    }

    /// `AddEnvDir` with the default action `override`.
    pub(crate) fn add_env_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        for (file, value) in env_files(dir)? {
            let (name, action) = match file.split_once('.') {
                Some((name, action)) => (name.to_owned(), action.to_owned()),
                None => (file.clone(), "override".to_owned()),
            };
            let delim_file = std::fs::read_to_string(dir.join(format!("{name}.delim"))).ok();
            let delim = delim_file.clone().unwrap_or_default();
            match action.as_str() {
                // `<NAME>.` (an empty suffix): the lifecycle's `ActionTypePrependPath`, a prepend
                // whose delimiter defaults to the path-list separator (found by the
                // differential fuzz test below).
                "" => {
                    let delim = delim_file.unwrap_or_else(|| ":".to_owned());
                    let joined = join_prefix(&value, &delim, self.get(&name));
                    self.vars.insert(name, joined);
                }
                "override" => {
                    self.vars.insert(name, value);
                }
                "default" if self.get(&name).is_empty() => {
                    self.vars.insert(name, value);
                }
                "prepend" => {
                    let joined = join_prefix(&value, &delim, self.get(&name));
                    self.vars.insert(name, joined);
                }
                "append" => {
                    let current = self.get(&name);
                    let joined = if current.is_empty() {
                        value
                    } else {
                        format!("{current}{delim}{value}")
                    };
                    self.vars.insert(name, joined);
                }
                // `.delim` files, and unknown suffixes, set nothing (lifecycle `env/env.go`).
                _ => {}
            }
        }
        Ok(())
    }

    /// `WithOverrides`: the platform's `env/` files, prepended for root-dir variables and
    /// overriding otherwise.
    pub(crate) fn with_platform(&self, platform_dir: Option<&Path>) -> std::io::Result<Self> {
        let mut env = self.clone();
        if let Some(platform_dir) = platform_dir {
            for (name, value) in env_files(&platform_dir.join("env"))? {
                if env.is_root_var(&name) {
                    let joined = join_prefix(&value, ":", env.get(&name));
                    env.vars.insert(name, joined);
                } else {
                    env.vars.insert(name, value);
                }
            }
        }
        Ok(env)
    }
}

/// `value` + `delim` + `rest`, or `value` alone when `rest` is empty.
fn join_prefix(value: &str, delim: &str, rest: &str) -> String {
    if rest.is_empty() {
        value.to_owned()
    } else {
        format!("{value}{delim}{rest}")
    }
}

/// The regular files of `dir` (symlinks to files included), by name, with their content.
pub(crate) fn env_files(dir: &Path) -> std::io::Result<Vec<(String, String)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if std::fs::metadata(&path)?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push((name, std::fs::read_to_string(&path)?));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, value: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), value).unwrap();
    }

    #[test]
    fn suffixes_follow_the_lifecycle() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("env");
        write(&dir, "PLAIN", "over");
        write(&dir, "OVR.override", "o2");
        write(&dir, "DEF.default", "d");
        write(&dir, "SET.default", "ignored");
        write(&dir, "PRE.prepend", "p");
        write(&dir, "PRE.delim", ":");
        write(&dir, "NODELIM.prepend", "x");
        write(&dir, "APP.append", "a");
        write(&dir, "APP.delim", ",");
        write(&dir, "NEWAPP.append", "only");
        std::fs::create_dir_all(dir.join("SUBDIR")).unwrap();
        let mut env = Env::build(Vec::new());
        for (key, value) in [
            ("PLAIN", "old"),
            ("OVR", "old"),
            ("SET", "kept"),
            ("PRE", "base"),
            ("NODELIM", "base"),
            ("APP", "base"),
        ] {
            env.vars.insert(key.into(), value.into());
        }
        env.add_env_dir(&dir).unwrap();
        let get = |key: &str| env.vars.get(key).cloned();
        assert_eq!(get("PLAIN").as_deref(), Some("over"));
        assert_eq!(get("OVR").as_deref(), Some("o2"));
        assert_eq!(get("DEF").as_deref(), Some("d"));
        assert_eq!(get("SET").as_deref(), Some("kept"));
        assert_eq!(get("PRE").as_deref(), Some("p:base"));
        assert_eq!(
            get("NODELIM").as_deref(),
            Some("xbase"),
            "no .delim: joined with nothing"
        );
        assert_eq!(get("APP").as_deref(), Some("base,a"));
        assert_eq!(get("NEWAPP").as_deref(), Some("only"));
        assert!(get("PRE.delim").is_none() && get("PRE").is_some());
        assert!(get("SUBDIR").is_none());
    }

    #[test]
    fn root_dirs_and_platform_env() {
        let tmp = tempfile::tempdir().unwrap();
        let layer = tmp.path().join("layer");
        std::fs::create_dir_all(layer.join("bin")).unwrap();
        std::fs::create_dir_all(layer.join("lib")).unwrap();
        let mut env = Env::build(vec![
            ("PATH".to_owned(), "/usr/bin".to_owned()),
            ("SECRET".to_owned(), "x".to_owned()),
            ("HOME".to_owned(), "/home/u".to_owned()),
        ]);
        assert!(
            !env.vars.contains_key("SECRET"),
            "build env filters the host env"
        );
        env.add_root_dir(&layer);
        assert_eq!(
            env.vars["PATH"],
            format!("{}:/usr/bin", layer.join("bin").display())
        );
        assert_eq!(
            env.vars["LIBRARY_PATH"],
            layer.join("lib").display().to_string()
        );
        let platform = tmp.path().join("platform");
        write(&platform.join("env"), "PATH", "/plat/bin");
        write(&platform.join("env"), "HOME", "/elsewhere");
        let with = env.with_platform(Some(&platform)).unwrap();
        assert!(with.vars["PATH"].starts_with("/plat/bin:"));
        assert_eq!(with.vars["HOME"], "/elsewhere");
        let mut launch = Env::launch(vec![("CNB_APP_DIR".to_owned(), "/w".to_owned())]);
        assert!(launch.vars.is_empty());
        launch.add_root_dir(&layer);
        assert!(!launch.vars.contains_key("LIBRARY_PATH"));
        assert!(launch.vars.contains_key("LD_LIBRARY_PATH"));
    }
}

/// Differential fuzzing against the real lifecycle (`docs/fuzzing.md`): random env directories
/// are applied by this module and by the lifecycle's own `env` package (v0.21.11, through the
/// Go program in `tests/lifecycle-env-oracle`, one long-running process fed JSON lines: see
/// `platform::oracle`), and the results must be equal. `PROPTEST_CASES` sets the number of cases (default 256).
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// What the lifecycle makes of `vars` plus the env dir `dir` (or, with `platform`, of the
    /// platform directory's `env/` through `WithOverrides`).
    fn lifecycle_applies(
        vars: &BTreeMap<String, String>,
        dir: &Path,
        platform: bool,
    ) -> Option<Result<BTreeMap<String, String>, String>> {
        let request = serde_json::json!({
            "dir": dir,
            "env": vars,
            "platform": if platform { dir.to_string_lossy().into_owned() } else { String::new() },
        });
        let response = crate::platform::oracle::ask(&request)?;
        if let Some(error) = response.get("error").and_then(serde_json::Value::as_str) {
            return Some(Err(error.to_owned()));
        }
        Some(Ok(response
            .get("env")
            .and_then(serde_json::Value::as_object)
            .map(|env| {
                env.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()))
    }

    fn file_name() -> impl Strategy<Value = String> {
        let vars = prop::sample::select(vec!["A", "B", "PATH", "LD_LIBRARY_PATH", "X.Y", ""]);
        let suffixes = prop::sample::select(vec![
            "",
            ".override",
            ".default",
            ".prepend",
            ".append",
            ".delim",
            ".unknown",
            ".prepend.delim",
            ".",
        ]);
        (vars, suffixes).prop_map(|(var, suffix)| format!("{var}{suffix}"))
    }

    fn content() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec!['a', 'b', ':', ',', ' ', '=', '\n', '\u{e9}']),
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn initial_env() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(
            prop::sample::select(vec!["A", "B", "PATH", "LD_LIBRARY_PATH", "C"])
                .prop_map(str::to_owned),
            content(),
            0..4,
        )
    }

    fn write_files(dir: &Path, files: &BTreeMap<String, String>) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, value) in files {
            if name.is_empty() || name == "." || name == ".." {
                continue;
            }
            std::fs::write(dir.join(name), value).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
        ))]

        /// `AddEnvDir` (layer `env/`, `env.build/`, `env.launch/`): same variables as the
        /// lifecycle for every mix of suffixes, delimiters and existing values.
        #[test]
        fn env_dir_application_equals_the_lifecycle(
            files in prop::collection::btree_map(file_name(), content(), 0..8),
            vars in initial_env(),
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("env");
            write_files(&dir, &files);
            let mut env = Env::build(Vec::new());
            env.vars.clone_from(&vars);
            let ours = env.add_env_dir(&dir).map(|()| env.vars.clone());
            if let Some(theirs) = lifecycle_applies(&vars, &dir, false) {
                match (ours, theirs) {
                    (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, theirs),
                    (Err(_), Err(_)) => {}
                    (ours, theirs) => prop_assert!(false, "ours {ours:?}, lifecycle {theirs:?}"),
                }
            }
        }

        /// `WithOverrides` (platform `env/`): root-dir variables prepended with `:`, others
        /// overridden, exactly as the lifecycle does.
        #[test]
        fn platform_env_application_equals_the_lifecycle(
            files in prop::collection::btree_map(
                prop::sample::select(vec!["A", "PATH", "LD_LIBRARY_PATH", "CPATH", "B.prepend"])
                    .prop_map(str::to_owned),
                content(),
                0..5,
            ),
            vars in initial_env(),
        ) {
            let tmp = tempfile::tempdir().unwrap();
            write_files(&tmp.path().join("env"), &files);
            let mut env = Env::build(Vec::new());
            env.vars.clone_from(&vars);
            let ours = env.with_platform(Some(tmp.path())).map(|env| env.vars);
            if let Some(theirs) = lifecycle_applies(&vars, tmp.path(), true) {
                match (ours, theirs) {
                    (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, theirs),
                    (Err(_), Err(_)) => {}
                    (ours, theirs) => prop_assert!(false, "ours {ours:?}, lifecycle {theirs:?}"),
                }
            }
        }

        /// Arbitrary bytes in env files (not UTF-8 included): an error or a value, never a panic.
        #[test]
        fn arbitrary_env_file_bytes_never_panic(
            files in prop::collection::btree_map(file_name(), prop::collection::vec(any::<u8>(), 0..16), 0..6),
        ) {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("env");
            std::fs::create_dir_all(&dir).unwrap();
            for (name, value) in &files {
                if !name.is_empty() && name != "." {
                    std::fs::write(dir.join(name), value).unwrap();
                }
            }
            let mut env = Env::build(Vec::new());
            let _ = env.add_env_dir(&dir);
            let _ = env.with_platform(Some(tmp.path()));
        }
    }
}
