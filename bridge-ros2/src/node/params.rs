//! The node's parameters: their names, defaults, and conversion into the runtime's
//! configuration. Parameter names are the contract with launch files and parameter
//! files (`launch/params/*.yaml`); `augur run --list-params` prints them and a test
//! checks the shipped files against it.
//!
//! Unknown parameters are errors, so a typo in a parameter file is reported rather
//! than silently ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use augur_runtime::control::{
    FeatureSpec, Field, MappingError, ObservationMap, RunnerConfig, SourceKind, SourceSpec,
    Transform, Trigger,
};
use augur_runtime::model::manifest::Manifest;
use serde::Deserialize;
use thiserror::Error;

use super::realtime::{self, RealtimeParams};
use crate::ros_args::ParamValue;

/// How commands are published.
#[derive(Clone, Debug, PartialEq)]
pub enum CommandKind {
    /// `std_msgs/msg/Float64MultiArray` (ros2_control forward command controller).
    Float64MultiArray,
    /// `geometry_msgs/msg/Twist`; each action component fills the named field.
    Twist {
        /// Twist field per action component, e.g. `linear.x`.
        fields: Vec<TwistField>,
    },
    /// `geometry_msgs/msg/TwistStamped`.
    TwistStamped {
        /// Twist field per action component.
        fields: Vec<TwistField>,
    },
}

/// One scalar of a twist: `linear`/`angular` and an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TwistField {
    /// `angular` rather than `linear`.
    pub angular: bool,
    /// Axis 0, 1, 2 (x, y, z).
    pub axis: usize,
}

impl TwistField {
    fn parse(text: &str) -> Option<TwistField> {
        let (part, axis) = text.split_once('.')?;
        let angular = match part {
            "linear" => false,
            "angular" => true,
            _ => return None,
        };
        let axis = match axis {
            "x" => 0,
            "y" => 1,
            "z" => 2,
            _ => return None,
        };
        Some(TwistField { angular, axis })
    }
}

/// Everything the node is configured with.
#[derive(Clone, Debug)]
pub struct NodeParams {
    /// Model package folder.
    pub model: PathBuf,
    /// The parameter values these were read from (recorded for `augur replay`).
    pub values: BTreeMap<String, ParamValue>,
    /// Loop timing and limits.
    pub runner: RunnerConfig,
    /// `tree` or `mppi`.
    pub planner: String,
    /// Planner seed.
    pub seed: u64,
    /// Threads for planning (model replicas).
    pub threads: usize,
    /// Safe action per component.
    pub safe_action: Vec<f32>,
    /// Smoothing of the first action (0: none).
    pub smoothing: f32,
    /// Rate limit per period per component (empty: none).
    pub max_delta: Vec<f32>,
    /// Weight of the cost on the change of command inside the planning objective
    /// (`augur_planner::ActionConfig::change_cost`; 0: none).
    pub change_cost: f32,
    /// How MPPI picks its action sequence: `elite_sample` (TD-MPC2) or `mean`.
    pub mppi_selection: augur_planner::ActionSelection,
    /// MPPI's search shape where set (`None`: the manifest's preset).
    pub mppi_shape: SearchShape,
    /// The tree's horizon where set (`None`: the manifest's).
    pub tree_horizon: Option<usize>,
    /// How the tree picks the executed action among its root's children.
    pub tree_selection: augur_planner::TreeSelection,
    /// Whether the tree uses the model's policy graph (proposals, continuations).
    pub tree_use_policy: bool,
    /// Prediction error threshold (`None`: report only).
    pub prediction_error_threshold: Option<f32>,
    /// Command message kind.
    pub command: CommandKind,
    /// Command topic.
    pub command_topic: String,
    /// Sensor mapping.
    pub observation: ObservationMap,
    /// Where each image input of the manifest is read from, in manifest order.
    pub images: Vec<ImageMapping>,
    /// Largest camera frame accepted, pixels.
    pub max_image_pixels: u64,
    /// Stamp messages with `/clock` time.
    pub use_sim_time: bool,
    /// `/diagnostics` period.
    pub diagnostics_period: Duration,
    /// Observation features drawn as x / y of `~/predicted_path` (decoder only).
    pub predicted_path: Option<(usize, usize)>,
    /// Largest sensor message accepted, bytes.
    pub max_message_bytes: usize,
    /// zenoh configuration file (TLS, access control).
    pub zenoh_config: Option<PathBuf>,
    /// Real-time settings.
    pub realtime: RealtimeParams,
}

/// How one image input of the model is fed.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageMapping {
    /// Index of the camera source.
    pub source: usize,
    /// How a frame of another aspect ratio is fitted.
    pub fit: augur_runtime::control::Fit,
}

/// A parameter was wrong.
#[derive(Debug, Error)]
pub enum ParamError {
    /// Not a parameter of this node.
    #[error("unknown parameter `{name}`{hint}")]
    Unknown {
        /// The name given.
        name: String,
        /// ` (did you mean ...?)` or empty.
        hint: String,
    },
    /// Wrong type or value.
    #[error("parameter `{name}`: {problem}")]
    Invalid {
        /// Parameter.
        name: String,
        /// What was wrong.
        problem: String,
    },
    /// The observation mapping is inconsistent.
    #[error(transparent)]
    Mapping(#[from] MappingError),
}

/// MPPI's search shape as parameters set it; `None` keeps the preset's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchShape {
    /// Steps planned ahead.
    pub horizon: Option<usize>,
    /// Candidate sequences per iteration.
    pub samples: Option<usize>,
    /// Refits per plan.
    pub iterations: Option<usize>,
    /// Elites refitted to.
    pub elites: Option<usize>,
}

