//! One fully connected layer, `y = x·Wᵀ + b` for up to `max_rows` rows, by one of three
//! engines chosen at load:
//!
//! - **Direct** (x86-64 with AVX-512 or AVX2+FMA, and every aarch64 with NEON), for
//!   layers of at least 16 outputs: the register-tiled kernel of [`super::tile`],
//!   which reads the activations in place through their strides and writes whole
//!   vectors into the output rows. The weights are reordered once at load; nothing is
//!   packed per call. The executor's layers are small (32 to 512 features, 64 rows at
//!   a time), where packing the activations and tract-linalg's tile dispatch cost
//!   about as much as the products themselves (`docs/benchmarks.md`).
//! - **Dots** (the same CPUs, layers of fewer than 16 outputs, such as a policy's mean
//!   or a one-column head, where a 16-channel block would be mostly zeros): one
//!   vectorised dot product per output and row.
//! - **Tract** (other CPUs): tract-linalg's matrix kernels. The weights are `A`
//!   (`m` = output features, packed once), the activations `B` (`n` = rows, packed per
//!   call into a buffer kept from load) and the bias is added per `m` row in the
//!   kernel's epilogue.
//!
//! Direct and Dots sum in the same order on every ISA they run on, so a plan's bits do
//! not depend on which of AVX-512, AVX2 or NEON ran it. Every engine writes `C` straight
//! into the output with strides, so an output can land in a column range of a wider
//! buffer, and every buffer is allocated at load.

use tract_linalg::mmm::{
    AsInputValue, EagerPackedInput, FusedSpec, MMMInputValue, MatMatMul, ScratchSpace,
};
use tract_linalg::pack::PackedFormat;
use tract_linalg::BinOp;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

use super::tile::{dots, even_tiles, floats, pack, tile, Isa, Line, Shape};

/// A dense layer prepared for [`Linear::run`].
pub struct Linear {
    engine: Engine,
    /// Input features.
    pub k: usize,
    /// Output features.
    pub m: usize,
    /// Rows the buffers are sized for.
    pub max_rows: usize,
}

enum Engine {
    Direct {
        isa: Isa,
        /// `blocks x k x channels` ([`pack`]).
        weights: Vec<Line>,
        /// `blocks x channels`, zero beyond `m`.
        bias: Vec<f32>,
    },
    /// Fewer outputs than a block: one dot product per output and row.
    Dots {
        isa: Isa,
        /// `m x k`, row-major.
        weights: Vec<f32>,
        bias: Vec<f32>,
    },
    Tract(Box<TractLinear>),
}

/// tract-linalg's kernel and the buffers it runs with.
struct TractLinear {
    mmm: Box<dyn MatMatMul>,
    packing: usize,
    weights: Box<dyn MMMInputValue>,
    bias: Tensor,
    activation_format: PackedFormat,
    activations: EagerPackedInput,
    scratch: Box<dyn ScratchSpace>,
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linear")
            .field("kernel", &self.kernel_name())
            .field("k", &self.k)
            .field("m", &self.m)
            .finish_non_exhaustive()
    }
}

impl Linear {
    /// `weights` is `[m, k]` (`k_axis` 1) or `[k, m]` (`k_axis` 0); `bias` has `m`
    /// values (zeros when the layer has none). On the best engine this CPU has for
    /// this many outputs.
    pub fn new(
        weights: &Tensor,
        k_axis: usize,
        bias: Vec<f32>,
        max_rows: usize,
    ) -> TractResult<Linear> {
        Linear::with_engine(weights, k_axis, bias, max_rows, Isa::detect())
    }

    /// [`Linear::new`] on a chosen engine: the direct kernels for `isa` (tiles, or dot
    /// products below 16 outputs), or tract-linalg's for `None`.
    pub fn with_engine(
        weights: &Tensor,
        k_axis: usize,
        bias: Vec<f32>,
        max_rows: usize,
        isa: Option<Isa>,
    ) -> TractResult<Linear> {
        ensure!(weights.rank() == 2, "weights of rank {}", weights.rank());
        ensure!(k_axis < 2, "k axis {k_axis} of a matrix");
        let (k, m) = (weights.shape()[k_axis], weights.shape()[1 - k_axis]);
        ensure!(bias.len() == m, "bias of {} for {m} outputs", bias.len());
        let engine = match isa {
            Some(isa) => {
                let w = weights.cast_to::<f32>()?;
                let w = w.to_plain_array_view::<f32>()?;
                let at = |o: usize, e: usize| {
                    if k_axis == 1 {
                        w[[o, e]]
                    } else {
                        w[[e, o]]
                    }
                };
                if m < 16 {
                    let weights = (0..m * k).map(|i| at(i / k, i % k)).collect();
                    Engine::Dots { isa, weights, bias }
                } else {
                    let (weights, bias) = pack(isa, m, k, at, &bias);
                    Engine::Direct { isa, weights, bias }
                }
            }
            None => Engine::Tract(Box::new(TractLinear::new(
                weights, k_axis, bias, k, m, max_rows,
            )?)),
        };
        Ok(Linear {
            engine,
            k,
            m,
            max_rows,
        })
    }

