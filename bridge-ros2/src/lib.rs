//! The wire side of Augur: ROS 2 (DDS) and zenoh transports and their message types.
//! It is the only crate that touches the network; the `augur` binary lives here.

pub mod msg;
pub mod ros_args;
pub mod transport;

pub mod cli;
pub mod hil;
pub mod node;
pub mod node_process;
pub mod sim;
