//! Model errors and non-finite outputs make `plan` fail cleanly, never panic, and
//! leave the planner usable.

use augur_planner::testing::{Fault, FaultSite, Faulty, Mlp};
use augur_planner::{
    ActionConfig, AnyPlanner, Budget, ModelDims, ModelError, MppiConfig, PlanError, Planner,
    PlannerConfig, TreeConfig, WorldModel,
};
use proptest::prelude::*;

fn mlp() -> Mlp {
    Mlp::new(8, 2, 16, 1024, 1.0, 9)
}

fn planner(tree: bool) -> AnyPlanner {
    let dims = mlp().dims();
    let config = if tree {
        PlannerConfig::Tree(TreeConfig {
            batch_size: 16,
            ..TreeConfig::default()
        })
    } else {
        PlannerConfig::Mppi(MppiConfig {
            samples: 64,
            prior_trajectories: 8,
            elites: 8,
            ..MppiConfig::tdmpc2()
        })
    };
    AnyPlanner::new(config, ActionConfig::symmetric(2, 1.0), dims).unwrap()
}

const SITES: [FaultSite; 5] = [
    FaultSite::StepLatent,
    FaultSite::StepReward,
    FaultSite::Value,
    FaultSite::PolicyMean,
    FaultSite::PolicyLogStd,
];

#[test]
fn model_errors_propagate_as_plan_errors() {
    for tree in [true, false] {
        for site in SITES {
            let mut model = Faulty::new(mlp(), site, Fault::Error, 1, 0);
            let mut p = planner(tree);
            let err = p
                .plan(&mut model, &[0.1; 8], Budget::transitions(2_000))
                .unwrap_err();
            assert!(
                matches!(err, PlanError::Model(ModelError::Inference { .. })),
                "{site:?}: {err:?}"
            );
        }
    }
}

