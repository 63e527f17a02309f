//! Elementwise and per-row kernels of the MLP executor: plain loops over slices that
//! LLVM vectorises. On x86_64 each kernel is also compiled for AVX-512 and for
//! AVX2+FMA, and the widest the CPU has is picked at run time (the default x86_64
//! target is SSE2 only, a quarter of AVX-512's width). Every variant gives the same
//! bits: the code fixes the order of every sum and uses no fused multiply-add.
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
    // Pairwise, halves first, written out so it stays in registers.
    // (No `array::from_fn` in these kernels: it is not inlined into the
    // instruction-set variants and runs at the baseline's width.)
    let mut a8 = [0.0f32; 8];
    for i in 0..8 {
        a8[i] = acc[i] + acc[i + 8];
    }
    let a4 = [a8[0] + a8[4], a8[1] + a8[5], a8[2] + a8[6], a8[3] + a8[7]];
    total += (a4[0] + a4[2]) + (a4[1] + a4[3]);
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

/// Instruction sets the kernels are compiled for, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// The compilation target's own (SSE2 on x86_64, NEON on aarch64).
    Baseline,
    /// AVX2 with FMA (x86_64).
    Avx2Fma,
    /// AVX-512 F, VL and DQ (x86_64).
    Avx512,
}

impl Isa {
    /// The widest this CPU runs. O(1): the standard library caches the detection.
    #[inline]
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx512() {
                return Isa::Avx512;
            }
            if has_avx2_fma() {
                return Isa::Avx2Fma;
            }
        }
        Isa::Baseline
    }

    /// Every one this CPU runs, narrowest first.
    pub fn available() -> Vec<Isa> {
        [Isa::Baseline, Isa::Avx2Fma, Isa::Avx512]
            .into_iter()
            .filter(|&isa| isa == Isa::Baseline || isa <= Isa::best())
            .collect()
    }
}

