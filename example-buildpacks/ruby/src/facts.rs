//! Tool facts cached between builds, so that an unchanged rebuild starts no probe.
//!
//! `ruby -e` (engine, version, ABI, platform and the Bundler version it loads),
//! `bundle --version` and `bundle exec rake -P` take about half a second together, a third of a
//! cold build of a small app. A cold build runs `ruby -e` only, when it can: Bundler's version
//! comes from the same script when `bundle` runs under that `ruby` and nothing asks for another
//! Bundler (`BUNDLED WITH` absent or equal, no `BUNDLER_VERSION`), else from
//! `bundle --version`; the test task comes from the Rakefile's text when it settles it
//! (see `rakefile.rs`), else from `rake -P`. The answers are kept as the metadata of the
//! cache-only layer `tool-facts` (shared by every environment), each keyed on what decides it:
//!
//! | fact            | key                                                                    |
//! |-----------------|------------------------------------------------------------------------|
//! | Ruby            | `ruby`'s resolved path and mtime                                       |
//! | Bundler version | `bundle`'s and `ruby`'s resolved paths and mtimes, `BUNDLED WITH`      |
//! | Rakefile tasks  | SHA-256 of the Rakefile(s) and `rakelib/*.rake`, of `Gemfile.lock`, the tools' stamps, the environment |
//!
//! A key that differs (an upgraded package rewrites the executable, so its mtime changes)
//! runs the probe again and replaces that fact only.

use crate::ExampleRubyBuildpack;
use crate::bundle::Bundler;
use crate::errors::RubyBuildpackError;
use crate::gemfile_lock::sha256_hex;
use crate::runtime::{self, RubyInfo, RubyProbe, Runtime};
use bullet_stream::global::print;
use libcnb::data::layer_name;
use libcnb::layer::{
    CachedLayerDefinition, InvalidMetadataAction, LayerState, RestoredLayerAction,
};
use libcnb_exec_env::{BuildContext, ExecEnv, Layer};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::UNIX_EPOCH;

/// The Rakefile names Rake looks for, in its order.
pub(crate) const RAKEFILE_NAMES: [&str; 4] = ["Rakefile", "rakefile", "Rakefile.rb", "rakefile.rb"];

/// Which file, changed when: a tool's resolved path and its modification time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// The canonical path (symbolic links resolved).
    pub(crate) path: String,
    /// Seconds and nanoseconds since the Unix epoch, `1700000000.123456789`.
    pub(crate) mtime: String,
}

/// Reads the stamp of `path`.
///
/// # Errors
/// [`RubyBuildpackError::ToolStamp`] naming the file.
pub(crate) fn stamp(path: &Path) -> Result<Stamp, RubyBuildpackError> {
    let error = |source| RubyBuildpackError::ToolStamp {
        path: path.to_path_buf(),
        source,
    };
    let resolved = std::fs::canonicalize(path).map_err(error)?;
    let modified = std::fs::metadata(&resolved)
        .and_then(|metadata| metadata.modified())
        .map_err(error)?;
    let mtime = match modified.duration_since(UNIX_EPOCH) {
        Ok(after) => format!("{}.{:09}", after.as_secs(), after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            format!("-{}.{:09}", before.as_secs(), before.subsec_nanos())
        }
    };
    Ok(Stamp {
        path: resolved.to_string_lossy().into_owned(),
        mtime,
    })
}

/// What `ruby -e` reported, and for which `ruby`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RubyFacts {
    /// The key.
    pub(crate) stamp: Stamp,
    /// `RUBY_ENGINE`.
    pub(crate) engine: String,
    /// `RUBY_VERSION`.
    pub(crate) version: String,
    /// `RbConfig::CONFIG["ruby_version"]`.
    pub(crate) abi: String,
    /// `RUBY_PLATFORM`.
    pub(crate) platform: String,
}

