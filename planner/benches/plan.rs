//! Plan latency with a hand-written MLP world model of roughly TD-MPC2's per-row cost
//! (latent 64, hidden 128, 4 actions), single-threaded and split over two replicas.
//! The tract-backed benches live in the runtime crate.

use std::hint::black_box;

use augur_planner::testing::Mlp;
use augur_planner::{
    ActionConfig, Budget, MppiConfig, MppiPlanner, Planner, SplitModel, TreeConfig, TreePlanner,
    WorldModel,
};
use criterion::{criterion_group, criterion_main, Criterion};

const LATENT: usize = 64;
const ACTIONS: usize = 4;

fn mlp() -> Mlp {
    Mlp::new(LATENT, ACTIONS, 128, 1024, 1.0, 17)
}

fn bench_planner<P: Planner, M: WorldModel>(
    c: &mut Criterion,
    name: &str,
    planner: &mut P,
    model: &mut M,
    budget: Budget,
) {
    let z0 = vec![0.1f32; LATENT];
    planner.plan(model, &z0, budget).expect("warm-up plan");
    c.bench_function(name, |b| {
        b.iter(|| {
            black_box(
                planner
                    .plan(model, black_box(&z0), budget)
                    .expect("plan")
                    .action()[0],
            )
        })
    });
}

fn plans(c: &mut Criterion) {
    let action = ActionConfig::symmetric(ACTIONS, 1.0);
    let dims = mlp().dims();
    let tree_budget = Budget::transitions(4_096);
    for replicas in [1usize, 2] {
        let mut model = SplitModel::new((0..replicas).map(|_| mlp()).collect()).expect("replicas");
        let mut tree = TreePlanner::new(TreeConfig::default(), action.clone(), dims).expect("tree");
        bench_planner(
            c,
            &format!("tree/4096 transitions/{replicas} threads"),
            &mut tree,
            &mut model,
            tree_budget,
        );
        let mut mppi = MppiPlanner::new(MppiConfig::tdmpc2(), action.clone(), dims).expect("mppi");
        bench_planner(
            c,
            &format!("mppi/tdmpc2/{replicas} threads"),
            &mut mppi,
            &mut model,
            Budget::unlimited(),
        );
    }
}

/// One batched dynamics call of 512 rows, to isolate the threading speed-up.
fn step_calls(c: &mut Criterion) {
    let rows = 512;
    let z = vec![0.1f32; rows * LATENT];
    let a = vec![0.2f32; rows * ACTIONS];
    let mut z_next = vec![0.0f32; rows * LATENT];
    let mut reward = vec![0.0f32; rows];
    for replicas in [1usize, 2] {
        let mut model = SplitModel::new((0..replicas).map(|_| mlp()).collect()).expect("replicas");
        c.bench_function(&format!("step/512 rows/{replicas} threads"), |b| {
            b.iter(|| {
                model
                    .step(black_box(&z), &a, &mut z_next, &mut reward)
                    .expect("step")
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = step_calls, plans
}
criterion_main!(benches);
