//! `augur hil`: the bench runner. The real `augur` binary runs as a child process;
//! this process is the robot's side of the wire: the plant (the pendulum stepped in
//! real time here, or the rclpy Reacher plant as a third process), the fault proxy
//! between the plant's sensor stream and the node's topic, and the process faults
//! (CPU starvation, kill and restart, plant restart), and `/clock` on simulated time.
//! It collects commands, `/diagnostics`, the node's recording and memory, and hands
//! them to `crate::judge`.

pub mod plant;
pub mod proxy;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::judge::{judge, CommandSample, CycleSample, NodeExit, RuleResult, RunLog, Verdict};
use crate::plants::pendulum::DT;
use crate::scenario::{FaultKind, PlantKind, Scenario, SimulatorSpec};
use anyhow::{bail, Context as _};

use crate::node_process::{
    cpu_steal_seconds, memory_kib, read_cycles, read_plan_stats, run_command, NodeProcess,
};
use augur_bridge_ros2::msg::{Clock, DiagnosticArray, Float64MultiArray, Header, JointState, Time};
use augur_bridge_ros2::node::diagnostics::STATUS_NAME;
use augur_bridge_ros2::node::launch::resolve;
use augur_bridge_ros2::transport::{TopicQos, Transport, TransportKind, TransportOptions};
use plant::{BenchPlant, JointSample};
use proxy::{FaultProxy, SensorLink};

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

/// What both plants share: the commands and `/diagnostics` the runner's participant
/// receives, timed from `t0`.
struct Observer {
    _subscriptions: Vec<augur_bridge_ros2::transport::Subscription>,
    commands: Arc<Mutex<Vec<CommandSample>>>,
    latest: Arc<Mutex<Option<f64>>>,
    diagnostics: Arc<Mutex<Option<(Instant, BTreeMap<String, String>)>>>,
}

impl Observer {
    fn new(transport: &Transport, command_topic: &str, t0_unix: f64) -> anyhow::Result<Observer> {
        let commands = Arc::new(Mutex::new(Vec::new()));
        let latest = Arc::new(Mutex::new(None));
        let diagnostics = Arc::new(Mutex::new(None));
        let (c, l) = (commands.clone(), latest.clone());
        let mut subscriptions = vec![transport.subscribe::<Float64MultiArray, _>(
            command_topic,
            &TopicQos::COMMANDS,
            move |message, _| {
                if let Ok(message) = message {
                    let t = unix_s(SystemTime::now()) - t0_unix;
                    *l.lock().unwrap_or_else(|e| e.into_inner()) = message.data.first().copied();
                    c.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(CommandSample {
                            t,
                            values: message.data,
                        });
                }
            },
        )?];
        let d = diagnostics.clone();
        subscriptions.push(transport.subscribe::<DiagnosticArray, _>(
            "/diagnostics",
            &TopicQos::DIAGNOSTICS,
            move |message, received| {
                let Ok(message) = message else { return };
                if let Some(status) = message.status.iter().find(|s| s.name == STATUS_NAME) {
                    let values = status
                        .values
                        .iter()
                        .map(|kv| (kv.key.clone(), kv.value.clone()))
                        .collect();
                    *d.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((received.received_at, values));
                }
            },
        )?);
        Ok(Observer {
            _subscriptions: subscriptions,
            commands,
            latest,
            diagnostics,
        })
    }

