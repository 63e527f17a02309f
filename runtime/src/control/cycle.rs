//! One control cycle, without threads or clocks: observation -> encode -> plan ->
//! safety -> command, plus the prediction monitor. The real-time runner
//! ([`super::runner`]) and `augur replay` both drive it.
//!
//! Nothing here allocates after construction: every buffer is sized from the model's
//! dimensions in [`ControlLoop::new`].

use std::time::{Duration, Instant};

use augur_planner::{Budget, ModelDims, PlanStats, Planner, WorldModel};
use thiserror::Error;

use super::observation::MAX_FEATURES;
use super::safety::{Fault, FaultSet, Watchdog};

/// Most action components a command can have.
pub const MAX_ACTION: usize = 32;
/// Most predicted steps (planner horizon + 1) carried in a cycle's output.
pub const MAX_PREDICTED_STEPS: usize = 16;
/// Most model steps an observation is predicted forward to compensate for delay.
pub const MAX_DELAY_STEPS: u8 = 4;

/// How the cycle behaves; built from node parameters and the manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct CycleConfig {
    /// The command on any fault (manifest `safe` values unless overridden).
    pub safe_action: Vec<f32>,
    /// Per-feature normalisation offsets (manifest).
    pub obs_mean: Vec<f32>,
    /// Per-feature normalisation scales (manifest).
    pub obs_std: Vec<f32>,
    /// Prediction error (RMS, normalised observation units with a decoder, latent units
    /// without) above which the safe action is commanded; `None` only reports it.
    pub prediction_error_threshold: Option<f32>,
}

/// A configuration the cycle cannot run with.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CycleConfigError {
    /// A vector has the wrong length for the model.
    #[error("`{what}` has {len} entries but the model needs {expected}")]
    Width {
        /// Which vector.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The model's width.
        expected: usize,
    },
    /// The model is larger than the fixed-size cycle buffers.
    #[error("the model's {what} width {width} exceeds Augur's limit of {max}")]
    TooWide {
        /// Which width.
        what: &'static str,
        /// The model's width.
        width: usize,
        /// The limit.
        max: usize,
    },
    /// A normalisation scale is zero or not finite, or the safe action is not finite.
    #[error("`{what}`[{index}] = {value} is not usable")]
    BadValue {
        /// Which vector.
        what: &'static str,
        /// Index.
        index: usize,
        /// The value.
        value: f32,
    },
}

/// What one cycle is given.
#[derive(Clone, Copy, Debug)]
pub struct CycleInput<'a> {
    /// The assembled raw observation; `None` when there is none to plan on (not yet
    /// complete, or stale: see `faults`).
    pub observation: Option<&'a [f32]>,
    /// The image input of an image model: every image input with its frames stacked,
    /// normalised (`WorldModel::image_dim` values); `None` for a vector model, or
    /// when no usable frame is there (the cycle then commands the safe action, as
    /// for a missing observation).
    pub image: Option<&'a [f32]>,
    /// Whether new sensor data arrived since the previous cycle (the prediction
    /// monitor compares only then).
    pub fresh: bool,
    /// Faults the caller decided from timing: `NoObservation`, `StaleObservation`,
    /// `DeadlineMisses`. Other faults are decided here.
    pub timing_faults: FaultSet,
    /// The planning budget.
    pub budget: Budget,
    /// Delay compensation: model steps the plant will have taken, under the command
    /// last sent, between this observation and the moment the new command reaches it.
    /// The encoded state is rolled forward that many steps before planning (at most
    /// [`MAX_DELAY_STEPS`]); 0 plans on the observation as it is.
    pub delay_steps: u8,
}

