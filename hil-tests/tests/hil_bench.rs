//! `augur hil` end to end: the real binary runs the quick fault suite (the node as a
//! child process, faults injected on loopback DDS) and every scenario must pass; a
//! scenario with a deliberately wrong expectation must fail the judge.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

mod common;

/// The runs share two cores: one at a time, so CPU starvation of one bench is not
/// another's unexplained latency.
static SERIAL: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn hil(domain: u16, args: &[&str], out: &Path) -> std::process::Output {
    Command::new(common::bench_binary())
        .current_dir(workspace())
        .env("AUGUR_BIN", common::node_binary())
        .arg("hil")
        .args(args)
        .arg("--out")
        .arg(out)
        .env("ROS_DOMAIN_ID", domain.to_string())
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env_remove("ROS_LOCALHOST_ONLY")
        .env("RUST_LOG", "error,rustdds=off,ros2_client=off")
        .output()
        .expect("run augur hil")
}

fn report(out: &Path, scenario: &str) -> serde_json::Value {
    let path = out.join(scenario).join("report.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("report.json parses")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("augur-hil-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn quick_fault_suite_passes_every_scenario() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("suite");
    let output = hil(63, &["all", "--quick"], &out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "augur hil all --quick failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = [
        "pendulum_nominal",
        "pendulum_sensor_dropout",
        "pendulum_sensor_delay",
        "pendulum_nan",
        "pendulum_inf",
        "pendulum_out_of_range",
        "pendulum_wrong_length",
        "pendulum_unknown_joint",
        "pendulum_flood",
        "pendulum_cpu_starvation",
        "pendulum_kill_restart",
        "pendulum_plant_restart",
        "pendulum_clock_jump",
        "pendulum_learned_nominal",
        "pendulum_camera_nominal",
        "pendulum_camera_dropout",
        "pendulum_camera_corrupt",
        "pendulum_camera_flood",
        "pendulum_camera_resolution",
    ];
    for name in expected {
        assert!(
            stdout.contains(&format!("| {name} | pass |")),
            "{name} missing or failed:\n{stdout}"
        );
        let r = report(&out, name);
        assert_eq!(r["verdict"]["passed"], true, "{name}: {:#}", r["verdict"]);
        for file in ["report.html", "timeline.png", "cycle_time.png"] {
            assert!(out.join(name).join(file).is_file(), "{name}: no {file}");
        }
    }
    // The slow scenarios are not part of the quick suite.
    assert!(!stdout.contains("pendulum_soak") && !stdout.contains("reacher_nominal"));

    // The counts the judge compared are the ones injected: every wrong-length message
    // reached the node and was counted malformed, and the node went safe once.
    let r = report(&out, "pendulum_wrong_length");
    let window = &r["run"]["windows"][0];
    let sent = window["malformed_sent"].as_u64().unwrap();
    assert!(
        sent >= 15,
        "only {sent} wrong-length messages in a 1 s window at 20 Hz"
    );
    assert_eq!(
        r["run"]["diagnostics"]["messages_malformed"],
        sent.to_string()
    );
    assert_eq!(r["run"]["diagnostics"]["faults.stale_observation"], "1");
    // The NaN window raised the non-finite fault exactly once.
    let r = report(&out, "pendulum_nan");
    assert_eq!(
        r["run"]["diagnostics"]["faults.non_finite_observation"],
        "1"
    );
    // The kill left one SIGKILLed process and one that exited cleanly after SIGINT.
    let r = report(&out, "pendulum_kill_restart");
    let exits = r["run"]["exits"].as_array().unwrap();
    assert_eq!(exits.len(), 2, "{exits:?}");
    assert_eq!(exits[0]["expected"], true);
    assert_eq!(exits[1]["clean"], true);
    // The flood really flooded: thousands of extra messages in 1 s.
    let r = report(&out, "pendulum_flood");
    assert!(r["run"]["windows"][0]["extra_sent"].as_u64().unwrap() > 1000);
    // The plant went away and came back as a new participant: one stale window, and
    // the commands after it are for the new plant.
    let r = report(&out, "pendulum_plant_restart");
    assert_eq!(r["run"]["diagnostics"]["faults.stale_observation"], "1");
    assert!(r["run"]["windows"][0]["first_good_after"].is_number());
    // Both /clock jumps (ahead, then back) were counted by the node.
    let r = report(&out, "pendulum_clock_jump");
    assert_eq!(r["run"]["diagnostics"]["clock_jumps"], "2");
    // The learned simulator ran its episodes, scored by the task reward and by its own
    // reward head, and the physics pendulum ran the same scenario beside it.
    let r = report(&out, "pendulum_learned_nominal");
    let returns = |key: &str| r["run"][key].as_array().map_or(0, Vec::len);
    assert_eq!(
        (
            returns("returns"),
            returns("model_returns"),
            returns("physics_returns")
        ),
        (2, 2, 2),
        "{:#}",
        r["run"]
    );
    assert!(out
        .join("pendulum_learned_nominal/physics/report.json")
        .is_file());
    // Camera plant: every corrupt frame (three defects) reached the node and was
    // counted malformed, each window went safe once.
    let r = report(&out, "pendulum_camera_corrupt");
    let windows = r["run"]["windows"].as_array().unwrap();
    let sent: u64 = windows
        .iter()
        .map(|w| w["malformed_sent"].as_u64().unwrap())
        .sum();
    assert!(
        sent >= 45,
        "only {sent} corrupt frames in three 1 s windows"
    );
    assert_eq!(
        r["run"]["diagnostics"]["messages_malformed"],
        sent.to_string()
    );
    assert_eq!(r["run"]["diagnostics"]["faults.stale_observation"], "3");
    // The camera flood re-sent its last frame ~100 times in 1 s, and the
    // resolution changes cost no frame and no safe command.
    let r = report(&out, "pendulum_camera_flood");
    assert!(r["run"]["windows"][0]["extra_sent"].as_u64().unwrap() > 50);
    let r = report(&out, "pendulum_camera_resolution");
    assert_eq!(r["run"]["diagnostics"]["messages_malformed"], "0");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_wrong_expectation_fails_the_judge_and_the_exit_code() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = out_dir("negative");
    std::fs::create_dir_all(&out).unwrap();
    // One dropout raises stale_observation once; this scenario claims three, and a
    // return no pendulum can reach (rewards are never positive).
    let scenario = out.join("wrong_expectation.toml");
    std::fs::write(
        &scenario,
        r#"
name = "wrong_expectation"
description = "dropout with wrong expectations"
plant = "pendulum"
model = "models/pendulum"
params = ["max_transitions:=256"]
duration = 6.0
episode_duration = 6.0

[[faults]]
kind = "sensor_dropout"
start = 2.0
duration = 1.0

[thresholds]
min_mean_return = 1.0
diagnostics = { "faults.stale_observation" = 3 }
"#,
    )
    .unwrap();
    let output = hil(64, &[scenario.to_str().unwrap()], &out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "a failing scenario must exit non-zero:\n{stdout}"
    );
    assert!(stdout.contains("| wrong_expectation | FAIL |"), "{stdout}");
    let r = report(&out, "wrong_expectation");
    let failed: Vec<&str> = r["verdict"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|rule| rule["passed"] == false)
        .map(|rule| rule["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["diagnostics.faults.stale_observation", "min_mean_return"]
    );
    // The rest of the run was judged, and passed: the node did go safe in time.
    assert!(r["verdict"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |rule| rule["rule"] == "safe_command_in_time.sensor_dropout[0]"
                && rule["passed"] == true
        ));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_unknown_scenario_key_is_refused_with_the_file_and_key() {
    let out = out_dir("strict");
    std::fs::create_dir_all(&out).unwrap();
    let scenario = out.join("typo.toml");
    std::fs::write(
        &scenario,
        "name = \"typo\"\ndescription = \"d\"\nplant = \"pendulum\"\nmodel = \"models/pendulum\"\nduration = 5.0\n[thresholds]\nmin_mean_retrun = -200.0\n",
    )
    .unwrap();
    let output = hil(65, &[scenario.to_str().unwrap()], &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("typo.toml") && stderr.contains("min_mean_retrun"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
