//! The executor's step list: what each step computes and which buffer rows it reads
//! and writes. [`super::lower`] produces it, [`super::buffers`] packs its buffers,
//! and [`super::MlpGraph`] runs it.

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
        | Step::Softmax { src, dst, .. } => vec![src, dst],
        Step::Binary { a, b, dst, .. } => match b {
            Operand::Rows(b) => vec![a, b, dst],
            Operand::Block(_) => vec![a, dst],
        },
    }
}
