//! The register-tiled multiply-add kernel behind the executor's direct convolution
//! ([`super::conv`]) and dense layers ([`super::matmul`]).
//!
//! A tile is `n` outputs (output positions of a convolution, batch rows of a dense
//! layer) times a block of output channels (32 with AVX-512, 16 otherwise), held in
//! vector registers for the whole reduction: for every term it loads the block's
//! weights as vectors, broadcasts the `n` inputs under them and multiply-adds. The
//! inputs are read in place through strides, nothing is packed per call; the weights
//! were reordered once at load ([`pack`]), block-major, so the kernel streams them.
//! The terms of one output are added in one fixed order (bias, then ascending), so a
//! machine gives the same bits from call to call.

/// The instruction sets the kernel is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 16-lane `zmm` vectors, 32 channels by up to 12 outputs a tile.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// 8-lane `ymm` vectors with FMA, 16 channels by up to 6 outputs.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// 4-lane `q` vectors, 16 channels by up to 6 outputs.
    #[cfg(target_arch = "aarch64")]
    Neon,
}

impl Isa {
    /// The best direct kernel this CPU runs, if any.
    pub fn detect() -> Option<Isa> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Some(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Isa::Avx2);
            }
            None
        }
        #[cfg(target_arch = "aarch64")]
        {
            Some(Isa::Neon)
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            None
        }
    }

    /// Every direct kernel this CPU runs (the tests compare them all).
    pub fn available() -> Vec<Isa> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                all.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                all.push(Isa::Avx2);
            }
        }
        #[cfg(target_arch = "aarch64")]
        all.push(Isa::Neon);
        all
    }

    /// Output channels per tile.
    pub(super) fn channels(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => 32,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => 16,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => 16,
        }
    }

    /// Most outputs per tile (what the registers hold beside the weights).
    pub(super) fn max_tile(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => 12,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => 6,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => 6,
        }
    }

    /// Name of the convolution kernel, for logs and benchmarks.
    pub fn conv_name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "direct_conv_avx512_32xn",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "direct_conv_avx2_16xn",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "direct_conv_neon_16xn",
        }
    }

    /// Name of the dense kernel, for logs and benchmarks.
    pub fn dense_name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "direct_dense_avx512_32xn",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "direct_dense_avx2_16xn",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "direct_dense_neon_16xn",
        }
    }

    /// Name of the dot-product kernel of narrow layers, for logs and benchmarks.
    pub fn dots_name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "direct_dots_avx512",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "direct_dots_avx2",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "direct_dots_neon",
        }
    }
}

/// One 64-byte-aligned cache line of floats.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line([f32; 16]);

/// Weights reordered for the kernel: `blocks x k x channels` (`channels` =
/// [`Isa::channels`]), `weight(o, e)` at `[o / channels][e][o % channels]` and zero
/// beyond `m` outputs, in cache lines so no vector load straddles two; and the bias
/// padded with zeros to whole blocks.
pub(super) fn pack(
    isa: Isa,
    m: usize,
    k: usize,
    weight: impl Fn(usize, usize) -> f32,
    bias: &[f32],
) -> (Vec<Line>, Vec<f32>) {
    let cb = isa.channels();
    let blocks = m.div_ceil(cb);
    let mut packed = vec![0.0f32; blocks * k * cb];
    debug_assert_eq!(packed.len() % 16, 0, "blocks of 16 or 32 channels");
    let mut padded_bias = vec![0.0f32; blocks * cb];
    for o in 0..m {
        let (block, lane) = (o / cb, o % cb);
        for e in 0..k {
            packed[(block * k + e) * cb + lane] = weight(o, e);
        }
        padded_bias[o] = bias[o];
    }
    let lines = packed
        .chunks_exact(16)
        .map(|line| Line(line.try_into().expect("16 floats")))
        .collect();
    (lines, padded_bias)
}

/// The floats of packed lines.
pub(super) fn floats(lines: &[Line]) -> &[f32] {
    // SAFETY: `Line` is 16 plain floats with no padding; the lines are contiguous.
    unsafe { std::slice::from_raw_parts(lines.as_ptr() as *const f32, lines.len() * 16) }
}

