//! A structural check of `Gemfile.lock`, before Bundler sees it.
//!
//! Bundler's own message for a broken lockfile is often a Ruby backtrace or a confusing
//! resolution error. This reader checks the lockfile's layout (sections, the `specs:` list, the
//! indentation Bundler writes) and reports the first problem with the file and line, so a bad
//! merge (conflict markers) or a hand edit is named precisely.

use libcnb_exec_env::app_file::read_confined;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A gem pinned in a lockfile's `specs:` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LockedGem {
    /// The gem's name.
    pub(crate) name: String,
    /// The locked version (possibly with a platform suffix, as in `1.13.0-x86_64-linux`).
    pub(crate) version: String,
}

/// What the buildpack needs to know of a `Gemfile.lock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GemfileLock {
    /// Every locked gem, in file order.
    pub(crate) gems: Vec<LockedGem>,
    /// The names under `DEPENDENCIES`.
    pub(crate) dependencies: Vec<String>,
    /// The version under `BUNDLED WITH`, if any.
    pub(crate) bundled_with: Option<String>,
    /// SHA-256 of the file's bytes, hex-encoded: the cache key of the gems layer.
    pub(crate) sha256: String,
}

impl GemfileLock {
    /// Whether the lockfile pins a gem of this name.
    pub(crate) fn has_gem(&self, name: &str) -> bool {
        self.gems.iter().any(|gem| gem.name == name)
    }
}

/// Why a `Gemfile.lock` cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GemfileLockError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The lockfile.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a lockfile Bundler wrote.
    #[error(
        "{}:{line}: {message}\n  `{text}`\nThe Gemfile.lock is malformed: fix it, or regenerate it with `bundle lock` and commit it.",
        path.display()
    )]
    Malformed {
        /// The lockfile.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The offending line.
        text: String,
        /// What is wrong.
        message: String,
    },
    /// A section every lockfile has is missing.
    #[error(
        "{}: no `{section}` section: this is not a Gemfile.lock written by Bundler; regenerate it with `bundle lock` and commit it.",
        path.display()
    )]
    MissingSection {
        /// The lockfile.
        path: PathBuf,
        /// The section.
        section: &'static str,
    },
}

/// Reads and checks the lockfile at `path`.
///
/// # Errors
/// [`GemfileLockError`] when the file cannot be read or is malformed.
pub(crate) fn read(path: &Path) -> Result<GemfileLock, GemfileLockError> {
    let bytes = read_confined(path).map_err(|source| GemfileLockError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|error| GemfileLockError::Malformed {
        path: path.to_path_buf(),
        line: 1 + String::from_utf8_lossy(&bytes[..error.utf8_error().valid_up_to()])
            .lines()
            .count()
            .saturating_sub(1),
        text: String::from("<binary>"),
        message: String::from("not valid UTF-8"),
    })?;
    let (mut lock, seen_dependencies) =
        parse(&text).map_err(|problem| GemfileLockError::Malformed {
            path: path.to_path_buf(),
            line: problem.line,
            text: problem.text,
            message: problem.message,
        })?;
    if !seen_dependencies {
        return Err(GemfileLockError::MissingSection {
            path: path.to_path_buf(),
            section: "DEPENDENCIES",
        });
    }
    lock.sha256 = sha256_hex(&bytes);
    Ok(lock)
}

/// Hex-encoded SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[derive(Debug, PartialEq, Eq)]
struct Problem {
    line: usize,
    text: String,
    message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// `GEM`, `PATH`, `GIT`, `PLUGIN SOURCE`: options, then `specs:`.
    Source {
        in_specs: bool,
    },
    Dependencies,
    /// `PLATFORMS`, `RUBY VERSION`, `CHECKSUMS` and sections newer Bundlers add.
    Other,
    BundledWith,
}

const SOURCE_SECTIONS: [&str; 4] = ["GEM", "PATH", "GIT", "PLUGIN SOURCE"];

