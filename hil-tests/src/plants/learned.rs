//! A learned simulator: a plant that is itself a world model package with a decoder
//! graph (latent -> observation). It stands where the physics plant stands on the
//! bench, so a model and planner can be evaluated inside a learned simulator, and the
//! gap between its returns and the physics plant's on the same scenario measures how
//! far the model's imagination is from the robot.
//!
//! Each step runs the package's dynamics on `(z, action)` and decodes the next
//! latent to a (normalised, then raw) observation. Two ways to carry the state:
//! - [`Rollout::Reencode`] (default): the next latent is the encoding of the decoded
//!   observation, so the simulator's state is the observation, as a physics plant's
//!   is. Errors of the decoder do not compound in latent space.
//! - [`Rollout::Latent`]: the latent is rolled forward and only decoded for output,
//!   the Dreamer-style imagination. TD-MPC2-style latents are trained for short
//!   horizons, so long rollouts can drift off what the decoder knows.
//!
//! [`LearnedSim`] steps many episodes at once as rows of one batched call per graph
//! (`augur eval`); [`LearnedPlant`] is one row of it, the plant `augur hil` steps.

use std::path::{Path, PathBuf};

use augur_planner::WorldModel;
use augur_runtime::model::{PackageError, PrepareOptions, TractWorldModel};

/// How the simulator carries its state from step to step (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollout {
    /// Re-encode the decoded observation every step.
    #[default]
    Reencode,
    /// Roll the latent forward; decode only for output.
    Latent,
}

/// Why a learned simulator cannot run.
#[derive(Debug, thiserror::Error)]
pub enum LearnedPlantError {
    #[error("loading the simulator package {dir}: {source}")]
    Load { dir: PathBuf, source: PackageError },
    #[error("the simulator package {dir} has no decoder graph (latent -> observation): a learned simulator needs one")]
    NoDecoder { dir: PathBuf },
    #[error("the simulator package {dir} is a recurrent model (a `filter` graph): a learned simulator starts each episode from an encoded observation and needs a memoryless package with an `encoder`")]
    Recurrent { dir: PathBuf },
    #[error("{what} has {got} values, the simulator package {dir} expects {expected}")]
    Width {
        dir: PathBuf,
        what: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("the simulator's {graph} graph failed: {message}")]
    Model {
        graph: &'static str,
        message: String,
    },
    #[error("the simulator diverged: its {graph} graph produced a non-finite value")]
    NonFinite { graph: &'static str },
}

/// A world model package run as a plant for one episode: a one-row [`LearnedSim`],
/// the plant `augur hil` steps in real time.
pub struct LearnedPlant {
    sim: LearnedSim,
}

impl LearnedPlant {
    /// Loads the package in `dir`.
    pub fn load(dir: &Path, rollout: Rollout) -> Result<LearnedPlant, LearnedPlantError> {
        let mut sim = LearnedSim::load(dir, rollout)?;
        // A valid state before the first reset, so `observation` has its width.
        sim.reset(&vec![0.0; sim.obs_dim()])?;
        Ok(LearnedPlant { sim })
    }

    /// Starts an episode at `observation` (raw, in the manifest's units).
    pub fn reset(&mut self, observation: &[f32]) -> Result<(), LearnedPlantError> {
        if observation.len() != self.sim.obs_dim() {
            return Err(self.sim.width(
                "the start observation",
                observation.len(),
                self.sim.obs_dim(),
            ));
        }
        self.sim.reset(observation)
    }

    /// The current raw observation.
    pub fn observation(&self) -> &[f32] {
        self.sim.observation(0)
    }

    /// Applies `action` (clamped to the manifest bounds; a non-finite command holds
    /// still) for one period. Returns the reward the package's own reward head
    /// predicts for it.
    pub fn step(&mut self, action: &[f32]) -> Result<f32, LearnedPlantError> {
        if action.len() != self.sim.action_dim() {
            return Err(self
                .sim
                .width("the action", action.len(), self.sim.action_dim()));
        }
        self.sim.step(action)?;
        Ok(self.sim.rewards()[0])
    }
}

/// Most rows one simulator call takes; larger batches are stepped in chunks.
pub const MAX_ROWS: usize = 512;

/// A model package with a decoder run as a plant for `rows` episodes at once: each
/// step is one dynamics call, one decoder call and (re-encoding) one encoder call over
/// all rows. The MLP executor runs a call of `n` rows over exactly those rows, so a
/// row's trajectory does not depend on how many others share the batch.
pub struct LearnedSim {
    dir: PathBuf,
    model: TractWorldModel,
    rollout: Rollout,
    rows: usize,
    obs_dim: usize,
    action_dim: usize,
    latent_dim: usize,
    mean: Vec<f32>,
    std: Vec<f32>,
    low: Vec<f32>,
    high: Vec<f32>,
    z: Vec<f32>,
    z_next: Vec<f32>,
    obs_norm: Vec<f32>,
    obs: Vec<f32>,
    action: Vec<f32>,
    reward: Vec<f32>,
}

impl LearnedSim {
    /// Loads `package` (which must have a decoder).
    pub fn load(package: &Path, rollout: Rollout) -> Result<LearnedSim, LearnedPlantError> {
        let options = PrepareOptions {
            batch_sizes: vec![MAX_ROWS],
            encoder_batch_sizes: vec![MAX_ROWS],
            ..PrepareOptions::default()
        };
        let model =
            TractWorldModel::load(package, &options).map_err(|source| LearnedPlantError::Load {
                dir: package.to_path_buf(),
                source,
            })?;
        if model.is_recurrent() {
            return Err(LearnedPlantError::Recurrent {
                dir: package.to_path_buf(),
            });
        }
        if !model.has_decoder() {
            return Err(LearnedPlantError::NoDecoder {
                dir: package.to_path_buf(),
            });
        }
        let dims = model.dims();
        let manifest = model.manifest();
        Ok(LearnedSim {
            dir: package.to_path_buf(),
            rollout,
            rows: 0,
            obs_dim: dims.obs_dim,
            action_dim: dims.action_dim,
            latent_dim: dims.latent_dim,
            mean: manifest.observation.iter().map(|f| f.mean).collect(),
            std: manifest.observation.iter().map(|f| f.std).collect(),
            low: manifest.action.iter().map(|a| a.low).collect(),
            high: manifest.action.iter().map(|a| a.high).collect(),
            z: Vec::new(),
            z_next: Vec::new(),
            obs_norm: Vec::new(),
            obs: Vec::new(),
            action: Vec::new(),
            reward: Vec::new(),
            model,
        })
    }

