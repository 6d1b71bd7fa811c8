//! Activation quantizers and dot products that reproduce ggml-cpu's x86 arithmetic exactly.
//!
//! candle's block types are used as storage (they are `repr(C)` mirrors of ggml's), but for
//! the types SmolLM2-class models use, candle's arithmetic differs from ggml's in ways that
//! show up in greedy decodes: its Q8_0/Q8_1 quantizers round half away from zero and divide by
//! d instead of multiplying by 127/amax, its Q8_1 sum is formed in f16, and its Q4_1·Q8_1 dot
//! product has no SIMD path at all. This module follows ggml's AVX2 code (`quantize_row_q8_0`,
//! `quantize_row_q8_1`, `quantize_row_q8_K_ref`, `ggml_vec_dot_q4_1_q8_1`,
//! `ggml_vec_dot_q8_0_q8_0`), including the order of the float accumulation.

use candle_core::quantized::k_quants::{BlockQ4_1, BlockQ5_0, BlockQ8K, BlockQ8_0, BlockQ8_1};
use half::f16;

/// Field-level mirrors of candle's blocks (whose fields are crate-private); same layout.
#[repr(C)]
pub struct Q4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; 16],
}
#[repr(C)]
pub struct Q5_0 {
    pub d: f16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}
#[repr(C)]
pub struct Q8_0 {
    pub d: f16,
    pub qs: [i8; 32],
}
#[repr(C)]
pub struct Q8_1 {
    pub d: f16,
    pub s: f16,
    pub qs: [i8; 32],
}
#[repr(C)]
pub struct Q8K {
    pub d: f32,
    pub qs: [i8; 256],
    pub bsums: [i16; 16],
}

macro_rules! same_layout {
    ($a:ty, $b:ty) => {
        const _: () = assert!(
            std::mem::size_of::<$a>() == std::mem::size_of::<$b>()
                && std::mem::align_of::<$a>() == std::mem::align_of::<$b>()
        );
    };
}
same_layout!(Q4_1, BlockQ4_1);
same_layout!(Q5_0, BlockQ5_0);
same_layout!(Q8_0, BlockQ8_0);
same_layout!(Q8_1, BlockQ8_1);
same_layout!(Q8K, BlockQ8K);

/// Views candle blocks as their mirrors.
pub trait Mirror: Sized {
    type M;
    fn mirror(s: &[Self]) -> &[Self::M] {
        // SAFETY: `same_layout!` checked size and alignment; both are repr(C) plain data
        // with identical field order.
        unsafe { std::slice::from_raw_parts(s.as_ptr() as *const Self::M, s.len()) }
    }
    fn mirror_mut(s: &mut [Self]) -> &mut [Self::M] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut Self::M, s.len()) }
    }
}
impl Mirror for BlockQ4_1 {
    type M = Q4_1;
}
impl Mirror for BlockQ5_0 {
    type M = Q5_0;
}
impl Mirror for BlockQ8_0 {
    type M = Q8_0;
}
impl Mirror for BlockQ8_1 {
    type M = Q8_1;
}
impl Mirror for BlockQ8K {
    type M = Q8K;
}

#[inline]
fn amax32(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| m.max(v.abs()))
}

/// ggml's `_mm256_round_ps(v, _MM_ROUND_NEAREST)` + `_mm256_cvtps_epi32` + saturating packs.
#[inline]
fn to_i8(v: f32) -> i8 {
    v.round_ties_even().clamp(-128.0, 127.0) as i8
}

/// quantize_row_q8_0 (AVX2 path): d = amax/127, q = round_even(x * 127/amax).
pub fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        for (xs, b) in x.chunks_exact(32).zip(BlockQ8_0::mirror_mut(y)) {
            // SAFETY: the CPU has AVX2, FMA and F16C; 32 values per block.
            let (d, _) = unsafe { x86::quantize_block(xs, &mut b.qs) };
            b.d = f16::from_f32(d);
        }
        return;
    }
    for (xs, b) in x.chunks_exact(32).zip(BlockQ8_0::mirror_mut(y)) {
        let amax = amax32(xs);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = f16::from_f32(d);
        for (q, &v) in b.qs.iter_mut().zip(xs) {
            *q = to_i8(v * id);
        }
    }
}

