//! `rosgraph_msgs`: the simulated clock on `/clock`.

use serde::{Deserialize, Serialize};

use super::Time;

/// `rosgraph_msgs/msg/Clock`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub clock: Time,
}

impl_message!(
    Clock,
    "rosgraph_msgs" / "Clock",
    "RIHS01_692f7a66e93a3c83e71765d033b60349ba68023a8c689a79e48078bcb5c58564",
    "builtin_interfaces" / "Time"
);
