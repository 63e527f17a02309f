//! ROS 2 message types as serde structs, laid out field for field as the ROS 2 IDL so
//! that CDR (de)serialisation with serde matches rclpy, rosbag2 and rmw_zenoh.
//!
//! Each type implements [`Message`], which carries its ROS 2 name, its `ros2msg`
//! definition (for MCAP schemas) and its RIHS01 type hash (for rmw_zenoh key
//! expressions).
//!
//! One module per ROS 2 package; every type is also re-exported here. The `.msg` texts
//! under `definitions/` are copied verbatim from the ROS 2 packages (Apache-2.0) and
//! assembled into [`Message::DEFINITION`] at compile time; the
//! `msg_definitions` test checks them and the type hashes against an installed ROS 2.

use serde::{de::DeserializeOwned, Serialize};

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

/// Implements [`Message`] for a type: its package and name, its RIHS01 hash, and the
/// types its definition depends on, in the order rosbag2 appends them (depth first,
/// each package's dependencies sorted by name, each type once).
macro_rules! impl_message {
    ($ty:ty, $pkg:literal / $name:literal, $hash:literal $(, $dep_pkg:literal / $dep_name:literal)* $(,)?) => {
        impl $crate::msg::Message for $ty {
            const PACKAGE: &'static str = $pkg;
            const NAME: &'static str = $name;
            const DEFINITION: &'static str = concat!(
                include_str!(concat!("definitions/", $pkg, "/", $name, ".msg"))
                $(,
                    "\n================================================================================\nMSG: ",
                    $dep_pkg, "/", $dep_name, "\n",
                    include_str!(concat!("definitions/", $dep_pkg, "/", $dep_name, ".msg"))
                )*
            );
            const TYPE_HASH: &'static str = $hash;
        }
    };
}

pub mod builtin_interfaces;
pub mod diagnostic_msgs;
mod fixed_array;
pub mod geometry_msgs;
pub mod nav_msgs;
pub mod rosgraph_msgs;
pub mod sensor_msgs;
pub mod std_msgs;

pub use builtin_interfaces::{Duration, Time};
pub use diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
pub use geometry_msgs::{
    Point, PointStamped, Pose, PoseStamped, PoseWithCovariance, Quaternion, Twist, TwistStamped,
    TwistWithCovariance, Vector3,
};
pub use nav_msgs::{Odometry, Path};
pub use rosgraph_msgs::Clock;
pub use sensor_msgs::{CompressedImage, Image, Imu, JointState};
pub use std_msgs::{Float64MultiArray, Header, MultiArrayDimension, MultiArrayLayout};
