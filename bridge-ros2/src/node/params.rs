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
use thiserror::Error;

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
    /// Prediction error threshold (`None`: report only).
    pub prediction_error_threshold: Option<f32>,
    /// Command message kind.
    pub command: CommandKind,
    /// Command topic.
    pub command_topic: String,
    /// Sensor mapping.
    pub observation: ObservationMap,
    /// Stamp messages with `/clock` time.
    pub use_sim_time: bool,
    /// `/diagnostics` period.
    pub diagnostics_period: Duration,
    /// Observation features drawn as x / y of `~/predicted_path` (decoder only).
    pub predicted_path: Option<(usize, usize)>,
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
];

/// Per-source parameter suffixes (`sources.<name>.<suffix>`).
pub const SOURCE_KEYS: &[(&str, &str)] = &[
    ("topic", "topic of the source"),
    (
        "type",
        "`joint_state`, `imu`, `odometry` or `point_stamped`",
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

/// Typed access to a flat parameter map, remembering which names were read.
struct Reader<'a> {
    params: &'a BTreeMap<String, ParamValue>,
    used: std::collections::BTreeSet<String>,
}

impl<'a> Reader<'a> {
    fn get(&mut self, name: &str) -> Option<&'a ParamValue> {
        self.used.insert(name.to_string());
        self.params.get(name)
    }

    fn f64(&mut self, name: &str, default: f64) -> Result<f64, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(ParamValue::Double(x)) => Ok(*x),
            Some(ParamValue::Integer(x)) => Ok(*x as f64),
            Some(other) => Err(invalid(name, format!("expected a number, got {other:?}"))),
        }
    }

    fn seconds(&mut self, name: &str, default: f64) -> Result<Duration, ParamError> {
        let x = self.f64(name, default)?;
        if !(x.is_finite() && x >= 0.0) {
            return Err(invalid(name, format!("{x} is not a duration in seconds")));
        }
        Ok(Duration::from_secs_f64(x))
    }

    fn u64(&mut self, name: &str, default: u64) -> Result<u64, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(ParamValue::Integer(x)) if *x >= 0 => Ok(*x as u64),
            Some(other) => Err(invalid(
                name,
                format!("expected a non-negative integer, got {other:?}"),
            )),
        }
    }

    fn bool(&mut self, name: &str, default: bool) -> Result<bool, ParamError> {
        match self.get(name) {
            None => Ok(default),
            Some(ParamValue::Bool(x)) => Ok(*x),
            Some(other) => Err(invalid(
                name,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(ParamValue::String(x)) => Ok(Some(x.clone())),
            Some(other) => Err(invalid(name, format!("expected a string, got {other:?}"))),
        }
    }

    fn strings(&mut self, name: &str) -> Result<Option<Vec<String>>, ParamError> {
        match self.get(name) {
            None => Ok(None),
            Some(ParamValue::StringArray(x)) => Ok(Some(x.clone())),
            Some(ParamValue::String(x)) => Ok(Some(vec![x.clone()])),
            Some(other) => Err(invalid(
                name,
                format!("expected a list of strings, got {other:?}"),
            )),
        }
    }

    fn floats(&mut self, name: &str) -> Result<Option<Vec<f32>>, ParamError> {
        let values: Vec<f64> = match self.get(name) {
            None => return Ok(None),
            Some(ParamValue::DoubleArray(x)) => x.clone(),
            Some(ParamValue::IntegerArray(x)) => x.iter().map(|&v| v as f64).collect(),
            Some(ParamValue::Double(x)) => vec![*x],
            Some(ParamValue::Integer(x)) => vec![*x as f64],
            // An empty YAML list has no element type.
            Some(ParamValue::StringArray(x)) if x.is_empty() => vec![],
            Some(other) => {
                return Err(invalid(
                    name,
                    format!("expected a list of numbers, got {other:?}"),
                ))
            }
        };
        values
            .into_iter()
            .map(|v| {
                let f = v as f32;
                f.is_finite()
                    .then_some(f)
                    .ok_or_else(|| invalid(name, format!("{v} is not a finite number")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

impl NodeParams {
    /// Builds the configuration from flat parameters (package defaults, parameter
    /// files and `-p` overrides already merged) and the model's manifest.
    pub fn from_params(
        params: &BTreeMap<String, ParamValue>,
        model: PathBuf,
        manifest: &Manifest,
    ) -> Result<NodeParams, ParamError> {
        let mut r = Reader {
            params,
            used: Default::default(),
        };
        r.get("model");
        let a = manifest.action_dim();

        let sources_names = r.strings("source_names")?.unwrap_or_default();
        let mut sources = Vec::new();
        for name in &sources_names {
            let topic_key = format!("sources.{name}.topic");
            let type_key = format!("sources.{name}.type");
            let topic = r
                .string(&topic_key)?
                .ok_or_else(|| invalid(&topic_key, "missing (every source needs a topic)"))?;
            let kind_text = r
                .string(&type_key)?
                .ok_or_else(|| invalid(&type_key, "missing"))?;
            let kind = SourceKind::parse(&kind_text).ok_or_else(|| {
                invalid(
                    &type_key,
                    format!("`{kind_text}`: expected joint_state, imu, odometry or point_stamped"),
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
            let source_name = r.string(&key("source"))?.ok_or_else(|| {
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
            let field_text = r
                .string(&key("field"))?
                .ok_or_else(|| invalid(&key("field"), "missing"))?;
            let joint = r.string(&key("joint"))?;
            let field = Field::parse(
                &feature.name,
                sources[source].kind,
                &field_text,
                joint.as_deref(),
            )?;
            let transform_text = r
                .string(&key("transform"))?
                .unwrap_or_else(|| "identity".into());
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
        let names: Vec<&str> = manifest
            .observation
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let observation = ObservationMap::new(sources, features, &names)?;

        let trigger = match r.string("trigger")? {
            Some(text) => text
                .parse::<Trigger>()
                .map_err(|reason| invalid("trigger", reason))?,
            None => Trigger::Rate,
        };
        let trigger_source = match trigger {
            Trigger::Rate => 0,
            Trigger::Observation => {
                let name = r
                    .string("trigger_source")?
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
        r.get("trigger_source");
        let period = r.seconds("period", manifest.model.dt)?;
        if period.is_zero() {
            return Err(invalid("period", "must be positive"));
        }
        let plan_margin = r.seconds("plan_margin", (period.as_secs_f64() * 0.1).min(0.005))?;
        if plan_margin >= period {
            return Err(invalid("plan_margin", "must be shorter than `period`"));
        }
        let max_transitions = match r.u64("max_transitions", 0)? {
            0 => None,
            n => Some(n),
        };
        let sensor_timeout = r.seconds("sensor_timeout", 5.0 * period.as_secs_f64())?;
        let max_deadline_misses = r.u64("max_deadline_misses", 3)?;
        if max_deadline_misses == 0 || max_deadline_misses > u32::MAX as u64 {
            return Err(invalid("max_deadline_misses", "must be at least 1"));
        }
        let planner = r.string("planner")?.unwrap_or_else(|| "tree".into());
        if !matches!(planner.as_str(), "tree" | "mppi") {
            return Err(invalid(
                "planner",
                format!("`{planner}`: expected `tree` or `mppi`"),
            ));
        }
        let seed = r.u64("seed", 0)?;
        let threads = r.u64("threads", 1)? as usize;
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
        let safe_action = match r.floats("safe_action")? {
            Some(v) => v,
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
        let smoothing = r.f64("command.smoothing", 0.0)? as f32;
        if !(0.0..1.0).contains(&smoothing) {
            return Err(invalid("command.smoothing", "must be in [0, 1)"));
        }
        let max_delta = r.floats("command.max_delta")?.unwrap_or_default();
        if !max_delta.is_empty() {
            width("command.max_delta", &max_delta)?;
        }
        let threshold = r.f64("prediction.error_threshold", 0.0)?;
        let prediction_error_threshold = (threshold > 0.0).then_some(threshold as f32);

        let command_type = r
            .string("command.type")?
            .unwrap_or_else(|| "float64_multi_array".into());
        let twist_names = r.strings("command.twist_fields")?;
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
        let command_topic = r
            .string("command.topic")?
            .unwrap_or_else(|| default_topic.into());
        let use_sim_time = r.bool("use_sim_time", false)?;
        let delay_compensation = r.bool("delay_compensation", true)?;
        let diagnostics_period = r.seconds("diagnostics_period", 1.0)?;
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
        let px = r.string("predicted_path.x")?;
        let py = r.string("predicted_path.y")?;
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

        // Anything not read is not a parameter of this node.
        for name in params.keys() {
            if !r.used.contains(name) && !is_known(name, &sources_names, &names) {
                return Err(ParamError::Unknown {
                    name: name.clone(),
                    hint: hint(name, &r.used),
                });
            }
        }

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
            prediction_error_threshold,
            command,
            command_topic,
            observation,
            use_sim_time,
            diagnostics_period,
            predicted_path,
        })
    }
}

/// Names valid for any source / feature even when unused by the current mapping
/// (`joint` on a non-JointState source is still a known name, and rejected by the
/// mapping itself where it matters).
fn is_known(name: &str, sources: &[String], features: &[&str]) -> bool {
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
    per("sources", &sources, SOURCE_KEYS) || per("observation", features, FEATURE_KEYS)
}

fn hint(name: &str, known: &std::collections::BTreeSet<String>) -> String {
    let close = known
        .iter()
        .chain(
            FIXED
                .iter()
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>()
                .iter(),
        )
        .filter(|k| strsim_close(k, name))
        .cloned()
        .collect::<Vec<_>>();
    match close.first() {
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
    names
}