    fn command_count(&self) -> usize {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The first `/diagnostics` report received after `after`, waiting up to
    /// `timeout`.
    fn diagnostics_after(
        &self,
        after: Instant,
        timeout: Duration,
    ) -> Option<BTreeMap<String, String>> {
        let until = Instant::now() + timeout;
        loop {
            if let Some((at, values)) = &*self.diagnostics.lock().unwrap_or_else(|e| e.into_inner())
            {
                if *at > after {
                    return Some(values.clone());
                }
            }
            if Instant::now() > until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The last `/diagnostics` report, however old.
    fn last_diagnostics(&self) -> BTreeMap<String, String> {
        self.diagnostics
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, values)| values.clone())
            .unwrap_or_default()
    }
}

/// The node processes of one run, each with its recording and log.
struct Nodes {
    scenario: Scenario,
    model: PathBuf,
    dir: PathBuf,
    current: Option<NodeProcess>,
    pid: Arc<AtomicU32>,
    recordings: Vec<PathBuf>,
    exits: Vec<NodeExit>,
}

impl Nodes {
    fn start(&mut self) -> anyhow::Result<()> {
        let k = self.recordings.len();
        let recording = self.dir.join(format!("node-{k}.mcap"));
        let _ = std::fs::remove_file(&recording);
        let mut command = run_command(&self.model, self.scenario.trigger, &recording)?;
        command.arg("--ros-args");
        for param in node_params(&self.scenario) {
            command.args(["-p", &param]);
        }
        let log = std::fs::File::create(self.dir.join(format!("node-{k}.log")))?;
        command.stdout(log.try_clone()?).stderr(log);
        let node = NodeProcess::spawn(&mut command)?;
        self.pid.store(node.pid(), Ordering::Relaxed);
        self.current = Some(node);
        self.recordings.push(recording);
        Ok(())
    }

    /// Records an exit the runner did not cause, if the node has exited.
    fn check(&mut self, t: f64) {
        if let Some(status) = self.current.as_mut().and_then(|n| n.exited()) {
            self.current = None;
            self.exits.push(NodeExit {
                t,
                expected: false,
                status: status.to_string(),
                clean: false,
            });
        }
    }

    fn kill(&mut self, t: f64) -> anyhow::Result<()> {
        if let Some(node) = self.current.take() {
            let status = node.kill()?;
            self.exits.push(NodeExit {
                t,
                expected: true,
                status: status.to_string(),
                clean: false,
            });
        }
        Ok(())
    }

    fn stop(&mut self, t: f64) -> anyhow::Result<()> {
        if let Some(node) = self.current.take() {
            let status = node.stop()?;
            self.exits.push(NodeExit {
                t,
                expected: false,
                status: status.to_string(),
                clean: status.success(),
            });
        }
        Ok(())
    }

    /// Every recorded cycle of every process, timed from `t0_unix`.
    fn cycles(&self, t0_unix: f64) -> Vec<CycleSample> {
        let mut all = Vec::new();
        for path in &self.recordings {
            // A killed node leaves an unfinished recording; what it has is skipped.
            let (Ok(cycles), Ok(stats)) = (read_cycles(path), read_plan_stats(path)) else {
                continue;
            };
            let missed: BTreeMap<u64, bool> =
                stats.iter().map(|s| (s.cycle, s.deadline_missed)).collect();
            all.extend(cycles.iter().map(|c| CycleSample {
                t: c.stamp.sec as f64 + c.stamp.nanosec as f64 * 1e-9 - t0_unix,
                planned: c.planned,
                faults: c.faults,
                command: c.command.clone(),
                compute_ms: c.compute_ns as f64 * 1e-6,
                deadline_missed: missed.get(&c.cycle).copied().unwrap_or(false),
            }));
        }
        all
    }
}

/// Busy-looping processes competing with the node for the CPU.
struct CpuHogs(Vec<Child>);

impl CpuHogs {
    fn start(processes: usize) -> anyhow::Result<CpuHogs> {
        let mut hogs = Vec::new();
        for _ in 0..processes {
            hogs.push(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .stdin(Stdio::null())
                    .spawn()
                    .context("starting a busy-loop process")?,
            );
        }
        Ok(CpuHogs(hogs))
    }
}

impl Drop for CpuHogs {
    fn drop(&mut self) {
        for hog in &mut self.0 {
            crate::node_process::signal(hog, libc::SIGKILL);
            let _ = hog.wait();
        }
    }
}

/// `/clock` as a simulator publishes it, at 200 Hz: simulated time runs at the wall
/// clock's rate from 1000 s, plus the jumps the scenario injects.
struct BenchClock {
    origin: Instant,
    offset_ns: Arc<AtomicI64>,
    running: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Simulated time at the start of a run.
const CLOCK_ORIGIN_NS: i64 = 1_000_000_000_000;

impl BenchClock {
    fn start(transport: &Transport, topic: &str) -> anyhow::Result<BenchClock> {
        let publisher = transport.publisher::<Clock>(topic, &TopicQos::CLOCK)?;
        let origin = Instant::now();
        let offset_ns = Arc::new(AtomicI64::new(CLOCK_ORIGIN_NS));
        let running = Arc::new(AtomicBool::new(true));
        let (offset, r) = (offset_ns.clone(), running.clone());
        let thread = std::thread::Builder::new()
            .name("hil-clock".into())
            .spawn(move || {
                let period = Duration::from_millis(5);
                let mut next = Instant::now();
                while r.load(Ordering::Relaxed) {
                    let clock = sim_time(origin, offset.load(Ordering::Relaxed));
                    // A lost /clock sample is harmless: the next one follows in 5 ms.
                    let _ = publisher.publish(&Clock { clock });
                    next += period;
                    augur_runtime::control::runner::sleep_until(next);
                }
            })
            .context("spawning the /clock thread")?;
        Ok(BenchClock {
            origin,
            offset_ns,
            running,
            thread: Some(thread),
        })
    }

