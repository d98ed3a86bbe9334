//! The request's order as one buildpack pack can take: a composite whose `[[order]]` is the
//! request's order, packaged with its components by `pack buildpack package` into a `.cnb` file.
//!
//! `pack build --buildpack` makes one group of required buildpacks; a composite carries any
//! order (several groups, optional entries) into the lifecycle's detector unchanged. The file is
//! kept per content digest of the order and its buildpacks, so an unchanged order is packaged once.

use crate::engine::Progress;
use crate::engine::{EngineError, Order};
use crate::pack::tools::Tools;
use crate::platform::process;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The id of the composite that carries the order (left out of every report).
pub const ORDER_ID: &str = "cnb-local/order";

/// Packages `order` (unless a file of the same digest exists in `dir`) and returns the file.
///
/// # Errors
/// A buildpack cannot be read, or `pack buildpack package` fails (its output is in the error).
pub fn package(tools: &Tools, order: &Order, dir: &Path) -> Result<PathBuf, EngineError> {
    let digest = digest(order)?;
    let cnb = dir.join(format!("order-{}.cnb", &digest[..16]));
    if cnb.is_file() {
        return Ok(cnb);
    }
    let work = dir.join(format!("order-{}", &digest[..16]));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)
        .map_err(EngineError::io(format!("cannot create {}", work.display())))?;
    let write = |name: &str, text: &str| {
        let path = work.join(name);
        std::fs::write(&path, text)
            .map_err(EngineError::io(format!("cannot write {}", path.display())))
    };
    write(
        "buildpack.toml",
        &composite_toml(order, &format!("0.0.0-{}", &digest[..12])),
    )?;
    write("package.toml", &package_toml(order))?;
    let mut command = tools.pack();
    command
        .args(["buildpack", "package"])
        .arg(&cnb)
        .arg("--config")
        .arg(work.join("package.toml"))
        .args(["--format", "file", "--pull-policy", "never"]);
    let finished = process::run(command, Progress::Quiet, None, "pack buildpack package")?;
    if !finished.success() {
        let _ = std::fs::remove_file(&cnb);
        return Err(EngineError::Packaging {
            what: format!("the build order as {ORDER_ID} ({})", work.display()),
            reason: format!(
                "pack buildpack package exited with {}:\n{}",
                finished.code_text(),
                finished.output()
            ),
        });
    }
    Ok(cnb)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// The composite's `buildpack.toml`: the order, group by group.
fn composite_toml(order: &Order, version: &str) -> String {
    let mut text = format!(
        "api = \"0.12\"\n\n[buildpack]\nid = \"{ORDER_ID}\"\nversion = \"{version}\"\nname = \"The order of a cnb-local build\"\n"
    );
    for group in order {
        text.push_str("\n[[order]]\n");
        for entry in group {
            let _ = write!(
                text,
                "\n[[order.group]]\nid = {}\nversion = {}\noptional = {}\n",
                toml_string(&entry.buildpack.id),
                toml_string(&entry.buildpack.version),
                entry.optional
            );
        }
    }
    text
}

/// The `package.toml`: the composite, and every distinct component directory.
fn package_toml(order: &Order) -> String {
    let mut text = "[buildpack]\nuri = \".\"\n".to_owned();
    let mut seen: Vec<&Path> = Vec::new();
    for entry in order.iter().flatten() {
        let dir = entry.buildpack.dir.as_path();
        if seen.contains(&dir) {
            continue;
        }
        seen.push(dir);
        let _ = write!(
            text,
            "\n[[dependencies]]\nuri = {}\n",
            toml_string(&dir.to_string_lossy())
        );
    }
    text
}

/// A digest of the order and of every file of its buildpacks (path, mode, content).
fn digest(order: &Order) -> Result<String, EngineError> {
    let mut hasher = Sha256::new();
    hasher.update(composite_toml(order, "").as_bytes());
    for entry in order.iter().flatten() {
        hasher.update(entry.buildpack.dir.to_string_lossy().as_bytes());
        hash_tree(&entry.buildpack.dir, &entry.buildpack.dir, &mut hasher)?;
    }
    Ok(hasher
        .finalize()
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        }))
}

fn hash_tree(root: &Path, dir: &Path, hasher: &mut Sha256) -> Result<(), EngineError> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(EngineError::io(format!("cannot read {}", dir.display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = std::fs::metadata(&path)
            .map_err(EngineError::io(format!("cannot read {}", path.display())))?;
        hasher.update(
            path.strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .as_bytes(),
        );
        hasher.update(meta.permissions().mode().to_le_bytes());
        if meta.is_dir() {
            hash_tree(root, &path, hasher)?;
        } else {
            let bytes = std::fs::read(&path)
                .map_err(EngineError::io(format!("cannot read {}", path.display())))?;
            hasher.update(bytes);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{GroupEntry, PackagedBuildpack};
    use libcnb_exec_env::ExecEnvSelector;

    fn entry(root: &Path, id: &str, optional: bool) -> GroupEntry {
        let dir = root.join(id.replace('/', "_"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("buildpack.toml"),
            format!("api = \"0.12\"\n[buildpack]\nid = \"{id}\"\nversion = \"1.0\"\n"),
        )
        .unwrap();
        GroupEntry {
            buildpack: PackagedBuildpack::read(&dir).unwrap(),
            optional,
            exec_env: ExecEnvSelector::All,
        }
    }

    #[test]
    fn the_composite_carries_every_group_and_optional_entry() {
        let root = tempfile::tempdir().unwrap();
        let order = vec![
            vec![
                entry(root.path(), "a/one", false),
                entry(root.path(), "t/report", true),
            ],
            vec![
                entry(root.path(), "b/two", false),
                entry(root.path(), "t/report", true),
            ],
        ];
        let toml: toml::Table = toml::from_str(&composite_toml(&order, "0.0.0-x")).unwrap();
        let groups = toml["order"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        let second = groups[1]["group"].as_array().unwrap();
        assert_eq!(second[0]["id"].as_str(), Some("b/two"));
        assert_eq!(second[1]["optional"].as_bool(), Some(true));
        let package: toml::Table = toml::from_str(&package_toml(&order)).unwrap();
        assert_eq!(
            package["dependencies"].as_array().unwrap().len(),
            3,
            "each component once"
        );
    }

    #[test]
    fn the_digest_follows_buildpack_content() {
        let root = tempfile::tempdir().unwrap();
        let order = vec![vec![entry(root.path(), "a/one", false)]];
        let before = digest(&order).unwrap();
        assert_eq!(before, digest(&order).unwrap());
        std::fs::write(order[0][0].buildpack.dir.join("bin-build"), "changed").unwrap();
        assert_ne!(before, digest(&order).unwrap());
    }
}
