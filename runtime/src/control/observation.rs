//! From sensor messages to the model's observation vector.
//!
//! The mapping is declarative (node parameters): every observation feature of the
//! manifest names a *source* (a subscribed topic and its message kind), a *field* of
//! that message (for `JointState` also a joint name) and a *transform*. Extraction runs
//! on the ingest thread and produces a fixed-size [`Sample`]; the control thread's
//! [`Assembler`] keeps the latest value of every feature and the age of every source,
//! without allocating.

use std::fmt;
use std::time::{Duration, Instant};

use thiserror::Error;

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
        }
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
        };
        let orientation = match kind {
            SourceKind::Imu => Some("orientation"),
            SourceKind::Odometry => Some("pose.orientation"),
            SourceKind::JointState | SourceKind::PointStamped => None,
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

/// A message could not be used; it is counted and dropped.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IngestError {
    /// A `JointState` lacks a joint the mapping reads.
    #[error("{topic}: joint `{joint}` is not in the message (names: {names:?})")]
    UnknownJoint {
        /// Topic.
        topic: String,
        /// Joint looked for.
        joint: String,
        /// Names in the message.
        names: Vec<String>,
    },
    /// An array's length disagrees with `name`.
    #[error("{topic}: `{field}` has {len} entries but `name` has {names}")]
    LengthMismatch {
        /// Topic.
        topic: String,
        /// Array.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Number of names.
        names: usize,
    },
    /// The message kind differs from the source's.
    #[error("{topic}: expected {expected}, got {found}")]
    WrongKind {
        /// Topic.
        topic: String,
        /// The source's kind.
        expected: &'static str,
        /// The message's kind.
        found: &'static str,
    },
}

/// The features one message contributed: fixed size, so it crosses threads without
/// allocating.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Index of the source it came from.
    pub source: usize,
    /// When the ingest thread received it.
    pub received: Instant,
    /// Feature values, indexed like the observation; only bits set in `mask` are valid.
    pub values: [f64; MAX_FEATURES],
    /// Which features this sample carries.
    pub mask: u64,
}

/// The mapping from messages to the observation vector.
#[derive(Clone, Debug)]
pub struct ObservationMap {
    sources: Vec<SourceSpec>,
    features: Vec<FeatureSpec>,
}

impl ObservationMap {
    /// Checks the mapping against the manifest's feature names (same names, same order).
    pub fn new(
        sources: Vec<SourceSpec>,
        features: Vec<FeatureSpec>,
        manifest_features: &[&str],
    ) -> Result<ObservationMap, MappingError> {
        if sources.len() > MAX_SOURCES {
            return Err(MappingError::TooMany {
                what: "sensor sources",
                count: sources.len(),
                max: MAX_SOURCES,
            });
        }
        if features.len() > MAX_FEATURES {
            return Err(MappingError::TooMany {
                what: "observation features",
                count: features.len(),
                max: MAX_FEATURES,
            });
        }
        let mapped: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
        if mapped != manifest_features {
            return Err(MappingError::FeatureMismatch {
                mapped: mapped.join(", "),
                manifest: manifest_features.join(", "),
            });
        }
        for feature in &features {
            let source =
                sources
                    .get(feature.source)
                    .ok_or_else(|| MappingError::UnknownSource {
                        feature: feature.name.clone(),
                        source_name: format!("#{}", feature.source),
                        declared: source_names(&sources),
                    })?;
            let quaternion = matches!(feature.field, Field::Orientation);
            let joint_ok = !matches!(feature.field, Field::Joint { .. })
                || source.kind == SourceKind::JointState;
            if quaternion != feature.transform.takes_quaternion() || !joint_ok {
                return Err(MappingError::TransformMismatch {
                    feature: feature.name.clone(),
                    transform: feature.transform,
                    field: feature.field.to_string(),
                });
            }
        }
        Ok(ObservationMap { sources, features })
    }

    /// The sensor sources.
    pub fn sources(&self) -> &[SourceSpec] {
        &self.sources
    }

    /// The features, in observation order.
    pub fn features(&self) -> &[FeatureSpec] {
        &self.features
    }