/// quantize_row_q8_1 (AVX2 path): as Q8_0, plus s = d * Σq rounded to f16 once.
pub fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        for (xs, b) in x.chunks_exact(32).zip(BlockQ8_1::mirror_mut(y)) {
            // SAFETY: the CPU has AVX2, FMA and F16C; 32 values per block.
            let (d, sum) = unsafe { x86::quantize_block(xs, &mut b.qs) };
            b.d = f16::from_f32(d);
            b.s = f16::from_f32(d * sum as f32);
        }
        return;
    }
    for (xs, b) in x.chunks_exact(32).zip(BlockQ8_1::mirror_mut(y)) {
        let amax = amax32(xs);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        b.d = f16::from_f32(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(xs) {
            *q = to_i8(v * id);
            sum += *q as i32;
        }
        b.s = f16::from_f32(d * sum as f32);
    }
}

/// quantize_row_q8_K_ref: scale from the signed value of largest magnitude, round half to
/// even (ggml's nearest_int), clamp at 127, 16-element block sums.
pub fn quantize_q8k(x: &[f32], y: &mut [BlockQ8K]) {
    for (xs, b) in x.chunks_exact(256).zip(BlockQ8K::mirror_mut(y)) {
        let (mut max, mut amax) = (0f32, 0f32);
        for &v in xs {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            b.d = 0.0;
            b.qs.fill(0);
            b.bsums.fill(0);
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(xs) {
            *q = ((iscale * v).round_ties_even() as i32).min(127) as i8;
        }
        for (s, qs) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
            *s = qs.iter().map(|&q| q as i16).sum();
        }
        b.d = 1.0 / iscale;
    }
}

fn has_avx2() -> bool {
    super::ggml_simd::has_simd()
}

/// Eight activation rows' blocks side by side, as the 8-row prefill kernels read them: the
/// kernel follows one stream instead of eight row pointers, and each row's scales are f32
/// ready for a broadcast load (no shuffle to pick a lane).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Q8x8 {
    pub qs: [[i8; 32]; 8],
    /// Each row's d (exact conversion of its f16 field).
    pub d: [f32; 8],
    /// Each row's s (Q8_1; zero for Q8_0).
    pub s: [f32; 8],
    /// Each row's 16·(q[2j] + q[2j+1]) (Q8_0; zero for Q8_1): what reading a Q5_0 block's
    /// weights unsigned (w + 16) adds to each `maddubs` pair, computed once per activation
    /// block instead of once per weight row (`dot_q5_0_x8`).
    pub c16: [[i16; 16]; 8],
}

impl Q8x8 {
    pub const ZERO: Q8x8 = Q8x8 { qs: [[0; 32]; 8], d: [0.0; 8], s: [0.0; 8], c16: [[0; 16]; 8] };
}

/// Block i of eight activation rows into `out[i]`; `fields` gives a block's (qs, d, s), and
/// `offsets` says whether to fill `c16`.
#[allow(clippy::needless_range_loop)] // r indexes five arrays at once
fn pack_x8<B>(a: [&[B]; 8], out: &mut [Q8x8], offsets: bool, fields: impl Fn(&B) -> ([i8; 32], f32, f32)) {
    for (i, o) in out.iter_mut().enumerate().take(a[0].len()) {
        for r in 0..8 {
            (o.qs[r], o.d[r], o.s[r]) = fields(&a[r][i]);
            o.c16[r] = if offsets {
                std::array::from_fn(|j| 16 * (o.qs[r][2 * j] as i16 + o.qs[r][2 * j + 1] as i16))
            } else {
                [0; 16]
            };
        }
    }
}

