//! `diagnostic_msgs`: the `/diagnostics` array.

use serde::{Deserialize, Serialize};

use super::Header;

/// `diagnostic_msgs/msg/DiagnosticArray`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticArray {
    pub header: Header,
    pub status: Vec<DiagnosticStatus>,
}

/// `diagnostic_msgs/msg/DiagnosticStatus`: `level` is one of the `u8` constants below.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticStatus {
    pub level: u8,
    pub name: String,
    pub message: String,
    pub hardware_id: String,
    pub values: Vec<KeyValue>,
}

impl DiagnosticStatus {
    /// Level: everything is fine.
    pub const OK: u8 = 0;
    /// Level: degraded but working.
    pub const WARN: u8 = 1;
    /// Level: failed.
    pub const ERROR: u8 = 2;
    /// Level: no recent data.
    pub const STALE: u8 = 3;
}

/// `diagnostic_msgs/msg/KeyValue`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

impl_message!(
    DiagnosticArray,
    "diagnostic_msgs" / "DiagnosticArray",
    "RIHS01_5a8a36efb05fb25070fa0fb3810290c0e6cd4862b54a8fb975a1ee8dc55a333e",
    "diagnostic_msgs" / "DiagnosticStatus",
    "diagnostic_msgs" / "KeyValue",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    DiagnosticStatus,
    "diagnostic_msgs" / "DiagnosticStatus",
    "RIHS01_b0e3e692ea2d54a8af2f4ef1930e81556a2db55216b771f8a7d2724ed47bf0e4",
    "diagnostic_msgs" / "KeyValue"
);
impl_message!(
    KeyValue,
    "diagnostic_msgs" / "KeyValue",
    "RIHS01_d68081eaa540288c5440753baecef0c4e16e81a5f78ad68902ded5100413bb42"
);
