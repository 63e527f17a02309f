//! The boundary between planners and whatever executes the world model.
//!
//! Every call is batched and row-major: a buffer holding `n` rows of width `w` has
//! length `n * w`, and `n` is derived from the buffer lengths. Implementations must
//! not allocate in steady state: the planner hands in preallocated buffers and
//! expects them filled in place.

use thiserror::Error;

/// Widths of the vectors a world model consumes and produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelDims {
    /// Width of the (normalised) observation vector.
    pub obs_dim: usize,
    /// Width of the latent state.
    pub latent_dim: usize,
    /// Width of the action vector.
    pub action_dim: usize,
}

/// Why a world-model call failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// The package has no such graph (value and policy are optional).
    #[error("the model has no `{0}` graph")]
    MissingGraph(&'static str),
    /// More rows were passed than the model was prepared for.
    #[error("`{graph}`: batch of {requested} rows exceeds the prepared maximum of {max}")]
    BatchTooLarge {
        /// Graph that was called.
        graph: &'static str,
        /// Rows in the call.
        requested: usize,
        /// Largest batch the model accepts.
        max: usize,
    },
    /// Buffer lengths disagree with the model's dimensions.
    #[error("`{graph}`: buffer `{tensor}` has length {len}, expected {expected}")]
    BadBuffer {
        /// Graph that was called.
        graph: &'static str,
        /// Role of the buffer (`z`, `action`, ...).
        tensor: &'static str,
        /// Length that was passed.
        len: usize,
        /// Length the call needed.
        expected: usize,
    },
    /// The executor failed; the message comes from it.
    #[error("`{graph}` failed: {message}")]
    Inference {
        /// Graph that was called.
        graph: &'static str,
        /// The executor's own description (failure path only, so it may allocate).
        message: String,
    },
}

/// A batched latent world model (TD-MPC2 / Dreamer style) as planners use it.
pub trait WorldModel {
    /// Vector widths.
    fn dims(&self) -> ModelDims;
    /// Largest number of rows one call accepts.
    fn max_batch(&self) -> usize;
    /// Whether [`WorldModel::value`] is available (no value: no bootstrap at the horizon).
    /// Defaults to false: the value graph is optional.
    fn has_value(&self) -> bool {
        false
    }
    /// Whether [`WorldModel::policy`] is available (no policy: no prior samples).
    /// Defaults to false: the policy graph is optional.
    fn has_policy(&self) -> bool {
        false
    }

    /// Encodes normalised observations `obs[n, O]` into latents `z[n, L]` (a memoryless
    /// model; a recurrent one reports its encoder missing and filters instead).
    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError>;

    /// Values of the image part of one encoder row (every image input, its frames
    /// stacked, normalised as the model declares): 0 for a model of vectors only,
    /// which is the default.
    fn image_dim(&self) -> usize {
        0
    }

    /// Encodes rows of images `image[n, I]` (`I` = [`WorldModel::image_dim`]) with
    /// their normalised observations `obs[n, O]` (`O` may be 0) into latents
    /// `z[n, L]`. Models without image inputs keep the default, which reports the
    /// image encoder missing.
    fn encode_image(
        &mut self,
        _image: &[f32],
        _obs: &[f32],
        _z: &mut [f32],
    ) -> Result<(), ModelError> {
        Err(ModelError::MissingGraph("image encoder"))
    }

    /// Whether the latent is a state carried from step to step by
    /// [`WorldModel::filter`] (a Dreamer-style recurrent model) rather than the
    /// encoding of one observation. Defaults to false.
    fn is_recurrent(&self) -> bool {
        false
    }

    /// One filter step of a recurrent model (Dreamer's posterior, `obs_step`): the
    /// previous states `z_prev[n, L]`, the actions applied since `action_prev[n, A]`,
    /// the new normalised observations `obs[n, O]` and `is_first[n]` (1 starts from
    /// the model's initial state, ignoring `z_prev` and `action_prev`; 0 continues)
    /// -> the filtered states `z[n, L]`. Memoryless models keep the default, which
    /// reports the graph missing.
    fn filter(
        &mut self,
        _z_prev: &[f32],
        _action_prev: &[f32],
        _obs: &[f32],
        _is_first: &[f32],
        _z: &mut [f32],
    ) -> Result<(), ModelError> {
        Err(ModelError::MissingGraph("filter"))
    }

    /// One imagined step: `z[n, L], action[n, A] -> z_next[n, L], reward[n]`.
    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError>;

    /// State value `value[n]` of latents `z[n, L]`. Models without a value graph keep
    /// the default, which reports it missing.
    fn value(&mut self, _z: &[f32], _value: &mut [f32]) -> Result<(), ModelError> {
        Err(ModelError::MissingGraph("value"))
    }

    /// Policy prior: Gaussian `mean[n, A]` and `log_std[n, A]` at latents `z[n, L]`.
    /// Models without a policy graph keep the default, which reports it missing.
    fn policy(
        &mut self,
        _z: &[f32],
        _mean: &mut [f32],
        _log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        Err(ModelError::MissingGraph("policy"))
    }

    /// Whether [`WorldModel::decode`] is available. Defaults to false: the decoder is
    /// optional and planners never need it (the runtime uses it for diagnostics).
    fn has_decoder(&self) -> bool {
        false
    }

    /// Decodes latents `z[n, L]` into normalised observations `obs[n, O]`. Models
    /// without a decoder graph keep the default, which reports it missing.
    fn decode(&mut self, _z: &[f32], _obs: &mut [f32]) -> Result<(), ModelError> {
        Err(ModelError::MissingGraph("decoder"))
    }
}

/// Checks that `len` holds whole rows of `width` and returns the row count.
pub fn rows(
    graph: &'static str,
    tensor: &'static str,
    len: usize,
    width: usize,
) -> Result<usize, ModelError> {
    if width == 0 || !len.is_multiple_of(width) {
        return Err(ModelError::BadBuffer {
            graph,
            tensor,
            len,
            expected: len.next_multiple_of(width.max(1)),
        });
    }
    Ok(len / width)
}
