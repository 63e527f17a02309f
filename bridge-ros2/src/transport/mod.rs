//! Transports: how ROS 2 messages leave and enter the process. `zenoh` speaks
//! rmw_zenoh's wire format; `cdr` is the serialisation they share.

pub mod cdr;
pub mod zenoh;
