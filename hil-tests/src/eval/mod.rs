//! `augur eval`: does a learned simulator rank policies the way the reference plant
//! does? Every policy of an evaluation file runs on every seed in both worlds; the
//! report gives each policy's mean return in each world with its bootstrap interval
//! and the gap, the rank agreement of the two worlds across policies, and the
//! simulator's open-loop prediction error against the number of steps imagined.
//!
//! The work is a grid of cells, one per (policy, seed). `--shard K/N` runs the cells
//! whose index is `K - 1` modulo `N`; each cell's numbers depend only on its policy,
//! seed and the file, never on which cells share its shard, its batch or its worker
//! thread, so `augur eval merge` of the shards is the unsharded run bit for bit.

pub mod config;
pub mod policy;
pub mod report;
pub mod stats;
pub mod world;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context as _};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use self::config::{EvalFile, Evaluation, PlantKind};
use self::policy::Policy;
use self::world::{LearnedSim, PendulumReference, ReacherReference, Reference};

/// A slice of the grid: cells with index `index - 1` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole grid.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `K/N` with `1 <= K <= N`.
    pub fn parse(text: &str) -> anyhow::Result<Shard> {
        let parsed = text.split_once('/').and_then(|(k, n)| {
            Some(Shard {
                index: k.trim().parse().ok()?,
                count: n.trim().parse().ok()?,
            })
        });
        match parsed {
            Some(s) if s.count >= 1 && (1..=s.count).contains(&s.index) => Ok(s),
            _ => bail!("--shard `{text}`: expected K/N with 1 <= K <= N, e.g. 2/4"),
        }
    }

    /// Whether cell `cell` is in this shard.
    pub fn holds(self, cell: usize) -> bool {
        cell % self.count == self.index - 1
    }
}

/// Squared prediction errors of the open-loop windows of one cell, summed per step
/// imagined and observation feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionSums {
    /// `squared[k][d]`: Σ over windows of (simulated − reference)² of feature `d`,
    /// `k + 1` steps after the window's start.
    pub squared: Vec<Vec<f64>>,
    /// Σ over windows of (predicted − reference) reward of step `k + 1`: the reward
    /// head's bias along imagined rollouts.
    pub reward_error: Vec<f64>,
    /// Σ of the same, squared.
    pub reward_squared: Vec<f64>,
    /// Windows that reached `k + 1` steps.
    pub windows: Vec<u64>,
}

/// One (policy, seed) cell in both worlds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Index into the file's policies.
    pub policy: usize,
    pub seed: u64,
    /// Return on the reference plant.
    pub reference_return: f64,
    /// Return in the learned simulator (its reward head's rewards).
    pub learned_return: f64,
    /// Open-loop prediction errors along the reference episode.
    pub prediction: PredictionSums,
}

/// Wall time of one policy in one world.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitTiming {
    pub policy: String,
    /// `reference` or `learned`.
    pub world: String,
    pub episodes: usize,
    pub seconds: f64,
}

/// What one run (a shard, or all of it) leaves: enough to build the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    pub format: u32,
    /// The evaluation file as parsed (paths as written).
    pub evaluation: EvalFile,
    pub shard: Shard,
    /// The simulator's observation feature names (the prediction error's columns).
    pub observation: Vec<String>,
    /// The shard's cells, by cell index.
    pub cells: Vec<Cell>,
    /// Wall times (not part of the deterministic report).
    pub timing: Vec<UnitTiming>,
}

/// Format of [`ShardFile`].
pub const SHARD_FORMAT: u32 = 1;

