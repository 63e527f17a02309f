//! `augur bench-plan <pkg>`: plan latency (median, p99), model transitions per second,
//! achieved FLOP/s against the best single-core matrix product measured in the same
//! run (tract-linalg's, and with `--matmul-peers` onnxruntime's and numpy's BLAS on
//! the same 512x384x384 product, `planner/benches/matmul_peers.py`), and plan
//! quality, for both planners on one thread and split over several; optionally beside
//! TD-MPC2's planning loop in PyTorch (`planner/benches/tdmpc2_reference.py`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use augur_planner::{
    ActionConfig, AnyPlanner, Budget, ModelDims, ModelError, Planner, PlannerConfig, SplitModel,
    TreeConfig, WorldModel,
};
use augur_runtime::model::peak::{measure_dense, measure_matmul};
use augur_runtime::model::{GraphRole, PrepareOptions, TractWorldModel};
use augur_runtime::resources::load_average;
use serde::Deserialize;

use super::peer_script;

/// Arguments of `augur bench-plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model package folder (holds manifest.toml).
    pub package: PathBuf,
    /// Timed plans per configuration.
    #[arg(long, default_value_t = 100)]
    pub plans: usize,
    /// Untimed plans per configuration before timing.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Thread counts to measure; above 1, both `SplitModel` replicas and tract threads.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub threads: Vec<usize>,
    /// Transition budgets per plan; 0 means the MPPI preset's own (TD-MPC2's default
    /// budget), which the tree search then gets too.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub budgets: Vec<u64>,
    /// Rows per tree-search round (`TreeConfig::batch_size`).
    #[arg(long, default_value_t = 64)]
    pub tree_batch: usize,
    /// Also run TD-MPC2's planning loop in PyTorch on the same weights (bench-1m only).
    #[arg(long)]
    pub peer: bool,
    /// Also time the 512x384x384 product on one thread with onnxruntime and numpy's
    /// BLAS, and count the best of all three as the peak.
    #[arg(long)]
    pub matmul_peers: bool,
    /// Python interpreter with torch and onnx for --peer (numpy, onnx and
    /// onnxruntime for --matmul-peers).
    #[arg(long, env = "AUGUR_PYTHON", default_value = "python3")]
    pub python: PathBuf,
}

/// Batch sizes every graph is prepared for: the planners' call sizes (MPPI: 24 prior and
/// 488 sample rows, halved when split; tree: up to 64 rows, shrinking with depth).
const BATCH_SIZES: [usize; 11] = [1, 8, 16, 24, 32, 64, 128, 192, 256, 384, 512];

/// How the model calls of one configuration are executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Execution {
    /// One tract model on the calling thread.
    Single,
    /// `SplitModel` over this many single-threaded replicas.
    Split(usize),
    /// One tract model with this many threads for its matrix products.
    TractThreads(usize),
}

impl Execution {
    fn threads(self) -> usize {
        match self {
            Self::Single => 1,
            Self::Split(n) | Self::TractThreads(n) => n,
        }
    }

    fn label(self) -> String {
        match self {
            Self::Single => "1 thread".into(),
            Self::Split(n) => format!("{n} split"),
            Self::TractThreads(n) => format!("{n} tract"),
        }
    }
}

/// Rows run through each graph, counted around whatever executes the model.
struct Counted<M> {
    model: M,
    dynamics_rows: u64,
    value_rows: u64,
    policy_rows: u64,
}

impl<M: WorldModel> WorldModel for Counted<M> {
    fn dims(&self) -> ModelDims {
        self.model.dims()
    }
    fn max_batch(&self) -> usize {
        self.model.max_batch()
    }
    fn has_value(&self) -> bool {
        self.model.has_value()
    }
    fn has_policy(&self) -> bool {
        self.model.has_policy()
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        self.model.encode(obs, z)
    }
    fn is_recurrent(&self) -> bool {
        self.model.is_recurrent()
    }
    fn filter(
        &mut self,
        z_prev: &[f32],
        action_prev: &[f32],
        obs: &[f32],
        is_first: &[f32],
        z: &mut [f32],
    ) -> Result<(), ModelError> {
        self.model.filter(z_prev, action_prev, obs, is_first, z)
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        self.dynamics_rows += reward.len() as u64;
        self.model.step(z, action, z_next, reward)
    }
    fn value(&mut self, z: &[f32], value: &mut [f32]) -> Result<(), ModelError> {
        self.value_rows += value.len() as u64;
        self.model.value(z, value)
    }
    fn policy(
        &mut self,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        self.policy_rows += (mean.len() / self.model.dims().action_dim.max(1)) as u64;
        self.model.policy(z, mean, log_std)
    }
}

