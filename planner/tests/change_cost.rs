//! The cost on the change of action (`ActionConfig::change_cost`) is part of what both
//! planners maximise: on a problem whose optimum is known in closed form, the first
//! planned action lands where the penalised objective puts it, between the previous
//! command and the reward's optimum; without the cost it goes to the optimum.

use augur_planner::testing::StaticTarget;
use augur_planner::{
    ActionConfig, ActionSelection, Budget, MppiConfig, MppiPlanner, Planner, TreeConfig,
    TreePlanner, WorldModel,
};

const TARGET: f32 = 0.3;
const PREVIOUS: f32 = -0.5;
const DISCOUNT: f32 = 0.99;

/// Minimiser of `Σ_t γ^t [(a_t - T)² + λ (a_t - a_{t-1})²]` over `a_0..a_2`, with
/// `a_{-1} = PREVIOUS` (bounds [-1, 1], half range 1): the zero of the gradient, a
/// 3x3 linear system solved by Cramer's rule.
fn optimum(lambda: f64) -> [f64; 3] {
    let (t, p, g, l) = (
        f64::from(TARGET),
        f64::from(PREVIOUS),
        f64::from(DISCOUNT),
        lambda,
    );
    // d/da0: (a0 - T) + λ(a0 - p) - λγ(a1 - a0) = 0
    // d/da1: (a1 - T) + λ(a1 - a0) - λγ(a2 - a1) = 0
    // d/da2: (a2 - T) + λ(a2 - a1) = 0
    let m = [
        [1.0 + l + l * g, -l * g, 0.0],
        [-l, 1.0 + l + l * g, -l * g],
        [0.0, -l, 1.0 + l],
    ];
    let b = [t + l * p, t, t];
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut mk = m;
        for r in 0..3 {
            mk[r][k] = b[r];
        }
        *o = det(&mk) / d;
    }
    out
}

/// First action of the second plan: the first plan (target at `PREVIOUS`) sets the
/// previous command, the second plans for `TARGET`.
fn first_action<P: Planner>(planner: &mut P) -> f32 {
    let mut model = StaticTarget {
        target: vec![PREVIOUS],
    };
    let first = planner
        .plan(&mut model, &[0.0], Budget::transitions(30_000))
        .unwrap()
        .action()[0];
    assert!((first - PREVIOUS).abs() < 0.05, "first command {first}");
    model.target[0] = TARGET;
    planner
        .plan(&mut model, &[0.0], Budget::transitions(30_000))
        .unwrap()
        .action()[0]
}

fn tree(lambda: f32) -> TreePlanner {
    let config = TreeConfig {
        horizon: 3,
        discount: DISCOUNT,
        warm_start: false,
        max_nodes: 40_000,
        ..TreeConfig::default()
    };
    let action = ActionConfig::symmetric(1, 1.0).with_change_cost(lambda);
    TreePlanner::new(config, action, StaticTarget { target: vec![0.0] }.dims()).unwrap()
}

fn mppi(lambda: f32) -> MppiPlanner {
    let config = MppiConfig {
        horizon: 3,
        discount: DISCOUNT,
        warm_start: false,
        selection: ActionSelection::Mean,
        iterations: 12,
        ..MppiConfig::tdmpc2()
    };
    let action = ActionConfig::symmetric(1, 1.0).with_change_cost(lambda);
    MppiPlanner::new(config, action, StaticTarget { target: vec![0.0] }.dims()).unwrap()
}

#[test]
fn without_the_cost_both_planners_go_straight_to_the_optimum() {
    let a = first_action(&mut tree(0.0));
    assert!((a - TARGET).abs() < 0.05, "tree: {a}");
    let a = first_action(&mut mppi(0.0));
    assert!((a - TARGET).abs() < 0.05, "mppi: {a}");
}

#[test]
fn with_the_cost_the_first_action_is_the_penalised_optimum() {
    for lambda in [0.5f32, 2.0] {
        let want = optimum(f64::from(lambda))[0] as f32;
        assert!(want > PREVIOUS + 0.1 && want < TARGET - 0.1, "{want}");
        let a = first_action(&mut tree(lambda));
        assert!(
            (a - want).abs() < 0.05,
            "tree, λ {lambda}: {a}, optimum {want}"
        );
        let a = first_action(&mut mppi(lambda));
        assert!(
            (a - want).abs() < 0.05,
            "mppi, λ {lambda}: {a}, optimum {want}"
        );
    }
}

#[test]
fn the_first_plan_of_an_episode_pays_no_change_cost() {
    // No previous command after a reset: the first action goes to the optimum.
    let mut model = StaticTarget {
        target: vec![TARGET],
    };
    let mut planner = tree(2.0);
    planner
        .plan(&mut model, &[0.0], Budget::transitions(5_000))
        .unwrap();
    planner.reset();
    let a = planner
        .plan(&mut model, &[0.0], Budget::transitions(30_000))
        .unwrap()
        .action()[0];
    assert!((a - TARGET).abs() < 0.05, "{a}");
}
