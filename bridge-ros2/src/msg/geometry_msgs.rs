//! `geometry_msgs`: points, poses and velocities.

use serde::{Deserialize, Serialize};

use super::{fixed_array, Header};

/// `geometry_msgs/msg/Vector3`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Vector3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// `geometry_msgs/msg/Point`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

/// `geometry_msgs/msg/Quaternion`: defaults to the identity (`w = 1`), as in ROS 2.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    pub x: f64,
    pub y: f64,
    pub z: f64,
    pub w: f64,
}

impl Default for Quaternion {
    fn default() -> Self {
        Quaternion {
            x: 0.0,
            y: 0.0,
            z: 0.0,
            w: 1.0,
        }
    }
}

/// `geometry_msgs/msg/Pose`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    pub position: Point,
    pub orientation: Quaternion,
}

/// `geometry_msgs/msg/PoseStamped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoseStamped {
    pub header: Header,
    pub pose: Pose,
}

/// `geometry_msgs/msg/PointStamped`: a position with its frame and time (targets,
/// goals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PointStamped {
    pub header: Header,
    pub point: Point,
}

/// `geometry_msgs/msg/PoseWithCovariance`: row-major 6x6 covariance (`float64[36]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoseWithCovariance {
    pub pose: Pose,
    #[serde(with = "fixed_array")]
    pub covariance: [f64; 36],
}

/// `geometry_msgs/msg/Twist`: linear and angular velocity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Twist {
    pub linear: Vector3,
    pub angular: Vector3,
}

/// `geometry_msgs/msg/TwistStamped`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TwistStamped {
    pub header: Header,
    pub twist: Twist,
}

/// `geometry_msgs/msg/TwistWithCovariance`: row-major 6x6 covariance (`float64[36]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TwistWithCovariance {
    pub twist: Twist,
    #[serde(with = "fixed_array")]
    pub covariance: [f64; 36],
}

// `Default` is not derived for arrays longer than 32.
impl Default for PoseWithCovariance {
    fn default() -> Self {
        PoseWithCovariance {
            pose: Pose::default(),
            covariance: [0.0; 36],
        }
    }
}

impl Default for TwistWithCovariance {
    fn default() -> Self {
        TwistWithCovariance {
            twist: Twist::default(),
            covariance: [0.0; 36],
        }
    }
}

impl_message!(
    Vector3,
    "geometry_msgs" / "Vector3",
    "RIHS01_cc12fe83e4c02719f1ce8070bfd14aecd40f75a96696a67a2a1f37f7dbb0765d"
);
impl_message!(
    Point,
    "geometry_msgs" / "Point",
    "RIHS01_6963084842a9b04494d6b2941d11444708d892da2f4b09843b9c43f42a7f6881"
);
impl_message!(
    Quaternion,
    "geometry_msgs" / "Quaternion",
    "RIHS01_8a765f66778c8ff7c8ab94afcc590a2ed5325a1d9a076ffff38fbce36f458684"
);
impl_message!(
    Pose,
    "geometry_msgs" / "Pose",
    "RIHS01_d501954e9476cea2996984e812054b68026ae0bfae789d9a10b23daf35cc90fa",
    "geometry_msgs" / "Point",
    "geometry_msgs" / "Quaternion"
);
impl_message!(
    PoseStamped,
    "geometry_msgs" / "PoseStamped",
    "RIHS01_10f3786d7d40fd2b54367835614bff85d4ad3b5dab62bf8bca0cc232d73b4cd8",
    "geometry_msgs" / "Pose",
    "geometry_msgs" / "Point",
    "geometry_msgs" / "Quaternion",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    PointStamped,
    "geometry_msgs" / "PointStamped",
    "RIHS01_4c0296af86e01e562e9e0405d138a01537247580076c58ea38d7923ac1045897",
    "geometry_msgs" / "Point",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    PoseWithCovariance,
    "geometry_msgs" / "PoseWithCovariance",
    "RIHS01_9a7c0fd234b7f45c6098745ecccd773ca1085670e64107135397aee31c02e1bb",
    "geometry_msgs" / "Pose",
    "geometry_msgs" / "Point",
    "geometry_msgs" / "Quaternion"
);
impl_message!(
    Twist,
    "geometry_msgs" / "Twist",
    "RIHS01_9c45bf16fe0983d80e3cfe750d6835843d265a9a6c46bd2e609fcddde6fb8d2a",
    "geometry_msgs" / "Vector3"
);
impl_message!(
    TwistStamped,
    "geometry_msgs" / "TwistStamped",
    "RIHS01_5f0fcd4f81d5d06ad9b4c4c63e3ea51b82d6ae4d0558f1d475229b1121db6f64",
    "geometry_msgs" / "Twist",
    "geometry_msgs" / "Vector3",
    "std_msgs" / "Header",
    "builtin_interfaces" / "Time"
);
impl_message!(
    TwistWithCovariance,
    "geometry_msgs" / "TwistWithCovariance",
    "RIHS01_49f574f033f095d8b6cd1beaca5ca7925e296e84af1716d16c89d38b059c8c18",
    "geometry_msgs" / "Twist",
    "geometry_msgs" / "Vector3"
);

#[cfg(test)]
mod tests {
    use ros2_client::dds::rustdds::cdr_encoding::{from_bytes, to_vec};

    use super::*;

    type Le = byteorder::LittleEndian;

    #[test]
    fn covariance_is_a_fixed_cdr_array_without_length_prefix() {
        let mut message = PoseWithCovariance::default();
        for (index, value) in message.covariance.iter_mut().enumerate() {
            *value = index as f64 * 0.5;
        }
        let bytes = to_vec::<_, Le>(&message).unwrap();
        // 7 pose doubles then 36 covariance doubles, nothing else.
        assert_eq!(bytes.len(), (7 + 36) * 8);
        assert_eq!(bytes[7 * 8..8 * 8], 0.0f64.to_le_bytes());
        assert_eq!(bytes[42 * 8..], 17.5f64.to_le_bytes());
        let (decoded, _) = from_bytes::<PoseWithCovariance, Le>(&bytes).unwrap();
        assert_eq!(decoded, message);
        assert!(from_bytes::<PoseWithCovariance, Le>(&bytes[..bytes.len() - 8]).is_err());
    }
}
