//! Closed loop on the gymnasium-exact pendulum with the shipped world model: both
//! planners swing it up and hold it, over 20 seeded episodes of 200 steps from random
//! starts (gymnasium's start distribution). The budget is in model transitions, so
//! the result is deterministic and independent of machine speed.

use std::path::Path;

use augur_hil::closed_loop::run_pendulum_episode;
use augur_planner::{ActionConfig, AnyPlanner, Budget, MppiConfig, PlannerConfig, WorldModel};
use augur_runtime::model::{Manifest, PrepareOptions, TractWorldModel};

const EPISODES: u64 = 20;

fn pendulum() -> TractWorldModel {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum");
    let options = PrepareOptions {
        batch_sizes: vec![1, 24, 64, 128, 256, 512],
        ..PrepareOptions::default()
    };
    TractWorldModel::load(&dir, &options).expect("pendulum package loads")
}

fn manifest() -> Manifest {
    pendulum().manifest().clone()
}

fn mean_return(config: PlannerConfig, transitions: u64) -> (f64, Vec<f64>) {
    let mut model = pendulum();
    let action = ActionConfig::new(vec![-2.0], vec![2.0]);
    let mut planner = AnyPlanner::new(config, action, model.dims()).expect("valid planner config");
    let returns: Vec<f64> = (0..EPISODES)
        .map(|seed| {
            run_pendulum_episode(&mut model, &mut planner, seed, 200, || {
                Budget::transitions(transitions)
            })
            .expect("episode runs")
            .total_return
        })
        .collect();
    (returns.iter().sum::<f64>() / returns.len() as f64, returns)
}

#[test]
fn tree_search_swings_up_the_pendulum_with_mean_return_above_minus_200() {
    // The shipped settings: the manifest's discount and training horizon.
    let config = PlannerConfig::Tree(manifest().tree_config());
    let (mean, returns) = mean_return(config, 2048);
    println!(
        "tree search, 2048 transitions per plan: mean return {mean:.1}, episodes {returns:.1?}"
    );
    assert!(mean >= -200.0, "mean return {mean:.1}: {returns:.1?}");
}

#[test]
fn mppi_swings_up_the_pendulum_with_mean_return_above_minus_200() {
    let config = PlannerConfig::Mppi(MppiConfig {
        samples: 128,
        iterations: 4,
        elites: 32,
        prior_trajectories: 16,
        ..manifest().mppi_config()
    });
    let (mean, returns) = mean_return(config, u64::MAX);
    println!("MPPI 128 samples x 4 iterations: mean return {mean:.1}, episodes {returns:.1?}");
    assert!(mean >= -200.0, "mean return {mean:.1}: {returns:.1?}");
}
