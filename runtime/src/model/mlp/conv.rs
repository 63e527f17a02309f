//! 2-D convolution for the MLP executor, by one of two engines chosen at load:
//!
//! - **Direct** (x86-64 with AVX-512 or AVX2+FMA, and every aarch64 with NEON): the
//!   register-tiled kernel of [`super::tile`] reading the planar input in place. A
//!   tile is `n` neighbouring outputs of one output row times a block of output
//!   channels, held in vector registers for the whole window. No window is gathered
//!   and nothing is packed per call; the weights were reordered once at load,
//!   block-major and `(channel, ky, kx)` within.
//! - **Gemm** (any other CPU): the windows gathered feature-major through a load-time
//!   index table, then one tract-linalg matrix product with the kernel as `A`.
//!
//! Both add the terms of one output in the same order (bias, then `(channel, ky, kx)`
//! ascending), each engine always the same way, so a machine gives the same bits
//! from call to call.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::ensure;

use super::matmul::Linear;
use super::step::ConvGeometry;
pub use super::tile::Isa;
use super::tile::{even_tiles, floats, pack, tile, Line, Shape};

/// A convolution ready to run on one planar `cin x h x w` input at a time.
#[derive(Debug)]
pub struct Conv {
    /// Shapes, strides and padding.
    pub geometry: ConvGeometry,
    engine: Engine,
}

#[derive(Debug)]
enum Engine {
    Direct(Direct),
    Gemm {
        /// The kernel as a `[cout, cin·kh·kw]` dense layer over `positions` rows.
        layer: Box<Linear>,
        /// Gathered windows, sized at load.
        windows: Vec<f32>,
        /// Where each gathered value comes from ([`window_indices`]).
        indices: Vec<u32>,
    },
}

/// The direct engine's load-time state.
#[derive(Debug)]
struct Direct {
    isa: Isa,
    /// `blocks x cin x kh x kw x channels`, zero beyond `cout`, in cache lines so
    /// no vector load straddles two.
    weights: Vec<Line>,
    /// `blocks x channels`, zero beyond `cout`.
    bias: Vec<f32>,
    /// The zero-padded input (`cin x hp x wp`), or empty when the convolution has no
    /// padding and reads its input in place.
    padded: Vec<f32>,
    /// Padded input height and width (the input's own without padding).
    hp: usize,
    wp: usize,
    /// `(first output column, outputs)` of each tile of an output row.
    tiles: Vec<(usize, usize)>,
}

impl Conv {
    /// A convolution with `weights` `[cout, cin, kh, kw]` (row-major) and `bias`
    /// (`cout`), on the best engine this CPU has.
    pub fn new(geometry: ConvGeometry, weights: &[f32], bias: &[f32]) -> TractResult<Conv> {
        Conv::with_engine(geometry, weights, bias, Isa::detect())
    }

    /// [`Conv::new`] on a chosen engine: the direct kernel for `isa`, or the gathered
    /// matrix product for `None`.
    pub fn with_engine(
        geometry: ConvGeometry,
        weights: &[f32],
        bias: &[f32],
        isa: Option<Isa>,
    ) -> TractResult<Conv> {
        let g = geometry;
        let k = g.window();
        ensure!(
            weights.len() == g.cout * k,
            "{} weights for {g:?}",
            weights.len()
        );
        ensure!(
            bias.len() == g.cout,
            "bias of {} for {} outputs",
            bias.len(),
            g.cout
        );
        ensure!(g.ho > 0 && g.wo > 0, "convolution with no output: {g:?}");
        let engine = match isa {
            Some(isa) => Engine::Direct(Direct::new(&g, weights, bias, isa)),
            None => {
                ensure!(
                    g.cin * g.h * g.w < u32::MAX as usize,
                    "convolution input too large to index"
                );
                let weights = Tensor::from_shape(&[g.cout, k], weights)?;
                let layer = Linear::with_engine(&weights, 1, bias.to_vec(), g.positions(), None)?;
                Engine::Gemm {
                    layer: Box::new(layer),
                    windows: vec![0.0; g.positions() * k],
                    indices: window_indices(&g),
                }
            }
        };
        Ok(Conv { geometry, engine })
    }

