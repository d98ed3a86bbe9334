//! `cnb-local new <id> [--path DIR]`: generates a buildpack crate.
//!
//! The crate gets a `[workspace]` table of its own, so cargo builds and tests it wherever it
//! is, also inside another workspace (whose members it does not join), and path dependencies
//! on the framework crates (`libcnb-exec-env`, dev-dependency `libcnb-exec-env-test`):
//! relative ones when it is generated inside the framework's workspace, else absolute ones to
//! the framework this `cnb-local` was built from. The workspace's `Cargo.lock` is copied, so
//! the new crate resolves the versions the framework is tested with.

use crate::args::NewArgs;
use crate::build::workspace_root;
use std::path::{Component, Path, PathBuf};

/// The libcnb version the framework pins (the workspace's `libcnb = "=0.30.4"`).
const LIBCNB_VERSION: &str = "=0.30.4";

/// The files of a new crate: path, template.
const FILES: [(&str, &str); 7] = [
    ("Cargo.toml", include_str!("template/Cargo.toml.in")),
    ("buildpack.toml", include_str!("template/buildpack.toml.in")),
    ("src/main.rs", include_str!("template/main.rs.in")),
    (
        "tests/integration.rs",
        include_str!("template/integration.rs.in"),
    ),
    (
        "tests/fixtures/hello-app/hello.txt",
        include_str!("template/hello.txt"),
    ),
    ("README.md", include_str!("template/README.md.in")),
    (".gitignore", "/target\n"),
];

/// Why a crate cannot be generated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NewError {
    /// No id was given.
    #[error("missing <id>: the id of the new buildpack, e.g. acme/hello")]
    MissingId,
    /// The id breaks the buildpack id rules.
    #[error("invalid buildpack id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The target directory has files.
    #[error("{}: already exists and is not an empty directory", .0.display())]
    Exists(PathBuf),
    /// The current directory cannot be read.
    #[error("cannot read the current directory: {0}")]
    CurrentDir(std::io::Error),
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Neither an enclosing workspace nor this build's source tree has the framework crates.
    #[error(
        "cannot find the libcnb-exec-env framework crates: {} is not inside the framework's workspace and {} has no libcnb-exec-env/Cargo.toml",
        target.display(),
        compiled.display()
    )]
    NoFramework {
        /// The crate directory.
        target: PathBuf,
        /// Where this `cnb-local` was built from.
        compiled: PathBuf,
    },
}

/// Checks a buildpack id: letters, digits, `.`, `/` and `-` (the Buildpack API's rule, which
/// libcnb enforces when it reads `buildpack.toml`), and not `app`, `config` or `sbom`.
///
/// # Errors
/// [`NewError::InvalidId`] naming the id and the rule.
pub(crate) fn validate_id(id: &str) -> Result<(), NewError> {
    let invalid = |reason: String| {
        Err(NewError::InvalidId {
            id: id.to_owned(),
            reason,
        })
    };
    if id.is_empty() {
        return invalid("it is empty".to_owned());
    }
    if matches!(id, "app" | "config" | "sbom") {
        return invalid("`app`, `config` and `sbom` are reserved".to_owned());
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-')))
    {
        return invalid(format!(
            "it contains {bad:?}; a buildpack id may only contain ASCII letters, digits, '.', '/' and '-'"
        ));
    }
    if id.starts_with('/') || id.ends_with('/') || id.contains("//") {
        return invalid("its '/'-separated parts must not be empty".to_owned());
    }
    Ok(())
}

/// The package (and binary) name for `id`: `acme/hello` -> `acme-hello-buildpack`.
pub(crate) fn crate_name(id: &str) -> String {
    let name: String = id
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = format!("{}-buildpack", name.trim_matches('-'));
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("bp-{name}")
    } else {
        name
    }
}