/// Block i of eight Q8_1 rows into `out[i]`.
pub fn pack_q8_1_x8(a: [&[BlockQ8_1]; 8], out: &mut [Q8x8]) {
    pack_x8(a.map(BlockQ8_1::mirror), out, false, |b| (b.qs, b.d.to_f32(), b.s.to_f32()))
}

/// Block i of eight Q8_0 rows into `out[i]` (s = 0, with the Q5_0 offsets).
pub fn pack_q8_0_x8(a: [&[BlockQ8_0]; 8], out: &mut [Q8x8]) {
    pack_x8(a.map(BlockQ8_0::mirror), out, true, |b| (b.qs, b.d.to_f32(), 0.0))
}

/// A Q5_0 weight block unpacked for the eight-row kernel: byte j is element j + 16 (0..=31,
/// the nibble with its fifth bit), d is the exact f32 of the block's f16. A prefill tile
/// unpacks a strip of weight rows once and every eight-row group of the tile reads it
/// (matmul.rs), instead of each group unpacking every block again: the unpack was about 14
/// of the ~60 vector ops per block and eight rows.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct U5 {
    pub q: [u8; 32],
    pub d: f32,
}

/// One Q5_0 weight row unpacked into `out` (one `U5` per block).
pub fn unpack_q5_0(w: &[BlockQ5_0], out: &mut [U5]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2, FMA and F16C.
        return unsafe { x86::unpack_q5_0(BlockQ5_0::mirror(w), out) };
    }
    for (x, o) in BlockQ5_0::mirror(w).iter().zip(out.iter_mut()) {
        let h = u32::from_le_bytes(x.qh);
        for j in 0..16 {
            o.q[j] = (x.qs[j] & 0xf) | (((h >> j) & 1) << 4) as u8;
            o.q[j + 16] = (x.qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4) as u8;
        }
        o.d = x.d.to_f32();
    }
}

/// One unpacked Q5_0 weight row × eight packed Q8_0 activation rows: exactly `dot_q5_0_x8`.
pub fn dot_q5_0_x8u(w: &[U5], packed: &[Q8x8]) -> [f32; 8] {
    assert!(packed.len() >= w.len());
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2, FMA and F16C; length checked above.
        return unsafe { x86::dot_q5_0_x8u(w, packed) };
    }
    std::array::from_fn(|r| {
        let mut sum = 0f32;
        for (x, y) in w.iter().zip(packed) {
            let si: i32 = (0..32).map(|j| (x.q[j] as i32 - 16) * y.qs[r][j] as i32).sum();
            sum += si as f32 * (x.d * y.d[r]);
        }
        sum
    })
}

/// One weight row against eight activation rows (prefill): `a` the rows, `packed` the same
/// rows packed block by block. Each result is exactly the C×R tile kernel's for its pair.
macro_rules! eight_row_kernel {
    ($($name:ident: $w:ty, $a:ty => $tile:ident),*) => {$(
        pub fn $name(w: &[$w], a: [&[$a]; 8], packed: &[Q8x8]) -> [f32; 8] {
            assert!(packed.len() >= w.len() && a.iter().all(|a| a.len() >= w.len()));
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU has AVX2, FMA and F16C; lengths checked above.
                return unsafe { x86::$name(<$w>::mirror(w), packed) };
            }
            $tile([w], a)[0]
        }
    )*};
}
eight_row_kernel!(
    dot_q4_1_x8: BlockQ4_1, BlockQ8_1 => dot_q4_1,
    dot_q5_0_x8: BlockQ5_0, BlockQ8_0 => dot_q5_0,
    dot_q8_0_x8: BlockQ8_0, BlockQ8_0 => dot_q8_0
);

