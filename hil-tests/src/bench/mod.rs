//! `augur hil`: the bench runner. The real `augur` binary runs as a child process;
//! this process is the robot's side of the wire: the plant (the pendulum stepped in
//! real time here, or the rclpy Reacher plant as a third process), the fault proxy
//! between the plant's sensor stream and the node's topic, and the process faults
//! (CPU starvation, kill and restart, plant restart), and `/clock` on simulated time.
//! It collects commands, `/diagnostics`, the node's recording and memory, and hands
//! them to `crate::judge`.
//!
//! This module runs one scenario; the plant loops (`pendulum`, `reacher`), the
//! node processes (`nodes`), the runner's observer, `/clock`, the CPU hogs and the
//! resource sampler each have their own file.

mod clock;
mod cpu_hogs;
mod nodes;
mod observer;
mod pendulum;
pub mod plant;
pub mod proxy;
mod reacher;
mod sampler;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use augur_bridge_ros2::node::launch::resolve;
use augur_bridge_ros2::transport::{Transport, TransportKind, TransportOptions};

use crate::judge::{judge, RuleResult, RunLog, Verdict};
use crate::plants::pendulum::DT;
use crate::scenario::{PlantKind, Scenario, SimulatorSpec};
use clock::BenchClock;
use nodes::Nodes;
use observer::Observer;
use pendulum::{run_pendulum, wait_for_commands, Bench};
use plant::BenchPlant;
use proxy::{FaultProxy, SensorLink};
use reacher::run_reacher;
use sampler::ResourceSampler;

/// Where a run finds things.
#[derive(Clone, Debug)]
pub struct BenchPaths {
    /// Workspace root: scenario `model` paths are relative to it.
    pub workspace: PathBuf,
    /// Python with rclpy and gymnasium (reacher plant).
    pub python: PathBuf,
}

/// The outcome of one scenario.
pub struct ScenarioOutcome {
    pub verdict: Verdict,
    pub report_dir: PathBuf,
    /// Returns of the complete episodes.
    pub returns: Vec<f64>,
}

/// The node parameters of a scenario's runs, `name:=value`.
fn node_params(scenario: &Scenario) -> Vec<String> {
    let mut params = scenario.params.clone();
    if scenario.sim_time {
        params.push("use_sim_time:=true".into());
    }
    params
}

fn unix_s(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Mean returns by planner from the model's `evaluation.jsonl` (first entry wins).
fn baselines(model: &Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(model.join("evaluation.jsonl")) else {
        return out;
    };
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(planner), Some(mean)) = (
            entry.get("planner").and_then(|p| p.as_str()),
            entry.get("mean_return").and_then(|m| m.as_f64()),
        ) {
            out.entry(planner.to_string()).or_insert(mean);
        }
    }
    out
}

