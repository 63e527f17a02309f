//! `manifest.toml`: the contract a model package states about itself.
//!
//! Parsing is strict (unknown keys are errors) so that a typo in a user's manifest is
//! reported rather than silently ignored. See `docs/model-format.md`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::PackageError;

/// The manifest format version this runtime reads.
pub const FORMAT_VERSION: u32 = 1;

/// Symbolic batch dimension as written in manifests.
pub const BATCH_DIM: &str = "B";

/// A parsed and validated `manifest.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// Identity and global constants of the model.
    pub model: ModelInfo,
    /// Observation features, in vector order.
    pub observation: Vec<ObservationFeature>,
    /// Action components, in vector order.
    pub action: Vec<ActionComponent>,
    /// The carried state of a recurrent model (with a `filter` graph); absent for a
    /// memoryless model, whose latent is the encoder's function of one observation.
    #[serde(default)]
    pub state: Option<StateInfo>,
    /// The ONNX graphs, by role.
    pub graphs: Graphs,
    /// Reference vectors written at export time.
    #[serde(default)]
    pub reference: Option<ReferenceInfo>,
}

/// Identity and global constants of the model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Control period the model was trained at, in seconds.
    pub dt: f64,
    /// Width of the latent state.
    pub latent_dim: usize,
    /// Discount factor of rewards and of the value graph.
    pub discount: f32,
    /// Steps of the latent rollouts the model was trained on. Planners look this far
    /// ahead by default (the model's predictions and value were fitted for it);
    /// without it they use their own default (3, TD-MPC2's).
    #[serde(default)]
    pub horizon: Option<usize>,
}

/// The recurrent state of a Dreamer-style model: the latent is `[deter, stoch]`, a
/// deterministic (GRU) part and a stochastic part, carried from cycle to cycle by the
/// `filter` graph.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateInfo {
    /// Width of the deterministic part (first in the latent).
    pub deter: usize,
    /// The stochastic part (after `deter` in the latent).
    pub stoch: Stoch,
    /// How the graphs turn the stochastic prior into the next state while planning.
    pub prior: PriorRollout,
}

/// The stochastic part of a recurrent state: `{ groups = G, classes = C }` or
/// `{ size = N }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Stoch {
    /// `groups` categorical variables of `classes` each (DreamerV3).
    Discrete(DiscreteStoch),
    /// A Gaussian (PlaNet, DreamerV1).
    Gaussian(GaussianStoch),
}

/// Categorical variables, `groups * classes` wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscreteStoch {
    /// Number of categorical variables.
    pub groups: usize,
    /// Classes of each.
    pub classes: usize,
}

/// A Gaussian of `size` components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianStoch {
    /// Its width.
    pub size: usize,
}

impl std::fmt::Display for Stoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stoch::Discrete(d) => write!(f, "{} groups x {} classes", d.groups, d.classes),
            Stoch::Gaussian(g) => write!(f, "Gaussian of {}", g.size),
        }
    }
}

impl std::fmt::Display for PriorRollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PriorRollout::Mode => "mode",
            PriorRollout::Mean => "mean",
        })
    }
}

impl Stoch {
    /// Width of the stochastic part.
    pub fn width(&self) -> usize {
        match self {
            Stoch::Discrete(d) => d.groups * d.classes,
            Stoch::Gaussian(g) => g.size,
        }
    }
}

/// How a stochastic prior is rolled out while planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorRollout {
    /// The most likely value (one-hot argmax per group; the Gaussian's mean).
    Mode,
    /// The expected value (class probabilities; the Gaussian's mean).
    Mean,
}

/// One feature of the observation vector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationFeature {
    /// Feature name, e.g. `theta_dot`.
    pub name: String,
    /// Physical unit, for documentation.
    #[serde(default)]
    pub unit: Option<String>,
    /// Normalisation offset: the encoder sees `(x - mean) / std`.
    #[serde(default)]
    pub mean: f32,
    /// Normalisation scale.
    #[serde(default = "one")]
    pub std: f32,
}

fn one() -> f32 {
    1.0
}