    /// Observation width.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Action width.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Action bounds `(low, high)`.
    pub fn bounds(&self) -> (&[f32], &[f32]) {
        (&self.low, &self.high)
    }

    /// Observation feature names (the manifest's).
    pub fn observation_names(&self) -> Vec<String> {
        self.model
            .manifest()
            .observation
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    /// Starts one episode per row at the raw observations `starts` (`[rows, O]`).
    pub fn reset(&mut self, starts: &[f32]) -> Result<(), LearnedPlantError> {
        if starts.is_empty() || !starts.len().is_multiple_of(self.obs_dim) {
            return Err(self.width(
                "the start observations",
                starts.len(),
                starts.len().max(1).next_multiple_of(self.obs_dim),
            ));
        }
        self.rows = starts.len() / self.obs_dim;
        let (l, o, a) = (self.latent_dim, self.obs_dim, self.action_dim);
        self.z = vec![0.0; self.rows * l];
        self.z_next = vec![0.0; self.rows * l];
        self.obs_norm = vec![0.0; self.rows * o];
        self.obs = starts.to_vec();
        self.action = vec![0.0; self.rows * a];
        self.reward = vec![0.0; self.rows];
        self.encode_current()
    }

    /// Rows stepped together.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Raw observation of row `row`.
    pub fn observation(&self, row: usize) -> &[f32] {
        &self.obs[row * self.obs_dim..(row + 1) * self.obs_dim]
    }

    /// All rows' raw observations, `[rows, O]`.
    pub fn observations(&self) -> &[f32] {
        &self.obs
    }

    /// Steps every row with `actions` (`[rows, A]`, clamped to the bounds) for one
    /// period; the rewards the package's reward head predicts are in [`Self::rewards`].
    pub fn step(&mut self, actions: &[f32]) -> Result<(), LearnedPlantError> {
        self.step_first(self.rows, actions)
    }

    /// Steps only the first `rows` rows with `actions` (`[rows, A]`); the others
    /// keep their state (open-loop windows that have ended).
    pub fn step_first(&mut self, rows: usize, actions: &[f32]) -> Result<(), LearnedPlantError> {
        let rows = rows.min(self.rows);
        if actions.len() != rows * self.action_dim {
            return Err(self.width("the actions", actions.len(), rows * self.action_dim));
        }
        let all = std::mem::replace(&mut self.rows, rows);
        let result = self.step_rows(actions);
        self.rows = all;
        result
    }

    fn step_rows(&mut self, actions: &[f32]) -> Result<(), LearnedPlantError> {
        let (a, n) = (self.action_dim, self.rows);
        for (row_out, row_in) in self.action[..n * a]
            .chunks_exact_mut(a)
            .zip(actions.chunks_exact(a))
        {
            for (((y, &x), &lo), &hi) in row_out
                .iter_mut()
                .zip(row_in)
                .zip(&self.low)
                .zip(&self.high)
            {
                *y = if x.is_finite() { x.clamp(lo, hi) } else { 0.0 };
            }
        }
        let (l, o) = (self.latent_dim, self.obs_dim);
        for start in (0..self.rows).step_by(MAX_ROWS) {
            let end = (start + MAX_ROWS).min(self.rows);
            self.model
                .step(
                    &self.z[start * l..end * l],
                    &self.action[start * a..end * a],
                    &mut self.z_next[start * l..end * l],
                    &mut self.reward[start..end],
                )
                .map_err(|e| model_error("dynamics", e))?;
            self.model
                .decode(
                    &self.z_next[start * l..end * l],
                    &mut self.obs_norm[start * o..end * o],
                )
                .map_err(|e| model_error("decoder", e))?;
        }
        finite("dynamics", &self.z_next[..n * l])?;
        finite("dynamics", &self.reward[..n])?;
        finite("decoder", &self.obs_norm[..n * o])?;
        for (raw, norm) in self.obs[..n * o]
            .chunks_exact_mut(o)
            .zip(self.obs_norm.chunks_exact(o))
        {
            for (((y, &n), &m), &s) in raw.iter_mut().zip(norm).zip(&self.mean).zip(&self.std) {
                *y = n * s + m;
            }
        }
        match self.rollout {
            Rollout::Latent => {
                self.z[..n * l].copy_from_slice(&self.z_next[..n * l]);
                Ok(())
            }
            Rollout::Reencode => self.encode_current(),
        }
    }

    /// Rewards of the last step, one per row.
    pub fn rewards(&self) -> &[f32] {
        &self.reward
    }

    /// Encodes the first `self.rows` rows' observations.
    fn encode_current(&mut self) -> Result<(), LearnedPlantError> {
        let (l, o) = (self.latent_dim, self.obs_dim);
        let n = self.rows;
        self.model
            .normalise_observation(&self.obs[..n * o], &mut self.obs_norm[..n * o]);
        for start in (0..self.rows).step_by(MAX_ROWS) {
            let end = (start + MAX_ROWS).min(self.rows);
            self.model
                .encode(
                    &self.obs_norm[start * o..end * o],
                    &mut self.z[start * l..end * l],
                )
                .map_err(|e| model_error("encoder", e))?;
        }
        finite("encoder", &self.z[..n * l])
    }

    fn width(&self, what: &'static str, got: usize, expected: usize) -> LearnedPlantError {
        LearnedPlantError::Width {
            dir: self.dir.clone(),
            what,
            got,
            expected,
        }
    }
}

fn model_error(graph: &'static str, e: impl std::fmt::Display) -> LearnedPlantError {
    LearnedPlantError::Model {
        graph,
        message: e.to_string(),
    }
}

fn finite(graph: &'static str, values: &[f32]) -> Result<(), LearnedPlantError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(LearnedPlantError::NonFinite { graph })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plants::pendulum::{Pendulum, PendulumState};

    fn pendulum_package() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum")
    }