/// `cnb-local new`.
///
/// # Errors
/// [`NewError`].
pub(crate) fn run(args: &NewArgs) -> Result<(), NewError> {
    let id = args.id.as_deref().ok_or(NewError::MissingId)?;
    validate_id(id)?;
    let cwd = std::env::current_dir().map_err(NewError::CurrentDir)?;
    let target = match &args.path {
        Some(path) => cwd.join(path),
        None => cwd.join(id.rsplit('/').next().unwrap_or(id)),
    };
    let target = normalize(&target);
    generate(id, &target, &compiled_framework_dir())?;
    println!(
        "Created buildpack {id} (crate {}) in {}",
        crate_name(id),
        target.display()
    );
    println!("Next: cd {} && cargo test", target.display());
    Ok(())
}

/// The `framework/` directory this `cnb-local` was built from.
fn compiled_framework_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Writes the crate for `id` into `target` (absolute, normalized; created; must be absent or
/// empty), with path dependencies found from `target`'s enclosing workspace, else in
/// `fallback_framework`.
///
/// # Errors
/// [`NewError`].
pub(crate) fn generate(id: &str, target: &Path, fallback_framework: &Path) -> Result<(), NewError> {
    if target.exists()
        && std::fs::read_dir(target).map_or(true, |mut entries| entries.next().is_some())
    {
        return Err(NewError::Exists(target.to_path_buf()));
    }
    let (framework, relative) = framework_for(target, fallback_framework)?;
    let dependency = |name: &str| {
        let path = if relative {
            relative_path(target, &framework.join(name))
        } else {
            framework.join(name)
        };
        let path = toml::Value::String(path.to_string_lossy().into_owned());
        format!("{name} = {{ path = {path} }}")
    };
    let deps = format!(
        "{}\nlibcnb = \"{LIBCNB_VERSION}\"",
        dependency("libcnb-exec-env")
    );
    let dev_deps = dependency("libcnb-exec-env-test");
    let crate_name = crate_name(id);
    let write = |path: &Path, text: &str| -> Result<(), NewError> {
        let error = |source| NewError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(error)?;
        }
        std::fs::write(path, text).map_err(error)
    };
    for (file, template) in FILES {
        let text = template
            .replace("{{id}}", id)
            .replace("{{crate}}", &crate_name)
            .replace("{{deps}}", &deps)
            .replace("{{dev_deps}}", &dev_deps);
        write(&target.join(file), &text)?;
    }
    if let Some(lock) = framework
        .parent()
        .and_then(|root| std::fs::read_to_string(root.join("Cargo.lock")).ok())
    {
        write(&target.join("Cargo.lock"), &lock)?;
    }
    Ok(())
}

/// The framework directory, and whether to depend on it by relative paths (the target is in
/// its workspace).
fn framework_for(target: &Path, fallback: &Path) -> Result<(PathBuf, bool), NewError> {
    let has_framework = |dir: &Path| dir.join("libcnb-exec-env/Cargo.toml").is_file();
    let existing = target
        .ancestors()
        .find(|dir| dir.exists())
        .unwrap_or(target);
    if let Some(root) = workspace_root(existing) {
        let framework = normalize(&root.join("framework"));
        if has_framework(&framework) {
            return Ok((framework, true));
        }
    }
    let fallback = normalize(fallback);
    if has_framework(&fallback) {
        Ok((fallback, false))
    } else {
        Err(NewError::NoFramework {
            target: target.to_path_buf(),
            compiled: fallback,
        })
    }
}

