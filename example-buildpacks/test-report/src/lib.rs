//! Test-result summaries for the `test-report` process of the example test-report buildpack.
//!
//! The convention: a test image carries `CNB_TEST_RESULTS_DIR` (default `test-results`,
//! relative to the app directory, the working directory of every process). Test runners write
//! `JUnit` XML (`*.xml`) or TAP (`*.tap`) files there; `test-report` summarizes them and exits
//! non-zero when a test failed. The spec leaves result formats to platforms: this is one
//! portable choice, not a standard.
//!
//! ```
//! use test_report::{Format, parse};
//!
//! let tap = "1..3\nok 1 adds\nnot ok 2 subtracts\nok 3 divides # SKIP no divisor\n";
//! let counts = parse(Format::Tap, tap);
//! assert_eq!((counts.tests, counts.failed, counts.skipped), (3, 1, 1));
//!
//! let junit = r#"<testsuite><testcase name="a"/><testcase name="b"><failure message="x"/></testcase></testsuite>"#;
//! let counts = parse(Format::Junit, junit);
//! assert_eq!((counts.tests, counts.failed, counts.skipped), (2, 1, 0));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

/// The launch environment variable naming the results directory.
pub const RESULTS_DIR_VAR: &str = "CNB_TEST_RESULTS_DIR";

/// Its default value: relative to the app directory (the processes' working directory).
pub const DEFAULT_RESULTS_DIR: &str = "test-results";

/// A results file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `JUnit` XML (`*.xml`).
    Junit,
    /// Test Anything Protocol (`*.tap`).
    Tap,
}

impl Format {
    /// The format of a file, by extension.
    #[must_use]
    pub fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "xml" => Some(Self::Junit),
            "tap" => Some(Self::Tap),
            _ => None,
        }
    }
}

/// Test counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tests run (skipped ones included).
    pub tests: usize,
    /// Tests that failed (failures and errors).
    pub failed: usize,
    /// Tests skipped (TAP `# SKIP`/`# TODO`, `JUnit` `<skipped>`).
    pub skipped: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.tests += other.tests;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} tests, {} failed, {} skipped",
            self.tests, self.failed, self.skipped
        )
    }
}

/// Counts the tests in a results file's text.
///
/// `JUnit`: a scan for `<testcase`, `<failure`, `<error` and `<skipped` elements (enough for
/// the files test runners write; not an XML validator). TAP: `ok`/`not ok` lines, with `# SKIP`
/// and `# TODO` directives counted as skipped, not failed.
#[must_use]
pub fn parse(format: Format, text: &str) -> Counts {
    match format {
        Format::Junit => Counts {
            tests: count_elements(text, "testcase"),
            failed: count_elements(text, "failure") + count_elements(text, "error"),
            skipped: count_elements(text, "skipped"),
        },
        Format::Tap => {
            let mut counts = Counts::default();
            for line in text.lines().map(str::trim_start) {
                let (failed, rest) = if let Some(rest) = line.strip_prefix("not ok") {
                    (true, rest)
                } else if let Some(rest) = line.strip_prefix("ok") {
                    (false, rest)
                } else {
                    continue;
                };
                if !(rest.is_empty() || rest.starts_with(' ')) {
                    continue;
                }
                counts.tests += 1;
                let directive = rest
                    .split_once('#')
                    .map(|(_, directive)| directive.trim_start().to_ascii_uppercase());
                if directive
                    .as_deref()
                    .is_some_and(|d| d.starts_with("SKIP") || d.starts_with("TODO"))
                {
                    counts.skipped += 1;
                } else if failed {
                    counts.failed += 1;
                }
            }
            counts
        }
    }
}

fn count_elements(text: &str, name: &str) -> usize {
    let open = format!("<{name}");
    text.match_indices(&open)
        .filter(|(index, _)| {
            matches!(
                text[index + open.len()..].chars().next(),
                Some(' ' | '>' | '/' | '\n' | '\t' | '\r')
            )
        })
        .count()
}

/// One results file and its counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCounts {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Its counts.
    pub counts: Counts,
}

/// The results files under `dir` (recursively, sorted by path) and their counts. A missing
/// directory has none.
///
/// # Errors
/// An I/O error reading the directory or a file, with the path in the message.
pub fn summarize_dir(dir: &Path) -> std::io::Result<Vec<FileCounts>> {
    let mut files = Vec::new();
    if dir.is_dir() {
        collect(dir, &mut files)?;
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|path| Format::of(&path).map(|format| (path, format)))
        .map(|(path, format)| {
            let text = std::fs::read_to_string(&path).map_err(|error| {
                std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
            })?;
            Ok(FileCounts {
                counts: parse(format, &text),
                path,
                format,
            })
        })
        .collect()
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|error| {
        std::io::Error::new(error.kind(), format!("{}: {error}", dir.display()))
    })?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_counts_ignore_plans_comments_and_look_alikes() {
        let text = "TAP version 13\n1..4\nok 1 - a\nnot ok 2 - b\n  ---\n  ...\nok 3 # skip slow\n\
                    not ok 4 # TODO later\nokay this is prose\n# ok in a comment\n";
        assert_eq!(
            parse(Format::Tap, text),
            Counts {
                tests: 4,
                failed: 1,
                skipped: 2
            }
        );
    }

    #[test]
    fn junit_counts_elements_not_attributes_or_suites() {
        let text = r#"<?xml version="1.0"?>
<testsuites tests="3" failures="1" errors="1">
  <testsuite name="s" tests="3" errors="1">
    <testcase name="ok"></testcase>
    <testcase name="bad"><failure message="boom">trace</failure></testcase>
    <testcase name="err"><error message="x"/></testcase>
    <testcase name="skip"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
        assert_eq!(
            parse(Format::Junit, text),
            Counts {
                tests: 4,
                failed: 2,
                skipped: 1
            }
        );
    }

    #[test]
    fn directories_are_summarized_recursively_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("unit")).unwrap();
        std::fs::write(dir.path().join("unit/a.tap"), "ok 1\nok 2\n").unwrap();
        std::fs::write(
            dir.path().join("b.xml"),
            "<testcase name=\"x\"><failure/></testcase>",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ok 1\n").unwrap();
        let files = summarize_dir(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].path, dir.path().join("b.xml"));
        assert_eq!(files[0].counts.failed, 1);
        assert_eq!(files[1].format, Format::Tap);
        assert_eq!(files[1].counts.tests, 2);
        assert!(
            summarize_dir(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }
}