    fn now(&self) -> Time {
        sim_time(self.origin, self.offset_ns.load(Ordering::Relaxed))
    }

    /// Moves simulated time by `seconds` (negative: back).
    fn jump(&self, seconds: f64) {
        self.offset_ns
            .fetch_add((seconds * 1e9) as i64, Ordering::Relaxed);
    }
}

fn sim_time(origin: Instant, offset_ns: i64) -> Time {
    Time::from_nanos((origin.elapsed().as_nanos() as i64 + offset_ns).max(1))
}

impl Drop for BenchClock {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What [`ResourceSampler`] saw: the node's resident memory `(t, KiB)` and the
/// machine's CPU steal `(t, s since boot)`.
#[derive(Default)]
struct ResourceSamples {
    rss_kib: Vec<(f64, u64)>,
    cpu_steal: Vec<(f64, f64)>,
}

/// Samples the node's resident memory and the hypervisor's CPU steal every 500 ms
/// until finished.
struct ResourceSampler {
    running: Arc<AtomicBool>,
    samples: Arc<Mutex<ResourceSamples>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ResourceSampler {
    fn start(pid: Arc<AtomicU32>, t0: Instant) -> ResourceSampler {
        let running = Arc::new(AtomicBool::new(true));
        let samples = Arc::new(Mutex::new(ResourceSamples::default()));
        let (r, s) = (running.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            while r.load(Ordering::Relaxed) {
                let t = t0.elapsed().as_secs_f64();
                let rss = memory_kib(pid.load(Ordering::Relaxed));
                let steal = cpu_steal_seconds();
                let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((rss, _)) = rss {
                    s.rss_kib.push((t, rss));
                }
                if let Some(steal) = steal {
                    s.cpu_steal.push((t, steal));
                }
                drop(s);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        ResourceSampler {
            running,
            samples,
            thread: Some(thread),
        }
    }

    /// Stops sampling and puts what was seen into `log`.
    fn finish(mut self, log: &mut RunLog) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        log.rss_kib = samples.rss_kib;
        log.cpu_steal = samples.cpu_steal;
    }
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
        PlantKind::Pendulum | PlantKind::Learned => {
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
            };
            let link = SensorLink::open(&bench.sensor_topic)?;
            let observer_t0 = unix_s(SystemTime::now());
            let observer = Observer::new(&transport, &resolved.topics.command, observer_t0)?;
            let proxy = FaultProxy::new(link, &scenario.faults, scenario.seed);
            nodes.start()?;
            // The clock starts once the node answers; until then the proxy relays
            // the plant at its start state unaltered.
            wait_for_commands(&observer, &mut nodes, || {
                proxy.forward(bench.message(plant.joints()))
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
                proxy.forward(bench.message(plant.joints()));
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

/// What the pendulum bench publishes besides the plant itself.
struct Bench {
    /// The node's sensor topic.
    sensor_topic: String,
    /// `/clock`, when the node runs on simulated time.
    clock: Option<BenchClock>,
}

impl Bench {
    /// The plant's JointState, stamped with simulated time if there is a clock.
    fn message(&self, joints: JointSample) -> JointState {
        let stamp = match &self.clock {
            Some(clock) => clock.now(),
            None => Time::now(),
        };
        JointState {
            header: Header {
                stamp,
                frame_id: String::new(),
            },
            name: joints.names,
            position: joints.position,
            velocity: joints.velocity,
            effort: vec![],
        }
    }
}

/// Publishes the plant at rest until the node commands (discovery and model load
/// done), up to 120 s.
fn wait_for_commands(
    observer: &Observer,
    nodes: &mut Nodes,
    publish: impl Fn(),
) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(120);
    while observer.command_count() < 5 {
        nodes.check(0.0);
        if nodes.current.is_none() {
            bail!(
                "the node exited before commanding: see its log in {}",
                nodes.dir.display()
            );
        }
        if Instant::now() > until {
            bail!("the node did not command within 120 s");
        }
        publish();
        std::thread::sleep(Duration::from_secs_f64(DT));
    }
    Ok(())
}

/// The pendulum (physics or learned) in real time through the proxy, with the
/// process, plant and clock faults on their schedule.
#[allow(clippy::too_many_arguments)]
fn run_pendulum(
    scenario: &Scenario,
    bench: &Bench,
    proxy: &FaultProxy,
    observer: &Observer,
    nodes: &mut Nodes,
    log: &mut RunLog,
    t0: Instant,
    plant: &mut BenchPlant,
) -> anyhow::Result<()> {
    let duration = scenario.duration.unwrap_or(10.0);
    log.duration = duration;
    let episode_steps = (scenario.episode_duration.unwrap_or(10.0) / DT)
        .round()
        .max(1.0) as usize;
    let steps = (duration / DT).round() as usize;
    let mut episode = 0u64;
    let mut episode_start = 0usize;
    let mut episode_return = 0.0;
    let mut episode_model_return = 0.0;
    let mut hogs: Option<CpuHogs> = None;
    let mut killed_until: Option<f64> = None;
    let mut plant_down_until: Option<f64> = None;
    let mut fault_started = vec![false; scenario.faults.len()];
    for k in 0..steps {
        let t = k as f64 * DT;
        let tick = t0 + Duration::from_secs_f64(t);
        augur_runtime::control::runner::sleep_until(tick);
        let now = t0.elapsed().as_secs_f64();
        // Process, plant and clock faults.
        for (i, fault) in scenario.faults.iter().enumerate() {
            let active = now >= fault.start && now < fault.end();
            let starts = active && !fault_started[i];
            fault_started[i] |= active;
            match fault.kind {
                FaultKind::CpuStarvation { processes } => {
                    if starts {
                        hogs = Some(CpuHogs::start(processes)?);
                    } else if !active && fault_started[i] && hogs.is_some() {
                        hogs = None;
                    }
                }
                FaultKind::KillRestart {} if starts => {
                    nodes.kill(now)?;
                    killed_until = Some(fault.end());
                }
                FaultKind::PlantRestart {} if starts => {
                    proxy.disconnect();
                    plant_down_until = Some(fault.end());
                }
                FaultKind::ClockJump { jump } if starts => {
                    if let Some(clock) = &bench.clock {
                        clock.jump(jump);
                    }
                    proxy.with_window(i, |w| w.first_bad = Some(now));
                }
                _ => {}
            }
        }
        if killed_until.is_some_and(|end| now >= end) {
            killed_until = None;
            nodes.start()?;
            log.restarts.push(now);
        }
        if killed_until.is_none() {
            nodes.check(now);
        }
        if plant_down_until.is_some_and(|end| now >= end) {
            // The restarted plant: a new participant, a new episode from a fresh
            // start (the interrupted one is not a complete episode).
            plant_down_until = None;
            proxy.connect(SensorLink::open(&bench.sensor_topic)?);
            episode += 1;
            plant.reset(scenario.seed + episode)?;
            episode_start = k;
            episode_return = 0.0;
            episode_model_return = 0.0;
        }
        if plant_down_until.is_none()
            && k > episode_start
            && (k - episode_start) % episode_steps == 0
        {
            log.returns.push(episode_return);
            if let BenchPlant::Learned { .. } = plant {
                log.model_returns.push(episode_model_return);
            }
            episode += 1;
            episode_return = 0.0;
            episode_model_return = 0.0;
            plant.reset(scenario.seed + episode)?;
        }
        proxy.forward(bench.message(plant.joints()));
        if plant_down_until.is_some() {
            // The simulator is down: it neither publishes (the proxy drops the
            // message, so the window's log is kept) nor moves.
            continue;
        }
        log.trajectory.push((t, plant.angle()));
        // The command in force at the end of this period (a real actuator holds
        // the last command it got).
        augur_runtime::control::runner::sleep_until(tick + Duration::from_secs_f64(DT * 0.98));
        let torque = observer
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or(0.0);
        let reward = plant.step(torque as f32)?;
        episode_return += reward.task;
        episode_model_return += reward.model.unwrap_or(0.0);
    }
    if steps > episode_start && (steps - episode_start) % episode_steps == 0 {
        log.returns.push(episode_return);
        if let BenchPlant::Learned { .. } = plant {
            log.model_returns.push(episode_model_return);
        }
    }
    drop(hogs);
    Ok(())
}

/// The rclpy Reacher plant against the node, in real time.
fn run_reacher(
    scenario: &Scenario,
    paths: &BenchPaths,
    dir: &Path,
    nodes: &mut Nodes,
    log: &mut RunLog,
    t0: Instant,
) -> anyhow::Result<()> {
    if !paths.python.exists() {
        bail!(
            "Python not found at {}: run `scripts/python-env.sh` (or set AUGUR_PYTHON)",
            paths.python.display()
        );
    }
    let episodes = scenario.episodes.unwrap_or(1);
    let result = dir.join("plant.json");
    let _ = std::fs::remove_file(&result);
    let plant_log = std::fs::File::create(dir.join("plant.log"))?;
    let mut plant = Command::new(&paths.python)
        .arg(paths.workspace.join("hil-tests/py/reacher_plant.py"))
        .args(["--episodes", &episodes.to_string()])
        .args(["--seed", &scenario.seed.to_string()])
        .args(["--mode", "realtime", "--ready-timeout", "120"])
        .arg("--out")
        .arg(&result)
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env_remove("ROS_LOCALHOST_ONLY")
        .env("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
        .env("ROS_LOG_DIR", dir.join("ros-log"))
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(plant_log.try_clone()?)
        .stderr(plant_log)
        .spawn()
        .context("starting hil-tests/py/reacher_plant.py")?;
    // 50 steps of 20 ms per episode, plus start-up; generous for slow machines.
    let limit = Duration::from_secs(180 + u64::from(episodes) * 5);
    let status = loop {
        if let Some(status) = plant.try_wait()? {
            break status;
        }
        nodes.check(t0.elapsed().as_secs_f64());
        if t0.elapsed() > limit {
            crate::node_process::signal(&plant, libc::SIGINT);
            break plant.wait()?;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    log.duration = t0.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&result)
        .with_context(|| format!("the reacher plant ({status}) wrote no {}", result.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    log.returns = value["returns"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_default();
    if !status.success() {
        bail!(
            "the reacher plant exited with {status}: see {}",
            dir.join("plant.log").display()
        );
    }
    Ok(())
}
