//! The pendulum bench's plant loop: the physics or learned pendulum stepped in real
//! time through the fault proxy (its joint states, or its camera's frames), with the
//! process, plant and clock faults on their schedule.

use std::time::{Duration, Instant};

use anyhow::bail;
use augur_bridge_ros2::msg::{Header, JointState, Time};

use super::clock::BenchClock;
use super::cpu_hogs::CpuHogs;
use super::nodes::Nodes;
use super::observer::Observer;
use super::plant::{BenchPlant, JointSample};
use super::proxy::{FaultProxy, Reading, SensorLink};
use crate::judge::RunLog;
use crate::plants::pendulum::DT;
use crate::scenario::{FaultKind, Scenario};

/// What the pendulum bench publishes besides the plant itself.
pub(super) struct Bench {
    /// The node's sensor topic.
    pub(super) sensor_topic: String,
    /// `/clock`, when the node runs on simulated time.
    pub(super) clock: Option<BenchClock>,
    /// The plant is seen through its camera, not its joint sensor.
    pub(super) camera: bool,
}

impl Bench {
    /// What the plant's sensor reports now (stamped with simulated time if there is
    /// a clock): its JointState, or its camera's view with the arrow of
    /// `last_torque`.
    pub(super) fn reading(&self, plant: &BenchPlant, last_torque: Option<f32>) -> Reading {
        let stamp = match &self.clock {
            Some(clock) => clock.now(),
            None => Time::now(),
        };
        if self.camera {
            return Reading::Camera {
                stamp,
                theta: plant.state().theta,
                last_torque,
            };
        }
        let joints: JointSample = plant.joints();
        Reading::Joints(JointState {
            header: Header {
                stamp,
                frame_id: String::new(),
            },
            name: joints.names,
            position: joints.position,
            velocity: joints.velocity,
            effort: vec![],
        })
    }
}

/// Publishes the plant at rest until the node commands (discovery and model load
/// done), up to 120 s.
pub(super) fn wait_for_commands(
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
pub(super) fn run_pendulum(
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
    // The torque the camera's arrow shows (gymnasium draws none after a reset).
    let mut last_torque: Option<f32> = None;
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
            proxy.connect(SensorLink::open(&bench.sensor_topic, bench.camera)?);
            episode += 1;
            plant.reset(scenario.seed + episode)?;
            last_torque = None;
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
            last_torque = None;
        }
        proxy.forward(bench.reading(plant, last_torque));
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
        last_torque = Some(crate::plants::pendulum::clip(torque as f32));
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