/// `n` outputs in as few tiles of at most `max` as possible, as even as possible
/// (29 outputs with tiles of 12: 10, 10, 9), as `(first, count)`. Allocation: none.
pub(super) fn even_tiles(n: usize, max: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = n.div_ceil(max);
    let mut start = 0;
    (0..count).map(move |t| {
        let width = (n - start) / (count - t);
        let tile = (start, width);
        start += width;
        tile
    })
}

/// What a tile needs to walk its window and place its outputs. A dense layer is a
/// window of one channel and one row, `k` wide, its outputs `stride` apart.
pub(super) struct Shape {
    pub cin: usize,
    pub kh: usize,
    pub kw: usize,
    /// Floats per input channel plane.
    pub plane: usize,
    /// Floats per input row.
    pub row: usize,
    /// Floats from one output's inputs to the next's.
    pub stride: usize,
    /// Floats from one output channel to the next.
    pub out_channel: usize,
    /// Floats from one output to the next.
    pub out_position: usize,
}

/// One tile of `n` outputs by one channel block on `isa`.
///
/// # Safety
/// As [`tile_generic`], and `isa` runs on this CPU.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn tile(
    isa: Isa,
    n: usize,
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    channels: usize,
    s: &Shape,
) {
    unsafe { on(isa, Op::Tile { n, channels }, x, w, b, y, s) }
}

/// `m` outputs of each of `rows` rows by dot products, for layers too narrow to fill
/// a channel block: `y[j·out_channel + r·out_position] = b[j] + Σ_i x[r·stride +
/// i·step]·w[j·k + i]`, with `k` inputs either contiguous (`s.kw = k`, step 1) or
/// `s.plane` apart (`s.cin = k`, one term at a time). Contiguous inputs are summed in
/// 16 lanes whatever the vector width (two partial sums over alternate runs of 16,
/// then the lanes in order, then the tail), so every instruction set gives the same
/// bits, as the tiles do.
///
/// # Safety
/// `x` readable over `rows` rows of `k` inputs, `w` over `m·k`, `b` over `m`, `y`
/// writable at the outputs; `isa` runs on this CPU.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn dots(
    isa: Isa,
    rows: usize,
    m: usize,
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    s: &Shape,
) {
    unsafe { on(isa, Op::Dots { rows, m }, x, w, b, y, s) }
}

/// What [`on`] runs.
#[derive(Clone, Copy)]
enum Op {
    Tile { n: usize, channels: usize },
    Dots { rows: usize, m: usize },
}

/// Runs `op` compiled for `isa`.
///
/// # Safety
/// As the op's function, and `isa` runs on this CPU.
unsafe fn on(
    isa: Isa,
    op: Op,
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    s: &Shape,
) {
    unsafe {
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86::on_avx512(op, x, w, b, y, s),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86::on_avx2(op, x, w, b, y, s),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => arm::on_neon(op, x, w, b, y, s),
        }
    }
}

/// The body of [`dots`] for vectors `V`.
#[inline(always)]
unsafe fn dots_generic<V: Lanes>(
    rows: usize,
    m: usize,
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    s: &Shape,
) {
    unsafe {
        let (k, step) = if s.cin == 1 {
            (s.kw, 1)
        } else {
            (s.cin, s.plane)
        };
        // Runs of 16 inputs, each `per` vectors.
        let per = 16 / V::LANES;
        debug_assert!(per * V::LANES == 16 && per <= 4);
        let runs = if step == 1 { k / 16 } else { 0 };
        let zero = 0.0f32;
        let mut lanes = [[0.0f32; 16]; 2];
        for r in 0..rows {
            let xr = x.add(r * s.stride);
            for j in 0..m {
                let wj = w.add(j * k);
                let mut acc = [[V::splat(&zero); 4]; 2];
                for c in 0..runs {
                    let partial = &mut acc[c & 1];
                    for (v, a) in partial.iter_mut().enumerate().take(per) {
                        let at = c * 16 + v * V::LANES;
                        *a = a.mul_add(V::load(xr.add(at)), V::load(wj.add(at)));
                    }
                }
                for (partial, out) in acc.iter().zip(lanes.iter_mut()) {
                    for (v, a) in partial.iter().enumerate().take(per) {
                        a.store(out.as_mut_ptr().add(v * V::LANES));
                    }
                }
                let mut total = *b.add(j);
                for l in 0..16 {
                    total += lanes[0][l] + lanes[1][l];
                }
                for i in runs * 16..k {
                    total += *xr.add(i * step) * *wj.add(i);
                }
                *y.add(j * s.out_channel + r * s.out_position) = total;
            }
        }
    }
}

