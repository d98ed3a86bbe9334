//! Packaging for `libcnb-exec-env` buildpacks that keeps the Buildpack API 0.12 keys.
//!
//! `libcnb-package` 0.30 (and so `cargo libcnb package`) decides what a directory holds by
//! parsing its `buildpack.toml` with `libcnb-data`, whose types deny unknown fields. A
//! buildpack that declares `[buildpack] exec-env = ["test"]`, or a composite whose
//! `[[order.group]]` entries carry `exec-env`, does not parse there: `cargo libcnb package`
//! skips it without a word, and `libcnb_package::package::package_buildpack` answers
//! "Buildpack is not supported to be packaged".
//!
//! This crate packages the same way, to the same layout, but reads `buildpack.toml` with the
//! framework's tolerant reader ([`libcnb_exec_env::internal::descriptor::BuildpackToml`]) and copies it
//! byte for byte, so the keys survive:
//!
//! - a Rust buildpack crate: `cargo build --target <triple> --bins` (with libcnb-package's
//!   cross-compile assistance and the same profile settings as `cargo libcnb package`, so both
//!   share Cargo's build cache), then `buildpack.toml`, `bin/build`, `bin/detect` (a link to
//!   `build`), extra binaries under `.libcnb-cargo/additional-bin/`, and a `package.toml`;
//! - a composite (a directory with `buildpack.toml` holding `[[order]]` and a `package.toml`):
//!   every `libcnb:<id>` dependency of its `package.toml` is found in the Cargo workspace and
//!   packaged first, then libcnb-package writes the composite with its `package.toml` pointing at
//!   the packaged components.
//!
//! Output: `<cargo target dir>/cnb-local/<triple>/<debug|release>/<id with / replaced by _>/`.
//!
//! It warns (on stderr and in [`PackagedBuildpack::warnings`]) when a `buildpack.toml` uses the
//! spec's `[[buildpack.exec-env]]` table form, which makes the lifecycle fail with "failed to
//! initialize detector", and when it relies on things the lifecycle does not apply yet.
//!
//! ```no_run
//! use libcnb_exec_env_package::{PackageOptions, package_buildpack};
//! use std::path::Path;
//!
//! let packaged = package_buildpack(Path::new("example-buildpacks/test-report"), &PackageOptions::default())?;
//! println!("{} -> {} for {}", packaged.id, packaged.dir.display(), packaged.target);
//! assert!(packaged.dir.join("bin/detect").exists());
//! # Ok::<(), libcnb_exec_env_package::PackageError>(())
//! ```

mod assemble;
mod error;
mod target;
mod workspace;

pub use error::PackageError;
pub use libcnb_package::CargoProfile;
pub use target::{Target, TargetChoice, default_target, host_triple, musl_triple};
pub use workspace::{WorkspaceBuildpack, WorkspaceBuildpackKind, find_workspace_buildpacks};

use libcnb_data::buildpack::BuildpackId;
use libcnb_exec_env::ExecEnvSelector;
use libcnb_exec_env::internal::descriptor::{BuildpackToml, DeclarationForm, EXEC_ENV_API};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// How to package.
#[derive(Clone, Debug)]
pub struct PackageOptions {
    /// The target triple; `None` chooses [`default_target`].
    pub target: Option<String>,
    /// The Cargo profile (default [`CargoProfile::Dev`], like `cargo libcnb package`).
    pub profile: CargoProfile,
    /// Where packaged buildpacks go; `None` means `<cargo target dir>/cnb-local`. Each one is
    /// written to `<package_dir>/<triple>/<debug|release>/<id with / replaced by _>/`.
    pub package_dir: Option<PathBuf>,
    /// Apply libcnb-package's cross-compile assistance (linker and `CC` settings) for the
    /// target (default `true`).
    pub cross_compile_assistance: bool,
    /// Extra environment for `cargo build`.
    pub cargo_env: Vec<(OsString, OsString)>,
    /// Pass `--quiet` to `cargo build` (its errors are still shown).
    pub quiet: bool,
}

impl Default for PackageOptions {
    fn default() -> Self {
        Self {
            target: None,
            profile: CargoProfile::Dev,
            package_dir: None,
            cross_compile_assistance: true,
            cargo_env: Vec::new(),
            quiet: false,
        }
    }
}