    /// Name of the kernel in use.
    pub fn kernel_name(&self) -> &str {
        match &self.engine {
            Engine::Direct(d) => d.isa.conv_name(),
            Engine::Gemm { layer, .. } => layer.kernel_name(),
        }
    }

    /// Convolves one planar input (`cin·h·w` floats) into `cout` planes of
    /// `ho·wo`, written at `out_offset` of `out` (a buffer of f32).
    ///
    /// Allocation: none. Time: O(cout·positions·window).
    ///
    /// # Safety
    /// `out` must hold `out_offset + cout·ho·wo` floats that nothing else reads or
    /// writes during the call.
    pub unsafe fn run(
        &mut self,
        input: &[f32],
        out: &Tensor,
        out_offset: usize,
    ) -> TractResult<()> {
        let g = self.geometry;
        ensure!(
            input.len() == g.cin * g.h * g.w,
            "convolution input of {} values",
            input.len()
        );
        let planes = g.cout * g.positions();
        ensure!(
            out.len() >= out_offset + planes,
            "convolution output too small"
        );
        match &mut self.engine {
            Engine::Direct(d) => {
                d.pad(&g, input);
                let x = if d.padded.is_empty() {
                    input
                } else {
                    &d.padded[..]
                };
                // SAFETY: the caller gives the output range exclusively; its length was
                // just checked.
                let y = unsafe {
                    std::slice::from_raw_parts_mut(
                        (out.as_ptr_unchecked::<f32>() as *mut f32).add(out_offset),
                        planes,
                    )
                };
                d.run(&g, x, y);
            }
            Engine::Gemm {
                layer,
                windows,
                indices,
            } => {
                // Padding entries are out of range and read as zero.
                for (w, &i) in windows.iter_mut().zip(indices.iter()) {
                    *w = input.get(i as usize).copied().unwrap_or(0.0);
                }
                let positions = g.positions();
                // SAFETY: `windows` holds `window` rows of `positions` values (read
                // feature-major); the output holds `cout` planes of `positions` from
                // `out_offset` (written channel-major), and `positions` is the layer's
                // `max_rows`.
                unsafe {
                    layer.run_strided(
                        windows.as_ptr(),
                        [positions, 1],
                        positions,
                        out,
                        out_offset,
                        [positions, 1],
                    )?;
                }
                crate::model::rewrite::clear_upper_vector_state();
            }
        }
        Ok(())
    }
}

impl Direct {
    fn new(g: &ConvGeometry, weights: &[f32], bias: &[f32], isa: Isa) -> Direct {
        let k = g.window();
        let (weights, bias) = pack(isa, g.cout, k, |o, e| weights[o * k + e], bias);
        // Rows and columns the windows reach, leading padding included; the trailing
        // padding is whatever lies beyond the input.
        let hp = (g.h + g.pad[0]).max((g.ho - 1) * g.stride[0] + g.kh);
        let wp = (g.w + g.pad[1]).max((g.wo - 1) * g.stride[1] + g.kw);
        let needs_padding = hp != g.h || wp != g.w;
        let padded = if needs_padding {
            vec![0.0; g.cin * hp * wp]
        } else {
            Vec::new()
        };
        // Each output row in as few tiles as the registers allow, as even as possible.
        let tiles = even_tiles(g.wo, isa.max_tile()).collect();
        Direct {
            isa,
            weights,
            bias,
            padded,
            hp,
            wp,
            tiles,
        }
    }

    /// Copies `input` into the zero-padded buffer, if the convolution pads.
    fn pad(&mut self, g: &ConvGeometry, input: &[f32]) {
        let (hp, wp) = (self.hp, self.wp);
        if self.padded.is_empty() {
            return;
        }
        for c in 0..g.cin {
            for y in 0..g.h {
                let from = &input[(c * g.h + y) * g.w..][..g.w];
                let to = (c * hp + y + g.pad[0]) * wp + g.pad[1];
                self.padded[to..to + g.w].copy_from_slice(from);
            }
        }
    }