fn invalid(name: &str, problem: impl Into<String>) -> ParamError {
    ParamError::Invalid {
        name: name.to_string(),
        problem: problem.into(),
    }
}

/// Fixed parameter names (the per-source and per-feature ones are listed from the
/// manifest and `sources`).
pub const FIXED: &[(&str, &str)] = &[
    ("model", "model package folder"),
    (
        "trigger",
        "`rate` (plan every period) or `observation` (once per new observation)",
    ),
    (
        "trigger_source",
        "source whose messages trigger a cycle with trigger=observation",
    ),
    ("period", "control period, s (default: the manifest's dt)"),
    ("plan_margin", "time kept free at the end of each period, s"),
    (
        "max_transitions",
        "cap on model transitions per plan (0: deadline only)",
    ),
    ("planner", "`tree` (default) or `mppi` (TD-MPC2's)"),
    ("seed", "planner seed"),
    ("threads", "planning threads (model replicas)"),
    (
        "sensor_timeout",
        "observations older than this command the safe action, s",
    ),
    (
        "max_deadline_misses",
        "consecutive overruns that command the safe action",
    ),
    (
        "safe_action",
        "command on any fault (default: the manifest's `safe` values)",
    ),
    (
        "command.type",
        "`float64_multi_array`, `twist` or `twist_stamped`",
    ),
    ("command.topic", "command topic"),
    (
        "command.twist_fields",
        "twist field per action component, e.g. [linear.x, angular.z]",
    ),
    (
        "command.smoothing",
        "exponential smoothing of the command, 0..1 (0: none)",
    ),
    (
        "command.max_delta",
        "rate limit per period, per component (empty: none)",
    ),
    (
        "command.change_cost",
        "planning cost on the change of command, per (change / half range)^2 (0: none)",
    ),
    (
        "tree.selection",
        "`best` (the best trajectory's first action) or `weighted` (root children, weighted by return)",
    ),
    (
        "tree.use_policy",
        "the tree proposes and continues with the model's policy graph (default true)",
    ),
    (
        "tree.selection_temperature",
        "inverse temperature of `weighted`, per unit of return (default 0.5)",
    ),
    (
        "mppi.selection",
        "`elite_sample` (TD-MPC2: draw one elite) or `mean` (the refitted mean)",
    ),
    (
        "mppi.horizon",
        "MPPI planning horizon, steps (default: the model's training horizon)",
    ),
    (
        "mppi.samples",
        "MPPI candidate sequences per iteration (default 512, TD-MPC2's)",
    ),
    (
        "mppi.iterations",
        "MPPI refits per plan (default 6, TD-MPC2's)",
    ),
    ("mppi.elites", "MPPI elites refitted to (default 64, TD-MPC2's)"),
    (
        "tree.horizon",
        "tree search horizon, steps (default: the model's training horizon)",
    ),
    (
        "prediction.error_threshold",
        "prediction RMS error that commands the safe action (0: report only)",
    ),
    (
        "predicted_path.x",
        "observation feature drawn as x of ~/predicted_path",
    ),
    (
        "predicted_path.y",
        "observation feature drawn as y of ~/predicted_path",
    ),
    ("diagnostics_period", "/diagnostics period, s"),
    (
        "delay_compensation",
        "plan from the state predicted for when the command reaches a plant sampling every dt",
    ),
    (
        "use_sim_time",
        "follow /clock: stamps and the rate trigger's schedule use simulated time",
    ),
    (
        "source_names",
        "names of the sensor sources (each configured under sources.<name>)",
    ),
    (
        "max_message_bytes",
        "largest sensor message accepted, bytes; zenoh drops longer ones before reassembly (default 16 MiB)",
    ),
    (
        "max_image_pixels",
        "largest camera frame accepted, pixels (width x height, checked before decoding; default 3840x2160)",
    ),
    (
        "zenoh.config",
        "zenoh configuration file (JSON5/YAML) for TLS and access control; Augur still sets mode, endpoints and scouting",
    ),
    (
        "realtime.priority",
        "SCHED_FIFO priority 1..99 of the control thread (0: off); needs CAP_SYS_NICE or RLIMIT_RTPRIO",
    ),
    (
        "realtime.control_cpus",
        "CPUs the control thread runs on (empty: any)",
    ),
    (
        "realtime.ingest_cpus",
        "CPUs the transport and ingest threads run on (empty: any)",
    ),
    (
        "realtime.lock_memory",
        "mlockall before the model loads, so the loop never page-faults; needs CAP_IPC_LOCK or RLIMIT_MEMLOCK",
    ),
];

