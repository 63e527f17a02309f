//! `std_msgs`: the header and the multi-array command type.

use serde::{Deserialize, Serialize};

use super::Time;

/// `std_msgs/msg/Header`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub stamp: Time,
    pub frame_id: String,
}

/// `std_msgs/msg/MultiArrayDimension`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiArrayDimension {
    pub label: String,
    pub size: u32,
    pub stride: u32,
}

/// `std_msgs/msg/MultiArrayLayout`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiArrayLayout {
    pub dim: Vec<MultiArrayDimension>,
    pub data_offset: u32,
}

/// `std_msgs/msg/Float64MultiArray`: ros2_control's forward command controllers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Float64MultiArray {
    pub layout: MultiArrayLayout,
    pub data: Vec<f64>,
}

impl_message!(
    Header,
    "std_msgs" / "Header",
    "RIHS01_f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01",
    "builtin_interfaces" / "Time"
);
impl_message!(
    MultiArrayDimension,
    "std_msgs" / "MultiArrayDimension",
    "RIHS01_5e773a60a4c7fc8a54985f307c7837aa2994252a126c301957a24e31282c9cbe"
);
impl_message!(
    MultiArrayLayout,
    "std_msgs" / "MultiArrayLayout",
    "RIHS01_4c66e6f78e740ac103a94cf63259f968e48c617e7699e829b63c21a5cb50dac6",
    "std_msgs" / "MultiArrayDimension"
);
impl_message!(
    Float64MultiArray,
    "std_msgs" / "Float64MultiArray",
    "RIHS01_1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f",
    "std_msgs" / "MultiArrayLayout",
    "std_msgs" / "MultiArrayDimension"
);
