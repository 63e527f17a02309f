//! Log output of Augur's binaries: `tracing` to stderr, filtered by `RUST_LOG`
//! (default: Augur at `info`, the DDS stack at `error`), with colour only when stderr
//! is a terminal, so a log written to a file or a journal carries no escape codes.

use std::io::IsTerminal as _;

/// The filter when `RUST_LOG` is unset. Off, because they report no fault of a run:
/// - `rustdds::network::udp_listener`: its only error is `leave_multicast_group` at
///   every participant's shutdown when discovery is loopback-only (RustDDS 0.15
///   leaves a multicast group it never joined);
/// - `rustdds::discovery::discovery_db`: its error is "Inconsistent topic update"
///   for `/clock`, because ros2-client 0.12's spinner reads `/clock` as
///   `builtin_interfaces/Time` in every node while ROS 2 (and Augur on sim time)
///   publishes `rosgraph_msgs/Clock` there.
///
/// zenoh at `warn`: its `info` lines are session ids and endpoints at every start.
pub const DEFAULT_FILTER: &str = "info,zenoh=warn,rustdds=error,ros2_client=error,\
     rustdds::network::udp_listener=off,rustdds::discovery::discovery_db=off";

/// Installs the subscriber; call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_FILTER.into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
