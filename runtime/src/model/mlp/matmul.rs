//! One fully connected layer on tract-linalg's matrix kernels: `y = x·Wᵀ + b` for up
//! to `max_rows` rows, with the weights packed once and every per-call buffer (packed
//! activations, kernel scratch) allocated here, at load.
//!
//! In tract-linalg's terms the weights are `A` (`m` = output features, packed once),
//! the activations are `B` (`n` = rows, packed per call into a kept buffer) and the
//! bias is added per `m` row in the kernel's epilogue. `C` is written straight into
//! the row-major output with strides, so an output can land in a column range of a
//! wider buffer.

use tract_linalg::mmm::{
    AsInputValue, EagerPackedInput, FusedSpec, MMMInputValue, MatMatMul, ScratchSpace,
};
use tract_linalg::pack::PackedFormat;
use tract_linalg::BinOp;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// A dense layer prepared for [`Linear::run`].
pub struct Linear {
    mmm: Box<dyn MatMatMul>,
    packing: usize,
    weights: Box<dyn MMMInputValue>,
    bias: Tensor,
    activation_format: PackedFormat,
    activations: EagerPackedInput,
    scratch: Box<dyn ScratchSpace>,
    /// Input features.
    pub k: usize,
    /// Output features.
    pub m: usize,
    /// Rows the buffers are sized for.
    pub max_rows: usize,
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linear")
            .field("kernel", &self.mmm.name())
            .field("k", &self.k)
            .field("m", &self.m)
            .finish_non_exhaustive()
    }
}

impl Linear {
    /// `weights` is `[m, k]` (`k_axis` 1) or `[k, m]` (`k_axis` 0); `bias` has `m`
    /// values (zeros when the layer has none).
    pub fn new(
        weights: &Tensor,
        k_axis: usize,
        bias: Vec<f32>,
        max_rows: usize,
    ) -> TractResult<Linear> {
        ensure!(weights.rank() == 2, "weights of rank {}", weights.rank());
        let (k, m) = (weights.shape()[k_axis], weights.shape()[1 - k_axis]);
        ensure!(bias.len() == m, "bias of {} for {m} outputs", bias.len());
        let query = tract_linalg::mmm::Query {
            allow_extractor: false,
            ..tract_linalg::mmm::Query::plain(f32::datum_type(), Some(m), Some(k), Some(max_rows))
        };
        let (mmm, packing, extractor) = tract_linalg::MmmDispatch::native()
            .pick(&query)
            .context("no f32 matrix kernel on this machine")?;
        ensure!(extractor.is_none(), "kernel needs a panel extractor");
        let (weight_format, activation_format) = &mmm.packings()[packing];
        let activation_format = activation_format
            .downcast_ref::<PackedFormat>()
            .context("activation packing is not a plain packed format")?
            .clone();
        let weights = weight_format.prepare_one(weights, k_axis, 1 - k_axis)?;
        let activations = activation_format.new_packed_buffer(k, max_rows.max(1))?;
        // SAFETY: the scratch space is only used with this kernel.
        let scratch = unsafe { mmm.allocate_scratch_space() };
        Ok(Linear {
            mmm,
            packing,
            weights,
            bias: tensor1(&bias),
            activation_format,
            activations,
            scratch,
            k,
            m,
            max_rows,
        })
    }

    /// Name of the tract-linalg kernel in use.
    pub fn kernel_name(&self) -> &str {
        self.mmm.name()
    }

    /// `out[r·out_stride + j] = bias[j] + Σ_i input[r·in_stride + i]·W[j, i]` for
    /// `r < rows`, `j < m`.
    ///
    /// Allocation: none (packing and scratch buffers were sized at load; tract-linalg's
    /// per-thread scratch is reused once grown). Time: O(rows·k·m).
    ///
    /// # Safety
    /// `input` must be valid for reading `rows` rows of `k` values `in_stride` apart,
    /// `out` (a buffer of `out_len` floats inside `out_tensor`) for writing `rows` rows
    /// of `m` values `out_stride` apart, and `rows <= max_rows`.
    pub unsafe fn run(
        &mut self,
        input: *const f32,
        in_stride: usize,
        rows: usize,
        out_tensor: &Tensor,
        out_offset: usize,
        out_stride: usize,
    ) -> TractResult<()> {
        unsafe {
            self.run_strided(
                input,
                [1, in_stride as isize],
                rows,
                out_tensor,
                out_offset,
                [1, out_stride as isize],
            )
        }
    }

    /// [`Linear::run`] with any layout on both sides: input value `i` of row `r` at
    /// `input[i·in_strides[0] + r·in_strides[1]]`, output feature `j` of row `r` at
    /// `out[out_offset + j·out_strides[0] + r·out_strides[1]]`. A convolution uses it
    /// to read its windows feature-major and write its output channel-major (planar),
    /// with no transposes of its own.
    ///
    /// # Safety
    /// As [`Linear::run`], for the strided extents.
    pub unsafe fn run_strided(
        &mut self,
        input: *const f32,
        in_strides: [isize; 2],
        rows: usize,
        out_tensor: &Tensor,
        out_offset: usize,
        out_strides: [isize; 2],
    ) -> TractResult<()> {
        debug_assert!(rows <= self.max_rows);
        if rows == 0 {
            return Ok(());
        }
        unsafe {
            let packed =
                Arc::get_mut(&mut self.activations.packed).context("packed activations shared")?;
            self.activation_format.pack_t::<f32>(
                packed.as_mut_ptr() as *mut f32,
                input,
                rows,
                in_strides[0],
                in_strides[1],
                0..self.k,
                0..rows,
            );
            self.activations.mn = rows;
            self.activations.fact.mn = TDim::Val(rows as i64);
            let shape = [out_tensor.len() - out_offset];
            let strides = [1isize];
            let view =
                TensorView::from_bytes(out_tensor, (out_offset * 4) as isize, &shape, &strides);
            let store = self
                .mmm
                .c_from_data_and_strides(4, out_strides[0], out_strides[1])
                .wrap(&view);
            let specs = [
                FusedSpec::AddMatMul {
                    a: AsInputValue::Borrowed(&*self.weights),
                    b: AsInputValue::Borrowed(&self.activations),
                    packing: self.packing,
                },
                FusedSpec::BinPerRow(self.bias.view(), BinOp::Add),
                FusedSpec::Store(store),
            ];
            self.mmm
                .run_with_scratch_space(self.m, rows, &mut *self.scratch, &specs)
        }
    }
}