/// One component of the action vector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionComponent {
    /// Component name, e.g. `torque`.
    pub name: String,
    /// Physical unit, for documentation.
    #[serde(default)]
    pub unit: Option<String>,
    /// Lower bound; commands are clamped to it.
    pub low: f32,
    /// Upper bound; commands are clamped to it.
    pub high: f32,
    /// What the watchdog commands on a fault.
    #[serde(default)]
    pub safe: f32,
}

/// The graphs of a package, by role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graphs {
    /// `obs[B,O] -> z[B,L]` (memoryless models).
    #[serde(default)]
    pub encoder: Option<GraphSpec>,
    /// `z_prev[B,L], action_prev[B,A], obs[B,O], is_first[B,1] -> z[B,L]` (recurrent
    /// models: Dreamer's posterior step).
    #[serde(default)]
    pub filter: Option<GraphSpec>,
    /// `z[B,L], a[B,A] -> z_next[B,L], reward[B,1]`.
    pub dynamics: GraphSpec,
    /// `z[B,L] -> v[B,1]`.
    #[serde(default)]
    pub value: Option<GraphSpec>,
    /// `z[B,L] -> mean[B,A], log_std[B,A]`.
    #[serde(default)]
    pub policy: Option<GraphSpec>,
    /// `z[B,L] -> obs[B,O]`.
    #[serde(default)]
    pub decoder: Option<GraphSpec>,
}

/// One graph: its file and its tensors in role order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    /// ONNX file, relative to the package folder.
    pub file: PathBuf,
    /// Input tensors, in role order.
    pub inputs: Vec<TensorSpec>,
    /// Output tensors, in role order.
    pub outputs: Vec<TensorSpec>,
}

/// A tensor as the manifest declares it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    /// Tensor name in the ONNX file.
    pub name: String,
    /// Shape: `"B"` for the batch, integers elsewhere.
    pub shape: Vec<Dim>,
    /// Element type; only `f32` is supported.
    #[serde(default = "f32_name")]
    pub dtype: String,
}

fn f32_name() -> String {
    "f32".to_string()
}

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbol; only `"B"` (the batch) is meaningful.
    Symbol(String),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => write!(f, "{s}"),
        }
    }
}

/// Where the reference vectors are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceInfo {
    /// JSON file, relative to the package folder.
    pub file: PathBuf,
}

/// The roles a graph can play, in manifest order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GraphRole {
    /// Observation to latent.
    Encoder,
    /// Previous state, previous action and observation to filtered state.
    Filter,
    /// Latent and action to next latent and reward.
    Dynamics,
    /// Latent to value.
    Value,
    /// Latent to action prior.
    Policy,
    /// Latent to observation.
    Decoder,
}

impl GraphRole {
    /// Every role, required ones first.
    pub const ALL: [GraphRole; 6] = [
        GraphRole::Encoder,
        GraphRole::Filter,
        GraphRole::Dynamics,
        GraphRole::Value,
        GraphRole::Policy,
        GraphRole::Decoder,
    ];

    /// The role's key in `[graphs]`.
    pub fn name(self) -> &'static str {
        match self {
            GraphRole::Encoder => "encoder",
            GraphRole::Filter => "filter",
            GraphRole::Dynamics => "dynamics",
            GraphRole::Value => "value",
            GraphRole::Policy => "policy",
            GraphRole::Decoder => "decoder",
        }
    }
}

impl std::fmt::Display for GraphRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Graphs {
    /// The spec of `role`, if the package has that graph.
    pub fn get(&self, role: GraphRole) -> Option<&GraphSpec> {
        match role {
            GraphRole::Encoder => self.encoder.as_ref(),
            GraphRole::Filter => self.filter.as_ref(),
            GraphRole::Dynamics => Some(&self.dynamics),
            GraphRole::Value => self.value.as_ref(),
            GraphRole::Policy => self.policy.as_ref(),
            GraphRole::Decoder => self.decoder.as_ref(),
        }
    }
}

impl Manifest {
    /// The tree search's shipped settings for this model: its discount, and its
    /// training horizon when the manifest gives one.
    pub fn tree_config(&self) -> augur_planner::TreeConfig {
        let defaults = augur_planner::TreeConfig::default();
        augur_planner::TreeConfig {
            discount: self.model.discount,
            horizon: self.model.horizon.unwrap_or(defaults.horizon),
            ..defaults
        }
    }

