//! The world model executed by tract, behind the planner's [`WorldModel`] trait.
//!
//! Each graph is specialised once per prepared batch size (batch fixed, optimised,
//! planned). A call with `n` rows runs the smallest prepared batch `>= n`; the
//! input tensors are allocated once and refilled in place, and only the first `n`
//! output rows are copied out.

use std::path::Path;
use std::sync::Arc;

use augur_planner::model::rows;
use augur_planner::{ModelDims, ModelError, WorldModel};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::Cost;
use tract_onnx::tract_core::runtime::RunOptions;

use super::error::PackageError;
use super::graph::CheckedGraph;
use super::manifest::{GraphRole, Manifest};
use super::package::ModelPackage;

/// How to prepare a package for execution.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareOptions {
    /// Batch sizes to specialise `dynamics`, `value` and `policy` for.
    pub batch_sizes: Vec<usize>,
    /// Batch sizes to specialise `encoder` and `decoder` for.
    pub encoder_batch_sizes: Vec<usize>,
    /// Threads for tract's matrix products (1: run on the caller's thread only).
    pub threads: usize,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            batch_sizes: vec![1, 512],
            encoder_batch_sizes: vec![1],
            threads: 1,
        }
    }
}

/// One graph specialised for one batch size, with its reusable input tensors.
struct BatchPlan {
    batch: usize,
    /// Floating-point operations of one run (2 per multiply-add).
    flops: u64,
    state: TypedSimpleState,
    /// Input tensors `[batch, width]`, refilled in place before each call.
    inputs: Vec<Arc<Tensor>>,
    input_widths: Vec<usize>,
    output_widths: Vec<usize>,
}

impl std::fmt::Debug for BatchPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchPlan")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// One graph's plans, smallest batch first.
#[derive(Debug)]
pub struct PreparedGraph {
    role: GraphRole,
    plans: Vec<BatchPlan>,
}

impl PreparedGraph {
    /// Fixes the batch of `graph` to each of `batch_sizes`, optimises and plans it.
    pub fn prepare(
        graph: &CheckedGraph,
        batch_sizes: &[usize],
        threads: usize,
    ) -> Result<PreparedGraph, PackageError> {
        let prepare_err = |e: TractError| PackageError::Prepare {
            graph: graph.role.name(),
            path: graph.path.clone(),
            message: format!("{e:#}"),
        };
        let mut sizes = batch_sizes.to_vec();
        sizes.sort_unstable();
        sizes.dedup();
        if sizes.is_empty() || sizes[0] == 0 {
            return Err(PackageError::BatchSizes(batch_sizes.to_vec()));
        }
        let model = &graph.model;
        let widths = |outlets: &[OutletId]| -> TractResult<Vec<usize>> {
            outlets
                .iter()
                .map(|o| Ok(model.outlet_fact(*o)?.shape[1].to_i64()? as usize))
                .collect()
        };
        let input_widths =
            widths(model.input_outlets().map_err(prepare_err)?).map_err(prepare_err)?;
        let output_widths =
            widths(model.output_outlets().map_err(prepare_err)?).map_err(prepare_err)?;
        // Every symbol in the graph is the batch (the loader checked that the only
        // symbolic dims are the leading ones of rank-2 I/O).
        let symbols: Vec<Symbol> = model
            .input_outlets()
            .map_err(prepare_err)?
            .iter()
            .filter_map(|o| {
                model.outlet_fact(*o).ok()?.shape[0]
                    .symbols()
                    .into_iter()
                    .next()
            })
            .collect();

        let mut plans = Vec::with_capacity(sizes.len());
        for &batch in &sizes {
            let subs = symbols
                .iter()
                .map(|s| (s.clone(), TDim::from(batch as i64)))
                .collect();
            let mut fixed = model.set_symbols(&subs).map_err(prepare_err)?;
            super::rewrite::use_row_softmax(&mut fixed).map_err(prepare_err)?;
            let flops = flops(&fixed).map_err(prepare_err)?;
            let run_options = RunOptions {
                executor: executor(threads),
                ..RunOptions::default()
            };
            let plan = fixed
                .into_optimized()
                .map_err(prepare_err)?
                .into_runnable_with_options(&run_options)
                .map_err(prepare_err)?;
            let state = TypedSimpleState::new(&plan).map_err(prepare_err)?;
            let inputs = input_widths
                .iter()
                .map(|&w| {
                    Arc::new(
                        Tensor::zero::<f32>(&[batch, w]).expect("f32 zero tensor of a valid shape"),
                    )
                })
                .collect();
            plans.push(BatchPlan {
                batch,
                flops,
                state,
                inputs,
                input_widths: input_widths.clone(),
                output_widths: output_widths.clone(),
            });
        }
        Ok(PreparedGraph {
            role: graph.role,
            plans,
        })
    }