    /// Name of the kernel in use.
    pub fn kernel_name(&self) -> &str {
        match &self.engine {
            Engine::Direct { isa, .. } => isa.dense_name(),
            Engine::Dots { isa, .. } => isa.dots_name(),
            Engine::Tract(t) => t.mmm.name(),
        }
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
                [1, in_stride],
                rows,
                out_tensor,
                out_offset,
                [1, out_stride],
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
        in_strides: [usize; 2],
        rows: usize,
        out_tensor: &Tensor,
        out_offset: usize,
        out_strides: [usize; 2],
    ) -> TractResult<()> {
        debug_assert!(rows <= self.max_rows);
        if rows == 0 {
            return Ok(());
        }
        let (k, m) = (self.k, self.m);
        let out = match &mut self.engine {
            Engine::Tract(t) => {
                return unsafe {
                    t.run(
                        k,
                        m,
                        input,
                        in_strides,
                        rows,
                        out_tensor,
                        out_offset,
                        out_strides,
                    )
                };
            }
            _ => {
                let last = out_offset + (m - 1) * out_strides[0] + (rows - 1) * out_strides[1];
                ensure!(out_tensor.len() > last, "dense output too small");
                // SAFETY: in range (checked); the caller gives the extent exclusively.
                unsafe { (out_tensor.as_ptr_unchecked::<f32>() as *mut f32).add(out_offset) }
            }
        };
        // The features in place: one window of `k` when contiguous, else `k` channels
        // of one value each.
        let (cin, kw, plane) = if in_strides[0] == 1 {
            (1, k, 0)
        } else {
            (k, 1, in_strides[0])
        };
        let shape = Shape {
            cin,
            kh: 1,
            kw,
            plane,
            row: 0,
            stride: in_strides[1],
            out_channel: out_strides[0],
            out_position: out_strides[1],
        };
        match &self.engine {
            Engine::Dots { isa, weights, bias } => {
                // SAFETY: `rows` readable input rows (the caller), the output extent
                // (checked), `m x k` weights and `m` biases; the ISA was detected.
                unsafe {
                    dots(
                        *isa,
                        rows,
                        m,
                        input,
                        weights.as_ptr(),
                        bias.as_ptr(),
                        out,
                        &shape,
                    )
                };
            }
            Engine::Direct { isa, weights, bias } => {
                let cb = isa.channels();
                for block in 0..m.div_ceil(cb) {
                    let channels = cb.min(m - block * cb);
                    let w = &floats(weights)[block * k * cb..][..k * cb];
                    let b = &bias[block * cb..][..cb];
                    for (r, n) in even_tiles(rows, isa.max_tile()) {
                        // SAFETY: the caller gives `rows` readable input rows and the
                        // output extent (checked above against the tensor); `w` holds
                        // the block's `k` lines of weights and `b` its biases; the ISA
                        // was detected at load.
                        unsafe {
                            tile(
                                *isa,
                                n,
                                input.add(r * in_strides[1]),
                                w.as_ptr(),
                                b.as_ptr(),
                                out.add(block * cb * out_strides[0] + r * out_strides[1]),
                                channels,
                                &shape,
                            );
                        }
                    }
                }
            }
            Engine::Tract(_) => unreachable!("returned above"),
        }
        Ok(())
    }
}

impl TractLinear {
    fn new(
        weights: &Tensor,
        k_axis: usize,
        bias: Vec<f32>,
        k: usize,
        m: usize,
        max_rows: usize,
    ) -> TractResult<TractLinear> {
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
        Ok(TractLinear {
            mmm,
            packing,
            weights,
            bias: tensor1(&bias),
            activation_format,
            activations,
            scratch,
        })
    }

