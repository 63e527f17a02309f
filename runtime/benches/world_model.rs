//! Criterion benchmarks of tract world-model calls at the planner's batch sizes.
//! `cargo bench -p augur-runtime --bench world_model`. The onnxruntime peer on the
//! same ONNX is `augur bench-model <pkg> --peer` (one process, same run).

use std::hint::black_box;
use std::path::Path;

use augur_planner::WorldModel;
use augur_runtime::model::{PrepareOptions, TractWorldModel};
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

fn dynamics(c: &mut Criterion) {
    let mut group = c.benchmark_group("dynamics");
    for (name, batch) in [("bench-1m", 512usize), ("pendulum", 512), ("pendulum", 64)] {
        let options = PrepareOptions {
            batch_sizes: vec![batch],
            encoder_batch_sizes: vec![1],
            threads: 1,
            ..PrepareOptions::default()
        };
        let mut model = TractWorldModel::load(&package(name), &options).expect("package loads");
        let dims = model.dims();
        let z = pattern(batch * dims.latent_dim);
        let a = pattern(batch * dims.action_dim);
        let mut z_next = vec![0.0; batch * dims.latent_dim];
        let mut reward = vec![0.0; batch];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new(name, batch), &batch, |b, _| {
            b.iter(|| {
                model
                    .step(black_box(&z), black_box(&a), &mut z_next, &mut reward)
                    .expect("step")
            })
        });
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

criterion_group!(benches, dynamics, cold_start);
criterion_main!(benches);
