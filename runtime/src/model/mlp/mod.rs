//! The allocation-free executor for the MLP graphs Augur's model packages contain.
//!
//! A graph is lowered once from its ONNX file ([`lower`], after `fusion`) into a list
//! of [`step`]s over buffers sized for a maximum row count and shared by lifetime
//! ([`buffers`]): dense layers on Augur's register-tiled kernel ([`matmul`], weights
//! reordered at load, tract-linalg's kernels on CPUs without AVX2/AVX-512/NEON), 2-D
//! convolutions ([`conv`]), LayerNorm (fused with a following
//! Mish), Mish (`x·tanh(softplus(x))` in one pass), softmax, and elementwise ops. A
//! call with `n` rows runs every step over the first `n` rows only and allocates
//! nothing.
//!
//! tract stays the loader, validator and fallback: a graph outside this op set is
//! refused with the reason, and the world model then runs it with tract.

pub mod buffers;
pub mod conv;
mod fusion;
pub mod kernels;
pub mod lower;
pub mod matmul;
pub mod step;
mod tile;

use std::path::Path;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::ensure;

use self::lower::Lowered;
use self::step::{step_buffers, Operand, Slot, Step};

/// A graph compiled for the fast executor.
#[derive(Debug)]
pub struct MlpGraph {
    steps: Vec<Step>,
    /// `block · width` floats each; a buffer is reused once the tensor in it is
    /// dead (see [`buffers::share_buffers`]).
    buffers: Vec<Tensor>,
    inputs: Vec<(Slot, usize)>,
    outputs: Vec<(Slot, usize)>,
    max_rows: usize,
    /// Rows per block (buffers hold this many).
    block: usize,
    flops_per_row: u64,
}

/// Rows a call runs through the whole graph at a time. A block's activations (64
/// rows of 384 floats: 96 KiB) stay in L2 from one layer to the next beside the
/// layer's weights; a 512-row batch's do not. On the 2-core AVX-512 bench machine a
/// 512-row bench-1m dynamics call took 15.5 ms in one pass and 9.5-11 ms in blocks of
/// 32 to 128 rows (docs/benchmarks.md).
pub const ROW_BLOCK: usize = 64;

/// Rows the buffers hold for a graph lowered for `max_rows`.
fn block_rows(max_rows: usize) -> usize {
    max_rows.min(ROW_BLOCK)
}

/// Why a graph cannot run on the fast executor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