impl PackageOptions {
    /// Compiles for this target triple instead of the default.
    #[must_use]
    pub fn target(mut self, triple: impl Into<String>) -> Self {
        self.target = Some(triple.into());
        self
    }

    /// Uses this Cargo profile.
    #[must_use]
    pub fn profile(mut self, profile: CargoProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Writes packaged buildpacks under this directory.
    #[must_use]
    pub fn package_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.package_dir = Some(dir.into());
        self
    }

    /// Passes `--quiet` to `cargo build`.
    #[must_use]
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self
    }
}

/// A packaged buildpack.
#[derive(Clone, Debug)]
pub struct PackagedBuildpack {
    /// Its id.
    pub id: BuildpackId,
    /// The source directory it was packaged from.
    pub source_dir: PathBuf,
    /// The packaged directory (`buildpack.toml`, `bin/`, `package.toml`).
    pub dir: PathBuf,
    /// The target its binaries were compiled for, and why that one.
    pub target: Target,
    /// The Cargo profile.
    pub profile: CargoProfile,
    /// The `api` of its `buildpack.toml`, e.g. `"0.12"`.
    pub api: String,
    /// The environments it declares (`[buildpack] exec-env`), as read back from the packaged
    /// `buildpack.toml`.
    pub exec_env: ExecEnvSelector,
    /// For a composite: the `exec-env` of each order group entry, as read back from the
    /// packaged `buildpack.toml` (kept, but not applied by lifecycle 0.21).
    pub order_exec_env: Vec<Vec<ExecEnvSelector>>,
    /// What kind of buildpack, with its binaries or components.
    pub kind: PackagedKind,
    /// Whether the packaged directory was already up to date (left untouched).
    pub unchanged: bool,
    /// What the author should know (also printed to stderr while packaging).
    pub warnings: Vec<PackageWarning>,
}

/// What a packaged buildpack is made of.
#[derive(Clone, Debug)]
pub enum PackagedKind {
    /// A Rust buildpack crate.
    Rust {
        /// The Cargo binary target that became `bin/build` and `bin/detect`.
        binary: String,
        /// Other binary targets, under `.libcnb-cargo/additional-bin/`.
        additional_binaries: Vec<String>,
    },
    /// A composite buildpack.
    Composite {
        /// The `libcnb:` components of its `package.toml`, packaged first.
        components: Vec<PackagedBuildpack>,
    },
}

/// Something about a `buildpack.toml` the author should know; packaging still succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageWarning {
    /// `[[buildpack.exec-env]]` tables: the lifecycle's decoder fails on them ("failed to
    /// initialize detector"), so every build with this buildpack stops, in every environment.
    SpecTableForm {
        /// The `buildpack.toml`.
        path: PathBuf,
    },
    /// `exec-env` is declared but `api` is below 0.12: the lifecycle neither filters the
    /// buildpack at detect nor passes it `CNB_EXEC_ENV` (the framework's own detect check
    /// still applies, from `<platform>/env/CNB_EXEC_ENV` or the process environment).
    DeclarationBelowApi012 {
        /// The `buildpack.toml`.
        path: PathBuf,
        /// Its `api`.
        api: String,
    },
    /// `exec-env` on `[[order.group]]` entries is kept in the packaged file, but lifecycle
    /// 0.21 ignores it (its group type has no such field): the group entry is tried in every
    /// environment. Declare `[buildpack] exec-env` in the component instead.
    OrderGroupExecEnvNotApplied {
        /// The composite's `buildpack.toml`.
        path: PathBuf,
        /// The group entries that carry it, as `order[i].group[j]`.
        entries: Vec<String>,
    },
}

