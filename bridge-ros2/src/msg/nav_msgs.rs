//! `nav_msgs`: odometry and paths.

use serde::{Deserialize, Serialize};

use super::{Header, PoseStamped, PoseWithCovariance, TwistWithCovariance};

/// `nav_msgs/msg/Odometry`: pose in `header.frame_id`, twist in `child_frame_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Odometry {
    pub header: Header,
    pub child_frame_id: String,
    pub pose: PoseWithCovariance,
    pub twist: TwistWithCovariance,
}

/// `nav_msgs/msg/Path`: a sequence of stamped poses (Augur's predicted trajectory).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Path {
    pub header: Header,
    pub poses: Vec<PoseStamped>,
}

impl_message!(
    Odometry,
    "nav_msgs" / "Odometry",
    "RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0",
    "geometry_msgs" / "PoseWithCovariance",
    "geometry_msgs" / "Pose",
    "geometry_msgs" / "Point",
    "geometry_msgs" / "Quaternion",
    "geometry_msgs" / "TwistWithCovariance",
    "geometry_msgs" / "Twist",
    "geometry_msgs" / "Vector3",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    Path,
    "nav_msgs" / "Path",
    "RIHS01_1957a5bb3cee5da65c4e52e52b65a93df227efce4c20f8458b36e73066ca334b",
    "geometry_msgs" / "PoseStamped",
    "geometry_msgs" / "Pose",
    "geometry_msgs" / "Point",
    "geometry_msgs" / "Quaternion",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