/// FLOPs of one row through each graph.
#[derive(Clone, Copy, Debug)]
struct RowFlops {
    dynamics: f64,
    value: f64,
    policy: f64,
}

/// One configuration's measurements.
struct Measured {
    median: Duration,
    p99: Duration,
    transitions: u64,
    flops: f64,
    mean_value: f64,
    /// Bits of the first plan after a reset (action sequence, then value), to compare
    /// executions for bit-identity.
    cold_bits: Vec<u32>,
}

/// What the PyTorch reference prints as its last line.
#[derive(Debug, Deserialize)]
struct PeerTiming {
    torch: String,
    threads: usize,
    median_ms: f64,
    p99_ms: f64,
    transitions: u64,
    max_abs_error: f64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.plans >= 1 && args.threads.iter().all(|&t| t >= 1),
        "--plans and every --threads must be >= 1"
    );
    let max_threads = args.threads.iter().copied().max().unwrap_or(1);
    println!(
        "{}: {} timed plans per configuration, load average {}",
        args.package.display(),
        args.plans,
        load_average()
    );

    // The yardstick, in this run: tract-linalg's f32 kernels on a large product and on
    // the world model's own hidden-layer shape (fastest of 30 and 200 runs). On T
    // threads the peak is T times the single-thread one: a shared machine's threaded
    // matmul says more about the neighbours than about the cores.
    let mut peak = 0.0f64;
    for threads in 1..=max_threads {
        let big = measure_matmul([1024, 1024, 1024], threads, 30)?;
        let layer = measure_matmul([512, 384, 384], threads, 200)?;
        println!(
            "matmul peak, {threads} thread(s): 1024x1024x1024 {:.1} GFLOP/s (median {:.1}); \
             512x384x384 {:.1} GFLOP/s (median {:.1})",
            big.peak_gflops(),
            big.median_gflops(),
            layer.peak_gflops(),
            layer.median_gflops()
        );
        if threads == 1 {
            // The best of the two: large products are limited by packing and cache, the
            // layer shape by little but the kernel.
            peak = big.peak_gflops().max(layer.peak_gflops());
        }
    }
    let (kernel, dense) = measure_dense([512, 384, 384], 200)?;
    println!(
        "Augur's dense kernel ({kernel}), 1 thread: 512x384x384 {:.1} GFLOP/s (median {:.1})",
        dense.peak_gflops(),
        dense.median_gflops()
    );
    if args.matmul_peers {
        let mut best = ("tract-linalg", peak);
        for p in run_matmul_peers(&args)? {
            println!(
                "matmul peer, 1 thread: {} {} 512x384x384 {:.1} GFLOP/s (median {:.1})",
                p.runtime, p.version, p.peak_gflops, p.median_gflops
            );
            if p.peak_gflops > best.1 {
                best = (
                    if p.runtime == "numpy" {
                        "numpy"
                    } else {
                        "onnxruntime"
                    },
                    p.peak_gflops,
                );
            }
        }
        peak = best.1;
        println!(
            "%peak below is of {} ({:.1} GFLOP/s per thread)",
            best.0, peak
        );
    }

    let load = |threads: usize| -> anyhow::Result<TractWorldModel> {
        let options = PrepareOptions {
            batch_sizes: BATCH_SIZES.to_vec(),
            encoder_batch_sizes: vec![1],
            threads,
            ..PrepareOptions::default()
        };
        Ok(TractWorldModel::load(&args.package, &options)?)
    };
    let mut probe = load(1)?;
    let manifest = probe.manifest().clone();
    let dims = probe.dims();
    let per_row = |role: GraphRole| {
        probe
            .graph(role)
            .and_then(|g| g.flops(512))
            .map_or(0.0, |f| f as f64 / 512.0)
    };
    let row_flops = RowFlops {
        dynamics: per_row(GraphRole::Dynamics),
        value: per_row(GraphRole::Value),
        policy: per_row(GraphRole::Policy),
    };
    let obs: Vec<f32> = (0..dims.obs_dim)
        .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0)
        .collect();
    let mut z0 = vec![0.0; dims.latent_dim];
    probe.first_state(&obs, &mut z0)?;
    let action = ActionConfig::new(
        manifest.action.iter().map(|a| a.low).collect(),
        manifest.action.iter().map(|a| a.high).collect(),
    );
    let mppi = PlannerConfig::Mppi(manifest.mppi_config());
    let tree = PlannerConfig::Tree(TreeConfig {
        batch_size: args.tree_batch,
        ..manifest.tree_config()
    });
    let preset_transitions = {
        let mut planner = AnyPlanner::new(mppi.clone(), action.clone(), dims)?;
        planner
            .plan(&mut probe, &z0, Budget::unlimited())?
            .stats()
            .model_transitions
    };
    drop(probe);
    println!(
        "MPPI preset (TD-MPC2: horizon 3, 512 samples, 24 prior, 64 elites, 6 iterations): \
         {preset_transitions} transitions per plan; FLOPs per row: dynamics {:.0}, value {:.0}, policy {:.0}",
        row_flops.dynamics, row_flops.value, row_flops.policy
    );

    let mut executions = vec![Execution::Single];
    for &t in args.threads.iter().filter(|&&t| t > 1) {
        executions.push(Execution::Split(t));
        executions.push(Execution::TractThreads(t));
    }
    println!(
        "{:<6} {:>7} {:<9} {:>9} {:>9} {:>12} {:>8} {:>7} {:>9} {:>9} {:>10}",
        "plan",
        "budget",
        "threads",
        "median",
        "p99",
        "trans/s",
        "GFLOP/s",
        "%peak",
        "value",
        "speed-up",
        "identical"
    );
    for &budget in &args.budgets {
        let transitions = if budget == 0 {
            preset_transitions
        } else {
            budget
        };
        for (name, config) in [("mppi", &mppi), ("tree", &tree)] {
            // The preset runs unbudgeted; everything else stops at the transition count.
            let limit = if name == "mppi" && budget == 0 {
                Budget::unlimited()
            } else {
                Budget::transitions(transitions)
            };
            let mut baseline: Option<Measured> = None;
            for &execution in &executions {
                let planner = AnyPlanner::new(config.clone(), action.clone(), dims)?;
                let m = match execution {
                    Execution::Single => measure(&args, planner, load(1)?, &z0, limit, row_flops)?,
                    Execution::TractThreads(t) => {
                        measure(&args, planner, load(t)?, &z0, limit, row_flops)?
                    }
                    Execution::Split(t) => {
                        let replicas = (0..t).map(|_| load(1)).collect::<anyhow::Result<_>>()?;
                        let split = SplitModel::new(replicas)?;
                        measure(&args, planner, split, &z0, limit, row_flops)?
                    }
                };
                let secs = m.median.as_secs_f64();
                let gflops = m.flops / secs / 1e9;
                let (speed_up, identical) = match &baseline {
                    Some(b) => (
                        format!("{:.2}x", b.median.as_secs_f64() / secs),
                        if b.cold_bits == m.cold_bits {
                            "yes"
                        } else {
                            "no"
                        },
                    ),
                    None => ("".into(), ""),
                };
                println!(
                    "{:<6} {:>7} {:<9} {:>6.2} ms {:>6.2} ms {:>12.0} {:>8.1} {:>6.1}% {:>9.3} {:>9} {:>10}",
                    name,
                    transitions,
                    execution.label(),
                    secs * 1e3,
                    m.p99.as_secs_f64() * 1e3,
                    m.transitions as f64 / secs,
                    gflops,
                    100.0 * gflops / (peak * execution.threads() as f64),
                    m.mean_value,
                    speed_up,
                    identical
                );
                if baseline.is_none() {
                    baseline = Some(m);
                }
            }
        }
    }

    if args.peer {
        for &threads in &args.threads {
            let peer = run_peer(&args, threads)?;
            println!(
                "PyTorch {} TD-MPC2 plan(), {} thread(s): median {:.2} ms, p99 {:.2} ms, \
                 {} transitions per plan ({:.0}/s); weights from the ONNX files (max abs error {:.1e})",
                peer.torch,
                peer.threads,
                peer.median_ms,
                peer.p99_ms,
                peer.transitions,
                peer.transitions as f64 / (peer.median_ms / 1e3),
                peer.max_abs_error
            );
        }
    }
    println!("load average {}", load_average());
    Ok(())
}

