//! The world model over tract, behind the planner's [`WorldModel`] trait.
//!
//! tract loads and checks every graph. Each graph then runs on one of two executors:
//! - the allocation-free MLP executor ([`super::mlp`]), lowered once for the largest
//!   prepared batch; a call with `n` rows computes exactly `n` rows;
//! - tract itself, specialised once per prepared batch size (batch fixed, optimised,
//!   planned); a call with `n` rows runs the smallest prepared batch `>= n`, and only
//!   the first `n` output rows are copied out. tract allocates per call.
//!
//! [`Executor::Auto`] picks the MLP executor where it supports the graph and logs why
//! not where it does not.

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
use super::mlp::MlpGraph;
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
    /// Which executor runs the graphs.
    pub executor: Executor,
}

/// Which engine runs a package's graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Executor {
    /// The allocation-free MLP executor for every graph it supports (on one thread:
    /// with `threads > 1`, tract), tract for the others; each choice is logged.
    #[default]
    Auto,
    /// tract for every graph.
    Tract,
    /// The MLP executor for every graph; preparing fails on a graph it does not support.
    Mlp,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            batch_sizes: vec![1, 512],
            encoder_batch_sizes: vec![1],
            threads: 1,
            executor: Executor::Auto,
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
}

impl std::fmt::Debug for BatchPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchPlan")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// One graph, prepared for one executor.
#[derive(Debug)]
pub struct PreparedGraph {
    role: GraphRole,
    /// Prepared batch sizes, ascending.
    sizes: Vec<usize>,
    input_widths: Vec<usize>,
    output_widths: Vec<usize>,
    engine: Engine,
}

#[derive(Debug)]
enum Engine {
    /// tract plans, smallest batch first.
    Tract(Vec<BatchPlan>),
    /// The MLP executor, lowered for the largest batch.
    Mlp(Box<MlpGraph>),
}

impl PreparedGraph {
    /// Prepares `graph` for `executor`: the MLP executor lowered from `onnx` (the
    /// graph's ONNX file) where chosen and supported, else tract.
    pub fn prepare_with(
        graph: &CheckedGraph,
        onnx: &Path,
        batch_sizes: &[usize],
        threads: usize,
        executor: Executor,
    ) -> Result<PreparedGraph, PackageError> {
        let tract = || Self::prepare(graph, batch_sizes, threads);
        let name = graph.role.name();
        match executor {
            Executor::Tract => tract(),
            Executor::Auto if threads > 1 => {
                tracing::debug!(
                    graph = name,
                    threads,
                    "tract executor: the MLP executor runs on one thread"
                );
                tract()
            }
            Executor::Auto | Executor::Mlp => match Self::prepare_mlp(graph, onnx, batch_sizes) {
                Ok(prepared) => {
                    tracing::debug!(graph = name, "MLP executor");
                    Ok(prepared)
                }
                Err(PackageError::Unsupported { message, .. }) if executor == Executor::Auto => {
                    tracing::info!(graph = name, reason = %message, "tract executor: the MLP executor does not support this graph");
                    tract()
                }
                Err(e) => Err(e),
            },
        }
    }