/// Dot products of C weight rows with R activation rows (ggml_vec_dot_q4_1_q8_1 for each
/// pair): every weight block is unpacked once and every activation block loaded once per tile,
/// and the C×R independent accumulations keep the FMA pipes busy. Each result is exactly the
/// single-pair result (same per-pair operation order as ggml).
pub fn dot_q4_1<const C: usize, const R: usize>(w: [&[BlockQ4_1]; C], a: [&[BlockQ8_1]; R]) -> [[f32; R]; C] {
    let w = w.map(BlockQ4_1::mirror);
    let a = a.map(BlockQ8_1::mirror);
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        if C == 4 && R == 1 {
            // Decode's shape. SAFETY: the CPU has AVX2, FMA and F16C.
            let d = unsafe { x86::dot_q4_1_c4(std::array::from_fn(|c| w[c]), a[0]) };
            return std::array::from_fn(|c| [d[c]; R]);
        }
        // SAFETY: the CPU has AVX2, FMA and F16C.
        return unsafe { x86::dot_q4_1(w, a) };
    }
    w.map(|w| {
        a.map(|a| {
            let mut sum = 0f32;
            for (x, y) in w.iter().zip(a) {
                let mut si = 0i32;
                for j in 0..16 {
                    si += (x.qs[j] & 0xf) as i32 * y.qs[j] as i32 + (x.qs[j] >> 4) as i32 * y.qs[j + 16] as i32;
                }
                sum += si as f32 * (x.d.to_f32() * y.d.to_f32()) + x.m.to_f32() * y.s.to_f32();
            }
            sum
        })
    })
}

/// Dot products of C weight rows with R activation rows, Q5_0 · Q8_0
/// (ggml_vec_dot_q5_0_q8_0; candle 0.11 has no SIMD path for it).
pub fn dot_q5_0<const C: usize, const R: usize>(w: [&[BlockQ5_0]; C], a: [&[BlockQ8_0]; R]) -> [[f32; R]; C] {
    let w = w.map(BlockQ5_0::mirror);
    let a = a.map(BlockQ8_0::mirror);
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2, FMA and F16C.
        return unsafe { x86::dot_q5_0(w, a) };
    }
    w.map(|w| {
        a.map(|a| {
            let mut sum = 0f32;
            for (x, y) in w.iter().zip(a) {
                let h = u32::from_le_bytes(x.qh);
                let mut si = 0i32;
                for j in 0..16 {
                    let lo = ((x.qs[j] & 0xf) as u32 | ((h >> j) & 1) << 4) as i32 - 16;
                    let hi = ((x.qs[j] >> 4) as u32 | ((h >> (j + 16)) & 1) << 4) as i32 - 16;
                    si += lo * y.qs[j] as i32 + hi * y.qs[j + 16] as i32;
                }
                sum += si as f32 * (x.d.to_f32() * y.d.to_f32());
            }
            sum
        })
    })
}

/// Dot products of C weight rows with R activation rows, Q8_0 · Q8_0 (ggml_vec_dot_q8_0_q8_0).
pub fn dot_q8_0<const C: usize, const R: usize>(w: [&[BlockQ8_0]; C], a: [&[BlockQ8_0]; R]) -> [[f32; R]; C] {
    let w = w.map(BlockQ8_0::mirror);
    let a = a.map(BlockQ8_0::mirror);
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { x86::dot_q8_0(w, a) };
    }
    w.map(|w| {
        a.map(|a| {
            let mut sum = 0f32;
            for (x, y) in w.iter().zip(a) {
                let si: i32 = x.qs.iter().zip(&y.qs).map(|(&p, &q)| p as i32 * q as i32).sum();
                sum += si as f32 * (x.d.to_f32() * y.d.to_f32());
            }
            sum
        })
    })
}