    /// The pendulum's learned simulator tracks the physics pendulum a step at a time:
    /// from the same state under the same torque, the decoded next observation is
    /// close to gymnasium's next observation.
    #[test]
    fn the_pendulum_simulator_predicts_the_physics_step() {
        let mut sim = LearnedPlant::load(&pendulum_package(), Rollout::Reencode).unwrap();
        let mut worst = [0.0f32; 3];
        for k in 0..40 {
            let theta = -3.0 + 0.15 * k as f64;
            let theta_dot = ((k % 7) as f64 - 3.0) * 0.9;
            let torque = ((k % 5) as f32 - 2.0) * 0.9;
            let mut physics = Pendulum::new(PendulumState { theta, theta_dot });
            sim.reset(&physics.observation()).unwrap();
            sim.step(&[torque]).unwrap();
            physics.step(torque);
            for ((w, &a), b) in worst
                .iter_mut()
                .zip(sim.observation())
                .zip(physics.observation())
            {
                *w = w.max((a - b).abs());
            }
        }
        // Held-out one-step RMSE of the decoder is ~0.005 (cos, sin) and ~0.05 rad/s.
        assert!(
            worst[0] < 0.08 && worst[1] < 0.08,
            "cos/sin error {worst:?}"
        );
        assert!(worst[2] < 0.6, "angular velocity error {worst:?}");
    }

    #[test]
    fn commands_are_clamped_and_non_finite_ones_hold_still() {
        let mut a = LearnedPlant::load(&pendulum_package(), Rollout::Reencode).unwrap();
        let mut b = LearnedPlant::load(&pendulum_package(), Rollout::Reencode).unwrap();
        let start = Pendulum::new(PendulumState {
            theta: 2.0,
            theta_dot: 0.5,
        })
        .observation();
        a.reset(&start).unwrap();
        b.reset(&start).unwrap();
        assert_eq!(a.step(&[50.0]).unwrap(), b.step(&[2.0]).unwrap());
        assert_eq!(a.observation(), b.observation());
        a.step(&[f32::NAN]).unwrap();
        b.step(&[0.0]).unwrap();
        assert_eq!(a.observation(), b.observation());
    }

    #[test]
    fn wrong_widths_and_a_package_without_decoder_are_errors() {
        let mut sim = LearnedPlant::load(&pendulum_package(), Rollout::Latent).unwrap();
        let error = sim.reset(&[1.0, 0.0]).unwrap_err().to_string();
        assert!(error.contains("start observation has 2 values"), "{error}");
        let error = sim.step(&[0.0, 1.0]).unwrap_err().to_string();
        assert!(error.contains("action has 2 values"), "{error}");
        let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/bench-1m");
        let error = LearnedPlant::load(&bench, Rollout::Reencode)
            .err()
            .expect("bench-1m has no decoder")
            .to_string();
        assert!(error.contains("no decoder graph"), "{error}");
    }
}
