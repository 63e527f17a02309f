//! The Reacher bench's plant: the rclpy Reacher-v5 plant (`hil-tests/py/reacher_plant.py`)
//! as a third process against the node, in real time.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::nodes::Nodes;
use super::BenchPaths;
use crate::judge::RunLog;
use crate::scenario::Scenario;

/// The rclpy Reacher plant against the node, in real time.
pub(super) fn run_reacher(
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