    /// Looks up a source index by its parameter name.
    pub fn source_index(&self, name: &str) -> Option<usize> {
        self.sources.iter().position(|s| s.name == name)
    }

    /// Reads the features `source` feeds out of `message`. Non-finite values are
    /// passed on (the control loop turns them into a fault); structural problems are
    /// errors.
    pub fn extract(
        &self,
        source: usize,
        message: &SensorView<'_>,
        received: Instant,
    ) -> Result<Sample, IngestError> {
        let spec = &self.sources[source];
        if message.kind() != spec.kind {
            return Err(IngestError::WrongKind {
                topic: spec.topic.clone(),
                expected: spec.kind.ros_type(),
                found: message.kind().ros_type(),
            });
        }
        let mut sample = Sample {
            source,
            received,
            values: [0.0; MAX_FEATURES],
            mask: 0,
        };
        for (i, feature) in self.features.iter().enumerate() {
            if feature.source != source {
                continue;
            }
            let value = match (&feature.field, message) {
                (
                    Field::Joint { field, joint },
                    SensorView::JointState {
                        names,
                        position,
                        velocity,
                        effort,
                    },
                ) => {
                    let array = match field {
                        JointField::Position => position,
                        JointField::Velocity => velocity,
                        JointField::Effort => effort,
                    };
                    if array.len() != names.len() {
                        return Err(IngestError::LengthMismatch {
                            topic: spec.topic.clone(),
                            field: field.name(),
                            len: array.len(),
                            names: names.len(),
                        });
                    }
                    let index = names.iter().position(|n| n == joint).ok_or_else(|| {
                        IngestError::UnknownJoint {
                            topic: spec.topic.clone(),
                            joint: joint.clone(),
                            names: names.to_vec(),
                        }
                    })?;
                    feature.transform.scalar(array[index])
                }
                (Field::Scalar { vector, index, .. }, view) => {
                    feature.transform.scalar(vector_of(view, *vector)[*index])
                }
                (Field::Orientation, view) => {
                    let q = vector_of(view, Vector::Orientation);
                    feature.transform.quaternion([q[0], q[1], q[2], q[3]])
                }
                (Field::Joint { .. }, _) => unreachable!("kinds were checked above"),
            };
            sample.values[i] = value;
            sample.mask |= 1 << i;
        }
        Ok(sample)
    }
}

/// One joint as a `JointState` would carry it, recovered from an observation by
/// [`ObservationMap::joint_readings`]; fields the observation does not hold are `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct JointReading {
    /// Joint name.
    pub joint: String,
    /// `position`.
    pub position: Option<f64>,
    /// `velocity`.
    pub velocity: Option<f64>,
    /// `effort`.
    pub effort: Option<f64>,
}

impl ObservationMap {
    /// The inverse of the mapping for a `JointState` source: the joints `source` feeds
    /// and their values for the (raw) observation `obs`, for simulators whose state is
    /// an observation (learned-simulator plants). A field read through `identity` or
    /// `wrap_angle` is that feature's value; one read through both `cos` and `sin` is
    /// `atan2(sin, cos)`, in `[-pi, pi]`. Joints appear in the order the mapping first
    /// names them.
    pub fn joint_readings(
        &self,
        source: usize,
        obs: &[f64],
    ) -> Result<Vec<JointReading>, MappingError> {
        #[derive(Default, Clone, Copy)]
        struct Parts {
            direct: Option<f64>,
            cos: Option<f64>,
            sin: Option<f64>,
        }
        let mut joints: Vec<(String, [Parts; 3])> = Vec::new();
        for (feature, &value) in self.features.iter().zip(obs) {
            let Field::Joint { field, joint } = &feature.field else {
                continue;
            };
            if feature.source != source {
                continue;
            }
            let at = match joints.iter().position(|(name, _)| name == joint) {
                Some(at) => at,
                None => {
                    joints.push((joint.clone(), [Parts::default(); 3]));
                    joints.len() - 1
                }
            };
            let parts = &mut joints[at].1[*field as usize];
            match feature.transform {
                Transform::Cos => parts.cos = Some(value),
                Transform::Sin => parts.sin = Some(value),
                _ => parts.direct = Some(value),
            }
        }
        let fields = [
            JointField::Position,
            JointField::Velocity,
            JointField::Effort,
        ];
        joints
            .into_iter()
            .map(|(joint, parts)| {
                let mut values = [None; 3];
                for ((value, part), field) in values.iter_mut().zip(parts).zip(fields) {
                    *value = match part {
                        Parts {
                            direct: Some(x), ..
                        } => Some(x),
                        Parts {
                            cos: Some(c),
                            sin: Some(s),
                            ..
                        } => Some(s.atan2(c)),
                        Parts {
                            cos: None,
                            sin: None,
                            ..
                        } => None,
                        Parts { cos, .. } => {
                            return Err(MappingError::NotInvertible {
                                joint: joint.clone(),
                                field: field.name(),
                                only: if cos.is_some() { "cos" } else { "sin" },
                            })
                        }
                    };
                }
                let [position, velocity, effort] = values;
                Ok(JointReading {
                    joint,
                    position,
                    velocity,
                    effort,
                })
            })
            .collect()
    }
}