fn is_gem_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// `name (version)` or `name (requirement, ...)` or `name`; `!` after the name marks a
/// dependency with an explicit source. Returns the name and what is inside the parentheses.
fn name_and_parens(text: &str) -> Option<(&str, Option<&str>)> {
    let text = text.strip_suffix('!').unwrap_or(text);
    match text.split_once(' ') {
        None => is_gem_name(text).then_some((text, None)),
        Some((name, rest)) => {
            let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
            let inner_ok = !inner.is_empty() && !inner.contains(['(', ')']);
            (is_gem_name(name) && inner_ok).then_some((name, Some(inner)))
        }
    }
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// One line of a source section (`GEM`, `PATH`, ...); returns the section's new state when
/// the line opens the `specs:` list.
fn source_line(
    indent: usize,
    content: &str,
    in_specs: bool,
    lock: &mut GemfileLock,
) -> Result<Option<Section>, &'static str> {
    match indent {
        2 if content == "specs:" => return Ok(Some(Section::Source { in_specs: true })),
        2 if !in_specs && (content.contains(": ") || content.ends_with(':')) => {}
        2 => return Err("expected `specs:` or a `key: value` source option"),
        4 if in_specs => {
            let Some((name, Some(version))) = name_and_parens(content) else {
                return Err("expected a locked gem as `name (version)`");
            };
            lock.gems.push(LockedGem {
                name: name.to_owned(),
                version: version.to_owned(),
            });
        }
        6 if in_specs && !lock.gems.is_empty() => {
            if name_and_parens(content).is_none() {
                return Err("expected a gem dependency as `name` or `name (requirement)`");
            }
        }
        _ => return Err("unexpected indentation in a source section"),
    }
    Ok(None)
}

