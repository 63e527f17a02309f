//! From sensor messages to the model's observation vector.
//!
//! The mapping is declarative (node parameters): every observation feature of the
//! manifest names a *source* (a subscribed topic and its message kind), a *field* of
//! that message (for `JointState` also a joint name) and a *transform*. Extraction runs
//! on the ingest thread and produces a fixed-size [`Sample`]; the control thread's
//! [`Assembler`] keeps the latest value of every feature and the age of every source,
//! without allocating.

use std::fmt;

use thiserror::Error;

mod assembler;
mod extract;

pub use assembler::Assembler;
pub use extract::{IngestError, JointReading, ObservationMap, Sample};

/// Most observation features a model may have.
pub const MAX_FEATURES: usize = 64;
/// Most sensor sources (subscribed topics).
pub const MAX_SOURCES: usize = 16;

/// The kinds of sensor message a source can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// `sensor_msgs/msg/JointState`.
    JointState,
    /// `sensor_msgs/msg/Imu`.
    Imu,
    /// `nav_msgs/msg/Odometry`.
    Odometry,
    /// `geometry_msgs/msg/PointStamped` (e.g. a goal or target position).
    PointStamped,
    /// `sensor_msgs/msg/Image` (a camera; feeds an image input, not features).
    Image,
    /// `sensor_msgs/msg/CompressedImage` (jpeg or png; feeds an image input).
    CompressedImage,
}

impl SourceKind {
    /// Parses the parameter spelling (`joint_state`, `imu`, `odometry`,
    /// `point_stamped`).
    pub fn parse(text: &str) -> Option<SourceKind> {
        match text {
            "joint_state" | "sensor_msgs/msg/JointState" => Some(SourceKind::JointState),
            "imu" | "sensor_msgs/msg/Imu" => Some(SourceKind::Imu),
            "odometry" | "nav_msgs/msg/Odometry" => Some(SourceKind::Odometry),
            "point_stamped" | "geometry_msgs/msg/PointStamped" => Some(SourceKind::PointStamped),
            "image" | "sensor_msgs/msg/Image" => Some(SourceKind::Image),
            "compressed_image" | "sensor_msgs/msg/CompressedImage" => {
                Some(SourceKind::CompressedImage)
            }
            _ => None,
        }
    }

    /// The ROS 2 type the source subscribes to.
    pub fn ros_type(self) -> &'static str {
        match self {
            SourceKind::JointState => "sensor_msgs/msg/JointState",
            SourceKind::Imu => "sensor_msgs/msg/Imu",
            SourceKind::Odometry => "nav_msgs/msg/Odometry",
            SourceKind::PointStamped => "geometry_msgs/msg/PointStamped",
            SourceKind::Image => "sensor_msgs/msg/Image",
            SourceKind::CompressedImage => "sensor_msgs/msg/CompressedImage",
        }
    }

    /// Whether the source is a camera (feeds an image input).
    pub fn is_image(self) -> bool {
        matches!(self, SourceKind::Image | SourceKind::CompressedImage)
    }
}

/// A decoded sensor message, borrowed from whatever the transport deserialised.
#[derive(Clone, Copy, Debug)]
pub enum SensorView<'a> {
    /// `sensor_msgs/msg/JointState`.
    JointState {
        /// Joint names.
        names: &'a [String],
        /// Positions, one per name (or empty).
        position: &'a [f64],
        /// Velocities, one per name (or empty).
        velocity: &'a [f64],
        /// Efforts, one per name (or empty).
        effort: &'a [f64],
    },
    /// `sensor_msgs/msg/Imu`.
    Imu {
        /// Orientation quaternion `[x, y, z, w]`.
        orientation: [f64; 4],
        /// Angular velocity `[x, y, z]`, rad/s.
        angular_velocity: [f64; 3],
        /// Linear acceleration `[x, y, z]`, m/s².
        linear_acceleration: [f64; 3],
    },
    /// `nav_msgs/msg/Odometry`.
    Odometry {
        /// Pose position `[x, y, z]`.
        position: [f64; 3],
        /// Pose orientation quaternion `[x, y, z, w]`.
        orientation: [f64; 4],
        /// Twist linear `[x, y, z]`.
        linear: [f64; 3],
        /// Twist angular `[x, y, z]`.
        angular: [f64; 3],
    },
    /// `geometry_msgs/msg/PointStamped`.
    PointStamped {
        /// `point` `[x, y, z]`.
        point: [f64; 3],
    },
}

