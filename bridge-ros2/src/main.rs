//! `augur`: the on-robot world-model runtime's command line.

use clap::{Parser, Subcommand};

use augur_bridge_ros2::cli;

/// Augur runs a learned world model on a robot and plans with it.
#[derive(Debug, Parser)]
#[command(name = "augur", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ROS 2 node (arguments for ROS follow `--ros-args`).
    Run(cli::run::Args),
    /// Run the main job on the built-in default: the simulated pendulum.
    Sim(cli::sim::Args),
    /// Validate a model package against its manifest and print its contract.
    CheckModel(cli::check_model::Args),
    /// Re-run a recording's cycles and check every command is bit-identical.
    Replay(cli::replay::Args),
    /// Write the package's graphs as optimised tract NNEF so start-up skips parsing.
    Compile(cli::compile::Args),
    /// Measure model throughput per graph (optionally against onnxruntime).
    BenchModel(cli::bench_model::Args),
    /// Measure plan latency, throughput and quality of both planners (optionally
    /// against TD-MPC2's planning loop in PyTorch).
    BenchPlan(cli::bench_plan::Args),
    /// Measure plan quality per millisecond: closed-loop pendulum returns of both
    /// planners against their plan time, over transition and deadline budgets.
    BenchQuality(cli::bench_quality::Args),
    /// Measure the node's own latency, control-period jitter and memory over a real
    /// transport (the node as a child process, this process as the robot).
    BenchNode(cli::bench_node::Args),
    /// Run bench scenarios (faults injected between a plant and the real node),
    /// judge them against their thresholds and write reports.
    Hil(cli::hil::Args),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rustdds=error,ros2_client=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // ROS owns everything after `--ros-args`; clap parses the rest.
    let (argv, ros_args) = cli::run::split_ros_args(std::env::args().collect());
    match Cli::parse_from(argv).command {
        Command::Run(mut args) => {
            args.ros_args = ros_args;
            cli::run::run(args)
        }
        Command::Sim(args) => cli::sim::run(args),
        Command::CheckModel(args) => cli::check_model::run(args),
        Command::Compile(args) => cli::compile::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::BenchModel(args) => cli::bench_model::run(args),
        Command::BenchPlan(args) => cli::bench_plan::run(args),
        Command::BenchQuality(args) => cli::bench_quality::run(args),
        Command::BenchNode(args) => cli::bench_node::run(args),
        Command::Hil(args) => cli::hil::run(args),
    }
}
