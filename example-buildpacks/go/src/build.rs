//! Production builds: `go build -trimpath` of the main packages into a launch layer, and one
//! process per binary.

use crate::GoBuildpack;
use crate::cmd::{Go, package_in_output};
use crate::config::{BuildConfig, import_path};
use crate::errors::GoBuildpackError;
use libcnb::data::launch::ProcessType;
use libcnb::data::layer_name;
use libcnb::data::process_type;
use libcnb::layer::UncachedLayerDefinition;
use libcnb_exec_env::{BuildContext, Process, ProcessBuilder};
use std::path::Path;

/// The main packages of the module in `app_dir`, sorted.
pub(crate) fn main_packages(go: &Go, app_dir: &Path) -> Result<Vec<String>, GoBuildpackError> {
    let args = [
        "list",
        "-e",
        "-f",
        "{{if eq .Name \"main\"}}{{.ImportPath}}{{end}}",
        "./...",
    ];
    let output = go.output(app_dir, &args)?;
    if !output.success {
        return Err(GoBuildpackError::ListPackages {
            output: output.combined(),
        });
    }
    let mut packages: Vec<String> = output
        .stdout
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    packages.sort();
    Ok(packages)
}

/// The packages to build: those the build config lists (each must be a main package), or all.
pub(crate) fn select(
    config: &BuildConfig,
    module: &str,
    main: &[String],
) -> Result<Vec<String>, GoBuildpackError> {
    if main.is_empty() {
        return Err(GoBuildpackError::NoMainPackage);
    }
    if config.packages.is_empty() {
        return Ok(main.to_vec());
    }
    config
        .packages
        .iter()
        .map(|package| {
            let wanted = import_path(module, package);
            if main.contains(&wanted) {
                Ok(wanted)
            } else {
                Err(GoBuildpackError::NotAMainPackage {
                    path: config.path.clone().unwrap_or_default(),
                    package: package.clone(),
                    available: main.join(", "),
                })
            }
        })
        .collect()
}

/// The binary name `go build` would give a package: its last path element, skipping a major
/// version suffix (`example.com/tool/v2` -> `tool`).
pub(crate) fn binary_name(package: &str) -> String {
    let mut parts = package.rsplit('/');
    let last = parts.next().unwrap_or(package);
    let is_major =
        last.len() > 1 && last.starts_with('v') && last[1..].bytes().all(|b| b.is_ascii_digit());
    match parts.next() {
        Some(previous) if is_major => previous.to_owned(),
        _ => last.to_owned(),
    }
}

/// Binary names for `packages`, refusing two packages that would share one.
pub(crate) fn binary_names(packages: &[String]) -> Result<Vec<String>, GoBuildpackError> {
    let mut names: Vec<String> = Vec::new();
    for (index, package) in packages.iter().enumerate() {
        let name = binary_name(package);
        if let Some(first) = names.iter().position(|existing| existing == &name) {
            return Err(GoBuildpackError::BinaryNameClash {
                binary: name,
                first: packages[first].clone(),
                second: packages[index].clone(),
            });
        }
        names.push(name);
    }
    Ok(names)
}

/// Builds every package into the uncached launch layer `bin` (on PATH at launch); returns the
/// binary names.
pub(crate) fn build_binaries(
    context: &BuildContext<GoBuildpack>,
    go: &Go,
    packages: &[String],
) -> Result<Vec<String>, libcnb::Error<GoBuildpackError>> {
    let names = binary_names(packages)?;
    let layer = context.uncached_layer(
        layer_name!("bin"),
        UncachedLayerDefinition {
            build: false,
            launch: true,
        },
    )?;
    let bin = layer.path().join("bin");
    std::fs::create_dir_all(&bin).map_err(GoBuildpackError::io("create", &bin))?;
    for (package, name) in packages.iter().zip(&names) {
        let target = bin.join(name);
        let target_text = target.to_string_lossy().into_owned();
        let args = ["build", "-trimpath", "-o", &target_text, package];
        let output = go.logged(&context.app_dir, &args)?;
        if !output.success {
            return Err(GoBuildpackError::Compile {
                package: package_in_output(&output.combined()).unwrap_or_else(|| package.clone()),
                output: output.combined(),
            }
            .into());
        }
    }
    Ok(names)
}

fn process_type_for(name: &str) -> ProcessType {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    cleaned.parse().unwrap_or_else(|_| process_type!("app"))
}

/// Production processes: `web` (default) for a single binary, one per binary otherwise.
pub(crate) fn processes(binaries: &[String]) -> Vec<Process> {
    match binaries {
        [single] => vec![
            ProcessBuilder::new(process_type!("web"), [single.clone()])
                .default(true)
                .build(),
        ],
        many => many
            .iter()
            .map(|name| ProcessBuilder::new(process_type_for(name), [name.clone()]).build())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_names_follow_go_build() {
        assert_eq!(binary_name("example.com/app"), "app");
        assert_eq!(binary_name("example.com/app/cmd/a"), "a");
        assert_eq!(binary_name("example.com/tool/v2"), "tool");
        assert_eq!(binary_name("example.com/v"), "v");
        assert_eq!(binary_name("hello"), "hello");
    }

    #[test]
    fn clashing_binaries_are_refused() {
        let packages = vec!["m/cmd/a".to_owned(), "m/other/a".to_owned()];
        let error = binary_names(&packages).unwrap_err().to_string();
        assert!(
            error.contains("m/cmd/a") && error.contains("m/other/a"),
            "{error}"
        );
    }

    #[test]
    fn selection_uses_the_config() {
        let main = vec!["m/cmd/a".to_owned(), "m/cmd/b".to_owned()];
        let all = select(&BuildConfig::default(), "m", &main).unwrap();
        assert_eq!(all, main);
        let config = BuildConfig {
            path: Some("/workspace/project.toml".into()),
            packages: vec!["./cmd/b".to_owned()],
        };
        assert_eq!(
            select(&config, "m", &main).unwrap(),
            vec!["m/cmd/b".to_owned()]
        );
        let config = BuildConfig {
            path: Some("/workspace/project.toml".into()),
            packages: vec!["./cmd/c".to_owned()],
        };
        let error = select(&config, "m", &main).unwrap_err().to_string();
        assert!(
            error.contains("/workspace/project.toml") && error.contains("./cmd/c"),
            "{error}"
        );
        assert!(matches!(
            select(&BuildConfig::default(), "m", &[]),
            Err(GoBuildpackError::NoMainPackage)
        ));
    }

    #[test]
    fn one_web_process_or_one_per_binary() {
        let single = processes(&["app".to_owned()]);
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].r#type.as_str(), "web");
        assert!(single[0].default);
        assert!(single[0].exec_env.is_all());
        let many = processes(&["a".to_owned(), "b".to_owned()]);
        let types: Vec<&str> = many.iter().map(|p| p.r#type.as_str()).collect();
        assert_eq!(types, ["a", "b"]);
        assert_eq!(many[1].command, ["b"]);
        assert!(many.iter().all(|p| !p.default));
    }
}
