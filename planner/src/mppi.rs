//! MPPI / CEM with a policy prior: the planning algorithm of TD-MPC2
//! (`TDMPC2._plan` in `tdmpc2/tdmpc2.py`, Hansen et al. 2024).
//!
//! Each plan:
//! 1. rolls out `prior_trajectories` action sequences sampled from the policy prior
//!    (skipped when the model has no policy graph);
//! 2. starts from mean = the previous plan's mean shifted by one step (the centre of the
//!    bounds for the last step, and everywhere after [`Planner::reset`]) and std =
//!    `max_std`;
//! 3. for `iterations` rounds: samples the remaining rows from the Gaussian, clamps
//!    them to the bounds, evaluates every candidate's discounted return plus the value
//!    bootstrap at the horizon, keeps the `elites` best, and refits mean and std with
//!    weights `exp(temperature * (G - max G))`, clamping std to `[min_std, max_std]`;
//! 4. picks an elite at random in proportion to its weight (TD-MPC2) or takes the mean
//!    ([`ActionSelection`]), and optionally adds `std[0]` noise to the first action.
//!
//! Deviations from TD-MPC2, all deliberate:
//! - Standard deviations are fractions of each component's half range, so they mean
//!   what TD-MPC2's do in its `[-1, 1]` action space; samples are clamped to the
//!   configured bounds instead of `[-1, 1]`, and prior samples are clamped instead of
//!   squashed by `tanh` (the policy graph returns a Gaussian in physical units).
//! - Prior trajectories are evaluated once, while they are generated, instead of once
//!   per iteration: the model is deterministic, so the returns are the same, and it
//!   saves `iterations - 1` re-evaluations.
//! - A NaN or infinite model output is an error ([`PlanError::NonFinite`]) rather than
//!   a return replaced by 0 (`nan_to_num`): on a robot a broken model must stop the
//!   planner, not vote.
//! - The elite is drawn with a uniform sample against the cumulative weights rather
//!   than the Gumbel trick; the distribution is the same.
//! - TD-MPC2 adds 2 iterations when `action_dim >= 20`;
//!   [`MppiConfig::tdmpc2_for`] does the same, [`MppiConfig::tdmpc2`] does not.
//! - The budget may stop the search early (anytime); see [`crate::budget`].
//! - With [`ActionConfig::change_cost`] every candidate's return also pays for its
//!   changes of action, the first measured from the previous command (TD-MPC2 has no
//!   such term; it is 0 by default).
//!
//! [`Planner::reset`]: crate::Planner::reset

use std::time::Instant;

use crate::action::{ActionConfig, ActionFilter, Bounds, ChangeCost};
use crate::budget::{Budget, Call, Meter};
use crate::error::{ConfigError, PlanError};
use crate::model::{ModelDims, WorldModel};
use crate::plan::{Plan, PlanStats};
use crate::rng::PlannerRng;
use crate::{check_inputs, Planner};

/// How MPPI turns the final distribution into an action sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ActionSelection {
    /// Draw one elite with probability proportional to its weight (TD-MPC2).
    #[default]
    EliteSample,
    /// Take the weighted mean of the elites (smoother, better on unimodal problems).
    Mean,
}

/// MPPI settings. [`Default`] is [`MppiConfig::tdmpc2`].
#[derive(Clone, Debug, PartialEq)]
pub struct MppiConfig {
    /// Discount per step (from the model manifest). Default 0.99.
    pub discount: f32,
    /// Seed of the planner's random stream. Default 0.
    pub seed: u64,
    /// Steps planned ahead. Default 3.
    pub horizon: usize,
    /// Candidate sequences per iteration, prior trajectories included. Default 512.
    pub samples: usize,
    /// Sequences sampled from the policy prior (0 without a policy graph). Default 24.
    pub prior_trajectories: usize,
    /// Candidates kept to refit the distribution. Default 64.
    pub elites: usize,
    /// Refit rounds. Default 6.
    pub iterations: usize,
    /// Inverse temperature of the elite weights `exp(temperature * (G - max G))`.
    /// Default 0.5.
    pub temperature: f32,
    /// Smallest std, as a fraction of each component's half range. Default 0.05.
    pub min_std: f32,
    /// Largest (and initial) std, as a fraction of the half range. Default 2.
    pub max_std: f32,
    /// How the final action sequence is chosen. Default [`ActionSelection::EliteSample`].
    pub selection: ActionSelection,
    /// Add `std[0]` Gaussian noise to the first action (TD-MPC2 when training).
    /// Default false (TD-MPC2's `eval_mode`).
    pub exploration_noise: bool,
    /// Start from the previous plan's mean shifted by one step. Default true.
    pub warm_start: bool,
}

