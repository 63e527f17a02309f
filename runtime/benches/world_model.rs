//! Criterion benchmarks of world-model calls at the planner's batch sizes, on tract
//! and on the MLP executor. `cargo bench -p augur-runtime --bench world_model`.
//! The run first prints a table: per package, graph and batch (1, 64, 512), the median
//! time per call on each executor and its GFLOP/s against tract-linalg's single-thread
//! matmul peak measured in the same run (`model::peak`). The onnxruntime peer on the
//! same ONNX is `augur bench-model <pkg> --peer` (one process, same run).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use augur_planner::WorldModel;
use augur_runtime::model::peak::measure_matmul;
use augur_runtime::model::{Executor, GraphRole, PrepareOptions, TractWorldModel};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn package(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models")
        .join(name)
}

fn pattern(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0)
        .collect()
}

const BATCHES: [usize; 3] = [1, 64, 512];

fn load(name: &str, executor: Executor) -> TractWorldModel {
    let options = PrepareOptions {
        batch_sizes: BATCHES.to_vec(),
        encoder_batch_sizes: BATCHES.to_vec(),
        threads: 1,
        executor,
    };
    TractWorldModel::load(&package(name), &options).expect("package loads")
}

/// One call of `role` on `n` rows, with buffers made once.
struct Call {
    role: GraphRole,
    n: usize,
    x: Vec<f32>,
    action: Vec<f32>,
    out: Vec<f32>,
    out2: Vec<f32>,
    // Filter only: the new observation and `is_first` (0: a continuing step).
    obs: Vec<f32>,
    first: Vec<f32>,
}

impl Call {
    fn new(model: &TractWorldModel, role: GraphRole, n: usize) -> Call {
        let d = model.dims();
        let (input, out, out2) = match role {
            GraphRole::Encoder => (d.obs_dim, d.latent_dim, 0),
            GraphRole::Filter => (d.latent_dim, d.latent_dim, 0),
            GraphRole::Dynamics => (d.latent_dim, d.latent_dim, 1),
            GraphRole::Value => (d.latent_dim, 1, 0),
            GraphRole::Policy => (d.latent_dim, d.action_dim, d.action_dim),
            GraphRole::Decoder => (d.latent_dim, d.obs_dim, 0),
        };
        Call {
            role,
            n,
            x: pattern(n * input),
            action: pattern(n * d.action_dim),
            out: vec![0.0; n * out],
            out2: vec![0.0; n * out2],
            obs: pattern(n * d.obs_dim),
            first: vec![0.0; n],
        }
    }

    fn run(&mut self, model: &mut TractWorldModel) {
        let x = black_box(&self.x);
        match self.role {
            GraphRole::Encoder => model.encode(x, &mut self.out),
            GraphRole::Filter => {
                model.filter(x, &self.action, &self.obs, &self.first, &mut self.out)
            }
            GraphRole::Dynamics => model.step(x, &self.action, &mut self.out, &mut self.out2),
            GraphRole::Value => model.value(x, &mut self.out),
            GraphRole::Policy => model.policy(x, &mut self.out, &mut self.out2),
            GraphRole::Decoder => model.decode(x, &mut self.out),
        }
        .expect("model call");
    }

    /// Median time per call over about 0.3 s (at least 5 calls) after a warm-up.
    fn median(&mut self, model: &mut TractWorldModel) -> Duration {
        for _ in 0..3 {
            self.run(model);
        }
        let start = Instant::now();
        let mut samples = Vec::new();
        while samples.len() < 5 || (start.elapsed().as_secs_f64() < 0.3 && samples.len() < 2000) {
            let t = Instant::now();
            self.run(model);
            samples.push(t.elapsed());
        }
        samples.sort_unstable();
        samples[samples.len() / 2]
    }
}

/// Prints tract vs MLP executor per graph and batch, with GFLOP/s against the peak.
fn executor_table(_c: &mut Criterion) {
    let big = measure_matmul([1024, 1024, 1024], 1, 20).expect("peak");
    let layer = measure_matmul([512, 384, 384], 1, 200).expect("peak");
    let peak = big.peak_gflops().max(layer.peak_gflops());
    println!(
        "\nmatmul peak, 1 thread: 1024^3 {:.1} GFLOP/s, 512x384x384 {:.1} GFLOP/s; using {peak:.1}",
        big.peak_gflops(),
        layer.peak_gflops()
    );
    println!(
        "{:<9} {:<9} {:>5} {:>11} {:>11} {:>8} {:>9} {:>9} {:>7} {:>7}",
        "package",
        "graph",
        "batch",
        "tract",
        "mlp",
        "speedup",
        "tract GF",
        "mlp GF",
        "tract%",
        "mlp%"
    );
    for name in ["pendulum", "bench-1m"] {
        let mut tract = load(name, Executor::Tract);
        let mut mlp = load(name, Executor::Mlp);
        for role in [
            GraphRole::Encoder,
            GraphRole::Dynamics,
            GraphRole::Value,
            GraphRole::Policy,
            GraphRole::Decoder,
        ] {
            let Some(flops_at) = tract
                .graph(role)
                .map(|g| BATCHES.map(|n| g.flops(n).unwrap_or(0)))
            else {
                continue;
            };
            for (n, flops) in BATCHES.into_iter().zip(flops_at) {
                // The same work counted for both: tract's FLOPs of the graph at this batch.
                let flops = flops as f64;
                let t = Call::new(&tract, role, n).median(&mut tract);
                let m = Call::new(&mlp, role, n).median(&mut mlp);
                let gf = |d: Duration| flops / d.as_secs_f64() / 1e9;
                println!(
                    "{:<9} {:<9} {:>5} {:>9.1}us {:>9.1}us {:>7.2}x {:>9.2} {:>9.2} {:>6.1}% {:>6.1}%",
                    name,
                    role.name(),
                    n,
                    t.as_secs_f64() * 1e6,
                    m.as_secs_f64() * 1e6,
                    t.as_secs_f64() / m.as_secs_f64(),
                    gf(t),
                    gf(m),
                    100.0 * gf(t) / peak,
                    100.0 * gf(m) / peak,
                );
            }
        }
    }
    println!();
}

fn dynamics(c: &mut Criterion) {
    let mut group = c.benchmark_group("dynamics");
    for (name, batch) in [("bench-1m", 512usize), ("pendulum", 512), ("pendulum", 64)] {
        for (label, executor) in [("tract", Executor::Tract), ("mlp", Executor::Mlp)] {
            let options = PrepareOptions {
                batch_sizes: vec![batch],
                encoder_batch_sizes: vec![1],
                threads: 1,
                executor,
            };
            let mut model = TractWorldModel::load(&package(name), &options).expect("package loads");
            let mut call = Call::new(&model, GraphRole::Dynamics, batch);
            group.throughput(Throughput::Elements(call.n as u64));
            group.bench_with_input(
                BenchmarkId::new(format!("{name}/{label}"), batch),
                &batch,
                |b, _| b.iter(|| call.run(&mut model)),
            );
        }
    }
    group.finish();
}

fn cold_start(c: &mut Criterion) {
    let mut group = c.benchmark_group("cold_start");
    group.sample_size(10);
    for name in ["bench-1m", "pendulum"] {
        group.bench_function(name, |b| {
            b.iter(|| {
                TractWorldModel::load(&package(name), &PrepareOptions::default())
                    .expect("package loads")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, executor_table, dynamics, cold_start);
criterion_main!(benches);