    fn run(&self, g: &ConvGeometry, x: &[f32], y: &mut [f32]) {
        debug_assert_eq!(x.len(), g.cin * self.hp * self.wp);
        debug_assert_eq!(y.len(), g.cout * g.positions());
        let cb = self.isa.channels();
        let shape = Shape {
            cin: g.cin,
            kh: g.kh,
            kw: g.kw,
            plane: self.hp * self.wp,
            row: self.wp,
            stride: g.stride[1],
            out_channel: g.positions(),
            out_position: 1,
        };
        for block in 0..g.cout.div_ceil(cb) {
            let channels = cb.min(g.cout - block * cb);
            let w = &floats(&self.weights)[block * g.window() * cb..][..g.window() * cb];
            let b = &self.bias[block * cb..][..cb];
            for oy in 0..g.ho {
                for &(ox, n) in &self.tiles {
                    let from = oy * g.stride[0] * self.wp + ox * g.stride[1];
                    let to = block * cb * g.positions() + oy * g.wo + ox;
                    // SAFETY: the tile's windows lie inside the padded input (`hp`, `wp`
                    // cover `(ho-1)·stride + k`), its outputs inside the block's planes,
                    // `w` holds the block's whole window and `b` its `cb` biases; the
                    // ISA was detected at load.
                    unsafe {
                        tile(
                            self.isa,
                            n,
                            x.as_ptr().add(from),
                            w.as_ptr(),
                            b.as_ptr(),
                            y.as_mut_ptr().add(to),
                            channels,
                            &shape,
                        );
                    }
                }
            }
        }
    }
}

