//! Reading pack's build output: the phases it relays (`===> DETECTING`, ...) and how it failed.

use crate::results::{Phase, PhaseOutput};

/// The phase a `===> ` header of pack's output starts.
fn header(line: &str) -> Option<Phase> {
    let line = line.trim_start();
    let line = strip_prefix_tag(line);
    Some(match line.strip_prefix("===> ")?.trim() {
        "ANALYZING" => Phase::Analyze,
        "DETECTING" => Phase::Detect,
        "RESTORING" => Phase::Restore,
        "BUILDING" => Phase::Build,
        "EXPORTING" => Phase::Export,
        _ => return None,
    })
}

/// A line without the `[detector] `-style tag pack puts on phase output in some modes.
#[must_use]
pub fn strip_prefix_tag(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix('[')
        && let Some((tag, rest)) = rest.split_once("] ")
        && !tag.is_empty()
        && tag.chars().all(|c| c.is_ascii_lowercase())
    {
        return rest;
    }
    line
}

/// pack's output cut into phases: what comes before the first header goes to the first phase.
/// `failed` marks the last phase as unsuccessful.
#[must_use]
pub fn phases(output: &str, failed: bool) -> Vec<PhaseOutput> {
    let mut phases: Vec<PhaseOutput> = Vec::new();
    let mut intro = String::new();
    for line in output.split_inclusive('\n') {
        if let Some(phase) = header(line) {
            phases.push(PhaseOutput {
                phase,
                output: std::mem::take(&mut intro),
                success: true,
            });
            continue;
        }
        let text = strip_prefix_tag(line);
        match phases.last_mut() {
            Some(current) => current.output.push_str(text),
            None => intro.push_str(text),
        }
    }
    if phases.is_empty() && !intro.is_empty() {
        phases.push(PhaseOutput {
            phase: Phase::Analyze,
            output: intro,
            success: !failed,
        });
    } else if let Some(last) = phases.last_mut() {
        last.output.push_str(&intro);
        if failed {
            last.success = false;
        }
    }
    phases
}

/// The lifecycle's exit code pack reports (`failed with status code: 51`).
#[must_use]
pub fn lifecycle_code(output: &str) -> Option<i32> {
    output.lines().rev().find_map(|line| {
        line.split_once("failed with status code: ")
            .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
    })
}

/// The buildpack whose `bin/build` ran last (`Running build for buildpack <id>@<version>`).
#[must_use]
pub fn last_buildpack_built(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        strip_prefix_tag(line)
            .strip_prefix("Running build for buildpack ")
            .and_then(|rest| rest.split('@').next())
            .map(|id| id.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Pulling image\n===> ANALYZING\nImage not found\n===> DETECTING\n[detector] pass: a/b@1\n===> RESTORING\n===> BUILDING\nRunning build for buildpack a/b@1\nboom\nERROR: failed to build: executing lifecycle: failed with status code: 51\n";

    #[test]
    fn output_is_cut_at_phase_headers() {
        let phases = phases(OUTPUT, true);
        let names: Vec<Phase> = phases.iter().map(|p| p.phase).collect();
        assert_eq!(
            names,
            [Phase::Analyze, Phase::Detect, Phase::Restore, Phase::Build]
        );
        assert_eq!(phases[0].output, "Pulling image\nImage not found\n");
        assert_eq!(phases[1].output, "pass: a/b@1\n");
        assert!(!phases[3].success);
        assert!(phases[2].success);
    }

    #[test]
    fn failure_code_and_buildpack_are_read() {
        assert_eq!(lifecycle_code(OUTPUT), Some(51));
        assert_eq!(last_buildpack_built(OUTPUT).as_deref(), Some("a/b"));
        assert_eq!(lifecycle_code("ERROR: no such builder\n"), None);
    }
}
