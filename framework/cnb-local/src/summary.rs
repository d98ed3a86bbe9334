//! What `cnb-local` prints: the engine line, the build summary, a launch's output and test result.

use libcnb_exec_env_test::{
    BuildReport, DetectOutcome, Engine, LaunchResult, LayerState, TestResultsFormat,
};
use std::path::Path;

/// Which engine runs, as asked and resolved.
pub(crate) fn engine_line(asked: Engine, resolved: Engine) -> String {
    match (asked, resolved) {
        (Engine::Auto, Engine::Lifecycle) => format!(
            "Engine: auto -> the real CNB lifecycle ({})",
            libcnb_exec_env_test::lifecycle::locate()
                .map_or_else(String::new, |p| p.display().to_string())
        ),
        (Engine::Auto, _) => "Engine: auto -> the built-in engine (no real lifecycle installed; scripts/install-lifecycle.sh installs one)".to_owned(),
        (_, Engine::Lifecycle) => "Engine: the real CNB lifecycle".to_owned(),
        (_, Engine::Pack) => "Engine: pack on a Docker engine (scripts/local-builder.sh sets it up)".to_owned(),
        _ => "Engine: the built-in engine".to_owned(),
    }
}

/// The `===> SUMMARY` of a build, on stdout.
pub(crate) fn print_summary(
    report: &BuildReport,
    cache_dir: &Path,
    asked: Engine,
    resolved: Engine,
) {
    let env = &report.exec_env;
    println!();
    println!("===> SUMMARY");
    println!(
        "{} (exec-env {env}, {:.1?})",
        engine_line(asked, resolved),
        report.duration
    );
    let group: Vec<String> = report
        .group
        .iter()
        .map(|id| {
            report
                .detect
                .iter()
                .find(|d| &d.buildpack_id == id && d.outcome == DetectOutcome::Pass)
                .map_or_else(|| id.clone(), |d| format!("{id}@{}", d.version))
        })
        .collect();
    println!("Group: {}", group.join(", "));
    for skipped in report
        .detect
        .iter()
        .filter(|d| matches!(d.outcome, DetectOutcome::SkippedExecEnv { .. }))
    {
        if let DetectOutcome::SkippedExecEnv { declared } = &skipped.outcome {
            println!(
                "  skipped {}: declares exec-env [{declared}]",
                skipped.buildpack_id
            );
        }
    }
    println!("Layers:");
    for id in &report.group {
        println!("  {id}");
        for layer in report.layers.iter().filter(|l| &l.buildpack_id == id) {
            let mut types = Vec::new();
            for (flag, name) in [
                (layer.launch, "launch"),
                (layer.build, "build"),
                (layer.cache, "cache"),
            ] {
                if flag {
                    types.push(name);
                }
            }
            let state = match layer.state {
                LayerState::Created => "created".to_owned(),
                LayerState::Restored => "restored".to_owned(),
                LayerState::Ignored => "ignored: no types (not exported, not cached)".to_owned(),
                LayerState::Retained => format!(
                    "retained for {}",
                    layer
                        .exec_env
                        .as_ref()
                        .map_or_else(|| "another env".to_owned(), |e| e.join(", "))
                ),
            };
            println!("    {:<32} {:<20} {state}", layer.name, types.join(","));
        }
    }
    let eligible = report.processes_eligible(env);
    println!("Processes eligible in {env}:");
    for process in report
        .processes
        .iter()
        .filter(|p| eligible.contains(&p.r#type))
    {
        println!(
            "  {:<12}{} {}",
            process.r#type,
            if process.default { " (default)" } else { "" },
            shell_words(&process.command, &process.args)
        );
    }
    let others: Vec<String> = report
        .processes
        .iter()
        .filter(|p| !eligible.contains(&p.r#type))
        .map(|p| format!("{} (exec-env {})", p.r#type, p.exec_env))
        .collect();
    if !others.is_empty() {
        println!("Not eligible in {env}: {}", others.join(", "));
    }
    println!("Image: {}", report.image_dir.display());
    println!("Cache: {}", cache_dir.display());
    if let Some(label) = report.labels.get("io.buildpacks.exec-env") {
        println!("Label io.buildpacks.exec-env = {label}");
    }
    let default = report.default_process.as_deref().unwrap_or("<process>");
    let flag = if env.is_production() {
        String::new()
    } else {
        format!(" --exec-env {env}")
    };
    println!(
        "Launch: cnb-local launch {} {default}{flag}",
        report.image_dir.display()
    );
}

fn shell_words(command: &[String], args: &[String]) -> String {
    command
        .iter()
        .chain(args)
        .map(|word| {
            if word.contains(' ') || word.is_empty() {
                format!("{word:?}")
            } else {
                word.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A launch's output, and the `===> TEST RESULT` of a test process.
pub(crate) fn print_launch(result: &LaunchResult) {
    print!("{}", result.stdout);
    eprint!("{}", result.stderr);
    if let Some(test) = &result.test {
        eprintln!();
        eprintln!("===> TEST RESULT");
        eprintln!(
            "{} in {:.2?} (exit code {})",
            if test.passed { "PASSED" } else { "FAILED" },
            test.duration,
            result
                .exit_code
                .map_or_else(|| "none: killed".to_owned(), |c| c.to_string())
        );
        if let Some(file) = &test.results_file {
            eprintln!(
                "Results file ({}): {} ({} bytes)",
                match &file.format {
                    TestResultsFormat::Junit => "JUnit XML".to_owned(),
                    TestResultsFormat::Tap => "TAP".to_owned(),
                    TestResultsFormat::Other(other) => other.clone(),
                },
                file.path.display(),
                file.content.len()
            );
        }
        if test.results_file.is_none() {
            eprintln!(
                "No results files (the image declares none, or the tests wrote none: see CNB_TEST_RESULTS_DIR in the libcnb-exec-env-test README)"
            );
        }
    }
}
