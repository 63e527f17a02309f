//! How much search a plan may do, and the metered, checked access to the model that
//! enforces it.
//!
//! A [`Budget`] bounds a plan by wall-clock deadline, by model transitions (rows through
//! the dynamics graph) and/or by model calls. Planners check it before every model
//! call, so a plan never starts a call after its deadline has passed: it overruns the
//! deadline by at most one (chunk of a) batched call.
//!
//! With only transition/call limits, the amount of search, and hence the action, is
//! fully determined by the seed and the inputs. With a deadline, how far the search gets
//! depends on timing, so actions can differ from run to run.

use std::time::Instant;

use crate::error::PlanError;
use crate::model::WorldModel;

/// Limits on one plan. Every limit is optional; a planner also stops at its own
/// configured size (MPPI iterations, tree node capacity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    /// No model call is started at or after this instant.
    pub deadline: Option<Instant>,
    /// Largest number of rows run through the dynamics graph (model evaluations).
    pub max_transitions: Option<u64>,
    /// Largest number of model calls (of any graph, counting each chunk).
    pub max_model_calls: Option<u64>,
}

impl Budget {
    /// No limit beyond the planner's own configuration.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// Stop at `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..Self::default()
        }
    }

    /// Stop after `max_transitions` rows through the dynamics graph (deterministic).
    pub fn transitions(max_transitions: u64) -> Self {
        Self {
            max_transitions: Some(max_transitions),
            ..Self::default()
        }
    }

    /// This budget with a deadline added.
    pub fn with_deadline(self, deadline: Instant) -> Self {
        Self {
            deadline: Some(deadline),
            ..self
        }
    }

    /// This budget with a limit on model transitions added.
    pub fn with_max_transitions(self, max_transitions: u64) -> Self {
        Self {
            max_transitions: Some(max_transitions),
            ..self
        }
    }

    /// This budget with a limit on model calls added.
    pub fn with_max_model_calls(self, max_model_calls: u64) -> Self {
        Self {
            max_model_calls: Some(max_model_calls),
            ..self
        }
    }
}

/// Whether a metered call ran or was refused by the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// The call ran and its outputs are finite.
    Done,
    /// The budget ran out; outputs are incomplete and must not be used.
    OutOfBudget,
}

/// Counts model use against a [`Budget`], splits calls into chunks of at most
/// `max_batch` rows, and rejects non-finite outputs.
#[derive(Clone, Debug)]
pub(crate) struct Meter {
    budget: Budget,
    max_batch: usize,
    /// Model calls made (each chunk counts).
    pub(crate) calls: u64,
    /// Rows run through the dynamics graph.
    pub(crate) transitions: u64,
    /// Set once any call was refused.
    pub(crate) exhausted: bool,
}

impl Meter {
    /// A meter for one plan; `max_batch > 0` is checked by the caller.
    pub(crate) fn new(budget: Budget, max_batch: usize) -> Self {
        Self {
            budget,
            max_batch: max_batch.max(1),
            calls: 0,
            transitions: 0,
            exhausted: false,
        }
    }

    /// Transitions still allowed (u64::MAX when unlimited).
    pub(crate) fn transitions_left(&self) -> u64 {
        match self.budget.max_transitions {
            Some(max) => max.saturating_sub(self.transitions),
            None => u64::MAX,
        }
    }

    /// Whether a call of `rows` rows may start; marks the meter exhausted if not.
    fn admit(&mut self, rows: usize, transitions: bool) -> bool {
        if self.exhausted {
            return false;
        }
        let chunks = rows.div_ceil(self.max_batch) as u64;
        let calls_ok = self
            .budget
            .max_model_calls
            .is_none_or(|max| self.calls + chunks <= max);
        let transitions_ok = !transitions || self.transitions_left() >= rows as u64;
        if !(calls_ok && transitions_ok) {
            self.exhausted = true;
        }
        !self.exhausted
    }

    /// Whether the deadline has passed; marks the meter exhausted if so.
    fn past_deadline(&mut self) -> bool {
        if let Some(deadline) = self.budget.deadline {
            if Instant::now() >= deadline {
                self.exhausted = true;
            }
        }
        self.exhausted
    }