/// What one cycle produced: fixed size, so it crosses threads by value.
#[derive(Clone, Copy, Debug)]
pub struct CycleOutput {
    /// Cycle number, from 0.
    pub cycle: u64,
    /// The command (first `action_dim` entries).
    pub command: [f32; MAX_ACTION],
    /// Action width.
    pub action_dim: usize,
    /// The raw observation planned on (first `obs_dim` entries; zeros if none).
    pub observation: [f32; MAX_FEATURES],
    /// Observation width.
    pub obs_dim: usize,
    /// Whether an observation was available.
    pub has_observation: bool,
    /// The input's `fresh` flag.
    pub fresh: bool,
    /// The input's timing faults.
    pub timing_faults: FaultSet,
    /// Model steps the observation was predicted forward before planning.
    pub delay_steps: u8,
    /// Whether [`ControlLoop::reset`] ran since the previous cycle (a new episode).
    pub reset: bool,
    /// Active faults after this cycle.
    pub faults: FaultSet,
    /// Whether the planner ran to completion and its action was usable.
    pub planned: bool,
    /// The planner's statistics (default when it did not run).
    pub plan: PlanStats,
    /// Time spent in encode + plan.
    pub compute_time: Duration,
    /// Predicted observations along the chosen plan (decoder only): `predicted_steps`
    /// rows of `obs_dim`, raw units, row 0 the current state.
    pub predicted: [f32; MAX_PREDICTED_STEPS * MAX_FEATURES],
    /// Rows in `predicted` (0 without a decoder or without a plan).
    pub predicted_steps: usize,
    /// RMS error of the previous cycle's one-step prediction against this cycle's
    /// observation (`None` if not compared).
    pub prediction_error: Option<f32>,
}

impl CycleOutput {
    /// The command.
    pub fn command(&self) -> &[f32] {
        &self.command[..self.action_dim]
    }

    /// The observation planned on.
    pub fn observation(&self) -> &[f32] {
        &self.observation[..self.obs_dim]
    }

    /// Whether the safe action was commanded.
    pub fn is_safe(&self) -> bool {
        !self.faults.is_empty()
    }
}

/// Encode, plan, guard: one cycle at a time.
#[derive(Debug)]
pub struct ControlLoop<M, P> {
    model: M,
    planner: P,
    config: CycleConfig,
    dims: ModelDims,
    watchdog: Watchdog,
    obs: Vec<f32>,
    z: Vec<f32>,
    // Recurrent models: the model carries `z` from cycle to cycle; `z_prev` is the
    // previous filtered state while the filter writes the new one, and `state_valid`
    // is false until the first filter step and after anything that resets the state
    // (the next step then starts from the model's initial state, `is_first` = 1).
    recurrent: bool,
    z_prev: Vec<f32>,
    state_valid: bool,
    // The state planned from after delay compensation, and a step's scratch.
    z_plan: Vec<f32>,
    z_scratch: Vec<f32>,
    // The one-step prediction made last cycle: latent and (with a decoder) observation.
    z_pred: Vec<f32>,
    obs_pred: Vec<f32>,
    reward_scratch: Vec<f32>,
    has_prediction: bool,
    decoded: Vec<f32>,
    // Image models: the chosen plan's latents (`plan_steps` rows), for `~/imagined`.
    plan_latents: Vec<f32>,
    plan_steps: usize,
    // Skip planning state after a fault so the next good cycle starts afresh.
    needs_reset: bool,
    // `reset` ran since the last cycle: reported once in the next output.
    reset_pending: bool,
    // The planner's action of this cycle (the command unless a fault overrides it).
    action: Vec<f32>,
    next_cycle: u64,
    output: CycleOutput,
}