/// The vector operations the kernel is written in, one implementation per ISA.
trait Lanes: Copy {
    /// Floats per vector.
    const LANES: usize;
    /// Loads `LANES` floats (unaligned).
    unsafe fn load(p: *const f32) -> Self;
    /// Loads one float into every lane.
    unsafe fn splat(p: *const f32) -> Self;
    /// `self + a·b`, fused.
    unsafe fn mul_add(self, a: Self, b: Self) -> Self;
    /// Stores `LANES` floats (unaligned).
    unsafe fn store(self, p: *mut f32);
}

/// Dispatches a tile width to its monomorphised kernel.
macro_rules! by_width {
    ($v:ty, $vb:tt, $n:expr, ($($arg:expr),*)) => {
        match $n {
            1 => tile_generic::<$v, $vb, 1>($($arg),*),
            2 => tile_generic::<$v, $vb, 2>($($arg),*),
            3 => tile_generic::<$v, $vb, 3>($($arg),*),
            4 => tile_generic::<$v, $vb, 4>($($arg),*),
            5 => tile_generic::<$v, $vb, 5>($($arg),*),
            6 => tile_generic::<$v, $vb, 6>($($arg),*),
            _ => by_width!(@wide $v, $vb, $n, ($($arg),*)),
        }
    };
    (@wide $v:ty, 2, $n:expr, ($($arg:expr),*)) => {
        match $n {
            7 => tile_generic::<$v, 2, 7>($($arg),*),
            8 => tile_generic::<$v, 2, 8>($($arg),*),
            9 => tile_generic::<$v, 2, 9>($($arg),*),
            10 => tile_generic::<$v, 2, 10>($($arg),*),
            11 => tile_generic::<$v, 2, 11>($($arg),*),
            12 => tile_generic::<$v, 2, 12>($($arg),*),
            _ => unreachable!("tile of {} outputs", $n),
        }
    };
    (@wide $v:ty, $vb:tt, $n:expr, ($($arg:expr),*)) => {
        unreachable!("tile of {} outputs", $n)
    };
}

