//! The test results convention (beyond the spec, see the crate README "Test results"): where a
//! `test` process's results file is, read the same way by every engine.

use crate::results::{TestResultsFile, TestResultsFormat};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The env var naming a directory of test results files (`*.xml`, `*.tap`), relative to the app
/// directory (the `examples/test-report` buildpack sets it).
pub const TEST_RESULTS_DIR_ENV: &str = "CNB_TEST_RESULTS_DIR";
/// The env var naming a test process's results file (relative to the app directory).
pub const TEST_RESULTS_PATH_ENV: &str = "CNB_TEST_RESULTS_PATH";
/// The env var naming its format (`junit`, `tap`).
pub const TEST_RESULTS_FORMAT_ENV: &str = "CNB_TEST_RESULTS_FORMAT";
/// The image label naming a test results file (when no env var does).
pub const TEST_RESULTS_PATH_LABEL: &str = "io.buildpacks.test.results-path";
/// The image label naming its format.
pub const TEST_RESULTS_FORMAT_LABEL: &str = "io.buildpacks.test.results-format";

/// The results files a `test` process declared, by the crate's convention (README "Test
/// results"): the file named by `CNB_TEST_RESULTS_PATH` / `CNB_TEST_RESULTS_FORMAT` (else by the
/// image labels), then every other `*.xml`/`*.tap` under `CNB_TEST_RESULTS_DIR`. `var` looks a
/// variable up in the process's launch env; paths are relative to `app_dir`. Both engines use it.
pub(crate) fn results_files(
    var: impl Fn(&str) -> Option<String>,
    labels: &BTreeMap<String, String>,
    app_dir: &Path,
) -> Vec<TestResultsFile> {
    let mut files = Vec::new();
    let declared = match var(TEST_RESULTS_PATH_ENV) {
        Some(path) => Some((path, var(TEST_RESULTS_FORMAT_ENV))),
        None => labels
            .get(TEST_RESULTS_PATH_LABEL)
            .map(|path| (path.clone(), labels.get(TEST_RESULTS_FORMAT_LABEL).cloned())),
    };
    if let Some((path, format)) = declared
        && let Some(file) = read_results(app_dir.join(path), format)
    {
        files.push(file);
    }
    if let Some(dir) = var(TEST_RESULTS_DIR_ENV) {
        let mut found = Vec::new();
        collect_results(&app_dir.join(dir), &mut found);
        found.sort();
        let more: Vec<TestResultsFile> = found
            .into_iter()
            .filter(|path| !files.iter().any(|file| file.path == *path))
            .filter_map(|path| read_results(path, None))
            .collect();
        files.extend(more);
    }
    files
}

fn collect_results(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            collect_results(&path, found);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "xml" || ext == "tap")
        {
            found.push(path);
        }
    }
}

fn read_results(path: PathBuf, format: Option<String>) -> Option<TestResultsFile> {
    let content = std::fs::read_to_string(&path).ok()?;
    let format = format.map_or_else(
        || {
            if path.extension().is_some_and(|ext| ext == "xml") {
                TestResultsFormat::Junit
            } else {
                TestResultsFormat::Tap
            }
        },
        |format| format.parse().unwrap_or(TestResultsFormat::Tap),
    );
    Some(TestResultsFile {
        format,
        path,
        content,
    })
}
