//! The robot the runner steps in real time on the pendulum bench: the
//! gymnasium-exact pendulum, or a learned simulator of it (a world model package with
//! a decoder). Both publish the same `JointState` and score episodes with gymnasium's
//! reward, so their returns compare like for like.

use std::path::Path;

use crate::closed_loop::random_start;
use crate::plants::learned::{LearnedPlant, Rollout};
use crate::plants::pendulum::{self, angle_normalize, Pendulum, PendulumState, JOINT};
use anyhow::{bail, Context as _};
use augur_runtime::control::observation::{JointReading, ObservationMap};

/// The joints the plant reports: names, positions, velocities.
pub struct JointSample {
    pub names: Vec<String>,
    pub position: Vec<f64>,
    pub velocity: Vec<f64>,
}

/// One step's scores.
pub struct StepReward {
    /// gymnasium's reward on the plant's state.
    pub task: f64,
    /// The learned simulator's own reward head (none for physics).
    pub model: Option<f64>,
}

/// The plant of a pendulum-bench run.
pub enum BenchPlant {
    /// gymnasium `Pendulum-v1`, exactly.
    Physics(Pendulum),
    /// A world model package standing in for the pendulum.
    Learned {
        sim: Box<LearnedPlant>,
        /// The node's observation mapping, inverted to publish the simulated state.
        map: ObservationMap,
        obs: Vec<f64>,
    },
}

impl BenchPlant {
    /// The physics pendulum at the start state of `seed`.
    pub fn physics(seed: u64) -> BenchPlant {
        BenchPlant::Physics(Pendulum::new(random_start(seed)))
    }

    /// The learned simulator in `package`, read back through `map` (the node's
    /// observation mapping), at the start state of `seed`.
    pub fn learned(
        package: &Path,
        rollout: Rollout,
        map: ObservationMap,
        seed: u64,
    ) -> anyhow::Result<BenchPlant> {
        let sim = LearnedPlant::load(package, rollout)?;
        // The simulator must speak the node's observation, and the runner publishes
        // one JointState topic with the pendulum joint.
        let features: Vec<&str> = map.features().iter().map(|f| f.name.as_str()).collect();
        if sim.observation().len() != features.len() {
            bail!(
                "the simulator package {} has {} observation features, the node's mapping {} ({})",
                package.display(),
                sim.observation().len(),
                features.len(),
                features.join(", ")
            );
        }
        let obs = vec![0.0; features.len()];
        let mut plant = BenchPlant::Learned {
            sim: Box::new(sim),
            map,
            obs,
        };
        let readings = plant.readings()?;
        if readings.len() != 1 || readings[0].joint != JOINT {
            bail!(
                "a learned pendulum must be observed through the one joint `{JOINT}` of one JointState source"
            );
        }
        plant.reset(seed)?;
        Ok(plant)
    }

    /// A new episode from the start state of `seed`.
    pub fn reset(&mut self, seed: u64) -> anyhow::Result<()> {
        let start = random_start(seed);
        match self {
            BenchPlant::Physics(p) => *p = Pendulum::new(start),
            BenchPlant::Learned { sim, .. } => {
                sim.reset(&Pendulum::new(start).observation())?;
                self.refresh();
            }
        }
        Ok(())
    }

    fn refresh(&mut self) {
        if let BenchPlant::Learned { sim, obs, .. } = self {
            for (o, &x) in obs.iter_mut().zip(sim.observation()) {
                *o = f64::from(x);
            }
        }
    }

    fn readings(&self) -> anyhow::Result<Vec<JointReading>> {
        match self {
            BenchPlant::Physics(_) => Ok(Vec::new()),
            BenchPlant::Learned { map, obs, .. } => map
                .joint_readings(0, obs)
                .context("reading the simulated observation back as a JointState"),
        }
    }

    /// The pendulum's state as the plant has it (learned: recovered from the
    /// simulated observation).
    pub fn state(&self) -> PendulumState {
        match self {
            BenchPlant::Physics(p) => p.state,
            BenchPlant::Learned { .. } => {
                let reading = self.readings().ok().and_then(|r| r.into_iter().next());
                PendulumState {
                    theta: reading
                        .as_ref()
                        .and_then(|r| r.position)
                        .unwrap_or(f64::NAN),
                    theta_dot: reading
                        .as_ref()
                        .and_then(|r| r.velocity)
                        .unwrap_or(f64::NAN),
                }
            }
        }
    }

    /// What the robot's joint sensor reports now.
    pub fn joints(&self) -> JointSample {
        let state = self.state();
        JointSample {
            names: vec![JOINT.into()],
            position: vec![state.theta],
            velocity: vec![state.theta_dot],
        }
    }

    /// The angle to plot, rad, 0 upright.
    pub fn angle(&self) -> f64 {
        angle_normalize(self.state().theta)
    }

    /// Applies `torque` for one period.
    pub fn step(&mut self, torque: f32) -> anyhow::Result<StepReward> {
        let reward = match self {
            BenchPlant::Physics(p) => StepReward {
                task: p.step(torque),
                model: None,
            },
            BenchPlant::Learned { .. } => {
                let task = pendulum::reward(self.state(), torque);
                let BenchPlant::Learned { sim, .. } = self else {
                    unreachable!("matched above")
                };
                let model = sim.step(&[torque])?;
                self.refresh();
                StepReward {
                    task,
                    model: Some(f64::from(model)),
                }
            }
        };
        Ok(reward)
    }
}
