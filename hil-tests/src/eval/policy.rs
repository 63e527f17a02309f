//! The policies an evaluation ranks. Each acts on the raw observation (the plant's
//! units) of one episode row at a time; every row keeps its own state (a planner's
//! warm start, a random stream), so an episode's actions depend only on its own
//! seed and observations, never on which other episodes share the batch or the shard.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use augur_bridge_ros2::node::{launch, planner_settings};
use augur_planner::{AnyPlanner, Budget, Planner, PlannerConfig, WorldModel};
use augur_runtime::model::{PrepareOptions, TractWorldModel};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use tract_onnx::prelude::*;

use super::config::{Evaluation, OnnxOutput, PolicyKind, PolicySpec};

/// Batch sizes a planner's model is specialised for (the tree's and MPPI's blocks).
const PLANNING_BATCHES: [usize; 11] = [1, 8, 16, 24, 32, 64, 128, 192, 256, 384, 512];

/// A policy ready to act.
pub struct Policy {
    low: Vec<f32>,
    high: Vec<f32>,
    obs_dim: usize,
    kind: Kind,
}

enum Kind {
    Zero,
    Random {
        seed: u64,
        rows: Vec<Xoshiro256PlusPlus>,
    },
    Prior {
        model: Box<TractWorldModel>,
        obs: Vec<f32>,
        z: Vec<f32>,
        mean: Vec<f32>,
        log_std: Vec<f32>,
    },
    Planner {
        model: Box<TractWorldModel>,
        prototype: Box<AnyPlanner>,
        rows: Vec<AnyPlanner>,
        transitions: u64,
        obs: Vec<f32>,
        z: Vec<f32>,
    },
    Onnx {
        state: Box<TypedSimpleState>,
        output: OnnxOutput,
        input: Vec<f32>,
    },
}

impl Policy {
    /// Builds `spec` for a plant with `obs_dim` observations and actions bounded by
    /// `low`, `high` (the simulator's manifest).
    pub fn build(
        evaluation: &Evaluation,
        spec: &PolicySpec,
        obs_dim: usize,
        low: &[f32],
        high: &[f32],
    ) -> anyhow::Result<Policy> {
        let kind = match spec.kind {
            PolicyKind::Zero => Kind::Zero,
            PolicyKind::Random => Kind::Random {
                seed: spec.seed.unwrap_or(0),
                rows: Vec::new(),
            },
            PolicyKind::Prior => {
                let package = evaluation.policy_package(spec);
                let model = load_model(&package, &[1], obs_dim, low.len())?;
                if !model.has_policy() {
                    bail!(
                        "the package {} has no policy graph: a `prior` policy needs one",
                        package.display()
                    );
                }
                let dims = model.dims();
                Kind::Prior {
                    obs: vec![0.0; dims.obs_dim],
                    z: vec![0.0; dims.latent_dim],
                    mean: vec![0.0; dims.action_dim],
                    log_std: vec![0.0; dims.action_dim],
                    model: Box::new(model),
                }
            }
            PolicyKind::Planner => planner(evaluation, spec, obs_dim, low.len())?,
            PolicyKind::Onnx => {
                let file = evaluation.resolve(spec.file.as_deref().expect("checked"));
                let plan = load_onnx_policy(&file, obs_dim, low.len())?;
                Kind::Onnx {
                    state: Box::new(TypedSimpleState::new(&plan)?),
                    output: spec.output.unwrap_or_default(),
                    input: vec![0.0; obs_dim],
                }
            }
        };
        Ok(Policy {
            low: low.to_vec(),
            high: high.to_vec(),
            obs_dim,
            kind,
        })
    }

