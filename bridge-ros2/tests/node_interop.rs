//! `augur run` against a robot written in Python (tests/py/node_peer.py), over both
//! transports: rclpy on Fast DDS, and eclipse-zenoh speaking rmw_zenoh's wire format.
//! The commands are the ones the control loop computes for the published states, in
//! both trigger modes, and every safety path shows on the wire and in `/diagnostics`.
//! Traffic stays on loopback: `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` for DDS, an
//! explicit `tcp/127.0.0.1:<port>` without scouting for zenoh.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use augur_bridge_ros2::msg::Float64MultiArray;
use augur_bridge_ros2::node::build_control;
use augur_bridge_ros2::node::launch::resolve;
use augur_planner::Budget;
use augur_runtime::control::Trigger;
use augur_runtime::control::{CycleInput, FaultSet};
use augur_runtime::record::{PlanStatsMessage, Recording};
use serde_json::{json, Value};

fn model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum")
}

fn domain_id(test_index: u16) -> u16 {
    // Clear of dds_interop.rs's range.
    120 + (std::process::id() % 20) as u16 * 5 + test_index
}

/// How the node and the robot meet.
#[derive(Clone, Copy)]
enum Wire {
    /// DDS on a test-private domain.
    Dds { domain: u16 },
    /// zenoh: the robot is a router listening on this loopback port.
    Zenoh { port: u16 },
}

impl Wire {
    fn dds(test_index: u16) -> Wire {
        Wire::Dds {
            domain: domain_id(test_index),
        }
    }

    fn zenoh() -> Wire {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        Wire::Zenoh { port }
    }

    fn name(self) -> &'static str {
        match self {
            Wire::Dds { .. } => "dds",
            Wire::Zenoh { .. } => "zenoh",
        }
    }

    fn domain(self) -> u16 {
        match self {
            Wire::Dds { domain } => domain,
            Wire::Zenoh { .. } => 0,
        }
    }

    fn zenoh_endpoint(self) -> Option<String> {
        match self {
            Wire::Dds { .. } => None,
            Wire::Zenoh { port } => Some(format!("tcp/127.0.0.1:{port}")),
        }
    }
}

/// A child process killed on drop, with its stdout as lines.
struct Process {
    child: Child,
    lines: Receiver<String>,
}

impl Process {
    fn spawn(command: &mut Command) -> Process {
        let (child, lines) = common::process::spawn_with_lines(command);
        Process { child, lines }
    }

    /// JSON lines until `{"done": true}` or the peer exits (60 s at most).
    fn json_lines(&self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(60)) {
            if line == "READY" {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("peer printed {line:?}: {e}"));
            if value.get("done").is_some() {
                break;
            }
            out.push(value);
        }
        out
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Interrupts the node like Ctrl-C and checks it exits cleanly (closing its recording).
fn interrupt(node: &mut Process) {
    let status = Command::new("kill")
        .args(["-INT", &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = node.child.wait().unwrap();
    assert!(exit.success(), "augur run exited with {exit}");
}

/// `augur replay` on a recording: every command must come out bit-identical.
fn assert_replay_identical(recording: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_augur"))
        .arg("replay")
        .arg(recording)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("every command is bit-identical"),
        "augur replay: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn recording_path(wire: Wire, test: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "augur-node-{}-{}-{test}.mcap",
        std::process::id(),
        wire.name()
    ))
}

fn augur_recording(wire: Wire, trigger: &str, ros_args: &[&str], record: Option<&Path>) -> Process {
    let mut command = Command::new(env!("CARGO_BIN_EXE_augur"));
    if let Some(path) = record {
        command.arg("run").arg("--record").arg(path);
    } else {
        command.arg("run");
    }
    command
        .arg("--model")
        .arg(model())
        .args(["--trigger", trigger]);
    if let Some(endpoint) = wire.zenoh_endpoint() {
        command.args(["--transport", "zenoh", "--zenoh-connect", &endpoint]);
    }
    command
        .arg("--ros-args")
        .args(ros_args)
        .env("ROS_DOMAIN_ID", wire.domain().to_string())
        .env("RUST_LOG", "error");
    Process::spawn(&mut command)
}

fn peer(wire: Wire, mode: &str, argument: &Value) -> Process {
    let mut command = Command::new(common::python::python());
    command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/py/node_peer.py"
        ))
        .arg(mode)
        .arg(argument.to_string())
        .env("ROS_DOMAIN_ID", wire.domain().to_string());
    if let Some(endpoint) = wire.zenoh_endpoint() {
        command.args(["--zenoh-listen", &endpoint]);
    }
    Process::spawn(&mut command)
}

