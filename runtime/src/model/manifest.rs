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
    /// Observation features, in vector order (may be empty for a model that sees
    /// only images).
    #[serde(default)]
    pub observation: Vec<ObservationFeature>,
    /// Image inputs of the encoder (cameras), before the observation vector.
    #[serde(default)]
    pub image: Vec<ImageInput>,
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

/// Most image inputs a model may have.
pub const MAX_IMAGES: usize = 1;
/// Largest image side a model may declare, in pixels.
pub const MAX_IMAGE_SIDE: usize = 1024;
/// Most frames an image input may stack.
pub const MAX_FRAMES: usize = 16;

/// One image input of the encoder: the camera frame the model sees, after resizing,
/// channel reordering, stacking and normalisation. Its tensor is
/// `[B, frames * channels, height, width]`: frames oldest first (newest last, as
/// TD-MPC2's frame stack), each frame channel-planar.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    /// Tensor name in the encoder, e.g. `pixels`.
    pub name: String,
    /// Height the model sees, in pixels.
    pub height: usize,
    /// Width the model sees, in pixels.
    pub width: usize,
    /// Channels and their order: `rgb`, `bgr` or `gray`.
    pub channels: ChannelOrder,
    /// Frames stacked (at least 1).
    #[serde(default = "one_frame")]
    pub frames: usize,
    /// The encoder sees `pixel * scale + offset` for 8-bit pixel values (TD-MPC2:
    /// `x / 255 - 0.5`, scale 1/255 and offset -0.5).
    #[serde(default = "inverse_255")]
    pub scale: f32,
    /// See `scale`.
    #[serde(default)]
    pub offset: f32,
}

fn one_frame() -> usize {
    1
}

fn inverse_255() -> f32 {
    1.0 / 255.0
}

/// Channels of an image input, in tensor order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    /// Red, green, blue.
    Rgb,
    /// Blue, green, red.
    Bgr,
    /// One luma channel (ITU-R BT.601 weights from colour cameras).
    Gray,
}

impl ChannelOrder {
    /// Channels per pixel.
    pub fn count(self) -> usize {
        match self {
            ChannelOrder::Rgb | ChannelOrder::Bgr => 3,
            ChannelOrder::Gray => 1,
        }
    }

    /// The manifest spelling.
    pub fn name(self) -> &'static str {
        match self {
            ChannelOrder::Rgb => "rgb",
            ChannelOrder::Bgr => "bgr",
            ChannelOrder::Gray => "gray",
        }
    }
}

impl ImageInput {
    /// Values of one frame: `channels * height * width`.
    pub fn frame_len(&self) -> usize {
        self.channels.count() * self.height * self.width
    }

    /// Values of the whole input: `frames * frame_len`.
    pub fn input_len(&self) -> usize {
        self.frames * self.frame_len()
    }

    /// The tensor's shape after the batch: `[frames * channels, height, width]`.
    pub fn shape(&self) -> Vec<usize> {
        vec![self.frames * self.channels.count(), self.height, self.width]
    }

    /// One frame's shape after the batch (a decoder's output): `[channels, height, width]`.
    pub fn frame_shape(&self) -> Vec<usize> {
        vec![self.channels.count(), self.height, self.width]
    }
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

    /// Values of every image input of one row, in encoder order (0 without images).
    pub fn image_dim(&self) -> usize {
        self.image.iter().map(ImageInput::input_len).sum()
    }