impl SensorView<'_> {
    fn kind(&self) -> SourceKind {
        match self {
            SensorView::JointState { .. } => SourceKind::JointState,
            SensorView::Imu { .. } => SourceKind::Imu,
            SensorView::Odometry { .. } => SourceKind::Odometry,
            SensorView::PointStamped { .. } => SourceKind::PointStamped,
        }
    }
}

/// Which array of a `JointState` a feature reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JointField {
    /// `position`.
    Position,
    /// `velocity`.
    Velocity,
    /// `effort`.
    Effort,
}

impl JointField {
    fn name(self) -> &'static str {
        match self {
            JointField::Position => "position",
            JointField::Velocity => "velocity",
            JointField::Effort => "effort",
        }
    }
}

/// The field of a message a feature reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// One joint's entry of a `JointState` array.
    Joint {
        /// Which array.
        field: JointField,
        /// Joint name.
        joint: String,
    },
    /// A scalar of an IMU or odometry message: index into the vector named by `path`.
    Scalar {
        /// The parameter spelling, e.g. `twist.angular.z`.
        path: &'static str,
        /// Which vector.
        vector: Vector,
        /// Component index.
        index: usize,
    },
    /// A whole orientation quaternion (for the `quaternion_to_*` transforms).
    Orientation,
}

/// The vectors of IMU and odometry messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vector {
    /// IMU / odometry orientation quaternion `[x, y, z, w]`.
    Orientation,
    /// IMU angular velocity.
    AngularVelocity,
    /// IMU linear acceleration.
    LinearAcceleration,
    /// Odometry pose position.
    Position,
    /// Odometry twist linear.
    Linear,
    /// Odometry twist angular.
    Angular,
    /// PointStamped point.
    Point,
}

const IMU_FIELDS: &[(&str, Vector, usize)] = &[
    ("orientation.x", Vector::Orientation, 0),
    ("orientation.y", Vector::Orientation, 1),
    ("orientation.z", Vector::Orientation, 2),
    ("orientation.w", Vector::Orientation, 3),
    ("angular_velocity.x", Vector::AngularVelocity, 0),
    ("angular_velocity.y", Vector::AngularVelocity, 1),
    ("angular_velocity.z", Vector::AngularVelocity, 2),
    ("linear_acceleration.x", Vector::LinearAcceleration, 0),
    ("linear_acceleration.y", Vector::LinearAcceleration, 1),
    ("linear_acceleration.z", Vector::LinearAcceleration, 2),
];

const ODOMETRY_FIELDS: &[(&str, Vector, usize)] = &[
    ("pose.position.x", Vector::Position, 0),
    ("pose.position.y", Vector::Position, 1),
    ("pose.position.z", Vector::Position, 2),
    ("pose.orientation.x", Vector::Orientation, 0),
    ("pose.orientation.y", Vector::Orientation, 1),
    ("pose.orientation.z", Vector::Orientation, 2),
    ("pose.orientation.w", Vector::Orientation, 3),
    ("twist.linear.x", Vector::Linear, 0),
    ("twist.linear.y", Vector::Linear, 1),
    ("twist.linear.z", Vector::Linear, 2),
    ("twist.angular.x", Vector::Angular, 0),
    ("twist.angular.y", Vector::Angular, 1),
    ("twist.angular.z", Vector::Angular, 2),
];

const POINT_STAMPED_FIELDS: &[(&str, Vector, usize)] = &[
    ("point.x", Vector::Point, 0),
    ("point.y", Vector::Point, 1),
    ("point.z", Vector::Point, 2),
];

/// What is applied to the field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// The value itself.
    Identity,
    /// `cos(x)`.
    Cos,
    /// `sin(x)`.
    Sin,
    /// `x` wrapped to `[-pi, pi)`.
    WrapAngle,
    /// Roll of an orientation quaternion.
    QuaternionToRoll,
    /// Pitch of an orientation quaternion.
    QuaternionToPitch,
    /// Yaw of an orientation quaternion.
    QuaternionToYaw,
}

impl Transform {
    /// Parses the parameter spelling.
    pub fn parse(text: &str) -> Option<Transform> {
        Some(match text {
            "identity" => Transform::Identity,
            "cos" => Transform::Cos,
            "sin" => Transform::Sin,
            "wrap_angle" => Transform::WrapAngle,
            "quaternion_to_roll" => Transform::QuaternionToRoll,
            "quaternion_to_pitch" => Transform::QuaternionToPitch,
            "quaternion_to_yaw" => Transform::QuaternionToYaw,
            _ => return None,
        })
    }