impl RubyFacts {
    fn info(&self) -> RubyInfo {
        RubyInfo {
            engine: self.engine.clone(),
            version: self.version.clone(),
            abi: self.abi.clone(),
            platform: self.platform.clone(),
        }
    }
}

/// Bundler's version (from `ruby -e` or `bundle --version`), and under which conditions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BundlerFacts {
    /// The `bundle` executable.
    pub(crate) stamp: Stamp,
    /// The `ruby` that runs it (Bundler is a gem of that Ruby).
    pub(crate) ruby: Stamp,
    /// The lockfile's `BUNDLED WITH` (Bundler may switch to that version); empty when absent.
    pub(crate) bundled_with: String,
    /// The reported version.
    pub(crate) version: String,
}

/// The Rakefile's tasks, as `bundle exec rake -P` listed them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RakeFacts {
    /// SHA-256 over everything the listing depends on (see [`rake_key`]).
    pub(crate) key: String,
    /// The task names.
    pub(crate) tasks: Vec<String>,
}

/// The metadata of the `tool-facts` layer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ToolFacts {
    /// `ruby -e`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ruby: Option<RubyFacts>,
    /// `ruby -e`'s `Bundler::VERSION` or `bundle --version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bundler: Option<BundlerFacts>,
    /// `bundle exec rake -P`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rake: Option<RakeFacts>,
}

impl ToolFacts {
    /// The cached Ruby facts, when they were taken of the same `ruby`.
    pub(crate) fn ruby_for(&self, stamp: &Stamp) -> Option<RubyInfo> {
        self.ruby
            .as_ref()
            .filter(|facts| &facts.stamp == stamp)
            .map(RubyFacts::info)
    }

    /// The cached Bundler version, when it was taken under the same conditions.
    pub(crate) fn bundler_for(
        &self,
        bundle: &Stamp,
        ruby: &Stamp,
        bundled_with: &str,
    ) -> Option<String> {
        self.bundler
            .as_ref()
            .filter(|facts| {
                &facts.stamp == bundle && &facts.ruby == ruby && facts.bundled_with == bundled_with
            })
            .map(|facts| facts.version.clone())
    }

    /// The cached Rakefile tasks, when their key is `key`.
    pub(crate) fn rake_for(&self, key: &str) -> Option<Vec<String>> {
        self.rake
            .as_ref()
            .filter(|facts| facts.key == key)
            .map(|facts| facts.tasks.clone())
    }
}

/// The key of a Rakefile listing: SHA-256 over the Rakefile(s) and `rakelib/*.rake` (names and
/// contents), the lockfile digest, the tools' stamps and the execution environment.
///
/// # Errors
/// [`RubyBuildpackError::ReadFile`] naming a Rakefile that cannot be read.
pub(crate) fn rake_key(
    app_dir: &Path,
    lockfile_sha256: &str,
    tools: &[&Stamp],
    exec_env: &ExecEnv,
) -> Result<String, RubyBuildpackError> {
    let mut files = RAKEFILE_NAMES
        .iter()
        .map(|name| app_dir.join(name))
        .filter(|path| path.is_file())
        .collect::<Vec<_>>();
    let rakelib = app_dir.join("rakelib");
    if rakelib.is_dir() {
        let entries =
            std::fs::read_dir(&rakelib).map_err(|source| RubyBuildpackError::ReadFile {
                path: rakelib.clone(),
                source,
            })?;
        let mut rake_files = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "rake") && path.is_file())
            .collect::<Vec<_>>();
        rake_files.sort();
        files.extend(rake_files);
    }
    let mut input = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(|source| RubyBuildpackError::ReadFile {
            path: file.clone(),
            source,
        })?;
        let name = file.strip_prefix(app_dir).unwrap_or(file);
        input.extend_from_slice(name.to_string_lossy().as_bytes());
        input.push(0);
        input.extend_from_slice(sha256_hex(&bytes).as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(format!("Gemfile.lock {lockfile_sha256}\n").as_bytes());
    for tool in tools {
        input.extend_from_slice(format!("tool {} {}\n", tool.path, tool.mtime).as_bytes());
    }
    input.extend_from_slice(format!("env {exec_env}\n").as_bytes());
    Ok(sha256_hex(&input))
}

