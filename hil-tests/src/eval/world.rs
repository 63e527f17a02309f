//! The two worlds of an evaluation: the learned simulator, stepping many episodes at
//! once as rows of one batched model call, and the reference plant it is judged
//! against, one episode at a time.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, Context as _};
use augur_planner::WorldModel;
use augur_runtime::model::{PrepareOptions, TractWorldModel};

use crate::closed_loop::Starts;
use crate::plants::learned::Rollout;
use crate::plants::pendulum::Pendulum;

/// Most rows one simulator call takes; larger batches are stepped in chunks.
pub const MAX_ROWS: usize = 512;

/// A model package with a decoder run as a plant for `rows` episodes at once: each
/// step is one dynamics call, one decoder call and (re-encoding) one encoder call over
/// all rows. The MLP executor runs a call of `n` rows over exactly those rows, so a
/// row's trajectory does not depend on how many others share the batch.
pub struct LearnedSim {
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
    pub fn load(package: &Path, rollout: Rollout) -> anyhow::Result<LearnedSim> {
        let options = PrepareOptions {
            batch_sizes: vec![MAX_ROWS],
            encoder_batch_sizes: vec![MAX_ROWS],
            ..PrepareOptions::default()
        };
        let model = TractWorldModel::load(package, &options)
            .with_context(|| format!("loading the simulator package {}", package.display()))?;
        if !model.has_decoder() {
            bail!(
                "the simulator package {} has no decoder graph (latent -> observation): a learned simulator needs one",
                package.display()
            );
        }
        let dims = model.dims();
        let manifest = model.manifest();
        Ok(LearnedSim {
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
    pub fn reset(&mut self, starts: &[f32]) -> anyhow::Result<()> {
        anyhow::ensure!(
            !starts.is_empty() && starts.len().is_multiple_of(self.obs_dim),
            "start observations: {} values are not whole rows of {}",
            starts.len(),
            self.obs_dim
        );
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
    pub fn step(&mut self, actions: &[f32]) -> anyhow::Result<()> {
        anyhow::ensure!(
            actions.len() == self.action.len(),
            "actions: {} values for {} rows of {}",
            actions.len(),
            self.rows,
            self.action_dim
        );
        self.step_first(self.rows, actions)
    }

    /// Steps only the first `rows` rows with `actions` (`[rows, A]`); the others
    /// keep their state (open-loop windows that have ended).
    pub fn step_first(&mut self, rows: usize, actions: &[f32]) -> anyhow::Result<()> {
        anyhow::ensure!(
            rows <= self.rows && actions.len() == rows * self.action_dim,
            "actions: {} values for {rows} of {} rows of {}",
            actions.len(),
            self.rows,
            self.action_dim
        );
        let all = std::mem::replace(&mut self.rows, rows);
        let result = self.step_rows(actions);
        self.rows = all;
        result
    }

    fn step_rows(&mut self, actions: &[f32]) -> anyhow::Result<()> {
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
            self.model.step(
                &self.z[start * l..end * l],
                &self.action[start * a..end * a],
                &mut self.z_next[start * l..end * l],
                &mut self.reward[start..end],
            )?;
            self.model.decode(
                &self.z_next[start * l..end * l],
                &mut self.obs_norm[start * o..end * o],
            )?;
        }
        finite("dynamics", &self.z_next[..n * l])?;
        finite("reward", &self.reward[..n])?;
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
    fn encode_current(&mut self) -> anyhow::Result<()> {
        let (l, o) = (self.latent_dim, self.obs_dim);
        let n = self.rows;
        self.model
            .normalise_observation(&self.obs[..n * o], &mut self.obs_norm[..n * o]);
        for start in (0..self.rows).step_by(MAX_ROWS) {
            let end = (start + MAX_ROWS).min(self.rows);
            self.model.encode(
                &self.obs_norm[start * o..end * o],
                &mut self.z[start * l..end * l],
            )?;
        }
        finite("encoder", &self.z[..n * l])
    }
}

fn finite(graph: &str, values: &[f32]) -> anyhow::Result<()> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        bail!("the learned simulator diverged: its {graph} output is not finite")
    }
}

/// A reference plant: the world an evaluation trusts.
pub trait Reference {
    /// Starts the episode of `seed`; returns its first observation.
    fn reset(&mut self, seed: u64) -> anyhow::Result<Vec<f32>>;
    /// Applies `action` for one period; returns the reward and the next observation.
    fn step(&mut self, action: &[f32]) -> anyhow::Result<(f64, Vec<f32>)>;
}

/// The gymnasium-exact pendulum in process.
pub struct PendulumReference {
    starts: Starts,
    plant: Option<Pendulum>,
}

impl PendulumReference {
    pub fn new(starts: Starts) -> Self {
        PendulumReference {
            starts,
            plant: None,
        }
    }
}

impl Reference for PendulumReference {
    fn reset(&mut self, seed: u64) -> anyhow::Result<Vec<f32>> {
        let plant = Pendulum::new(self.starts.state(seed));
        let obs = plant.observation().to_vec();
        self.plant = Some(plant);
        Ok(obs)
    }

    fn step(&mut self, action: &[f32]) -> anyhow::Result<(f64, Vec<f32>)> {
        let plant = self.plant.as_mut().context("step before reset")?;
        let reward = plant.step(action[0]);
        Ok((reward, plant.observation().to_vec()))
    }
}

/// gymnasium's `Reacher-v5`, stepped by `hil-tests/py/reacher_step.py` over a pipe
/// (one JSON line each way per call).
pub struct ReacherReference {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
}

impl ReacherReference {
    /// Starts the stepping process with `python`.
    pub fn start(python: &Path, workspace: &Path) -> anyhow::Result<ReacherReference> {
        let script: PathBuf = workspace.join("hil-tests/py/reacher_step.py");
        if !python.exists() {
            bail!(
                "Python not found at {}: run `scripts/python-env.sh` (or set AUGUR_PYTHON)",
                python.display()
            );
        }
        let mut child = Command::new(python)
            .arg(&script)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", script.display()))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(ReacherReference {
            child,
            stdin,
            stdout,
            line: String::new(),
        })
    }

