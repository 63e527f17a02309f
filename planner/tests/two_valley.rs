//! A problem where the immediate reward lures a myopic planner into the worse valley.

use augur_planner::testing::TwoValley;
use augur_planner::{
    ActionConfig, Budget, MppiConfig, MppiPlanner, Planner, TreeConfig, TreePlanner, WorldModel,
};

fn tree(horizon: usize, seed: u64) -> TreePlanner {
    let config = TreeConfig {
        horizon,
        seed,
        max_nodes: 50_000,
        ..TreeConfig::default()
    };
    TreePlanner::new(config, ActionConfig::symmetric(1, 1.0), TwoValley.dims()).unwrap()
}

#[test]
fn one_step_search_goes_to_the_near_valley() {
    let mut model = TwoValley;
    let mut greedy = tree(1, 0);
    let plan = greedy
        .plan(&mut model, &[0.0], Budget::transitions(5_000))
        .unwrap();
    assert!(
        plan.action()[0] < -0.5,
        "tree, horizon 1: {:?}",
        plan.action()
    );
    let config = MppiConfig {
        horizon: 1,
        ..MppiConfig::tdmpc2()
    };
    let mut mppi = MppiPlanner::new(config, ActionConfig::symmetric(1, 1.0), model.dims()).unwrap();
    let plan = mppi.plan(&mut model, &[0.0], Budget::unlimited()).unwrap();
    assert!(
        plan.action()[0] < -0.5,
        "mppi, horizon 1: {:?}",
        plan.action()
    );
}

#[test]
fn tree_search_finds_the_far_valley_for_every_seed() {
    let mut model = TwoValley;
    // Staying in the near valley for 6 steps is worth at most 6 * 0.5 = 3.
    for seed in 0..5 {
        let mut planner = tree(6, seed);
        let plan = planner
            .plan(&mut model, &[0.0], Budget::transitions(20_000))
            .unwrap();
        let value = plan.value().unwrap();
        println!(
            "seed {seed}: action {:?}, value {value}, sequence {:?}",
            plan.action(),
            plan.actions()
        );
        assert!(plan.action()[0] > 0.5, "seed {seed}: {:?}", plan.action());
        assert!(value > 3.0, "seed {seed}: {value}");
        // The predicted trajectory reaches the far valley (x near 3).
        let final_x = plan.latents()[plan.predicted_steps()];
        assert!(
            (final_x - 3.0).abs() < 1.0,
            "seed {seed}: ends at {final_x}"
        );
    }
}
