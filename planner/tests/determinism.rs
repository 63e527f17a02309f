//! Same seed, model and inputs give bit-identical plans; other seeds give other plans.

use augur_planner::testing::Mlp;
use augur_planner::{
    ActionConfig, AnyPlanner, Budget, MppiConfig, Planner, PlannerConfig, TreeConfig, WorldModel,
};

fn model() -> Mlp {
    Mlp::new(16, 2, 32, 1024, 1.0, 3)
}

/// Runs a closed loop of `steps` plans (the model's own dynamics as the plant) and
/// returns the bits of every commanded action.
fn closed_loop(config: PlannerConfig, steps: usize) -> Vec<u32> {
    let mut model = model();
    let mut planner =
        AnyPlanner::new(config, ActionConfig::symmetric(2, 1.0), model.dims()).unwrap();
    let mut z = vec![0.3f32; 16];
    let mut z_next = vec![0.0f32; 16];
    let mut reward = [0.0f32];
    let mut bits = Vec::new();
    for _ in 0..steps {
        let plan = planner
            .plan(&mut model, &z, Budget::transitions(3_000))
            .unwrap();
        let action = plan.action().to_vec();
        bits.extend(action.iter().map(|a| a.to_bits()));
        model.step(&z, &action, &mut z_next, &mut reward).unwrap();
        z.copy_from_slice(&z_next);
    }
    bits
}

fn configs(seed: u64) -> [PlannerConfig; 2] {
    [
        PlannerConfig::Tree(TreeConfig {
            seed,
            batch_size: 32,
            ..TreeConfig::default()
        }),
        PlannerConfig::Mppi(MppiConfig {
            seed,
            samples: 128,
            prior_trajectories: 8,
            elites: 16,
            ..MppiConfig::tdmpc2()
        }),
    ]
}

#[test]
fn same_seed_gives_bit_identical_actions_over_many_steps() {
    for (a, b) in configs(42).into_iter().zip(configs(42)) {
        assert_eq!(closed_loop(a, 25), closed_loop(b, 25));
    }
}

#[test]
fn different_seeds_give_different_actions() {
    for (a, b) in configs(1).into_iter().zip(configs(2)) {
        assert_ne!(closed_loop(a, 10), closed_loop(b, 10));
    }
}

#[test]
fn reset_restarts_the_episode_exactly() {
    for config in configs(7) {
        let mut model = model();
        let mut planner =
            AnyPlanner::new(config, ActionConfig::symmetric(2, 1.0), model.dims()).unwrap();
        let z = vec![0.1f32; 16];
        let first: Vec<f32> = planner
            .plan(&mut model, &z, Budget::transitions(2_000))
            .unwrap()
            .actions()
            .to_vec();
        planner
            .plan(&mut model, &z, Budget::transitions(2_000))
            .unwrap();
        planner.reset();
        let again: Vec<f32> = planner
            .plan(&mut model, &z, Budget::transitions(2_000))
            .unwrap()
            .actions()
            .to_vec();
        assert_eq!(
            first.iter().map(|a| a.to_bits()).collect::<Vec<_>>(),
            again.iter().map(|a| a.to_bits()).collect::<Vec<_>>()
        );
    }
}