impl MppiConfig {
    /// TD-MPC2's planning defaults: horizon 3, 512 samples, 24 prior trajectories,
    /// 64 elites, 6 iterations, temperature 0.5, std in [0.05, 2], elite sampling.
    pub fn tdmpc2() -> Self {
        Self {
            discount: 0.99,
            seed: 0,
            horizon: 3,
            samples: 512,
            prior_trajectories: 24,
            elites: 64,
            iterations: 6,
            temperature: 0.5,
            min_std: 0.05,
            max_std: 2.0,
            selection: ActionSelection::EliteSample,
            exploration_noise: false,
            warm_start: true,
        }
    }

    /// [`MppiConfig::tdmpc2`] with TD-MPC2's extra 2 iterations for `action_dim >= 20`.
    pub fn tdmpc2_for(action_dim: usize) -> Self {
        let mut config = Self::tdmpc2();
        if action_dim >= 20 {
            config.iterations += 2;
        }
        config
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_discount(self.discount)?;
        check_count("mppi.horizon", self.horizon, 1, 1 << 12)?;
        check_count("mppi.samples", self.samples, 2, 1 << 20)?;
        check_count("mppi.iterations", self.iterations, 1, 1 << 16)?;
        if self.prior_trajectories >= self.samples {
            return Err(ConfigError::Inconsistent(
                "mppi.prior_trajectories must be smaller than mppi.samples",
            ));
        }
        if self.elites == 0 || self.elites > self.samples - self.prior_trajectories {
            return Err(ConfigError::Inconsistent(
                "mppi.elites must be in 1..=samples - prior_trajectories",
            ));
        }
        check_positive("mppi.temperature", self.temperature)?;
        check_positive("mppi.min_std", self.min_std)?;
        check_positive("mppi.max_std", self.max_std)?;
        if self.min_std > self.max_std {
            return Err(ConfigError::Inconsistent(
                "mppi.min_std must not exceed mppi.max_std",
            ));
        }
        Ok(())
    }
}

impl Default for MppiConfig {
    fn default() -> Self {
        Self::tdmpc2()
    }
}

pub(crate) fn check_discount(discount: f32) -> Result<(), ConfigError> {
    if discount > 0.0 && discount <= 1.0 {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field: "discount",
            value: f64::from(discount),
            expected: "0 < discount <= 1",
        })
    }
}

pub(crate) fn check_count(
    field: &'static str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value: value as f64,
            expected: "a count within the documented range",
        })
    }
}

pub(crate) fn check_positive(field: &'static str, value: f32) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value: f64::from(value),
            expected: "finite and > 0",
        })
    }
}

/// Rollouts of one set of Gaussian samples, horizon-major so that each model call
/// reads and writes one contiguous `[rows, width]` block.
#[derive(Clone, Debug)]
struct Rollouts {
    /// `[horizon, rows, A]`.
    actions: Vec<f32>,
    /// `[horizon, rows, L]`: latent after each step.
    latents: Vec<f32>,
    /// `[horizon, rows]`.
    rewards: Vec<f32>,
    /// `[rows]`: value at the last latent (0 without a value graph).
    values: Vec<f32>,
}

impl Rollouts {
    fn new(horizon: usize, rows: usize, dims: ModelDims) -> Self {
        Self {
            actions: vec![0.0; horizon * rows * dims.action_dim],
            latents: vec![0.0; horizon * rows * dims.latent_dim],
            rewards: vec![0.0; horizon * rows],
            values: vec![0.0; rows],
        }
    }
}

