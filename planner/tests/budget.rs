//! Anytime planning: deadlines, model-evaluation and call budgets.

use std::time::{Duration, Instant};

use augur_planner::testing::{Mlp, Slow};
use augur_planner::{
    ActionConfig, AnyPlanner, Budget, MppiConfig, Planner, PlannerConfig, TreeConfig, WorldModel,
};

const LIMIT: f32 = 0.8;

fn planners(dims: augur_planner::ModelDims) -> Vec<(&'static str, AnyPlanner)> {
    let action = ActionConfig::symmetric(2, LIMIT);
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

fn assert_action_usable(name: &str, action: &[f32]) {
    assert!(
        action.iter().all(|a| a.is_finite() && a.abs() <= LIMIT),
        "{name}: {action:?}"
    );
}

#[test]
fn deadline_is_met_within_one_model_call_and_reported() {
    let call = Duration::from_millis(3);
    let mut model = Slow::new(Mlp::new(16, 2, 32, 1024, 1.0, 5), call);
    let z0 = vec![0.1f32; 16];
    for (name, mut planner) in planners(model.dims()) {
        for allowed_ms in [1u64, 10, 25] {
            let start = Instant::now();
            let deadline = start + Duration::from_millis(allowed_ms);
            let plan = planner
                .plan(&mut model, &z0, Budget::until(deadline))
                .unwrap();
            let finished = Instant::now();
            // No call starts after the deadline (up to the time between the planner's
            // clock check and the model's, which preemption on a loaded machine can
            // stretch), so the plan ends at most one call after it; the generous margins
            // absorb scheduling noise on a shared 2-core machine.
            // Under emulation (qemu) setting up a 1 ms plan can outlast the deadline, so
            // no call at all is a correct outcome too.
            if let Some(last_start) = model.last_call_start.take() {
                assert!(
                    last_start <= deadline + Duration::from_millis(5),
                    "{name}, {allowed_ms} ms: a call started after the deadline"
                );
            } else {
                assert_eq!(plan.stats().model_calls, 0, "{name}, {allowed_ms} ms");
            }
            let late = finished.saturating_duration_since(deadline);
            assert!(
                late <= call + Duration::from_millis(20),
                "{name}, {allowed_ms} ms: {late:?} late"
            );
            assert!(plan.stats().budget_exhausted, "{name}, {allowed_ms} ms");
            assert!(plan.stats().elapsed <= finished - start);
            assert_action_usable(name, plan.action());
            assert_action_usable(name, plan.actions());
        }
    }
}

#[test]
fn passed_deadline_still_gives_a_usable_action() {
    let mut model = Mlp::new(16, 2, 32, 1024, 1.0, 5);
    let z0 = vec![0.1f32; 16];
    for (name, mut planner) in planners(model.dims()) {
        let plan = planner
            .plan(&mut model, &z0, Budget::until(Instant::now()))
            .unwrap();
        assert!(plan.stats().budget_exhausted);
        assert_eq!(plan.stats().model_calls, 0, "{name}");
        assert_eq!(plan.predicted_steps(), 0, "{name}");
        assert_eq!(plan.value(), None, "{name}");
        assert_action_usable(name, plan.action());
    }
}

#[test]
fn transition_budget_is_never_exceeded_and_used_to_within_one_batch() {
    let mut model = Mlp::new(16, 2, 32, 1024, 1.0, 5);
    let z0 = vec![0.1f32; 16];
    let tree = TreeConfig::default();
    let mppi = MppiConfig::tdmpc2();
    // Largest transitions one round can take: a tree batch of full-depth trajectories,
    // an MPPI iteration of Gaussian samples (prior trajectories are smaller).
    let round = [
        (tree.batch_size * tree.horizon) as u64,
        ((mppi.samples - mppi.prior_trajectories) * mppi.horizon) as u64,
    ];
    for ((name, mut planner), round) in planners(model.dims()).into_iter().zip(round) {
        for max in [50u64, 1_000, 3_333, 7_000] {
            let plan = planner
                .plan(&mut model, &z0, Budget::transitions(max))
                .unwrap();
            let used = plan.stats().model_transitions;
            assert!(used <= max, "{name}: used {used} of {max}");
            if plan.stats().budget_exhausted {
                assert!(max - used < round, "{name}: used {used} of {max}");
            }
            assert_action_usable(name, plan.action());
        }
    }
}

#[test]
fn transition_budget_gives_identical_search_every_time() {
    let mut model = Mlp::new(16, 2, 32, 1024, 1.0, 5);
    let z0 = vec![0.1f32; 16];
    for (name, mut planner) in planners(model.dims()) {
        planner.reset();
        let first = *planner
            .plan(&mut model, &z0, Budget::transitions(2_500))
            .unwrap()
            .stats();
        planner.reset();
        let second = *planner
            .plan(&mut model, &z0, Budget::transitions(2_500))
            .unwrap()
            .stats();
        assert_eq!(first.model_transitions, second.model_transitions, "{name}");
        assert_eq!(first.model_calls, second.model_calls, "{name}");
        assert_eq!(
            first.best_value.to_bits(),
            second.best_value.to_bits(),
            "{name}"
        );
    }
}

#[test]
fn model_call_budget_is_never_exceeded() {
    let mut model = Mlp::new(16, 2, 32, 1024, 1.0, 5);
    let z0 = vec![0.1f32; 16];
    for (name, mut planner) in planners(model.dims()) {
        for max in [1u64, 7, 20] {
            let plan = planner
                .plan(
                    &mut model,
                    &z0,
                    Budget::unlimited().with_max_model_calls(max),
                )
                .unwrap();
            assert!(
                plan.stats().model_calls <= max,
                "{name}: {} calls of {max}",
                plan.stats().model_calls
            );
            assert!(plan.stats().budget_exhausted, "{name}");
            assert_action_usable(name, plan.action());
        }
    }
}

#[test]
fn small_max_batch_splits_calls_without_changing_the_plan() {
    let z0 = vec![0.1f32; 16];
    let mut big = Mlp::new(16, 2, 32, 1024, 1.0, 5);
    let mut small = Mlp::new(16, 2, 32, 7, 1.0, 5);
    for ((name, mut a), (_, mut b)) in planners(big.dims()).into_iter().zip(planners(small.dims()))
    {
        let pa = a
            .plan(&mut big, &z0, Budget::transitions(3_000))
            .unwrap()
            .clone();
        let pb = b
            .plan(&mut small, &z0, Budget::transitions(3_000))
            .unwrap()
            .clone();
        assert!(pb.stats().model_calls > pa.stats().model_calls, "{name}");
        assert_eq!(
            pa.stats().model_transitions,
            pb.stats().model_transitions,
            "{name}"
        );
        assert_eq!(pa.actions(), pb.actions(), "{name}");
    }
}

#[test]
fn stats_and_trajectory_describe_the_search() {
    let mut model = Mlp::new(16, 2, 32, 1024, 1.0, 5);
    let z0 = vec![0.1f32; 16];
    for (name, mut planner) in planners(model.dims()) {
        let plan = planner
            .plan(&mut model, &z0, Budget::transitions(5_000))
            .unwrap();
        let stats = plan.stats();
        assert!(
            stats.iterations > 0 && stats.trajectories > 0 && stats.model_calls > 0,
            "{name}: {stats:?}"
        );
        assert_eq!(stats.depth_reached, 3, "{name}");
        assert_eq!(plan.horizon(), 3);
        assert_eq!(plan.predicted_steps(), 3, "{name}");
        assert_eq!(plan.latents().len(), 4 * 16);
        assert_eq!(&plan.latents()[..16], &z0[..]);
        assert_eq!(plan.rewards().len(), 3);
        let value = plan.value().unwrap();
        assert!(value <= stats.best_value, "{name}");
        // The trajectory is the model's own rollout of the chosen actions.
        let mut z = z0.clone();
        let mut z_next = vec![0.0; 16];
        let mut r = [0.0];
        for t in 0..3 {
            model
                .step(&z, &plan.actions()[2 * t..2 * t + 2], &mut z_next, &mut r)
                .unwrap();
            assert_eq!(
                &plan.latents()[16 * (t + 1)..16 * (t + 2)],
                &z_next[..],
                "{name}, step {t}"
            );
            assert_eq!(plan.rewards()[t], r[0], "{name}, step {t}");
            z.copy_from_slice(&z_next);
        }
    }
}