/// Per-source parameter suffixes (`sources.<name>.<suffix>`).
pub const SOURCE_KEYS: &[(&str, &str)] = &[
    ("topic", "topic of the source"),
    (
        "type",
        "`joint_state`, `imu`, `odometry`, `point_stamped`, `image` or `compressed_image`",
    ),
];

/// Per-image-input parameter suffixes (`images.<input>.<suffix>`).
pub const IMAGE_KEYS: &[(&str, &str)] = &[
    ("source", "camera source (type image or compressed_image) the input is read from"),
    (
        "fit",
        "`stretch` (whole frame, default) or `center_crop` (largest centred crop of the model's aspect ratio)",
    ),
];

/// Per-feature parameter suffixes (`observation.<feature>.<suffix>`).
pub const FEATURE_KEYS: &[(&str, &str)] = &[
    ("source", "source the feature is read from"),
    (
        "field",
        "message field, e.g. `position` or `twist.angular.z`",
    ),
    ("joint", "joint name (JointState sources)"),
    (
        "transform",
        "identity, cos, sin, wrap_angle, quaternion_to_{roll,pitch,yaw}",
    ),
];

/// The node's parameters as ROS 2 names them, grouped at the dots
/// (`command.smoothing` is `command: { smoothing }`), typed by serde before they are
/// checked against the manifest. Absent names are `None`; unknown ones are refused
/// before this is built (with a "did you mean" hint), so `deny_unknown_fields` is
/// only a backstop.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawParams {
    /// Informational (the package folder is given on the command line).
    model: Option<serde_norway::Value>,
    trigger: Option<String>,
    trigger_source: Option<String>,
    period: Option<f64>,
    plan_margin: Option<f64>,
    max_transitions: Option<u64>,
    planner: Option<String>,
    seed: Option<u64>,
    threads: Option<u64>,
    sensor_timeout: Option<f64>,
    max_deadline_misses: Option<u64>,
    safe_action: Option<Numbers>,
    command: RawCommand,
    mppi: RawMppi,
    tree: RawTree,
    prediction: RawPrediction,
    predicted_path: RawPredictedPath,
    diagnostics_period: Option<f64>,
    delay_compensation: Option<bool>,
    use_sim_time: Option<bool>,
    source_names: Option<Strings>,
    max_message_bytes: Option<u64>,
    zenoh: RawZenoh,
    realtime: RawRealtime,
    max_image_pixels: Option<u64>,
    sources: BTreeMap<String, RawSource>,
    observation: BTreeMap<String, RawFeature>,
    images: BTreeMap<String, RawImage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawImage {
    source: Option<String>,
    fit: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawCommand {
    #[serde(rename = "type")]
    kind: Option<String>,
    topic: Option<String>,
    twist_fields: Option<Strings>,
    smoothing: Option<f64>,
    max_delta: Option<Numbers>,
    change_cost: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawMppi {
    selection: Option<String>,
    horizon: Option<u64>,
    samples: Option<u64>,
    iterations: Option<u64>,
    elites: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawTree {
    horizon: Option<u64>,
    use_policy: Option<bool>,
    selection: Option<String>,
    selection_temperature: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawZenoh {
    config: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawRealtime {
    priority: Option<u64>,
    control_cpus: Option<Vec<u64>>,
    ingest_cpus: Option<Vec<u64>>,
    lock_memory: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPrediction {
    error_threshold: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPredictedPath {
    x: Option<String>,
    y: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSource {
    topic: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawFeature {
    source: Option<String>,
    field: Option<String>,
    joint: Option<String>,
    transform: Option<String>,
}

/// A list of strings, or one string (`-p source_names:=joints`).
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "expected a list of strings (or one string)")]
enum Strings {
    Many(Vec<String>),
    One(String),
}

impl Strings {
    fn into_vec(self) -> Vec<String> {
        match self {
            Strings::Many(v) => v,
            Strings::One(s) => vec![s],
        }
    }
}

/// A list of numbers, or one number; each must be a finite `f32`.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "expected a list of numbers (or one number)")]
enum Numbers {
    Many(Vec<f64>),
    One(f64),
}

impl Numbers {
    fn finite(self, name: &str) -> Result<Vec<f32>, ParamError> {
        let values = match self {
            Numbers::Many(v) => v,
            Numbers::One(x) => vec![x],
        };
        values
            .into_iter()
            .map(|v| {
                let f = v as f32;
                f.is_finite()
                    .then_some(f)
                    .ok_or_else(|| invalid(name, format!("{v} is not a finite number")))
            })
            .collect()
    }
}

/// A duration parameter in seconds: finite and not negative.
fn seconds(name: &str, value: Option<f64>, default: f64) -> Result<Duration, ParamError> {
    let x = value.unwrap_or(default);
    if !(x.is_finite() && x >= 0.0) {
        return Err(invalid(name, format!("{x} is not a duration in seconds")));
    }
    Ok(Duration::from_secs_f64(x))
}

/// One parameter value as YAML, for serde.
fn yaml(value: &ParamValue) -> serde_norway::Value {
    use serde_norway::Value;
    let seq = |items: Vec<Value>| Value::Sequence(items);
    match value {
        ParamValue::Bool(x) => Value::Bool(*x),
        ParamValue::Integer(x) => Value::Number((*x).into()),
        ParamValue::Double(x) => Value::Number((*x).into()),
        ParamValue::String(x) => Value::String(x.clone()),
        ParamValue::BoolArray(x) => seq(x.iter().map(|&v| Value::Bool(v)).collect()),
        ParamValue::IntegerArray(x) => seq(x.iter().map(|&v| Value::Number(v.into())).collect()),
        ParamValue::DoubleArray(x) => seq(x.iter().map(|&v| Value::Number(v.into())).collect()),
        ParamValue::StringArray(x) => seq(x.iter().map(|v| Value::String(v.clone())).collect()),
    }
}

/// The flat `a.b.c` parameters as nested YAML mappings, then typed; an error names
/// the parameter (`command.smoothing: invalid type: ...`).
fn typed(params: &BTreeMap<String, ParamValue>) -> Result<RawParams, ParamError> {
    use serde_norway::{Mapping, Value};
    let mut root = Mapping::new();
    for (name, value) in params {
        let mut parts: Vec<&str> = name.split('.').collect();
        let leaf = parts.pop().unwrap_or_default();
        let mut map = &mut root;
        for part in parts {
            let entry = map
                .entry(Value::String(part.to_string()))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            map = match entry {
                Value::Mapping(inner) => inner,
                _ => return Err(invalid(name, "is inside a parameter that has a value")),
            };
        }
        if map
            .insert(Value::String(leaf.to_string()), yaml(value))
            .is_some()
        {
            return Err(invalid(name, "is both a value and a group of parameters"));
        }
    }
    serde_path_to_error::deserialize(Value::Mapping(root)).map_err(|error| {
        let name = error.path().to_string();
        invalid(&name, error.into_inner().to_string())
    })
}

impl NodeParams {
    /// Builds the configuration from flat parameters (package defaults, parameter
    /// files and `-p` overrides already merged) and the model's manifest.
    pub fn from_params(
        params: &BTreeMap<String, ParamValue>,
        model: PathBuf,
        manifest: &Manifest,
    ) -> Result<NodeParams, ParamError> {
        let a = manifest.action_dim();
        let names: Vec<&str> = manifest
            .observation
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let image_names: Vec<&str> = manifest.image.iter().map(|i| i.name.as_str()).collect();
        // Unknown names first, each with the closest known one.
        let sources_names = match params.get("source_names") {
            Some(ParamValue::StringArray(v)) => v.clone(),
            Some(ParamValue::String(v)) => vec![v.clone()],
            _ => Vec::new(),
        };
        for name in params.keys() {
            if !is_known(name, &sources_names, &names, &image_names) {
                return Err(ParamError::Unknown {
                    name: name.clone(),
                    hint: hint(name, &sources_names, &names, &image_names),
                });
            }
        }
        let mut raw = typed(params)?;
        let sources_names = raw
            .source_names
            .take()
            .map(Strings::into_vec)
            .unwrap_or_default();
        let mut sources = Vec::new();
        for name in &sources_names {
            let topic_key = format!("sources.{name}.topic");
            let type_key = format!("sources.{name}.type");
            let source = raw.sources.remove(name).unwrap_or_default();
            let topic = source
                .topic
                .ok_or_else(|| invalid(&topic_key, "missing (every source needs a topic)"))?;
            let kind_text = source.kind.ok_or_else(|| invalid(&type_key, "missing"))?;
            let kind = SourceKind::parse(&kind_text).ok_or_else(|| {
                invalid(
                    &type_key,
                    format!("`{kind_text}`: expected joint_state, imu, odometry, point_stamped, image or compressed_image"),
                )
            })?;
            sources.push(SourceSpec {
                name: name.clone(),
                topic,
                kind,
            });
        }
        let mut features = Vec::new();
        for feature in &manifest.observation {
            let key = |k: &str| format!("observation.{}.{k}", feature.name);
            let mapping = raw.observation.remove(&feature.name).unwrap_or_default();
            let source_name = mapping.source.ok_or_else(|| {
                invalid(
                    &key("source"),
                    "missing: every observation feature of the manifest needs a mapping",
                )
            })?;
            let source = sources
                .iter()
                .position(|s| s.name == source_name)
                .ok_or_else(|| {
                    invalid(
                        &key("source"),
                        format!("`{source_name}` is not in `source_names` {sources_names:?}"),
                    )
                })?;
            let field_text = mapping
                .field
                .ok_or_else(|| invalid(&key("field"), "missing"))?;
            let joint = mapping.joint;
            let field = Field::parse(
                &feature.name,
                sources[source].kind,
                &field_text,
                joint.as_deref(),
            )?;
            let transform_text = mapping.transform.unwrap_or_else(|| "identity".into());
            let transform = Transform::parse(&transform_text).ok_or_else(|| {
                invalid(
                    &key("transform"),
                    format!("unknown transform `{transform_text}`"),
                )
            })?;
            features.push(FeatureSpec {
                name: feature.name.clone(),
                source,
                field,
                transform,
            });
        }
        let mut images = Vec::new();
        for input in &manifest.image {
            let key = |k: &str| format!("images.{}.{k}", input.name);
            let mapping = raw.images.remove(&input.name).unwrap_or_default();
            let source_name = mapping.source.ok_or_else(|| {
                invalid(
                    &key("source"),
                    "missing: every image input of the manifest needs a camera source",
                )
            })?;
            let source = sources
                .iter()
                .position(|s| s.name == source_name)
                .ok_or_else(|| {
                    invalid(
                        &key("source"),
                        format!("`{source_name}` is not in `source_names` {sources_names:?}"),
                    )
                })?;
            if !sources[source].kind.is_image() {
                return Err(invalid(
                    &key("source"),
                    format!(
                        "`{source_name}` is a {} source; an image input reads a source of type image or compressed_image",
                        sources[source].kind.ros_type()
                    ),
                ));
            }
            let fit_text = mapping.fit.unwrap_or_else(|| "stretch".into());
            let fit = augur_runtime::control::Fit::parse(&fit_text).ok_or_else(|| {
                invalid(
                    &key("fit"),
                    format!("`{fit_text}`: expected stretch or center_crop"),
                )
            })?;
            images.push(ImageMapping { source, fit });
        }
        for (index, source) in sources.iter().enumerate() {
            if source.kind.is_image() && !images.iter().any(|m| m.source == index) {
                return Err(invalid(
                    &format!("sources.{}.type", source.name),
                    format!(
                        "`{}` is a camera, but no image input of the model reads it (the model's image inputs: {image_names:?})",
                        source.name
                    ),
                ));
            }
        }
        let max_image_pixels = match raw.max_image_pixels {
            Some(0) => return Err(invalid("max_image_pixels", "must be at least 1")),
            Some(n) => n,
            None => augur_runtime::control::image::DEFAULT_MAX_IMAGE_PIXELS,
        };
        let observation = ObservationMap::new(sources, features, &names)?;

        let trigger = match raw.trigger {
            Some(text) => text
                .parse::<Trigger>()
                .map_err(|reason| invalid("trigger", reason))?,
            None => Trigger::Rate,
        };
        let trigger_source = match trigger {
            Trigger::Rate => 0,
            Trigger::Observation => {
                let name = raw
                    .trigger_source
                    .clone()
                    .or_else(|| sources_names.first().cloned())
                    .ok_or_else(|| invalid("trigger_source", "no sources are declared"))?;
                observation.source_index(&name).ok_or_else(|| {
                    invalid(
                        "trigger_source",
                        format!("`{name}` is not in `source_names`"),
                    )
                })?
            }
        };
        let period = seconds("period", raw.period, manifest.model.dt)?;
        if period.is_zero() {
            return Err(invalid("period", "must be positive"));
        }
        let plan_margin = seconds(
            "plan_margin",
            raw.plan_margin,
            (period.as_secs_f64() * 0.1).min(0.005),
        )?;
        if plan_margin >= period {
            return Err(invalid("plan_margin", "must be shorter than `period`"));
        }
        let max_transitions = match raw.max_transitions.unwrap_or(0) {
            0 => None,
            n => Some(n),
        };
        let sensor_timeout = seconds(
            "sensor_timeout",
            raw.sensor_timeout,
            5.0 * period.as_secs_f64(),
        )?;
        let max_deadline_misses = raw.max_deadline_misses.unwrap_or(3);
        if max_deadline_misses == 0 || max_deadline_misses > u32::MAX as u64 {
            return Err(invalid("max_deadline_misses", "must be at least 1"));
        }
        let planner = raw.planner.unwrap_or_else(|| "tree".into());
        if !matches!(planner.as_str(), "tree" | "mppi") {
            return Err(invalid(
                "planner",
                format!("`{planner}`: expected `tree` or `mppi`"),
            ));
        }
        let seed = raw.seed.unwrap_or(0);
        let threads = raw.threads.unwrap_or(1) as usize;
        if threads == 0 {
            return Err(invalid("threads", "must be at least 1"));
        }

        let width = |name: &str, v: &[f32]| {
            if v.len() == a {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    format!(
                        "has {} entries but the model has {a} action components",
                        v.len()
                    ),
                ))
            }
        };
        let safe_action = match raw.safe_action {
            Some(v) => v.finite("safe_action")?,
            None => manifest.action.iter().map(|c| c.safe).collect(),
        };
        width("safe_action", &safe_action)?;
        for (i, (v, c)) in safe_action.iter().zip(&manifest.action).enumerate() {
            if *v < c.low || *v > c.high {
                return Err(invalid(
                    "safe_action",
                    format!(
                        "entry {i} = {v} is outside the action bounds [{}, {}]",
                        c.low, c.high
                    ),
                ));
            }
        }
        let smoothing = raw.command.smoothing.unwrap_or(0.0) as f32;
        if !(0.0..1.0).contains(&smoothing) {
            return Err(invalid("command.smoothing", "must be in [0, 1)"));
        }
        let max_delta = match raw.command.max_delta {
            Some(v) => v.finite("command.max_delta")?,
            None => Vec::new(),
        };
        if !max_delta.is_empty() {
            width("command.max_delta", &max_delta)?;
        }
        let change_cost = raw.command.change_cost.unwrap_or(0.0);
        if !(change_cost.is_finite() && change_cost >= 0.0) {
            return Err(invalid("command.change_cost", "must be finite and >= 0"));
        }
        let mppi_selection = match raw.mppi.selection.as_deref() {
            None | Some("elite_sample") => augur_planner::ActionSelection::EliteSample,
            Some("mean") => augur_planner::ActionSelection::Mean,
            Some(other) => {
                return Err(invalid(
                    "mppi.selection",
                    format!("`{other}`: expected `elite_sample` or `mean`"),
                ))
            }
        };
        let positive = |name: &str, value: Option<u64>| -> Result<Option<usize>, ParamError> {
            match value {
                Some(0) => Err(invalid(name, "must be >= 1")),
                Some(v) => Ok(Some(v as usize)),
                None => Ok(None),
            }
        };
        let mppi_shape = SearchShape {
            horizon: positive("mppi.horizon", raw.mppi.horizon)?,
            samples: positive("mppi.samples", raw.mppi.samples)?,
            iterations: positive("mppi.iterations", raw.mppi.iterations)?,
            elites: positive("mppi.elites", raw.mppi.elites)?,
        };
        let tree_horizon = positive("tree.horizon", raw.tree.horizon)?;
        let temperature = raw.tree.selection_temperature.unwrap_or(0.5);
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(invalid(
                "tree.selection_temperature",
                "must be finite and > 0",
            ));
        }
        let tree_selection = match raw.tree.selection.as_deref() {
            None | Some("best") => augur_planner::TreeSelection::Best,
            Some("weighted") => augur_planner::TreeSelection::Weighted {
                temperature: temperature as f32,
            },
            Some(other) => {
                return Err(invalid(
                    "tree.selection",
                    format!("`{other}`: expected `best` or `weighted`"),
                ))
            }
        };
        let threshold = raw.prediction.error_threshold.unwrap_or(0.0);
        let prediction_error_threshold = (threshold > 0.0).then_some(threshold as f32);

        let command_type = raw
            .command
            .kind
            .unwrap_or_else(|| "float64_multi_array".into());
        let twist_names = raw.command.twist_fields.map(Strings::into_vec);
        let twist_fields = || -> Result<Vec<TwistField>, ParamError> {
            let key = "command.twist_fields";
            let names = twist_names.clone().ok_or_else(|| {
                invalid(
                    key,
                    "missing: a twist command needs one field per action component",
                )
            })?;
            let fields = names
                .iter()
                .map(|n| {
                    TwistField::parse(n)
                        .ok_or_else(|| invalid(key, format!("`{n}` is not linear/angular.x/y/z")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if fields.len() != a {
                return Err(invalid(
                    key,
                    format!(
                        "has {} entries but the model has {a} action components",
                        fields.len()
                    ),
                ));
            }
            Ok(fields)
        };

        let command = match command_type.as_str() {
            "float64_multi_array" => CommandKind::Float64MultiArray,
            "twist" => CommandKind::Twist {
                fields: twist_fields()?,
            },
            "twist_stamped" => CommandKind::TwistStamped {
                fields: twist_fields()?,
            },
            other => {
                return Err(invalid(
                    "command.type",
                    format!("`{other}`: expected float64_multi_array, twist or twist_stamped"),
                ))
            }
        };
        let default_topic = match command {
            CommandKind::Float64MultiArray => "/effort_controller/commands",
            _ => "/cmd_vel",
        };
        let command_topic = raw.command.topic.unwrap_or_else(|| default_topic.into());
        let use_sim_time = raw.use_sim_time.unwrap_or(false);
        let delay_compensation = raw.delay_compensation.unwrap_or(true);
        let diagnostics_period = seconds("diagnostics_period", raw.diagnostics_period, 1.0)?;
        if diagnostics_period.is_zero() {
            return Err(invalid("diagnostics_period", "must be positive"));
        }
        let feature_index =
            |key: &str, name: Option<String>| -> Result<Option<usize>, ParamError> {
                name.map(|n| {
                    names
                        .iter()
                        .position(|f| *f == n)
                        .ok_or_else(|| invalid(key, format!("`{n}` is not an observation feature")))
                })
                .transpose()
            };
        let px = raw.predicted_path.x;
        let py = raw.predicted_path.y;
        let predicted_path = match (
            feature_index("predicted_path.x", px)?,
            feature_index("predicted_path.y", py)?,
        ) {
            (Some(x), Some(y)) => Some((x, y)),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "predicted_path.x",
                    "set both predicted_path.x and predicted_path.y, or neither",
                ))
            }
        };

        let max_message_bytes = match raw.max_message_bytes {
            None => crate::transport::DEFAULT_MAX_MESSAGE_BYTES as u64,
            Some(n) if (1024..=1 << 32).contains(&n) => n,
            Some(n) => {
                return Err(invalid(
                    "max_message_bytes",
                    format!("{n} is outside 1024..=4294967296"),
                ))
            }
        } as usize;
        let zenoh_config = raw
            .zenoh
            .config
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let priority = match raw.realtime.priority.unwrap_or(0) {
            0 => None,
            p @ 1..=99 => Some(p as u8),
            p => {
                return Err(invalid(
                    "realtime.priority",
                    format!("{p}: SCHED_FIFO priorities are 1..=99 (0: off)"),
                ))
            }
        };
        let cpus = |name: &str, list: Option<Vec<u64>>| -> Result<Vec<usize>, ParamError> {
            let mut list: Vec<usize> = list
                .unwrap_or_default()
                .into_iter()
                .map(|c| c as usize)
                .collect();
            if let Some(&cpu) = list.iter().find(|&&c| c > realtime::MAX_CPU) {
                return Err(invalid(
                    name,
                    format!(
                        "CPU {cpu} is beyond the largest CPU index {}",
                        realtime::MAX_CPU
                    ),
                ));
            }
            list.sort_unstable();
            list.dedup();
            Ok(list)
        };
        let realtime = RealtimeParams {
            priority,
            control_cpus: cpus("realtime.control_cpus", raw.realtime.control_cpus)?,
            ingest_cpus: cpus("realtime.ingest_cpus", raw.realtime.ingest_cpus)?,
            lock_memory: raw.realtime.lock_memory.unwrap_or(false),
        };

        Ok(NodeParams {
            model,
            values: params.clone(),
            runner: RunnerConfig {
                trigger,
                trigger_source,
                period,
                plan_margin,
                max_transitions,
                sensor_timeout,
                max_deadline_misses: max_deadline_misses as u32,
                sim_time: use_sim_time,
                delay_compensation: delay_compensation
                    .then(|| Duration::from_secs_f64(manifest.model.dt)),
            },
            planner,
            seed,
            threads,
            safe_action,
            smoothing,
            max_delta,
            change_cost: change_cost as f32,
            mppi_selection,
            mppi_shape,
            tree_horizon,
            tree_selection,
            tree_use_policy: raw.tree.use_policy.unwrap_or(true),
            prediction_error_threshold,
            command,
            command_topic,
            observation,
            images,
            max_image_pixels,
            use_sim_time,
            diagnostics_period,
            predicted_path,
            max_message_bytes,
            zenoh_config,
            realtime,
        })
    }
}

/// Names valid for any source / feature even when unused by the current mapping
/// (`joint` on a non-JointState source is still a known name, and rejected by the
/// mapping itself where it matters).
fn is_known(name: &str, sources: &[String], features: &[&str], images: &[&str]) -> bool {
    if FIXED.iter().any(|(n, _)| *n == name) {
        return true;
    }
    let per = |prefix: &str, owners: &[&str], keys: &[(&str, &str)]| {
        owners.iter().any(|owner| {
            keys.iter()
                .any(|(k, _)| name == format!("{prefix}.{owner}.{k}"))
        })
    };
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    per("sources", &sources, SOURCE_KEYS)
        || per("observation", features, FEATURE_KEYS)
        || per("images", images, IMAGE_KEYS)
}

fn hint(name: &str, sources: &[String], features: &[&str], images: &[&str]) -> String {
    let mut known: Vec<String> = FIXED.iter().map(|(n, _)| n.to_string()).collect();
    for source in sources {
        known.extend(
            SOURCE_KEYS
                .iter()
                .map(|(k, _)| format!("sources.{source}.{k}")),
        );
    }
    for feature in features {
        known.extend(
            FEATURE_KEYS
                .iter()
                .map(|(k, _)| format!("observation.{feature}.{k}")),
        );
    }
    for image in images {
        known.extend(
            IMAGE_KEYS
                .iter()
                .map(|(k, _)| format!("images.{image}.{k}")),
        );
    }
    match known.iter().find(|k| strsim_close(k, name)) {
        Some(k) => format!(" (did you mean `{k}`?)"),
        None => String::new(),
    }
}

/// Close enough to be a typo (Damerau-Levenshtein distance at most 2).
fn strsim_close(a: &str, b: &str) -> bool {
    strsim::damerau_levenshtein(a, b) <= 2
}

/// Every parameter name for `manifest` with `sources`, with its description: what
/// `augur run --list-params` prints.
pub fn parameter_names(manifest: &Manifest, sources: &[String]) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = FIXED
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect();
    for source in sources {
        for (k, d) in SOURCE_KEYS {
            names.push((format!("sources.{source}.{k}"), d.to_string()));
        }
    }
    for feature in &manifest.observation {
        for (k, d) in FEATURE_KEYS {
            names.push((format!("observation.{}.{k}", feature.name), d.to_string()));
        }
    }
    for image in &manifest.image {
        for (k, d) in IMAGE_KEYS {
            names.push((format!("images.{}.{k}", image.name), d.to_string()));
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::launch::resolve;
    use super::*;

    /// The pendulum package's defaults with `overrides` (`name:=value`) on top.
    fn pendulum(overrides: &[&str]) -> anyhow::Result<NodeParams> {
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pendulum");
        let mut args = vec!["--ros-args".to_string()];
        for o in overrides {
            args.extend(["-p".to_string(), o.to_string()]);
        }
        Ok(resolve(&model, None, &args)?.params)
    }

    fn error(overrides: &[&str]) -> String {
        format!("{:#}", pendulum(overrides).expect_err("should be refused"))
    }

    #[test]
    fn the_package_defaults_give_the_documented_configuration() {
        let p = pendulum(&[]).unwrap();
        assert_eq!(p.runner.period, Duration::from_millis(50));
        assert_eq!(p.runner.sensor_timeout, Duration::from_millis(250));
        assert_eq!(p.runner.trigger, Trigger::Rate);
        assert_eq!(p.safe_action, vec![0.0]);
        assert_eq!(p.command, CommandKind::Float64MultiArray);
        assert_eq!(p.command_topic, "/effort_controller/commands");
        assert_eq!(p.observation.features().len(), 3);
        assert_eq!(p.predicted_path, Some((1, 0)));
        assert_eq!(p.planner, "tree");
        assert!(p.runner.delay_compensation.is_some());
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_parameter() {
        let e = error(&["command.smoothing:=abc"]);
        assert!(e.contains("parameter `command.smoothing`"), "{e}");
        let e = error(&["seed:=-1"]);
        assert!(e.contains("parameter `seed`"), "{e}");
        let e = error(&["sources.joint_states.topic:=5"]);
        assert!(e.contains("parameter `sources.joint_states.topic`"), "{e}");
    }

    #[test]
    fn an_unknown_parameter_is_refused_with_the_closest_name() {
        let e = error(&["command.smothing:=0.5"]);
        assert!(
            e.contains("unknown parameter `command.smothing` (did you mean `command.smoothing`?)"),
            "{e}"
        );
        let e = error(&["observation.cos_theta.jiont:=x"]);
        assert!(
            e.contains("did you mean `observation.cos_theta.joint`"),
            "{e}"
        );
    }

    #[test]
    fn numbers_lists_and_durations_are_checked() {
        // One number where a list is expected is a list of one; integers are numbers.
        let p = pendulum(&["safe_action:=1", "period:=1", "command.max_delta:=[0.5]"]).unwrap();
        assert_eq!(p.safe_action, vec![1.0]);
        assert_eq!(p.runner.period, Duration::from_secs(1));
        assert_eq!(p.max_delta, vec![0.5]);
        let e = error(&["safe_action:=[.nan]"]);
        assert!(
            e.contains("parameter `safe_action`: NaN is not a finite number"),
            "{e}"
        );
        let e = error(&["sensor_timeout:=-1.0"]);
        assert!(e.contains("parameter `sensor_timeout`"), "{e}");
        let e = error(&["safe_action:=[0.0, 0.0]"]);
        assert!(e.contains("has 2 entries but the model has 1"), "{e}");
        let e = error(&["planner:=cem"]);
        assert!(e.contains("`cem`: expected `tree` or `mppi`"), "{e}");
    }

    #[test]
    fn smoothness_settings_are_read_and_bad_ones_named() {
        let p = pendulum(&["tree.selection:=best", "mppi.selection:=elite_sample"]).unwrap();
        assert_eq!(
            p.mppi_selection,
            augur_planner::ActionSelection::EliteSample
        );
        assert_eq!(p.tree_selection, augur_planner::TreeSelection::Best);
        let p = pendulum(&[
            "command.change_cost:=0.25",
            "mppi.selection:=mean",
            "tree.selection:=weighted",
            "tree.selection_temperature:=2.0",
        ])
        .unwrap();
        assert_eq!(p.change_cost, 0.25);
        assert_eq!(p.mppi_selection, augur_planner::ActionSelection::Mean);
        assert_eq!(
            p.tree_selection,
            augur_planner::TreeSelection::Weighted { temperature: 2.0 }
        );
        let e = error(&["command.change_cost:=-1.0"]);
        assert!(
            e.contains("parameter `command.change_cost`: must be finite and >= 0"),
            "{e}"
        );
        let e = error(&["mppi.selection:=best"]);
        assert!(
            e.contains("`best`: expected `elite_sample` or `mean`"),
            "{e}"
        );
        let e = error(&["tree.selection:=mean"]);
        assert!(
            e.contains("parameter `tree.selection`: `mean`: expected `best` or `weighted`"),
            "{e}"
        );
        let e = error(&["tree.selection_temperature:=0"]);
        assert!(e.contains("parameter `tree.selection_temperature`"), "{e}");
        let e = error(&["tree.selction:=best"]);
        assert!(e.contains("did you mean `tree.selection`?"), "{e}");
    }

    #[test]
    fn search_shapes_override_the_presets_and_zero_is_refused() {
        let p = pendulum(&[]).unwrap();
        assert_eq!(p.mppi_shape, SearchShape::default());
        assert_eq!(p.tree_horizon, None);
        // PlaNet's CEM budget: horizon 12, 1000 candidates, 10 iterations, 100 elites.
        let p = pendulum(&[
            "mppi.horizon:=12",
            "mppi.samples:=1000",
            "mppi.iterations:=10",
            "mppi.elites:=100",
            "tree.horizon:=8",
        ])
        .unwrap();
        let want = SearchShape {
            horizon: Some(12),
            samples: Some(1000),
            iterations: Some(10),
            elites: Some(100),
        };
        assert_eq!((p.mppi_shape, p.tree_horizon), (want, Some(8)));
        for name in [
            "mppi.horizon",
            "mppi.samples",
            "mppi.iterations",
            "mppi.elites",
            "tree.horizon",
        ] {
            let e = error(&[&format!("{name}:=0")]);
            assert!(
                e.contains(&format!("parameter `{name}`: must be >= 1")),
                "{e}"
            );
        }
    }
}
