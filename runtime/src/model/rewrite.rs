//! Graph rewrites Augur applies to a fixed-batch graph before tract optimises it,
//! where tract's generic kernel is slow for the shapes world models use.
//!
//! - Softmax over a short, contiguous last axis (TD-MPC2's SimNorm: groups of 8;
//!   two-hot reward decoding: 101 bins). tract 0.23 runs its f32 softmax kernels once
//!   per row, which costs ~40 ns per element on 8-wide rows (36% of a pendulum
//!   dynamics call); [`RowSoftmax`] does the whole batch in one pass.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};

/// Softmax over the last axis of a contiguous f32 tensor, row by row in one pass.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct RowSoftmax;

impl Op for RowSoftmax {
    fn name(&self) -> StaticName {
        "AugurRowSoftmax".into()
    }

    op_as_typed_op!();
}

impl EvalOp for RowSoftmax {
    op_out_of_plan!();

    /// Allocation: none beyond tract taking ownership of its input. Time: O(elements).
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let mut output = input.into_tensor();
        let row = *output.shape().last().context("softmax of a scalar")?;
        let mut plain = output.try_as_plain_ram_mut()?;
        let data = plain.as_slice_mut::<f32>()?;
        clear_upper_vector_state();
        for values in data.chunks_exact_mut(row) {
            let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0f32;
            for v in values.iter_mut() {
                // Below -87 exp() is subnormal (< 1.2e-38): flush to zero, since
                // subnormal arithmetic costs ~100x on x86 and changes nothing here.
                let d = *v - max;
                *v = if d < -87.0 { 0.0 } else { d.exp() };
                sum += *v;
            }
            let scale = sum.recip();
            values.iter_mut().for_each(|v| *v *= scale);
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for RowSoftmax {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let elements = inputs[0].shape.volume();
        Ok(tvec!(
            (Cost::FMA(f32::datum_type()), elements.clone() * 3),
            (Cost::Div(f32::datum_type()), elements)
        ))
    }

    as_op!();
}

/// Replaces every f32 softmax over the last axis by [`RowSoftmax`]. Returns how many.
pub fn use_row_softmax(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in 0..model.nodes().len() {
        let eligible = {
            let node = model.node(id);
            match node.op_as::<Softmax>() {
                Some(op) => {
                    let fact = model.outlet_fact(node.inputs[0])?;
                    let rank = fact.rank();
                    op.kind == SoftmaxKind::Softmax
                        && op.quant_output_dt.is_none()
                        && fact.datum_type == f32::datum_type()
                        && rank >= 1
                        && op.axes.as_slice() == [rank - 1]
                }
                None => false,
            }
        };
        if eligible {
            model.node_mut(id).op = Box::new(RowSoftmax);
            replaced += 1;
        }
    }
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_softmax_matches_the_definition_and_is_stable_for_large_inputs() {
        let input = tensor2(&[[1.0f32, 2.0, 3.0, 4.0], [1000.0, 1000.0, -1000.0, 0.0]]);
        let out = RowSoftmax
            .eval(&EvalContext::out_of_plan(), tvec!(input.into_tvalue()))
            .expect("eval");
        let plain = out[0].try_as_plain_ram().expect("plain");
        let got = plain.as_slice::<f32>().expect("f32");
        let denom: f32 = (1..=4).map(|k| (k as f32).exp()).sum();
        for (k, g) in got[..4].iter().enumerate() {
            assert!((g - ((k + 1) as f32).exp() / denom).abs() < 1e-6);
        }
        assert_eq!(&got[4..], &[0.5, 0.5, 0.0, 0.0]);
    }
}

/// tract's x86 kernels return with the upper halves of the vector registers dirty; the
/// SSE-encoded code after them (this op, libm's `expf`) then stalls on every vector
/// instruction: 14 ms instead of 0.17 ms for a 512x101 softmax on this machine.
/// `vzeroupper` clears that state. A no-op elsewhere.
#[inline]
pub(crate) fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: `vzeroupper` only needs AVX, which was just detected.
        unsafe { zeroupper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn zeroupper() {
    std::arch::x86_64::_mm256_zeroupper();
}
