//! `augur sim pendulum`: the main job on the built-in default. Runs seeded episodes of
//! the gymnasium-exact pendulum under the planner and the shipped world model, and
//! prints returns and planning latency.
//!
//! The loop runs in one process (plant -> model -> planner -> plant), as fast as
//! planning allows; the ROS 2 node and its transport come in on top of it.

use std::path::PathBuf;
use std::time::Duration;

use crate::closed_loop::run_pendulum_episode;
use augur_planner::{ActionConfig, AnyPlanner, Budget, PlannerConfig, WorldModel};
use augur_runtime::model::{Manifest, PrepareOptions, TractWorldModel};
use indicatif::{ProgressBar, ProgressStyle};

/// Which planner `sim` uses.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PlannerKind {
    /// Sampled tree search (the default).
    Tree,
    /// TD-MPC2's MPPI.
    Mppi,
}

/// The shipped configuration of `kind` for the model (see [`Manifest::tree_config`]).
pub(crate) fn planner_config(kind: PlannerKind, manifest: &Manifest) -> PlannerConfig {
    match kind {
        PlannerKind::Tree => PlannerConfig::Tree(manifest.tree_config()),
        PlannerKind::Mppi => PlannerConfig::Mppi(manifest.mppi_config()),
    }
}

/// Arguments of `augur sim`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The simulated robot; only `pendulum` so far.
    #[arg(default_value = "pendulum")]
    pub robot: String,
    /// Model package.
    #[arg(long, default_value = "models/pendulum")]
    pub model: PathBuf,
    /// Planner.
    #[arg(long, value_enum, default_value = "tree")]
    pub planner: PlannerKind,
    /// Episodes (seeds 0..N).
    #[arg(long, default_value_t = 5)]
    pub episodes: u64,
    /// Control periods per episode (gymnasium's 200).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Model transitions per plan (the budget; deterministic).
    #[arg(long, default_value_t = 2048)]
    pub transitions: u64,
    /// Close the loop in this process without a transport (plant -> model -> planner).
    #[arg(long)]
    pub in_process: bool,
    /// Transport between the node and the plant participant.
    #[arg(long, value_enum, default_value = "dds")]
    pub transport: augur_bridge_ros2::transport::TransportKind,
    /// Step the plant as soon as the command arrives instead of every 50 ms.
    #[arg(long)]
    pub lockstep: bool,
    /// Output folder for the recording and the plot.
    #[arg(long, default_value = "target/augur-sim")]
    pub out: PathBuf,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.robot == "pendulum",
        "unknown robot `{}`: the built-in simulation is `pendulum`",
        args.robot
    );
    if !args.in_process {
        return crate::sim::run(&args);
    }
    let options = PrepareOptions {
        batch_sizes: vec![1, 24, 64, 128, 256, 512],
        ..PrepareOptions::default()
    };
    let mut model = TractWorldModel::load(&args.model, &options)?;
    let manifest = model.manifest().clone();
    let action = ActionConfig::new(
        manifest.action.iter().map(|a| a.low).collect(),
        manifest.action.iter().map(|a| a.high).collect(),
    );
    let config = planner_config(args.planner, &manifest);
    let mut planner = AnyPlanner::new(config, action, model.dims())?;
    println!(
        "pendulum (gymnasium Pendulum-v1 dynamics), model {} {}, {:?} planner, {} transitions per plan",
        manifest.model.name, manifest.model.version, args.planner, args.transitions
    );
    let bar = ProgressBar::new(args.episodes * args.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("[{bar:40}] {pos}/{len} steps {msg}")?.progress_chars("=> "),
    );
    let mut returns = Vec::new();
    let mut plan_times: Vec<Duration> = Vec::new();
    for seed in 0..args.episodes {
        let episode = run_pendulum_episode(&mut model, &mut planner, seed, args.steps, || {
            Budget::transitions(args.transitions)
        })?;
        bar.inc(args.steps as u64);
        bar.println(format!(
            "episode {seed:>2}: return {:8.1}",
            episode.total_return
        ));
        returns.push(episode.total_return);
        plan_times.extend(episode.steps.iter().map(|s| s.latency));
    }
    bar.finish_and_clear();
    plan_times.sort_unstable();
    let quantile = |q: f64| {
        plan_times[((plan_times.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
    };
    let mean = returns.iter().sum::<f64>() / returns.len() as f64;
    println!(
        "mean return {mean:.1} over {} episodes (gymnasium's best agents: about -150)",
        returns.len()
    );
    println!(
        "encode + plan: median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        quantile(0.5),
        quantile(0.99),
        quantile(1.0)
    );
    Ok(())
}
