//! `augur bench-quality`: plan quality per millisecond. Both planners close the loop on
//! the gymnasium-exact pendulum (in one process, the plant waiting for each command)
//! over a sweep of budgets, fixed transition counts and fixed deadlines, on one thread
//! or split over several; each configuration reports the mean return of seeded
//! episodes beside what its plans cost. A planner that is better per millisecond
//! reaches a given return with less plan time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::closed_loop::run_pendulum_episode_on;
use augur_planner::{ActionConfig, AnyPlanner, Budget, PlannerConfig, SplitModel, WorldModel};
use augur_runtime::model::{PrepareOptions, TractWorldModel};
use serde::Serialize;

use super::sim::{planner_config, PlannerKind};
use augur_runtime::resources::load_average;

/// Arguments of `augur bench-quality`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package of the pendulum.
    #[arg(default_value = "models/pendulum")]
    pub package: PathBuf,
    /// Planners to compare.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "tree,mppi")]
    pub planners: Vec<PlannerKind>,
    /// Budgets in model transitions per plan (deterministic returns).
    #[arg(long, value_delimiter = ',', default_value = "256,512,1024,2048")]
    pub budgets: Vec<u64>,
    /// Budgets as planning deadlines, in milliseconds (equal time; returns then depend
    /// on the machine's speed).
    #[arg(long, value_delimiter = ',')]
    pub deadlines_ms: Vec<f64>,
    /// Thread counts; above 1, the model calls are split over `SplitModel` replicas.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub threads: Vec<usize>,
    /// Planning horizon for both planners, instead of the manifest's (or the
    /// planners' own 3 without one).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Episodes per configuration (seeds 0..N).
    #[arg(long, default_value_t = 20)]
    pub episodes: u64,
    /// Control periods per episode (gymnasium's 200).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Also write every configuration's result here, as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// A configuration's budget.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Limit {
    Transitions(u64),
    DeadlineMs(f64),
}

impl Limit {
    fn budget(self) -> Budget {
        match self {
            Limit::Transitions(n) => Budget::transitions(n),
            Limit::DeadlineMs(ms) => {
                Budget::until(Instant::now() + Duration::from_secs_f64(ms / 1e3))
            }
        }
    }

    fn label(self) -> String {
        match self {
            Limit::Transitions(n) => format!("{n} tr"),
            Limit::DeadlineMs(ms) => format!("{ms} ms"),
        }
    }
}

/// One configuration's result.
#[derive(Debug, Serialize)]
struct Quality {
    planner: String,
    threads: usize,
    limit: Limit,
    mean_return: f64,
    returns: Vec<f64>,
    /// Encode + plan, per control step.
    median_ms: f64,
    p99_ms: f64,
    mean_transitions: f64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.episodes >= 1 && args.steps >= 1,
        "--episodes and --steps must be >= 1"
    );
    anyhow::ensure!(
        args.threads.iter().all(|&t| t >= 1),
        "every --threads must be >= 1"
    );
    anyhow::ensure!(
        args.deadlines_ms.iter().all(|&d| d.is_finite() && d > 0.0),
        "every --deadlines-ms must be a positive number of milliseconds"
    );
    let options = PrepareOptions {
        batch_sizes: vec![1, 8, 16, 24, 32, 64, 128, 192, 256, 384, 512],
        ..PrepareOptions::default()
    };
    let load = || TractWorldModel::load(&args.package, &options);
    let probe = load()?;
    let manifest = probe.manifest().clone();
    let dims = probe.dims();
    drop(probe);
    let scales: Vec<(f32, f32)> = manifest
        .observation
        .iter()
        .map(|f| (f.mean, f.std))
        .collect();
    let action = ActionConfig::new(
        manifest.action.iter().map(|a| a.low).collect(),
        manifest.action.iter().map(|a| a.high).collect(),
    );
    let limits: Vec<Limit> = args
        .budgets
        .iter()
        .map(|&n| Limit::Transitions(n))
        .chain(args.deadlines_ms.iter().map(|&ms| Limit::DeadlineMs(ms)))
        .collect();
    println!(
        "{}: {} episodes of {} steps per configuration, closed loop on the pendulum, load average {}",
        args.package.display(),
        args.episodes,
        args.steps,
        load_average()
    );
    println!(
        "{:<6} {:>7} {:>10} {:>12} {:>9} {:>9} {:>11}",
        "plan", "threads", "budget", "mean return", "median", "p99", "transitions"
    );
    let mut results = Vec::new();
    for &threads in &args.threads {
        let replicas = (0..threads)
            .map(|_| load())
            .collect::<Result<Vec<_>, _>>()?;
        let mut model = SplitModel::new(replicas)?;
        for &kind in &args.planners {
            let mut config = planner_config(kind, &manifest);
            if let Some(h) = args.horizon {
                match &mut config {
                    PlannerConfig::Tree(c) => c.horizon = h,
                    PlannerConfig::Mppi(c) => c.horizon = h,
                }
            }
            for &limit in &limits {
                let mut planner = AnyPlanner::new(config.clone(), action.clone(), dims)?;
                let q = run_config(
                    &args,
                    &mut model,
                    &scales,
                    &mut planner,
                    kind,
                    threads,
                    limit,
                )?;
                println!(
                    "{:<6} {:>7} {:>10} {:>12.1} {:>6.2} ms {:>6.2} ms {:>11.0}",
                    q.planner,
                    q.threads,
                    limit.label(),
                    q.mean_return,
                    q.median_ms,
                    q.p99_ms,
                    q.mean_transitions,
                );
                results.push(q);
            }
        }
    }
    println!("load average {}", load_average());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Runs one configuration's episodes.
fn run_config<M: WorldModel>(
    args: &Args,
    model: &mut M,
    scales: &[(f32, f32)],
    planner: &mut AnyPlanner,
    kind: PlannerKind,
    threads: usize,
    limit: Limit,
) -> anyhow::Result<Quality> {
    let mut returns = Vec::with_capacity(args.episodes as usize);
    let mut times = Vec::new();
    let mut transitions = 0u64;
    for seed in 0..args.episodes {
        let episode =
            run_pendulum_episode_on(model, scales, planner, seed, args.steps, || limit.budget())?;
        returns.push(episode.total_return);
        times.extend(episode.steps.iter().map(|s| s.latency));
        transitions += episode
            .steps
            .iter()
            .filter_map(|s| s.transitions)
            .sum::<u64>();
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    Ok(Quality {
        planner: format!("{kind:?}").to_lowercase(),
        threads,
        limit,
        mean_return: returns.iter().sum::<f64>() / returns.len() as f64,
        returns,
        median_ms: at(0.5),
        p99_ms: at(0.99),
        mean_transitions: transitions as f64 / times.len() as f64,
    })
}
