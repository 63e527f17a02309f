//! The control cycle and its watchdog, driven cycle by cycle (no clocks): every fault
//! path commands the safe action and recovers when its cause clears.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use augur_planner::testing::{
    Fault as ModelFault, FaultSite, Faulty, LinearQuadratic, StaticTarget,
};
use augur_planner::{
    ActionConfig, Budget, ModelDims, ModelError, TreeConfig, TreePlanner, WorldModel,
};
use augur_runtime::control::{ControlLoop, CycleConfig, CycleInput, CycleTiming, Fault, FaultSet};
use augur_runtime::record::replay::replay;
use augur_runtime::record::CycleRecord;

const TARGET: f32 = 0.7;
const SAFE: f32 = -0.25;

/// `StaticTarget` with switchable faults: NaN from the encoder or the dynamics, and an
/// optional drift so the world stops matching the model's prediction.
#[derive(Clone, Debug)]
struct Switchable {
    inner: StaticTarget,
    nan_encode: Rc<Cell<bool>>,
    nan_step: Rc<Cell<bool>>,
}

impl Switchable {
    fn new() -> Self {
        Self {
            inner: StaticTarget {
                target: vec![TARGET],
            },
            nan_encode: Rc::new(Cell::new(false)),
            nan_step: Rc::new(Cell::new(false)),
        }
    }
}

impl WorldModel for Switchable {
    fn dims(&self) -> ModelDims {
        self.inner.dims()
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        self.inner.encode(obs, z)?;
        if self.nan_encode.get() {
            z[0] = f32::NAN;
        }
        Ok(())
    }
    fn step(
        &mut self,
        z: &[f32],
        a: &[f32],
        z_next: &mut [f32],
        r: &mut [f32],
    ) -> Result<(), ModelError> {
        self.inner.step(z, a, z_next, r)?;
        if self.nan_step.get() {
            r[0] = f32::NAN;
        }
        Ok(())
    }
}

fn control(model: Switchable, threshold: Option<f32>) -> ControlLoop<Switchable, TreePlanner> {
    let dims = model.dims();
    let planner = TreePlanner::new(
        TreeConfig::default(),
        ActionConfig::new(vec![-1.0], vec![1.0]),
        dims,
    )
    .unwrap();
    ControlLoop::new(
        model,
        planner,
        CycleConfig {
            safe_action: vec![SAFE],
            obs_mean: vec![0.0],
            obs_std: vec![1.0],
            prediction_error_threshold: threshold,
        },
    )
    .unwrap()
}

fn input(observation: Option<&[f32]>, timing: FaultSet) -> CycleInput<'_> {
    CycleInput {
        observation,
        image: None,
        fresh: true,
        timing_faults: timing,
        budget: Budget::transitions(1024),
        delay_steps: 0,
    }
}

fn nominal(c: &mut ControlLoop<Switchable, TreePlanner>) -> f32 {
    let out = c.cycle(&input(Some(&[0.5]), FaultSet::EMPTY));
    assert!(out.faults.is_empty(), "unexpected faults {}", out.faults);
    assert!(out.planned);
    out.command()[0]
}

#[test]
fn nominal_cycles_command_the_planned_action() {
    let mut c = control(Switchable::new(), None);
    for _ in 0..5 {
        let a = nominal(&mut c);
        assert!((a - TARGET).abs() < 0.05, "command {a} far from {TARGET}");
    }
    assert_eq!(c.watchdog().safe_cycles(), 0);
}

#[test]
fn missing_and_stale_observations_command_the_safe_action_and_recover() {
    let mut c = control(Switchable::new(), None);
    for fault in [Fault::NoObservation, Fault::StaleObservation] {
        let out = c.cycle(&input(None, FaultSet::EMPTY.with(fault)));
        assert_eq!(out.command(), [SAFE]);
        assert!(out.faults.contains(fault));
        assert!(!out.planned);
        let a = nominal(&mut c);
        assert!((a - TARGET).abs() < 0.05);
        assert_eq!(c.watchdog().raised(fault), 1);
    }
}

