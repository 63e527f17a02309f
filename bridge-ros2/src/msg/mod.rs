//! ROS 2 message types as serde structs, laid out field for field as the ROS 2 IDL so
//! that CDR (de)serialisation with serde matches rclpy, rosbag2 and rmw_zenoh.
//!
//! Each type implements [`Message`], which carries its ROS 2 name, its `ros2msg`
//! definition (for MCAP schemas) and its RIHS01 type hash (for rmw_zenoh key
//! expressions).

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// A ROS 2 message type.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// Package, e.g. `sensor_msgs`.
    const PACKAGE: &'static str;
    /// Type name inside the package, e.g. `JointState`.
    const NAME: &'static str;
    /// The `.msg` definition followed by the definitions it depends on, in the
    /// concatenated form rosbag2 writes into MCAP `ros2msg` schemas
    /// (`================================================================================\nMSG: pkg/Type\n...`).
    const DEFINITION: &'static str;
    /// The ROS 2 type description hash, `RIHS01_<64 hex>`, as rmw_zenoh uses it in key
    /// expressions.
    const TYPE_HASH: &'static str;

    /// `sensor_msgs/msg/JointState`: the name ROS 2 tools and MCAP schemas use.
    fn ros_name() -> String {
        format!("{}/msg/{}", Self::PACKAGE, Self::NAME)
    }

    /// `sensor_msgs::msg::dds_::JointState_`: the DDS type name.
    fn dds_name() -> String {
        format!("{}::msg::dds_::{}_", Self::PACKAGE, Self::NAME)
    }
}

/// `builtin_interfaces/msg/Time`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Time {
    pub sec: i32,
    pub nanosec: u32,
}

/// `std_msgs/msg/Header`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub stamp: Time,
    pub frame_id: String,
}

/// `sensor_msgs/msg/JointState`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JointState {
    pub header: Header,
    pub name: Vec<String>,
    pub position: Vec<f64>,
    pub velocity: Vec<f64>,
    pub effort: Vec<f64>,
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

// Placeholder definitions: the full concatenated `.msg` texts land with the
// complete message set. The hashes are the real RIHS01 values from the
// type-description JSON files shipped with sensor_msgs and std_msgs (Jazzy).
impl Message for JointState {
    const PACKAGE: &'static str = "sensor_msgs";
    const NAME: &'static str = "JointState";
    const DEFINITION: &'static str = "std_msgs/Header header\nstring[] name\nfloat64[] position\nfloat64[] velocity\nfloat64[] effort\n";
    const TYPE_HASH: &'static str =
        "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e";
}

impl Message for Float64MultiArray {
    const PACKAGE: &'static str = "std_msgs";
    const NAME: &'static str = "Float64MultiArray";
    const DEFINITION: &'static str = "MultiArrayLayout layout\nfloat64[] data\n";
    const TYPE_HASH: &'static str =
        "RIHS01_1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f";
}