/// Parses lockfile text; the flag says whether `DEPENDENCIES` was seen.
fn parse(text: &str) -> Result<(GemfileLock, bool), Problem> {
    let mut lock = GemfileLock {
        gems: Vec::new(),
        dependencies: Vec::new(),
        bundled_with: None,
        sha256: String::new(),
    };
    let mut section: Option<Section> = None;
    let mut seen_dependencies = false;
    for (index, line) in text.lines().enumerate() {
        let problem = |message: &str| Problem {
            line: index + 1,
            text: line.to_owned(),
            message: message.to_owned(),
        };
        if ["<<<<<<<", "=======", ">>>>>>>", "|||||||"]
            .iter()
            .any(|marker| line.starts_with(marker))
        {
            return Err(problem(
                "merge conflict marker: resolve the conflict (or run `bundle lock` again)",
            ));
        }
        if line.trim().is_empty() {
            continue;
        }
        if line.contains('\t') {
            return Err(problem(
                "tab character: Bundler indents lockfiles with spaces only",
            ));
        }
        let indent = indentation(line);
        let content = line.trim();
        if indent == 0 {
            if !content.chars().all(|c| c.is_ascii_uppercase() || c == ' ') {
                return Err(problem(
                    "expected a section header such as `GEM`, `PLATFORMS` or `DEPENDENCIES`",
                ));
            }
            section = Some(if SOURCE_SECTIONS.contains(&content) {
                Section::Source { in_specs: false }
            } else if content == "DEPENDENCIES" {
                seen_dependencies = true;
                Section::Dependencies
            } else if content == "BUNDLED WITH" {
                Section::BundledWith
            } else {
                Section::Other
            });
            continue;
        }
        let Some(current) = section else {
            return Err(problem("indented line before the first section header"));
        };
        match current {
            Section::Source { in_specs } => {
                if let Some(next) =
                    source_line(indent, content, in_specs, &mut lock).map_err(&problem)?
                {
                    section = Some(next);
                }
            }
            Section::Dependencies => {
                let Some((name, _)) = name_and_parens(content).filter(|_| indent == 2) else {
                    return Err(problem(
                        "expected a dependency as `name` or `name (requirement)`, indented by two spaces",
                    ));
                };
                lock.dependencies.push(name.to_owned());
            }
            Section::BundledWith => {
                if !content.starts_with(|c: char| c.is_ascii_digit())
                    || content.split('.').any(str::is_empty)
                    || !content
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.')
                {
                    return Err(problem("expected a Bundler version under `BUNDLED WITH`"));
                }
                lock.bundled_with = Some(content.to_owned());
            }
            Section::Other => {}
        }
    }
    Ok((lock, seen_dependencies))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "GEM
  remote: https://rubygems.org/
  specs:
    minitest (5.17.0)
    rack (2.2.22)
    rack-test (2.0.2)
      rack (>= 1.3)
    nokogiri (1.13.0-x86_64-linux)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  minitest
  rack (~> 2.2)
  rack-test!

RUBY VERSION
   ruby 3.1.2p20

BUNDLED WITH
   2.3.15
";

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Gemfile.lock");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_gems_dependencies_and_bundler_version() {
        let (_dir, path) = write(VALID);
        let lock = read(&path).unwrap();
        let names: Vec<_> = lock.gems.iter().map(|gem| gem.name.as_str()).collect();
        assert_eq!(names, ["minitest", "rack", "rack-test", "nokogiri"]);
        assert_eq!(lock.gems[3].version, "1.13.0-x86_64-linux");
        assert_eq!(lock.dependencies, ["minitest", "rack", "rack-test"]);
        assert_eq!(lock.bundled_with.as_deref(), Some("2.3.15"));
        assert!(lock.has_gem("rack") && !lock.has_gem("rake"));
        assert_eq!(lock.sha256, sha256_hex(VALID.as_bytes()));
        assert_eq!(lock.sha256.len(), 64);
    }

    #[test]
    fn digest_changes_with_content() {
        assert_ne!(sha256_hex(b"a"), sha256_hex(b"b"));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn conflict_markers_are_named_with_file_and_line() {
        let text = VALID.replace(
            "    rack (2.2.22)\n",
            "<<<<<<< HEAD\n    rack (2.2.22)\n=======\n    rack (2.2.21)\n>>>>>>> main\n",
        );
        let (_dir, path) = write(&text);
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("Gemfile.lock:5:"), "{error}");
        assert!(error.contains("merge conflict"), "{error}");
        assert!(error.contains("bundle lock"), "{error}");
    }

    #[test]
    fn malformed_spec_lines_are_rejected() {
        for (bad, line) in [
            (VALID.replace("rack (2.2.22)", "rack 2.2.22"), 5),
            (
                VALID.replace("    minitest (5.17.0)", "   minitest (5.17.0)"),
                4,
            ),
            (VALID.replace("  specs:", "  specs"), 3),
            (VALID.replace("   2.3.15", "   two"), 22),
            (VALID.replace("DEPENDENCIES", "dependencies:"), 13),
            (format!("  stray\n{VALID}"), 1),
            (VALID.replace("  minitest\n", "\tminitest\n"), 14),
        ] {
            let (_dir, path) = write(&bad);
            let error = read(&path).unwrap_err();
            match &error {
                GemfileLockError::Malformed { line: got, .. } => {
                    assert_eq!(*got, line, "{error}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn text_that_is_not_a_lockfile_is_rejected() {
        let (_dir, path) = write("GEM\n  specs:\n");
        assert!(matches!(
            read(&path).unwrap_err(),
            GemfileLockError::MissingSection {
                section: "DEPENDENCIES",
                ..
            }
        ));
        let (_dir, path) = write("this is { not a lockfile");
        let error = read(&path).unwrap_err();
        assert!(
            matches!(error, GemfileLockError::Malformed { line: 1, .. }),
            "{error}"
        );
    }

    #[test]
    fn unknown_sections_from_newer_bundlers_are_accepted() {
        let text = format!("{VALID}\nCHECKSUMS\n  rack (2.2.22) sha256=abc\n");
        let (_dir, path) = write(&text);
        assert_eq!(read(&path).unwrap().gems.len(), 4);
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let error = read(&dir.path().join("Gemfile.lock")).unwrap_err();
        assert!(matches!(error, GemfileLockError::Read { .. }));
        assert!(error.to_string().contains("Gemfile.lock"));
    }

    #[test]
    fn gemfile_lock_linked_outside_the_app_is_refused() {
        let app = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret"),
            app.path().join("Gemfile.lock"),
        )
        .unwrap();
        let error = read(&app.path().join("Gemfile.lock")).unwrap_err();
        assert!(
            error.to_string().contains("outside the app directory"),
            "{error}"
        );
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
