//! The child-process harness of the framework's integration tests (`runtime.rs`,
//! `scoped_layers.rs`): the test binary runs itself as the buildpack's `bin/detect` or
//! `bin/build` (its `child_entry` test), in directories laid out as the lifecycle gives them.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Set for the child: the phase it runs as (`detect` or `build`).
pub(crate) const CHILD: &str = "LIBCNB_EXEC_ENV_TEST_CHILD";
/// Set for the child: the retention policy its buildpack returns (`evict`, `none`, ...).
pub(crate) const RETENTION: &str = "LIBCNB_EXEC_ENV_TEST_RETENTION";

/// When this process is a child: the arguments of its phase (`[phase, dirs...]`).
pub(crate) fn child_args() -> Option<Vec<String>> {
    let phase = std::env::var(CHILD).ok()?;
    Some(
        std::iter::once(phase)
            .chain(std::env::args().skip_while(|arg| arg != "--").skip(1))
            .collect(),
    )
}

/// The directories of one buildpack run.
pub(crate) struct Dirs {
    _root: tempfile::TempDir,
    pub(crate) app: PathBuf,
    pub(crate) buildpack: PathBuf,
    pub(crate) platform: PathBuf,
    pub(crate) layers: PathBuf,
    pub(crate) plan: PathBuf,
}

/// Fresh directories, with `buildpack_toml` as the buildpack's descriptor and a one-entry plan.
pub(crate) fn dirs(buildpack_toml: &str) -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let path = |name: &str| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    };
    let (app, buildpack, platform, layers) =
        (path("app"), path("bp"), path("platform"), path("layers"));
    std::fs::write(buildpack.join("buildpack.toml"), buildpack_toml).unwrap();
    let plan = root.path().join("plan.toml");
    std::fs::write(&plan, "[[entries]]\nname = \"x\"\n").unwrap();
    Dirs {
        _root: root,
        app,
        buildpack,
        platform,
        layers,
        plan,
    }
}

/// The child running `phase` in `dirs` with the lifecycle's variables, no `CNB_EXEC_ENV` and
/// no retention policy (callers add them).
pub(crate) fn phase_command(phase: &str, dirs: &Dirs) -> Command {
    let args: Vec<&Path> = if phase == "detect" {
        vec![&dirs.platform, &dirs.plan]
    } else {
        vec![&dirs.layers, &dirs.platform, &dirs.plan]
    };
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_entry",
            "--nocapture",
            "--test-threads=1",
            "--",
        ])
        .args(args)
        .current_dir(&dirs.app)
        .env(CHILD, phase)
        .env("CNB_BUILDPACK_DIR", &dirs.buildpack)
        .env("CNB_TARGET_OS", "linux")
        .env("CNB_TARGET_ARCH", "amd64")
        .env("CNB_TARGET_DISTRO_NAME", "debian")
        .env("CNB_TARGET_DISTRO_VERSION", "12")
        .env_remove("CNB_EXEC_ENV")
        .env_remove(RETENTION);
    command
}

/// Stdout then stderr of a child, as text.
pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What the lifecycle does between two builds: only `cache = true` layers survive, and their
/// `<layer>.toml` comes back without `[types]` (phase/restorer.go).
pub(crate) fn restore_like_the_lifecycle(layers: &Path) {
    for entry in std::fs::read_dir(layers).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(layer) = name.strip_suffix(".toml") else {
            continue;
        };
        if matches!(layer, "launch" | "build" | "store") {
            std::fs::remove_file(&path).unwrap();
            continue;
        }
        let mut table: toml::Table =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let cached = table
            .get("types")
            .and_then(|types| types.get("cache"))
            .and_then(toml::Value::as_bool)
            .unwrap_or(false);
        if cached {
            table.remove("types");
            std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
            let _ = std::fs::remove_dir_all(layers.join(layer));
        }
    }
}
