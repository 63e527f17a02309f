//! The closed loop over DDS: the node as `augur run` starts it, the gymnasium-exact
//! pendulum as a second participant on loopback, lock-stepped. Seeded episodes from
//! random starts must average at least -200 (gymnasium's best agents reach about
//! -150); the figure is printed for docs/benchmarks.md.

use std::path::Path;

use augur_bridge_ros2::transport::{TransportKind, TransportOptions};
use augur_hil::sim::PendulumBench;

#[test]
fn the_pendulum_is_swung_up_and_held_over_dds() {
    // A domain of its own (other tests use 10..230 in steps by process id).
    std::env::set_var("ROS_DOMAIN_ID", (231 - std::process::id() % 4).to_string());
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum");
    let options = TransportOptions::local(TransportKind::Dds, "augur");
    let ros_args: Vec<String> = ["--ros-args", "-p", "max_transitions:=2048"]
        .map(String::from)
        .into();
    let bench = PendulumBench::start(&model, &options, &ros_args, true, None).expect("bench");
    let episodes = 10;
    let mut returns = Vec::new();
    for seed in 0..episodes {
        let episode = bench.episode(seed, 200).expect("episode");
        assert_eq!(episode.steps.len(), 200);
        assert!(episode.steps.iter().all(|s| s.action.abs() <= 2.0));
        returns.push(episode.total_return);
    }
    let mean = returns.iter().sum::<f64>() / returns.len() as f64;
    println!("mean return over DDS: {mean:.1} over {episodes} episodes: {returns:?}");
    // Every cycle of an episode planned: none fell back to the safe action.
    let diagnostics = bench.node().diagnostics();
    assert_eq!(diagnostics.faults, Default::default(), "{diagnostics:?}");
    assert_eq!(
        diagnostics.raised[3] + diagnostics.raised[4],
        0,
        "{diagnostics:?}"
    );
    assert!(mean >= -200.0, "mean return {mean:.1}: {returns:?}");
}