    /// Dynamics over `n` rows: `z[n, L], action[n, A] -> z_next[n, L], reward[n]`.
    ///
    /// Allocation: none. Time: ceil(n / max_batch) model calls plus O(n·L) checks.
    pub(crate) fn step<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<Call, PlanError> {
        let n = reward.len();
        if n == 0 {
            return Ok(Call::Done);
        }
        if !self.admit(n, true) {
            return Ok(Call::OutOfBudget);
        }
        let latent = z.len() / n;
        let width = action.len() / n;
        let mut start = 0;
        while start < n {
            if self.past_deadline() {
                return Ok(Call::OutOfBudget);
            }
            let end = (start + self.max_batch).min(n);
            self.calls += 1;
            self.transitions += (end - start) as u64;
            model.step(
                &z[start * latent..end * latent],
                &action[start * width..end * width],
                &mut z_next[start * latent..end * latent],
                &mut reward[start..end],
            )?;
            check_finite(&z_next[start * latent..end * latent], "step", "z_next")?;
            check_finite(&reward[start..end], "step", "reward")?;
            start = end;
        }
        Ok(Call::Done)
    }

    /// Value over `n` rows: `z[n, L] -> value[n]`.
    ///
    /// Allocation: none. Time: ceil(n / max_batch) model calls plus O(n) checks.
    pub(crate) fn value<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        z: &[f32],
        value: &mut [f32],
    ) -> Result<Call, PlanError> {
        let n = value.len();
        if n == 0 {
            return Ok(Call::Done);
        }
        if !self.admit(n, false) {
            return Ok(Call::OutOfBudget);
        }
        let latent = z.len() / n;
        let mut start = 0;
        while start < n {
            if self.past_deadline() {
                return Ok(Call::OutOfBudget);
            }
            let end = (start + self.max_batch).min(n);
            self.calls += 1;
            model.value(&z[start * latent..end * latent], &mut value[start..end])?;
            check_finite(&value[start..end], "value", "value")?;
            start = end;
        }
        Ok(Call::Done)
    }

    /// Policy prior over `n` rows: `z[n, L] -> mean[n, A], log_std[n, A]`.
    ///
    /// Allocation: none. Time: ceil(n / max_batch) model calls plus O(n·A) checks.
    pub(crate) fn policy<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
        n: usize,
    ) -> Result<Call, PlanError> {
        if n == 0 {
            return Ok(Call::Done);
        }
        if !self.admit(n, false) {
            return Ok(Call::OutOfBudget);
        }
        let latent = z.len() / n;
        let width = mean.len() / n;
        let mut start = 0;
        while start < n {
            if self.past_deadline() {
                return Ok(Call::OutOfBudget);
            }
            let end = (start + self.max_batch).min(n);
            self.calls += 1;
            model.policy(
                &z[start * latent..end * latent],
                &mut mean[start * width..end * width],
                &mut log_std[start * width..end * width],
            )?;
            check_finite(&mean[start * width..end * width], "policy", "mean")?;
            check_finite(&log_std[start * width..end * width], "policy", "log_std")?;
            start = end;
        }
        Ok(Call::Done)
    }
}

