//! Augur's on-robot runtime.
//!
//! It loads model packages (a manifest plus ONNX graphs), runs the world model with
//! tract behind the planner crate's [`augur_planner::WorldModel`] trait, and (in later
//! modules) ingests sensors, runs the control loop and enforces safety; it records runs
//! to MCAP (`record`).
//! It knows nothing of ROS: transports live in `augur-bridge-ros2`.

pub mod control;
pub mod heap;
pub mod model;
pub mod record;
pub mod resources;