/// Times `args.plans` plans of `planner` (warm-started from the previous one, as in a
/// control loop) after a cold plan and `args.warmup` untimed ones.
fn measure<M: WorldModel>(
    args: &Args,
    mut planner: AnyPlanner,
    model: M,
    z0: &[f32],
    budget: Budget,
    row_flops: RowFlops,
) -> anyhow::Result<Measured> {
    let mut model = Counted {
        model,
        dynamics_rows: 0,
        value_rows: 0,
        policy_rows: 0,
    };
    planner.reset();
    let cold = planner.plan(&mut model, z0, budget)?;
    let mut cold_bits: Vec<u32> = cold.actions().iter().map(|v| v.to_bits()).collect();
    cold_bits.push(cold.value().unwrap_or(f32::NAN).to_bits());
    for _ in 0..args.warmup {
        planner.plan(&mut model, z0, budget)?;
    }
    let (d0, v0, p0) = (model.dynamics_rows, model.value_rows, model.policy_rows);
    let mut samples = Vec::with_capacity(args.plans);
    let mut value_sum = 0.0;
    let mut transitions = 0;
    for _ in 0..args.plans {
        let t = Instant::now();
        let plan = planner.plan(&mut model, z0, budget)?;
        samples.push(t.elapsed());
        value_sum += f64::from(plan.value().unwrap_or(f32::NAN));
        transitions += plan.stats().model_transitions;
    }
    let n = args.plans as f64;
    let flops = ((model.dynamics_rows - d0) as f64 * row_flops.dynamics
        + (model.value_rows - v0) as f64 * row_flops.value
        + (model.policy_rows - p0) as f64 * row_flops.policy)
        / n;
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Ok(Measured {
        median: at(0.5),
        p99: at(0.99),
        transitions: (transitions as f64 / n).round() as u64,
        flops,
        mean_value: value_sum / n,
        cold_bits,
    })
}