impl fmt::Display for PackageWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SpecTableForm { path } => write!(
                f,
                "{} declares environments as [[buildpack.exec-env]] tables (the spec's text). The lifecycle \
                 cannot decode that form: every build with this buildpack stops with \"failed to initialize \
                 detector\". Write `exec-env = [\"test\"]` under [buildpack] instead.",
                path.display()
            ),
            Self::DeclarationBelowApi012 { path, api } => write!(
                f,
                "{} declares exec-env but its api is {api:?}: the lifecycle applies exec-env (and passes \
                 CNB_EXEC_ENV) only for api = \"0.12\"; only the framework's own detect check filters it.",
                path.display()
            ),
            Self::OrderGroupExecEnvNotApplied { path, entries } => write!(
                f,
                "{}: exec-env on {} is kept in the packaged buildpack.toml, but lifecycle 0.21 does not \
                 apply it (the group entry is tried in every environment). Declare `[buildpack] exec-env` \
                 in the component buildpack for filtering that works today.",
                path.display(),
                entries.join(", ")
            ),
        }
    }
}

/// The Cargo target directory of the workspace containing `dir`, as `cargo metadata` reports
/// it: `CARGO_TARGET_DIR` when set, else `build.target-dir` from Cargo's configuration, else
/// `<workspace>/target`. Packaged buildpacks go to `<this>/cnb-local` by default.
///
/// ```no_run
/// use libcnb_exec_env_package::cargo_target_dir;
///
/// let target = cargo_target_dir(std::path::Path::new(".")).unwrap();
/// println!("packaged buildpacks go to {}", target.join("cnb-local").display());
/// ```
///
/// # Errors
/// [`PackageError::CargoMetadata`] when `cargo metadata` fails in `dir`.
pub fn cargo_target_dir(dir: &Path) -> Result<PathBuf, PackageError> {
    Ok(workspace::cargo_metadata(dir)?
        .target_directory
        .into_std_path_buf())
}

/// Packages the buildpack in `dir` (a Rust buildpack crate or a composite) and, for a
/// composite, its `libcnb:` components, keeping `exec-env` keys.
///
/// # Errors
/// See [`PackageError`]: unreadable or invalid `buildpack.toml`/`package.toml`, a directory that
/// is neither kind, a missing component, a failed `cargo build`, or I/O errors.
pub fn package_buildpack(
    dir: &Path,
    options: &PackageOptions,
) -> Result<PackagedBuildpack, PackageError> {
    let mut session = Session::new(dir, options)?;
    session.package_dir(dir)
}

/// Packages the workspace buildpack with this id (found with [`find_workspace_buildpacks`]
/// from `dir_in_workspace`, skipping the Cargo target and package directories).
///
/// # Errors
/// [`PackageError::UnknownBuildpack`] when no buildpack in the workspace has this id, else as
/// [`package_buildpack`].
pub fn package_workspace_buildpack(
    dir_in_workspace: &Path,
    id: &str,
    options: &PackageOptions,
) -> Result<PackagedBuildpack, PackageError> {
    let mut session = Session::new(dir_in_workspace, options)?;
    let dir = session.workspace_dir_of(id)?;
    session.package_dir(&dir)
}

/// Packages every Rust and composite buildpack of the Cargo workspace containing
/// `dir_in_workspace` (like `cargo libcnb package` from the workspace root), each once.
///
/// # Errors
/// As [`package_buildpack`]; the first failure stops packaging.
pub fn package_workspace(
    dir_in_workspace: &Path,
    options: &PackageOptions,
) -> Result<Vec<PackagedBuildpack>, PackageError> {
    let mut session = Session::new(dir_in_workspace, options)?;
    let dirs: Vec<PathBuf> = session
        .workspace()?
        .iter()
        .filter(|buildpack| buildpack.kind != WorkspaceBuildpackKind::Other)
        .map(|buildpack| buildpack.dir.clone())
        .collect();
    dirs.iter().map(|dir| session.package_dir(dir)).collect()
}

/// Checks a packaged buildpack directory: `buildpack.toml` readable by the framework (and by
/// `libcnb-data` once the `exec-env` keys are set aside), and for a component buildpack an
/// executable `bin/build` and `bin/detect`. Returns the descriptor.
///
/// # Errors
/// [`PackageError::Layout`] naming the missing or wrong file, or the descriptor's error.
pub fn verify_packaged_dir(dir: &Path) -> Result<BuildpackToml, PackageError> {
    assemble::verify(dir)
}

