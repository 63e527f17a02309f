//! A recurrent model's carried state in the control cycle: where it starts, what each
//! filter step is given, what resets it (a new episode, a sensor gap, a fault), and
//! that replay reproduces a run with resets bit for bit.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use augur_planner::{
    ActionConfig, Budget, ModelDims, ModelError, TreeConfig, TreePlanner, WorldModel,
};
use augur_runtime::control::{ControlLoop, CycleConfig, CycleInput, CycleTiming, Fault, FaultSet};
use augur_runtime::record::replay::replay;
use augur_runtime::record::CycleRecord;

const TARGET: f32 = 0.4;
const SAFE: f32 = -0.5;
/// What the prior step adds to the step counter (so a prior step is told from a filter step).
const PRIOR_STEP: f32 = 1000.0;
/// An observation on which the model's filter diverges (a reproducible model fault).
const POISON: f32 = 7.0;

/// One filter call as the model saw it.
#[derive(Clone, Debug, PartialEq)]
struct FilterCall {
    z_prev: Vec<f32>,
    action_prev: f32,
    obs: f32,
    is_first: bool,
}

/// A recurrent model whose state is `[steps filtered since the first, sum of
/// observations]`; rewards favour `TARGET` plus a tenth of the state's sum, so the
/// command depends on the history. Logs every filter call; gives NaN when switched
/// to or on `POISON`.
#[derive(Clone, Debug, Default)]
struct Counting {
    calls: Rc<RefCell<Vec<FilterCall>>>,
    nan: Rc<Cell<bool>>,
}

impl WorldModel for Counting {
    fn dims(&self) -> ModelDims {
        ModelDims {
            obs_dim: 1,
            latent_dim: 2,
            action_dim: 1,
        }
    }
    fn max_batch(&self) -> usize {
        4096
    }
    fn encode(&mut self, _obs: &[f32], _z: &mut [f32]) -> Result<(), ModelError> {
        Err(ModelError::MissingGraph("encoder"))
    }
    fn is_recurrent(&self) -> bool {
        true
    }
    fn filter(
        &mut self,
        z_prev: &[f32],
        action_prev: &[f32],
        obs: &[f32],
        is_first: &[f32],
        z: &mut [f32],
    ) -> Result<(), ModelError> {
        let first = is_first[0] == 1.0;
        self.calls.borrow_mut().push(FilterCall {
            z_prev: z_prev.to_vec(),
            action_prev: action_prev[0],
            obs: obs[0],
            is_first: first,
        });
        if first {
            z.copy_from_slice(&[1.0, obs[0]]);
        } else {
            z.copy_from_slice(&[z_prev[0] + 1.0, z_prev[1] + obs[0]]);
        }
        if self.nan.get() || obs[0] == POISON {
            z[1] = f32::NAN;
        }
        Ok(())
    }
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        for (i, r) in reward.iter_mut().enumerate() {
            let (count, sum) = (z[2 * i], z[2 * i + 1]);
            z_next[2 * i] = count + PRIOR_STEP;
            z_next[2 * i + 1] = sum;
            let want = TARGET + 0.1 * sum;
            *r = -(action[i] - want) * (action[i] - want);
        }
        Ok(())
    }
}

fn control(model: Counting) -> ControlLoop<Counting, TreePlanner> {
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
            prediction_error_threshold: None,
        },
    )
    .unwrap()
}

fn cycle<'a>(
    c: &'a mut ControlLoop<Counting, TreePlanner>,
    obs: Option<f32>,
    fresh: bool,
) -> &'a augur_runtime::control::CycleOutput {
    let observation = obs.map(|x| [x]);
    let timing = if obs.is_none() {
        FaultSet::EMPTY.with(Fault::StaleObservation)
    } else {
        FaultSet::EMPTY
    };
    c.cycle(&CycleInput {
        image: None,
        observation: observation.as_ref().map(|o| &o[..]),
        fresh,
        timing_faults: timing,
        budget: Budget::transitions(512),
        delay_steps: 0,
    })
}

#[test]
fn the_state_starts_from_the_initial_state_and_each_step_gets_the_command_sent() {
    let model = Counting::default();
    let calls = model.calls.clone();
    let mut c = control(model);
    assert_eq!(c.state(), None, "no state before the first filter step");
    let mut sent = Vec::new();
    for obs in [0.5f32, 0.25, -1.0, 2.0] {
        let out = cycle(&mut c, Some(obs), true);
        assert!(out.planned && out.faults.is_empty());
        sent.push(out.command()[0]);
    }
    let calls = calls.borrow();
    assert_eq!(calls.len(), 4);
    assert!(
        calls[0].is_first,
        "the first cycle starts from the initial state"
    );
    assert!(calls[1..].iter().all(|c| !c.is_first));
    for i in 1..4 {
        assert_eq!(
            calls[i].action_prev.to_bits(),
            sent[i - 1].to_bits(),
            "step {i} is given the command sent in the cycle before"
        );
    }
    assert_eq!(calls[3].z_prev, [3.0, 0.5 + 0.25 - 1.0]);
    assert_eq!(c.state(), Some(&[4.0, 1.75][..]));
    // The command follows the filtered state, not the last observation alone: the
    // planner aimed at TARGET + 0.1 * (sum of observations).
    assert!((sent[3] - (TARGET + 0.175)).abs() < 0.05, "{sent:?}");
}

