//! Planners for Augur: given a latent state, a world model and a budget, choose the
//! action to apply now.
//!
//! This crate is pure computation. It knows the world model only through the
//! [`WorldModel`] trait (batched `f32` slices), and it does no I/O: no files, no
//! clocks other than the deadline handed in, no tract, no ROS. The runtime crate
//! implements the trait over tract; tests implement it by hand.
//!
//! Modules:
//! - [`model`]: the [`WorldModel`] boundary trait.
//! - [`tree`]: [`TreePlanner`], sampled tree search with progressive widening and
//!   batched, level-synchronous evaluation (the default planner).
//! - [`mppi`]: [`MppiPlanner`], TD-MPC2's MPPI/CEM with a policy prior.
//! - [`budget`]: [`Budget`], deadline / model-evaluation limits (anytime planning).
//! - [`action`]: [`ActionConfig`], bounds, smoothing and rate limit of the command.
//! - [`plan`]: [`Plan`] and [`PlanStats`], the result with its predicted trajectory.
//! - [`parallel`]: [`SplitModel`], a [`WorldModel`] that splits each batched call
//!   over model replicas on persistent worker threads.
//! - [`error`]: [`ConfigError`] and [`PlanError`].
//! - `testing` (feature `testing`): hand-written models for tests and benchmarks.
//!
//! # Determinism
//!
//! Each planner owns a seeded PRNG (Xoshiro256++); [`Planner::reset`] restarts it from
//! the configured seed. Given the same configuration, model and inputs, and a budget
//! without a deadline, every plan is bit-identical from run to run, on the same
//! platform and build. What breaks this:
//! - a deadline in the [`Budget`]: how much search fits depends on timing;
//! - a model whose outputs for a row depend on the other rows in the batch or on the
//!   batch size (e.g. kernels that tile differently); [`SplitModel`] keeps the rows
//!   and their order, and gives identical results whenever each row's result depends
//!   on that row only;
//! - a different platform or compiler (`f32::exp`, `powf` and `sqrt` may round
//!   differently; the random stream itself is portable).
//!
//! # Allocation
//!
//! Planners allocate every buffer in their constructor; `plan` allocates nothing
//! (except inside an error value on the failure path), as the counting-allocator test
//! in `tests/no_alloc.rs` checks.

#![warn(missing_docs)]

pub mod action;
pub mod budget;
pub mod error;
pub mod model;
pub mod mppi;
pub mod parallel;
pub mod plan;
mod rng;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tree;

pub use action::ActionConfig;
pub use budget::Budget;
pub use error::{ConfigError, PlanError};
pub use model::{ModelDims, ModelError, WorldModel};
pub use mppi::{ActionSelection, MppiConfig, MppiPlanner};
pub use parallel::SplitModel;
pub use plan::{Plan, PlanStats};
pub use tree::{TreeConfig, TreePlanner, TreeSelection};

/// What every planner offers: plan from a latent under a budget, and forget the past.
pub trait Planner {
    /// Plans from latent `z0` (`[L]`) with `model` and returns the plan, which stays
    /// valid until the next call. Always returns the best action found when the budget
    /// runs out; errors (model failure, NaN/Inf outputs, wrong dimensions) leave the
    /// caller to command its safe action.
    fn plan<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        z0: &[f32],
        budget: Budget,
    ) -> Result<&Plan, PlanError>;

    /// Starts a new episode: drops the warm start and the previous command, and
    /// restarts the random stream from the configured seed.
    fn reset(&mut self);

    /// The model dimensions the planner was built for.
    fn dims(&self) -> ModelDims;
}

/// Which planner to build, with its settings. [`Default`] is the tree search.
#[derive(Clone, Debug, PartialEq)]
pub enum PlannerConfig {
    /// Sampled tree search (the default).
    Tree(TreeConfig),
    /// TD-MPC2's MPPI.
    Mppi(MppiConfig),
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self::Tree(TreeConfig::default())
    }
}

impl PlannerConfig {
    /// Checks every field of the chosen planner's configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Tree(config) => config.validate(),
            Self::Mppi(config) => config.validate(),
        }
    }
}

/// Either planner, chosen at run time from a [`PlannerConfig`].
#[derive(Clone, Debug)]
pub enum AnyPlanner {
    /// Sampled tree search.
    Tree(TreePlanner),
    /// TD-MPC2's MPPI.
    Mppi(MppiPlanner),
}

impl AnyPlanner {
    /// Builds the configured planner for models of dimensions `dims`.
    pub fn new(
        config: PlannerConfig,
        action: ActionConfig,
        dims: ModelDims,
    ) -> Result<Self, ConfigError> {
        Ok(match config {
            PlannerConfig::Tree(config) => Self::Tree(TreePlanner::new(config, action, dims)?),
            PlannerConfig::Mppi(config) => Self::Mppi(MppiPlanner::new(config, action, dims)?),
        })
    }
}

impl Planner for AnyPlanner {
    fn plan<M: WorldModel + ?Sized>(
        &mut self,
        model: &mut M,
        z0: &[f32],
        budget: Budget,
    ) -> Result<&Plan, PlanError> {
        match self {
            Self::Tree(planner) => planner.plan(model, z0, budget),
            Self::Mppi(planner) => planner.plan(model, z0, budget),
        }
    }

    fn reset(&mut self) {
        match self {
            Self::Tree(planner) => planner.reset(),
            Self::Mppi(planner) => planner.reset(),
        }
    }

    fn dims(&self) -> ModelDims {
        match self {
            Self::Tree(planner) => planner.dims(),
            Self::Mppi(planner) => planner.dims(),
        }
    }
}

/// Checks the model and initial latent against the planner's dimensions. O(L).
pub(crate) fn check_inputs<M: WorldModel + ?Sized>(
    model: &M,
    dims: ModelDims,
    z0: &[f32],
) -> Result<(), PlanError> {
    let found = model.dims();
    if found.latent_dim != dims.latent_dim || found.action_dim != dims.action_dim {
        return Err(PlanError::DimsMismatch {
            expected: dims,
            found,
        });
    }
    if model.max_batch() == 0 {
        return Err(PlanError::ZeroBatch);
    }
    if z0.len() != dims.latent_dim {
        return Err(PlanError::LatentLength {
            len: z0.len(),
            expected: dims.latent_dim,
        });
    }
    if !z0.iter().all(|v| v.is_finite()) {
        return Err(PlanError::NonFiniteLatent);
    }
    Ok(())
}
