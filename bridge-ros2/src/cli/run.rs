//! `augur run`: the ROS 2 node.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use augur_runtime::control::Trigger;
use augur_runtime::model::manifest::Manifest;

use crate::node::launch::resolve;
use crate::node::params::parameter_names;
use crate::node::Node;
use crate::transport::{Transport, TransportKind, TransportOptions};

/// Arguments of `augur run` (ROS arguments follow `--ros-args`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package folder.
    #[arg(long)]
    pub model: PathBuf,
    /// `rate`: plan every period; `observation`: once per new observation.
    #[arg(long)]
    pub trigger: Option<Trigger>,
    /// Transport: DDS (ros2-client) or zenoh (rmw_zenoh's key expressions).
    #[arg(long, value_enum, default_value = "dds")]
    pub transport: TransportKind,
    /// zenoh endpoints to connect to (default tcp/127.0.0.1:7447, the rmw_zenoh router).
    #[arg(long = "zenoh-connect")]
    pub zenoh_connect: Vec<String>,
    /// zenoh endpoints to listen on.
    #[arg(long = "zenoh-listen")]
    pub zenoh_listen: Vec<String>,
    /// Record inputs, commands and plan statistics to this MCAP file.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Print every parameter name with its description and exit.
    #[arg(long)]
    pub list_params: bool,
    /// Check the parameters and exit.
    #[arg(long)]
    pub check_params: bool,
    /// Stop after this many seconds (default: until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// `--ros-args ...` (split off before clap parses).
    #[arg(skip)]
    pub ros_args: Vec<String>,
}

/// Runs the node until Ctrl-C (or `--duration`).
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list_params {
        // Listed even when the parameters do not resolve: then without the
        // per-source names, which come from `source_names`.
        let (manifest, sources) = match resolve(&args.model, args.trigger, &args.ros_args) {
            Ok(resolved) => {
                let sources = resolved
                    .params
                    .observation
                    .sources()
                    .iter()
                    .map(|s| s.name.clone())
                    .collect();
                (resolved.manifest, sources)
            }
            Err(_) => (Manifest::load(&args.model)?, Vec::new()),
        };
        for (name, description) in parameter_names(&manifest, &sources) {
            println!("{name}\t{description}");
        }
        return Ok(());
    }
    let resolved = resolve(&args.model, args.trigger, &args.ros_args)?;
    if args.check_params {
        println!("parameters OK");
        return Ok(());
    }
    // Before the transport starts its threads: they inherit the ingest affinity.
    resolved.params.realtime.apply_to_process()?;
    let options = TransportOptions {
        kind: args.transport,
        node_name: resolved.node_name.clone(),
        namespace: resolved.namespace.clone(),
        zenoh_connect: args.zenoh_connect.clone(),
        zenoh_listen: args.zenoh_listen.clone(),
        loopback_only: false,
        zenoh_config: resolved.params.zenoh_config.clone(),
        max_message_bytes: resolved.params.max_message_bytes,
        enclave: resolved.enclave.clone(),
    };
    let transport = Arc::new(Transport::open(&options)?);
    let node = Node::start(resolved, transport, args.record.as_deref())?;
    tracing::info!("augur node running");

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .context("installing the Ctrl-C handler")?;
    }
    let started = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed)
        && args
            .duration
            .is_none_or(|d| started.elapsed().as_secs_f64() < d)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let diagnostics = node.diagnostics();
    let summary = node.stop();
    tracing::info!(
        cycles = diagnostics.cycles,
        safe_cycles = diagnostics.safe_cycles,
        deadline_misses = diagnostics.deadline_misses,
        messages_accepted = diagnostics.ingest.accepted,
        messages_malformed = diagnostics.ingest.malformed,
        commands = summary.commands,
        "augur node stopped"
    );
    Ok(())
}

/// Splits `argv` at `--ros-args`: clap parses the head, ROS rules the tail.
pub fn split_ros_args(argv: Vec<String>) -> (Vec<String>, Vec<String>) {
    match argv.iter().position(|a| a == "--ros-args") {
        Some(i) => {
            let tail = argv[i..].to_vec();
            (argv[..i].to_vec(), tail)
        }
        None => (argv, Vec::new()),
    }
}