/// Runs `scenario`, judges it and writes its report into `out/<name>/`.
pub fn run_scenario(
    scenario: &Scenario,
    paths: &BenchPaths,
    out: &Path,
) -> anyhow::Result<ScenarioOutcome> {
    let dir = out.join(&scenario.name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let model = paths.workspace.join(&scenario.model);
    let mut ros_args = vec!["--ros-args".to_string()];
    for param in node_params(scenario) {
        ros_args.extend(["-p".to_string(), param]);
    }
    let resolved = resolve(&model, None, &ros_args)
        .with_context(|| format!("scenario {}: node parameters", scenario.name))?;
    let manifest = &resolved.manifest;
    let params = &resolved.params;
    let mut log = RunLog {
        period: params.runner.period.as_secs_f64(),
        sensor_timeout: params.runner.sensor_timeout.as_secs_f64(),
        safe_action: params.safe_action.iter().map(|&v| f64::from(v)).collect(),
        action_low: manifest.action.iter().map(|a| f64::from(a.low)).collect(),
        action_high: manifest.action.iter().map(|a| f64::from(a.high)).collect(),
        baselines: baselines(&model),
        ..Default::default()
    };
    let transport = Transport::open(&TransportOptions::local(
        TransportKind::Dds,
        "augur_hil_bench",
    ))?;
    let mut nodes = Nodes {
        scenario: scenario.clone(),
        model: model.clone(),
        dir: dir.clone(),
        current: None,
        pid: Arc::new(AtomicU32::new(0)),
        recordings: Vec::new(),
        exits: Vec::new(),
    };
    let t0_unix;
    match scenario.plant {
        PlantKind::Pendulum | PlantKind::Learned | PlantKind::PendulumCamera => {
            let camera = scenario.plant == PlantKind::PendulumCamera;
            let sources = params.observation.sources();
            let reads_camera =
                sources.len() == 1 && sources[0].kind == augur_runtime::control::SourceKind::Image;
            anyhow::ensure!(
                camera == reads_camera,
                "scenario {}: {} {}",
                scenario.name,
                scenario.model.display(),
                if camera {
                    "does not read one camera: the camera plant drives pixel models (models/pendulum-pixels)"
                } else {
                    "reads a camera: use `plant = \"pendulum_camera\"`"
                }
            );
            let mut plant = match scenario.plant {
                PlantKind::Learned => {
                    let spec = scenario.simulator.clone().unwrap_or_default();
                    let package = paths
                        .workspace
                        .join(spec.model.as_ref().unwrap_or(&scenario.model));
                    BenchPlant::learned(
                        &package,
                        spec.rollout,
                        params.observation.clone(),
                        scenario.seed,
                    )
                    .with_context(|| format!("the learned simulator {}", package.display()))?
                }
                _ => BenchPlant::physics(scenario.seed),
            };
            let clock = if scenario.sim_time {
                Some(BenchClock::start(&transport, &resolved.topics.clock)?)
            } else {
                None
            };
            let bench = Bench {
                sensor_topic: resolved.topics.sources[0].clone(),
                clock,
                camera,
            };
            let link = SensorLink::open(&bench.sensor_topic, camera)?;
            let observer_t0 = unix_s(SystemTime::now());
            let observer = Observer::new(&transport, &resolved.topics.command, observer_t0)?;
            let proxy = FaultProxy::new(link, &scenario.faults, scenario.seed);
            nodes.start()?;
            // The clock starts once the node answers; until then the proxy relays
            // the plant at its start state unaltered.
            wait_for_commands(&observer, &mut nodes, || {
                proxy.forward(bench.reading(&plant, None))
            })?;
            let t0 = Instant::now();
            t0_unix = unix_s(SystemTime::now());
            proxy.start_clock(t0);
            let sampler = ResourceSampler::start(nodes.pid.clone(), t0);
            run_pendulum(
                scenario, &bench, &proxy, &observer, &mut nodes, &mut log, t0, &mut plant,
            )?;
            // The sensor keeps streaming until the node reports once more, so the
            // counts are final and not disturbed by the bench going quiet.
            let end = Instant::now();
            log.diagnostics = loop {
                proxy.forward(bench.reading(&plant, None));
                if let Some(report) = observer.diagnostics_after(end, Duration::from_secs_f64(DT)) {
                    break report;
                }
                if end.elapsed() > Duration::from_secs(5) {
                    break observer.last_diagnostics();
                }
            };
            sampler.finish(&mut log);
            nodes.stop(t0.elapsed().as_secs_f64())?;
            log.windows = proxy.windows();
            let last_start = log.restarts.last().copied().unwrap_or(f64::NEG_INFINITY);
            for w in &mut log.windows {
                w.before_last_start = w.start < last_start;
            }
            log.commands =
                std::mem::take(&mut *observer.commands.lock().unwrap_or_else(|e| e.into_inner()));
            for c in &mut log.commands {
                c.t -= t0_unix - observer_t0;
            }
            log.commands.retain(|c| c.t >= 0.0);
        }
        PlantKind::Reacher => {
            t0_unix = unix_s(SystemTime::now());
            let t0 = Instant::now();
            let observer = Observer::new(&transport, &resolved.topics.command, t0_unix)?;
            nodes.start()?;
            let sampler = ResourceSampler::start(nodes.pid.clone(), t0);
            run_reacher(scenario, paths, &dir, &mut nodes, &mut log, t0)?;
            log.diagnostics = observer.last_diagnostics();
            sampler.finish(&mut log);
            nodes.stop(t0.elapsed().as_secs_f64())?;
            log.commands =
                std::mem::take(&mut *observer.commands.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }
    log.exits = nodes.exits.clone();
    log.cycles = nodes.cycles(t0_unix);
    drop(transport);
    let mut verdict = judge(scenario, &log);
    if let (PlantKind::Learned, true) = (
        scenario.plant,
        scenario
            .simulator
            .as_ref()
            .is_none_or(|s: &SimulatorSpec| s.compare_physics),
    ) {
        compare_with_physics(scenario, paths, &dir, &mut log, &mut verdict)?;
    }
    crate::report::write_report(&dir, scenario, &log, &verdict)?;
    Ok(ScenarioOutcome {
        verdict,
        report_dir: dir,
        returns: log.returns,
    })
}

/// Runs `scenario` again on the physics pendulum (same seeds, parameters and faults;
/// its own report in `<dir>/physics/`) and adds its returns and verdict to the
/// learned simulator's.
fn compare_with_physics(
    scenario: &Scenario,
    paths: &BenchPaths,
    dir: &Path,
    log: &mut RunLog,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    let mut physics = scenario.clone();
    physics.name = "physics".into();
    physics.description = format!(
        "{} (physics pendulum, for comparison)",
        scenario.description
    );
    physics.plant = PlantKind::Pendulum;
    physics.simulator = None;
    let outcome = run_scenario(&physics, paths, dir).context("the physics comparison run")?;
    log.physics_returns = outcome.returns;
    let mean = |r: &[f64]| (!r.is_empty()).then(|| r.iter().sum::<f64>() / r.len() as f64);
    let detail = match (mean(&log.returns), mean(&log.physics_returns)) {
        (Some(learned), Some(physics)) => format!(
            "mean return: learned simulator {learned:.2}, physics pendulum {physics:.2} (learned - physics = {:+.2}); physics run {}",
            learned - physics,
            if outcome.verdict.passed { "passed" } else { "FAILED" }
        ),
        _ => "no complete episode to compare".into(),
    };
    let passed = outcome.verdict.passed;
    verdict.rules.push(RuleResult {
        rule: "physics_comparison".into(),
        passed,
        detail,
    });
    verdict.passed &= passed;
    Ok(())
}