/// The `tool-facts` layer of this build: the facts restored from the cache, and those of this
/// build, written back when they differ.
pub(crate) struct FactsCache {
    layer: Layer<ExampleRubyBuildpack, (), ToolFacts>,
    old: ToolFacts,
    new: ToolFacts,
    ruby: Stamp,
    bundle: Stamp,
    /// The Bundler version this build's `ruby -e` probe reported, if it ran and loaded one.
    probed_bundler: Option<String>,
}

impl FactsCache {
    /// Opens (restores or creates) the `tool-facts` layer and stamps the tools.
    ///
    /// # Errors
    /// Layer errors; [`RubyBuildpackError::ToolStamp`].
    pub(crate) fn open(
        context: &BuildContext<ExampleRubyBuildpack>,
        runtime: &Runtime,
    ) -> libcnb::Result<Self, RubyBuildpackError> {
        let layer: Layer<ExampleRubyBuildpack, (), ToolFacts> = context.shared_cached_layer(
            layer_name!("tool-facts"),
            CachedLayerDefinition {
                build: false,
                launch: false,
                invalid_metadata_action: &|_| InvalidMetadataAction::DeleteLayer,
                restored_layer_action: &|old: &ToolFacts, _| {
                    (RestoredLayerAction::KeepLayer, old.clone())
                },
            },
        )?;
        let old = match &layer.state {
            LayerState::Restored { cause } => cause.clone(),
            LayerState::Empty { .. } => ToolFacts::default(),
        };
        Ok(Self {
            layer,
            new: old.clone(),
            old,
            ruby: stamp(&runtime.ruby)?,
            bundle: stamp(&runtime.bundle)?,
            probed_bundler: None,
        })
    }

    /// The interpreter's facts: cached, or from `ruby -e`.
    ///
    /// # Errors
    /// The probe fails.
    pub(crate) fn ruby_info(&mut self, runtime: &Runtime) -> Result<RubyInfo, RubyBuildpackError> {
        if let Some(info) = self.old.ruby_for(&self.ruby) {
            return Ok(info);
        }
        print::bullet(format!(
            "Probing: `{} -e` (engine, version, ABI, platform, Bundler version)",
            runtime.ruby.display()
        ));
        let RubyProbe { info, bundler } = runtime::ruby_info(runtime)?;
        self.probed_bundler = bundler;
        self.new.ruby = Some(RubyFacts {
            stamp: self.ruby.clone(),
            engine: info.engine.clone(),
            version: info.version.clone(),
            abi: info.abi.clone(),
            platform: info.platform.clone(),
        });
        Ok(info)
    }

    /// Bundler's version: cached, or from this build's `ruby -e` probe when `bundle` would
    /// report the same (see [`Self::script_bundler`]), or from `bundle --version`.
    ///
    /// # Errors
    /// The probe fails.
    pub(crate) fn bundler_version(
        &mut self,
        runtime: &Runtime,
        bundled_with: Option<&str>,
    ) -> Result<String, RubyBuildpackError> {
        let bundled_with = bundled_with.unwrap_or_default();
        if let Some(version) = self.old.bundler_for(&self.bundle, &self.ruby, bundled_with) {
            return Ok(version);
        }
        let version = if let Some(version) = self.script_bundler(runtime, bundled_with) {
            version
        } else {
            print::bullet(format!("Probing: `{} --version`", runtime.bundle.display()));
            runtime::bundler_version(runtime)?
        };
        self.new.bundler = Some(BundlerFacts {
            stamp: self.bundle.clone(),
            ruby: self.ruby.clone(),
            bundled_with: bundled_with.to_owned(),
            version: version.clone(),
        });
        Ok(version)
    }

