//! `augur hil <scenario>|all`: run bench scenarios against the real node, judge them
//! and write their reports; a pass/fail table, non-zero exit on any failure.

use std::path::PathBuf;

use crate::scenario::{find_scenario, scenario_files, Scenario};
use anyhow::{bail, Context as _};

use crate::bench::{run_scenario, BenchPaths};

/// Arguments of `augur hil`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A scenario file, a scenario name in `--scenarios`, or `all`.
    pub scenario: String,
    /// Shorten every fault scenario (faults ≤ 1 s, gaps ≤ 2 s); with `all`, skip the
    /// slow (soak) scenarios.
    #[arg(long)]
    pub quick: bool,
    /// With `all`: also skip these scenarios (by name).
    #[arg(long)]
    pub skip: Vec<String>,
    /// Reports go to `<out>/<scenario>/`.
    #[arg(long, default_value = "target/hil")]
    pub out: PathBuf,
    /// Folder of scenario files.
    #[arg(long, default_value = "hil-tests/scenarios")]
    pub scenarios: PathBuf,
    /// Workspace root (model paths of scenarios are relative to it).
    #[arg(long, default_value = ".")]
    pub workspace: PathBuf,
}

/// Runs the scenarios and prints the table.
pub fn run(args: Args) -> anyhow::Result<()> {
    let files = if args.scenario == "all" {
        scenario_files(&args.scenarios)?
    } else {
        vec![find_scenario(&args.scenario, &args.scenarios)?]
    };
    let mut scenarios = Vec::new();
    for file in &files {
        let scenario = Scenario::load(file)?;
        if args.scenario == "all"
            && ((args.quick && scenario.slow) || args.skip.contains(&scenario.name))
        {
            continue;
        }
        scenarios.push(if args.quick {
            scenario.quick()
        } else {
            scenario
        });
    }
    if scenarios.is_empty() {
        bail!("no scenario to run in {}", args.scenarios.display());
    }
    let python = match std::env::var_os("AUGUR_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => args.workspace.join(".venv/bin/python"),
    };
    let paths = BenchPaths {
        workspace: args.workspace.clone(),
        python,
    };
    let mut rows = Vec::new();
    for scenario in &scenarios {
        eprintln!(
            "augur hil: running {} ({})",
            scenario.name, scenario.description
        );
        let outcome = run_scenario(scenario, &paths, &args.out)
            .with_context(|| format!("scenario {}", scenario.name));
        match outcome {
            Ok(outcome) => {
                for failure in outcome.verdict.failures() {
                    eprintln!("  FAIL {}: {}", failure.rule, failure.detail);
                }
                rows.push((
                    scenario.name.clone(),
                    if outcome.verdict.passed {
                        "pass"
                    } else {
                        "FAIL"
                    }
                    .to_string(),
                    format!(
                        "{}/{} rules; {}",
                        outcome.verdict.rules.iter().filter(|r| r.passed).count(),
                        outcome.verdict.rules.len(),
                        outcome.report_dir.join("report.html").display()
                    ),
                ));
            }
            Err(error) => {
                eprintln!("  ERROR {error:#}");
                rows.push((scenario.name.clone(), "ERROR".into(), format!("{error:#}")));
            }
        }
    }
    println!("| scenario | result | detail |");
    println!("|---|---|---|");
    for (name, result, detail) in &rows {
        println!("| {name} | {result} | {detail} |");
    }
    let failed = rows.iter().filter(|r| r.1 != "pass").count();
    if failed > 0 {
        bail!("{failed} of {} scenario(s) failed", rows.len());
    }
    Ok(())
}