impl<M: WorldModel, P: Planner> ControlLoop<M, P> {
    /// A control loop over `model` and `planner`.
    pub fn new(model: M, planner: P, config: CycleConfig) -> Result<Self, CycleConfigError> {
        let dims = model.dims();
        let check = |what, len, expected| {
            if len == expected {
                Ok(())
            } else {
                Err(CycleConfigError::Width {
                    what,
                    len,
                    expected,
                })
            }
        };
        check("safe_action", config.safe_action.len(), dims.action_dim)?;
        check("observation mean", config.obs_mean.len(), dims.obs_dim)?;
        check("observation std", config.obs_std.len(), dims.obs_dim)?;
        if dims.action_dim > MAX_ACTION {
            return Err(CycleConfigError::TooWide {
                what: "action",
                width: dims.action_dim,
                max: MAX_ACTION,
            });
        }
        if dims.obs_dim > MAX_FEATURES {
            return Err(CycleConfigError::TooWide {
                what: "observation",
                width: dims.obs_dim,
                max: MAX_FEATURES,
            });
        }
        for (index, &value) in config.obs_std.iter().enumerate() {
            if !(value.is_finite() && value != 0.0) {
                return Err(CycleConfigError::BadValue {
                    what: "observation std",
                    index,
                    value,
                });
            }
        }
        for (index, &value) in config.safe_action.iter().enumerate() {
            if !value.is_finite() {
                return Err(CycleConfigError::BadValue {
                    what: "safe_action",
                    index,
                    value,
                });
            }
        }
        let mut output = CycleOutput {
            cycle: 0,
            command: [0.0; MAX_ACTION],
            action_dim: dims.action_dim,
            observation: [0.0; MAX_FEATURES],
            obs_dim: dims.obs_dim,
            has_observation: false,
            fresh: false,
            timing_faults: FaultSet::EMPTY,
            delay_steps: 0,
            reset: false,
            faults: FaultSet::EMPTY,
            planned: false,
            plan: PlanStats::default(),
            compute_time: Duration::ZERO,
            predicted: [0.0; MAX_PREDICTED_STEPS * MAX_FEATURES],
            predicted_steps: 0,
            prediction_error: None,
        };
        output.command[..dims.action_dim].copy_from_slice(&config.safe_action);
        Ok(ControlLoop {
            obs: vec![0.0; dims.obs_dim],
            z: vec![0.0; dims.latent_dim],
            recurrent: model.is_recurrent(),
            z_prev: vec![0.0; dims.latent_dim],
            state_valid: false,
            z_plan: vec![0.0; dims.latent_dim],
            z_scratch: vec![0.0; dims.latent_dim],
            z_pred: vec![0.0; dims.latent_dim],
            obs_pred: vec![0.0; dims.obs_dim],
            reward_scratch: vec![0.0; 1],
            has_prediction: false,
            decoded: vec![0.0; MAX_PREDICTED_STEPS * dims.obs_dim],
            plan_latents: if model.image_dim() > 0 {
                vec![0.0; MAX_PREDICTED_STEPS * dims.latent_dim]
            } else {
                Vec::new()
            },
            plan_steps: 0,
            needs_reset: false,
            reset_pending: false,
            action: vec![0.0; dims.action_dim],
            next_cycle: 0,
            model,
            planner,
            config,
            dims,
            watchdog: Watchdog::default(),
            output,
        })
    }

    /// Runs one cycle.
    pub fn cycle(&mut self, input: &CycleInput<'_>) -> &CycleOutput {
        // Stage spans (`RUST_LOG=augur_runtime=trace`); disabled levels cost a cached
        // check and allocate nothing.
        let _cycle = tracing::debug_span!("cycle", n = self.next_cycle).entered();
        let started = Instant::now();
        let out = &mut self.output;
        out.cycle = self.next_cycle;
        self.next_cycle += 1;
        for fault in [
            Fault::NoObservation,
            Fault::StaleObservation,
            Fault::DeadlineMisses,
        ] {
            self.watchdog
                .report(fault, input.timing_faults.contains(fault));
        }
        out.planned = false;
        out.plan = PlanStats::default();
        out.predicted_steps = 0;
        self.plan_steps = 0;
        out.prediction_error = None;
        out.has_observation = false;
        out.fresh = input.fresh;
        out.timing_faults = input.timing_faults;
        out.delay_steps = 0;
        out.reset = std::mem::take(&mut self.reset_pending);

        let image_dim = self.model.image_dim();
        let image_ok = match input.image {
            None => image_dim == 0,
            Some(image) => image.len() == image_dim && image_dim > 0,
        };
        let planned = match input.observation {
            Some(raw) if raw.len() == self.dims.obs_dim && image_ok => {
                out.has_observation = true;
                out.observation[..raw.len()].copy_from_slice(raw);
                self.plan(
                    raw,
                    input.image,
                    input.fresh,
                    input.budget,
                    input.delay_steps,
                )
            }
            _ => {
                // Nothing to plan on: a prediction made before the gap is meaningless,
                // and a carried state starts afresh once observations return.
                self.restart();
                false
            }
        };

        let out = &mut self.output;
        if planned && !self.watchdog.is_safe() {
            out.command[..self.dims.action_dim].copy_from_slice(&self.action);
        } else {
            out.command[..self.dims.action_dim].copy_from_slice(&self.config.safe_action);
        }
        if self.watchdog.is_safe() {
            self.watchdog.count_safe_cycle();
        }
        let out = &mut self.output;
        out.planned = planned;
        out.faults = self.watchdog.active();
        out.compute_time = started.elapsed();
        // The prediction for the next cycle, from the command actually sent (with
        // delay compensation it was made before planning, from the previous command:
        // the one the plant applies until the next observation).
        if planned && self.output.delay_steps == 0 {
            tracing::trace_span!("predict").in_scope(|| {
                self.predict_next();
            });
        }
        &self.output
    }

