//! `sensor_msgs`: joint states, IMU readings and camera images.

use serde::{Deserialize, Serialize};

use super::{fixed_array, Header, Quaternion, Vector3};

/// `sensor_msgs/msg/JointState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JointState {
    pub header: Header,
    pub name: Vec<String>,
    pub position: Vec<f64>,
    pub velocity: Vec<f64>,
    pub effort: Vec<f64>,
}

/// `sensor_msgs/msg/Imu`: covariances are row-major 3x3 (`float64[9]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Imu {
    pub header: Header,
    pub orientation: Quaternion,
    #[serde(with = "fixed_array")]
    pub orientation_covariance: [f64; 9],
    pub angular_velocity: Vector3,
    #[serde(with = "fixed_array")]
    pub angular_velocity_covariance: [f64; 9],
    pub linear_acceleration: Vector3,
    #[serde(with = "fixed_array")]
    pub linear_acceleration_covariance: [f64; 9],
}

/// `sensor_msgs/msg/Image`. `data` is read and written as one block (serde_bytes), not
/// byte by byte.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub header: Header,
    pub height: u32,
    pub width: u32,
    pub encoding: String,
    pub is_bigendian: u8,
    pub step: u32,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `sensor_msgs/msg/CompressedImage`: `format` as image_transport writes it (e.g.
/// `rgb8; jpeg compressed bgr8`, `png`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompressedImage {
    pub header: Header,
    pub format: String,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl_message!(
    Image,
    "sensor_msgs" / "Image",
    "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    CompressedImage,
    "sensor_msgs" / "CompressedImage",
    "RIHS01_15640771531571185e2efc8a100baf923961a4d15d5569652e6cb6691e8e371a",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    JointState,
    "sensor_msgs" / "JointState",
    "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    Imu,
    "sensor_msgs" / "Imu",
    "RIHS01_7d9a00ff131080897a5ec7e26e315954b8eae3353c3f995c55faf71574000b5b",
    "geometry_msgs" / "Quaternion",
    "geometry_msgs" / "Vector3",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
