//! Errors: invalid configurations (at construction) and failed plans (at run time).

use thiserror::Error;

use crate::model::{ModelDims, ModelError};

/// Why a planner configuration was refused.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ConfigError {
    /// A numeric field is outside its allowed range.
    #[error("`{field}` = {value} is out of range: {expected}")]
    OutOfRange {
        /// Name of the configuration field.
        field: &'static str,
        /// Value that was given (as f64 for display).
        value: f64,
        /// The allowed range, in words.
        expected: &'static str,
    },
    /// Two fields disagree with each other.
    #[error("{0}")]
    Inconsistent(&'static str),
    /// Action bounds do not match the model's action width.
    #[error("action bounds have {bounds} entries but the model's action width is {action_dim}")]
    BoundsWidth {
        /// Entries in `low`/`high`.
        bounds: usize,
        /// The model's action width.
        action_dim: usize,
    },
    /// An action bound pair is not finite or has `low >= high`.
    #[error("action {index}: bounds [{low}, {high}] must be finite with low < high")]
    BadBounds {
        /// Action index.
        index: usize,
        /// Lower bound.
        low: f32,
        /// Upper bound.
        high: f32,
    },
    /// The model's dimensions cannot be planned with (zero latent or action width).
    #[error("model dimensions {0:?} need latent_dim > 0 and action_dim > 0")]
    BadDims(ModelDims),
}

/// Why a plan failed; the runtime then commands the safe action.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum PlanError {
    /// The world model reported an error.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The world model produced NaN or infinity.
    #[error("`{graph}` returned a non-finite value in `{tensor}`")]
    NonFinite {
        /// Graph that produced it (`step`, `value`, `policy`).
        graph: &'static str,
        /// Output that held it.
        tensor: &'static str,
    },
    /// A return computed from finite model outputs overflowed to infinity.
    #[error("a predicted return overflowed (rewards or values too large for f32)")]
    ReturnOverflow,
    /// The initial latent has the wrong length.
    #[error("initial latent has length {len}, expected {expected}")]
    LatentLength {
        /// Length passed.
        len: usize,
        /// The model's latent width.
        expected: usize,
    },
    /// The initial latent holds NaN or infinity.
    #[error("initial latent holds a non-finite value")]
    NonFiniteLatent,
    /// The model passed to `plan` has other dimensions than the planner was built for.
    #[error("planner was built for {expected:?} but the model has {found:?}")]
    DimsMismatch {
        /// Dimensions at construction.
        expected: ModelDims,
        /// Dimensions of the model passed to `plan`.
        found: ModelDims,
    },
    /// The model accepts no rows at all (`max_batch() == 0`).
    #[error("the model's max_batch is 0")]
    ZeroBatch,
}
