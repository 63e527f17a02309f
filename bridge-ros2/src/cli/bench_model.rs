//! `augur bench-model <pkg>`: per-graph latency and FLOP/s of the world model on
//! Augur's executors (the MLP executor where it applies, else tract; or one forced),
//! optionally beside onnxruntime on the same ONNX files, measured in the same run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use augur_planner::WorldModel;
use augur_runtime::model::peak::measure_matmul;
use augur_runtime::model::{Executor, GraphRole, ModelPackage, PrepareOptions, TractWorldModel};
use augur_runtime::resources::resident_memory;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use super::peer_script;

/// Arguments of `augur bench-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package folder (holds manifest.toml).
    pub package: PathBuf,
    /// Rows per model call.
    #[arg(long, default_value_t = 512)]
    pub batch: usize,
    /// Threads for matrix products.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Timed calls per graph.
    #[arg(long, default_value_t = 200)]
    pub iters: usize,
    /// Untimed calls per graph before timing.
    #[arg(long, default_value_t = 20)]
    pub warmup: usize,
    /// Also run onnxruntime on the same ONNX files (runtime/benches/onnxruntime_peer.py).
    #[arg(long)]
    pub peer: bool,
    /// Python interpreter with onnxruntime for --peer.
    #[arg(long, env = "AUGUR_PYTHON", default_value = "python3")]
    pub python: PathBuf,
    /// Ignore compiled artifacts and load the ONNX files.
    #[arg(long)]
    pub no_compiled: bool,
    /// Which executor runs the graphs.
    #[arg(long, value_enum, default_value = "auto")]
    pub executor: ExecutorArg,
}

/// `--executor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorArg {
    /// The MLP executor where the graph allows it, tract for the rest (what the node runs).
    Auto,
    /// tract for every graph.
    Tract,
    /// The MLP executor for every graph (fails on one it does not support).
    Mlp,
}

impl From<ExecutorArg> for Executor {
    fn from(e: ExecutorArg) -> Executor {
        match e {
            ExecutorArg::Auto => Executor::Auto,
            ExecutorArg::Tract => Executor::Tract,
            ExecutorArg::Mlp => Executor::Mlp,
        }
    }
}

/// One graph's timing.
#[derive(Debug, Clone)]
struct Timing {
    median: Duration,
    p99: Duration,
}

/// What the peer script prints.
#[derive(Debug, Deserialize)]
struct PeerTiming {
    version: String,
    median_us: f64,
    p99_us: f64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch >= 1 && args.iters >= 1,
        "--batch and --iters must be >= 1"
    );
    let start = Instant::now();
    let package = ModelPackage::open_with(&args.package, !args.no_compiled)?;
    let loaded = start.elapsed();
    let options = PrepareOptions {
        batch_sizes: vec![args.batch],
        encoder_batch_sizes: vec![args.batch],
        threads: args.threads,
        executor: args.executor.into(),
    };
    let mut model = TractWorldModel::from_package(&package, &options)?;
    let cold_start = start.elapsed();
    let memory = resident_memory();
    let source = package
        .source(GraphRole::Dynamics)
        .context("package has a dynamics graph")?;
    drop(package);

    println!(
        "{}: batch {}, {} thread(s), graphs from {:?}",
        args.package.display(),
        args.batch,
        args.threads,
        source
    );
    println!(
        "cold start: load {:.1} ms, load + optimise {:.1} ms; resident memory {}",
        loaded.as_secs_f64() * 1e3,
        cold_start.as_secs_f64() * 1e3,
        memory.map_or("n/a".into(), |m| format!(
            "{:.1} MB (peak {:.1} MB)",
            m.current as f64 / 1e6,
            m.peak as f64 / 1e6
        ))
    );
    println!(
        "{:<9} {:<9} {:>11} {:>11} {:>12} {:>9}{}",
        "graph",
        "executor",
        "median",
        "p99",
        "rows/s",
        "GFLOP/s",
        if args.peer {
            "   onnxruntime median   Augur speed-up"
        } else {
            ""
        }
    );
    let dims = model.dims();
    for role in [
        GraphRole::Encoder,
        GraphRole::Filter,
        GraphRole::Dynamics,
        GraphRole::Value,
        GraphRole::Policy,
        GraphRole::Decoder,
    ] {
        let Some(graph) = model.graph(role) else {
            continue;
        };
        let flops = graph.flops(args.batch).unwrap_or(0);
        let executor = if graph.uses_mlp_executor() {
            "mlp"
        } else {
            "tract"
        };
        let timing = time_graph(&mut model, role, args.batch, dims, args.warmup, args.iters)?;
        let secs = timing.median.as_secs_f64();
        let mut line = format!(
            "{:<9} {:<9} {:>8.1} µs {:>8.1} µs {:>12.0} {:>9.2}",
            role.name(),
            executor,
            secs * 1e6,
            timing.p99.as_secs_f64() * 1e6,
            args.batch as f64 / secs,
            flops as f64 / secs / 1e9
        );
        if args.peer {
            let peer = run_peer(&args, role)?;
            line += &format!(
                "   {:>10.1} µs (p99 {:.1}, ort {})   {:.2}x",
                peer.median_us,
                peer.p99_us,
                peer.version,
                peer.median_us / (secs * 1e6)
            );
        }
        println!("{line}");
    }
    // The yardstick in this run: how fast this core multiplies at all, so the GFLOP/s
    // above read as a share of what the machine can do.
    let layer = measure_matmul([512, 384, 384], args.threads, 200)?;
    println!(
        "yardstick: tract-linalg's 512x384x384 product on {} thread(s): {:.1} GFLOP/s \
         (median {:.1})",
        args.threads,
        layer.peak_gflops(),
        layer.median_gflops()
    );
    Ok(())
}