impl ShardFile {
    /// The file name of shard `shard`.
    pub fn file_name(shard: Shard) -> String {
        format!("shard-{}-of-{}.json", shard.index, shard.count)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum World {
    Reference,
    Learned,
}

/// Where the Python for the Reacher's reference plant is, and the workspace.
#[derive(Debug, Clone)]
pub struct Tools {
    pub python: PathBuf,
    pub workspace: PathBuf,
}

impl Tools {
    /// The workspace is the current directory when it holds
    /// `hil-tests/py/reacher_step.py` (as `augur hil` takes it), else the checkout this
    /// binary was built from; Python is `AUGUR_PYTHON`, else the workspace's `.venv`.
    pub fn from_env() -> Tools {
        let built = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("hil-tests sits in the workspace")
            .to_path_buf();
        let workspace = if Path::new(REACHER_STEP).is_file() {
            PathBuf::from(".")
        } else {
            built
        };
        let python = std::env::var_os("AUGUR_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".venv/bin/python"));
        Tools { python, workspace }
    }
}

/// The Reacher's stepping script, relative to the workspace.
pub const REACHER_STEP: &str = "hil-tests/py/reacher_step.py";

/// Runs the cells of `shard` on `jobs` threads, counting finished episodes (both
/// worlds) on `bar`.
pub fn run_shard(
    evaluation: &Evaluation,
    shard: Shard,
    jobs: usize,
    tools: &Tools,
    bar: &ProgressBar,
) -> anyhow::Result<ShardFile> {
    let seeds = evaluation.seeds();
    let policies = &evaluation.file.policies;
    let package = evaluation.simulator_package();
    let observation = augur_runtime::model::manifest::Manifest::load(&package)
        .with_context(|| format!("the simulator package {}", package.display()))?
        .observation
        .iter()
        .map(|f| f.name.clone())
        .collect();
    // Units of work: (policy, world) over the policy's seeds in this shard.
    let mut units: Vec<(usize, World, Vec<u64>)> = Vec::new();
    for p in 0..policies.len() {
        let mine: Vec<u64> = seeds
            .iter()
            .enumerate()
            .filter(|&(s, _)| shard.holds(p * seeds.len() + s))
            .map(|(_, &seed)| seed)
            .collect();
        if !mine.is_empty() {
            units.push((p, World::Reference, mine.clone()));
            units.push((p, World::Learned, mine));
        }
    }
    bar.set_length(units.iter().map(|u| u.2.len() as u64).sum());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, World, Vec<(f64, Option<PredictionSums>)>, f64)>> =
        Mutex::new(Vec::new());
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, units.len().max(1)) {
            scope.spawn(|| {
                let outcome = (|| -> anyhow::Result<()> {
                    let mut worker = Worker::new(evaluation, tools)?;
                    loop {
                        if failure.lock().expect("not poisoned").is_some() {
                            return Ok(());
                        }
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some((p, world, seeds)) = units.get(i) else {
                            return Ok(());
                        };
                        let started = Instant::now();
                        let spec = &policies[*p];
                        let per_seed = worker
                            .run(*p, *world, seeds)
                            .with_context(|| format!("policy `{}`", spec.name))?;
                        bar.inc(seeds.len() as u64);
                        let seconds = started.elapsed().as_secs_f64();
                        let mean =
                            per_seed.iter().map(|r| r.0).sum::<f64>() / per_seed.len() as f64;
                        crate::report::progress_line(
                            bar,
                            format!(
                                "{:<18} {:<9} {:>3} episodes in {:>6.2} s, mean return {mean:>8.1}",
                                spec.name,
                                match world {
                                    World::Reference => "reference",
                                    World::Learned => "learned",
                                },
                                seeds.len(),
                                seconds
                            ),
                        );
                        results
                            .lock()
                            .expect("not poisoned")
                            .push((*p, *world, per_seed, seconds));
                    }
                })();
                if let Err(e) = outcome {
                    failure.lock().expect("not poisoned").get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    let results = results.into_inner().expect("not poisoned");
    let mut cells = Vec::new();
    let mut timing = Vec::new();
    for (p, _, seeds) in units.iter().filter(|u| u.1 == World::Reference) {
        let find = |world| {
            results
                .iter()
                .find(|r| r.0 == *p && r.1 == world)
                .expect("every unit ran")
        };
        let (reference, learned) = (find(World::Reference), find(World::Learned));
        for (i, &seed) in seeds.iter().enumerate() {
            cells.push(Cell {
                policy: *p,
                seed,
                reference_return: reference.2[i].0,
                learned_return: learned.2[i].0,
                prediction: reference.2[i]
                    .1
                    .clone()
                    .expect("reference episodes predict"),
            });
        }
        for (world, r) in [("reference", reference), ("learned", learned)] {
            timing.push(UnitTiming {
                policy: policies[*p].name.clone(),
                world: world.into(),
                episodes: seeds.len(),
                seconds: r.3,
            });
        }
    }
    Ok(ShardFile {
        format: SHARD_FORMAT,
        evaluation: evaluation.file.clone(),
        shard,
        observation,
        cells,
        timing,
    })
}

/// A reference episode: `steps + 1` observations, `steps` actions and rewards.
struct Trajectory {
    observations: Vec<f32>,
    actions: Vec<f32>,
    rewards: Vec<f64>,
}

/// One thread's simulator and reference plant, reused across units.
struct Worker<'a> {
    evaluation: &'a Evaluation,
    sim: LearnedSim,
    reference: Box<dyn Reference>,
}

impl<'a> Worker<'a> {
    fn new(evaluation: &'a Evaluation, tools: &Tools) -> anyhow::Result<Worker<'a>> {
        let sim = LearnedSim::load(
            &evaluation.simulator_package(),
            evaluation.file.simulator.rollout,
        )?;
        let reference: Box<dyn Reference> = match evaluation.file.reference.plant {
            PlantKind::Pendulum => Box::new(PendulumReference::new(evaluation.starts())),
            PlantKind::Reacher => {
                Box::new(ReacherReference::start(&tools.python, &tools.workspace)?)
            }
        };
        Ok(Worker {
            evaluation,
            sim,
            reference,
        })
    }

    /// Returns per seed: the return and, in the reference world, the prediction sums.
    fn run(
        &mut self,
        p: usize,
        world: World,
        seeds: &[u64],
    ) -> anyhow::Result<Vec<(f64, Option<PredictionSums>)>> {
        let spec = &self.evaluation.file.policies[p];
        let (low, high) = self.sim.bounds();
        let (low, high) = (low.to_vec(), high.to_vec());
        let mut policy = Policy::build(self.evaluation, spec, self.sim.obs_dim(), &low, &high)?;
        policy.start(seeds);
        match world {
            World::Reference => self.reference_episodes(&mut policy, seeds),
            World::Learned => self.learned_episodes(&mut policy, seeds),
        }
    }

    fn reference_episodes(
        &mut self,
        policy: &mut Policy,
        seeds: &[u64],
    ) -> anyhow::Result<Vec<(f64, Option<PredictionSums>)>> {
        let steps = self.evaluation.file.episodes.steps;
        let a = self.sim.action_dim();
        let mut out = Vec::with_capacity(seeds.len());
        let mut trajectories = Vec::with_capacity(seeds.len());
        for (row, &seed) in seeds.iter().enumerate() {
            let mut obs = self
                .reference
                .reset(seed)
                .with_context(|| format!("seed {seed}: reference reset"))?;
            anyhow::ensure!(
                obs.len() == self.sim.obs_dim(),
                "the reference plant observes {} values, the simulator package {}",
                obs.len(),
                self.sim.obs_dim()
            );
            let mut observations = obs.clone();
            let mut actions = Vec::with_capacity(steps * a);
            let mut rewards = Vec::with_capacity(steps);
            let mut action = vec![0.0f32; a];
            let mut total = 0.0;
            for t in 0..steps {
                policy
                    .act(row, &obs, &mut action)
                    .with_context(|| format!("seed {seed}, step {t} on the reference plant"))?;
                let (reward, next) = self
                    .reference
                    .step(&action)
                    .with_context(|| format!("seed {seed}, step {t} on the reference plant"))?;
                total += reward;
                rewards.push(reward);
                actions.extend_from_slice(&action);
                observations.extend_from_slice(&next);
                obs = next;
            }
            out.push(total);
            trajectories.push(Trajectory {
                observations,
                actions,
                rewards,
            });
        }
        let sums = self.predict(&trajectories)?;
        Ok(out
            .into_iter()
            .zip(sums)
            .map(|(r, s)| (r, Some(s)))
            .collect())
    }

    fn learned_episodes(
        &mut self,
        policy: &mut Policy,
        seeds: &[u64],
    ) -> anyhow::Result<Vec<(f64, Option<PredictionSums>)>> {
        let steps = self.evaluation.file.episodes.steps;
        let (o, a) = (self.sim.obs_dim(), self.sim.action_dim());
        let mut starts = Vec::with_capacity(seeds.len() * o);
        for &seed in seeds {
            starts.extend(self.reference.reset(seed)?);
        }
        anyhow::ensure!(
            starts.len() == seeds.len() * o,
            "the reference plant observes a different number of values than the simulator package's {o}"
        );
        self.sim.reset(&starts)?;
        let mut totals = vec![0.0f64; seeds.len()];
        let mut actions = vec![0.0f32; seeds.len() * a];
        let mut obs = vec![0.0f32; o];
        for t in 0..steps {
            for (row, &seed) in seeds.iter().enumerate() {
                obs.copy_from_slice(self.sim.observation(row));
                policy
                    .act(row, &obs, &mut actions[row * a..(row + 1) * a])
                    .with_context(|| format!("seed {seed}, step {t} in the learned simulator"))?;
            }
            self.sim
                .step(&actions)
                .with_context(|| format!("step {t}"))?;
            for (total, &r) in totals.iter_mut().zip(self.sim.rewards()) {
                *total += f64::from(r);
            }
        }
        Ok(totals.into_iter().map(|r| (r, None)).collect())
    }

    /// Open-loop windows along each reference trajectory (`observations` has
    /// `steps + 1` rows, `actions` `steps`): from every `stride`-th observation the
    /// simulator imagines up to `horizon` steps under the reference's actions, all
    /// windows of all trajectories as rows of one batch.
    fn predict(&mut self, trajectories: &[Trajectory]) -> anyhow::Result<Vec<PredictionSums>> {
        let spec = &self.evaluation.file.prediction;
        let (o, a) = (self.sim.obs_dim(), self.sim.action_dim());
        let steps = self.evaluation.file.episodes.steps;
        // (trajectory, start step, length), longest first: the windows still running
        // at step k are a prefix, and only they are stepped. A cell's own windows
        // keep their order (length, then start), so its sums do not depend on the
        // other cells of the unit.
        let mut windows: Vec<(usize, usize, usize)> = (0..trajectories.len())
            .flat_map(|i| {
                (0..steps)
                    .step_by(spec.stride)
                    .map(move |t0| (i, t0, spec.horizon.min(steps - t0)))
            })
            .collect();
        windows.sort_by_key(|&(i, t0, len)| (std::cmp::Reverse(len), i, t0));
        let mut sums: Vec<PredictionSums> = trajectories
            .iter()
            .map(|_| PredictionSums {
                squared: vec![vec![0.0; o]; spec.horizon],
                reward_error: vec![0.0; spec.horizon],
                reward_squared: vec![0.0; spec.horizon],
                windows: vec![0; spec.horizon],
            })
            .collect();
        let mut starts = Vec::with_capacity(windows.len() * o);
        for &(i, t0, _) in &windows {
            starts.extend_from_slice(&trajectories[i].observations[t0 * o..(t0 + 1) * o]);
        }
        self.sim.reset(&starts).context("open-loop prediction")?;
        let mut actions = vec![0.0f32; windows.len() * a];
        let longest = windows.first().map_or(0, |w| w.2);
        for k in 0..longest {
            let running = windows.partition_point(|w| w.2 > k);
            for (row, &(i, t0, _)) in windows[..running].iter().enumerate() {
                actions[row * a..(row + 1) * a]
                    .copy_from_slice(&trajectories[i].actions[(t0 + k) * a..(t0 + k + 1) * a]);
            }
            self.sim
                .step_first(running, &actions[..running * a])
                .with_context(|| format!("open-loop prediction, step {}", k + 1))?;
            for (row, &(i, t0, _)) in windows[..running].iter().enumerate() {
                let trajectory = &trajectories[i];
                let truth = &trajectory.observations[(t0 + k + 1) * o..(t0 + k + 2) * o];
                let sum = &mut sums[i];
                let reward_error = f64::from(self.sim.rewards()[row]) - trajectory.rewards[t0 + k];
                sum.reward_error[k] += reward_error;
                sum.reward_squared[k] += reward_error * reward_error;
                for (d, (&x, &y)) in self.sim.observation(row).iter().zip(truth).enumerate() {
                    sum.squared[k][d] += (f64::from(x) - f64::from(y)).powi(2);
                }
                sum.windows[k] += 1;
            }
        }
        Ok(sums)
    }
}

/// Combines shard files into the whole grid's cells, checking they come from one
/// evaluation, one sharding, and cover every cell exactly once.
pub fn merge(shards: Vec<ShardFile>) -> anyhow::Result<ShardFile> {
    let Some(first) = shards.first() else {
        bail!("no shard files to merge");
    };
    let evaluation = first.evaluation.clone();
    let observation = first.observation.clone();
    let first_shard = first.shard;
    let count = first.shard.count;
    if evaluation.policies.is_empty() || evaluation.episodes.seeds == 0 {
        bail!(
            "{}: an evaluation without policies or seeds",
            ShardFile::file_name(first_shard)
        );
    }
    let mut seen = vec![false; count];
    for s in &shards {
        if s.format != SHARD_FORMAT {
            bail!(
                "{}: format {} (this build reads {SHARD_FORMAT})",
                ShardFile::file_name(s.shard),
                s.format
            );
        }
        if s.evaluation != evaluation {
            bail!(
                "{} is of a different evaluation than {} (the files differ)",
                ShardFile::file_name(s.shard),
                ShardFile::file_name(first.shard)
            );
        }
        if s.shard.count != count {
            bail!(
                "{} and {} split the grid differently and cannot be merged (did a directory hold an earlier run?)",
                ShardFile::file_name(first_shard),
                ShardFile::file_name(s.shard)
            );
        }
        if !(1..=count).contains(&s.shard.index) {
            bail!("a shard file names shard {}/{count}", s.shard.index);
        }
        if std::mem::replace(&mut seen[s.shard.index - 1], true) {
            bail!("shard {}/{count} is given twice", s.shard.index);
        }
    }
    if let Some(missing) = seen.iter().position(|s| !s) {
        bail!("shard {}/{count} is missing", missing + 1);
    }
    let seeds = evaluation.episodes.seeds as usize;
    let grid = evaluation.policies.len() * seeds;
    let mut cells: Vec<Option<Cell>> = vec![None; grid];
    let mut timing = Vec::new();
    for s in shards {
        if s.observation != observation {
            bail!(
                "{} names the observation {:?}, {} {:?}: different simulator packages",
                ShardFile::file_name(s.shard),
                s.observation,
                ShardFile::file_name(first_shard),
                observation
            );
        }
        timing.extend(s.timing);
        for cell in s.cells {
            let offset = cell
                .seed
                .checked_sub(evaluation.episodes.first_seed)
                .filter(|&o| o < seeds as u64);
            let (Some(offset), true) = (offset, cell.policy < evaluation.policies.len()) else {
                bail!(
                    "{}: cell (policy {}, seed {}) is outside the grid ({} policies, seeds {}..{})",
                    ShardFile::file_name(s.shard),
                    cell.policy,
                    cell.seed,
                    evaluation.policies.len(),
                    evaluation.episodes.first_seed,
                    evaluation.episodes.first_seed + seeds as u64
                );
            };
            let index = cell.policy * seeds + offset as usize;
            if cells[index].is_some() {
                bail!(
                    "cell (policy {}, seed {}) is given twice",
                    cell.policy,
                    cell.seed
                );
            }
            cells[index] = Some(cell);
        }
    }
    let cells = cells
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            c.with_context(|| {
                format!(
                    "cell {i} (policy {}, seed index {}) is in no shard",
                    i / seeds,
                    i % seeds
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ShardFile {
        format: SHARD_FORMAT,
        observation,
        evaluation,
        shard: Shard::ALL,
        cells,
        timing,
    })
}

/// Reads shard files: each argument is a shard file or a directory of them.
pub fn read_shards(paths: &[PathBuf]) -> anyhow::Result<Vec<ShardFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".json"))
                })
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("{} holds no shard-K-of-N.json", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
        .iter()
        .map(|f| {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a shard file", f.display()))
        })
        .collect()
}

/// Steps per second of the learned simulator alone (zero actions) at each batch of
/// `rows`, `steps` steps from the reference plant's starts, on this thread.
pub fn simulator_throughput(
    evaluation: &Evaluation,
    tools: &Tools,
    rows: &[usize],
    steps: usize,
) -> anyhow::Result<Vec<report::Throughput>> {
    let mut worker = Worker::new(evaluation, tools)?;
    let seeds = evaluation.seeds();
    let o = worker.sim.obs_dim();
    let mut starts = Vec::new();
    for &seed in &seeds {
        starts.extend(worker.reference.reset(seed)?);
    }
    let mut out = Vec::new();
    for &n in rows {
        let batch: Vec<f32> = (0..n)
            .flat_map(|i| starts[(i % seeds.len()) * o..(i % seeds.len() + 1) * o].to_vec())
            .collect();
        worker.sim.reset(&batch)?;
        let actions = vec![0.0f32; n * worker.sim.action_dim()];
        let started = Instant::now();
        for _ in 0..steps {
            worker.sim.step(&actions)?;
        }
        let seconds = started.elapsed().as_secs_f64();
        out.push(report::Throughput {
            rows: n,
            steps_per_second: (n * steps) as f64 / seconds.max(1e-9),
        });
    }
    Ok(out)
}