/// Decode's four-run order over `n` rows (see `Kernel::dots_runs` in matmul.rs): `four`
/// takes row j of each of four equal runs, `one` the rows past the last whole run.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the decode loop as measured; an iterator form is other code
pub fn four_runs<'a, W: 'a>(
    n: usize,
    row: impl Fn(usize) -> &'a [W],
    out: &mut [f32],
    four: impl Fn([&'a [W]; 4]) -> [f32; 4],
    one: impl Fn(&'a [W]) -> f32,
) {
    let run = n / 4;
    for j in 0..run {
        let d = four([row(j), row(j + run), row(j + 2 * run), row(j + 3 * run)]);
        for (c, v) in d.into_iter().enumerate() {
            out[j + c * run] = v;
        }
    }
    for j in 4 * run..n {
        out[j] = one(row(j));
    }
}

/// Decode's matmul for one activation row: `rows` holds whole weight rows of `b` blocks
/// each, read as four equal runs (a call takes row j of each run, so each of its rows
/// continues a stream of consecutive rows, see matmul.rs), the rows past the last whole run
/// one by one. out[j] = row j · a; every result is the tile kernel's bits. One call per
/// column chunk, because looking up each row (copy or file) and going through the tile
/// kernel's dispatch per four rows was a sizeable share of a decode step (docs/performance.md).
macro_rules! runs_kernel {
    ($($name:ident: $w:ty, $a:ty => $tile:ident);*) => {$(
        pub fn $name(rows: &[$w], b: usize, a: &[$a], out: &mut [f32]) {
            let n = rows.len() / b;
            assert!(b > 0 && rows.len() == n * b && a.len() >= b && out.len() >= n);
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU has AVX2, FMA and F16C; lengths checked above.
                return unsafe { x86::$name(<$w>::mirror(rows), b, <$a>::mirror(a), out) };
            }
            let row = |j: usize| &rows[j * b..(j + 1) * b];
            for (j, o) in out.iter_mut().enumerate().take(n) {
                *o = $tile([row(j)], [a])[0][0];
            }
        }
    )*};
}
runs_kernel!(
    dot_q4_1_runs: BlockQ4_1, BlockQ8_1 => dot_q4_1;
    dot_q8_0_runs: BlockQ8_0, BlockQ8_0 => dot_q8_0
);

/// The AVX2 forms of the kernels above.
#[cfg(target_arch = "x86_64")]
pub(super) mod x86;

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::k_quants::{BlockQ4_1, GgmlType};

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        crate::cpu::ggml_simd::test_data(n, seed, 1.0)
    }

    #[test]
    fn quantizers_round_half_to_even_like_ggml() {
        // amax 127 makes id exactly 1, so x * id keeps the .5 ties.
        let mut x = vec![0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = 3.5;
        let mut b = vec![BlockQ8_0::zeros(); 1];
        quantize_q8_0(&x, &mut b);
        let m = &BlockQ8_0::mirror(&b)[0];
        assert_eq!(&m.qs[..4], &[127, 2, -2, 4]);
        assert_eq!(m.d.to_f32(), 1.0);
        let mut b1 = vec![BlockQ8_1::zeros(); 1];
        quantize_q8_1(&x, &mut b1);
        let m1 = &BlockQ8_1::mirror(&b1)[0];
        assert_eq!(m1.s.to_f32(), 131.0);
        let mut xk = vec![0f32; 256];
        xk[0] = 127.0;
        xk[1] = 2.5;
        let mut bk = vec![BlockQ8K::zeros(); 1];
        quantize_q8k(&xk, &mut bk);
        let mk = &BlockQ8K::mirror(&bk)[0];
        // The largest magnitude maps to -127 (ggml's sign convention), d = 1/iscale.
        assert_eq!((mk.qs[0], mk.qs[1], mk.d), (-127, -2, -1.0));
        assert_eq!(mk.bsums[0], -129);
    }

    #[test]
    fn vector_quantizers_equal_the_scalar_ones() {
        let mut x = rand(32 * 40, 77);
        x[5] = 2.5 / 127.0 * 3.0; // a few exact ties and zero blocks
        x[64..96].fill(0.0);
        let mut a = vec![BlockQ8_1::zeros(); 40];
        quantize_q8_1(&x, &mut a);
        let mut b0 = vec![BlockQ8_0::zeros(); 40];
        quantize_q8_0(&x, &mut b0);
        for (i, xs) in x.chunks_exact(32).enumerate() {
            let amax = amax32(xs);
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let want: Vec<i8> = xs.iter().map(|&v| to_i8(v * id)).collect();
            let sum: i32 = want.iter().map(|&q| q as i32).sum();
            let (m1, m0) = (&BlockQ8_1::mirror(&a)[i], &BlockQ8_0::mirror(&b0)[i]);
            assert_eq!(&m1.qs[..], &want[..], "q8_1 block {i}");
            assert_eq!(&m0.qs[..], &want[..], "q8_0 block {i}");
            assert_eq!(m1.d, f16::from_f32(amax / 127.0));
            assert_eq!(m1.s, f16::from_f32(amax / 127.0 * sum as f32));
        }
    }

    #[test]
    fn simd_dots_equal_the_scalar_definition() {
        let k = 32 * 18;
        let w = rand(k, 3);
        let mut w41 = vec![BlockQ4_1::zeros(); k / 32];
        BlockQ4_1::from_float(&w, &mut w41);
        let mut w80 = vec![BlockQ8_0::zeros(); k / 32];
        BlockQ8_0::from_float(&w, &mut w80);
        let acts: Vec<Vec<f32>> = (0..4).map(|r| rand(k, 10 + r)).collect();
        let q81: Vec<Vec<BlockQ8_1>> = acts
            .iter()
            .map(|a| {
                let mut b = vec![BlockQ8_1::zeros(); k / 32];
                quantize_q8_1(a, &mut b);
                b
            })
            .collect();
        let q80: Vec<Vec<BlockQ8_0>> = acts
            .iter()
            .map(|a| {
                let mut b = vec![BlockQ8_0::zeros(); k / 32];
                quantize_q8_0(a, &mut b);
                b
            })
            .collect();
        // Two weight rows (the second a shifted copy) × four activation rows.
        let w41b: Vec<BlockQ4_1> = w41.iter().rev().cloned().collect();
        let w80b: Vec<BlockQ8_0> = w80.iter().rev().cloned().collect();
        let tile = dot_q4_1([&w41[..], &w41b], [&q81[0][..], &q81[1], &q81[2], &q81[3]]);
        for r in 0..4 {
            for (c, w) in [&w41, &w41b].into_iter().enumerate() {
                assert_eq!(
                    dot_q4_1([&w[..]], [&q81[r][..]])[0][0],
                    tile[c][r],
                    "pairs share nothing"
                );
                // Same integers as candle's scalar kernel; only the float summation order differs.
                let s = BlockQ4_1::vec_dot_unopt(k, w, &q81[r]);
                assert!(
                    (s - tile[c][r]).abs() < 1e-3 * s.abs().max(1.0),
                    "{s} vs {}",
                    tile[c][r]
                );
            }
        }
        // The 8-row kernel (rows repeated) gives every pair's bits too.
        let rows8: [&[BlockQ8_1]; 8] = std::array::from_fn(|i| &q81[(i * 3) % 4][..]);
        let zero = Q8x8::ZERO;
        let mut packed = vec![zero; w41.len()];
        pack_q8_1_x8(rows8, &mut packed);
        let r8 = dot_q4_1_x8(&w41, rows8, &packed);
        for (i, a) in rows8.iter().enumerate() {
            assert_eq!(r8[i].to_bits(), dot_q4_1([&w41[..]], [*a])[0][0].to_bits(), "8-row kernel, row {i}");
        }
        // Q5_0: the same integers as candle's scalar kernel, every pair alone equal to its tile.
        let mut w50 = vec![BlockQ5_0::zeros(); k / 32];
        BlockQ5_0::from_float(&w, &mut w50);
        let w50b: Vec<BlockQ5_0> = w50.iter().rev().cloned().collect();
        let tile = dot_q5_0([&w50[..], &w50b], [&q80[0][..], &q80[1], &q80[2], &q80[3]]);
        for r in 0..4 {
            for (c, w) in [&w50, &w50b].into_iter().enumerate() {
                assert_eq!(dot_q5_0([&w[..]], [&q80[r][..]])[0][0].to_bits(), tile[c][r].to_bits());
                let s = BlockQ5_0::vec_dot_unopt(k, w, &q80[r]);
                assert!((s - tile[c][r]).abs() < 1e-3 * s.abs().max(1.0), "q5_0 {s} vs {}", tile[c][r]);
            }
        }
        let rows8: [&[BlockQ8_0]; 8] = std::array::from_fn(|i| &q80[(i * 3) % 4][..]);
        let mut packed = vec![zero; w50.len()];
        pack_q8_0_x8(rows8, &mut packed);
        let r8 = dot_q5_0_x8(&w50, rows8, &packed);
        for (i, a) in rows8.iter().enumerate() {
            assert_eq!(r8[i].to_bits(), dot_q5_0([&w50[..]], [*a])[0][0].to_bits(), "8-row q5_0 kernel, row {i}");
        }
        let mut unpacked = vec![U5::default(); w50.len()];
        unpack_q5_0(&w50, &mut unpacked);
        let mut packed = vec![zero; w50.len()];
        pack_q8_0_x8(rows8, &mut packed);
        let u8r = dot_q5_0_x8u(&unpacked, &packed);
        for (i, a) in rows8.iter().enumerate() {
            assert_eq!(u8r[i].to_bits(), dot_q5_0([&w50[..]], [*a])[0][0].to_bits(), "unpacked 8-row q5_0 kernel, row {i}");
        }
        let mut packed = vec![zero; w80.len()];
        pack_q8_0_x8(rows8, &mut packed);
        let r8 = dot_q8_0_x8(&w80, rows8, &packed);
        for (i, a) in rows8.iter().enumerate() {
            assert_eq!(r8[i].to_bits(), dot_q8_0([&w80[..]], [*a])[0][0].to_bits(), "8-row q8_0 kernel, row {i}");
        }
        // Decode's runs: 11 rows, four runs of two and three left over.
        let b = w41.len();
        let order = [0usize, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0];
        let rows41: Vec<BlockQ4_1> = order.iter().flat_map(|&i| [&w41, &w41b][i].iter().cloned()).collect();
        let rows80: Vec<BlockQ8_0> = order.iter().flat_map(|&i| [&w80, &w80b][i].iter().cloned()).collect();
        let (mut o41, mut o80) = ([0f32; 11], [0f32; 11]);
        dot_q4_1_runs(&rows41, b, &q81[2], &mut o41);
        dot_q8_0_runs(&rows80, b, &q80[2], &mut o80);
        for (j, &i) in order.iter().enumerate() {
            let w = [&w41, &w41b][i];
            assert_eq!(o41[j].to_bits(), dot_q4_1([&w[..], &w[..]], [&q81[2][..]])[0][0].to_bits(), "q4_1 runs, row {j}");
            let w = [&w80, &w80b][i];
            assert_eq!(o80[j].to_bits(), dot_q8_0([&w[..]], [&q80[2][..]])[0][0].to_bits(), "q8_0 runs, row {j}");
        }
        // Decode's 4-row kernel too.
        let four = dot_q4_1([&w41[..], &w41b, &w41b, &w41], [&q81[1][..]]);
        for (c, w) in [&w41, &w41b, &w41b, &w41].into_iter().enumerate() {
            assert_eq!(four[c][0].to_bits(), dot_q4_1([&w[..], &w[..]], [&q81[1][..]])[0][0].to_bits(), "4-row kernel, row {c}");
        }
        let tile = dot_q8_0([&w80[..], &w80b, &w80, &w80b], [&q80[0][..], &q80[1], &q80[2], &q80[3]]);
        for r in 0..4 {
            for (c, w) in [&w80, &w80b, &w80, &w80b].into_iter().enumerate() {
                // candle's AVX kernel is ggml's: identical bits.
                assert_eq!(BlockQ8_0::vec_dot(k, w, &q80[r]), tile[c][r]);
            }
        }
    }
}