#[test]
fn a_non_finite_observation_commands_the_safe_action_and_recovers() {
    let mut c = control(Switchable::new(), None);
    nominal(&mut c);
    for bad in [f32::NAN, f32::INFINITY] {
        let out = c.cycle(&input(Some(&[bad]), FaultSet::EMPTY));
        assert_eq!(out.command(), [SAFE]);
        assert_eq!(
            out.faults,
            FaultSet::EMPTY.with(Fault::NonFiniteObservation)
        );
        nominal(&mut c);
    }
    assert_eq!(c.watchdog().raised(Fault::NonFiniteObservation), 2);
}

#[test]
fn a_model_nan_in_the_encoder_or_the_search_commands_the_safe_action_and_recovers() {
    let model = Switchable::new();
    let (nan_encode, nan_step) = (model.nan_encode.clone(), model.nan_step.clone());
    let mut c = control(model, None);
    nominal(&mut c);

    nan_encode.set(true);
    for _ in 0..3 {
        let out = c.cycle(&input(Some(&[0.5]), FaultSet::EMPTY));
        assert_eq!(out.command(), [SAFE]);
        assert_eq!(out.faults, FaultSet::EMPTY.with(Fault::ModelFault));
    }
    nan_encode.set(false);
    nominal(&mut c);

    nan_step.set(true);
    let out = c.cycle(&input(Some(&[0.5]), FaultSet::EMPTY));
    assert_eq!(out.command(), [SAFE]);
    assert_eq!(out.faults, FaultSet::EMPTY.with(Fault::PlannerFault));
    nan_step.set(false);
    nominal(&mut c);

    assert_eq!(c.watchdog().raised(Fault::ModelFault), 1);
    assert_eq!(c.watchdog().raised(Fault::PlannerFault), 1);
    assert_eq!(c.watchdog().safe_cycles(), 4);
}

#[test]
fn deadline_misses_reported_by_the_runner_command_the_safe_action() {
    let mut c = control(Switchable::new(), None);
    let out = c.cycle(&input(
        Some(&[0.5]),
        FaultSet::EMPTY.with(Fault::DeadlineMisses),
    ));
    assert_eq!(out.command(), [SAFE]);
    // The search still ran, so recovery needs no warm-up.
    assert!(out.planned);
    nominal(&mut c);
}

#[test]
fn the_prediction_monitor_measures_the_one_step_error_and_can_fall_back() {
    // StaticTarget predicts z' = z: the observation jumping by 0.5 is a 0.5 error.
    let mut c = control(Switchable::new(), Some(0.3));
    nominal(&mut c);
    let out = c.cycle(&input(Some(&[0.5]), FaultSet::EMPTY));
    assert_eq!(out.prediction_error, Some(0.0));
    let out = c.cycle(&input(Some(&[1.0]), FaultSet::EMPTY));
    assert_eq!(out.prediction_error, Some(0.5));
    assert_eq!(out.faults, FaultSet::EMPTY.with(Fault::PredictionError));
    assert_eq!(out.command(), [SAFE]);
    // Not fresh: nothing new to compare, the fault holds.
    let out = c.cycle(&CycleInput {
        fresh: false,
        ..input(Some(&[1.0]), FaultSet::EMPTY)
    });
    assert_eq!(out.prediction_error, None);
    assert!(out.is_safe());
    let out = c.cycle(&input(Some(&[1.0]), FaultSet::EMPTY));
    assert_eq!(out.prediction_error, Some(0.0));
    assert!(out.faults.is_empty());
    assert_eq!(c.watchdog().raised(Fault::PredictionError), 1);
}

/// z' = z + a, reward -(z² + 0.01 a²), value -z²: the best action cancels the
/// state, so the plan depends on which state it starts from.
fn integrator() -> LinearQuadratic {
    LinearQuadratic::new(1, 1, vec![1.0], vec![1.0], vec![1.0], vec![0.01]).with_value(vec![1.0])
}