    fn call(&mut self, request: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        writeln!(self.stdin, "{request}").context("writing to reacher_step.py")?;
        self.stdin.flush()?;
        self.line.clear();
        if self.stdout.read_line(&mut self.line)? == 0 {
            bail!("reacher_step.py exited: {:?}", self.child.try_wait()?);
        }
        let reply: serde_json::Value = serde_json::from_str(&self.line)
            .with_context(|| format!("reacher_step.py replied `{}`", self.line.trim()))?;
        if let Some(error) = reply.get("error") {
            bail!("reacher_step.py: {error}");
        }
        Ok(reply)
    }
}

fn floats(value: &serde_json::Value, key: &str) -> anyhow::Result<Vec<f32>> {
    value[key]
        .as_array()
        .with_context(|| format!("reply without `{key}`"))?
        .iter()
        .map(|v| v.as_f64().map(|x| x as f32).context("non-number"))
        .collect()
}

impl Reference for ReacherReference {
    fn reset(&mut self, seed: u64) -> anyhow::Result<Vec<f32>> {
        let reply = self.call(serde_json::json!({ "reset": seed }))?;
        floats(&reply, "obs")
    }

    fn step(&mut self, action: &[f32]) -> anyhow::Result<(f64, Vec<f32>)> {
        let reply = self.call(serde_json::json!({ "step": action }))?;
        let reward = reply["reward"].as_f64().context("reply without `reward`")?;
        Ok((reward, floats(&reply, "obs")?))
    }
}

impl Drop for ReacherReference {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{{\"quit\": true}}");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plants::learned::LearnedPlant;

    fn pendulum() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum")
    }

    fn starts(n: usize) -> Vec<f32> {
        let mut reference = PendulumReference::new(Starts::Gymnasium);
        (0..n as u64)
            .flat_map(|s| reference.reset(s).unwrap())
            .collect()
    }

    /// A row's trajectory is the same bits alone, in a batch of 7, and in the
    /// one-row `LearnedPlant` that `augur hil` runs: batching changes nothing.
    #[test]
    fn rows_do_not_depend_on_their_batch() {
        for rollout in [Rollout::Reencode, Rollout::Latent] {
            let mut batch = LearnedSim::load(&pendulum(), rollout).unwrap();
            let mut alone = LearnedSim::load(&pendulum(), rollout).unwrap();
            let mut plant = LearnedPlant::load(&pendulum(), rollout).unwrap();
            let all = starts(7);
            batch.reset(&all).unwrap();
            alone.reset(&all[3 * 3..4 * 3]).unwrap();
            plant.reset(&all[3 * 3..4 * 3]).unwrap();
            for t in 0..30 {
                let actions: Vec<f32> = (0..7)
                    .map(|r| ((t * 7 + r) % 9) as f32 * 0.5 - 2.0)
                    .collect();
                batch.step(&actions).unwrap();
                alone.step(&actions[3..4]).unwrap();
                let reward = plant.step(&actions[3..4]).unwrap();
                assert_eq!(
                    batch.observation(3),
                    alone.observation(0),
                    "{rollout:?} step {t}"
                );
                assert_eq!(batch.rewards()[3], alone.rewards()[0]);
                assert_eq!(alone.observation(0), plant.observation());
                assert_eq!(alone.rewards()[0], reward);
            }
        }
    }

    #[test]
    fn bad_widths_and_packages_without_decoder_are_errors() {
        let mut sim = LearnedSim::load(&pendulum(), Rollout::Reencode).unwrap();
        let e = sim.reset(&[1.0, 0.0]).unwrap_err().to_string();
        assert!(e.contains("not whole rows of 3"), "{e}");
        sim.reset(&starts(2)).unwrap();
        let e = sim.step(&[0.0]).unwrap_err().to_string();
        assert!(e.contains("1 values for 2 rows of 1"), "{e}");
        let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/bench-1m");
        let e = LearnedSim::load(&bench, Rollout::Reencode)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no decoder graph"), "{e}");
    }
}
