//! `builtin_interfaces`: time stamps and durations.

use serde::{Deserialize, Serialize};

/// `builtin_interfaces/msg/Time`: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    pub sec: i32,
    pub nanosec: u32,
}

impl Time {
    /// The wall clock now (the stamp of every message not on simulated time).
    pub fn now() -> Time {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Time::from_nanos(since_epoch.as_nanos() as i64)
    }

    /// `ns` nanoseconds after the epoch (or after a simulated clock's zero).
    pub fn from_nanos(ns: i64) -> Time {
        Time {
            sec: ns.div_euclid(1_000_000_000) as i32,
            nanosec: ns.rem_euclid(1_000_000_000) as u32,
        }
    }
}

/// `builtin_interfaces/msg/Duration`: a signed span, nanoseconds always positive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duration {
    pub sec: i32,
    pub nanosec: u32,
}

impl_message!(
    Time,
    "builtin_interfaces" / "Time",
    "RIHS01_b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197"
);
impl_message!(
    Duration,
    "builtin_interfaces" / "Duration",
    "RIHS01_e8d009f659816f758b75334ee1a9ca5b5c0b859843261f14c7f937349599d93b"
);
