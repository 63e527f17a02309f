//! What a plan returns: the command, the chosen action sequence, its predicted
//! trajectory and statistics. All buffers are sized once, at planner construction.

use std::time::Duration;

/// Counters and outcomes of one call to `plan`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlanStats {
    /// Completed search rounds: MPPI iterations, or tree batches.
    pub iterations: u32,
    /// Complete horizon-length trajectories evaluated (prior, samples or tree paths).
    pub trajectories: u64,
    /// Tree nodes created (0 for MPPI).
    pub nodes_expanded: u64,
    /// Model calls made, of every graph (each chunk of a split call counts).
    pub model_calls: u64,
    /// Rows run through the dynamics graph.
    pub model_transitions: u64,
    /// Deepest level searched: tree depth at which sampled (non-default) actions were
    /// tried; for MPPI the horizon once a trajectory was evaluated.
    pub depth_reached: u32,
    /// Best predicted return found (`-inf` if no trajectory was evaluated).
    pub best_value: f32,
    /// Wall-clock time spent in `plan`.
    pub elapsed: Duration,
    /// Whether the budget (deadline, transitions or calls) stopped the search.
    pub budget_exhausted: bool,
}

/// The result of a plan, owned by the planner and overwritten by the next plan.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) action: Vec<f32>,
    pub(crate) actions: Vec<f32>,
    pub(crate) latents: Vec<f32>,
    pub(crate) rewards: Vec<f32>,
    pub(crate) steps: usize,
    pub(crate) value: Option<f32>,
    pub(crate) latent_dim: usize,
    pub(crate) action_dim: usize,
    pub(crate) stats: PlanStats,
}

impl Plan {
    /// Buffers for a horizon of `horizon` steps.
    pub(crate) fn new(horizon: usize, latent_dim: usize, action_dim: usize) -> Self {
        Self {
            action: vec![0.0; action_dim],
            actions: vec![0.0; horizon * action_dim],
            latents: vec![0.0; (horizon + 1) * latent_dim],
            rewards: vec![0.0; horizon],
            steps: 0,
            value: None,
            latent_dim,
            action_dim,
            stats: PlanStats::default(),
        }
    }

    /// The action to command now: the first planned action, clamped to the bounds, then
    /// smoothed and rate-limited as configured.
    pub fn action(&self) -> &[f32] {
        &self.action
    }

    /// The chosen action sequence, `[horizon, A]` row-major, clamped but not filtered.
    pub fn actions(&self) -> &[f32] {
        &self.actions
    }

    /// Number of steps in the chosen action sequence (the planner's horizon).
    pub fn horizon(&self) -> usize {
        self.rewards.len()
    }

    /// Steps of the predicted trajectory available: the horizon, or 0 when the budget
    /// ran out before any trajectory was evaluated.
    pub fn predicted_steps(&self) -> usize {
        self.steps
    }

    /// Predicted latents along the chosen sequence, `[predicted_steps + 1, L]`; the
    /// first row is the initial latent.
    pub fn latents(&self) -> &[f32] {
        &self.latents[..(self.steps + 1) * self.latent_dim]
    }

    /// Predicted reward of each step of the chosen sequence, `[predicted_steps]`.
    pub fn rewards(&self) -> &[f32] {
        &self.rewards[..self.steps]
    }

    /// Predicted discounted return of the chosen sequence including the value bootstrap
    /// at the horizon, if it was evaluated.
    pub fn value(&self) -> Option<f32> {
        self.value
    }

    /// Width of one latent row.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Width of one action row.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Counters of this plan.
    pub fn stats(&self) -> &PlanStats {
        &self.stats
    }
}