    #[allow(clippy::too_many_arguments)]
    unsafe fn run(
        &mut self,
        k: usize,
        m: usize,
        input: *const f32,
        in_strides: [usize; 2],
        rows: usize,
        out_tensor: &Tensor,
        out_offset: usize,
        out_strides: [usize; 2],
    ) -> TractResult<()> {
        unsafe {
            let packed =
                Arc::get_mut(&mut self.activations.packed).context("packed activations shared")?;
            self.activation_format.pack_t::<f32>(
                packed.as_mut_ptr() as *mut f32,
                input,
                rows,
                in_strides[0] as isize,
                in_strides[1] as isize,
                0..k,
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
                .c_from_data_and_strides(4, out_strides[0] as isize, out_strides[1] as isize)
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
                .run_with_scratch_space(m, rows, &mut *self.scratch, &specs)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tile::test_values as values;
    use super::*;

    /// Runs `layer` on `rows` rows of `input` laid out by `in_strides`, into a buffer
    /// of NaN with `guard` floats either side of the `out_strides` layout; checks the
    /// guards and returns the outputs as `[row][feature]`.
    fn run(
        layer: &mut Linear,
        input: &[f32],
        in_strides: [usize; 2],
        rows: usize,
        out_strides: [usize; 2],
        guard: usize,
    ) -> Vec<f32> {
        let (m, extent) = (
            layer.m,
            (layer.m - 1) * out_strides[0] + (rows - 1) * out_strides[1] + 1,
        );
        let out =
            Tensor::from_shape(&[2 * guard + extent], &vec![f32::NAN; 2 * guard + extent]).unwrap();
        unsafe {
            layer
                .run_strided(input.as_ptr(), in_strides, rows, &out, guard, out_strides)
                .unwrap()
        };
        let plain = out.try_as_plain_ram().unwrap();
        let all = plain.as_slice::<f32>().unwrap();
        assert!(
            all[..guard]
                .iter()
                .chain(&all[guard + extent..])
                .all(|v| v.is_nan()),
            "{} wrote outside its output",
            layer.kernel_name()
        );
        let mut got = Vec::with_capacity(rows * m);
        for r in 0..rows {
            for j in 0..m {
                got.push(all[guard + j * out_strides[0] + r * out_strides[1]]);
            }
        }
        got
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every engine this CPU runs computes `x·Wᵀ + b` from either weight layout,
        /// with rows or features contiguous on either side (the executor's layers and
        /// the convolution's gathered product), and writes nothing outside its output;
        /// the direct kernels give every row the same bits whether it runs alone or
        /// among others (the executor's row blocks and `SplitModel`'s halves rely on
        /// it), and the same bits on every instruction set.
        #[test]
        fn every_engine_computes_the_layer(
            k in 1usize..80,
            m in 1usize..80,
            rows in 1usize..40,
            pad in 0usize..3,
            k_axis in 0usize..2,
            feature_major in proptest::bool::ANY,
            seed in 0u64..1000,
        ) {
            let w = values(k * m, seed);
            let b = values(m, seed + 1);
            let in_strides = if feature_major { [rows + pad, 1] } else { [1, k + pad] };
            let x = values((k + pad) * (rows + pad), seed + 2);
            let weight = |j: usize, i: usize| if k_axis == 1 { w[j * k + i] } else { w[i * m + j] };
            let shape = if k_axis == 1 { [m, k] } else { [k, m] };
            let tensor = Tensor::from_shape(&shape, &w).unwrap();
            let out_strides = if feature_major { [rows + pad, 1] } else { [1, m + pad] };
            let engines = Isa::available().into_iter().map(Some).chain([None]);
            let mut direct_bits: Option<Vec<u32>> = None;
            for isa in engines {
                let mut layer = Linear::with_engine(&tensor, k_axis, b.clone(), rows, isa).unwrap();
                let got = run(&mut layer, &x, in_strides, rows, out_strides, 5);
                for r in 0..rows {
                    for j in 0..m {
                        let mut want = b[j] as f64;
                        for i in 0..k {
                            want += x[i * in_strides[0] + r * in_strides[1]] as f64 * weight(j, i) as f64;
                        }
                        let g = got[r * m + j] as f64;
                        let tolerance = 1e-5 * (1.0 + k as f64).sqrt() * (1.0 + want.abs());
                        prop_assert!(
                            (g - want).abs() <= tolerance,
                            "{} row {r} feature {j}: {g} instead of {want}", layer.kernel_name()
                        );
                    }
                }
                if isa.is_some() {
                    let bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                    match &direct_bits {
                        None => direct_bits = Some(bits),
                        Some(want) => prop_assert!(
                            *want == bits,
                            "{} differs from the other instruction sets", layer.kernel_name()
                        ),
                    }
                    let last = rows - 1;
                    let alone = run(&mut layer, &x[last * in_strides[1]..], in_strides, 1, out_strides, 5);
                    prop_assert!(
                        alone.iter().zip(&got[last * m..]).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{}: a row alone differs from the same row among {rows}", layer.kernel_name()
                    );
                }
            }
        }
    }
}