/// `path` without `.` and `..` components (lexically: the directory may not exist yet).
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// `to` relative to the directory `from` (both absolute and normalized).
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..from.len() {
        relative.push("..");
    }
    for component in &to[common..] {
        relative.push(component);
    }
    relative
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_buildpack_id_rules() {
        for good in ["acme/hello", "hello", "a.b-c/d9", "APP", "app-x"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for (bad, reason) in [
            ("", "it is empty"),
            ("app", "reserved"),
            ("config", "reserved"),
            ("sbom", "reserved"),
            ("acme hello", "' '"),
            ("acme_hello", "'_'"),
            ("acme/héllo", "'é'"),
            ("/hello", "must not be empty"),
            ("acme//hello", "must not be empty"),
        ] {
            let message = validate_id(bad).expect_err(bad).to_string();
            assert!(
                message.starts_with(&format!("invalid buildpack id {bad:?}: "))
                    && message.contains(reason),
                "{message}"
            );
        }
    }

    #[test]
    fn crate_names() {
        assert_eq!(crate_name("acme/hello"), "acme-hello-buildpack");
        assert_eq!(crate_name("Acme.io/Hello"), "acme-io-hello-buildpack");
        assert_eq!(crate_name("9lives"), "bp-9lives-buildpack");
    }

    #[test]
    fn paths() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(
            relative_path(Path::new("/w/x/new"), Path::new("/w/framework/lib")),
            PathBuf::from("../../framework/lib")
        );
    }

    /// The template's libcnb pin is the workspace's.
    #[test]
    fn libcnb_version_is_the_workspaces() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let text = std::fs::read_to_string(manifest).unwrap();
        assert!(
            text.lines()
                .any(|line| line.trim() == format!("libcnb = \"{LIBCNB_VERSION}\"")),
            "the workspace pins another libcnb than {LIBCNB_VERSION}"
        );
    }

    #[test]
    fn generates_inside_a_workspace_with_relative_paths() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        std::fs::write(root.join("Cargo.lock"), "# lock\n").unwrap();
        std::fs::create_dir_all(root.join("framework/libcnb-exec-env")).unwrap();
        std::fs::write(root.join("framework/libcnb-exec-env/Cargo.toml"), "").unwrap();
        let target = root.join("buildpacks/hello");
        generate("acme/hello", &target, Path::new("/nonexistent")).unwrap();
        let manifest = std::fs::read_to_string(target.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("name = \"acme-hello-buildpack\""),
            "{manifest}"
        );
        assert!(
            manifest.contains("libcnb-exec-env = { path = \"../../framework/libcnb-exec-env\" }"),
            "{manifest}"
        );
        assert!(
            manifest.contains(
                "libcnb-exec-env-test = { path = \"../../framework/libcnb-exec-env-test\" }"
            ),
            "{manifest}"
        );
        assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
        let descriptor = std::fs::read_to_string(target.join("buildpack.toml")).unwrap();
        assert!(
            descriptor.contains("api = \"0.12\"")
                && descriptor.contains("id = \"acme/hello\"")
                && descriptor.contains("version = \"0.1.0\"")
        );
        assert_eq!(
            std::fs::read_to_string(target.join("Cargo.lock")).unwrap(),
            "# lock\n"
        );
        for file in [
            "src/main.rs",
            "tests/integration.rs",
            "tests/fixtures/hello-app/hello.txt",
        ] {
            let text = std::fs::read_to_string(target.join(file)).unwrap();
            assert!(!text.contains("{{"), "{file} has an unfilled placeholder");
        }
        // Not again into a directory with files.
        let again = generate("acme/hello", &target, Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(again, NewError::Exists(_)), "{again}");
    }

    #[test]
    fn outside_a_workspace_uses_absolute_paths_or_says_where_it_looked() {
        let tmp = tempfile::tempdir().unwrap();
        let tmp = tmp.path().canonicalize().unwrap();
        let target = tmp.join("hello");
        let framework = compiled_framework_dir();
        generate("hello", &target, &framework).unwrap();
        let manifest = std::fs::read_to_string(target.join("Cargo.toml")).unwrap();
        let expected = format!(
            "libcnb-exec-env = {{ path = \"{}\" }}",
            normalize(&framework.join("libcnb-exec-env")).display()
        );
        assert!(manifest.contains(&expected), "{manifest}");

        let missing = generate("hello", &tmp.join("other"), &tmp.join("nowhere")).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("cannot find the libcnb-exec-env framework crates"),
            "{missing}"
        );
    }
}
