//! The workspace's layering, checked on `Cargo.lock`: each crate's dependency closure
//! (normal, build and dev dependencies alike, as the lock file records them) must not
//! reach what sits above it. `docs/architecture.md` states the same rules.
//!
//! - `augur-planner`: pure computation, no tract, no ROS, no zenoh, no MCAP.
//! - `augur-runtime`: no ROS and no zenoh (it knows no transport).
//! - `augur-bridge-ros2` (the on-robot `augur` binary): no bench crate, no plotting.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every package of the lock file with the names of its dependencies.
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let text = std::fs::read_to_string(&path).expect("read Cargo.lock");
    let lock: toml::Value = toml::from_str(&text).expect("Cargo.lock is TOML");
    let mut graph = BTreeMap::new();
    for package in lock["package"].as_array().expect("[[package]] entries") {
        let name = package["name"].as_str().expect("name").to_string();
        let dependencies = package
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|d| {
                d.iter()
                    // An entry is `name`, or `name version` when two versions exist.
                    .filter_map(|e| e.as_str()?.split(' ').next().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        graph
            .entry(name)
            .or_insert_with(Vec::new)
            .extend::<Vec<String>>(dependencies);
    }
    graph
}

/// Every package `root` depends on, directly or not.
fn closure(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![root.to_string()];
    while let Some(name) = stack.pop() {
        for dependency in graph.get(&name).into_iter().flatten() {
            if seen.insert(dependency.clone()) {
                stack.push(dependency.clone());
            }
        }
    }
    seen
}

fn assert_reaches_none(root: &str, forbidden: &[&str]) {
    let graph = lock_graph();
    assert!(graph.contains_key(root), "{root} is not in Cargo.lock");
    let reached = closure(&graph, root);
    let bad: Vec<&&str> = forbidden.iter().filter(|f| reached.contains(**f)).collect();
    assert!(bad.is_empty(), "{root} depends on {bad:?}");
}

#[test]
fn the_planner_depends_on_no_model_runtime_transport_or_recording() {
    assert_reaches_none(
        "augur-planner",
        &[
            "augur-runtime",
            "augur-bridge-ros2",
            "augur-hil",
            "tract-core",
            "tract-onnx",
            "tract-linalg",
            "ros2-client",
            "rustdds",
            "zenoh",
            "mcap",
        ],
    );
}

#[test]
fn the_runtime_depends_on_no_transport() {
    assert_reaches_none(
        "augur-runtime",
        &[
            "augur-bridge-ros2",
            "augur-hil",
            "ros2-client",
            "rustdds",
            "zenoh",
        ],
    );
}

#[test]
fn the_on_robot_binary_links_no_bench_or_plotting_code() {
    assert_reaches_none("augur-bridge-ros2", &["augur-hil", "plotters"]);
}

#[test]
fn the_rules_would_catch_a_violation() {
    // The bench crate does reach what the on-robot crate must not: the check is live.
    let graph = lock_graph();
    let reached = closure(&graph, "augur-hil");
    for name in ["augur-bridge-ros2", "plotters", "rustdds", "tract-core"] {
        assert!(reached.contains(name), "augur-hil should reach {name}");
    }
}