struct Session<'a> {
    options: &'a PackageOptions,
    target: Target,
    cargo_env: Vec<(OsString, OsString)>,
    metadata: cargo_metadata::Metadata,
    package_root: PathBuf,
    output_dir: PathBuf,
    workspace: Option<Vec<WorkspaceBuildpack>>,
    packaged: BTreeMap<PathBuf, PackagedBuildpack>,
    visiting: Vec<PathBuf>,
    _lock: assemble::OutputLock,
}

impl<'a> Session<'a> {
    fn new(dir: &Path, options: &'a PackageOptions) -> Result<Self, PackageError> {
        let target = match &options.target {
            Some(triple) => Target::requested(triple.clone()),
            None => default_target()?,
        };
        let cargo_env = if options.cross_compile_assistance {
            target::cross_compile_env(&target)?
        } else {
            Vec::new()
        };
        let metadata = workspace::cargo_metadata(dir)?;
        let package_root = options
            .package_dir
            .clone()
            .unwrap_or_else(|| metadata.target_directory.as_std_path().join("cnb-local"));
        // Absolute, so the composites' package.toml files point at the right place.
        let package_root =
            std::path::absolute(&package_root).map_err(|error| PackageError::Io {
                path: package_root.clone(),
                action: "resolve",
                error,
            })?;
        let output_dir = package_root
            .join(&target.triple)
            .join(match options.profile {
                CargoProfile::Dev => "debug",
                CargoProfile::Release => "release",
            });
        let lock = assemble::OutputLock::acquire(&output_dir)?;
        Ok(Self {
            options,
            target,
            cargo_env,
            metadata,
            package_root,
            output_dir,
            workspace: None,
            packaged: BTreeMap::new(),
            visiting: Vec::new(),
            _lock: lock,
        })
    }

