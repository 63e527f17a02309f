//! `augur bench-node` as a user runs it on the pixel model, with the transport floor
//! (`--echo`): every timed frame answered by the node and by the echo, the figures
//! written, stderr clean; and `--echo` refused, before anything starts, for a model
//! without a camera.

mod common;

use common::{augur, complaints};

#[test]
fn bench_node_times_the_pixel_node_and_the_transport_floor() {
    let json = std::env::temp_dir().join(format!("augur-bench-node-{}.json", std::process::id()));
    let output = augur(201 + std::process::id() % 8)
        .args(["bench-node", "--model", "models/pendulum-pixels"])
        .args([
            "--messages",
            "30",
            "--rate-hz",
            "20",
            "--seconds",
            "3",
            "--echo",
        ])
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run augur bench-node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench-node failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("| transport floor: round trip through an echo | 30 |"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("JSON");
    let _ = std::fs::remove_file(&json);
    let summary = |name: &str| {
        let s = &report[name];
        (
            s["count"].as_u64().unwrap_or(0),
            s["median_ms"].as_f64().unwrap_or(f64::NAN),
        )
    };
    let (floor_count, floor) = summary("transport_floor");
    let (trips, round_trip) = summary("round_trip");
    let (excluding, _) = summary("latency_excluding_planning");
    assert_eq!((floor_count, trips, excluding), (30, 30, 30), "{report}");
    // The echo answers at once; the node encodes and plans first.
    assert!(
        floor > 0.0 && floor < round_trip,
        "floor {floor} ms, node {round_trip} ms"
    );
    assert!(report["cycles"].as_u64().unwrap_or(0) > 20, "{report}");
    assert!(report["rss_peak_kib"].as_u64().unwrap_or(0) > 0, "{report}");
    let bad = complaints(&stderr);
    assert!(bad.is_empty(), "stderr of a clean run:\n{}", bad.join("\n"));
}

#[test]
fn echo_is_refused_for_a_model_without_a_camera() {
    let output = augur(209 + std::process::id() % 8)
        .args(["bench-node", "--model", "models/pendulum", "--echo"])
        .output()
        .expect("run augur bench-node");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--echo times camera frames; models/pendulum reads no camera"),
        "{stderr}"
    );
}
