//! The transports that carry ROS 2 messages: DDS (RustDDS through ros2-client).

pub mod dds;