    /// Normalise, encode, compare the prediction, compensate the delay, plan. Returns
    /// whether the planner produced a usable action (stored in `self.action`).
    fn plan(
        &mut self,
        raw: &[f32],
        image: Option<&[f32]>,
        fresh: bool,
        budget: Budget,
        delay_steps: u8,
    ) -> bool {
        let finite = raw.iter().all(|x| x.is_finite())
            && image.is_none_or(|i| i.iter().all(|x| x.is_finite()));
        self.watchdog.report(Fault::NonFiniteObservation, !finite);
        if !finite {
            self.restart();
            return false;
        }
        for (((o, x), m), s) in self
            .obs
            .iter_mut()
            .zip(raw)
            .zip(&self.config.obs_mean)
            .zip(&self.config.obs_std)
        {
            *o = (x - m) / s;
        }
        let encode_span = tracing::trace_span!("encode").entered();
        let encoded = if let Some(image) = image {
            self.model
                .encode_image(image, &self.obs, &mut self.z)
                .is_ok()
        } else if self.recurrent {
            self.update_state(fresh)
        } else {
            self.model.encode(&self.obs, &mut self.z).is_ok()
        } && self.z.iter().all(|x| x.is_finite());
        self.watchdog.report(Fault::ModelFault, !encoded);
        if !encoded {
            // A NaN/Inf carried state is discarded: the next cycle starts afresh.
            self.restart();
            return false;
        }
        drop(encode_span);
        tracing::trace_span!("monitor").in_scope(|| self.monitor(fresh));
        let delay_steps = delay_steps.min(MAX_DELAY_STEPS);
        if delay_steps > 0 {
            let forwarded =
                tracing::trace_span!("compensate").in_scope(|| self.roll_forward(delay_steps));
            self.watchdog.report(Fault::ModelFault, !forwarded);
            if !forwarded {
                self.restart();
                return false;
            }
            self.output.delay_steps = delay_steps;
        } else {
            self.z_plan.copy_from_slice(&self.z);
        }
        if self.needs_reset {
            self.planner.reset();
            self.needs_reset = false;
        }
        let plan_span = tracing::trace_span!("plan").entered();
        let plan = match self.planner.plan(&mut self.model, &self.z_plan, budget) {
            Ok(plan) => plan,
            Err(_) => {
                self.watchdog.report(Fault::PlannerFault, true);
                self.needs_reset = true;
                return false;
            }
        };
        self.watchdog.report(Fault::PlannerFault, false);
        let out = &mut self.output;
        out.plan = *plan.stats();
        self.action.copy_from_slice(plan.action());
        drop(plan_span);
        if !self.plan_latents.is_empty() {
            let l = self.dims.latent_dim;
            let steps = plan.predicted_steps().min(MAX_PREDICTED_STEPS);
            self.plan_latents[..steps * l].copy_from_slice(&plan.latents()[..steps * l]);
            self.plan_steps = steps;
        }
        // Predicted trajectory in observation space, for `~/predicted_path` and plots.
        let _decode = tracing::trace_span!("decode").entered();
        if self.model.has_decoder() {
            let steps = plan.predicted_steps().min(MAX_PREDICTED_STEPS);
            let l = self.dims.latent_dim;
            let o = self.dims.obs_dim;
            let latents = &plan.latents()[..steps * l];
            let decoded = &mut self.decoded[..steps * o];
            if steps > 0 && self.model.decode(latents, decoded).is_ok() {
                for (row, dst) in decoded
                    .chunks_exact(o)
                    .zip(out.predicted.chunks_exact_mut(o))
                {
                    for (((d, x), m), s) in dst
                        .iter_mut()
                        .zip(row)
                        .zip(&self.config.obs_mean)
                        .zip(&self.config.obs_std)
                    {
                        *d = x * s + m;
                    }
                }
                out.predicted_steps = steps;
            }
        }
        true
    }

    /// Updates the carried state of a recurrent model into `self.z`: from the model's
    /// initial state after a reset (`is_first` = 1), by a filter step on a fresh
    /// observation under the command sent last cycle, or, when no new observation
    /// arrived, by a prior step under that command (the plant moved on regardless).
    /// Returns whether the model ran; the caller checks the state is finite.
    fn update_state(&mut self, fresh: bool) -> bool {
        let command = &self.output.command[..self.dims.action_dim];
        std::mem::swap(&mut self.z, &mut self.z_prev);
        let first = !self.state_valid;
        if first {
            self.z_prev.fill(0.0);
        }
        let ok = if first || fresh {
            let is_first = [if first { 1.0 } else { 0.0 }];
            self.model
                .filter(&self.z_prev, command, &self.obs, &is_first, &mut self.z)
                .is_ok()
        } else {
            self.model
                .step(&self.z_prev, command, &mut self.z, &mut self.reward_scratch)
                .is_ok()
        };
        self.state_valid = ok;
        ok
    }

