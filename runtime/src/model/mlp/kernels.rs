//! Elementwise and per-row kernels of the MLP executor: plain loops over slices that
//! LLVM vectorises. On x86_64 each kernel is also compiled for AVX2+FMA and picked at
//! run time (the default x86_64 target is SSE2 only, which halves the vector width).
//!
//! `exp` is a polynomial approximation that vectorises (libm's `expf` is a call per
//! element): max relative error 2e-7 (about 2 ulp) over [-87, 88], tested below
//! against `f32::exp`. Below -87 it returns 0, avoiding subnormals.

/// `x * tanh(softplus(x))`, tanh(ln(1+e)) = e(e+2) / (e(e+2) + 2) with e = exp(x),
/// so one exp per element. Above 20 the factor is 1 to f32 precision.
#[inline(always)]
fn mish(x: f32) -> f32 {
    let e = exp(x.min(20.0));
    let n = e * (e + 2.0);
    let y = x * n / (n + 2.0);
    if x > 20.0 {
        x
    } else {
        y
    }
}

/// exp(x) by 2^round(x·log2 e) · p(r), with Cephes' degree-7 polynomial on |r| <= ln2/2.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding it rounds to an integer in the low mantissa bits (no floor call).
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.0, 88.0);
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // Cephes' expf minimax coefficients.
    let q = 1.987_569_2e-4f32;
    let q = q * r + 1.398_199_9e-3;
    let q = q * r + 8.333_452e-3;
    let q = q * r + 4.166_579_6e-2;
    let q = q * r + 1.666_666_5e-1;
    let q = q * r + 5.000_000_1e-1;
    // Plain multiply-adds (no fused ones): the same bits with and without FMA.
    let p = q * r * r + r + 1.0;
    let bits = ((t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23) as u32;
    let y = p * f32::from_bits(bits);
    if x < -87.0 {
        0.0
    } else {
        y
    }
}

/// Σ f(x) with 16 independent partial sums (a strict left-to-right float sum does not
/// vectorise and is bound by the add latency). Fixed order, so deterministic.
#[inline(always)]
fn sum_by(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let chunks = xs.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += f(*x);
        }
    }
    let mut total = tail.iter().map(|x| f(*x)).sum::<f32>();
    for half in [8, 4, 2, 1] {
        for i in 0..half {
            acc[i] += acc[i + half];
        }
    }
    total += acc[0];
    total
}

/// max over `xs` with 16 lanes (see [`sum_by`]).
#[inline(always)]
fn max_of(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = xs.chunks_exact(16);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a = a.max(*x);
        }
    }
    acc.iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// Declares `pub fn $name(args)` that runs `$body` compiled for AVX2+FMA when the CPU
/// has them, else for the baseline target. The body must be `#[inline(always)]`-only code.
macro_rules! dispatched {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if has_avx2_fma() {
                    // SAFETY: AVX2 and FMA were detected on this CPU.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// A unary elementwise function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    /// exp (the approximation above).
    Exp,
    /// tanh (libm).
    Tanh,
    /// ln(1 + exp(x)), exact above 20.
    Softplus,
    /// max(x, 0).
    Relu,
    /// -x.
    Neg,
    /// |x|.
    Abs,
    /// x·tanh(softplus(x)), fused.
    Mish,
}

dispatched! {
    /// `out[i] = f(x[i])`. Allocation: none. Time: O(len).
    fn unary(f: Unary, x: &[f32], out: &mut [f32]) {
        let pairs = x.iter().zip(out.iter_mut());
        match f {
            Unary::Exp => pairs.for_each(|(x, y)| *y = exp(*x)),
            Unary::Mish => pairs.for_each(|(x, y)| *y = mish(*x)),
            Unary::Relu => pairs.for_each(|(x, y)| *y = x.max(0.0)),
            Unary::Neg => pairs.for_each(|(x, y)| *y = -*x),
            Unary::Abs => pairs.for_each(|(x, y)| *y = x.abs()),
            Unary::Tanh => pairs.for_each(|(x, y)| *y = x.tanh()),
            Unary::Softplus => pairs.for_each(|(x, y)| {
                *y = if *x > 20.0 { *x } else { x.exp().ln_1p() }
            }),
        }
    }
}

/// A binary elementwise function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a · b.
    Mul,
    /// a / b.
    Div,
}

impl Binary {
    #[inline(always)]
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
        }
    }
}