impl MlpGraph {
    /// Lowers the ONNX file at `path` for up to `max_rows` rows; `inputs` and
    /// `outputs` are the `[B, width]` tensors to bind, by name, in call order.
    pub fn from_onnx(
        path: &Path,
        inputs: &[(&str, usize)],
        outputs: &[(&str, usize)],
        max_rows: usize,
    ) -> Result<MlpGraph, Unsupported> {
        let block = block_rows(max_rows);
        let proto = tract_onnx::onnx()
            .proto_model_for_path(path)
            .map_err(|e| Unsupported(format!("{e:#}")))?;
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| Unsupported("the model has no graph".into()))?;
        let Lowered {
            steps,
            buffer_widths,
            inputs,
            outputs,
            flops_per_row,
        } = lower::lower(graph, &path.to_string_lossy(), inputs, outputs, block)
            .map_err(Unsupported)?;
        let buffers = buffer_widths
            .iter()
            .map(|&w| Tensor::zero_aligned::<f32>(&[block.max(1) * w], 64))
            .collect::<TractResult<Vec<_>>>()
            .map_err(|e| Unsupported(format!("{e:#}")))?;
        // Every step reads and writes distinct buffers: what `run`'s slices rely on.
        for step in &steps {
            let (src, dst) = step_buffers(step);
            if src.contains(&dst) {
                return Err(Unsupported("a step writes the buffer it reads".into()));
            }
        }
        Ok(MlpGraph {
            steps,
            buffers,
            inputs,
            outputs,
            max_rows,
            block,
            flops_per_row,
        })
    }

    /// Largest row count a call may ask for.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Floating-point operations of the matrix products per row (2 per multiply-add).
    pub fn flops_per_row(&self) -> u64 {
        self.flops_per_row
    }

    /// Names of the matrix kernels the dense layers use, in step order.
    pub fn kernel_names(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Linear { layer, .. } => Some(layer.kernel_name()),
                Step::Conv { conv, .. } => Some(conv.kernel_name()),
                _ => None,
            })
            .collect()
    }

    /// Runs `n` rows: `inputs[i]` holds `n · width_i` floats, and so does `outputs[j]`.
    /// The caller checks the lengths and `n <= max_rows` (asserted here).
    ///
    /// The rows go through the whole graph in blocks of at most [`ROW_BLOCK`], so a
    /// block's activations stay in cache from one layer to the next; rows are
    /// independent, so the results are the same bits as one pass.
    ///
    /// Allocation: none. Time: O(n · flops_per_row), one pass per step and block.
    pub fn run(
        &mut self,
        n: usize,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
    ) -> TractResult<()> {
        ensure!(n <= self.max_rows, "{n} rows for at most {}", self.max_rows);
        ensure!(inputs.len() == self.inputs.len() && outputs.len() == self.outputs.len());
        for (data, &(_, width)) in inputs.iter().zip(&self.inputs) {
            ensure!(
                data.len() == n * width,
                "input of {} for {n} rows",
                data.len()
            );
        }
        for (data, &(_, width)) in outputs.iter().zip(&self.outputs) {
            ensure!(
                data.len() == n * width,
                "output of {} for {n} rows",
                data.len()
            );
        }
        let block = self.block.max(1);
        let mut first = 0;
        while first < n {
            let rows = block.min(n - first);
            self.run_block(first, rows, inputs, outputs)?;
            first += rows;
        }
        Ok(())
    }

    /// Rows `first..first + rows` (at most one block) through every step.
    fn run_block(
        &mut self,
        first: usize,
        rows: usize,
        inputs: &[&[f32]],
        outputs: &mut [&mut [f32]],
    ) -> TractResult<()> {
        for (data, &(slot, width)) in inputs.iter().zip(&self.inputs) {
            // Input buffers are contiguous, `width` wide.
            let mut plain = self.buffers[slot.buf].try_as_plain_ram_mut()?;
            plain.as_slice_mut::<f32>()?[..rows * width]
                .copy_from_slice(&data[first * width..(first + rows) * width]);
        }
        // Taking the list out (no allocation) lets each step mutate its layer while
        // reading the buffers through `self`.
        let mut steps = std::mem::take(&mut self.steps);
        let result = steps.iter_mut().try_for_each(|step| self.step(step, rows));
        self.steps = steps;
        result?;
        for (data, &(slot, width)) in outputs.iter_mut().zip(&self.outputs) {
            let plain = self.buffers[slot.buf].try_as_plain_ram()?;
            let src = plain.as_slice::<f32>()?;
            let out = &mut data[first * width..(first + rows) * width];
            for (r, row) in out.chunks_exact_mut(width).enumerate() {
                let at = slot.offset + r * slot.stride;
                row.copy_from_slice(&src[at..at + width]);
            }
        }
        Ok(())
    }

    /// Rows `0..n` of `slot`, `width` wide, as one slice from the first row's start to
    /// the last row's end.
    fn span(&self, slot: Slot, n: usize, width: usize) -> &[f32] {
        let len = if n == 0 {
            0
        } else {
            (n - 1) * slot.stride + width
        };
        let t = &self.buffers[slot.buf];
        // SAFETY: the buffer holds `block · stride` floats from `offset` (checked at
        // lowering: the slot's rows fit their buffer), and `n <= block`.
        unsafe { std::slice::from_raw_parts(t.as_ptr_unchecked::<f32>().add(slot.offset), len) }
    }

    /// Like [`Self::span`], writable.
    ///
    /// # Safety
    /// No other live slice may cover `slot.buf` (steps never read the buffer they write).
    #[allow(clippy::mut_from_ref)]
    unsafe fn span_mut(&self, slot: Slot, n: usize, width: usize) -> &mut [f32] {
        let len = if n == 0 {
            0
        } else {
            (n - 1) * slot.stride + width
        };
        let t = &self.buffers[slot.buf];
        unsafe {
            std::slice::from_raw_parts_mut(
                (t.as_ptr_unchecked::<f32>() as *mut f32).add(slot.offset),
                len,
            )
        }
    }

    /// Runs one step over rows `0..n`. Allocation: none.
    fn step(&self, step: &mut Step, n: usize) -> TractResult<()> {
        use kernels::*;
        // Rows processed as one slice when both sides are contiguous, else row by row.
        fn rows(
            src: Slot,
            dst: Slot,
            n: usize,
            width: usize,
            graph: &MlpGraph,
            mut f: impl FnMut(&[f32], &mut [f32]),
        ) {
            // SAFETY: `dst.buf` differs from `src.buf` (checked at construction).
            let (x, y) = (graph.span(src, n, width), unsafe {
                graph.span_mut(dst, n, width)
            });
            if src.stride == width && dst.stride == width {
                f(x, y);
            } else {
                for r in 0..n {
                    let (a, b) = (r * src.stride, r * dst.stride);
                    f(&x[a..a + width], &mut y[b..b + width]);
                }
            }
        }
        let graph = self;
        match step {
            Step::Copy { src, dst, width } => {
                rows(*src, *dst, n, *width, graph, |x, y| y.copy_from_slice(x))
            }
            Step::Linear {
                layer,
                src,
                dst,
                lead,
            } => {
                let input = graph.span(*src, n, layer.k * *lead);
                let (rows_in, stride_in) = if *lead > 1 {
                    (n * *lead, layer.k)
                } else {
                    (n, src.stride)
                };
                let out_stride = if *lead > 1 { layer.m } else { dst.stride };
                // SAFETY: `input` covers the rows read; the output buffer holds
                // `block · lead` rows of `m` from `dst.offset`.
                unsafe {
                    layer.run(
                        input.as_ptr(),
                        stride_in,
                        rows_in,
                        &graph.buffers[dst.buf],
                        dst.offset,
                        out_stride,
                    )?;
                }
                crate::model::rewrite::clear_upper_vector_state();
            }
            Step::Unary { f, src, dst, width } => {
                rows(*src, *dst, n, *width, graph, |x, y| unary(*f, x, y))
            }
            Step::Binary {
                f,
                flipped,
                a,
                b,
                dst,
                width,
            } => match b {
                Operand::Rows(b) => {
                    let w = *width;
                    let (x, z) = (graph.span(*a, n, w), graph.span(*b, n, w));
                    // SAFETY: `dst.buf` differs from both operands' (checked at construction).
                    let y = unsafe { graph.span_mut(*dst, n, w) };
                    if a.stride == w && b.stride == w && dst.stride == w {
                        binary(*f, *flipped, x, z, y);
                    } else {
                        for r in 0..n {
                            let (i, j, o) = (r * a.stride, r * b.stride, r * dst.stride);
                            binary(*f, *flipped, &x[i..i + w], &z[j..j + w], &mut y[o..o + w]);
                        }
                    }
                }
                Operand::Block(c) => {
                    let w = *width;
                    // One row at a time against the constant row.
                    // SAFETY: `dst.buf` differs from `a.buf` (checked at construction).
                    let (x, y) = (graph.span(*a, n, w), unsafe { graph.span_mut(*dst, n, w) });
                    for r in 0..n {
                        let (i, o) = (r * a.stride, r * dst.stride);
                        binary(*f, *flipped, &x[i..i + w], c, &mut y[o..o + w]);
                    }
                }
            },
            Step::LayerNorm {
                src,
                dst,
                width,
                scale,
                bias,
                epsilon,
                mish,
            } => rows(*src, *dst, n, *width, graph, |x, y| {
                layer_norm(x, scale, bias, *epsilon, *mish, y)
            }),
            Step::Softmax {
                src,
                dst,
                width,
                group,
            } => rows(*src, *dst, n, *width, graph, |x, y| softmax(x, *group, y)),
            Step::Conv { conv, src, dst } => {
                let g = conv.geometry;
                let in_len = g.cin * g.h * g.w;
                let x = graph.span(*src, n, in_len);
                for r in 0..n {
                    // SAFETY: `dst.buf` differs from `src.buf` (checked at construction)
                    // and each row's `cout·positions` outputs lie inside its slot.
                    unsafe {
                        conv.run(
                            &x[r * src.stride..][..in_len],
                            &graph.buffers[dst.buf],
                            dst.offset + r * dst.stride,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

// SAFETY: the raw pointers inside (tract-linalg's packed buffers and scratch) point
// into memory this value owns; nothing is shared with another thread.
unsafe impl Send for MlpGraph {}