/// Where each value of a convolution's gathered windows comes from, feature-major:
/// entry `e·positions + p` is the index into the planar `cin x h x w` input of window
/// element `e` (`(channel, ky, kx)` order, as the kernel's weights are laid out) at
/// output position `p`, or `u32::MAX` where the window hangs over the padding. Built
/// once at load, so the per-call gather is one flat indexed copy.
pub(crate) fn window_indices(g: &ConvGeometry) -> Vec<u32> {
    let mut indices = Vec::with_capacity(g.window() * g.positions());
    for c in 0..g.cin {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                for oy in 0..g.ho {
                    for ox in 0..g.wo {
                        let iy = (oy * g.stride[0] + ky) as isize - g.pad[0] as isize;
                        let ix = (ox * g.stride[1] + kx) as isize - g.pad[1] as isize;
                        let inside =
                            (0..g.h as isize).contains(&iy) && (0..g.w as isize).contains(&ix);
                        indices.push(if inside {
                            (c * g.h * g.w + iy as usize * g.w + ix as usize) as u32
                        } else {
                            u32::MAX
                        });
                    }
                }
            }
        }
    }
    indices
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::tile::test_values as values;
    use super::*;

    /// The convolution by its definition, in f64.
    fn reference(g: &ConvGeometry, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f64> {
        let mut y = vec![0.0f64; g.cout * g.positions()];
        for o in 0..g.cout {
            for oy in 0..g.ho {
                for ox in 0..g.wo {
                    let mut sum = b[o] as f64;
                    for c in 0..g.cin {
                        for ky in 0..g.kh {
                            for kx in 0..g.kw {
                                let iy = (oy * g.stride[0] + ky) as isize - g.pad[0] as isize;
                                let ix = (ox * g.stride[1] + kx) as isize - g.pad[1] as isize;
                                if (0..g.h as isize).contains(&iy)
                                    && (0..g.w as isize).contains(&ix)
                                {
                                    let xi = (c * g.h + iy as usize) * g.w + ix as usize;
                                    let wi = ((o * g.cin + c) * g.kh + ky) * g.kw + kx;
                                    sum += x[xi] as f64 * w[wi] as f64;
                                }
                            }
                        }
                    }
                    y[(o * g.ho + oy) * g.wo + ox] = sum;
                }
            }
        }
        y
    }

    fn geometry() -> impl Strategy<Value = ConvGeometry> {
        (
            1usize..5,
            1usize..40,
            1usize..6,
            1usize..6,
            1usize..4,
            1usize..4,
            0usize..3,
            0usize..3,
        )
            .prop_flat_map(|(cin, cout, kh, kw, sy, sx, py, px)| {
                let (py, px) = (py.min(kh - 1), px.min(kw - 1));
                (
                    Just((cin, cout, kh, kw, sy, sx, py, px)),
                    kh.saturating_sub(2 * py).max(1)..30,
                    kw.saturating_sub(2 * px).max(1)..40,
                )
            })
            .prop_map(|((cin, cout, kh, kw, sy, sx, py, px), h, w)| ConvGeometry {
                cin,
                h,
                w,
                cout,
                kh,
                kw,
                stride: [sy, sx],
                pad: [py, px],
                ho: (h + 2 * py - kh) / sy + 1,
                wo: (w + 2 * px - kw) / sx + 1,
            })
    }

    fn run(conv: &mut Conv, x: &[f32], guard: usize) -> Vec<f32> {
        let g = conv.geometry;
        let out = Tensor::from_shape(
            &[guard + g.cout * g.positions() + guard],
            &vec![f32::NAN; 2 * guard + g.cout * g.positions()],
        )
        .unwrap();
        unsafe { conv.run(x, &out, guard).unwrap() };
        let plain = out.try_as_plain_ram().unwrap();
        let all = plain.as_slice::<f32>().unwrap();
        assert!(
            all[..guard]
                .iter()
                .chain(&all[all.len() - guard..])
                .all(|v| v.is_nan()),
            "{} wrote outside its output",
            conv.kernel_name()
        );
        all[guard..all.len() - guard].to_vec()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Every engine this CPU runs computes the convolution (padding, strides,
        /// channel counts that do not fill a block, rows that split unevenly into
        /// tiles), writes nothing outside its output, and gives the same bits on a
        /// second call; the direct kernels give the same bits on every instruction set.
        #[test]
        fn every_engine_computes_the_convolution(g in geometry(), seed in 0u64..1000) {
            let x = values(g.cin * g.h * g.w, seed);
            let w = values(g.cout * g.window(), seed + 1);
            let b = values(g.cout, seed + 2);
            let want = reference(&g, &x, &w, &b);
            let engines = Isa::available().into_iter().map(Some).chain([None]);
            let mut direct_bits: Option<Vec<u32>> = None;
            for isa in engines {
                let mut conv = Conv::with_engine(g, &w, &b, isa).unwrap();
                let got = run(&mut conv, &x, 7);
                if isa.is_some() {
                    let bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
                    match &direct_bits {
                        None => direct_bits = Some(bits),
                        Some(want) => prop_assert!(
                            *want == bits,
                            "{} differs from the other instruction sets", conv.kernel_name()
                        ),
                    }
                }
                for (i, (&got, &want)) in got.iter().zip(&want).enumerate() {
                    let tolerance = 1e-5 * (1.0 + g.window() as f64).sqrt() * (1.0 + want.abs());
                    prop_assert!(
                        (got as f64 - want).abs() <= tolerance,
                        "{} at {i} of {g:?}: {got} instead of {want}", conv.kernel_name()
                    );
                }
                let again = run(&mut conv, &x, 7);
                prop_assert!(
                    got.iter().zip(&again).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{} not deterministic", conv.kernel_name()
                );
            }
        }
    }

    #[test]
    fn rows_split_into_even_tiles() {
        let g = ConvGeometry {
            cin: 3,
            h: 64,
            w: 64,
            cout: 32,
            kh: 7,
            kw: 7,
            stride: [2, 2],
            pad: [0, 0],
            ho: 29,
            wo: 29,
        };
        for isa in Isa::available() {
            let d = Direct::new(&g, &vec![0.0; 32 * 147], &[0.0; 32], isa);
            let widths: Vec<usize> = d.tiles.iter().map(|t| t.1).collect();
            assert_eq!(widths.iter().sum::<usize>(), 29);
            assert!(widths.iter().all(|&n| n <= isa.max_tile()));
            let (lo, hi) = (widths.iter().min().unwrap(), widths.iter().max().unwrap());
            assert!(hi - lo <= 1, "{widths:?}");
            assert!(d.padded.is_empty(), "no padding, no copy");
        }
    }
}
