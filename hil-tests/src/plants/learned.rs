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

/// A world model package run as a plant.
pub struct LearnedPlant {
    dir: PathBuf,
    model: TractWorldModel,
    rollout: Rollout,
    mean: Vec<f32>,
    std: Vec<f32>,
    low: Vec<f32>,
    high: Vec<f32>,
    /// Current latent.
    z: Vec<f32>,
    z_next: Vec<f32>,
    /// Normalised observation scratch.
    obs_norm: Vec<f32>,
    /// Current raw observation.
    obs: Vec<f32>,
    action: Vec<f32>,
}

impl LearnedPlant {
    /// Loads the package in `dir` for one-row calls.
    pub fn load(dir: &Path, rollout: Rollout) -> Result<LearnedPlant, LearnedPlantError> {
        let options = PrepareOptions {
            batch_sizes: vec![1],
            encoder_batch_sizes: vec![1],
            ..PrepareOptions::default()
        };
        let model =
            TractWorldModel::load(dir, &options).map_err(|source| LearnedPlantError::Load {
                dir: dir.to_path_buf(),
                source,
            })?;
        if !model.has_decoder() {
            return Err(LearnedPlantError::NoDecoder {
                dir: dir.to_path_buf(),
            });
        }
        let manifest = model.manifest();
        let dims = model.dims();
        Ok(LearnedPlant {
            dir: dir.to_path_buf(),
            rollout,
            mean: manifest.observation.iter().map(|f| f.mean).collect(),
            std: manifest.observation.iter().map(|f| f.std).collect(),
            low: manifest.action.iter().map(|a| a.low).collect(),
            high: manifest.action.iter().map(|a| a.high).collect(),
            z: vec![0.0; dims.latent_dim],
            z_next: vec![0.0; dims.latent_dim],
            obs_norm: vec![0.0; dims.obs_dim],
            obs: vec![0.0; dims.obs_dim],
            action: vec![0.0; dims.action_dim],
            model,
        })
    }

    /// Starts an episode at `observation` (raw, in the manifest's units).
    pub fn reset(&mut self, observation: &[f32]) -> Result<(), LearnedPlantError> {
        self.check_width("the start observation", observation.len(), self.obs.len())?;
        self.obs.copy_from_slice(observation);
        self.encode_current()
    }

    /// The current raw observation.
    pub fn observation(&self) -> &[f32] {
        &self.obs
    }

    /// Applies `action` (clamped to the manifest bounds) for one period. Returns the
    /// reward the package's own reward head predicts for it.
    pub fn step(&mut self, action: &[f32]) -> Result<f32, LearnedPlantError> {
        self.check_width("the action", action.len(), self.action.len())?;
        for (((a, &x), &lo), &hi) in self
            .action
            .iter_mut()
            .zip(action)
            .zip(&self.low)
            .zip(&self.high)
        {
            // A non-finite command is the node's fault to report, not the plant's to
            // integrate: the actuator holds still.
            *a = if x.is_finite() { x.clamp(lo, hi) } else { 0.0 };
        }
        let mut reward = [0.0f32];
        self.model
            .step(&self.z, &self.action, &mut self.z_next, &mut reward)
            .map_err(|e| model_error("dynamics", e))?;
        finite("dynamics", &self.z_next)?;
        self.model
            .decode(&self.z_next, &mut self.obs_norm)
            .map_err(|e| model_error("decoder", e))?;
        finite("decoder", &self.obs_norm)?;
        for (((o, &n), &m), &s) in self
            .obs
            .iter_mut()
            .zip(&self.obs_norm)
            .zip(&self.mean)
            .zip(&self.std)
        {
            *o = n * s + m;
        }
        match self.rollout {
            Rollout::Latent => std::mem::swap(&mut self.z, &mut self.z_next),
            Rollout::Reencode => self.encode_current()?,
        }
        Ok(reward[0])
    }

    fn encode_current(&mut self) -> Result<(), LearnedPlantError> {
        self.model
            .normalise_observation(&self.obs, &mut self.obs_norm);
        self.model
            .encode(&self.obs_norm, &mut self.z)
            .map_err(|e| model_error("encoder", e))?;
        finite("encoder", &self.z)
    }

    fn check_width(
        &self,
        what: &'static str,
        got: usize,
        expected: usize,
    ) -> Result<(), LearnedPlantError> {
        if got == expected {
            return Ok(());
        }
        Err(LearnedPlantError::Width {
            dir: self.dir.clone(),
            what,
            got,
            expected,
        })
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
