//! Packages small throwaway workspaces (a dependency-free binary crate is enough: packaging
//! does not run the buildpack) whose `buildpack.toml` files carry the API 0.12 keys that
//! `libcnb-package` alone refuses.

#![allow(clippy::unwrap_used)]

use libcnb_exec_env::{ExecEnv, ExecEnvSelector};
use libcnb_exec_env_package::{
    PackageError, PackageOptions, PackageWarning, PackagedKind, host_triple, package_buildpack,
    package_workspace, package_workspace_buildpack, verify_packaged_dir,
};
use std::fs;
use std::path::Path;

const TEST_ONLY: &str = r#"api = "0.12"

[buildpack]
id = "fixture/test-only"
version = "0.1.0"
# kept verbatim
exec-env = ["test"]
"#;

const COMPOSITE: &str = r#"api = "0.12"

[buildpack]
id = "fixture/composite"
version = "0.1.0"

[[order]]
[[order.group]]
id = "fixture/test-only"
version = "0.1.0"
optional = true
exec-env = ["test"]
"#;

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// A workspace with `crates/test-only` (Rust, `exec-env = ["test"]`, two binaries) and
/// `composite` (order group with `exec-env`), packaged for the host triple into `packaged/`.
fn fixture() -> (tempfile::TempDir, PackageOptions) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"crates/test-only\"]\n",
    );
    write(
        &root.join("crates/test-only/Cargo.toml"),
        "[package]\nname = \"test-only\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [[bin]]\nname = \"test-only\"\npath = \"src/main.rs\"\n\n\
         [[bin]]\nname = \"helper\"\npath = \"src/helper.rs\"\n",
    );
    write(
        &root.join("crates/test-only/src/main.rs"),
        "fn main() { println!(\"main\"); }\n",
    );
    write(
        &root.join("crates/test-only/src/helper.rs"),
        "fn main() { println!(\"helper\"); }\n",
    );
    write(&root.join("crates/test-only/buildpack.toml"), TEST_ONLY);
    write(&root.join("composite/buildpack.toml"), COMPOSITE);
    write(
        &root.join("composite/package.toml"),
        "[buildpack]\nuri = \".\"\n\n[[dependencies]]\nuri = \"libcnb:fixture/test-only\"\n",
    );
    let options = PackageOptions::default()
        .target(host_triple().unwrap())
        .package_dir(root.join("packaged"))
        .quiet(true);
    (dir, options)
}

#[test]
fn a_declaring_buildpack_is_packaged_with_its_keys() {
    let (dir, options) = fixture();
    let packaged = package_buildpack(&dir.path().join("crates/test-only"), &options).unwrap();

    let host = host_triple().unwrap();
    assert_eq!(
        packaged.dir,
        fs::canonicalize(dir.path())
            .unwrap()
            .join("packaged")
            .join(&host)
            .join("debug/fixture_test-only")
    );
    assert_eq!(packaged.target.triple, host);
    assert_eq!(packaged.api, "0.12");
    assert_eq!(
        packaged.exec_env,
        ExecEnvSelector::Only(vec![ExecEnv::Test])
    );
    // Byte for byte, comment included.
    assert_eq!(
        fs::read_to_string(packaged.dir.join("buildpack.toml")).unwrap(),
        TEST_ONLY
    );
    assert_eq!(
        fs::read_link(packaged.dir.join("bin/detect")).unwrap(),
        Path::new("build")
    );
    let output = std::process::Command::new(packaged.dir.join("bin/build"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "main\n");
    let output =
        std::process::Command::new(packaged.dir.join(".libcnb-cargo/additional-bin/helper"))
            .output()
            .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "helper\n");
    match &packaged.kind {
        PackagedKind::Rust {
            binary,
            additional_binaries,
        } => {
            assert_eq!(binary, "test-only");
            assert_eq!(additional_binaries, &["helper".to_owned()]);
        }
        PackagedKind::Composite { .. } => panic!("not a composite"),
    }
    assert!(!packaged.unchanged);
    assert!(packaged.warnings.is_empty(), "{:?}", packaged.warnings);
    verify_packaged_dir(&packaged.dir).unwrap();

    // Packaging again leaves the identical directory alone.
    let again = package_buildpack(&dir.path().join("crates/test-only"), &options).unwrap();
    assert!(again.unchanged);
}

