//! Augur's benches: plants standing in for the robot, fault injection and reports.
//!
//! Plants are exact re-implementations of reference simulators (checked against
//! recordings of the originals), so a bench result means what it says.

pub mod closed_loop;
pub mod plants;
pub mod plot;