/// Errors if any element is NaN or infinite. O(len), no allocation.
fn check_finite(
    values: &[f32],
    graph: &'static str,
    tensor: &'static str,
) -> Result<(), PlanError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(PlanError::NonFinite { graph, tensor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelDims, ModelError};
    use std::time::Duration;

    /// Records the row count of every call; `z_next = z + a`, reward 1, value 2.
    struct Recorder {
        rows: Vec<usize>,
        max_batch: usize,
        poison: bool,
    }

    impl WorldModel for Recorder {
        fn dims(&self) -> ModelDims {
            ModelDims {
                obs_dim: 1,
                latent_dim: 1,
                action_dim: 1,
            }
        }
        fn max_batch(&self) -> usize {
            self.max_batch
        }
        fn has_value(&self) -> bool {
            true
        }
        fn has_policy(&self) -> bool {
            true
        }
        fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
            z.copy_from_slice(obs);
            Ok(())
        }
        fn step(
            &mut self,
            z: &[f32],
            a: &[f32],
            zn: &mut [f32],
            r: &mut [f32],
        ) -> Result<(), ModelError> {
            self.rows.push(r.len());
            for i in 0..r.len() {
                zn[i] = z[i] + a[i];
                r[i] = if self.poison { f32::NAN } else { 1.0 };
            }
            Ok(())
        }
        fn value(&mut self, _z: &[f32], v: &mut [f32]) -> Result<(), ModelError> {
            self.rows.push(v.len());
            v.fill(2.0);
            Ok(())
        }
        fn policy(&mut self, _z: &[f32], m: &mut [f32], s: &mut [f32]) -> Result<(), ModelError> {
            m.fill(0.0);
            s.fill(f32::INFINITY);
            Ok(())
        }
    }

    fn recorder(max_batch: usize) -> Recorder {
        Recorder {
            rows: Vec::new(),
            max_batch,
            poison: false,
        }
    }

    #[test]
    fn calls_are_split_into_chunks_of_max_batch() {
        let mut model = recorder(4);
        let mut meter = Meter::new(Budget::unlimited(), 4);
        let z = [0.0; 10];
        let a = [1.0; 10];
        let (mut zn, mut r) = ([0.0; 10], [0.0; 10]);
        assert_eq!(
            meter.step(&mut model, &z, &a, &mut zn, &mut r).unwrap(),
            Call::Done
        );
        assert_eq!(model.rows, vec![4, 4, 2]);
        assert_eq!(meter.calls, 3);
        assert_eq!(meter.transitions, 10);
        assert_eq!(zn, [1.0; 10]);
    }

    #[test]
    fn transition_limit_refuses_a_call_that_would_exceed_it() {
        let mut model = recorder(16);
        let mut meter = Meter::new(Budget::transitions(15), 16);
        let z = [0.0; 10];
        let (mut zn, mut r) = ([0.0; 10], [0.0; 10]);
        assert_eq!(
            meter.step(&mut model, &z, &z, &mut zn, &mut r).unwrap(),
            Call::Done
        );
        assert_eq!(
            meter.step(&mut model, &z, &z, &mut zn, &mut r).unwrap(),
            Call::OutOfBudget
        );
        assert!(meter.exhausted);
        assert_eq!(meter.transitions, 10);
        assert_eq!(model.rows, vec![10]);
    }

    #[test]
    fn call_limit_counts_chunks() {
        let mut model = recorder(4);
        let mut meter = Meter::new(Budget::unlimited().with_max_model_calls(2), 4);
        let z = [0.0; 10];
        let mut v = [0.0; 10];
        assert_eq!(
            meter.value(&mut model, &z, &mut v).unwrap(),
            Call::OutOfBudget
        );
        assert!(model.rows.is_empty());
    }

    #[test]
    fn passed_deadline_refuses_every_call() {
        let mut model = recorder(4);
        let past = Instant::now() - Duration::from_millis(1);
        let mut meter = Meter::new(Budget::until(past), 4);
        let z = [0.0; 2];
        let mut v = [0.0; 2];
        assert_eq!(
            meter.value(&mut model, &z, &mut v).unwrap(),
            Call::OutOfBudget
        );
        assert!(model.rows.is_empty());
    }

    #[test]
    fn non_finite_outputs_are_errors() {
        let mut model = recorder(4);
        model.poison = true;
        let mut meter = Meter::new(Budget::unlimited(), 4);
        let z = [0.0; 2];
        let (mut zn, mut r) = ([0.0; 2], [0.0; 2]);
        let err = meter.step(&mut model, &z, &z, &mut zn, &mut r).unwrap_err();
        assert_eq!(
            err,
            PlanError::NonFinite {
                graph: "step",
                tensor: "reward"
            }
        );
        let (mut m, mut s) = ([0.0; 2], [0.0; 2]);
        let err = meter.policy(&mut model, &z, &mut m, &mut s, 2).unwrap_err();
        assert_eq!(
            err,
            PlanError::NonFinite {
                graph: "policy",
                tensor: "log_std"
            }
        );
    }
}