dispatched! {
    /// `out[i] = a[i] ∘ b[i]`, or `b[i] ∘ a[i]` when `flipped`. Allocation: none. Time: O(len).
    fn binary(f: Binary, flipped: bool, a: &[f32], b: &[f32], out: &mut [f32]) {
        let triples = a.iter().zip(b).zip(out.iter_mut());
        // One loop per case, so each is a straight vectorisable loop.
        match (f, flipped) {
            (Binary::Add, _) => triples.for_each(|((a, b), y)| *y = a + b),
            (Binary::Mul, _) => triples.for_each(|((a, b), y)| *y = a * b),
            (f, false) => triples.for_each(|((a, b), y)| *y = f.apply(*a, *b)),
            (f, true) => triples.for_each(|((a, b), y)| *y = f.apply(*b, *a)),
        }
    }
}

dispatched! {
    /// Layer normalisation of each `scale.len()`-wide group of `x` into `out`, then
    /// Mish when `mish`. Two passes over each group (mean, variance) plus the write.
    /// Allocation: none. Time: O(len).
    fn layer_norm(x: &[f32], scale: &[f32], bias: &[f32], epsilon: f32, mish_after: bool, out: &mut [f32]) {
        let c = scale.len();
        for (xs, ys) in x.chunks_exact(c).zip(out.chunks_exact_mut(c)) {
            let mean = sum_by(xs, |v| v) / c as f32;
            let var = sum_by(xs, |v| (v - mean) * (v - mean)) / c as f32;
            let inv = 1.0 / (var + epsilon).sqrt();
            let lanes = xs.iter().zip(ys.iter_mut()).zip(scale.iter().zip(bias));
            if mish_after {
                lanes.for_each(|((x, y), (s, b))| *y = mish((x - mean) * inv * s + b));
            } else {
                lanes.for_each(|((x, y), (s, b))| *y = (x - mean) * inv * s + b);
            }
        }
    }
}

dispatched! {
    /// Softmax of each `group`-wide run of `x` into `out`. Allocation: none. Time: O(len).
    fn softmax(x: &[f32], group: usize, out: &mut [f32]) {
        for (xs, ys) in x.chunks_exact(group).zip(out.chunks_exact_mut(group)) {
            let max = max_of(xs);
            xs.iter().zip(ys.iter_mut()).for_each(|(x, y)| *y = exp(x - max));
            let scale = 1.0 / sum_by(ys, |y| y);
            ys.iter_mut().for_each(|y| *y *= scale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_2e_7_relative_of_libm_over_its_range() {
        let mut worst = 0.0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
            x += 0.001_7;
        }
        assert!(worst <= 2e-7, "worst relative error {worst:e}");
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn fused_mish_matches_its_definition() {
        let xs: Vec<f32> = (-4000..4000).map(|i| i as f32 * 0.01).collect();
        let mut got = vec![0.0; xs.len()];
        unary(Unary::Mish, &xs, &mut got);
        for (x, g) in xs.iter().zip(&got) {
            let want = (*x as f64) * (*x as f64).exp().ln_1p().tanh();
            let err = (*g as f64 - want).abs() / want.abs().max(1e-3);
            assert!(err < 1e-6, "mish({x}) = {g}, want {want}");
        }
    }

    #[test]
    fn layer_norm_and_softmax_match_their_definitions() {
        let x = [1.0f32, 2.0, 3.0, 6.0, -1.0, 0.0, 1.0, 0.0];
        let (scale, bias) = ([2.0f32, 1.0, 1.0, 0.5], [0.0f32, 1.0, 0.0, 0.0]);
        let mut y = [0.0f32; 8];
        layer_norm(&x, &scale, &bias, 0.0, false, &mut y);
        // Row 0: mean 3, var 3.5.
        let s = 3.5f32.sqrt();
        let want0 = [-2.0 / s * 2.0, -1.0 / s + 1.0, 0.0, 3.0 / s * 0.5];
        for (g, w) in y[..4].iter().zip(want0) {
            assert!((g - w).abs() < 1e-6);
        }
        softmax(&x, 4, &mut y);
        let denom: f32 = x[..4].iter().map(|v| v.exp()).sum();
        for (g, v) in y[..4].iter().zip(&x[..4]) {
            assert!((g - v.exp() / denom).abs() < 1e-6);
        }
        assert!((y[4..].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
