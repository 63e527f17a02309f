//! Plan latency with the tract world model: TD-MPC2's MPPI preset and the tree search at
//! the same number of model transitions, on `models/bench-1m` and `models/pendulum`, on
//! one thread and split over two replicas; and tract's f32 matmul peak, the yardstick
//! for the model's FLOP/s (criterion's elements/s are FLOP/s there).
//! `cargo bench -p augur-runtime --bench plan`. Median and p99 with FLOP/s and plan
//! quality: `augur bench-plan <pkg>`.

use std::hint::black_box;
use std::path::Path;

use augur_planner::{
    ActionConfig, Budget, MppiPlanner, Planner, SplitModel, TreePlanner, WorldModel,
};
use augur_runtime::model::peak::matmul_plan;
use augur_runtime::model::{PrepareOptions, TractWorldModel};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tract_onnx::prelude::*;

/// The planners' call sizes (see `augur bench-plan`).
const BATCH_SIZES: [usize; 11] = [1, 8, 16, 24, 32, 64, 128, 192, 256, 384, 512];

fn load(name: &str) -> TractWorldModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name);
    let options = PrepareOptions {
        batch_sizes: BATCH_SIZES.to_vec(),
        encoder_batch_sizes: vec![1],
        threads: 1,
        ..PrepareOptions::default()
    };
    TractWorldModel::load(&dir, &options).expect("package loads")
}

fn bench_planner<P: Planner, M: WorldModel>(
    c: &mut Criterion,
    name: &str,
    planner: &mut P,
    model: &mut M,
    z0: &[f32],
    budget: Budget,
) {
    planner.plan(model, z0, budget).expect("warm-up plan");
    c.bench_function(name, |b| {
        b.iter(|| {
            black_box(
                planner
                    .plan(model, black_box(z0), budget)
                    .expect("plan")
                    .action()[0],
            )
        })
    });
}

fn plans(c: &mut Criterion) {
    for name in ["bench-1m", "pendulum"] {
        let mut probe = load(name);
        let m = probe.manifest().clone();
        let dims = probe.dims();
        let action = ActionConfig::new(
            m.action.iter().map(|a| a.low).collect(),
            m.action.iter().map(|a| a.high).collect(),
        );
        let obs: Vec<f32> = (0..dims.obs_dim)
            .map(|i| ((i as f32 * 0.618_034).fract() - 0.5) * 2.0)
            .collect();
        let mut z0 = vec![0.0; dims.latent_dim];
        probe.first_state(&obs, &mut z0).expect("encode");
        let mppi_config = m.mppi_config();
        let tree_config = m.tree_config();
        // The tree gets the preset's number of transitions.
        let transitions = MppiPlanner::new(mppi_config.clone(), action.clone(), dims)
            .expect("mppi")
            .plan(&mut probe, &z0, Budget::unlimited())
            .expect("plan")
            .stats()
            .model_transitions;
        drop(probe);
        for replicas in [1usize, 2] {
            let mut model =
                SplitModel::new((0..replicas).map(|_| load(name)).collect()).expect("replicas");
            let mut mppi =
                MppiPlanner::new(mppi_config.clone(), action.clone(), dims).expect("mppi");
            bench_planner(
                c,
                &format!("plan/{name}/mppi tdmpc2/{replicas} threads"),
                &mut mppi,
                &mut model,
                &z0,
                Budget::unlimited(),
            );
            let mut tree =
                TreePlanner::new(tree_config.clone(), action.clone(), dims).expect("tree");
            bench_planner(
                c,
                &format!("plan/{name}/tree {transitions} transitions/{replicas} threads"),
                &mut tree,
                &mut model,
                &z0,
                Budget::transitions(transitions),
            );
        }
    }
}

/// tract-linalg's f32 kernels on a large product and on the models' hidden-layer shape.
fn matmul_peak(c: &mut Criterion) {
    let mut group = c.benchmark_group("matmul_peak");
    for shape in [[1024usize, 1024, 1024], [512, 384, 384]] {
        for threads in [1usize, 2] {
            let [m, k, n] = shape;
            let plan = matmul_plan(shape, threads).expect("matmul plan");
            let mut state = TypedSimpleState::new(&plan).expect("state");
            let input: TValue = tract_ndarray::Array2::from_elem((m, k), 0.5f32)
                .into_tensor()
                .into();
            group.throughput(Throughput::Elements(2 * (m * k * n) as u64));
            group.bench_function(
                BenchmarkId::new(format!("{m}x{k}x{n}"), format!("{threads} threads")),
                |b| b.iter(|| state.run(tvec![input.clone()]).expect("run")),
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = matmul_peak, plans
}
criterion_main!(benches);