#[test]
fn nan_and_infinity_in_any_output_are_errors() {
    for tree in [true, false] {
        for site in SITES {
            for value in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut model = Faulty::new(mlp(), site, Fault::Value(value), 0, 3);
                let mut p = planner(tree);
                let err = p
                    .plan(&mut model, &[0.1; 8], Budget::transitions(2_000))
                    .unwrap_err();
                assert!(
                    matches!(err, PlanError::NonFinite { .. }),
                    "{site:?} {value}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn huge_rewards_that_overflow_the_return_are_errors() {
    for tree in [true, false] {
        let mut model = Faulty::new(mlp(), FaultSite::StepReward, Fault::Value(f32::MAX), 0, 0);
        let mut p = planner(tree);
        // f32::MAX plus a discounted f32::MAX-sized value may or may not overflow; a
        // plan either succeeds with finite numbers or reports the overflow.
        match p.plan(&mut model, &[0.1; 8], Budget::transitions(2_000)) {
            Ok(plan) => assert!(plan.action().iter().all(|a| a.is_finite())),
            Err(e) => assert_eq!(e, PlanError::ReturnOverflow),
        }
    }
}

#[test]
fn bad_inputs_are_errors() {
    for tree in [true, false] {
        let mut p = planner(tree);
        let mut model = mlp();
        assert_eq!(
            p.plan(&mut model, &[0.1; 7], Budget::unlimited())
                .unwrap_err(),
            PlanError::LatentLength {
                len: 7,
                expected: 8
            }
        );
        let mut z = [0.1; 8];
        z[2] = f32::NAN;
        assert_eq!(
            p.plan(&mut model, &z, Budget::unlimited()).unwrap_err(),
            PlanError::NonFiniteLatent
        );
        let mut other = Mlp::new(8, 3, 16, 1024, 1.0, 9);
        assert!(matches!(
            p.plan(&mut other, &[0.1; 8], Budget::unlimited()),
            Err(PlanError::DimsMismatch { .. })
        ));
        let mut closed = Mlp::new(8, 2, 16, 0, 1.0, 9);
        assert_eq!(
            p.plan(&mut closed, &[0.1; 8], Budget::unlimited())
                .unwrap_err(),
            PlanError::ZeroBatch
        );
    }
}

#[test]
fn invalid_configurations_are_refused_with_the_field_named() {
    let dims = ModelDims {
        obs_dim: 1,
        latent_dim: 4,
        action_dim: 2,
    };
    let action = ActionConfig::symmetric(2, 1.0);
    let bad_tree = [
        TreeConfig {
            discount: 0.0,
            ..TreeConfig::default()
        },
        TreeConfig {
            horizon: 0,
            ..TreeConfig::default()
        },
        TreeConfig {
            batch_size: 0,
            ..TreeConfig::default()
        },
        TreeConfig {
            max_nodes: 10,
            ..TreeConfig::default()
        },
        TreeConfig {
            widening_exponent: 1.5,
            ..TreeConfig::default()
        },
        TreeConfig {
            min_std: 2.0,
            max_std: 1.0,
            ..TreeConfig::default()
        },
        TreeConfig {
            widen_fraction: 0.6,
            refine_fraction: 0.6,
            ..TreeConfig::default()
        },
        TreeConfig {
            exploration: f32::NAN,
            ..TreeConfig::default()
        },
    ];
    for config in bad_tree {
        let err =
            AnyPlanner::new(PlannerConfig::Tree(config.clone()), action.clone(), dims).unwrap_err();
        assert!(!err.to_string().is_empty(), "{config:?}");
    }
    let bad_mppi = [
        MppiConfig {
            discount: 1.5,
            ..MppiConfig::tdmpc2()
        },
        MppiConfig {
            samples: 24,
            ..MppiConfig::tdmpc2()
        },
        MppiConfig {
            elites: 0,
            ..MppiConfig::tdmpc2()
        },
        MppiConfig {
            elites: 500,
            ..MppiConfig::tdmpc2()
        },
        MppiConfig {
            temperature: 0.0,
            ..MppiConfig::tdmpc2()
        },
        MppiConfig {
            min_std: 3.0,
            ..MppiConfig::tdmpc2()
        },
        MppiConfig {
            iterations: 0,
            ..MppiConfig::tdmpc2()
        },
    ];
    for config in bad_mppi {
        assert!(
            AnyPlanner::new(PlannerConfig::Mppi(config.clone()), action.clone(), dims).is_err(),
            "{config:?}"
        );
    }
    let err = AnyPlanner::new(
        PlannerConfig::default(),
        ActionConfig::symmetric(3, 1.0),
        dims,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "action bounds have 3 entries but the model's action width is 2"
    );
    let zero = ModelDims {
        obs_dim: 1,
        latent_dim: 0,
        action_dim: 2,
    };
    assert!(AnyPlanner::new(PlannerConfig::default(), action, zero).is_err());
}

fn site() -> impl Strategy<Value = FaultSite> {
    prop::sample::select(SITES.to_vec())
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Error),
        Just(Fault::Value(f32::NAN)),
        Just(Fault::Value(f32::INFINITY)),
        Just(Fault::Value(f32::NEG_INFINITY)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever output goes bad, and whenever: an error exactly when the fault was
    /// injected, never a panic, and the next plan with a sound model succeeds.
    #[test]
    fn any_bad_output_gives_an_error_and_the_planner_recovers(
        tree in any::<bool>(),
        site in site(),
        fault in fault(),
        call in 0u64..12,
        index in 0usize..10_000,
        seed in 0u64..1_000,
    ) {
        let mut model = Faulty::new(mlp(), site, fault, call, index);
        let mut p = planner(tree);
        let z0 = [0.05 * (seed % 7) as f32; 8];
        let result = p.plan(&mut model, &z0, Budget::transitions(1_500));
        prop_assert_eq!(result.is_err(), model.triggered());
        let mut sound = mlp();
        let plan = p.plan(&mut sound, &z0, Budget::transitions(1_500)).unwrap();
        prop_assert!(plan.action().iter().all(|a| a.is_finite() && a.abs() <= 1.0));
    }
}