/// Times TD-MPC2's planning loop in PyTorch on the same package.
fn run_peer(args: &Args, threads: usize) -> anyhow::Result<PeerTiming> {
    let script = peer_script::find("planner/benches/tdmpc2_reference.py")?;
    let stdout = peer_script::run(
        &args.python,
        &script,
        &[
            "--model".into(),
            args.package.display().to_string(),
            "--threads".into(),
            threads.to_string(),
            "--plans".into(),
            args.plans.to_string(),
            "--warmup".into(),
            args.warmup.to_string(),
        ],
        "PyTorch reference",
    )?;
    peer_script::last_json(&stdout, "PyTorch reference")
}

/// One line of `matmul_peers.py`.
#[derive(Debug, Deserialize)]
struct MatmulPeer {
    runtime: String,
    version: String,
    peak_gflops: f64,
    median_gflops: f64,
}

/// Times onnxruntime's and numpy's 512x384x384 product on one thread.
fn run_matmul_peers(args: &Args) -> anyhow::Result<Vec<MatmulPeer>> {
    let script = peer_script::find("planner/benches/matmul_peers.py")?;
    let shape = ["--shape", "512", "384", "384", "--iters", "200"].map(String::from);
    let stdout = peer_script::run(&args.python, &script, &shape, "matmul peers")?;
    let peers = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .with_context(|| format!("parsing the matmul peers' output `{line}`"))
        })
        .collect::<anyhow::Result<Vec<MatmulPeer>>>()?;
    anyhow::ensure!(!peers.is_empty(), "matmul peers printed nothing");
    Ok(peers)
}