#[test]
fn observation_trigger_commands_equal_the_control_loop_on_the_same_states() {
    observation_trigger_bit_identical(Wire::dds(0));
}

#[test]
fn observation_trigger_over_zenoh_commands_equal_the_control_loop() {
    observation_trigger_bit_identical(Wire::zenoh());
}

#[test]
fn rate_trigger_publishes_every_period_and_every_safety_path_shows_on_the_wire() {
    rate_trigger_and_safety_paths(Wire::dds(1));
}

#[test]
fn rate_trigger_over_zenoh_and_every_safety_path() {
    rate_trigger_and_safety_paths(Wire::zenoh());
}

fn observation_trigger_bit_identical(wire: Wire) {
    let ros_args = [
        "-p",
        "max_transitions:=512",
        "-p",
        "period:=1.0",
        "-p",
        "sensor_timeout:=60.0",
        // The states are not samples of a moving plant: plan on each as it is.
        "-p",
        "delay_compensation:=false",
    ];
    let states: Vec<(f64, f64)> = (0..8)
        .map(|k| (-2.5 + 0.7 * k as f64, 0.9 - 0.3 * k as f64))
        .collect();

    // What the node must compute: the same parameters, the same loop, in process.
    let args: Vec<String> = std::iter::once("--ros-args".to_string())
        .chain(ros_args.iter().map(|s| s.to_string()))
        .collect();
    let resolved = resolve(&model(), Some(Trigger::Observation), &args).unwrap();
    let mut control = build_control(&resolved.params, &resolved.manifest).unwrap();
    let expected: Vec<f64> = states
        .iter()
        .map(|&(theta, theta_dot)| {
            let obs = [theta.cos() as f32, theta.sin() as f32, theta_dot as f32];
            let out = control.cycle(&CycleInput {
                image: None,
                observation: Some(&obs),
                fresh: true,
                timing_faults: FaultSet::EMPTY,
                budget: Budget::transitions(512),
                delay_steps: 0,
            });
            assert!(out.planned && !out.is_safe());
            out.command()[0] as f64
        })
        .collect();

    let recording = recording_path(wire, "observation");
    let mut node = augur_recording(wire, "observation", &ros_args, Some(&recording));
    let robot = peer(wire, "lockstep", &json!(states));
    let commands: Vec<f64> = robot
        .json_lines()
        .iter()
        .map(|line| line["command"][0].as_f64().expect("a command"))
        .collect();
    assert_eq!(commands, expected, "commands received by rclpy");

    // Ctrl-C: the node stops and closes the recording, which holds the same commands,
    // the states it received and one PlanStats per cycle.
    interrupt(&mut node);
    let file = Recording::open(&recording).expect("the recording opens");
    assert_eq!(file.profile(), "ros2");
    let by_topic = |topic: &str| file.messages_on(topic).unwrap();
    let recorded: Vec<f64> = by_topic("/effort_controller/commands")
        .iter()
        .map(|m| {
            let (message, _) =
                cdr_encoding::from_bytes::<Float64MultiArray, byteorder::LittleEndian>(
                    &m.data[4..],
                )
                .unwrap();
            message.data[0]
        })
        .collect();
    assert_eq!(recorded, expected, "recorded commands");
    assert_eq!(by_topic("/joint_states").len(), states.len());
    let stats = by_topic("/augur/plan_stats");
    assert_eq!(stats.len(), states.len());
    let last = PlanStatsMessage::decode(&stats[states.len() - 1].data).unwrap();
    assert_eq!(last.cycle, states.len() as u64 - 1);
    assert!(last.model_transitions > 0 && last.model_transitions <= 512);
    assert_replay_identical(&recording);
    let _ = std::fs::remove_file(&recording);
}

