//! Augur's benches: plants standing in for the robot, bench scenarios (faults and
//! thresholds), judging a run and its report. Everything here is transport-free; the
//! runner that starts the node and injects faults on the wire is `augur hil` in
//! `augur-bridge-ros2`.
//!
//! Plants are exact re-implementations of reference simulators (checked against
//! recordings of the originals), so a bench result means what it says.

pub mod closed_loop;
pub mod judge;
pub mod plants;
pub mod plot;
pub mod report;
pub mod scenario;