    /// Lowers the ONNX graph for the MLP executor at the largest of `batch_sizes`.
    pub fn prepare_mlp(
        graph: &CheckedGraph,
        onnx: &Path,
        batch_sizes: &[usize],
    ) -> Result<PreparedGraph, PackageError> {
        let sizes = batch_sizes_sorted(batch_sizes)?;
        let (input_widths, output_widths) = io_widths(graph)?;
        let model = &graph.model;
        let names = |outlets: TractResult<&[OutletId]>, input: bool| -> Vec<String> {
            outlets
                .map(|o| o.to_vec())
                .unwrap_or_default()
                .iter()
                .map(|o| {
                    if input {
                        model.node(o.node).name.clone()
                    } else {
                        model
                            .outlet_label(*o)
                            .unwrap_or(&model.node(o.node).name)
                            .to_string()
                    }
                })
                .collect()
        };
        let input_names = names(model.input_outlets(), true);
        let output_names = names(model.output_outlets(), false);
        let bind = |names: &[String], widths: &[usize]| -> Vec<(String, usize)> {
            names.iter().cloned().zip(widths.iter().copied()).collect()
        };
        let inputs = bind(&input_names, &input_widths);
        let outputs = bind(&output_names, &output_widths);
        fn as_refs(v: &[(String, usize)]) -> Vec<(&str, usize)> {
            v.iter().map(|(n, w)| (n.as_str(), *w)).collect()
        }
        let max = *sizes
            .last()
            .expect("batch_sizes_sorted refuses an empty list");
        let mlp =
            MlpGraph::from_onnx(onnx, &as_refs(&inputs), &as_refs(&outputs), max).map_err(|e| {
                PackageError::Unsupported {
                    graph: graph.role.name(),
                    path: onnx.to_path_buf(),
                    message: e.0,
                }
            })?;
        Ok(PreparedGraph {
            role: graph.role,
            sizes,
            input_widths,
            output_widths,
            engine: Engine::Mlp(Box::new(mlp)),
        })
    }