    /// Largest prepared batch.
    pub fn max_batch(&self) -> usize {
        self.plans.last().map_or(0, |p| p.batch)
    }

    /// Floating-point operations of one call at the prepared `batch` (2 per multiply-add).
    pub fn flops(&self, batch: usize) -> Option<u64> {
        self.plans
            .iter()
            .find(|p| p.batch == batch)
            .map(|p| p.flops)
    }

    /// Role of the graph.
    pub fn role(&self) -> GraphRole {
        self.role
    }

    /// Prepared batch sizes, ascending.
    pub fn batch_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.plans.iter().map(|p| p.batch)
    }

    /// Runs `n` rows (`n` read from the first input). Inputs and outputs are in role order.
    ///
    /// Allocation: tract allocates the intermediate and output tensors of each op;
    /// Augur's own inputs are reused. Time: one optimised-plan run at the smallest
    /// prepared batch `>= n`.
    pub fn run<const I: usize, const O: usize>(
        &mut self,
        inputs: [(&'static str, &[f32]); I],
        outputs: [(&'static str, &mut [f32]); O],
    ) -> Result<usize, ModelError> {
        let graph = self.role.name();
        let first = &self.plans[0];
        let n = rows(graph, inputs[0].0, inputs[0].1.len(), first.input_widths[0])?;
        let max = self.max_batch();
        let plan =
            self.plans
                .iter_mut()
                .find(|p| p.batch >= n)
                .ok_or(ModelError::BatchTooLarge {
                    graph,
                    requested: n,
                    max,
                })?;
        for (ix, (tensor, data)) in inputs.iter().enumerate() {
            let expected = n * plan.input_widths[ix];
            if data.len() != expected {
                return Err(ModelError::BadBuffer {
                    graph,
                    tensor,
                    len: data.len(),
                    expected,
                });
            }
            // The plan drops its references at the end of every run, so this is the
            // only owner here; `get_mut` failing would mean tract kept an input alive.
            let slot = Arc::get_mut(&mut plan.inputs[ix])
                .ok_or_else(|| inference(graph, "input tensor still shared"))?;
            let mut plain = slot
                .try_as_plain_ram_mut()
                .map_err(|e| inference(graph, e))?;
            let view = plain
                .as_slice_mut::<f32>()
                .map_err(|e| inference(graph, e))?;
            view[..expected].copy_from_slice(data);
        }
        for (ix, (tensor, data)) in outputs.iter().enumerate() {
            let expected = n * plan.output_widths[ix];
            if data.len() != expected {
                return Err(ModelError::BadBuffer {
                    graph,
                    tensor,
                    len: data.len(),
                    expected,
                });
            }
        }
        let feed: TVec<TValue> = plan
            .inputs
            .iter()
            .map(|t| TValue::from_const(t.clone()))
            .collect();
        let results = plan.state.run(feed).map_err(|e| inference(graph, e))?;
        for ((_, out), value) in outputs.into_iter().zip(results.iter()) {
            let len = out.len();
            let plain = value.try_as_plain_ram().map_err(|e| inference(graph, e))?;
            let src = plain.as_slice::<f32>().map_err(|e| inference(graph, e))?;
            out.copy_from_slice(&src[..len]);
        }
        Ok(n)
    }
}

/// Counts 2 FLOPs per multiply-add, plus divisions, over every node of a fixed-batch graph.
fn flops(model: &TypedModel) -> TractResult<u64> {
    let mut total = 0u64;
    for node in model.eval_order()? {
        let node = model.node(node);
        let inputs = model.node_input_facts(node.id)?;
        for (cost, count) in node.op.cost(&inputs)? {
            let count = count.to_i64()? as u64;
            total += match cost {
                Cost::FMA(_) => 2 * count,
                Cost::Div(_) => count,
                _ => 0,
            };
        }
    }
    Ok(total)
}

fn executor(threads: usize) -> Option<tract_onnx::prelude::tract_linalg::multithread::Executor> {
    (threads > 1)
        .then(|| tract_onnx::prelude::tract_linalg::multithread::Executor::multithread(threads))
}

fn inference(graph: &'static str, e: impl std::fmt::Display) -> ModelError {
    ModelError::Inference {
        graph,
        message: e.to_string(),
    }
}

/// A model package loaded and prepared for execution with tract.
#[derive(Debug)]
pub struct TractWorldModel {
    manifest: Manifest,
    dims: ModelDims,
    encoder: PreparedGraph,
    dynamics: PreparedGraph,
    value: Option<PreparedGraph>,
    policy: Option<PreparedGraph>,
    decoder: Option<PreparedGraph>,
}

impl TractWorldModel {
    /// Opens the package in `dir` and prepares every graph it has.
    pub fn load(dir: &Path, options: &PrepareOptions) -> Result<TractWorldModel, PackageError> {
        let package = ModelPackage::open(dir)?;
        Self::from_package(&package, options)
    }

    /// Prepares an opened package.
    pub fn from_package(
        package: &ModelPackage,
        options: &PrepareOptions,
    ) -> Result<TractWorldModel, PackageError> {
        let prepare =
            |role: GraphRole, sizes: &[usize]| -> Result<Option<PreparedGraph>, PackageError> {
                package
                    .graph(role)
                    .map(|g| PreparedGraph::prepare(g, sizes, options.threads))
                    .transpose()
            };
        let manifest = package.manifest.clone();
        let missing = |role: GraphRole| PackageError::MissingGraph {
            graph: role.name(),
            path: package.dir.join("manifest.toml"),
        };
        let encoder = prepare(GraphRole::Encoder, &options.encoder_batch_sizes)?
            .ok_or_else(|| missing(GraphRole::Encoder))?;
        let dynamics = prepare(GraphRole::Dynamics, &options.batch_sizes)?
            .ok_or_else(|| missing(GraphRole::Dynamics))?;
        Ok(TractWorldModel {
            dims: ModelDims {
                obs_dim: manifest.obs_dim(),
                latent_dim: manifest.model.latent_dim,
                action_dim: manifest.action_dim(),
            },
            encoder,
            dynamics,
            value: prepare(GraphRole::Value, &options.batch_sizes)?,
            policy: prepare(GraphRole::Policy, &options.batch_sizes)?,
            decoder: prepare(GraphRole::Decoder, &options.encoder_batch_sizes)?,
            manifest,
        })
    }

    /// The package's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The prepared graph for `role`, if the package has it.
    pub fn graph(&self, role: GraphRole) -> Option<&PreparedGraph> {
        match role {
            GraphRole::Encoder => Some(&self.encoder),
            GraphRole::Dynamics => Some(&self.dynamics),
            GraphRole::Value => self.value.as_ref(),
            GraphRole::Policy => self.policy.as_ref(),
            GraphRole::Decoder => self.decoder.as_ref(),
        }
    }

    /// Writes `(raw - mean) / std` for each observation feature; `raw` and `out` are `[n, O]`.
    pub fn normalise_observation(&self, raw: &[f32], out: &mut [f32]) {
        let o = self.dims.obs_dim;
        for (raw_row, out_row) in raw.chunks_exact(o).zip(out.chunks_exact_mut(o)) {
            for ((x, y), f) in raw_row
                .iter()
                .zip(out_row.iter_mut())
                .zip(&self.manifest.observation)
            {
                *y = (x - f.mean) / f.std;
            }
        }
    }
}

impl WorldModel for TractWorldModel {
    fn dims(&self) -> ModelDims {
        self.dims
    }

    fn max_batch(&self) -> usize {
        let graphs = [
            Some(&self.dynamics),
            self.value.as_ref(),
            self.policy.as_ref(),
        ];
        graphs
            .into_iter()
            .flatten()
            .map(PreparedGraph::max_batch)
            .min()
            .unwrap_or(0)
    }

    fn has_value(&self) -> bool {
        self.value.is_some()
    }

    fn has_policy(&self) -> bool {
        self.policy.is_some()
    }

    fn has_decoder(&self) -> bool {
        self.decoder.is_some()
    }

    fn decode(&mut self, z: &[f32], obs: &mut [f32]) -> Result<(), ModelError> {
        let graph = self
            .decoder
            .as_mut()
            .ok_or(ModelError::MissingGraph("decoder"))?;
        graph.run([("z", z)], [("obs", obs)]).map(drop)
    }

    fn encode(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        self.encoder.run([("obs", obs)], [("z", z)]).map(drop)
    }

    fn step(
        &mut self,
        z: &[f32],
        action: &[f32],
        z_next: &mut [f32],
        reward: &mut [f32],
    ) -> Result<(), ModelError> {
        self.dynamics
            .run(
                [("z", z), ("action", action)],
                [("z_next", z_next), ("reward", reward)],
            )
            .map(drop)
    }

    fn value(&mut self, z: &[f32], value: &mut [f32]) -> Result<(), ModelError> {
        let graph = self
            .value
            .as_mut()
            .ok_or(ModelError::MissingGraph("value"))?;
        graph.run([("z", z)], [("value", value)]).map(drop)
    }

    fn policy(
        &mut self,
        z: &[f32],
        mean: &mut [f32],
        log_std: &mut [f32],
    ) -> Result<(), ModelError> {
        let graph = self
            .policy
            .as_mut()
            .ok_or(ModelError::MissingGraph("policy"))?;
        graph
            .run([("z", z)], [("mean", mean), ("log_std", log_std)])
            .map(drop)
    }
}