fn rate_trigger_and_safety_paths(wire: Wire) {
    // 20 Hz, stale after 0.25 s. Planning gets 10 ms of each period, so the deadline,
    // not the transition budget, ends most plans: replay must still be exact.
    let recording = recording_path(wire, "rate");
    let mut node = augur_recording(
        wire,
        "rate",
        &["-p", "diagnostics_period:=0.25", "-p", "plan_margin:=0.04"],
        Some(&recording),
    );
    let phases = json!([
        {"name": "valid", "seconds": 1.5, "kind": "valid"},
        {"name": "unknown_joint", "seconds": 0.3, "kind": "unknown_joint", "count": 5},
        {"name": "valid2", "seconds": 0.5, "kind": "valid"},
        {"name": "wrong_length", "seconds": 0.3, "kind": "wrong_length", "count": 5},
        {"name": "huge_length", "seconds": 0.3, "kind": "huge_length", "count": 6},
        {"name": "valid3", "seconds": 0.5, "kind": "valid"},
        {"name": "nan", "seconds": 0.5, "kind": "nan"},
        {"name": "valid4", "seconds": 1.0, "kind": "valid"},
        {"name": "silent", "seconds": 1.0, "kind": "silent"},
        {"name": "valid5", "seconds": 1.0, "kind": "valid"}
    ]);
    let robot = peer(wire, "script", &phases);
    let lines = robot.json_lines();
    let starts: Vec<(String, f64)> = lines
        .iter()
        .filter_map(|l| Some((l["phase"].as_str()?.to_string(), l["start"].as_f64()?)))
        .collect();
    assert_eq!(starts.len(), 10, "{lines:?}");
    let phase_of = |at: f64| {
        let i = starts.iter().rposition(|(_, s)| *s <= at)?;
        Some((starts[i].0.as_str(), at - starts[i].1))
    };
    let commands: Vec<(f64, f64)> = lines
        .iter()
        .filter_map(|l| Some((l["at"].as_f64()?, l["command"][0].as_f64()?)))
        .collect();
    let in_phase = |name: &str, after: f64| -> Vec<f64> {
        commands
            .iter()
            .filter(|(at, _)| matches!(phase_of(*at), Some((p, t)) if p == name && t >= after))
            .map(|(_, u)| *u)
            .collect()
    };

    // Rate trigger: commands keep coming at the period, planned ones within bounds.
    let valid = in_phase("valid", 0.5);
    assert!(valid.len() >= 10, "too few commands at 20 Hz: {valid:?}");
    assert!(valid.iter().all(|u| u.abs() <= 2.0));
    assert!(
        valid.iter().any(|u| *u != 0.0),
        "only safe commands: {valid:?}"
    );
    // Stale sensors: the safe command within one period after the 0.25 s timeout
    // (plus 50 ms of slack for delivery), until the states come back.
    let silent = in_phase("silent", 0.25 + 0.05 + 0.05);
    assert!(!silent.is_empty());
    assert!(silent.iter().all(|u| *u == 0.0), "silent phase: {silent:?}");
    // NaN velocity: safe from the first cycle that sees it.
    let nan = in_phase("nan", 0.1);
    assert!(
        !nan.is_empty() && nan.iter().all(|u| *u == 0.0),
        "nan phase: {nan:?}"
    );
    // Recovery after each.
    for phase in ["valid4", "valid5"] {
        let recovered = in_phase(phase, 0.3);
        assert!(
            recovered.iter().any(|u| *u != 0.0),
            "no planned command after recovery in {phase}: {recovered:?}"
        );
    }

    // /diagnostics counts what was injected.
    let last = lines
        .iter()
        .rev()
        .find_map(|l| l.get("diagnostics"))
        .expect("no /diagnostics received");
    let count = |key: &str| -> u64 {
        last[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing in {last}"))
            .parse()
            .unwrap()
    };
    // 5 unknown joints, 5 wrong lengths, 6 length fields claiming gigabytes.
    assert_eq!(count("messages_malformed"), 16, "{last}");
    // The claimed gigabytes were never allocated: resident memory after the crafted
    // messages stays within a few MB of what it was before them.
    let resident = |phase: &str| -> Vec<u64> {
        lines
            .iter()
            .filter(
                |l| matches!(phase_of(l["at"].as_f64().unwrap_or(0.0)), Some((p, _)) if p == phase),
            )
            .filter_map(|l| l["diagnostics"]["resident_bytes"].as_str()?.parse().ok())
            .collect()
    };
    let before = *resident("wrong_length")
        .iter()
        .chain(&resident("valid2"))
        .max()
        .expect("diagnostics before");
    let after = *resident("valid3")
        .iter()
        .chain(&resident("valid5"))
        .max()
        .expect("diagnostics after");
    assert!(
        after < before + (16 << 20),
        "resident memory grew from {before} to {after} bytes over the crafted messages"
    );
    // Once in the silent phase, once after the script stopped publishing.
    assert_eq!(count("faults.stale_observation"), 2, "{last}");
    assert_eq!(count("faults.non_finite_observation"), 1, "{last}");
    assert_eq!(count("faults.model_fault"), 0, "{last}");
    assert!(count("cycles") > 100, "{last}");
    assert_eq!(count("faults.no_observation"), 1, "{last}");
    assert_eq!(last["watchdog"], "stale_observation", "{last}");

    interrupt(&mut node);
    let file = Recording::open(&recording).expect("the recording opens");
    let cut = file
        .messages_on("/augur/plan_stats")
        .unwrap()
        .iter()
        .map(|m| PlanStatsMessage::decode(&m.data).unwrap())
        .filter(|s| s.model_calls > 0 && s.budget_exhausted)
        .count();
    assert!(cut > 0, "no plan was cut short by the deadline");
    assert_replay_identical(&recording);
    let _ = std::fs::remove_file(&recording);
}

#[test]
fn use_sim_time_runs_the_rate_trigger_on_clock_time() {
    // 20 Hz of simulated time, while /clock advances 50 ms every 100 ms of wall time:
    // one cycle per tick (10 Hz on the wall clock), none while the clock is paused,
    // and a jump back restarts the schedule and is counted.
    let wire = Wire::dds(2);
    let _node = augur_recording(
        wire,
        "rate",
        &[
            "-p",
            "use_sim_time:=true",
            "-p",
            "diagnostics_period:=0.25",
            "-p",
            "sensor_timeout:=0.5",
        ],
        None,
    );
    let ticks = 30;
    let plan = json!({
        "start_s": 100, "ticks": ticks, "tick_sim_ms": 50, "tick_wall_ms": 100,
        "pause_s": 1.0, "jump_to_s": 10
    });
    let robot = peer(wire, "sim_clock", &plan);
    let lines = robot.json_lines();
    let start = |name: &str| {
        lines
            .iter()
            .find(|l| l["phase"] == name)
            .and_then(|l| l["start"].as_f64())
            .unwrap_or_else(|| panic!("no phase {name}: {lines:?}"))
    };
    let (run, pause, jumped, end) = (start("run"), start("pause"), start("jumped"), start("end"));
    let commands_between = |from: f64, to: f64| {
        lines
            .iter()
            .filter_map(|l| l["at"].as_f64().filter(|_| l.get("command").is_some()))
            .filter(|at| *at >= from && *at < to)
            .count()
    };
    // One command per tick (the first tick starts the schedule), not one per 50 ms of
    // wall time (which would be about twice as many).
    let during_run = commands_between(run, pause);
    assert!(
        (ticks - 3..=ticks + 1).contains(&during_run),
        "{during_run} commands for {ticks} ticks"
    );
    // Paused clock: nothing after the last tick's command.
    assert!(
        commands_between(pause + 0.2, jumped) == 0,
        "commands while paused"
    );
    let after_jump = commands_between(jumped, end + 0.2);
    assert!(
        (ticks - 3..=ticks + 1).contains(&after_jump),
        "{after_jump} commands after the jump"
    );
    let last = lines
        .iter()
        .rev()
        .find_map(|l| l.get("diagnostics"))
        .expect("no /diagnostics received");
    assert_eq!(last["clock_jumps"], "1", "{last}");
}
