//! Closed-loop episodes in one process: plant -> observation -> world model ->
//! planner -> plant, with no transport in between. This is how a planner and a model
//! are scored against a plant; the node-level benches add the real transport.

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use augur_planner::{Budget, PlanError, Planner, WorldModel};
use augur_runtime::model::TractWorldModel;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use crate::plants::pendulum::{Pendulum, PendulumState};

/// One control step of a pendulum episode, in process or over a transport
/// (the `sim` module's `PendulumBench`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRecord {
    /// Plant state before the step.
    pub state: PendulumState,
    /// Torque applied, N·m.
    pub action: f32,
    /// Reward of the step.
    pub reward: f64,
    /// State available -> command: encode + plan in process; state published ->
    /// command received over a transport.
    pub latency: Duration,
    /// Reward the model predicted for the commanded action (in process).
    pub predicted_reward: Option<f32>,
    /// Model transitions the plan imagined (in process).
    pub transitions: Option<u64>,
    /// The node's predicted angle one step ahead, from `~/predicted_path` (over a
    /// transport).
    pub predicted_theta: Option<f64>,
}

/// A finished episode.
#[derive(Debug, Clone)]
pub struct Episode {
    /// Seed of the start state.
    pub seed: u64,
    /// Sum of rewards.
    pub total_return: f64,
    /// Every step, in order.
    pub steps: Vec<StepRecord>,
}

/// Gymnasium's start distribution for `Pendulum-v1`: θ uniform in [-π, π], θ̇ in [-1, 1],
/// drawn from a portable seeded stream (not NumPy's, so the starts differ from
/// gymnasium's for the same seed, but are the same on every platform).
pub fn random_start(seed: u64) -> PendulumState {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let theta = rng.random_range(-PI..PI);
    let theta_dot = rng.random_range(-1.0..1.0);
    PendulumState { theta, theta_dot }
}

/// Gymnasium's own start of `Pendulum-v1` after `env.reset(seed=seed)`, for seeds
/// below [`GYMNASIUM_SEEDS`]: recorded from gymnasium by
/// `hil-tests/py/pendulum_starts.py` into `hil-tests/data/pendulum_gymnasium_starts.json`
/// (checked against gymnasium by `tests/pendulum_matches_gymnasium.rs`). The plant
/// steps as gymnasium does, so an episode from it is gymnasium's episode for that seed.
pub fn gymnasium_start(seed: u64) -> Option<PendulumState> {
    #[derive(serde::Deserialize)]
    struct Starts {
        starts: Vec<[f64; 2]>,
    }
    static STARTS: std::sync::OnceLock<Vec<[f64; 2]>> = std::sync::OnceLock::new();
    let starts = STARTS.get_or_init(|| {
        let text = include_str!("../data/pendulum_gymnasium_starts.json");
        serde_json::from_str::<Starts>(text)
            .expect("the embedded start states parse")
            .starts
    });
    let [theta, theta_dot] = *starts.get(usize::try_from(seed).ok()?)?;
    Some(PendulumState { theta, theta_dot })
}

/// Seeds with a recorded gymnasium start ([`gymnasium_start`]).
pub const GYMNASIUM_SEEDS: u64 = 300;

/// Where the episodes of a bench start (`--starts` of `augur sim` and
/// `augur bench-control`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Starts {
    /// Gymnasium's own `env.reset(seed=i)` states (seeds below [`GYMNASIUM_SEEDS`]).
    Gymnasium,
    /// Upright at rest (θ = 0, θ̇ = 0): holding only.
    Upright,
    /// Augur's portable stream ([`random_start`]), any seed.
    Portable,
}

impl Starts {
    /// Checks that seeds `first .. first + count` have a start.
    pub fn check(self, first: u64, count: u64) -> anyhow::Result<()> {
        anyhow::ensure!(
            self != Starts::Gymnasium || first.saturating_add(count) <= GYMNASIUM_SEEDS,
            "--starts gymnasium has seeds 0..{GYMNASIUM_SEEDS}; asked for {first}..{} \
             (--starts portable has any seed)",
            first.saturating_add(count)
        );
        Ok(())
    }