    /// TD-MPC2's MPPI preset for this model: its discount, and its training horizon
    /// when the manifest gives one (TD-MPC2 plans with the horizon it trained with).
    pub fn mppi_config(&self) -> augur_planner::MppiConfig {
        let preset = augur_planner::MppiConfig::tdmpc2();
        augur_planner::MppiConfig {
            discount: self.model.discount,
            horizon: self.model.horizon.unwrap_or(preset.horizon),
            ..preset
        }
    }

    /// Reads and validates `dir/manifest.toml`.
    pub fn load(dir: &Path) -> Result<Manifest, PackageError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|source| PackageError::Io {
            path: path.clone(),
            source,
        })?;
        Manifest::parse(&text, &path)
    }

    /// Parses and validates manifest text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, PackageError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| PackageError::Manifest {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    /// Observation width `O`.
    pub fn obs_dim(&self) -> usize {
        self.observation.len()
    }

    /// Action width `A`.
    pub fn action_dim(&self) -> usize {
        self.action.len()
    }

    /// The widths each role's tensors must have (excluding the batch), in role order.
    pub fn expected_widths(&self, role: GraphRole) -> (Vec<usize>, Vec<usize>) {
        let (o, l, a) = (self.obs_dim(), self.model.latent_dim, self.action_dim());
        match role {
            GraphRole::Encoder => (vec![o], vec![l]),
            GraphRole::Filter => (vec![l, a, o, 1], vec![l]),
            GraphRole::Dynamics => (vec![l, a], vec![l, 1]),
            GraphRole::Value => (vec![l], vec![1]),
            GraphRole::Policy => (vec![l], vec![a, a]),
            GraphRole::Decoder => (vec![l], vec![o]),
        }
    }

    fn validate(&self, path: &Path) -> Result<(), PackageError> {
        let bad = |field: String, message: String| PackageError::Invalid {
            path: path.to_path_buf(),
            field,
            message,
        };
        if self.format != FORMAT_VERSION {
            return Err(bad(
                "format".into(),
                format!(
                    "is {}, this runtime reads format {FORMAT_VERSION}",
                    self.format
                ),
            ));
        }
        let m = &self.model;
        if !(m.dt.is_finite() && m.dt > 0.0) {
            return Err(bad(
                "model.dt".into(),
                format!("must be > 0 seconds, got {}", m.dt),
            ));
        }
        if m.latent_dim == 0 {
            return Err(bad("model.latent_dim".into(), "must be > 0".into()));
        }
        if !(m.discount > 0.0 && m.discount <= 1.0) {
            return Err(bad(
                "model.discount".into(),
                format!("must be in (0, 1], got {}", m.discount),
            ));
        }
        if let Some(h) = m.horizon {
            if !(1..=255).contains(&h) {
                return Err(bad(
                    "model.horizon".into(),
                    format!("must be 1 to 255 steps, got {h}"),
                ));
            }
        }
        if self.observation.is_empty() {
            return Err(bad(
                "observation".into(),
                "needs at least one feature".into(),
            ));
        }
        if self.action.is_empty() {
            return Err(bad("action".into(), "needs at least one component".into()));
        }
        for (i, f) in self.observation.iter().enumerate() {
            if !(f.std.is_finite() && f.std > 0.0) || !f.mean.is_finite() {
                return Err(bad(
                    format!("observation[{i}] ({})", f.name),
                    format!(
                        "needs a finite mean and std > 0, got mean {} std {}",
                        f.mean, f.std
                    ),
                ));
            }
        }
        for (i, a) in self.action.iter().enumerate() {
            let finite = a.low.is_finite() && a.high.is_finite() && a.safe.is_finite();
            if !finite || a.low >= a.high || a.safe < a.low || a.safe > a.high {
                return Err(bad(
                    format!("action[{i}] ({})", a.name),
                    format!(
                        "needs finite low < high and low <= safe <= high, got low {} high {} safe {}",
                        a.low, a.high, a.safe
                    ),
                ));
            }
        }
        check_unique(self.observation.iter().map(|f| f.name.as_str())).map_err(|n| {
            bad(
                "observation".into(),
                format!("feature name `{n}` appears twice"),
            )
        })?;
        check_unique(self.action.iter().map(|a| a.name.as_str())).map_err(|n| {
            bad(
                "action".into(),
                format!("component name `{n}` appears twice"),
            )
        })?;

        self.validate_state().map_err(|(f, msg)| bad(f, msg))?;
        for role in GraphRole::ALL {
            let Some(spec) = self.graphs.get(role) else {
                continue;
            };
            let (inputs, outputs) = self.expected_widths(role);
            check_tensors(role, "inputs", &spec.inputs, &inputs).map_err(|(f, msg)| bad(f, msg))?;
            check_tensors(role, "outputs", &spec.outputs, &outputs)
                .map_err(|(f, msg)| bad(f, msg))?;
        }
        Ok(())
    }
}

