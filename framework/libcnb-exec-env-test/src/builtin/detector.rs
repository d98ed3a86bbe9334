//! The detect phase: runs `bin/detect` for each group of the order, with the lifecycle's rules.
//!
//! - Declared environments (lifecycle `phase/detector.go`, Platform API >= 0.15): a buildpack of
//!   API >= 0.12 whose `[buildpack] exec-env` is non-empty, holds no `"*"` and not the current
//!   environment is skipped (never run, not part of the group), also in `production` builds.
//! - `bin/detect <platform> <plan>` runs in the app directory with the build env
//!   (`buildpack/detect.go`): `CNB_BUILDPACK_DIR`; from API 0.8 `CNB_PLATFORM_DIR` and
//!   `CNB_BUILD_PLAN_PATH`; from API 0.10 the `CNB_TARGET_*` variables; from API 0.12, and only
//!   then, `CNB_EXEC_ENV`. Exit 0 passes, 100 fails, anything else is an error.
//! - A group passes when every required buildpack passes, at least one buildpack passes, and a
//!   plan resolves ([`super::plan`]). Orders are tried group by group; the first that passes wins.

use super::plan::{self, Candidate, DetectPlan, Resolved};
use super::{Log, Workspace, buildpack_env, run_captured};
use crate::engine::{BuildRequest, EngineError, GroupEntry};
use crate::results::{DetectOutcome, DetectReport};
use std::collections::HashMap;
use std::fmt::Write;

/// The lifecycle's exit codes for detect.
const CODE_PASS: i32 = 0;
const CODE_FAIL: i32 = 100;

/// The detected group.
pub(crate) struct Detected {
    pub(crate) group: Vec<GroupEntry>,
    pub(crate) resolved: Resolved,
    pub(crate) reports: Vec<DetectReport>,
}

struct Run {
    outcome: DetectOutcome,
    output: String,
    plan: DetectPlan,
}

/// Runs detection over the request's order.
#[allow(clippy::too_many_lines)] // one phase, read top to bottom
pub(crate) fn detect(
    request: &BuildRequest,
    workspace: &Workspace,
    log: &mut Log,
) -> Result<Detected, EngineError> {
    // buildpack/descriptor.go decodes `[buildpack] exec-env` as a list of strings: the spec's
    // `[[buildpack.exec-env]]` tables make the decoder fail while the detector is set up, so
    // the lifecycle stops every build with that buildpack ("failed to initialize detector").
    for entry in request.order.iter().flatten() {
        if entry.buildpack.descriptor.declaration_form
            == Some(libcnb_exec_env::internal::descriptor::DeclarationForm::SpecTables)
        {
            return Err(EngineError::InvalidBuildpack {
                dir: entry.buildpack.dir.clone(),
                reason: format!(
                    "{} declares exec-env as [[buildpack.exec-env]] tables; the lifecycle cannot decode that form and fails with \"failed to initialize detector\" (toml: incompatible types) in every environment. Write `exec-env = [\"test\"]` under [buildpack] instead",
                    entry.buildpack.dir.join("buildpack.toml").display()
                ),
            });
        }
    }
    let mut reports: Vec<DetectReport> = Vec::new();
    let mut runs: HashMap<(String, String), Run> = HashMap::new();
    for group in &request.order {
        let mut candidates = Vec::new();
        let mut group_passes = true;
        let mut any_pass = false;
        for (index, entry) in group.iter().enumerate() {
            let buildpack = &entry.buildpack;
            let declared = &buildpack.descriptor.exec_env;
            let report = |outcome, output: String| DetectReport {
                buildpack_id: buildpack.id.clone(),
                version: buildpack.version.clone(),
                api: buildpack.api(),
                optional: entry.optional,
                outcome,
                output,
            };
            // Only honoured for buildpacks of API >= 0.12 (phase/detector.go).
            if buildpack.descriptor.receives_exec_env() && !declared.matches(&request.exec_env) {
                log.line(&format!(
                    "skip: {}@{} (declares exec-env [{declared}], this build is {})",
                    buildpack.id, buildpack.version, request.exec_env
                ));
                reports.push(report(
                    DetectOutcome::SkippedExecEnv {
                        declared: declared.clone(),
                    },
                    String::new(),
                ));
                continue;
            }
            let key = (buildpack.id.clone(), buildpack.version.clone());
            if !runs.contains_key(&key) {
                let run = run_detect(request, workspace, entry, log)?;
                runs.insert(key.clone(), run);
            }
            let run = &runs[&key];
            match &run.outcome {
                DetectOutcome::Pass => {
                    any_pass = true;
                    candidates.push(Candidate {
                        index,
                        id: buildpack.id.clone(),
                        optional: entry.optional,
                        plan: run.plan.clone(),
                    });
                }
                _ => group_passes &= entry.optional,
            }
            log.line(&format!(
                "{}: {}@{}",
                match (&run.outcome, entry.optional) {
                    (DetectOutcome::Pass, _) => "pass".to_owned(),
                    (DetectOutcome::Fail, true) => "skip".to_owned(),
                    (DetectOutcome::Fail, false) => "fail".to_owned(),
                    (DetectOutcome::Error(code), _) => format!("err ({code})"),
                    _ => "?".to_owned(),
                },
                buildpack.id,
                buildpack.version
            ));
            reports.push(report(run.outcome.clone(), run.output.clone()));
        }
        if group_passes && any_pass {
            if let Some(resolved) = plan::resolve(&candidates) {
                let members: Vec<GroupEntry> = resolved
                    .members
                    .iter()
                    .map(|&index| group[index].clone())
                    .collect();
                if members.len() != candidates.len() {
                    log.line(&format!(
                        "{} of {} buildpacks participating",
                        members.len(),
                        group.len()
                    ));
                }
                for member in &members {
                    log.line(&format!(
                        "{} {}",
                        member.buildpack.id, member.buildpack.version
                    ));
                }
                return Ok(Detected {
                    group: members,
                    resolved,
                    reports,
                });
            }
            log.line("fail: the build plan could not be resolved for this group");
        }
    }
    let mut details = String::new();
    for report in &reports {
        let outcome = match &report.outcome {
            DetectOutcome::Pass => "passed".to_owned(),
            DetectOutcome::Fail => "failed (exit 100)".to_owned(),
            DetectOutcome::Error(code) => format!("errored (exit {code})"),
            DetectOutcome::SkippedExecEnv { declared } => format!(
                "skipped: it declares exec-env [{declared}], this build is {}",
                request.exec_env
            ),
            DetectOutcome::NotRun => "not run".to_owned(),
        };
        let _ = writeln!(
            details,
            "  {}@{}{}: {outcome}",
            report.buildpack_id,
            report.version,
            if report.optional { " (optional)" } else { "" }
        );
        for line in report.output.lines() {
            let _ = writeln!(details, "      | {line}");
        }
    }
    if reports
        .iter()
        .all(|r| matches!(r.outcome, DetectOutcome::Pass))
        && !reports.is_empty()
    {
        details.push_str("  every buildpack passed, but no build plan resolves (unmet requires or unused provides)\n");
    }
    Err(EngineError::DetectFailed {
        exec_env: request.exec_env.clone(),
        // phase/detector.go: a failed detection in which a buildpack errored is ErrBuildpack.
        errored: reports
            .iter()
            .any(|r| matches!(r.outcome, DetectOutcome::Error(_))),
        details,
        output: log.take(),
    })
}