#[test]
fn a_cycle_without_a_new_observation_advances_the_state_by_the_prior() {
    let model = Counting::default();
    let calls = model.calls.clone();
    let mut c = control(model);
    cycle(&mut c, Some(0.5), true);
    let out = cycle(&mut c, Some(0.5), false);
    assert!(out.planned);
    assert_eq!(
        calls.borrow().len(),
        1,
        "the old observation is not filtered twice"
    );
    assert_eq!(c.state(), Some(&[1.0 + PRIOR_STEP, 0.5][..]));
    cycle(&mut c, Some(0.25), true);
    assert_eq!(calls.borrow()[1].z_prev, [1.0 + PRIOR_STEP, 0.5]);
    assert!(!calls.borrow()[1].is_first);
}

#[test]
fn an_episode_reset_and_a_sensor_gap_restart_the_state() {
    let model = Counting::default();
    let calls = model.calls.clone();
    let mut c = control(model);
    for obs in [0.5, 0.5, 0.5] {
        cycle(&mut c, Some(obs), true);
    }
    c.reset();
    assert_eq!(c.state(), None);
    let out = cycle(&mut c, Some(0.25), true);
    assert!(out.reset && out.planned);
    assert!(calls.borrow()[3].is_first, "a new episode starts afresh");
    assert_eq!(c.state(), Some(&[1.0, 0.25][..]));

    cycle(&mut c, Some(0.25), true);
    // A gap longer than the sensor timeout: the runner passes no observation.
    let out = cycle(&mut c, None, false);
    assert_eq!(out.command(), [SAFE]);
    assert_eq!(c.state(), None);
    let out = cycle(&mut c, Some(-0.5), true);
    assert!(out.planned && out.faults.is_empty());
    let calls = calls.borrow();
    assert!(calls[5].is_first, "the state after a gap starts afresh");
    assert_eq!(c.state(), Some(&[1.0, -0.5][..]));
}

#[test]
fn a_non_finite_state_is_a_model_fault_that_resets_the_state_and_recovers() {
    let model = Counting::default();
    let (calls, nan) = (model.calls.clone(), model.nan.clone());
    let mut c = control(model);
    cycle(&mut c, Some(0.5), true);
    cycle(&mut c, Some(0.5), true);
    nan.set(true);
    for _ in 0..2 {
        let out = cycle(&mut c, Some(0.5), true);
        assert_eq!(out.command(), [SAFE]);
        assert!(out.faults.contains(Fault::ModelFault));
        assert!(!out.planned);
        assert_eq!(c.state(), None, "a NaN state is not carried on");
    }
    nan.set(false);
    let out = cycle(&mut c, Some(0.5), true);
    assert!(out.planned && out.faults.is_empty(), "{:?}", out.faults);
    assert_eq!(c.watchdog().raised(Fault::ModelFault), 1);
    let calls = calls.borrow();
    assert!(calls[2].is_first == false && calls[3].is_first && calls[4].is_first);
    assert_eq!(c.state(), Some(&[1.0, 0.5][..]));
}

#[test]
fn replay_of_a_recurrent_run_with_resets_gaps_and_faults_is_bit_identical() {
    let record = |model: Counting| {
        let mut c = control(model);
        let mut records = Vec::new();
        for i in 0..60u64 {
            if i == 30 || i == 45 {
                c.reset();
            }
            let obs = ((i as f32) * 0.37).sin();
            let observation = match i {
                12 | 13 => None,
                22 => Some([POISON]),
                _ => Some([obs]),
            };
            let out = c.cycle(&CycleInput {
                image: None,
                observation: observation.as_ref().map(|o| &o[..]),
                fresh: i % 4 != 0,
                timing_faults: if observation.is_none() {
                    FaultSet::EMPTY.with(Fault::StaleObservation)
                } else {
                    FaultSet::EMPTY
                },
                budget: Budget {
                    deadline: None,
                    max_transitions: Some(512),
                    max_model_calls: Some(1 + (i * 7919) % 11),
                },
                delay_steps: (i % 3) as u8,
            });
            let timing = CycleTiming::instant(Instant::now());
            records.push(CycleRecord::from_output(out, &timing, i));
        }
        records
    };
    let records = record(Counting::default());
    assert!(records[30].reset && records[45].reset);
    assert!(records[22].faults != 0 && !records[12].has_observation);
    let report = replay(
        &mut control(Counting::default()),
        records.clone(),
        Some(512),
    );
    assert!(report.is_identical(), "{report:?}");
    assert_eq!(report.cycles, 60);

    // The state matters: one different observation early on changes later commands
    // (until the next reset restarts the state), which replay reports.
    let mut tampered = records;
    tampered[5].observation[0] += 0.5;
    let report = replay(&mut control(Counting::default()), tampered, Some(512));
    assert!(!report.is_identical());
    assert_eq!(report.mismatches[0].cycle, 5, "{report:?}");
    assert!(report.mismatched > 3, "{report:?}");
}