    /// Fixes the batch of `graph` to each of `batch_sizes`, optimises and plans it with tract.
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
        let sizes = batch_sizes_sorted(batch_sizes)?;
        let model = &graph.model;
        let (input_shapes, output_shapes) = io_shapes(graph)?;
        let input_widths = widths(&input_shapes);
        let output_widths = widths(&output_shapes);
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
            let inputs = input_shapes
                .iter()
                .map(|tail| {
                    let shape: Vec<usize> =
                        std::iter::once(batch).chain(tail.iter().copied()).collect();
                    Arc::new(Tensor::zero::<f32>(&shape).expect("f32 zero tensor of a valid shape"))
                })
                .collect();
            plans.push(BatchPlan {
                batch,
                flops,
                state,
                inputs,
                input_widths: input_widths.clone(),
            });
        }
        Ok(PreparedGraph {
            role: graph.role,
            sizes,
            input_widths,
            output_widths,
            engine: Engine::Tract(plans),
        })
    }

    /// Largest prepared batch.
    pub fn max_batch(&self) -> usize {
        self.sizes.last().copied().unwrap_or(0)
    }

    /// Floating-point operations of one call at the prepared `batch` (2 per multiply-add):
    /// tract's count of its optimised graph, or the MLP executor's matrix products.
    pub fn flops(&self, batch: usize) -> Option<u64> {
        match &self.engine {
            Engine::Tract(plans) => plans.iter().find(|p| p.batch == batch).map(|p| p.flops),
            Engine::Mlp(mlp) => self
                .sizes
                .contains(&batch)
                .then(|| mlp.flops_per_row() * batch as u64),
        }
    }

    /// Whether the MLP executor runs this graph (else tract).
    pub fn uses_mlp_executor(&self) -> bool {
        matches!(self.engine, Engine::Mlp(_))
    }

    /// Role of the graph.
    pub fn role(&self) -> GraphRole {
        self.role
    }

    /// Prepared batch sizes, ascending.
    pub fn batch_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.sizes.iter().copied()
    }

    /// Runs `n` rows (`n` read from the first input). Inputs and outputs are in role order.
    ///
    /// Allocation: none on the MLP executor; on tract, tract allocates the intermediate
    /// and output tensors of each op (Augur's own inputs are reused). Time: `n` rows on
    /// the MLP executor; one optimised-plan run at the smallest prepared batch `>= n`
    /// on tract.
    pub fn run<const I: usize, const O: usize>(
        &mut self,
        inputs: [(&'static str, &[f32]); I],
        mut outputs: [(&'static str, &mut [f32]); O],
    ) -> Result<usize, ModelError> {
        let graph = self.role.name();
        let n = rows(graph, inputs[0].0, inputs[0].1.len(), self.input_widths[0])?;
        let max = self.max_batch();
        if n > max {
            return Err(ModelError::BatchTooLarge {
                graph,
                requested: n,
                max,
            });
        }
        let sides = [
            (
                &self.input_widths,
                inputs
                    .iter()
                    .map(|(t, d)| (*t, d.len()))
                    .collect::<TVec<_>>(),
            ),
            (
                &self.output_widths,
                outputs
                    .iter()
                    .map(|(t, d)| (*t, d.len()))
                    .collect::<TVec<_>>(),
            ),
        ];
        for (widths, buffers) in sides {
            for ((tensor, len), width) in buffers.into_iter().zip(widths) {
                if len != n * width {
                    return Err(ModelError::BadBuffer {
                        graph,
                        tensor,
                        len,
                        expected: n * width,
                    });
                }
            }
        }
        let plans = match &mut self.engine {
            Engine::Mlp(mlp) => {
                let ins: [&[f32]; I] = inputs.map(|(_, d)| d);
                let mut outs: [&mut [f32]; O] = outputs.each_mut().map(|(_, d)| &mut **d);
                mlp.run(n, &ins, &mut outs)
                    .map_err(|e| inference(graph, e))?;
                return Ok(n);
            }
            Engine::Tract(plans) => plans,
        };
        let plan = plans
            .iter_mut()
            .find(|p| p.batch >= n)
            .ok_or(ModelError::BatchTooLarge {
                graph,
                requested: n,
                max,
            })?;
        for (ix, (_, data)) in inputs.iter().enumerate() {
            let expected = n * plan.input_widths[ix];
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

/// `batch_sizes` ascending without duplicates; refuses an empty list or a zero.
fn batch_sizes_sorted(batch_sizes: &[usize]) -> Result<Vec<usize>, PackageError> {
    let mut sizes = batch_sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() || sizes[0] == 0 {
        return Err(PackageError::BatchSizes(batch_sizes.to_vec()));
    }
    Ok(sizes)
}

/// Values per row of each shape.
fn widths(shapes: &[Vec<usize>]) -> Vec<usize> {
    shapes.iter().map(|s| s.iter().product()).collect()
}

/// Widths of a checked graph's `[B, width]` inputs and outputs, in role order.
fn io_widths(graph: &CheckedGraph) -> Result<(Vec<usize>, Vec<usize>), PackageError> {
    let (inputs, outputs) = io_shapes(graph)?;
    Ok((widths(&inputs), widths(&outputs)))
}

/// Shapes after the batch of a checked graph's inputs and outputs, in role order.
fn io_shapes(graph: &CheckedGraph) -> Result<super::graph::IoShapes, PackageError> {
    let model = &graph.model;
    let widths = |outlets: TractResult<&[OutletId]>| -> TractResult<Vec<Vec<usize>>> {
        outlets?
            .iter()
            .map(|o| {
                model.outlet_fact(*o)?.shape[1..]
                    .iter()
                    .map(|d| Ok(d.to_i64()? as usize))
                    .collect()
            })
            .collect()
    };
    let err = |e: TractError| PackageError::Prepare {
        graph: graph.role.name(),
        path: graph.path.clone(),
        message: format!("{e:#}"),
    };
    Ok((
        widths(model.input_outlets()).map_err(err)?,
        widths(model.output_outlets()).map_err(err)?,
    ))
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
    encoder: Option<PreparedGraph>,
    filter: Option<PreparedGraph>,
    dynamics: PreparedGraph,
    value: Option<PreparedGraph>,
    policy: Option<PreparedGraph>,
    decoder: Option<PreparedGraph>,
    // Image models: the decoder reconstructs a frame rather than the vector, so it is
    // kept apart from the planner's `decode`.
    frame_decoder: Option<PreparedGraph>,
    image_dim: usize,
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
                let onnx = |spec: &super::manifest::GraphSpec| package.dir.join(&spec.file);
                package
                    .graph(role)
                    .zip(package.manifest.graphs.get(role))
                    .map(|(g, spec)| {
                        PreparedGraph::prepare_with(
                            g,
                            &onnx(spec),
                            sizes,
                            options.threads,
                            options.executor,
                        )
                    })
                    .transpose()
            };
        let manifest = package.manifest.clone();
        let missing = |role: GraphRole| PackageError::MissingGraph {
            graph: role.name(),
            path: package.dir.join("manifest.toml"),
        };
        // The manifest guarantees an encoder, or a `[state]` and a filter.
        let encoder = prepare(GraphRole::Encoder, &options.encoder_batch_sizes)?;
        let filter = prepare(GraphRole::Filter, &options.encoder_batch_sizes)?;
        if encoder.is_none() && filter.is_none() {
            return Err(missing(GraphRole::Encoder));
        }
        let dynamics = prepare(GraphRole::Dynamics, &options.batch_sizes)?
            .ok_or_else(|| missing(GraphRole::Dynamics))?;
        let decoder = prepare(GraphRole::Decoder, &options.encoder_batch_sizes)?;
        let (decoder, frame_decoder) = if manifest.image.is_empty() {
            (decoder, None)
        } else {
            (None, decoder)
        };
        let model = TractWorldModel {
            image_dim: manifest.image_dim(),
            frame_decoder,
            dims: ModelDims {
                obs_dim: manifest.obs_dim(),
                latent_dim: manifest.model.latent_dim,
                action_dim: manifest.action_dim(),
            },
            encoder,
            filter,
            dynamics,
            value: prepare(GraphRole::Value, &options.batch_sizes)?,
            policy: prepare(GraphRole::Policy, &options.batch_sizes)?,
            decoder,
            manifest,
        };
        // One line per load; each graph's executor choice (and why) is at debug.
        let executors: Vec<String> = GraphRole::ALL
            .iter()
            .filter_map(|&role| model.graph(role))
            .map(|g| {
                let engine = if g.uses_mlp_executor() {
                    "mlp"
                } else {
                    "tract"
                };
                format!("{}={engine}", g.role().name())
            })
            .collect();
        tracing::info!(
            model = %model.manifest.model.name,
            version = %model.manifest.model.version,
            executors = %executors.join(" "),
            "world model loaded"
        );
        Ok(model)
    }

    /// The model without its frame decoder, for a control loop that never decodes
    /// frames (the node decodes `~/imagined` on another thread with a
    /// [`FrameDecoder`]): its transposed convolutions' buffers are megabytes.
    pub fn without_frame_decoder(mut self) -> TractWorldModel {
        self.frame_decoder = None;
        self
    }

    /// Whether an image model can show what it imagines: it has a decoder from latents
    /// to frames ([`TractWorldModel::decode_frame`]).
    pub fn has_frame_decoder(&self) -> bool {
        self.frame_decoder.is_some()
    }

    /// An image model's decoder: latents `z[n, L]` to the newest frame of its first
    /// image input, `frame[n, C * H * W]`, normalised as the encoder sees it.
    pub fn decode_frame(&mut self, z: &[f32], frame: &mut [f32]) -> Result<(), ModelError> {
        let graph = self
            .frame_decoder
            .as_mut()
            .ok_or(ModelError::MissingGraph("decoder"))?;
        graph.run([("z", z)], [("frame", frame)]).map(drop)
    }

    /// The package's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The prepared graph for `role`, if the package has it.
    pub fn graph(&self, role: GraphRole) -> Option<&PreparedGraph> {
        match role {
            GraphRole::Encoder => self.encoder.as_ref(),
            GraphRole::Filter => self.filter.as_ref(),
            GraphRole::Dynamics => Some(&self.dynamics),
            GraphRole::Value => self.value.as_ref(),
            GraphRole::Policy => self.policy.as_ref(),
            GraphRole::Decoder => self.decoder.as_ref().or(self.frame_decoder.as_ref()),
        }
    }

    /// The latent a plan starts from when all there is is one normalised observation
    /// per row: its encoding, or for a recurrent model the filter's first step
    /// (`is_first` = 1). For benchmarks and tools; allocates.
    pub fn first_state(&mut self, obs: &[f32], z: &mut [f32]) -> Result<(), ModelError> {
        if !self.is_recurrent() {
            return self.encode(obs, z);
        }
        let n = rows("filter", "z", z.len(), self.dims.latent_dim)?;
        let action = vec![0.0; n * self.dims.action_dim];
        let is_first = vec![1.0; n];
        let z_prev = vec![0.0; z.len()];
        self.filter(&z_prev, &action, obs, &is_first, z)
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

/// An image model's latent-to-frame decoder on its own, for a thread other than the
/// control thread (the node's `~/imagined`): decoding a plan's frames is convolution
/// work the control cycle should not carry.
#[derive(Debug)]
pub struct FrameDecoder {
    graph: PreparedGraph,
    image: super::manifest::ImageInput,
    latent_dim: usize,
}

impl FrameDecoder {
    /// Most latents decoded in one call.
    pub const MAX_ROWS: usize = 16;

    /// The decoder of the image model in `dir`; `None` for a vector model or one
    /// without a decoder. One tract thread: it runs beside the control thread.
    pub fn load(dir: &Path) -> Result<Option<FrameDecoder>, PackageError> {
        let package = ModelPackage::open(dir)?;
        let (Some(image), Some(graph)) = (
            package.manifest.image.first().cloned(),
            package.graph(GraphRole::Decoder),
        ) else {
            return Ok(None);
        };
        // One row at a time: a transposed convolution's intermediate tensors at 16
        // rows are megabytes each, and the frames are decoded a few times a second.
        let graph = PreparedGraph::prepare(graph, &[1], 1)?;
        Ok(Some(FrameDecoder {
            graph,
            image,
            latent_dim: package.manifest.model.latent_dim,
        }))
    }

    /// The image input whose newest frame the decoder reconstructs.
    pub fn image(&self) -> &super::manifest::ImageInput {
        &self.image
    }

    /// Latent width.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Decodes latents `z[n, latent_dim]` (n at most [`FrameDecoder::MAX_ROWS`]) into
    /// `frames[n, channels * height * width]`, normalised as the encoder sees them.
    pub fn decode(&mut self, z: &[f32], frames: &mut [f32]) -> Result<(), ModelError> {
        let l = self.latent_dim.max(1);
        let frame_len = self.image.frame_len();
        let rows = z.len() / l;
        if rows > Self::MAX_ROWS || z.len() != rows * l || frames.len() != rows * frame_len {
            return Err(ModelError::BadBuffer {
                graph: "decoder",
                tensor: "frame",
                len: frames.len(),
                expected: rows.min(Self::MAX_ROWS) * frame_len,
            });
        }
        for (z, frame) in z.chunks_exact(l).zip(frames.chunks_exact_mut(frame_len)) {
            self.graph.run([("z", z)], [("frame", frame)])?;
        }
        Ok(())
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
        let graph = self
            .encoder
            .as_mut()
            .ok_or(ModelError::MissingGraph("encoder"))?;
        graph.run([("obs", obs)], [("z", z)]).map(drop)
    }

    fn is_recurrent(&self) -> bool {
        self.filter.is_some()
    }

    fn image_dim(&self) -> usize {
        self.image_dim
    }

    fn encode_image(
        &mut self,
        image: &[f32],
        obs: &[f32],
        z: &mut [f32],
    ) -> Result<(), ModelError> {
        let with_vector = self.dims.obs_dim > 0;
        let graph = self
            .encoder
            .as_mut()
            .filter(|_| self.image_dim > 0)
            .ok_or(ModelError::MissingGraph("image encoder"))?;
        if with_vector {
            graph
                .run([("image", image), ("obs", obs)], [("z", z)])
                .map(drop)
        } else {
            graph.run([("image", image)], [("z", z)]).map(drop)
        }
    }

    fn filter(
        &mut self,
        z_prev: &[f32],
        action_prev: &[f32],
        obs: &[f32],
        is_first: &[f32],
        z: &mut [f32],
    ) -> Result<(), ModelError> {
        let graph = self
            .filter
            .as_mut()
            .ok_or(ModelError::MissingGraph("filter"))?;
        graph
            .run(
                [
                    ("z_prev", z_prev),
                    ("action_prev", action_prev),
                    ("obs", obs),
                    ("is_first", is_first),
                ],
                [("z", z)],
            )
            .map(drop)
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