fn vector_of<'v>(view: &'v SensorView<'_>, vector: Vector) -> &'v [f64] {
    match (view, vector) {
        (SensorView::Imu { orientation, .. }, Vector::Orientation) => orientation,
        (
            SensorView::Imu {
                angular_velocity, ..
            },
            Vector::AngularVelocity,
        ) => angular_velocity,
        (
            SensorView::Imu {
                linear_acceleration,
                ..
            },
            Vector::LinearAcceleration,
        ) => linear_acceleration,
        (SensorView::Odometry { orientation, .. }, Vector::Orientation) => orientation,
        (SensorView::Odometry { position, .. }, Vector::Position) => position,
        (SensorView::Odometry { linear, .. }, Vector::Linear) => linear,
        (SensorView::Odometry { angular, .. }, Vector::Angular) => angular,
        (SensorView::PointStamped { point }, Vector::Point) => point,
        _ => unreachable!("fields were checked against the source kind"),
    }
}

fn source_names(sources: &[SourceSpec]) -> String {
    sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The control thread's view of the observation: the latest value of every feature
/// and when each source was last heard from.
#[derive(Clone, Debug)]
pub struct Assembler {
    values: [f64; MAX_FEATURES],
    have: u64,
    complete: u64,
    len: usize,
    last_seen: [Option<Instant>; MAX_SOURCES],
    sources: usize,
}

impl Assembler {
    /// An empty assembler for `map`.
    pub fn new(map: &ObservationMap) -> Assembler {
        let len = map.features.len();
        Assembler {
            values: [0.0; MAX_FEATURES],
            have: 0,
            complete: if len == 64 { u64::MAX } else { (1 << len) - 1 },
            len,
            last_seen: [None; MAX_SOURCES],
            sources: map.sources.len(),
        }
    }

    /// Takes a sample's features.
    pub fn update(&mut self, sample: &Sample) {
        for i in 0..self.len {
            if sample.mask & (1 << i) != 0 {
                self.values[i] = sample.values[i];
            }
        }
        self.have |= sample.mask;
        self.last_seen[sample.source] = Some(sample.received);
    }

    /// Whether every feature has been received at least once.
    pub fn is_complete(&self) -> bool {
        self.have & self.complete == self.complete
    }

    /// Age of the oldest source at `now` (`None` until every source was heard from).
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.last_seen[..self.sources]
            .iter()
            .map(|seen| seen.map(|t| now.saturating_duration_since(t)))
            .try_fold(Duration::ZERO, |oldest, age| Some(oldest.max(age?)))
    }

    /// Writes the observation (raw units, as `f32`) into `out`; true if all are finite.
    pub fn write(&self, out: &mut [f32]) -> bool {
        let mut finite = true;
        for (o, v) in out.iter_mut().zip(&self.values[..self.len]) {
            *o = *v as f32;
            finite &= o.is_finite();
        }
        finite
    }

    /// Forgets everything (a new episode).
    pub fn clear(&mut self) {
        self.have = 0;
        self.last_seen = [None; MAX_SOURCES];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