    fn takes_quaternion(self) -> bool {
        matches!(
            self,
            Transform::QuaternionToRoll | Transform::QuaternionToPitch | Transform::QuaternionToYaw
        )
    }

    fn scalar(self, x: f64) -> f64 {
        match self {
            Transform::Identity => x,
            Transform::Cos => x.cos(),
            Transform::Sin => x.sin(),
            Transform::WrapAngle => wrap_angle(x),
            _ => unreachable!("quaternion transforms take a quaternion"),
        }
    }

    fn quaternion(self, [x, y, z, w]: [f64; 4]) -> f64 {
        match self {
            Transform::QuaternionToRoll => {
                (2.0 * (w * x + y * z)).atan2(1.0 - 2.0 * (x * x + y * y))
            }
            Transform::QuaternionToPitch => (2.0 * (w * y - z * x)).clamp(-1.0, 1.0).asin(),
            Transform::QuaternionToYaw => {
                (2.0 * (w * z + x * y)).atan2(1.0 - 2.0 * (y * y + z * z))
            }
            _ => unreachable!("scalar transforms take a scalar"),
        }
    }
}

/// `x` wrapped to `[-pi, pi)`.
pub fn wrap_angle(x: f64) -> f64 {
    use std::f64::consts::PI;
    (x + PI).rem_euclid(2.0 * PI) - PI
}

/// One subscribed sensor topic.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpec {
    /// Name used in parameters, e.g. `joint_states`.
    pub name: String,
    /// Topic (as given; the transport resolves and remaps it).
    pub topic: String,
    /// Message kind.
    pub kind: SourceKind,
}

/// How one observation feature is read.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureSpec {
    /// The manifest's feature name.
    pub name: String,
    /// Index into the sources.
    pub source: usize,
    /// Field of the source's message.
    pub field: Field,
    /// Transform applied to the field.
    pub transform: Transform,
}