#[test]
fn a_composite_is_packaged_with_its_components_and_group_keys() {
    let (dir, options) = fixture();
    let packaged = package_buildpack(&dir.path().join("composite"), &options).unwrap();

    assert_eq!(packaged.id.as_str(), "fixture/composite");
    assert_eq!(
        packaged.order_exec_env,
        vec![vec![ExecEnvSelector::Only(vec![ExecEnv::Test])]]
    );
    assert_eq!(
        fs::read_to_string(packaged.dir.join("buildpack.toml")).unwrap(),
        COMPOSITE
    );
    let PackagedKind::Composite { components } = &packaged.kind else {
        panic!("a composite");
    };
    assert_eq!(components.len(), 1);
    assert_eq!(components[0].id.as_str(), "fixture/test-only");
    verify_packaged_dir(&components[0].dir).unwrap();
    // package.toml points at the packaged component.
    let package_toml = fs::read_to_string(packaged.dir.join("package.toml")).unwrap();
    assert!(
        package_toml.contains(&components[0].dir.display().to_string()),
        "{package_toml}"
    );
    assert!(!package_toml.contains("libcnb:"), "{package_toml}");
    assert!(
        packaged
            .warnings
            .iter()
            .any(|warning| matches!(warning, PackageWarning::OrderGroupExecEnvNotApplied { entries, .. } if entries == &["order[0].group[0]".to_owned()])),
        "{:?}",
        packaged.warnings
    );
}

#[test]
fn the_workspace_and_ids_are_found() {
    let (dir, options) = fixture();
    let all = package_workspace(dir.path(), &options).unwrap();
    let mut ids: Vec<&str> = all.iter().map(|packaged| packaged.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["fixture/composite", "fixture/test-only"]);

    let one = package_workspace_buildpack(dir.path(), "fixture/test-only", &options).unwrap();
    assert_eq!(one.id.as_str(), "fixture/test-only");
    let error = package_workspace_buildpack(dir.path(), "fixture/nope", &options).unwrap_err();
    assert!(matches!(error, PackageError::UnknownBuildpack { .. }));
    let message = error.to_string();
    assert!(
        message.contains("fixture/nope") && message.contains("fixture/test-only"),
        "{message}"
    );
}

#[test]
fn the_spec_table_form_is_packaged_with_a_warning_and_api_below_012_too() {
    let (dir, options) = fixture();
    let path = dir.path().join("crates/test-only/buildpack.toml");
    let tables = "api = \"0.11\"\n[buildpack]\nid = \"fixture/test-only\"\nversion = \"0.1.0\"\n\n\
                  [[buildpack.exec-env]]\nname = \"test\"\n";
    fs::write(&path, tables).unwrap();
    let packaged = package_buildpack(&dir.path().join("crates/test-only"), &options).unwrap();
    assert!(
        packaged
            .warnings
            .iter()
            .any(|warning| matches!(warning, PackageWarning::SpecTableForm { .. })),
        "{:?}",
        packaged.warnings
    );
    assert!(
        packaged
            .warnings
            .iter()
            .any(|warning| matches!(warning, PackageWarning::DeclarationBelowApi012 { api, .. } if api == "0.11")),
        "{:?}",
        packaged.warnings
    );
    let warning = packaged.warnings[0].to_string();
    assert!(
        warning.contains("failed to initialize detector"),
        "{warning}"
    );
    assert_eq!(
        packaged.exec_env,
        ExecEnvSelector::Only(vec![ExecEnv::Test])
    );
}

