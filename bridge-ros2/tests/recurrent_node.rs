//! The angle-only pendulum end to end over DDS: `augur run --model models/pendulum-rssm`
//! against gymnasium's `Pendulum-v1` behind rclpy (hil-tests/py/pendulum_plant.py),
//! publishing `JointState` with `position` only. The recurrent model balances from
//! angles alone where the memoryless model fed the same angles (velocity 0) cannot,
//! and the recording of a run whose state restarted between episodes replays bit for
//! bit. Loopback only (`ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`, from the harness).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const EPISODES: usize = 3;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn domain_id(test_index: u16) -> u16 {
    // Clear of dds_interop.rs's and node_interop.rs's ranges.
    40 + (std::process::id() % 16) as u16 * 4 + test_index
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `EPISODES` gymnasium episodes (seeds 0..) of the plant publishing `velocity`
/// against `augur run --model MODEL --trigger observation`, recording to `record`;
/// returns the plant's report.
fn episodes(model: &str, velocity: &str, domain: u16, record: &Path) -> Value {
    let mut node = Command::new(env!("CARGO_BIN_EXE_augur"));
    node.arg("run")
        .arg("--model")
        .arg(models().join(model))
        .args(["--trigger", "observation", "--record"])
        .arg(record)
        .env("ROS_DOMAIN_ID", domain.to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::null());
    let mut node = Killed(node.spawn().expect("augur run starts"));
    let out = std::env::temp_dir().join(format!(
        "augur-rssm-{}-{model}-{velocity}.json",
        std::process::id()
    ));
    let status = Command::new(common::python::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../hil-tests/py/pendulum_plant.py"
        ))
        .args(["--episodes", &EPISODES.to_string(), "--velocity", velocity])
        .arg("--out")
        .arg(&out)
        .env("ROS_DOMAIN_ID", domain.to_string())
        .status()
        .expect("the plant runs");
    assert!(status.success(), "pendulum_plant.py exited with {status}");
    // Stop the node like Ctrl-C, so it closes its recording.
    let interrupted = Command::new("kill")
        .args(["-INT", &node.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = node.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "augur run did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "augur run exited with {exit}");
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(report["completed"], true, "{report}");
    assert_eq!(report["returns"].as_array().unwrap().len(), EPISODES);
    report
}

fn mean_return(report: &Value) -> f64 {
    report["mean_return"].as_f64().unwrap()
}

#[test]
fn the_angle_only_rssm_balances_over_dds_where_the_memoryless_model_cannot() {
    let record = |name: &str| {
        std::env::temp_dir().join(format!("augur-rssm-{}-{name}.mcap", std::process::id()))
    };
    let rssm = episodes("pendulum-rssm", "none", domain_id(0), &record("rssm"));
    let memoryless = episodes("pendulum", "zero", domain_id(1), &record("memoryless"));
    let (r, m) = (mean_return(&rssm), mean_return(&memoryless));
    // The same three gymnasium starts: the full-state model scores about -150 on
    // such starts, the recurrent one close to it; blind to velocity, the memoryless
    // model swings without ever settling (docs/benchmarks.md, "Recurrent models").
    assert!(r > -300.0, "pendulum-rssm mean return {r}");
    assert!(
        r > m + 200.0,
        "pendulum-rssm {r} vs memoryless with velocity 0 {m}"
    );
    // Every step the plant took was answered by a planned command from the filtered
    // state, and the gaps between episodes restarted it; replay rebuilds it exactly.
    let output = Command::new(env!("CARGO_BIN_EXE_augur"))
        .arg("replay")
        .arg(record("rssm"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("every command is bit-identical"),
        "augur replay: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in ["rssm", "memoryless"] {
        std::fs::remove_file(record(name)).ok();
    }
}