/// TD-MPC2's MPPI planner over a [`WorldModel`]; every buffer is sized at construction.
#[derive(Clone, Debug)]
pub struct MppiPlanner {
    config: MppiConfig,
    dims: ModelDims,
    bounds: Bounds,
    filter: ActionFilter,
    change_cost: ChangeCost,
    rng: PlannerRng,
    /// `[samples, L]`: the initial latent repeated.
    start_rows: Vec<f32>,
    /// Gaussian samples, double-buffered by iteration parity so that an iteration cut
    /// short by the budget leaves the last complete one intact.
    slots: [Rollouts; 2],
    /// Prior trajectories.
    prior: Rollouts,
    /// `[prior_trajectories, A]` policy outputs.
    prior_mean: Vec<f32>,
    prior_log_std: Vec<f32>,
    /// `[prior_trajectories + samples]`: returns, prior rows first.
    returns: Vec<f32>,
    /// `[prior_trajectories + samples]`: candidate indices for the elite selection.
    order: Vec<u32>,
    /// Committed elites (candidate indices), their weights and returns.
    elites: Vec<u32>,
    scores: Vec<f32>,
    elite_returns: Vec<f32>,
    /// Slot the committed elites' sample rows live in.
    elite_slot: usize,
    /// `[horizon, A]` distribution.
    mean: Vec<f32>,
    std: Vec<f32>,
    /// `[horizon, A]` mean of the previous plan, for the warm start.
    previous_mean: Vec<f32>,
    has_previous: bool,
    /// One-row rollout of the mean (for [`ActionSelection::Mean`]).
    mean_rollout: Rollouts,
    plan: Plan,
}

impl MppiPlanner {
    /// A planner for models of dimensions `dims`, with actions handled by `action`.
    pub fn new(
        config: MppiConfig,
        action: ActionConfig,
        dims: ModelDims,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if dims.latent_dim == 0 || dims.action_dim == 0 {
            return Err(ConfigError::BadDims(dims));
        }
        action.validate(dims.action_dim)?;
        let (h, n, p, a) = (
            config.horizon,
            config.samples,
            config.prior_trajectories,
            dims.action_dim,
        );
        let candidates = n + p;
        let bounds = Bounds::new(&action);
        Ok(Self {
            change_cost: ChangeCost::new(&action, &bounds),
            bounds,
            filter: ActionFilter::new(&action),
            rng: PlannerRng::new(config.seed),
            start_rows: vec![0.0; n * dims.latent_dim],
            slots: [Rollouts::new(h, n, dims), Rollouts::new(h, n, dims)],
            prior: Rollouts::new(h, p, dims),
            prior_mean: vec![0.0; p * a],
            prior_log_std: vec![0.0; p * a],
            returns: vec![0.0; candidates],
            order: vec![0; candidates],
            elites: vec![0; config.elites],
            scores: vec![0.0; config.elites],
            elite_returns: vec![0.0; config.elites],
            elite_slot: 0,
            mean: vec![0.0; h * a],
            std: vec![0.0; h * a],
            previous_mean: vec![0.0; h * a],
            has_previous: false,
            mean_rollout: Rollouts::new(h, 1, dims),
            plan: Plan::new(h, dims.latent_dim, a),
            config,
            dims,
        })
    }

    /// The configuration this planner was built with.
    pub fn config(&self) -> &MppiConfig {
        &self.config
    }

    /// The result of the last plan.
    pub fn last_plan(&self) -> &Plan {
        &self.plan
    }

    /// Restarts the random stream from `seed` (e.g. a different seed per episode).
    pub fn set_seed(&mut self, seed: u64) {
        self.config.seed = seed;
        self.rng = PlannerRng::new(seed);
    }