/// Declares `pub fn $name(args)`, which runs `$body` compiled for the widest
/// instruction set the CPU has ([`Isa::best`]), and `pub fn $at(isa, args)`, which
/// runs the variant for `isa` (the baseline one if the CPU lacks it). The body must be
/// `#[inline(always)]`-only code.
macro_rules! dispatched {
    ($(#[$doc:meta])* fn $name:ident / $at:ident ($($arg:ident: $ty:ty),*) $body:block) => {
        $(#[$doc])*
        #[inline]
        pub fn $name($($arg: $ty),*) {
            $at(Isa::best(), $($arg),*)
        }

        /// The variant of the function above compiled for `isa`.
        pub fn $at(isa: Isa, $($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                match isa {
                    // SAFETY: AVX-512 F/VL/DQ, AVX2 and FMA were detected on this CPU.
                    Isa::Avx512 if has_avx512() => return unsafe { avx512($($arg),*) },
                    // SAFETY: AVX2 and FMA were detected on this CPU.
                    Isa::Avx2Fma if has_avx2_fma() => return unsafe { avx2($($arg),*) },
                    _ => {}
                }
            }
            let _ = isa;
            body($($arg),*)
        }
    };
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && has_avx2_fma()
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
    /// 1 / (1 + exp(-x)) (the exp above; exp(-x) is clamped, so the result is in (0, 1]).
    Sigmoid,
}

dispatched! {
    /// `out[i] = f(x[i])`. Allocation: none. Time: O(len).
    fn unary / unary_at (f: Unary, x: &[f32], out: &mut [f32]) {
        let pairs = x.iter().zip(out.iter_mut());
        match f {
            Unary::Exp => pairs.for_each(|(x, y)| *y = exp(*x)),
            Unary::Mish => pairs.for_each(|(x, y)| *y = mish(*x)),
            Unary::Relu => pairs.for_each(|(x, y)| *y = x.max(0.0)),
            Unary::Neg => pairs.for_each(|(x, y)| *y = -*x),
            Unary::Abs => pairs.for_each(|(x, y)| *y = x.abs()),
            Unary::Tanh => pairs.for_each(|(x, y)| *y = x.tanh()),
            Unary::Sigmoid => pairs.for_each(|(x, y)| *y = 1.0 / (1.0 + exp(-*x))),
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
    fn binary / binary_at (f: Binary, flipped: bool, a: &[f32], b: &[f32], out: &mut [f32]) {
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
    fn layer_norm / layer_norm_at (x: &[f32], scale: &[f32], bias: &[f32], epsilon: f32, mish_after: bool, out: &mut [f32]) {
        let c = scale.len();
        // Four groups at a time: each group's statistics are a chain of dependent
        // reductions (sum, then squared deviations, then a square root and a division),
        // so the four chains are written side by side for the CPU to overlap. Every
        // group still computes the same operations in the same order.
        let normalise = |xs: &[f32], ys: &mut [f32], mean: f32, inv: f32| {
            let lanes = xs.iter().zip(ys.iter_mut()).zip(scale.iter().zip(bias));
            if mish_after {
                lanes.for_each(|((x, y), (s, b))| *y = mish((x - mean) * inv * s + b));
            } else {
                lanes.for_each(|((x, y), (s, b))| *y = (x - mean) * inv * s + b);
            }
        };
        let stats = |xs: &[f32], mean: f32| sum_by(xs, |v| (v - mean) * (v - mean)) / c as f32;
        let mut xs = x.chunks_exact(4 * c);
        let mut ys = out.chunks_exact_mut(4 * c);
        for (x4, y4) in (&mut xs).zip(&mut ys) {
            let group = |g: usize| &x4[g * c..(g + 1) * c];
            let (mut means, mut invs) = ([0.0f32; 4], [0.0f32; 4]);
            for (g, mean) in means.iter_mut().enumerate() {
                *mean = sum_by(group(g), |v| v) / c as f32;
            }
            for (g, inv) in invs.iter_mut().enumerate() {
                *inv = stats(group(g), means[g]);
            }
            for inv in invs.iter_mut() {
                *inv = 1.0 / (*inv + epsilon).sqrt();
            }
            for (g, ys) in y4.chunks_exact_mut(c).enumerate() {
                normalise(group(g), ys, means[g], invs[g]);
            }
        }
        for (xs, ys) in xs.remainder().chunks_exact(c).zip(ys.into_remainder().chunks_exact_mut(c)) {
            let mean = sum_by(xs, |v| v) / c as f32;
            let inv = 1.0 / (stats(xs, mean) + epsilon).sqrt();
            normalise(xs, ys, mean, inv);
        }
    }
}

dispatched! {
    /// Softmax of each `group`-wide run of `x` into `out`. Allocation: none. Time: O(len).
    fn softmax / softmax_at (x: &[f32], group: usize, out: &mut [f32]) {
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

    /// Inputs of awkward lengths (not a multiple of any vector width) over the ranges
    /// the kernels branch on.
    fn awkward(len: usize, salt: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let h = (i.wrapping_mul(2_654_435_761) ^ salt.wrapping_mul(40_503)) >> 8;
                (h as f32 / (1u32 << 24) as f32 - 0.5) * 60.0
            })
            .collect()
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let isas = Isa::available();
        assert!(isas.contains(&Isa::Baseline) && isas.contains(&Isa::best()));
        let (x, b) = (awkward(7 * 389, 1), awkward(7 * 389, 2));
        let scale = awkward(389, 3);
        let shift = awkward(389, 4);
        let mut want = None;
        for &isa in &isas {
            let mut got = Vec::new();
            for f in [
                Unary::Exp,
                Unary::Mish,
                Unary::Relu,
                Unary::Softplus,
                Unary::Sigmoid,
            ] {
                let mut y = vec![0.0; x.len()];
                unary_at(isa, f, &x, &mut y);
                got.extend(bits(&y));
            }
            for (f, flipped) in [
                (Binary::Add, false),
                (Binary::Sub, true),
                (Binary::Div, false),
            ] {
                let mut y = vec![0.0; x.len()];
                binary_at(isa, f, flipped, &x, &b, &mut y);
                got.extend(bits(&y));
            }
            for mish_after in [false, true] {
                let mut y = vec![0.0; x.len()];
                layer_norm_at(isa, &x, &scale, &shift, 1e-5, mish_after, &mut y);
                got.extend(bits(&y));
            }
            let mut y = vec![0.0; x.len()];
            softmax_at(isa, &x, 389, &mut y);
            got.extend(bits(&y));
            match &want {
                None => want = Some(got),
                Some(w) => assert!(*w == got, "{isa:?} differs from the baseline"),
            }
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

    #[test]
    fn sigmoid_matches_its_definition_and_saturates() {
        let x = [-100.0f32, -20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 100.0];
        let mut y = [0.0f32; 9];
        unary(Unary::Sigmoid, &x, &mut y);
        for (g, v) in y.iter().zip(x) {
            let want = 1.0 / (1.0 + (-(v as f64)).exp());
            assert!(
                (*g as f64 - want).abs() < 1e-6,
                "sigmoid({v}) = {g}, want {want}"
            );
        }
        // exp(-x) is clamped at e^88, so far left of 0 the result is tiny, not NaN.
        assert!(y[0] > 0.0 && y[0] < 1e-37, "{}", y[0]);
        assert_eq!((y[4], y[8]), (0.5, 1.0));
    }
}
