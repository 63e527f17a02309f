//! The yardstick for the world model's FLOP/s: how fast tract-linalg's own f32 matrix
//! kernels multiply on this machine, measured with one optimised tract matmul (weights
//! constant and pre-packed, as in every world-model Gemm).

use std::time::{Duration, Instant};

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::runtime::RunOptions;

/// Throughput of one matmul shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatmulThroughput {
    /// `[m, k, n]`: `[m, k]` input times `[k, n]` constant weights.
    pub shape: [usize; 3],
    /// Floating-point operations of one product (`2·m·k·n`).
    pub flops: u64,
    /// Fastest run.
    pub best: Duration,
    /// Median run.
    pub median: Duration,
}

impl MatmulThroughput {
    /// GFLOP/s of the fastest run: the peak this machine's kernels reach.
    pub fn peak_gflops(&self) -> f64 {
        self.flops as f64 / self.best.as_secs_f64() / 1e9
    }

    /// GFLOP/s of the median run.
    pub fn median_gflops(&self) -> f64 {
        self.flops as f64 / self.median.as_secs_f64() / 1e9
    }
}

/// A runnable tract plan of `[m, k] x [k, n]` with constant weights, on `threads`
/// threads for tract's matrix products (1: the caller's thread only).
pub fn matmul_plan([m, k, n]: [usize; 3], threads: usize) -> TractResult<Arc<TypedSimplePlan>> {
    let mut model = TypedModel::default();
    let a = model.add_source("a", f32::fact([m, k]))?;
    let weights: Vec<f32> = (0..k * n).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect();
    let b = model.add_const("b", tract_ndarray::Array2::from_shape_vec((k, n), weights)?)?;
    let out = model.wire_node(
        "gemm",
        EinSum::new("mk,kn->mn".parse()?, f32::datum_type()),
        &[a, b],
    )?;
    model.select_output_outlets(&out)?;
    let options = RunOptions {
        executor: (threads > 1).then(|| {
            tract_onnx::prelude::tract_linalg::multithread::Executor::multithread(threads)
        }),
        ..RunOptions::default()
    };
    model.into_optimized()?.into_runnable_with_options(&options)
}

/// Times `iters` products of `shape` on `threads` threads after `iters / 10 + 1`
/// untimed ones.
pub fn measure_matmul(
    shape: [usize; 3],
    threads: usize,
    iters: usize,
) -> TractResult<MatmulThroughput> {
    let [m, k, n] = shape;
    let plan = matmul_plan(shape, threads)?;
    let mut state = TypedSimpleState::new(&plan)?;
    let input: TValue =
        tract_ndarray::Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0)
            .into_tensor()
            .into();
    for _ in 0..iters / 10 + 1 {
        state.run(tvec![input.clone()])?;
    }
    let mut samples = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        let t = Instant::now();
        state.run(tvec![input.clone()])?;
        samples.push(t.elapsed());
    }
    samples.sort_unstable();
    Ok(MatmulThroughput {
        shape,
        flops: 2 * (m * k * n) as u64,
        best: samples[0],
        median: samples[samples.len() / 2],
    })
}

/// Times `iters` products of `shape` by the MLP executor's dense layer
/// ([`crate::model::mlp::matmul::Linear`], on the engine it picks for this CPU), one
/// thread, after `iters / 10 + 1` untimed ones: the kernel the world models' layers
/// run on, against the same yardstick. Returns the kernel's name too.
pub fn measure_dense(shape: [usize; 3], iters: usize) -> TractResult<(String, MatmulThroughput)> {
    use crate::model::mlp::matmul::Linear;
    let [m, k, n] = shape;
    let weights: Vec<f32> = (0..k * n).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect();
    let weights = Tensor::from_shape(&[k, n], &weights)?;
    let mut layer = Linear::new(&weights, 0, vec![0.0; n], m)?;
    let input: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
    let out = Tensor::zero::<f32>(&[m, n])?;
    let mut call = || -> TractResult<Duration> {
        let t = Instant::now();
        // SAFETY: `input` holds `m` rows of `k`, `out` `m` rows of `n`, and `m` is the
        // layer's `max_rows`.
        unsafe { layer.run(input.as_ptr(), k, m, &out, 0, n)? };
        Ok(t.elapsed())
    };
    for _ in 0..iters / 10 + 1 {
        call()?;
    }
    let mut samples = (0..iters.max(1))
        .map(|_| call())
        .collect::<TractResult<Vec<_>>>()?;
    samples.sort_unstable();
    let name = layer.kernel_name().to_string();
    Ok((
        name,
        MatmulThroughput {
            shape,
            flops: 2 * (m * k * n) as u64,
            best: samples[0],
            median: samples[samples.len() / 2],
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timed_graph_computes_the_matrix_product() {
        let plan = matmul_plan([3, 5, 4], 1).expect("plan");
        let a: Vec<f32> = (0..15).map(|i| i as f32).collect();
        let input = tract_ndarray::Array2::from_shape_vec((3, 5), a.clone())
            .expect("shape")
            .into_tensor();
        let out = plan.run(tvec![input.into()]).expect("run");
        let out = out[0].to_plain_array_view::<f32>().expect("f32 output");
        let w = |kk: usize, nn: usize| (((kk * 4 + nn) % 17) as f32 - 8.0) / 64.0;
        for i in 0..3 {
            for j in 0..4 {
                let expected: f32 = (0..5).map(|kk| a[i * 5 + kk] * w(kk, j)).sum();
                assert!((out[[i, j]] - expected).abs() < 1e-4, "({i},{j})");
            }
        }
    }

    #[test]
    fn throughput_counts_two_flops_per_multiply_add() {
        let t = measure_matmul([8, 16, 32], 1, 3).expect("measure");
        assert_eq!(t.flops, 2 * 8 * 16 * 32);
        assert!(t.best <= t.median);
        assert!(t.peak_gflops() > 0.0 && t.peak_gflops().is_finite());
    }
}