    /// Rolls out the policy prior from the initial latent for `p` rows, recording
    /// actions, latents, rewards, values and returns.
    ///
    /// Allocation: none. Time: `horizon` policy and step calls and one value call of
    /// `p` rows, plus O(horizon·p·(A + L)).
    fn rollout_prior<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        meter: &mut Meter,
        p: usize,
        has_value: bool,
    ) -> Result<Call, PlanError> {
        let (h, l, a) = (
            self.config.horizon,
            self.dims.latent_dim,
            self.dims.action_dim,
        );
        for t in 0..h {
            let (before, current) = self.prior.latents.split_at_mut(t * p * l);
            let z_in: &[f32] = if t == 0 {
                &self.start_rows[..p * l]
            } else {
                &before[(t - 1) * p * l..]
            };
            if meter.policy(
                model,
                z_in,
                &mut self.prior_mean,
                &mut self.prior_log_std,
                p,
            )? == Call::OutOfBudget
            {
                return Ok(Call::OutOfBudget);
            }
            let actions = &mut self.prior.actions[t * p * a..(t + 1) * p * a];
            for (k, out) in actions.iter_mut().enumerate() {
                let std = self.prior_log_std[k].exp();
                let sample = self.prior_mean[k] + std * self.rng.normal();
                *out = self.bounds.clamp_one(k % a, sample);
            }
            let call = meter.step(
                model,
                z_in,
                &self.prior.actions[t * p * a..(t + 1) * p * a],
                &mut current[..p * l],
                &mut self.prior.rewards[t * p..(t + 1) * p],
            )?;
            if call == Call::OutOfBudget {
                return Ok(Call::OutOfBudget);
            }
        }
        if has_value {
            let last = &self.prior.latents[(h - 1) * p * l..h * p * l];
            if meter.value(model, last, &mut self.prior.values[..p])? == Call::OutOfBudget {
                return Ok(Call::OutOfBudget);
            }
        } else {
            self.prior.values[..p].fill(0.0);
        }
        discounted_returns(
            &self.prior.rewards,
            &self.prior.values,
            p,
            h,
            self.config.discount,
            has_value,
            &mut self.returns[..p],
        )?;
        Self::change_costs(&self.change_cost, &self.filter, &self.config, self.dims).subtract(
            &self.prior.actions,
            p,
            &mut self.returns[..p],
        );
        Ok(Call::Done)
    }

    /// The cost on the change of action, with what it needs to score sequences (from
    /// the planner's fields, so that the returns can be borrowed beside it).
    fn change_costs<'a>(
        cost: &'a ChangeCost,
        filter: &'a ActionFilter,
        config: &MppiConfig,
        dims: ModelDims,
    ) -> SequenceCosts<'a> {
        SequenceCosts {
            cost,
            previous: filter.previous(),
            horizon: config.horizon,
            action_dim: dims.action_dim,
            discount: config.discount,
        }
    }

    /// Samples `rows` Gaussian sequences into `slot` and rolls them out.
    ///
    /// Allocation: none. Time: `horizon` step calls and one value call of `rows` rows,
    /// plus O(horizon·rows·(A + L)).
    fn rollout_samples<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        meter: &mut Meter,
        slot: usize,
        rows: usize,
        has_value: bool,
    ) -> Result<Call, PlanError> {
        let (h, l, a) = (
            self.config.horizon,
            self.dims.latent_dim,
            self.dims.action_dim,
        );
        let rollouts = &mut self.slots[slot];
        // Same order as TD-MPC2's torch.randn(horizon, samples, action_dim).
        for t in 0..h {
            let block = &mut rollouts.actions[t * rows * a..(t + 1) * rows * a];
            for (k, out) in block.iter_mut().enumerate() {
                let j = k % a;
                let sample = self.mean[t * a + j] + self.std[t * a + j] * self.rng.normal();
                *out = self.bounds.clamp_one(j, sample);
            }
        }
        for t in 0..h {
            let (before, current) = rollouts.latents.split_at_mut(t * rows * l);
            let z_in: &[f32] = if t == 0 {
                &self.start_rows[..rows * l]
            } else {
                &before[(t - 1) * rows * l..]
            };
            let call = meter.step(
                model,
                z_in,
                &rollouts.actions[t * rows * a..(t + 1) * rows * a],
                &mut current[..rows * l],
                &mut rollouts.rewards[t * rows..(t + 1) * rows],
            )?;
            if call == Call::OutOfBudget {
                return Ok(Call::OutOfBudget);
            }
        }
        if has_value {
            let last = &rollouts.latents[(h - 1) * rows * l..h * rows * l];
            if meter.value(model, last, &mut rollouts.values[..rows])? == Call::OutOfBudget {
                return Ok(Call::OutOfBudget);
            }
        } else {
            rollouts.values[..rows].fill(0.0);
        }
        Ok(Call::Done)
    }

    /// Action component `j` at step `t` of candidate `c` (prior rows first).
    #[inline]
    fn candidate_action(
        &self,
        c: usize,
        t: usize,
        j: usize,
        prior_rows: usize,
        sample_rows: usize,
        slot: usize,
    ) -> f32 {
        let a = self.dims.action_dim;
        if c < prior_rows {
            self.prior.actions[(t * prior_rows + c) * a + j]
        } else {
            self.slots[slot].actions[(t * sample_rows + (c - prior_rows)) * a + j]
        }
    }

    /// Keeps the best `elites` of candidates `first..count` and refits mean and std.
    ///
    /// Allocation: none (in-place selection and sort). Time:
    /// O(count + elites·log(elites) + elites·horizon·A).
    fn refit(
        &mut self,
        first: usize,
        count: usize,
        prior_rows: usize,
        sample_rows: usize,
        slot: usize,
    ) {
        let (h, a) = (self.config.horizon, self.dims.action_dim);
        let k = self.config.elites.min(count - first);
        let returns = &self.returns;
        // Total order: higher return first, then lower index; deterministic.
        let better = |x: &u32, y: &u32| {
            returns[*y as usize]
                .total_cmp(&returns[*x as usize])
                .then(x.cmp(y))
        };
        let order = &mut self.order[..count - first];
        for (i, o) in order.iter_mut().enumerate() {
            *o = (first + i) as u32;
        }
        if k < order.len() {
            order.select_nth_unstable_by(k - 1, better);
        }
        order[..k].sort_unstable_by(better);
        let max_return = returns[order[0] as usize];
        let mut total = 0.0;
        for (i, &c) in order[..k].iter().enumerate() {
            let g = returns[c as usize];
            let score = (self.config.temperature * (g - max_return)).exp();
            self.elites[i] = c;
            self.elite_returns[i] = g;
            self.scores[i] = score;
            total += score;
        }
        for s in &mut self.scores[..k] {
            *s /= total;
        }
        let norm: f32 = self.scores[..k].iter().sum::<f32>() + 1e-9;
        for t in 0..h {
            for j in 0..a {
                let mut m = 0.0;
                for i in 0..k {
                    let c = self.elites[i] as usize;
                    m += self.scores[i]
                        * self.candidate_action(c, t, j, prior_rows, sample_rows, slot);
                }
                m /= norm;
                let mut v = 0.0;
                for i in 0..k {
                    let c = self.elites[i] as usize;
                    let d = self.candidate_action(c, t, j, prior_rows, sample_rows, slot) - m;
                    v += self.scores[i] * d * d;
                }
                let hr = self.bounds.half_range[j];
                self.mean[t * a + j] = m;
                self.std[t * a + j] = (v / norm)
                    .sqrt()
                    .clamp(self.config.min_std * hr, self.config.max_std * hr);
            }
        }
        self.elite_slot = slot;
        self.scores[k..].fill(0.0);
    }

    /// Copies candidate `c`'s actions, latents and rewards into the plan.
    /// Allocation: none. Time: O(horizon·(A + L)).
    fn copy_candidate(&mut self, c: usize, prior_rows: usize, sample_rows: usize, slot: usize) {
        let (h, l, a) = (
            self.config.horizon,
            self.dims.latent_dim,
            self.dims.action_dim,
        );
        let (rollouts, row, rows) = if c < prior_rows {
            (&self.prior, c, prior_rows)
        } else {
            (&self.slots[slot], c - prior_rows, sample_rows)
        };
        for t in 0..h {
            let src = (t * rows + row) * a;
            self.plan.actions[t * a..(t + 1) * a].copy_from_slice(&rollouts.actions[src..src + a]);
            let src = (t * rows + row) * l;
            self.plan.latents[(t + 1) * l..(t + 2) * l]
                .copy_from_slice(&rollouts.latents[src..src + l]);
            self.plan.rewards[t] = rollouts.rewards[t * rows + row];
        }
        self.plan.steps = h;
    }

    /// Rolls out the current mean as one row and records it as the plan's trajectory.
    ///
    /// Allocation: none. Time: `horizon` step calls and one value call of one row.
    fn evaluate_mean<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        meter: &mut Meter,
        has_value: bool,
    ) -> Result<Option<f32>, PlanError> {
        let (h, l) = (self.config.horizon, self.dims.latent_dim);
        let r = &mut self.mean_rollout;
        r.actions.copy_from_slice(&self.mean);
        for t in 0..h {
            let (before, current) = r.latents.split_at_mut(t * l);
            let z_in: &[f32] = if t == 0 {
                &self.start_rows[..l]
            } else {
                &before[(t - 1) * l..]
            };
            let a = self.dims.action_dim;
            let call = meter.step(
                model,
                z_in,
                &r.actions[t * a..(t + 1) * a],
                &mut current[..l],
                &mut r.rewards[t..t + 1],
            )?;
            if call == Call::OutOfBudget {
                return Ok(None);
            }
        }
        if has_value {
            if meter.value(model, &r.latents[(h - 1) * l..], &mut r.values[..1])?
                == Call::OutOfBudget
            {
                return Ok(None);
            }
        } else {
            r.values[0] = 0.0;
        }
        let mut g = [0.0];
        discounted_returns(
            &r.rewards,
            &r.values,
            1,
            h,
            self.config.discount,
            has_value,
            &mut g,
        )?;
        self.plan.latents[l..].copy_from_slice(&r.latents);
        self.plan.rewards.copy_from_slice(&r.rewards);
        self.plan.steps = h;
        Self::change_costs(&self.change_cost, &self.filter, &self.config, self.dims).subtract(
            &self.mean_rollout.actions,
            1,
            &mut g,
        );
        Ok(Some(g[0]))
    }
}