    /// The shapes each role's tensors must have (excluding the batch), in role order.
    ///
    /// With images, the encoder takes each image input and then, if the model has
    /// observation features, the vector; the decoder reconstructs the newest frame of
    /// the first image input.
    pub fn expected_shapes(&self, role: GraphRole) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
        let (o, l, a) = (self.obs_dim(), self.model.latent_dim, self.action_dim());
        let v = |w: usize| vec![w];
        match role {
            GraphRole::Encoder if !self.image.is_empty() => {
                let mut inputs: Vec<Vec<usize>> =
                    self.image.iter().map(ImageInput::shape).collect();
                if o > 0 {
                    inputs.push(v(o));
                }
                (inputs, vec![v(l)])
            }
            GraphRole::Decoder if !self.image.is_empty() => {
                (vec![v(l)], vec![self.image[0].frame_shape()])
            }
            GraphRole::Encoder => (vec![v(o)], vec![v(l)]),
            GraphRole::Filter => (vec![v(l), v(a), v(o), v(1)], vec![v(l)]),
            GraphRole::Dynamics => (vec![v(l), v(a)], vec![v(l), v(1)]),
            GraphRole::Value => (vec![v(l)], vec![v(1)]),
            GraphRole::Policy => (vec![v(l)], vec![v(a), v(a)]),
            GraphRole::Decoder => (vec![v(l)], vec![v(o)]),
        }
    }

    /// The widths (values per row) each role's tensors must have, in role order.
    pub fn expected_widths(&self, role: GraphRole) -> (Vec<usize>, Vec<usize>) {
        let product = |shapes: Vec<Vec<usize>>| -> Vec<usize> {
            shapes.iter().map(|s| s.iter().product()).collect()
        };
        let (inputs, outputs) = self.expected_shapes(role);
        (product(inputs), product(outputs))
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
        if self.observation.is_empty() && self.image.is_empty() {
            return Err(bad(
                "observation".into(),
                "needs at least one feature (or an `[[image]]` input)".into(),
            ));
        }
        self.validate_images().map_err(|(f, msg)| bad(f, msg))?;
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
        check_unique(
            self.observation
                .iter()
                .map(|f| f.name.as_str())
                .chain(self.image.iter().map(|i| i.name.as_str())),
        )
        .map_err(|n| {
            bad(
                "observation".into(),
                format!("feature or image name `{n}` appears twice"),
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
            let (inputs, outputs) = self.expected_shapes(role);
            check_tensors(role, "inputs", &spec.inputs, &inputs).map_err(|(f, msg)| bad(f, msg))?;
            check_tensors(role, "outputs", &spec.outputs, &outputs)
                .map_err(|(f, msg)| bad(f, msg))?;
        }
        Ok(())
    }
}

impl Manifest {
    fn validate_images(&self) -> Result<(), (String, String)> {
        if self.image.len() > MAX_IMAGES {
            return Err((
                "image".into(),
                format!(
                    "declares {} image inputs; this runtime feeds at most {MAX_IMAGES}",
                    self.image.len()
                ),
            ));
        }
        if !self.image.is_empty() && self.state.is_some() {
            return Err((
                "image".into(),
                "image inputs are supported for memoryless models (an `encoder` graph); a recurrent model's filter takes a vector".into(),
            ));
        }
        for (i, image) in self.image.iter().enumerate() {
            let field = format!("image[{i}] ({})", image.name);
            let sides = 1..=MAX_IMAGE_SIDE;
            if !sides.contains(&image.height) || !sides.contains(&image.width) {
                return Err((
                    field,
                    format!(
                        "height and width must be 1 to {MAX_IMAGE_SIDE} pixels, got {}x{}",
                        image.height, image.width
                    ),
                ));
            }
            if !(1..=MAX_FRAMES).contains(&image.frames) {
                return Err((
                    field,
                    format!("frames must be 1 to {MAX_FRAMES}, got {}", image.frames),
                ));
            }
            if !(image.scale.is_finite() && image.scale != 0.0 && image.offset.is_finite()) {
                return Err((
                    field,
                    format!(
                        "needs a finite, non-zero scale and a finite offset, got scale {} offset {}",
                        image.scale, image.offset
                    ),
                ));
            }
        }
        Ok(())
    }

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
    shapes: &[Vec<usize>],
) -> Result<(), (String, String)> {
    let field = format!("graphs.{role}.{side}");
    if declared.len() != shapes.len() {
        return Err((
            field,
            format!(
                "declares {} tensors, the {role} role has {}",
                declared.len(),
                shapes.len()
            ),
        ));
    }
    for (t, shape) in declared.iter().zip(shapes) {
        let field = format!("graphs.{role}.{side}.{}", t.name);
        if t.dtype != "f32" {
            return Err((
                field,
                format!("dtype is `{}`, only `f32` is supported", t.dtype),
            ));
        }
        let expected: Vec<Dim> = std::iter::once(Dim::Symbol(BATCH_DIM.into()))
            .chain(shape.iter().map(|&d| Dim::Fixed(d)))
            .collect();
        if t.shape != expected {
            let show = |dims: &[Dim]| -> String {
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err((
                field,
                format!(
                    "shape is [{}], expected [{}] from the manifest's dimensions",
                    show(&t.shape),
                    show(&expected)
                ),
            ));
        }
    }
    Ok(())
}