    /// Starts one episode per seed in `seeds`, row `i` for `seeds[i]`.
    pub fn start(&mut self, seeds: &[u64]) {
        match &mut self.kind {
            Kind::Random { seed, rows } => {
                *rows = seeds
                    .iter()
                    .map(|&s| Xoshiro256PlusPlus::seed_from_u64(mix(*seed, s)))
                    .collect();
            }
            Kind::Planner {
                prototype, rows, ..
            } => {
                rows.clear();
                let base = match prototype.as_ref() {
                    AnyPlanner::Tree(p) => p.config().seed,
                    AnyPlanner::Mppi(p) => p.config().seed,
                };
                for &episode in seeds {
                    let mut planner = (**prototype).clone();
                    planner.reset();
                    // Each episode its own stream, as the random policy's.
                    let seed = mix(base, episode);
                    match &mut planner {
                        AnyPlanner::Tree(p) => p.set_seed(seed),
                        AnyPlanner::Mppi(p) => p.set_seed(seed),
                    }
                    rows.push(planner);
                }
            }
            Kind::Zero | Kind::Prior { .. } | Kind::Onnx { .. } => {}
        }
    }

    /// The action of row `row` at raw observation `observation`, within the bounds.
    pub fn act(
        &mut self,
        row: usize,
        observation: &[f32],
        action: &mut [f32],
    ) -> anyhow::Result<()> {
        debug_assert_eq!(observation.len(), self.obs_dim);
        match &mut self.kind {
            Kind::Zero => action.fill(0.0),
            Kind::Random { rows, .. } => {
                let rng = &mut rows[row];
                for ((a, &lo), &hi) in action.iter_mut().zip(&self.low).zip(&self.high) {
                    *a = rng.random_range(lo..=hi);
                }
            }
            Kind::Prior {
                model,
                obs,
                z,
                mean,
                log_std,
            } => {
                model.normalise_observation(observation, obs);
                model.encode(obs, z)?;
                model.policy(z, mean, log_std)?;
                action.copy_from_slice(mean);
            }
            Kind::Planner {
                model,
                rows,
                transitions,
                obs,
                z,
                ..
            } => {
                model.normalise_observation(observation, obs);
                model.encode(obs, z)?;
                let plan = rows[row].plan(model.as_mut(), z, Budget::transitions(*transitions))?;
                action.copy_from_slice(&plan.action()[..action.len()]);
            }
            Kind::Onnx {
                state,
                output,
                input,
            } => {
                input.copy_from_slice(observation);
                let tensor = Tensor::from_shape(&[1, input.len()], input)?;
                let outputs = state.run(tvec!(TValue::from_const(Arc::new(tensor))))?;
                let plain = outputs[0].try_as_plain_ram()?;
                let out = plain.as_slice::<f32>()?;
                for (((a, &u), &lo), &hi) in
                    action.iter_mut().zip(out).zip(&self.low).zip(&self.high)
                {
                    *a = match output {
                        OnnxOutput::Action => u,
                        OnnxOutput::Unit => lo + (u.clamp(-1.0, 1.0) + 1.0) * 0.5 * (hi - lo),
                    };
                }
            }
        }
        for ((a, &lo), &hi) in action.iter_mut().zip(&self.low).zip(&self.high) {
            if !a.is_finite() {
                bail!("the policy produced a non-finite action");
            }
            *a = a.clamp(lo, hi);
        }
        Ok(())
    }
}

/// SplitMix64 of `a` and `b`: independent streams per (policy seed, episode seed).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn load_model(
    package: &Path,
    batches: &[usize],
    obs_dim: usize,
    action_dim: usize,
) -> anyhow::Result<TractWorldModel> {
    let options = PrepareOptions {
        batch_sizes: batches.to_vec(),
        encoder_batch_sizes: vec![1],
        ..PrepareOptions::default()
    };
    let model = TractWorldModel::load(package, &options)
        .with_context(|| format!("loading the model package {}", package.display()))?;
    let dims = model.dims();
    if dims.obs_dim != obs_dim || dims.action_dim != action_dim {
        bail!(
            "the package {} takes {} observations and {} actions; the plant has {obs_dim} and {action_dim}",
            package.display(),
            dims.obs_dim,
            dims.action_dim
        );
    }
    Ok(model)
}

