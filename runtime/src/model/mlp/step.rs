//! The executor's step list: what each step computes and which buffer rows it reads
//! and writes. [`super::lower`] produces it, [`super::buffers`] packs its buffers,
//! and [`super::MlpGraph`] runs it.

use super::conv::Conv;
use super::kernels::{Binary, Unary};
use super::matmul::Linear;

/// Where an activation's batch rows live: row `r` starts at `buffer[offset + r·stride]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index of the buffer.
    pub buf: usize,
    /// First element of row 0.
    pub offset: usize,
    /// Elements from one row to the next.
    pub stride: usize,
}

/// One step of the executor. Every step reads and writes different buffers.
#[derive(Debug)]
pub enum Step {
    /// Copies `width` floats per row.
    Copy {
        /// Source rows.
        src: Slot,
        /// Destination rows.
        dst: Slot,
        /// Floats per row.
        width: usize,
    },
    /// A dense layer; `lead` matrix rows per batch row (contiguous when above 1).
    Linear {
        /// The prepared layer.
        layer: Box<Linear>,
        /// Input rows.
        src: Slot,
        /// Output rows.
        dst: Slot,
        /// Matrix rows per batch row.
        lead: usize,
    },
    /// `dst = f(src)`.
    Unary {
        /// The function.
        f: Unary,
        /// Input rows.
        src: Slot,
        /// Output rows.
        dst: Slot,
        /// Floats per row.
        width: usize,
    },
    /// `dst = a ∘ b` (or `b ∘ a` when `flipped`), `b` a row or a constant block.
    Binary {
        /// The function.
        f: Binary,
        /// Operand order.
        flipped: bool,
        /// Left rows.
        a: Slot,
        /// Right operand.
        b: Operand,
        /// Output rows.
        dst: Slot,
        /// Floats per row.
        width: usize,
    },
    /// Layer normalisation over groups of `scale.len()`, then Mish when `mish`.
    LayerNorm {
        /// Input rows.
        src: Slot,
        /// Output rows.
        dst: Slot,
        /// Floats per row.
        width: usize,
        /// Per-feature scale.
        scale: Vec<f32>,
        /// Per-feature bias.
        bias: Vec<f32>,
        /// Added to the variance.
        epsilon: f32,
        /// Apply Mish after.
        mish: bool,
    },
    /// A 2-D convolution, per batch row, planar in and out ([`Conv`]).
    Conv {
        /// The convolution and its engine.
        conv: Box<Conv>,
        /// Input rows (`cin·h·w` each).
        src: Slot,
        /// Output rows (`cout·ho·wo` each).
        dst: Slot,
    },
    /// Softmax over groups of `group`.
    Softmax {
        /// Input rows.
        src: Slot,
        /// Output rows.
        dst: Slot,
        /// Floats per row.
        width: usize,
        /// Softmax width.
        group: usize,
    },
}

/// Where a convolution's window falls: an input of `cin x h x w` (planar, one batch
/// row), a `cout x cin x kh x kw` kernel, strides and leading zero padding, an output
/// of `cout x ho x wo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub ho: usize,
    pub wo: usize,
}

impl ConvGeometry {
    /// Output positions.
    pub fn positions(&self) -> usize {
        self.ho * self.wo
    }
    /// Values of one window: the matrix product's `k`.
    pub fn window(&self) -> usize {
        self.cin * self.kh * self.kw
    }
}

/// Right operand of a binary step.
#[derive(Debug)]
pub enum Operand {
    /// Another activation's rows.
    Rows(Slot),
    /// One constant row, the same for every batch row.
    Block(Vec<f32>),
}

/// Buffers a step reads, and the one it writes.
pub fn step_buffers(step: &Step) -> (Vec<usize>, usize) {
    match step {
        Step::Copy { src, dst, .. }
        | Step::Linear { src, dst, .. }
        | Step::Unary { src, dst, .. }
        | Step::LayerNorm { src, dst, .. }
        | Step::Conv { src, dst, .. }
        | Step::Softmax { src, dst, .. } => (vec![src.buf], dst.buf),
        Step::Binary { a, b, dst, .. } => match b {
            Operand::Rows(b) => (vec![a.buf, b.buf], dst.buf),
            Operand::Block(_) => (vec![a.buf], dst.buf),
        },
    }
}

/// Every slot a step names, read or written.
pub(super) fn slots_mut(step: &mut Step) -> Vec<&mut Slot> {
    match step {
        Step::Copy { src, dst, .. }
        | Step::Linear { src, dst, .. }
        | Step::Unary { src, dst, .. }
        | Step::LayerNorm { src, dst, .. }
        | Step::Conv { src, dst, .. }
        | Step::Softmax { src, dst, .. } => vec![src, dst],
        Step::Binary { a, b, dst, .. } => match b {
            Operand::Rows(b) => vec![a, b, dst],
            Operand::Block(_) => vec![a, dst],
        },
    }
}