/// The mapping was refused when it was built (a parameter error).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MappingError {
    /// A feature names a source that is not declared.
    #[error(
        "observation feature `{feature}`: unknown source `{source_name}` (declared: {declared})"
    )]
    UnknownSource {
        /// Feature.
        feature: String,
        /// Source it names.
        source_name: String,
        /// The declared sources.
        declared: String,
    },
    /// A field does not exist on the source's message kind.
    #[error("observation feature `{feature}`: `{field}` is not a field of {kind} (expected one of: {expected})")]
    UnknownField {
        /// Feature.
        feature: String,
        /// Field given.
        field: String,
        /// Message type of the source.
        kind: &'static str,
        /// Valid spellings.
        expected: String,
    },
    /// A `JointState` feature without a joint name.
    #[error("observation feature `{feature}`: a JointState field needs a `joint` name")]
    MissingJoint {
        /// Feature.
        feature: String,
    },
    /// The transform does not fit the field (quaternion vs scalar).
    #[error(
        "observation feature `{feature}`: transform `{transform:?}` cannot be applied to `{field}`"
    )]
    TransformMismatch {
        /// Feature.
        feature: String,
        /// Transform.
        transform: Transform,
        /// Field.
        field: String,
    },
    /// The mapping and the manifest disagree on the features.
    #[error("the observation mapping has features [{mapped}] but the model's manifest expects [{manifest}] (same names, same order)")]
    FeatureMismatch {
        /// Mapped feature names.
        mapped: String,
        /// Manifest feature names.
        manifest: String,
    },
    /// A joint field the observation cannot be turned back into (only its `cos`, or
    /// only its `sin`, is observed).
    #[error("joint `{joint}` {field}: the observation holds only its {only}, so the value cannot be recovered (map both cos and sin, or identity / wrap_angle)")]
    NotInvertible {
        /// Joint.
        joint: String,
        /// `position`, `velocity` or `effort`.
        field: &'static str,
        /// The one transform mapped.
        only: &'static str,
    },
    /// Too many features or sources for the fixed-size buffers.
    #[error("{what}: {count} exceeds the limit of {max}")]
    TooMany {
        /// Features or sources.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl Field {
    /// Parses `field` (and `joint` for joint states) for a source of `kind`.
    pub fn parse(
        feature: &str,
        kind: SourceKind,
        field: &str,
        joint: Option<&str>,
    ) -> Result<Field, MappingError> {
        let unknown = |expected: String| MappingError::UnknownField {
            feature: feature.to_string(),
            field: field.to_string(),
            kind: kind.ros_type(),
            expected,
        };
        let table = match kind {
            SourceKind::JointState => {
                let which = match field {
                    "position" => JointField::Position,
                    "velocity" => JointField::Velocity,
                    "effort" => JointField::Effort,
                    _ => return Err(unknown("position, velocity, effort".into())),
                };
                let joint = joint.ok_or_else(|| MappingError::MissingJoint {
                    feature: feature.to_string(),
                })?;
                return Ok(Field::Joint {
                    field: which,
                    joint: joint.to_string(),
                });
            }
            SourceKind::Imu => IMU_FIELDS,
            SourceKind::Odometry => ODOMETRY_FIELDS,
            SourceKind::PointStamped => POINT_STAMPED_FIELDS,
            SourceKind::Image | SourceKind::CompressedImage => {
                return Err(unknown(
                    "none: a camera source feeds an image input (the `images` parameter), not observation features".into(),
                ))
            }
        };
        let orientation = match kind {
            SourceKind::Imu => Some("orientation"),
            SourceKind::Odometry => Some("pose.orientation"),
            _ => None,
        };
        if Some(field) == orientation {
            return Ok(Field::Orientation);
        }
        table
            .iter()
            .find(|(path, _, _)| *path == field)
            .map(|&(path, vector, index)| Field::Scalar {
                path,
                vector,
                index,
            })
            .ok_or_else(|| {
                let mut names: Vec<&str> = table.iter().map(|(p, _, _)| *p).collect();
                names.extend(orientation);
                unknown(names.join(", "))
            })
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Joint { field, joint } => write!(f, "{}[{joint}]", field.name()),
            Field::Scalar { path, .. } => f.write_str(path),
            Field::Orientation => f.write_str("orientation"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn joint_feature(
        name: &str,
        field: JointField,
        joint: &str,
        transform: Transform,
    ) -> FeatureSpec {
        FeatureSpec {
            name: name.into(),
            source: 0,
            field: Field::Joint {
                field,
                joint: joint.into(),
            },
            transform,
        }
    }

    fn map(features: Vec<FeatureSpec>) -> ObservationMap {
        let names: Vec<String> = features.iter().map(|f| f.name.clone()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let sources = vec![SourceSpec {
            name: "joint_states".into(),
            topic: "/joint_states".into(),
            kind: SourceKind::JointState,
        }];
        ObservationMap::new(sources, features, &names).unwrap()
    }

    #[test]
    fn joint_readings_invert_the_mapping_of_an_observation() {
        let map = map(vec![
            joint_feature("cos_a", JointField::Position, "a", Transform::Cos),
            joint_feature("sin_a", JointField::Position, "a", Transform::Sin),
            joint_feature("a_dot", JointField::Velocity, "a", Transform::Identity),
            joint_feature("b", JointField::Position, "b", Transform::WrapAngle),
        ]);
        let theta: f64 = 2.5;
        // The inverse of what `extract` computes for the same JointState.
        let names = ["b".to_string(), "a".to_string()];
        let view = SensorView::JointState {
            names: &names,
            position: &[-0.4, theta],
            velocity: &[0.0, -1.25],
            effort: &[],
        };
        let sample = map.extract(0, &view, Instant::now()).unwrap();
        let readings = map.joint_readings(0, &sample.values[..4]).unwrap();
        assert_eq!(readings.len(), 2);
        assert_eq!(readings[0].joint, "a");
        assert!((readings[0].position.unwrap() - theta).abs() < 1e-12);
        assert_eq!(readings[0].velocity, Some(-1.25));
        assert_eq!(readings[0].effort, None);
        assert_eq!(readings[1].joint, "b");
        // wrap_angle's round trip through [-pi, pi) costs an ulp or so.
        assert!((readings[1].position.unwrap() + 0.4).abs() < 1e-12);
        assert_eq!(readings[1].velocity, None);
    }

    #[test]
    fn a_joint_seen_only_through_its_cosine_cannot_be_recovered() {
        let map = map(vec![joint_feature(
            "cos_a",
            JointField::Position,
            "a",
            Transform::Cos,
        )]);
        let error = map.joint_readings(0, &[0.5]).unwrap_err().to_string();
        assert!(error.contains("joint `a` position"), "{error}");
        assert!(error.contains("only its cos"), "{error}");
    }
}
