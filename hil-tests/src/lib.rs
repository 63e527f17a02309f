//! Augur's benches: plants standing in for the robot, bench scenarios (faults and
//! thresholds), the bench runner that puts the real node on the other side of the
//! wire and injects faults there, judging a run and its report, and the bench tools
//! of the `augur-hil` binary (`augur sim`, `augur hil`, `augur bench-node`,
//! `augur bench-quality`). It sits above `augur-bridge-ros2`: the on-robot binary
//! links none of this.
//!
//! Plants are exact re-implementations of reference simulators (checked against
//! recordings of the originals), so a bench result means what it says.

pub mod bench;
pub mod cli;
pub mod closed_loop;
pub mod eval;
pub mod judge;
pub mod node_process;
pub mod plant_link;
pub mod plants;
pub mod plot;
pub mod quality;
pub mod report;
pub mod scenario;
pub mod sim;