fn integrator_control<M: WorldModel>(model: M) -> ControlLoop<M, TreePlanner> {
    let planner = TreePlanner::new(
        TreeConfig::default(),
        ActionConfig::new(vec![-1.0], vec![1.0]),
        model.dims(),
    )
    .unwrap();
    ControlLoop::new(
        model,
        planner,
        CycleConfig {
            safe_action: vec![0.0],
            obs_mean: vec![0.0],
            obs_std: vec![1.0],
            prediction_error_threshold: None,
        },
    )
    .unwrap()
}

#[test]
fn delay_compensation_plans_from_the_state_the_command_will_meet() {
    for steps in [1u8, 2, 3] {
        // Compensated: the second observation is rolled `steps` steps forward under the
        // first command before planning.
        let mut c = integrator_control(integrator());
        let first = c.cycle(&input(Some(&[0.5]), FaultSet::EMPTY)).command()[0];
        assert!(
            first < -0.2,
            "the first command pushes the state back: {first}"
        );
        let out = *c.cycle(&CycleInput {
            delay_steps: steps,
            ..input(Some(&[0.3]), FaultSet::EMPTY)
        });
        assert!(out.planned);
        assert_eq!(out.delay_steps, steps);
        // The same as planning, uncompensated, on the state predicted by hand.
        let mut forwarded = 0.3f32;
        for _ in 0..steps {
            forwarded += first;
        }
        let mut reference = integrator_control(integrator());
        reference.cycle(&input(Some(&[0.5]), FaultSet::EMPTY));
        let expected = reference
            .cycle(&input(Some(&[forwarded]), FaultSet::EMPTY))
            .command()[0];
        assert_eq!(
            out.command()[0].to_bits(),
            expected.to_bits(),
            "{steps} steps"
        );
        assert!(
            out.command()[0] * forwarded < 0.0,
            "{steps} steps: {} does not push {forwarded} back",
            out.command()[0]
        );
        // The monitor predicts the next observation under the command in effect until
        // then (the first one), not the one just decided.
        let next = c.cycle(&input(Some(&[0.3 + first]), FaultSet::EMPTY));
        assert_eq!(next.prediction_error, Some(0.0), "{steps} steps");
    }
}

#[test]
fn delay_compensation_is_capped_and_a_diverging_roll_forward_is_a_model_fault() {
    let mut c = integrator_control(integrator());
    c.cycle(&input(Some(&[0.5]), FaultSet::EMPTY));
    let out = c.cycle(&CycleInput {
        delay_steps: 200,
        ..input(Some(&[0.3]), FaultSet::EMPTY)
    });
    assert_eq!(out.delay_steps, augur_runtime::control::MAX_DELAY_STEPS);

    // NaN in the first dynamics call of the session: the roll-forward's, since the first
    // cycle is compensated too (from the safe action, the command "in effect").
    let model = Faulty::new(
        integrator(),
        FaultSite::StepLatent,
        ModelFault::Value(f32::NAN),
        0,
        0,
    );
    let mut c = integrator_control(model);
    let out = *c.cycle(&CycleInput {
        delay_steps: 1,
        ..input(Some(&[0.5]), FaultSet::EMPTY)
    });
    assert_eq!(out.faults, FaultSet::EMPTY.with(Fault::ModelFault));
    assert_eq!(out.command(), [0.0]);
    assert!(c.model().triggered());
    let out = c.cycle(&CycleInput {
        delay_steps: 1,
        ..input(Some(&[0.5]), FaultSet::EMPTY)
    });
    assert!(out.faults.is_empty() && out.planned);
}