/// The change-of-action cost of whole sequences ([`ActionConfig::change_cost`]).
struct SequenceCosts<'a> {
    cost: &'a ChangeCost,
    /// The previous command (the first step's change is measured from it).
    previous: Option<&'a [f32]>,
    horizon: usize,
    action_dim: usize,
    discount: f32,
}

impl SequenceCosts<'_> {
    /// Subtracts from each of `rows` returns the discounted cost on the changes of
    /// action of its sequence (`actions` is `[horizon, rows, A]`). Nothing when the
    /// cost is off.
    ///
    /// Allocation: none. Time: O(horizon·rows·A).
    fn subtract(&self, actions: &[f32], rows: usize, out: &mut [f32]) {
        if !self.cost.active() {
            return;
        }
        let a = self.action_dim;
        let row = |t: usize, i: usize| &actions[(t * rows + i) * a..(t * rows + i + 1) * a];
        for (i, g) in out.iter_mut().enumerate().take(rows) {
            let mut d = 1.0f32;
            for t in 0..self.horizon {
                let previous = if t == 0 {
                    self.previous
                } else {
                    Some(row(t - 1, i))
                };
                if let Some(previous) = previous {
                    *g -= d * self.cost.of(previous, row(t, i));
                }
                d *= self.discount;
            }
        }
    }
}

