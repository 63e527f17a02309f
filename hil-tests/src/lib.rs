//! Augur's benches: plants standing in for the robot, fault injection and reports.
