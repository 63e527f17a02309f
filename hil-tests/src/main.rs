//! `augur-hil`: Augur's bench tools. `augur sim`, `augur hil`, `augur bench-node` and
//! `augur bench-quality`, `augur bench-control` hand over to this binary; it can also be run as it is.

use clap::{Parser, Subcommand};

use augur_hil::cli;

/// Augur's bench tools: the simulated pendulum, bench scenarios, node and planner
/// benchmarks.
#[derive(Debug, Parser)]
#[command(name = "augur", bin_name = "augur", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the main job on the built-in default: the simulated pendulum.
    Sim(cli::sim::Args),
    /// Run bench scenarios (faults injected between a plant and the real node),
    /// judge them against their thresholds and write reports.
    Hil(cli::hil::Args),
    /// Measure the node's own latency, control-period jitter and memory over a real
    /// transport (the node as a child process, this process as the robot).
    BenchNode(cli::bench_node::Args),
    /// Measure plan quality per millisecond: closed-loop pendulum returns of both
    /// planners against their plan time, over transition and deadline budgets.
    BenchQuality(cli::bench_quality::Args),
    /// Measure control quality: return, torque change per step while balanced and
    /// steady-state error of the package's node settings and variants of them, on
    /// gymnasium's own pendulum starts, compared start by start.
    BenchControl(cli::bench_control::Args),
    /// Rank policies in a learned simulator against the reference plant: returns in
    /// both worlds, rank correlation, open-loop prediction error (`eval merge` joins
    /// shards).
    Eval(cli::eval::Args),
    /// The transport floor for `bench-node --echo`: answers each camera frame at once.
    #[command(hide = true)]
    TransportEcho(cli::transport_echo::Args),
}

fn main() -> anyhow::Result<()> {
    augur_bridge_ros2::cli::logging::init();
    match Cli::parse().command {
        Command::Sim(args) => cli::sim::run(args),
        Command::Hil(args) => cli::hil::run(args),
        Command::BenchNode(args) => cli::bench_node::run(args),
        Command::BenchQuality(args) => cli::bench_quality::run(args),
        Command::BenchControl(args) => cli::bench_control::run(args),
        Command::Eval(args) => cli::eval::run(args),
        Command::TransportEcho(args) => cli::transport_echo::run(args),
    }
}
