//! Re-running recorded cycles: the determinism check behind `augur replay`.
//!
//! Every [`CycleRecord`] carries the control loop's input (raw observation, `fresh`,
//! timing faults, delay-compensation steps, episode resets) and what the deadline let
//! the planner do (its model calls). Replay feeds the same inputs, in order, to a
//! control loop built from the same model and parameters, with the recorded call count
//! as the budget instead of the deadline, and compares every command bit for bit.

use augur_planner::{Budget, Planner, WorldModel};

use super::CycleRecord;
use crate::control::{ControlLoop, CycleInput};

/// At most this many mismatches are kept for the report (all are counted).
pub const MAX_REPORTED_MISMATCHES: usize = 16;

/// One cycle whose replayed command differs from the recorded one.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub cycle: u64,
    pub recorded: Vec<f32>,
    pub replayed: Vec<f32>,
    /// Model calls of the recorded and the replayed plan.
    pub model_calls: (u64, u64),
}

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayReport {
    /// Cycles replayed.
    pub cycles: u64,
    /// Cycles whose command was planned (not the safe action) in the recording.
    pub planned: u64,
    /// Cycles missing from the recording (gaps in the cycle numbers). Replay after a
    /// gap cannot be exact: the warm start depends on the missing cycles.
    pub missing: u64,
    /// Cycles whose command differs in any bit.
    pub mismatched: u64,
    /// The first [`MAX_REPORTED_MISMATCHES`] mismatches.
    pub mismatches: Vec<Mismatch>,
}

impl ReplayReport {
    /// Every cycle present and every command bit-identical.
    pub fn is_identical(&self) -> bool {
        self.cycles > 0 && self.missing == 0 && self.mismatched == 0
    }
}

/// Replays `records` (in cycle order) through `control`, which must be freshly built
/// from the recording's model and parameters. `max_transitions` is the node's
/// `max_transitions` parameter.
pub fn replay<M: WorldModel, P: Planner>(
    control: &mut ControlLoop<M, P>,
    records: impl IntoIterator<Item = CycleRecord>,
    max_transitions: Option<u64>,
) -> ReplayReport {
    let mut report = ReplayReport::default();
    let mut expected_cycle = 0;
    for record in records {
        if record.cycle > expected_cycle {
            report.missing += record.cycle - expected_cycle;
        }
        expected_cycle = record.cycle + 1;
        if record.reset {
            control.reset();
        }
        let mut budget = Budget {
            deadline: None,
            max_transitions: None,
            max_model_calls: Some(record.model_calls),
        };
        if let Some(max) = max_transitions {
            budget = budget.with_max_transitions(max);
        }
        let output = control.cycle(&CycleInput {
            image: (!record.image.is_empty()).then_some(record.image.as_slice()),
            observation: record
                .has_observation
                .then_some(record.observation.as_slice()),
            fresh: record.fresh,
            timing_faults: record.timing_faults(),
            budget,
            delay_steps: record.delay_steps,
        });
        report.cycles += 1;
        if record.planned {
            report.planned += 1;
        }
        let same = output.command().len() == record.command.len()
            && output
                .command()
                .iter()
                .zip(&record.command)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if !same {
            report.mismatched += 1;
            if report.mismatches.len() < MAX_REPORTED_MISMATCHES {
                report.mismatches.push(Mismatch {
                    cycle: record.cycle,
                    recorded: record.command.clone(),
                    replayed: output.command().to_vec(),
                    model_calls: (record.model_calls, output.plan.model_calls),
                });
            }
        }
    }
    report
}
