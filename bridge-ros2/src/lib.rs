//! The wire side of Augur: ROS 2 (DDS) and zenoh transports, their message types, the
//! node, and the on-robot `augur` binary's commands. It is the only crate that touches
//! the network. Benches, plants and plots live above it in `augur-hil`, which the
//! `augur` binary starts for `sim`, `hil`, `bench-node` and `bench-quality`.

pub mod msg;
pub mod ros_args;
pub mod transport;

pub mod fuzz;

pub mod cli;
pub mod node;
