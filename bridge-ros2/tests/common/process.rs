//! Child processes of the cross-process tests (rclpy peers, the `augur` binary): the
//! loopback-only ROS 2 environment and their stdout as lines.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};

/// Spawns `command` with Fast DDS discovery on loopback, a writable ROS log directory
/// and unbuffered Python output; returns the child and its stdout, line by line.
pub fn spawn_with_lines(command: &mut Command) -> (Child, Receiver<String>) {
    let log_dir = std::env::temp_dir().join("augur-ros-log");
    let mut child = command
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env_remove("ROS_LOCALHOST_ONLY")
        .env("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
        .env("ROS_LOG_DIR", log_dir)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a test peer");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}