/// `N` outputs (one output row, `s.stride` input columns apart) by `VB` vectors of
/// channels: `y[i·out_channel + j·out_position] = b[i] + Σ_(c,ky,kx) w[(c,ky,kx)][i] ·
/// x[c·plane + ky·row + kx + j·stride]` for `i < channels`, `j < N`, in that order of
/// terms.
///
/// # Safety
/// `x` must be readable over the tile's windows, `w` over `cin·kh·kw·VB·LANES` floats,
/// `b` over `VB·LANES`, `y` writable at `i·out_channel + j·out_position` for `i < channels <=
/// VB·LANES`, `j < N`; the caller runs on a CPU with `V`'s instructions.
#[inline(always)]
unsafe fn tile_generic<V: Lanes, const VB: usize, const N: usize>(
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    channels: usize,
    s: &Shape,
) {
    unsafe {
        let bias: [V; VB] = std::array::from_fn(|v| V::load(b.add(v * V::LANES)));
        let mut acc = [bias; N];
        let mut wp = w;
        for c in 0..s.cin {
            for ky in 0..s.kh {
                let xr = x.add(c * s.plane + ky * s.row);
                for kx in 0..s.kw {
                    let wv: [V; VB] = std::array::from_fn(|v| V::load(wp.add(v * V::LANES)));
                    let xk = xr.add(kx);
                    for (j, acc) in acc.iter_mut().enumerate() {
                        let xv = V::splat(xk.add(j * s.stride));
                        for (a, &w) in acc.iter_mut().zip(&wv) {
                            *a = a.mul_add(xv, w);
                        }
                    }
                    wp = wp.add(VB * V::LANES);
                }
            }
        }
        if s.out_channel == 1 && channels == VB * V::LANES {
            // Channels contiguous (a dense layer's rows): straight from the registers.
            for (j, acc) in acc.iter().enumerate() {
                for (v, a) in acc.iter().enumerate() {
                    a.store(y.add(j * s.out_position + v * V::LANES));
                }
            }
        } else {
            // Through a small buffer, one output at a time.
            let mut lanes = [0.0f32; 64];
            debug_assert!(VB * V::LANES <= lanes.len());
            for (j, acc) in acc.iter().enumerate() {
                for (v, a) in acc.iter().enumerate() {
                    a.store(lanes.as_mut_ptr().add(v * V::LANES));
                }
                for (i, &value) in lanes[..channels].iter().enumerate() {
                    *y.add(i * s.out_channel + j * s.out_position) = value;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{dots_generic, tile_generic, Lanes, Op, Shape};

    #[derive(Clone, Copy)]
    struct Zmm(__m512);

    impl Lanes for Zmm {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { Zmm(_mm512_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> Self {
            unsafe { Zmm(_mm512_set1_ps(*p)) }
        }
        #[inline(always)]
        unsafe fn mul_add(self, a: Self, b: Self) -> Self {
            unsafe { Zmm(_mm512_fmadd_ps(a.0, b.0, self.0)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm512_storeu_ps(p, self.0) }
        }
    }

    #[derive(Clone, Copy)]
    struct Ymm(__m256);

    impl Lanes for Ymm {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { Ymm(_mm256_loadu_ps(p)) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> Self {
            unsafe { Ymm(_mm256_broadcast_ss(&*p)) }
        }
        #[inline(always)]
        unsafe fn mul_add(self, a: Self, b: Self) -> Self {
            unsafe { Ymm(_mm256_fmadd_ps(a.0, b.0, self.0)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm256_storeu_ps(p, self.0) }
        }
    }

    #[target_feature(enable = "avx512f,fma")]
    pub(super) unsafe fn on_avx512(
        op: Op,
        x: *const f32,
        w: *const f32,
        b: *const f32,
        y: *mut f32,
        s: &Shape,
    ) {
        unsafe {
            match op {
                Op::Tile { n, channels } => by_width!(Zmm, 2, n, (x, w, b, y, channels, s)),
                Op::Dots { rows, m } => dots_generic::<Zmm>(rows, m, x, w, b, y, s),
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn on_avx2(
        op: Op,
        x: *const f32,
        w: *const f32,
        b: *const f32,
        y: *mut f32,
        s: &Shape,
    ) {
        unsafe {
            match op {
                Op::Tile { n, channels } => by_width!(Ymm, 2, n, (x, w, b, y, channels, s)),
                Op::Dots { rows, m } => dots_generic::<Ymm>(rows, m, x, w, b, y, s),
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    use super::{dots_generic, tile_generic, Lanes, Op, Shape};

    #[derive(Clone, Copy)]
    struct Q(float32x4_t);

    impl Lanes for Q {
        const LANES: usize = 4;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            unsafe { Q(vld1q_f32(p)) }
        }
        #[inline(always)]
        unsafe fn splat(p: *const f32) -> Self {
            unsafe { Q(vld1q_dup_f32(p)) }
        }
        #[inline(always)]
        unsafe fn mul_add(self, a: Self, b: Self) -> Self {
            unsafe { Q(vfmaq_f32(self.0, a.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { vst1q_f32(p, self.0) }
        }
    }

    pub(super) unsafe fn on_neon(
        op: Op,
        x: *const f32,
        w: *const f32,
        b: *const f32,
        y: *mut f32,
        s: &Shape,
    ) {
        unsafe {
            match op {
                Op::Tile { n, channels } => by_width!(Q, 4, n, (x, w, b, y, channels, s)),
                Op::Dots { rows, m } => dots_generic::<Q>(rows, m, x, w, b, y, s),
            }
        }
    }
}

/// Reproducible values in [-1, 1) for the kernels' tests.
#[cfg(test)]
pub(super) fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_split_into_even_tiles() {
        for n in 1..100 {
            for max in [6, 12] {
                let tiles: Vec<_> = even_tiles(n, max).collect();
                assert_eq!(tiles.len(), n.div_ceil(max));
                let mut next = 0;
                for &(first, count) in &tiles {
                    assert_eq!(first, next, "{n} by {max}: {tiles:?}");
                    assert!((1..=max).contains(&count));
                    next += count;
                }
                assert_eq!(next, n);
                let widths = tiles.iter().map(|t| t.1);
                let spread = widths.clone().max().unwrap() - widths.min().unwrap();
                assert!(spread <= 1, "{n} by {max}: {tiles:?}");
            }
        }
    }
}
