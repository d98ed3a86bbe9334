//! Small shell buildpacks written for the rule tests.
#![allow(dead_code, unreachable_pub)]

use libcnb_exec_env_test::{BuildConfig, BuildpackReference, Engine};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Writes a packaged buildpack `<root>/<dir>`: `buildpack.toml` with `api`, `id` and `extra`
/// lines under `[buildpack]`, and bash `bin/detect` / `bin/build` bodies.
pub fn buildpack(
    root: &Path,
    id: &str,
    api: &str,
    extra: &str,
    detect: &str,
    build: &str,
) -> PathBuf {
    let dir = root.join(id.replace('/', "_"));
    std::fs::create_dir_all(dir.join("bin")).expect("writing a test fixture");
    std::fs::write(
        dir.join("buildpack.toml"),
        format!("api = \"{api}\"\n\n[buildpack]\nid = \"{id}\"\nversion = \"1.0.0\"\n{extra}\n"),
    )
    .expect("writing a test fixture");
    for (name, body) in [("detect", detect), ("build", build)] {
        let path = dir.join("bin").join(name);
        std::fs::write(
            &path,
            format!("#!/usr/bin/env bash\nset -euo pipefail\n{body}\n"),
        )
        .expect("writing a test fixture");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("writing a test fixture");
    }
    dir
}

/// An app directory with one file.
pub fn app(root: &Path) -> PathBuf {
    let dir = root.join("app");
    std::fs::create_dir_all(&dir).expect("writing a test fixture");
    std::fs::write(dir.join("app.txt"), "hello\n").expect("writing a test fixture");
    dir
}

/// A build of `app` with the packaged buildpacks `bps`, in order, under `engine`.
pub fn config(app: &Path, bps: &[&Path], engine: Engine) -> BuildConfig {
    let mut config = BuildConfig::new(app);
    config
        .buildpacks(
            bps.iter()
                .map(|dir| BuildpackReference::Packaged(dir.to_path_buf()))
                .collect::<Vec<_>>(),
        )
        .engine(engine);
    config
}
