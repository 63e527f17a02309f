//! Clamping, smoothing, rate limit and warm start.

use augur_planner::testing::{LinearQuadratic, StaticTarget};
use augur_planner::{
    ActionConfig, ActionSelection, AnyPlanner, Budget, MppiConfig, MppiPlanner, Planner,
    PlannerConfig, TreeConfig, TreePlanner, WorldModel,
};

fn both(action: ActionConfig, dims: augur_planner::ModelDims) -> Vec<(&'static str, AnyPlanner)> {
    vec![
        (
            "tree",
            AnyPlanner::new(
                PlannerConfig::Tree(TreeConfig::default()),
                action.clone(),
                dims,
            )
            .unwrap(),
        ),
        (
            "mppi",
            AnyPlanner::new(PlannerConfig::Mppi(MppiConfig::tdmpc2()), action, dims).unwrap(),
        ),
    ]
}

#[test]
fn actions_stay_within_asymmetric_bounds_when_the_optimum_is_outside() {
    // The best action is far above every upper bound.
    let mut model = StaticTarget {
        target: vec![5.0, -5.0],
    };
    let action = ActionConfig::new(vec![-0.5, -0.2], vec![0.3, 0.8]);
    for (name, mut planner) in both(action, model.dims()) {
        let plan = planner
            .plan(&mut model, &[0.0], Budget::transitions(5_000))
            .unwrap();
        for row in plan.actions().chunks(2) {
            assert!(
                (-0.5..=0.3).contains(&row[0]) && (-0.2..=0.8).contains(&row[1]),
                "{name}: {row:?}"
            );
        }
        assert!(
            (plan.action()[0] - 0.3).abs() < 0.1,
            "{name}: {:?}",
            plan.action()
        );
        assert!(
            (plan.action()[1] + 0.2).abs() < 0.1,
            "{name}: {:?}",
            plan.action()
        );
    }
}

#[test]
fn rate_limit_bounds_the_change_between_commands() {
    let mut model = StaticTarget { target: vec![0.9] };
    let action = ActionConfig::symmetric(1, 1.0).with_max_delta(vec![0.1]);
    for (name, mut planner) in both(action, model.dims()) {
        let mut previous = planner
            .plan(&mut model, &[0.0], Budget::transitions(3_000))
            .unwrap()
            .action()[0];
        for _ in 0..20 {
            let now = planner
                .plan(&mut model, &[0.0], Budget::transitions(3_000))
                .unwrap()
                .action()[0];
            assert!(
                (now - previous).abs() <= 0.1 + 1e-6,
                "{name}: {previous} -> {now}"
            );
            previous = now;
        }
        assert!(
            (previous - 0.9).abs() < 0.15,
            "{name}: converges to the target, at {previous}"
        );
        // After reset the first command is free again.
        planner.reset();
        let reset = planner
            .plan(&mut model, &[0.0], Budget::transitions(3_000))
            .unwrap();
        assert!(reset.action()[0].is_finite());
    }
}

#[test]
fn smoothing_blends_the_plan_with_the_previous_command() {
    let mut model = StaticTarget { target: vec![0.8] };
    let action = ActionConfig::symmetric(1, 1.0).with_smoothing(0.5);
    for (name, mut planner) in both(action, model.dims()) {
        let first = planner
            .plan(&mut model, &[0.0], Budget::transitions(3_000))
            .unwrap()
            .action()[0];
        let plan = planner
            .plan(&mut model, &[0.0], Budget::transitions(3_000))
            .unwrap();
        let planned = plan.actions()[0];
        let expected = 0.5 * first + 0.5 * planned;
        assert!(
            (plan.action()[0] - expected).abs() < 1e-6,
            "{name}: {} vs {expected}",
            plan.action()[0]
        );
    }
}

#[test]
fn tree_warm_start_reaches_at_least_the_cold_value_at_a_tiny_budget() {
    let mut model = StaticTarget {
        target: vec![0.37, -0.61],
    };
    let tiny = Budget::transitions(30);
    for seed in 0..10 {
        let config = TreeConfig {
            seed,
            batch_size: 8,
            ..TreeConfig::default()
        };
        let mut warm = TreePlanner::new(
            config.clone(),
            ActionConfig::symmetric(2, 1.0),
            model.dims(),
        )
        .unwrap();
        let cold_value = warm
            .plan(&mut model, &[0.0], tiny)
            .unwrap()
            .value()
            .unwrap();
        let warm_value = warm
            .plan(&mut model, &[0.0], tiny)
            .unwrap()
            .value()
            .unwrap();
        let mut cold = TreePlanner::new(
            TreeConfig {
                seed: seed + 100,
                ..config
            },
            ActionConfig::symmetric(2, 1.0),
            model.dims(),
        )
        .unwrap();
        let other_cold = cold
            .plan(&mut model, &[0.0], tiny)
            .unwrap()
            .value()
            .unwrap();
        assert!(
            warm_value >= cold_value,
            "seed {seed}: warm {warm_value} < cold {cold_value}"
        );
        println!("seed {seed}: cold {cold_value}, warm {warm_value}, other cold {other_cold}");
    }
}

#[test]
fn mppi_warm_start_improves_the_action_on_average_at_a_tiny_budget() {
    let mut model = StaticTarget {
        target: vec![0.37, -0.61],
    };
    // TD-MPC2 warm-starts the mean only and restarts std at max_std; with the default
    // max_std of 2 (half ranges) samples cover the bounds whatever the mean, so the
    // effect shows with a narrower max_std.
    let config = MppiConfig {
        iterations: 1,
        max_std: 0.5,
        selection: ActionSelection::Mean,
        ..MppiConfig::tdmpc2()
    };
    let tiny = Budget::unlimited();
    let error = |a: &[f32]| ((a[0] - 0.37).powi(2) + (a[1] + 0.61).powi(2)).sqrt();
    let (mut cold_total, mut warm_total) = (0.0, 0.0);
    for seed in 0..20 {
        let mut planner = MppiPlanner::new(
            MppiConfig {
                seed,
                ..config.clone()
            },
            ActionConfig::symmetric(2, 1.0),
            model.dims(),
        )
        .unwrap();
        cold_total += error(planner.plan(&mut model, &[0.0], tiny).unwrap().action());
        for _ in 0..3 {
            planner.plan(&mut model, &[0.0], tiny).unwrap();
        }
        warm_total += error(planner.plan(&mut model, &[0.0], tiny).unwrap().action());
    }
    println!(
        "mean error: cold {}, warm {}",
        cold_total / 20.0,
        warm_total / 20.0
    );
    assert!(warm_total < cold_total);
}

#[test]
fn disabled_warm_start_plans_every_step_like_the_first() {
    let mut model = LinearQuadratic::double_integrator(1);
    let z0 = [0.3f32, -0.2];
    let config = TreeConfig {
        warm_start: false,
        ..TreeConfig::default()
    };
    let mut planner =
        TreePlanner::new(config, ActionConfig::symmetric(1, 2.0), model.dims()).unwrap();
    let first = planner
        .plan(&mut model, &z0, Budget::transitions(500))
        .unwrap()
        .actions()
        .to_vec();
    planner.reset();
    planner
        .plan(&mut model, &z0, Budget::transitions(500))
        .unwrap();
    let mut fresh = TreePlanner::new(
        TreeConfig {
            warm_start: false,
            ..TreeConfig::default()
        },
        ActionConfig::symmetric(1, 2.0),
        model.dims(),
    )
    .unwrap();
    let again = fresh
        .plan(&mut model, &z0, Budget::transitions(500))
        .unwrap()
        .actions()
        .to_vec();
    assert_eq!(first, again);
}