    /// The carried state of a recurrent model after the last cycle (the latent planned
    /// from before delay compensation), or `None` before the first filter step, after a
    /// reset, and for a memoryless model.
    pub fn state(&self) -> Option<&[f32]> {
        (self.recurrent && self.state_valid).then_some(&self.z[..])
    }

    /// After a gap or a fault: the prediction is meaningless, the planner's warm start
    /// is dropped before the next plan, and a carried state starts afresh.
    fn restart(&mut self) {
        self.has_prediction = false;
        self.needs_reset = true;
        self.state_valid = false;
    }

    /// Compares last cycle's one-step prediction with the observation just encoded.
    fn monitor(&mut self, fresh: bool) {
        let out = &mut self.output;
        if !(fresh && self.has_prediction) {
            return;
        }
        let (predicted, actual) = if self.model.has_decoder() {
            (&self.obs_pred, &self.obs)
        } else {
            (&self.z_pred, &self.z)
        };
        let sum: f32 = predicted
            .iter()
            .zip(actual)
            .map(|(p, a)| (p - a) * (p - a))
            .sum();
        let rms = (sum / predicted.len() as f32).sqrt();
        out.prediction_error = Some(rms);
        if let Some(threshold) = self.config.prediction_error_threshold {
            // Hysteresis: clear only once the error is well below the threshold.
            let active = self.watchdog.active().contains(Fault::PredictionError);
            let limit = if active { 0.8 * threshold } else { threshold };
            self.watchdog
                .report(Fault::PredictionError, !(rms <= limit));
        }
    }

    /// Rolls the encoded state `steps` model steps forward under the command last sent
    /// (still in effect at the plant) into `z_plan`; the first step is also the
    /// prediction of the next observation. False if the model fails or diverges.
    fn roll_forward(&mut self, steps: u8) -> bool {
        // This cycle's command has not replaced the one sent yet.
        if !self.predict_next() {
            return false;
        }
        self.z_plan.copy_from_slice(&self.z_pred);
        let command = &self.output.command[..self.dims.action_dim];
        for _ in 1..steps {
            let (z, next) = (&self.z_plan, &mut self.z_scratch);
            let ok = self
                .model
                .step(z, command, next, &mut self.reward_scratch)
                .is_ok()
                && next.iter().all(|x| x.is_finite());
            if !ok {
                return false;
            }
            std::mem::swap(&mut self.z_plan, &mut self.z_scratch);
        }
        true
    }

    /// One model step from the encoded latent with the command sent: the prediction of
    /// the next observation. Returns whether the step gave a finite latent.
    fn predict_next(&mut self) -> bool {
        let command = &self.output.command[..self.dims.action_dim];
        let stepped = self
            .model
            .step(&self.z, command, &mut self.z_pred, &mut self.reward_scratch)
            .is_ok();
        self.has_prediction = stepped
            && (!self.model.has_decoder()
                || self.model.decode(&self.z_pred, &mut self.obs_pred).is_ok());
        stepped && self.z_pred.iter().all(|x| x.is_finite())
    }

    /// Starts a new episode: forgets the warm start, the prediction, a recurrent
    /// model's carried state and the faults' current state (counters are kept).
    pub fn reset(&mut self) {
        self.planner.reset();
        self.state_valid = false;
        self.has_prediction = false;
        self.needs_reset = false;
        self.reset_pending = true;
        for fault in Fault::ALL {
            self.watchdog.report(fault, false);
        }
    }

    /// An image model's chosen plan in latent space: `predicted_steps` rows of
    /// `latent_dim`, row 0 the current latent (empty when the last cycle did not plan,
    /// and always for vector models). Decoded off the control thread for `~/imagined`.
    pub fn plan_latents(&self) -> &[f32] {
        &self.plan_latents[..self.plan_steps * self.dims.latent_dim]
    }

    /// The watchdog (active faults and counters).
    pub fn watchdog(&self) -> &Watchdog {
        &self.watchdog
    }

    /// The latest output.
    pub fn output(&self) -> &CycleOutput {
        &self.output
    }

    /// The model's dimensions.
    pub fn dims(&self) -> ModelDims {
        self.dims
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
}
