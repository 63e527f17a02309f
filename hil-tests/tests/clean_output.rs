//! What a person sees: a clean run of `augur sim pendulum` (over DDS and over zenoh)
//! and of `augur run` stopped with Ctrl-C exits successfully and prints no `ERROR`
//! or `WARN` line, and no colour codes when stderr is not a terminal. The binaries
//! run as a user runs them, with the default log filter (`RUST_LOG` unset).

use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{augur, complaints};

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