    /// The Bundler version `ruby -e` reported in this build, when `bundle` starts the same
    /// one: `bundle` runs under this `ruby`, and neither the lockfile's `BUNDLED WITH` (when
    /// it names another version) nor `BUNDLER_VERSION` makes `RubyGems` pick another.
    fn script_bundler(&self, runtime: &Runtime, bundled_with: &str) -> Option<String> {
        let version = self.probed_bundler.as_ref()?;
        let agrees = (bundled_with.is_empty() || bundled_with == version)
            && std::env::var_os("BUNDLER_VERSION").is_none()
            && runtime::bundle_runs_under(runtime);
        agrees.then(|| version.clone())
    }

    /// Whether neither tool probe ran in this build.
    pub(crate) fn tools_reused(&self) -> bool {
        self.new.ruby == self.old.ruby && self.new.bundler == self.old.bundler
    }

    /// The Rakefile's tasks: cached, or from `bundle exec rake -P`. A failed listing is
    /// reported as text (the caller warns) and not cached.
    ///
    /// # Errors
    /// A Rakefile cannot be read (the key needs its contents).
    pub(crate) fn rake_tasks(
        &mut self,
        bundler: &Bundler<'_>,
        lockfile_sha256: &str,
    ) -> Result<Result<Vec<String>, String>, RubyBuildpackError> {
        let key = rake_key(
            bundler.app_dir,
            lockfile_sha256,
            &[&self.ruby, &self.bundle],
            bundler.exec_env,
        )?;
        if let Some(tasks) = self.old.rake_for(&key) {
            print::bullet(
                "Rakefile tasks from layer tool-facts (Rakefile, Gemfile.lock and tools unchanged)",
            );
            return Ok(Ok(tasks));
        }
        print::bullet("Probing: `bundle exec rake -P` (the Rakefile's tasks)");
        let tasks = bundler.rake_tasks();
        if let Ok(tasks) = &tasks {
            self.new.rake = Some(RakeFacts {
                key,
                tasks: tasks.clone(),
            });
        }
        Ok(tasks)
    }