    /// The start of episode `seed` (in the range [`Starts::check`] accepted).
    pub fn state(self, seed: u64) -> PendulumState {
        match self {
            Starts::Gymnasium => gymnasium_start(seed).expect("seed range checked"),
            Starts::Upright => PendulumState {
                theta: 0.0,
                theta_dot: 0.0,
            },
            Starts::Portable => random_start(seed),
        }
    }
}

/// The package's observation `(mean, std)` pairs, which normalise each observation as
/// the runtime does.
pub fn observation_scales(model: &TractWorldModel) -> Vec<(f32, f32)> {
    model
        .manifest()
        .observation
        .iter()
        .map(|f| (f.mean, f.std))
        .collect()
}

/// Runs `steps` control periods from `start`, planning with `budget()` each period.
pub fn run_pendulum_episode<P: Planner>(
    model: &mut TractWorldModel,
    planner: &mut P,
    seed: u64,
    steps: usize,
    budget: impl Fn() -> Budget,
) -> Result<Episode, PlanError> {
    let scales = observation_scales(model);
    run_pendulum_episode_on(model, &scales, planner, seed, steps, budget)
}

/// [`run_pendulum_episode`] on any [`WorldModel`] (a `SplitModel` over several
/// threads, say): `scales` are the package's observation `(mean, std)` pairs, which
/// normalise each observation as the runtime does.
pub fn run_pendulum_episode_on<M: WorldModel, P: Planner>(
    model: &mut M,
    scales: &[(f32, f32)],
    planner: &mut P,
    seed: u64,
    steps: usize,
    budget: impl Fn() -> Budget,
) -> Result<Episode, PlanError> {
    let start = random_start(seed);
    run_pendulum_episode_from(model, scales, planner, seed, start, steps, budget)
}

/// [`run_pendulum_episode_on`] from a given start state (`seed` only labels the
/// episode), e.g. [`gymnasium_start`].
pub fn run_pendulum_episode_from<M: WorldModel, P: Planner>(
    model: &mut M,
    scales: &[(f32, f32)],
    planner: &mut P,
    seed: u64,
    start: PendulumState,
    steps: usize,
    budget: impl Fn() -> Budget,
) -> Result<Episode, PlanError> {
    let mut plant = Pendulum::new(start);
    planner.reset();
    let dims = model.dims();
    let mut obs = vec![0.0f32; dims.obs_dim];
    let mut z = vec![0.0f32; dims.latent_dim];
    // A recurrent model carries its filtered state from step to step, starting from
    // its initial state (`is_first`), and is told the torque applied in between.
    let mut z_prev = vec![0.0f32; dims.latent_dim];
    let mut applied = vec![0.0f32; dims.action_dim];
    let mut records = Vec::with_capacity(steps);
    let mut total_return = 0.0;
    for step in 0..steps {
        let started = Instant::now();
        // The plant observes [cos θ, sin θ, θ̇]; a model with fewer features reads the
        // first ones (an angle-only model: [cos θ, sin θ]).
        for ((y, x), (mean, std)) in obs.iter_mut().zip(plant.observation()).zip(scales) {
            *y = (x - mean) / std;
        }
        if model.is_recurrent() {
            std::mem::swap(&mut z, &mut z_prev);
            let is_first = [if step == 0 { 1.0 } else { 0.0 }];
            model.filter(&z_prev, &applied, &obs, &is_first, &mut z)?;
        } else {
            model.encode(&obs, &mut z)?;
        }
        let plan = planner.plan(model, &z, budget())?;
        let latency = started.elapsed();
        let action = plan.action()[0];
        applied.copy_from_slice(plan.action());
        let predicted_reward = plan.rewards().first().copied();
        let state = plant.state;
        let reward = plant.step(action);
        total_return += reward;
        records.push(StepRecord {
            state,
            action,
            reward,
            latency,
            predicted_reward,
            transitions: Some(plan.stats().model_transitions),
            predicted_theta: None,
        });
    }
    Ok(Episode {
        seed,
        total_return,
        steps: records,
    })
}