impl Manifest {
    /// Whether the model carries a state from cycle to cycle (it has a `filter` graph).
    pub fn is_recurrent(&self) -> bool {
        self.state.is_some()
    }

    /// A memoryless package has an `encoder` and no `[state]`; a recurrent one has a
    /// `[state]` whose parts fill the latent, a `filter` graph and no `encoder`.
    fn validate_state(&self) -> Result<(), (String, String)> {
        let g = &self.graphs;
        let Some(state) = &self.state else {
            if g.filter.is_some() {
                return Err((
                    "graphs.filter".into(),
                    "is declared but the manifest has no `[state]` section (a recurrent model declares its `deter` and `stoch` parts there)".into(),
                ));
            }
            if g.encoder.is_none() {
                return Err((
                    "graphs.encoder".into(),
                    "is missing: a model needs an `encoder` graph, or a `[state]` section and a `filter` graph".into(),
                ));
            }
            return Ok(());
        };
        if g.filter.is_none() {
            return Err((
                "graphs.filter".into(),
                "is missing: a model with a `[state]` updates it with a `filter` graph".into(),
            ));
        }
        if g.encoder.is_some() {
            return Err((
                "graphs.encoder".into(),
                "is declared beside a `filter` graph: a recurrent model's filter reads the observation itself (put the observation encoder inside the filter graph)".into(),
            ));
        }
        if let Stoch::Discrete(DiscreteStoch { groups, classes }) = state.stoch {
            if groups == 0 || classes < 2 {
                return Err((
                    "state.stoch".into(),
                    format!("needs groups >= 1 and classes >= 2, got {groups} groups of {classes}"),
                ));
            }
        }
        let (deter, stoch) = (state.deter, state.stoch.width());
        if deter == 0 || stoch == 0 || deter + stoch != self.model.latent_dim {
            return Err((
                "state".into(),
                format!(
                    "deter ({deter}) + stoch ({stoch}) must be the latent width model.latent_dim ({}), each part at least 1 wide",
                    self.model.latent_dim
                ),
            ));
        }
        Ok(())
    }
}

fn check_unique<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(n.to_string());
        }
    }
    Ok(())
}

fn check_tensors(
    role: GraphRole,
    side: &str,
    declared: &[TensorSpec],
    widths: &[usize],
) -> Result<(), (String, String)> {
    let field = format!("graphs.{role}.{side}");
    if declared.len() != widths.len() {
        return Err((
            field,
            format!(
                "declares {} tensors, the {role} role has {}",
                declared.len(),
                widths.len()
            ),
        ));
    }
    for (t, &width) in declared.iter().zip(widths) {
        let field = format!("graphs.{role}.{side}.{}", t.name);
        if t.dtype != "f32" {
            return Err((
                field,
                format!("dtype is `{}`, only `f32` is supported", t.dtype),
            ));
        }
        let expected = [Dim::Symbol(BATCH_DIM.into()), Dim::Fixed(width)];
        if t.shape != expected {
            let shown: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
            return Err((
                field,
                format!(
                    "shape is [{}], expected [B, {width}] from the manifest's dimensions",
                    shown.join(", ")
                ),
            ));
        }
    }
    Ok(())
}