fn planner(
    evaluation: &Evaluation,
    spec: &PolicySpec,
    obs_dim: usize,
    action_dim: usize,
) -> anyhow::Result<Kind> {
    let package = evaluation.policy_package(spec);
    let mut ros_args = Vec::new();
    let mut param = |p: String| {
        ros_args.push("-p".to_owned());
        ros_args.push(p);
    };
    if let Some(planner) = &spec.planner {
        param(format!("planner:={planner}"));
    }
    if let Some(seed) = spec.seed {
        param(format!("seed:={seed}"));
    }
    for p in &spec.params {
        param(p.clone());
    }
    let resolved = launch::resolve(&package, None, &ros_args)
        .with_context(|| format!("the node settings of {}", package.display()))?;
    let (mut config, action) = planner_settings(&resolved.params, &resolved.manifest);
    if let Some(horizon) = spec.horizon {
        match &mut config {
            PlannerConfig::Tree(c) => c.horizon = horizon,
            PlannerConfig::Mppi(c) => c.horizon = horizon,
        }
    }
    let model = load_model(&package, &PLANNING_BATCHES, obs_dim, action_dim)?;
    let dims = model.dims();
    let prototype = AnyPlanner::new(config, action, dims)?;
    Ok(Kind::Planner {
        obs: vec![0.0; dims.obs_dim],
        z: vec![0.0; dims.latent_dim],
        model: Box::new(model),
        prototype: Box::new(prototype),
        rows: Vec::new(),
        transitions: spec.transitions.expect("checked"),
    })
}

/// Loads an external policy: one input `[batch, obs_dim]` of raw observations, the
/// first output `[batch, action_dim]`. A graph whose declared widths differ is
/// refused with the tensor named.
pub fn load_onnx_policy(
    file: &Path,
    obs_dim: usize,
    action_dim: usize,
) -> anyhow::Result<std::sync::Arc<TypedRunnableModel>> {
    let at = || format!("the ONNX policy {}", file.display());
    let model = tract_onnx::onnx()
        .model_for_path(file)
        .with_context(|| format!("{}: not a readable ONNX graph", at()))?;
    if model.inputs.len() != 1 {
        bail!(
            "{}: has {} inputs; a policy takes one, the observation",
            at(),
            model.inputs.len()
        );
    }
    let input_name = model.node(model.input_outlets()?[0].node).name.clone();
    // The widths the graph declares, before the batch is fixed to 1.
    let declared = model
        .clone()
        .into_typed()
        .with_context(|| format!("{}: typing the graph", at()))?;
    let fact = declared.outlet_fact(declared.input_outlets()?[0])?;
    let dims: Vec<&TDim> = fact.shape.iter().collect();
    if dims.len() != 2 || dims[1].as_i64() != Some(obs_dim as i64) {
        bail!(
            "{}: input `{input_name}` has shape [{}]; expected [batch, {obs_dim}] (the plant's {obs_dim} observations)",
            at(),
            dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let model = model
        .with_input_fact(0, f32::fact([1, obs_dim]).into())?
        .into_optimized()
        .with_context(|| format!("{}: optimising for [1, {obs_dim}]", at()))?;
    let output = model.output_outlets()?[0];
    let output_name = model.node(output.node).name.clone();
    let out_fact = model.outlet_fact(output)?;
    let out_shape: Vec<usize> = out_fact
        .shape
        .as_concrete()
        .map(<[usize]>::to_vec)
        .unwrap_or_default();
    if out_shape != [1, action_dim] || out_fact.datum_type != f32::datum_type() {
        bail!(
            "{}: output `{output_name}` is {:?} {:?} for one observation; expected f32 [1, {action_dim}] (the plant's {action_dim} actions)",
            at(),
            out_fact.datum_type,
            out_shape
        );
    }
    model.into_runnable()
}

/// The path an ONNX policy resolves to (for reports).
pub fn onnx_path(evaluation: &Evaluation, spec: &PolicySpec) -> Option<PathBuf> {
    spec.file.as_deref().map(|f| evaluation.resolve(f))
}
