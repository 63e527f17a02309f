//! Extraction: a decoded message (a [`SensorView`]) reduced to the fixed-size
//! [`Sample`] of the features its source feeds, on the ingest thread; and the inverse
//! for simulators whose state is an observation ([`ObservationMap::joint_readings`]).

use std::time::Instant;

use thiserror::Error;

use super::{
    FeatureSpec, Field, JointField, MappingError, SensorView, SourceKind, SourceSpec, Transform,
    Vector, MAX_FEATURES, MAX_SOURCES,
};

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
