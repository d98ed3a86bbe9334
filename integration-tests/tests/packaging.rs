//! Packaging the workspace's exec-env-declaring buildpacks (examples/test-report and the
//! composite examples/composite) with libcnb-exec-env-package: the API 0.12 keys survive, the
//! layout is what the lifecycle and pack expect, and the packaged test-report buildpack's own
//! detect check keeps it out of every environment but `test`.

#![allow(clippy::unwrap_used)]

use libcnb_exec_env::{ExecEnv, ExecEnvSelector};
use libcnb_exec_env_package::{
    PackageOptions, PackageWarning, PackagedBuildpack, PackagedKind, default_target,
    package_workspace_buildpack, verify_packaged_dir,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn package(id: &str) -> PackagedBuildpack {
    package_workspace_buildpack(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        id,
        &PackageOptions::default().quiet(true),
    )
    .unwrap()
}

#[test]
fn test_report_keeps_its_declaration_and_layout() {
    let packaged = package("examples/test-report");

    let target = default_target().unwrap();
    assert_eq!(packaged.target, target);
    assert_eq!(
        packaged.dir,
        // `<workspace>/target`, or wherever `CARGO_TARGET_DIR` puts Cargo's output.
        libcnb_exec_env_package::cargo_target_dir(&workspace_root())
            .unwrap()
            .join("cnb-local")
            .join(&target.triple)
            .join("debug/examples_test-report")
    );
    assert_eq!(packaged.api, "0.12");
    assert_eq!(
        packaged.exec_env,
        ExecEnvSelector::Only(vec![ExecEnv::Test])
    );
    assert_eq!(
        fs::read(packaged.dir.join("buildpack.toml")).unwrap(),
        fs::read(workspace_root().join("example-buildpacks/test-report/buildpack.toml")).unwrap(),
        "buildpack.toml must be copied byte for byte"
    );
    let descriptor = verify_packaged_dir(&packaged.dir).unwrap();
    assert_eq!(descriptor.exec_env, packaged.exec_env);
    assert_eq!(
        fs::read_link(packaged.dir.join("bin/detect")).unwrap(),
        Path::new("build")
    );
    let PackagedKind::Rust {
        binary,
        additional_binaries,
    } = &packaged.kind
    else {
        panic!("a Rust buildpack: {:?}", packaged.kind);
    };
    assert_eq!(binary, "example-test-report-buildpack");
    assert_eq!(additional_binaries, &["test-report".to_owned()]);
    assert!(
        packaged
            .dir
            .join(".libcnb-cargo/additional-bin/test-report")
            .is_file()
    );
    assert!(packaged.warnings.is_empty(), "{:?}", packaged.warnings);
}

#[test]
fn the_composite_keeps_group_keys_and_points_at_its_packaged_components() {
    let packaged = package("examples/composite");

    let test_only = ExecEnvSelector::Only(vec![ExecEnv::Test]);
    assert_eq!(
        packaged.order_exec_env,
        vec![vec![ExecEnvSelector::All, test_only.clone()]; 3],
        "ruby, nodejs and go groups, each with the test-report entry restricted to test"
    );
    assert_eq!(
        fs::read(packaged.dir.join("buildpack.toml")).unwrap(),
        fs::read(workspace_root().join("example-buildpacks/examples/buildpack.toml")).unwrap()
    );
    let PackagedKind::Composite { components } = &packaged.kind else {
        panic!("a composite: {:?}", packaged.kind);
    };
    let ids: Vec<&str> = components.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "examples/ruby",
            "examples/nodejs",
            "examples/go",
            "examples/test-report"
        ]
    );
    let package_toml = fs::read_to_string(packaged.dir.join("package.toml")).unwrap();
    for component in components {
        verify_packaged_dir(&component.dir).unwrap();
        assert_eq!(component.target, packaged.target);
        assert!(
            package_toml.contains(&format!("uri = \"{}\"", component.dir.display())),
            "{package_toml}"
        );
    }
    assert!(!package_toml.contains("libcnb:"), "{package_toml}");
    assert!(
        packaged.warnings.iter().any(|warning| matches!(
            warning,
            PackageWarning::OrderGroupExecEnvNotApplied { entries, .. } if entries.len() == 3
        )),
        "the docs promise a warning that group exec-env is not applied: {:?}",
        packaged.warnings
    );
    assert_eq!(components[3].exec_env, test_only);
}

/// Runs the packaged `bin/detect` as a lifecycle without exec-env filtering would (an older
/// lifecycle, or Platform API < 0.15): the framework's own check decides.
fn detect(buildpack_dir: &Path, process_env: Option<&str>, platform_env: Option<&str>) -> i32 {
    let dir = tempfile::tempdir().unwrap();
    let platform = dir.path().join("platform");
    fs::create_dir_all(platform.join("env")).unwrap();
    if let Some(value) = platform_env {
        fs::write(platform.join("env/CNB_EXEC_ENV"), value).unwrap();
    }
    let app = dir.path().join("app");
    fs::create_dir(&app).unwrap();
    let mut command = Command::new(buildpack_dir.join("bin/detect"));
    command
        .arg(&platform)
        .arg(dir.path().join("plan.toml"))
        .current_dir(&app)
        .env("CNB_BUILDPACK_DIR", buildpack_dir)
        .env("CNB_PLATFORM_DIR", &platform)
        .env("CNB_BUILD_PLAN_PATH", dir.path().join("plan.toml"))
        // The lifecycle sets the target (libcnb reads it).
        .env("CNB_TARGET_OS", "linux")
        .env("CNB_TARGET_ARCH", "amd64")
        .env("CNB_TARGET_DISTRO_NAME", "ubuntu")
        .env("CNB_TARGET_DISTRO_VERSION", "24.04")
        .env_remove("CNB_EXEC_ENV");
    if let Some(value) = process_env {
        command.env("CNB_EXEC_ENV", value);
    }
    let output = command.output().unwrap();
    let code = output.status.code().unwrap();
    assert!(
        code == 0 || code == 100,
        "detect errored ({code}): {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    code
}

#[test]
fn the_packaged_test_report_detects_only_in_test() {
    let packaged = package("examples/test-report");
    // What the lifecycle passes (api 0.12): CNB_EXEC_ENV in the process environment.
    assert_eq!(detect(&packaged.dir, Some("test"), None), 0);
    assert_eq!(detect(&packaged.dir, Some("production"), None), 100);
    assert_eq!(detect(&packaged.dir, Some("development"), None), 100);
    // Nothing set means production.
    assert_eq!(detect(&packaged.dir, None, None), 100);
    // `pack build --env CNB_EXEC_ENV=test` on older platforms: a platform env file.
    assert_eq!(detect(&packaged.dir, None, Some("test")), 0);
    assert_eq!(detect(&packaged.dir, None, Some("production")), 100);
}