fn time_graph(
    model: &mut TractWorldModel,
    role: GraphRole,
    batch: usize,
    dims: augur_planner::ModelDims,
    warmup: usize,
    iters: usize,
) -> anyhow::Result<Timing> {
    let (o, l, a) = (dims.obs_dim, dims.latent_dim, dims.action_dim);
    let pattern = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0)
            .collect()
    };
    let (obs, z, action) = (pattern(batch * o), pattern(batch * l), pattern(batch * a));
    // Image models: the encoder takes frames (normalised pixels in [-0.5, 0.5]) and the
    // decoder returns one frame per latent.
    let image_dim = model.image_dim();
    let image: Vec<f32> = pattern(batch * image_dim).iter().map(|v| v / 2.0).collect();
    let frame_len = model
        .manifest()
        .image
        .first()
        .map_or(0, |input| input.frame_len());
    let mut frame_out = vec![0.0; batch * frame_len];
    let is_first = vec![0.0; batch];
    let (mut z_out, mut r_out, mut a_out, mut a2_out, mut obs_out) = (
        vec![0.0; batch * l],
        vec![0.0; batch],
        vec![0.0; batch * a],
        vec![0.0; batch * a],
        vec![0.0; batch * o],
    );
    let mut call = |model: &mut TractWorldModel| -> anyhow::Result<()> {
        match role {
            GraphRole::Encoder if image_dim > 0 => model.encode_image(&image, &obs, &mut z_out)?,
            GraphRole::Encoder => model.encode(&obs, &mut z_out)?,
            // A continuing step (`is_first` = 0), the one a control cycle runs.
            GraphRole::Filter => model.filter(&z, &action, &obs, &is_first, &mut z_out)?,
            GraphRole::Dynamics => model.step(&z, &action, &mut z_out, &mut r_out)?,
            GraphRole::Value => model.value(&z, &mut r_out)?,
            GraphRole::Policy => model.policy(&z, &mut a_out, &mut a2_out)?,
            GraphRole::Decoder if frame_len > 0 => model.decode_frame(&z, &mut frame_out)?,
            GraphRole::Decoder => model.decode(&z, &mut obs_out)?,
        }
        Ok(())
    };
    for _ in 0..warmup {
        call(model)?;
    }
    let bar = ProgressBar::new(iters as u64).with_message(role.name());
    bar.set_style(
        ProgressStyle::with_template("  {msg:<9} [{bar:30}] {pos}/{len}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        call(model)?;
        samples.push(t.elapsed());
        bar.inc(1);
    }
    bar.finish_and_clear();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Ok(Timing {
        median: at(0.5),
        p99: at(0.99),
    })
}

fn run_peer(args: &Args, role: GraphRole) -> anyhow::Result<PeerTiming> {
    let script = peer_script::find("runtime/benches/onnxruntime_peer.py")?;
    let stdout = peer_script::run(
        &args.python,
        &script,
        &[
            "--model".into(),
            args.package.display().to_string(),
            "--graph".into(),
            role.name().into(),
            "--batch".into(),
            args.batch.to_string(),
            "--threads".into(),
            args.threads.to_string(),
            "--iters".into(),
            args.iters.to_string(),
            "--warmup".into(),
            args.warmup.to_string(),
        ],
        "onnxruntime peer",
    )?;
    peer_script::last_json(&stdout, "onnxruntime peer")
}