#[test]
fn same_seed_and_inputs_give_bit_identical_commands() {
    let run = || {
        let mut c = control(Switchable::new(), None);
        let mut commands = Vec::new();
        for i in 0..20 {
            let obs = [(i as f32 * 0.37).sin()];
            let timing = if i == 7 {
                FaultSet::EMPTY.with(Fault::StaleObservation)
            } else {
                FaultSet::EMPTY
            };
            let out = c.cycle(&input(Some(&obs), timing));
            commands.push(out.command()[0].to_bits());
        }
        commands
    };
    assert_eq!(run(), run());
}

/// Cycles as a node records them: budgets cut short at varying points (as a deadline
/// would), a stale gap, a non-finite observation and an episode reset.
fn recorded_run() -> Vec<CycleRecord> {
    let mut c = control(Switchable::new(), None);
    let mut records = Vec::new();
    for i in 0..40u64 {
        if i == 25 {
            c.reset();
        }
        let obs = [((i as f32) * 0.37).sin()];
        let observation = match i {
            10 | 11 => None,
            17 => Some(&[f32::NAN][..]),
            _ => Some(&obs[..]),
        };
        let timing = if observation.is_none() {
            FaultSet::EMPTY.with(Fault::StaleObservation)
        } else {
            FaultSet::EMPTY
        };
        let out = c.cycle(&CycleInput {
            observation,
            image: None,
            fresh: i % 3 != 0,
            timing_faults: timing,
            budget: Budget {
                deadline: None,
                max_transitions: Some(1024),
                max_model_calls: Some(1 + (i * 7919) % 13),
            },
            delay_steps: (i % 3) as u8,
        });
        let timing = CycleTiming::instant(Instant::now());
        records.push(CycleRecord::from_output(out, &timing, i));
    }
    records
}

#[test]
fn replay_of_recorded_cycles_is_bit_identical_and_catches_any_difference() {
    let records = recorded_run();
    assert!(records[25].reset && !records[24].reset);
    assert!(!records[10].has_observation && records[17].faults != 0);
    let calls: std::collections::BTreeSet<u64> = records.iter().map(|r| r.model_calls).collect();
    assert!(calls.len() > 3, "budgets should vary: {calls:?}");

    let fresh = || control(Switchable::new(), None);
    let report = replay(&mut fresh(), records.clone(), Some(1024));
    assert!(report.is_identical(), "{report:?}");
    assert_eq!(report.cycles, 40);
    assert_eq!(report.planned, 37);

    // A different budget in one cycle: its search and every later one (through the
    // warm start and the random stream) change.
    let mut tampered = records.clone();
    tampered[30].model_calls += 5;
    let report = replay(&mut fresh(), tampered, Some(1024));
    assert!(!report.is_identical());
    assert_eq!(report.mismatches[0].cycle, 30, "{report:?}");
    assert!(report.mismatched > 1, "{report:?}");

    // A missing cycle is reported: the warm start after it cannot be reproduced.
    let mut gap = records;
    gap.remove(5);
    let report = replay(&mut fresh(), gap, Some(1024));
    assert_eq!(report.missing, 1);
    assert!(!report.is_identical());
}

#[test]
fn configurations_the_model_cannot_run_are_refused_with_the_reason() {
    let model = Switchable::new();
    let dims = model.dims();
    let planner = || {
        TreePlanner::new(
            TreeConfig::default(),
            ActionConfig::new(vec![-1.0], vec![1.0]),
            dims,
        )
        .unwrap()
    };
    let config = CycleConfig {
        safe_action: vec![0.0, 0.0],
        obs_mean: vec![0.0],
        obs_std: vec![1.0],
        prediction_error_threshold: None,
    };
    let err = ControlLoop::new(model.clone(), planner(), config.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`safe_action` has 2 entries but the model needs 1"
    );
    let config = CycleConfig {
        safe_action: vec![0.0],
        obs_std: vec![0.0],
        ..config
    };
    let err = ControlLoop::new(model, planner(), config).unwrap_err();
    assert_eq!(err.to_string(), "`observation std`[0] = 0 is not usable");
}