    fn workspace(&mut self) -> Result<&[WorkspaceBuildpack], PackageError> {
        if self.workspace.is_none() {
            // Packaged copies (under the target or package directory) are not sources.
            let skip: Vec<PathBuf> = [
                self.metadata.target_directory.as_std_path(),
                self.package_root.as_path(),
            ]
            .iter()
            .map(|dir| std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()))
            .collect();
            let found =
                find_workspace_buildpacks(self.metadata.workspace_root.as_std_path(), &skip)?;
            self.workspace = Some(found);
        }
        Ok(self.workspace.as_deref().unwrap_or_default())
    }

    fn workspace_dir_of(&mut self, id: &str) -> Result<PathBuf, PackageError> {
        let workspace_root = self.metadata.workspace_root.as_std_path().to_path_buf();
        let buildpacks = self.workspace()?;
        buildpacks
            .iter()
            .find(|buildpack| buildpack.id.as_str() == id)
            .map(|buildpack| buildpack.dir.clone())
            .ok_or_else(|| PackageError::UnknownBuildpack {
                id: id.to_owned(),
                workspace_root,
                known: buildpacks
                    .iter()
                    .map(|buildpack| buildpack.id.to_string())
                    .collect(),
            })
    }

    fn package_dir(&mut self, dir: &Path) -> Result<PackagedBuildpack, PackageError> {
        let dir = std::fs::canonicalize(dir).map_err(|error| PackageError::Io {
            path: dir.to_path_buf(),
            action: "find the buildpack directory",
            error,
        })?;
        if let Some(done) = self.packaged.get(&dir) {
            return Ok(done.clone());
        }
        if self.visiting.contains(&dir) {
            return Err(PackageError::DependencyCycle {
                dirs: self.visiting.clone(),
            });
        }
        self.visiting.push(dir.clone());
        let result = self.package_new(&dir);
        self.visiting.pop();
        let packaged = result?;
        self.packaged.insert(dir, packaged.clone());
        Ok(packaged)
    }

    fn package_new(&mut self, dir: &Path) -> Result<PackagedBuildpack, PackageError> {
        let descriptor_path = dir.join("buildpack.toml");
        let descriptor = BuildpackToml::read(&descriptor_path)?;
        let kind = workspace::kind_of(dir, &descriptor)?;
        let id = workspace::id_of(&descriptor)?;
        let warnings = warnings_for(&descriptor);
        for warning in &warnings {
            print_warning(warning);
        }
        let destination =
            self.output_dir
                .join(libcnb_package::output::default_buildpack_directory_name(
                    &id,
                ));

        let (packaged_kind, unchanged) = match kind {
            WorkspaceBuildpackKind::Rust => {
                // A crate of another Cargo workspace (as `cargo libcnb package`, which runs
                // `cargo metadata` per crate) is built in its own workspace.
                let own_metadata;
                let metadata = if assemble::is_member(&self.metadata, dir) {
                    &self.metadata
                } else {
                    own_metadata = workspace::cargo_metadata(dir)?;
                    &own_metadata
                };
                let binaries = assemble::build_binaries(
                    dir,
                    metadata,
                    &self.target,
                    self.options,
                    &self.cargo_env,
                )?;
                let unchanged = assemble::write_rust(dir, &destination, &binaries)?;
                (
                    PackagedKind::Rust {
                        binary: binaries.main.0.clone(),
                        additional_binaries: binaries
                            .additional
                            .iter()
                            .map(|(name, _)| name.clone())
                            .collect(),
                    },
                    unchanged,
                )
            }
            WorkspaceBuildpackKind::Composite => {
                let dependency_ids = workspace::libcnb_dependencies(dir)?;
                let mut components = Vec::new();
                let mut paths = BTreeMap::new();
                for dependency_id in dependency_ids {
                    let component_dir = self.workspace_dir_of(dependency_id.as_str())?;
                    let component = self.package_dir(&component_dir)?;
                    paths.insert(dependency_id, component.dir.clone());
                    components.push(component);
                }
                let unchanged = assemble::write_composite(dir, &destination, &paths)?;
                (PackagedKind::Composite { components }, unchanged)
            }
            WorkspaceBuildpackKind::Other => {
                return Err(PackageError::NotPackageable {
                    dir: dir.to_path_buf(),
                });
            }
        };

        // Read the packaged file back: the keys must have survived.
        let packaged_descriptor = assemble::verify(&destination)?;
        if packaged_descriptor.exec_env != descriptor.exec_env
            || packaged_descriptor.order_exec_env != descriptor.order_exec_env
        {
            return Err(PackageError::KeysLost {
                path: destination.join("buildpack.toml"),
            });
        }
        Ok(PackagedBuildpack {
            id,
            source_dir: dir.to_path_buf(),
            dir: destination,
            target: self.target.clone(),
            profile: self.options.profile,
            api: packaged_descriptor.api_string(),
            exec_env: packaged_descriptor.exec_env,
            order_exec_env: packaged_descriptor.order_exec_env,
            kind: packaged_kind,
            unchanged,
            warnings,
        })
    }
}

/// The warnings packaging gives for a `buildpack.toml` (see [`PackageWarning`]).
#[must_use]
pub fn warnings_for(descriptor: &BuildpackToml) -> Vec<PackageWarning> {
    let mut warnings = Vec::new();
    if descriptor.declaration_form == Some(DeclarationForm::SpecTables) {
        warnings.push(PackageWarning::SpecTableForm {
            path: descriptor.path.clone(),
        });
    }
    if descriptor.declaration_form.is_some() && descriptor.api < EXEC_ENV_API {
        warnings.push(PackageWarning::DeclarationBelowApi012 {
            path: descriptor.path.clone(),
            api: descriptor.api_string(),
        });
    }
    let entries: Vec<String> = descriptor
        .order_exec_env
        .iter()
        .enumerate()
        .flat_map(|(order, groups)| {
            groups
                .iter()
                .enumerate()
                .filter(|(_, selector)| !selector.is_all())
                .map(move |(group, _)| format!("order[{order}].group[{group}]"))
        })
        .collect();
    if !entries.is_empty() {
        warnings.push(PackageWarning::OrderGroupExecEnvNotApplied {
            path: descriptor.path.clone(),
            entries,
        });
    }
    warnings
}

fn print_warning(warning: &PackageWarning) {
    let loud = matches!(warning, PackageWarning::SpecTableForm { .. });
    if loud {
        eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        eprintln!("!!! WARNING: {warning}");
        eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
    } else {
        eprintln!("warning: {warning}");
    }
}
