//! What a person sees: a clean run of `augur sim pendulum` (over DDS and over zenoh)
//! and of `augur run` stopped with Ctrl-C exits successfully and prints no `ERROR`
//! or `WARN` line, and no colour codes when stderr is not a terminal. The binaries
//! run as a user runs them, with the default log filter (`RUST_LOG` unset).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `augur` as a user starts it, discovery on loopback, a domain of the test's own.
fn augur(domain: u32) -> Command {
    let mut command = Command::new(common::node_binary());
    command
        .current_dir(workspace())
        .env("ROS_DOMAIN_ID", domain.to_string())
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env_remove("ROS_LOCALHOST_ONLY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// The lines of `stderr` a person would take for a problem.
fn complaints(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            line.contains(" ERROR ") || line.contains(" WARN ") || line.contains('\u{1b}')
        })
        .collect()
}

fn assert_clean_sim(transport: &str, domain: u32) {
    let out = std::env::temp_dir().join(format!("augur-clean-{transport}-{}", std::process::id()));
    let output = augur(domain)
        .args(["sim", "pendulum", "--episodes", "1", "--steps", "40"])
        .args(["--transport", transport, "--out"])
        .arg(&out)
        .output()
        .expect("run augur sim");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "augur sim over {transport} failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("mean return"), "{stdout}");
    assert!(out.join("pendulum.mcap").is_file());
    let bad = complaints(&stderr);
    assert!(
        bad.is_empty(),
        "augur sim over {transport} printed:\n{}",
        bad.join("\n")
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_clean_sim_over_dds_prints_no_error_or_warning() {
    assert_clean_sim("dds", 201 + std::process::id() % 8);
}

#[test]
fn a_clean_sim_over_zenoh_prints_no_error_or_warning() {
    assert_clean_sim("zenoh", 211 + std::process::id() % 8);
}

/// `augur sim pendulum --pixels`: the pixel model against the camera plant, quietly,
/// with the frame strip of what the node saw and imagined beside the usual outputs.
#[test]
fn a_clean_pixel_sim_writes_the_frame_strip() {
    let out = std::env::temp_dir().join(format!("augur-clean-pixels-{}", std::process::id()));
    let output = augur(231 + std::process::id() % 8)
        .args([
            "sim",
            "pendulum",
            "--pixels",
            "--episodes",
            "1",
            "--steps",
            "60",
        ])
        .args(["--lockstep", "--out"])
        .arg(&out)
        .output()
        .expect("run augur sim --pixels");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "augur sim --pixels failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("camera: gymnasium's 500x500 frames"),
        "{stdout}"
    );
    assert!(stdout.contains("mean return"), "{stdout}");
    for file in ["pendulum.mcap", "episodes.json", "pendulum.png"] {
        assert!(out.join(file).is_file(), "no {file}");
    }
    let strip = std::fs::read(out.join("frames.png")).expect("frames.png");
    assert_eq!(&strip[1..4], b"PNG");
    // Two rows (seen, imagined) per moment, each 96 + 18 + 6 px, under a 40 px title;
    // columns: the camera, the three stacked input frames and the imagined plan.
    let width = u32::from_be_bytes(strip[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(strip[20..24].try_into().unwrap());
    let rows = (height - 40 - 6) / 120;
    assert!(
        rows >= 4 && rows % 2 == 0 && 40 + rows * 120 + 6 == height,
        "{width}x{height}"
    );
    let columns = (width - 110 - 6) / 102;
    assert!(
        columns >= 6 && 110 + columns * 102 + 6 == width,
        "{width}x{height}"
    );
    let bad = complaints(&stderr);
    assert!(
        bad.is_empty(),
        "augur sim --pixels printed:\n{}",
        bad.join("\n")
    );
    // A state model with --pixels is refused, saying why.
    let output = augur(231 + std::process::id() % 8)
        .args(["sim", "pendulum", "--pixels", "--model", "models/pendulum"])
        .output()
        .expect("run augur sim");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("reads joint states"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_node_stopped_with_ctrl_c_exits_cleanly_and_quietly() {
    let child = augur(221 + std::process::id() % 8)
        .args(["run", "--model", "models/pendulum"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start augur run");
    // Long enough to load the model and run cycles (the safe action, no sensors).
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let output = child.wait_with_output().expect("augur run exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "augur run: {}\n{stderr}",
        output.status
    );
    assert!(stderr.contains("augur node stopped"), "{stderr}");
    let bad = complaints(&stderr);
    assert!(bad.is_empty(), "augur run printed:\n{}", bad.join("\n"));
}
