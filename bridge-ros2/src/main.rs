//! `augur`: the on-robot world-model runtime's command line. The bench subcommands
//! (`sim`, `hil`, `bench-node`, `bench-quality`, `bench-control`) run the `augur-hil` binary.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use augur_bridge_ros2::cli;

/// Augur runs a learned world model on a robot and plans with it.
#[derive(Debug, Parser)]
#[command(name = "augur", version, about, after_help = cli::bench_tools::help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ROS 2 node (arguments for ROS follow `--ros-args`).
    Run(cli::run::Args),
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
    /// A bench tool of `augur-hil` (sim, hil, bench-node, bench-quality,
    /// bench-control).
    #[command(external_subcommand)]
    Bench(Vec<OsString>),
}

fn main() -> anyhow::Result<()> {
    // ROS owns everything after `--ros-args`; clap parses the rest.
    let (argv, ros_args) = cli::run::split_ros_args(std::env::args().collect());
    cli::logging::init();
    match Cli::parse_from(argv).command {
        Command::Run(mut args) => {
            args.ros_args = ros_args;
            cli::run::run(args)
        }
        Command::CheckModel(args) => cli::check_model::run(args),
        Command::Compile(args) => cli::compile::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::BenchModel(args) => cli::bench_model::run(args),
        Command::BenchPlan(args) => cli::bench_plan::run(args),
        Command::Bench(mut args) => {
            args.extend(ros_args.into_iter().map(OsString::from));
            cli::bench_tools::exec(args)
        }
    }
}
