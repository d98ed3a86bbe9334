//! The lifecycle detector's debug log read back into [`DetectReport`]s: one `pass:`/`fail:`/
//! `skip:`/`err:` line per buildpack in a group's results and `Skipping ... due to execution
//! environment mismatch` (`phase/detector.go`), each buildpack's output between
//! `======== Output: <id>@<version> ========` lines. The lifecycle engine and the pack engine
//! both run that detector, so both read its log here.

use crate::engine::Order;
use crate::results::{DetectOutcome, DetectReport};
use libcnb_exec_env::exec_env::ExecEnvSelector;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
struct Seen {
    outcome: Option<DetectOutcome>,
    output: String,
}

/// Each buildpack's detection, in order of the order (first appearance of each id), from the
/// detector's debug log.
#[must_use]
pub fn detect_reports(order: &Order, log: &str) -> Vec<DetectReport> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut capturing: Option<String> = None;
    // Outcome lines are those of a group's results (`======== Results ========`); the plan
    // resolution after them (`Resolving plan... (try #n)`) prints `fail: <bp> requires <x>`,
    // `skip: <bp> provides unused <x>` about buildpacks whose `bin/detect` passed.
    let mut in_results = false;
    for line in log.lines() {
        if line.starts_with("Resolving plan") {
            in_results = false;
        }
        if let Some(rest) = line.strip_prefix("======== ") {
            in_results = rest.starts_with("Results ");
            capturing = rest
                .strip_prefix("Output: ")
                .or_else(|| rest.strip_prefix("Error: "))
                .and_then(|rest| rest.strip_suffix(" ========"))
                .map(str::to_owned);
            if let Some(key) = &capturing
                && rest.starts_with("Output: ")
            {
                seen.entry(key.clone()).or_default().output.clear();
            }
            continue;
        }
        if let Some(key) = &capturing {
            if is_log_line(line) {
                capturing = None;
            } else {
                let entry = seen.entry(key.clone()).or_default();
                entry.output.push_str(line);
                entry.output.push('\n');
                continue;
            }
        }
        if let Some(rest) = line.strip_prefix("Skipping ")
            && let Some((key, _)) = rest.split_once(" due to execution environment mismatch")
        {
            seen.entry(key.to_owned()).or_default().outcome = Some(DetectOutcome::SkippedExecEnv {
                declared: ExecEnvSelector::All,
            });
            continue;
        }
        let (status, rest) = match line.split_once(": ") {
            Some((status @ ("pass" | "fail" | "skip" | "err"), rest)) if in_results => {
                (status, rest.trim())
            }
            _ => continue,
        };
        let mut words = rest.split_whitespace();
        let Some(key) = words.next() else { continue };
        if !key.contains('@') {
            continue;
        }
        let outcome = match status {
            "pass" => DetectOutcome::Pass,
            "fail" | "skip" => DetectOutcome::Fail,
            _ => DetectOutcome::Error(
                words
                    .next()
                    .and_then(|code| code.trim_matches(['(', ')']).parse().ok())
                    .unwrap_or(-1),
            ),
        };
        seen.entry(key.to_owned()).or_default().outcome = Some(outcome);
    }
    let mut reports: Vec<DetectReport> = Vec::new();
    for entry in order.iter().flatten() {
        let bp = &entry.buildpack;
        if reports.iter().any(|r| r.buildpack_id == bp.id) {
            continue;
        }
        let key = format!("{}@{}", bp.id, bp.version);
        let found = seen.get(&key).cloned().unwrap_or_default();
        let outcome = match found.outcome {
            Some(DetectOutcome::SkippedExecEnv { .. }) => DetectOutcome::SkippedExecEnv {
                declared: bp.descriptor.exec_env.clone(),
            },
            Some(outcome) => outcome,
            None => DetectOutcome::NotRun,
        };
        reports.push(DetectReport {
            buildpack_id: bp.id.clone(),
            version: bp.version.clone(),
            api: bp.api(),
            optional: entry.optional,
            outcome,
            output: found.output,
        });
    }
    reports
}

/// Whether `line` is one of the lifecycle's own log lines (which end a buildpack's output).
fn is_log_line(line: &str) -> bool {
    [
        "pass: ",
        "fail: ",
        "skip: ",
        "err:  ",
        "Resolving plan",
        "Timer: ",
        "Skipping ",
        "Checking for match",
    ]
    .iter()
    .any(|prefix| line.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{GroupEntry, PackagedBuildpack};
    use crate::platform::escape_id;
    use libcnb_exec_env::ExecEnv;
    use std::path::Path;

    fn order_of(dir: &Path, bps: &[(&str, &str)]) -> Order {
        vec![
            bps.iter()
                .map(|(id, extra)| {
                    let bp_dir = dir.join(escape_id(id));
                    std::fs::create_dir_all(&bp_dir).unwrap();
                    std::fs::write(
                        bp_dir.join("buildpack.toml"),
                        format!(
                            "api = \"0.12\"\n[buildpack]\nid = \"{id}\"\nversion = \"1.0\"\n{extra}"
                        ),
                    )
                    .unwrap();
                    GroupEntry {
                        buildpack: PackagedBuildpack::read(&bp_dir).unwrap(),
                        optional: false,
                        exec_env: ExecEnvSelector::All,
                    }
                })
                .collect(),
        ]
    }

    #[test]
    fn detect_log_gives_outcomes_and_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let order = order_of(
            dir.path(),
            &[
                ("a/one", ""),
                ("b/two", "exec-env = [\"test\"]\n"),
                ("c/three", ""),
                ("d/four", ""),
                ("e/five", ""),
            ],
        );
        let log = "Skipping b/two@1.0 due to execution environment mismatch; current: production, buildpack supports: [test]\n\
======== Output: a/one@1.0 ========\nhello from a\nsecond line\n\
======== Output: c/three@1.0 ========\nnope\n\
======== Output: d/four@1.0 ========\nboom\n\
======== Results ========\npass: a/one@1.0\nfail: c/three@1.0\nerr:  d/four@1.0 (1)\nResolving plan... (try #1)\n\
fail: a/one@1.0 requires node\nskip: a/one@1.0 provides unused npm\n";
        let reports = detect_reports(&order, log);
        let outcomes: Vec<_> = reports.iter().map(|r| r.outcome.clone()).collect();
        assert_eq!(outcomes[0], DetectOutcome::Pass);
        assert!(
            matches!(&outcomes[1], DetectOutcome::SkippedExecEnv { declared } if declared.matches(&ExecEnv::Test) && !declared.is_all())
        );
        assert_eq!(outcomes[2], DetectOutcome::Fail);
        assert_eq!(outcomes[3], DetectOutcome::Error(1));
        assert_eq!(outcomes[4], DetectOutcome::NotRun);
        assert_eq!(reports[0].output, "hello from a\nsecond line\n");
        assert_eq!(reports[3].output, "boom\n");
    }
}
