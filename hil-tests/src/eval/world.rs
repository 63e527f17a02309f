//! The two worlds of an evaluation: the learned simulator, stepping many episodes at
//! once as rows of one batched model call, and the reference plant it is judged
//! against, one episode at a time.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{bail, Context as _};

use crate::closed_loop::Starts;
pub use crate::plants::learned::LearnedSim;
use crate::plants::pendulum::Pendulum;

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
        let script: PathBuf = workspace.join(super::REACHER_STEP);
        if !script.is_file() {
            bail!(
                "{} not found: run augur eval from the Augur checkout",
                script.display()
            );
        }
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
    use crate::plants::learned::{LearnedPlant, Rollout};

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
        assert!(e.contains("the start observations has 2 values"), "{e}");
        sim.reset(&starts(2)).unwrap();
        let e = sim.step(&[0.0]).unwrap_err().to_string();
        assert!(e.contains("the actions has 1 values"), "{e}");
        let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/bench-1m");
        let e = LearnedSim::load(&bench, Rollout::Reencode)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no decoder graph"), "{e}");
    }
}