    /// Writes this build's facts as the layer's metadata, when they differ from the restored
    /// ones (an unchanged layer stays byte-for-byte the cached one).
    ///
    /// # Errors
    /// Layer errors.
    pub(crate) fn save(self) -> libcnb::Result<(), RubyBuildpackError> {
        let restored = matches!(self.layer.state, LayerState::Restored { .. });
        if !restored || self.new != self.old {
            self.layer.write_metadata(self.new)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::time::{Duration, SystemTime};

    fn facts() -> ToolFacts {
        let ruby = Stamp {
            path: "/usr/bin/ruby3.1".into(),
            mtime: "1700000000.000000001".into(),
        };
        let bundle = Stamp {
            path: "/usr/bin/bundle".into(),
            mtime: "1700000001.000000000".into(),
        };
        ToolFacts {
            ruby: Some(RubyFacts {
                stamp: ruby.clone(),
                engine: "ruby".into(),
                version: "3.1.2".into(),
                abi: "3.1.0".into(),
                platform: "x86_64-linux-gnu".into(),
            }),
            bundler: Some(BundlerFacts {
                stamp: bundle,
                ruby,
                bundled_with: "2.3.15".into(),
                version: "2.3.15".into(),
            }),
            rake: Some(RakeFacts {
                key: "abc".into(),
                tasks: vec!["default".into(), "test".into()],
            }),
        }
    }

    #[test]
    fn facts_survive_the_layer_toml() {
        let facts = facts();
        let text = toml::to_string(&facts).unwrap();
        assert_eq!(toml::from_str::<ToolFacts>(&text).unwrap(), facts);
        // An empty layer's metadata (none taken yet) reads as no facts.
        assert_eq!(
            toml::from_str::<ToolFacts>("").unwrap(),
            ToolFacts::default()
        );
    }

    #[test]
    fn each_fact_is_reused_only_for_its_key() {
        let facts = facts();
        let ruby = facts.ruby.clone().unwrap().stamp;
        let bundle = facts.bundler.clone().unwrap().stamp;
        assert_eq!(facts.ruby_for(&ruby).unwrap().version, "3.1.2");
        let touched = Stamp {
            mtime: "1800000000.000000000".into(),
            ..ruby.clone()
        };
        assert_eq!(facts.ruby_for(&touched), None);
        let moved = Stamp {
            path: "/opt/ruby/bin/ruby".into(),
            ..ruby.clone()
        };
        assert_eq!(facts.ruby_for(&moved), None);

        assert_eq!(
            facts.bundler_for(&bundle, &ruby, "2.3.15").as_deref(),
            Some("2.3.15")
        );
        assert_eq!(facts.bundler_for(&bundle, &ruby, "2.4.0"), None);
        assert_eq!(facts.bundler_for(&bundle, &touched, "2.3.15"), None);
        assert_eq!(facts.bundler_for(&touched, &ruby, "2.3.15"), None);

        assert_eq!(facts.rake_for("abc").unwrap(), ["default", "test"]);
        assert_eq!(facts.rake_for("abd"), None);
        assert_eq!(ToolFacts::default().rake_for("abc"), None);
    }

    #[test]
    fn stamps_follow_symlinks_and_see_a_new_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("ruby3.1");
        fs::write(&tool, "#!/bin/sh\n").unwrap();
        let link = dir.path().join("ruby");
        std::os::unix::fs::symlink(&tool, &link).unwrap();
        let file = fs::File::options().write(true).open(&tool).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 5))
            .unwrap();
        let first = stamp(&link).unwrap();
        assert_eq!(
            first.path,
            fs::canonicalize(&tool).unwrap().to_string_lossy()
        );
        assert_eq!(first.mtime, "1700000000.000000005");
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::new(1_700_000_001, 0))
            .unwrap();
        assert_ne!(stamp(&link).unwrap(), first);

        let error = stamp(&dir.path().join("missing")).unwrap_err();
        assert!(error.to_string().contains("missing"), "{error}");
    }

    #[test]
    fn the_rake_key_covers_rakefiles_lockfile_tools_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path();
        fs::write(app.join("Rakefile"), "task :test\n").unwrap();
        let tool = Stamp {
            path: "/usr/bin/ruby".into(),
            mtime: "1.000000000".into(),
        };
        let key =
            |lock: &str, tool: &Stamp, env: &ExecEnv| rake_key(app, lock, &[tool], env).unwrap();
        let first = key("aaa", &tool, &ExecEnv::Test);
        assert_eq!(first, key("aaa", &tool, &ExecEnv::Test));
        assert_ne!(first, key("bbb", &tool, &ExecEnv::Test));
        assert_ne!(first, key("aaa", &tool, &ExecEnv::Development));
        let newer = Stamp {
            mtime: "2.000000000".into(),
            ..tool.clone()
        };
        assert_ne!(first, key("aaa", &newer, &ExecEnv::Test));

        fs::write(app.join("Rakefile"), "task :test, :other\n").unwrap();
        let edited = key("aaa", &tool, &ExecEnv::Test);
        assert_ne!(first, edited);
        fs::create_dir(app.join("rakelib")).unwrap();
        fs::write(app.join("rakelib/extra.rake"), "task :extra\n").unwrap();
        fs::write(app.join("rakelib/notes.txt"), "not rake\n").unwrap();
        let with_rakelib = key("aaa", &tool, &ExecEnv::Test);
        assert_ne!(edited, with_rakelib);
        fs::write(app.join("rakelib/notes.txt"), "still not rake\n").unwrap();
        assert_eq!(with_rakelib, key("aaa", &tool, &ExecEnv::Test));
    }
}