fn run_detect(
    request: &BuildRequest,
    workspace: &Workspace,
    entry: &GroupEntry,
    log: &mut Log,
) -> Result<Run, EngineError> {
    let buildpack = &entry.buildpack;
    let plan_dir = tempfile::Builder::new()
        .prefix("plan.")
        .tempdir()
        .map_err(EngineError::io("cannot create a plan directory"))?;
    let plan_path = plan_dir.path().join("plan.toml");
    std::fs::write(&plan_path, "").map_err(EngineError::io(format!(
        "cannot write {}",
        plan_path.display()
    )))?;
    let mut command = std::process::Command::new(buildpack.dir.join("bin").join("detect"));
    command
        .arg(&workspace.platform_dir)
        .arg(&plan_path)
        .current_dir(&workspace.app_dir);
    let mut env = buildpack_env(request, workspace, buildpack, &workspace.base_env)?;
    env.push(("CNB_BUILDPACK_DIR".into(), path_string(&buildpack.dir)));
    if buildpack.descriptor.api >= (0, 8) {
        env.push((
            "CNB_PLATFORM_DIR".into(),
            path_string(&workspace.platform_dir),
        ));
        env.push(("CNB_BUILD_PLAN_PATH".into(), path_string(&plan_path)));
    }
    command.env_clear().envs(env);
    let (code, output) = run_captured(command, log, &format!("{} detect", buildpack.id)).map_err(
        EngineError::io(format!(
            "cannot run {}",
            buildpack.dir.join("bin/detect").display()
        )),
    )?;
    let outcome = match code {
        Some(CODE_PASS) => DetectOutcome::Pass,
        Some(CODE_FAIL) => DetectOutcome::Fail,
        Some(code) => DetectOutcome::Error(code),
        None => DetectOutcome::Error(-1),
    };
    if outcome != DetectOutcome::Pass {
        return Ok(Run {
            outcome,
            output,
            plan: DetectPlan::default(),
        });
    }
    let text = std::fs::read_to_string(&plan_path).unwrap_or_default();
    match DetectPlan::parse(&text, &buildpack.id) {
        Ok(plan) => Ok(Run {
            outcome,
            output,
            plan,
        }),
        Err(error) => Ok(Run {
            outcome: DetectOutcome::Error(-1),
            output: format!(
                "{output}{}the build plan {} is invalid: {error}\n",
                if output.is_empty() || output.ends_with('\n') {
                    ""
                } else {
                    "\n"
                },
                plan_path.display()
            ),
            plan: DetectPlan::default(),
        }),
    }
}

pub(crate) fn path_string(path: &std::path::Path) -> String {
    path.to_string_lossy().into_owned()
}