/// `G[i] = sum_t discount^t reward[t, i] + discount^horizon value[i]` (TD-MPC2's
/// `_estimate_value`, same operation order, in f32).
///
/// Allocation: none. Time: O(horizon·rows).
fn discounted_returns(
    rewards: &[f32],
    values: &[f32],
    rows: usize,
    horizon: usize,
    discount: f32,
    bootstrap: bool,
    out: &mut [f32],
) -> Result<Call, PlanError> {
    for (i, g_out) in out.iter_mut().enumerate().take(rows) {
        let mut g = 0.0f32;
        let mut d = 1.0f32;
        for t in 0..horizon {
            g += d * rewards[t * rows + i];
            d *= discount;
        }
        if bootstrap {
            g += d * values[i];
        }
        if !g.is_finite() {
            return Err(PlanError::ReturnOverflow);
        }
        *g_out = g;
    }
    Ok(Call::Done)
}

impl Planner for MppiPlanner {
    /// Allocation: none. Time: at most `1 + iterations` rounds of `horizon` batched
    /// step calls (plus policy/value calls), each refused once the budget runs out.
    fn plan<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        z0: &[f32],
        budget: Budget,
    ) -> Result<&Plan, PlanError> {
        let started = Instant::now();
        check_inputs(model, self.dims, z0)?;
        let mut meter = Meter::new(budget, model.max_batch());
        let (h, l, a) = (
            self.config.horizon,
            self.dims.latent_dim,
            self.dims.action_dim,
        );
        let has_policy = model.has_policy();
        let has_value = model.has_value();
        let prior_rows = if has_policy {
            self.config.prior_trajectories
        } else {
            0
        };
        let sample_rows = self.config.samples - prior_rows;

        // Initial distribution: shifted previous mean (TD-MPC2: mean[:-1] = prev[1:]).
        for t in 0..h {
            for j in 0..a {
                let warm = self.config.warm_start && self.has_previous && t + 1 < h;
                self.mean[t * a + j] = if warm {
                    self.previous_mean[(t + 1) * a + j]
                } else {
                    self.bounds.centre[j]
                };
                self.std[t * a + j] = self.config.max_std * self.bounds.half_range[j];
            }
        }
        for row in self.start_rows.chunks_exact_mut(l) {
            row.copy_from_slice(z0);
        }
        self.plan.latents[..l].copy_from_slice(z0);
        self.plan.steps = 0;
        self.plan.value = None;
        let mut stats = PlanStats {
            best_value: f32::NEG_INFINITY,
            ..PlanStats::default()
        };

        let prior_done = prior_rows > 0
            && self.rollout_prior(model, &mut meter, prior_rows, has_value)? == Call::Done;
        if prior_done {
            stats.trajectories += prior_rows as u64;
            stats.best_value = self.returns[..prior_rows]
                .iter()
                .copied()
                .fold(stats.best_value, f32::max);
        }
        let first = if prior_done { 0 } else { prior_rows };
        let mut completed = 0;
        for iteration in 0..self.config.iterations {
            let slot = iteration % 2;
            if self.rollout_samples(model, &mut meter, slot, sample_rows, has_value)?
                == Call::OutOfBudget
            {
                break;
            }
            let rollouts = &self.slots[slot];
            discounted_returns(
                &rollouts.rewards,
                &rollouts.values,
                sample_rows,
                h,
                self.config.discount,
                has_value,
                &mut self.returns[prior_rows..prior_rows + sample_rows],
            )?;
            Self::change_costs(&self.change_cost, &self.filter, &self.config, self.dims).subtract(
                &self.slots[slot].actions,
                sample_rows,
                &mut self.returns[prior_rows..prior_rows + sample_rows],
            );
            stats.trajectories += sample_rows as u64;
            stats.best_value = self.returns[prior_rows..prior_rows + sample_rows]
                .iter()
                .copied()
                .fold(stats.best_value, f32::max);
            self.refit(
                first,
                prior_rows + sample_rows,
                prior_rows,
                sample_rows,
                slot,
            );
            completed += 1;
        }

        if completed > 0 {
            match self.config.selection {
                ActionSelection::EliteSample => {
                    let k = self.config.elites.min(prior_rows + sample_rows - first);
                    let u = self.rng.uniform();
                    let mut chosen = k - 1;
                    let mut cumulative = 0.0;
                    for i in 0..k {
                        cumulative += self.scores[i];
                        if u < cumulative {
                            chosen = i;
                            break;
                        }
                    }
                    let c = self.elites[chosen] as usize;
                    self.copy_candidate(c, prior_rows, sample_rows, self.elite_slot);
                    self.plan.value = Some(self.elite_returns[chosen]);
                }
                ActionSelection::Mean => {
                    self.plan.actions.copy_from_slice(&self.mean);
                    self.plan.value = self.evaluate_mean(model, &mut meter, has_value)?;
                    if let Some(v) = self.plan.value {
                        stats.trajectories += 1;
                        stats.best_value = stats.best_value.max(v);
                    }
                }
            }
        } else if prior_done {
            // Budget ran out during the first iteration: best prior trajectory.
            let mut best = 0;
            for c in 1..prior_rows {
                if self.returns[c] > self.returns[best] {
                    best = c;
                }
            }
            self.copy_candidate(best, prior_rows, sample_rows, 0);
            self.plan.value = Some(self.returns[best]);
        } else {
            // Nothing evaluated: the warm-start mean (or the centre of the bounds).
            self.plan.actions.copy_from_slice(&self.mean);
        }
        if self.config.exploration_noise && completed > 0 {
            for j in 0..a {
                let noisy = self.plan.actions[j] + self.std[j] * self.rng.normal();
                self.plan.actions[j] = noisy;
            }
        }
        self.bounds.clamp(&mut self.plan.actions);
        self.previous_mean.copy_from_slice(&self.mean);
        self.has_previous = true;
        self.filter
            .apply(&self.plan.actions[..a], &mut self.plan.action);

        stats.iterations = completed as u32;
        stats.model_calls = meter.calls;
        stats.model_transitions = meter.transitions;
        stats.depth_reached = if stats.trajectories > 0 { h as u32 } else { 0 };
        stats.budget_exhausted = meter.exhausted;
        stats.elapsed = started.elapsed();
        self.plan.stats = stats;
        Ok(&self.plan)
    }

    fn reset(&mut self) {
        self.has_previous = false;
        self.filter.reset();
        self.rng = PlannerRng::new(self.config.seed);
    }

    fn dims(&self) -> ModelDims {
        self.dims
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::StaticTarget;

    #[test]
    fn tdmpc2_preset_has_the_papers_values() {
        let c = MppiConfig::tdmpc2();
        assert_eq!(
            (
                c.horizon,
                c.samples,
                c.prior_trajectories,
                c.elites,
                c.iterations
            ),
            (3, 512, 24, 64, 6)
        );
        assert_eq!((c.temperature, c.min_std, c.max_std), (0.5, 0.05, 2.0));
        assert_eq!(c.selection, ActionSelection::EliteSample);
        assert!(!c.exploration_noise);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(MppiConfig::default(), c);
        assert_eq!(MppiConfig::tdmpc2_for(19).iterations, 6);
        assert_eq!(MppiConfig::tdmpc2_for(20).iterations, 8);
    }

    #[test]
    fn returns_are_discounted_rewards_plus_discounted_value() {
        // rewards [t][row] for 2 rows over 2 steps.
        let rewards = [1.0, 10.0, 2.0, 20.0];
        let values = [4.0, 40.0];
        let mut out = [0.0; 2];
        discounted_returns(&rewards, &values, 2, 2, 0.5, true, &mut out).unwrap();
        assert_eq!(
            out,
            [
                1.0 + 0.5 * 2.0 + 0.25 * 4.0,
                10.0 + 0.5 * 20.0 + 0.25 * 40.0
            ]
        );
        discounted_returns(&rewards, &values, 2, 2, 0.5, false, &mut out).unwrap();
        assert_eq!(out, [2.0, 20.0]);
        let huge = [f32::MAX, f32::MAX];
        assert_eq!(
            discounted_returns(&huge, &values[..1], 1, 2, 1.0, false, &mut out[..1]),
            Err(PlanError::ReturnOverflow)
        );
    }

    #[test]
    fn refit_moves_the_mean_to_the_optimum_and_shrinks_std() {
        let mut model = StaticTarget {
            target: vec![0.3, -0.4],
        };
        let config = MppiConfig {
            selection: ActionSelection::Mean,
            ..MppiConfig::tdmpc2()
        };
        let mut p =
            MppiPlanner::new(config, ActionConfig::symmetric(2, 1.0), model.dims()).unwrap();
        let plan = p.plan(&mut model, &[0.0], Budget::unlimited()).unwrap();
        assert!(
            (plan.action()[0] - 0.3).abs() < 0.02 && (plan.action()[1] + 0.4).abs() < 0.02,
            "{:?}",
            plan.action()
        );
        assert!(p.std.iter().all(|s| *s < 0.5), "{:?}", p.std);
        assert!(p.std.iter().all(|s| *s >= 0.05 - 1e-6));
        // Elites are sorted best first and weights sum to one.
        assert!(p.elite_returns.windows(2).all(|w| w[0] >= w[1]));
        assert!((p.scores.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn warm_start_shifts_the_previous_mean() {
        let mut model = StaticTarget { target: vec![0.5] };
        let mut p = MppiPlanner::new(
            MppiConfig::tdmpc2(),
            ActionConfig::symmetric(1, 1.0),
            model.dims(),
        )
        .unwrap();
        p.plan(&mut model, &[0.0], Budget::unlimited()).unwrap();
        let previous = p.mean.clone();
        // With no budget, the plan is the shifted mean, the last step at the centre.
        let plan = p.plan(&mut model, &[0.0], Budget::transitions(0)).unwrap();
        assert_eq!(plan.actions(), &[previous[1], previous[2], 0.0]);
        p.reset();
        let plan = p.plan(&mut model, &[0.0], Budget::transitions(0)).unwrap();
        assert_eq!(plan.actions(), &[0.0, 0.0, 0.0]);
    }
}
