//! Splitting model calls over replicas on worker threads changes nothing but speed.

use augur_planner::testing::{Fault, FaultSite, Faulty, Mlp};
use augur_planner::{
    ActionConfig, AnyPlanner, Budget, MppiConfig, PlanError, Planner, PlannerConfig, SplitModel,
    TreeConfig, WorldModel,
};

fn mlp() -> Mlp {
    Mlp::new(16, 2, 32, 256, 1.0, 11)
}

fn configs() -> [PlannerConfig; 2] {
    [
        PlannerConfig::Tree(TreeConfig::default()),
        PlannerConfig::Mppi(MppiConfig::tdmpc2()),
    ]
}

/// Bits of the actions of 5 consecutive plans.
fn actions<M: WorldModel>(config: PlannerConfig, model: &mut M) -> Vec<u32> {
    let mut planner =
        AnyPlanner::new(config, ActionConfig::symmetric(2, 1.0), model.dims()).unwrap();
    let mut bits = Vec::new();
    for step in 0..5 {
        let z0 = vec![0.1 * step as f32; 16];
        let plan = planner
            .plan(model, &z0, Budget::transitions(4_000))
            .unwrap();
        bits.extend(plan.actions().iter().map(|a| a.to_bits()));
    }
    bits
}

#[test]
fn split_model_plans_are_bit_identical_to_a_single_replica() {
    for config in configs() {
        let single = actions(config.clone(), &mut mlp());
        for replicas in [2, 3] {
            let mut split = SplitModel::new((0..replicas).map(|_| mlp()).collect())
                .unwrap()
                .with_min_rows_per_chunk(1);
            assert_eq!(split.replicas(), replicas);
            assert_eq!(split.max_batch(), 256 * replicas);
            assert_eq!(
                actions(config.clone(), &mut split),
                single,
                "{replicas} replicas"
            );
        }
    }
}

#[test]
fn errors_in_worker_replicas_reach_the_planner() {
    let faulty = Faulty::new(mlp(), FaultSite::StepReward, Fault::Value(f32::NAN), 0, 0);
    let sound = Faulty::new(
        mlp(),
        FaultSite::StepReward,
        Fault::Value(f32::NAN),
        u64::MAX,
        0,
    );
    let mut split = SplitModel::new(vec![sound, faulty])
        .unwrap()
        .with_min_rows_per_chunk(1);
    let mut planner = AnyPlanner::new(
        configs()[1].clone(),
        ActionConfig::symmetric(2, 1.0),
        split.dims(),
    )
    .unwrap();
    let err = planner
        .plan(&mut split, &[0.1; 16], Budget::unlimited())
        .unwrap_err();
    assert!(matches!(err, PlanError::NonFinite { .. }), "{err:?}");

    let failing = Faulty::new(mlp(), FaultSite::Value, Fault::Error, 0, 0);
    let sound = Faulty::new(mlp(), FaultSite::Value, Fault::Error, u64::MAX, 0);
    let mut split = SplitModel::new(vec![sound, failing])
        .unwrap()
        .with_min_rows_per_chunk(1);
    let err = planner
        .plan(&mut split, &[0.1; 16], Budget::unlimited())
        .unwrap_err();
    assert!(matches!(err, PlanError::Model(_)), "{err:?}");
}

#[test]
fn replicas_must_agree() {
    assert!(SplitModel::<Mlp>::new(vec![]).is_err());
    assert!(SplitModel::new(vec![mlp(), Mlp::new(16, 3, 32, 256, 1.0, 11)]).is_err());
}