#[test]
fn errors_name_the_problem() {
    let (dir, options) = fixture();
    // A missing component of a composite.
    fs::write(
        dir.path().join("composite/package.toml"),
        "[buildpack]\nuri = \".\"\n[[dependencies]]\nuri = \"libcnb:fixture/missing\"\n",
    )
    .unwrap();
    let error = package_buildpack(&dir.path().join("composite"), &options)
        .unwrap_err()
        .to_string();
    assert!(error.contains("fixture/missing"), "{error}");
    // A bad declaration.
    fs::write(
        dir.path().join("crates/test-only/buildpack.toml"),
        TEST_ONLY.replace("[\"test\"]", "\"test\""),
    )
    .unwrap();
    let error = package_buildpack(&dir.path().join("crates/test-only"), &options)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("buildpack.exec-env") && error.contains("\"test\""),
        "{error}"
    );
    // Neither kind.
    let other = dir.path().join("other");
    write(
        &other.join("buildpack.toml"),
        "api = \"0.12\"\n[buildpack]\nid = \"fixture/other\"\nversion = \"0.1.0\"\n",
    );
    let error = package_buildpack(&other, &options).unwrap_err();
    assert!(
        matches!(error, PackageError::NotPackageable { .. }),
        "{error}"
    );
    // A failing build.
    fs::write(
        dir.path().join("crates/test-only/buildpack.toml"),
        TEST_ONLY,
    )
    .unwrap();
    fs::write(
        dir.path().join("crates/test-only/src/main.rs"),
        "fn main() {",
    )
    .unwrap();
    let error = package_buildpack(&dir.path().join("crates/test-only"), &options).unwrap_err();
    assert!(matches!(error, PackageError::CargoBuild { .. }), "{error}");
    assert!(error.to_string().contains("Cargo.toml"), "{error}");
}

#[test]
fn a_crate_of_another_cargo_workspace_is_built_in_its_own() {
    let (dir, options) = fixture();
    let standalone = dir.path().join("standalone");
    write(
        &standalone.join("Cargo.toml"),
        "[workspace]\n\n[package]\nname = \"standalone\"\nversion = \"0.1.0\"\nedition = \"2024\"\n",
    );
    write(
        &standalone.join("src/main.rs"),
        "fn main() { println!(\"standalone\"); }\n",
    );
    write(
        &standalone.join("buildpack.toml"),
        &TEST_ONLY.replace("fixture/test-only", "fixture/standalone"),
    );
    let all = package_workspace(dir.path(), &options).unwrap();
    let packaged = all
        .iter()
        .find(|packaged| packaged.id.as_str() == "fixture/standalone")
        .unwrap();
    let output = std::process::Command::new(packaged.dir.join("bin/build"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "standalone\n");
    // Its binary came from its own workspace's target directory (`<standalone>/target`, or
    // `CARGO_TARGET_DIR` when the caller sets one, as cargo does).
    let target_dir = libcnb_exec_env_package::cargo_target_dir(&standalone).unwrap();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => assert_eq!(target_dir, standalone.join(dir)),
        None => assert_eq!(target_dir, standalone.join("target")),
    }
    assert!(
        target_dir
            .join(host_triple().unwrap())
            .join("debug/standalone")
            .is_file()
    );
}

#[test]
fn a_relative_package_dir_is_resolved_against_the_current_directory() {
    let (dir, options) = fixture();
    // The test process's current directory is this crate's; packaging there would litter it,
    // so name the fixture's directory relative to the current one.
    let current = std::env::current_dir().unwrap();
    let relative: std::path::PathBuf = std::iter::repeat_n("..", current.components().count() - 1)
        .collect::<std::path::PathBuf>()
        .join(dir.path().strip_prefix("/").unwrap())
        .join("relative-out");
    assert!(relative.is_relative());
    let packaged = package_buildpack(
        &dir.path().join("composite"),
        &options.package_dir(&relative),
    )
    .unwrap();
    assert!(packaged.dir.is_absolute(), "{}", packaged.dir.display());
    let package_toml = fs::read_to_string(packaged.dir.join("package.toml")).unwrap();
    let PackagedKind::Composite { components } = &packaged.kind else {
        panic!("a composite");
    };
    assert!(components[0].dir.is_absolute());
    assert!(
        package_toml.contains(&format!("uri = \"{}\"", components[0].dir.display())),
        "{package_toml}"
    );
}
