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

#[cfg(test)]
impl Q8x8 {
    pub const ZERO: Q8x8 = Q8x8 { qs: [[0; 32]; 8], d: [0.0; 8], s: [0.0; 8], c16: [[0; 16]; 8] };
}

/// Block i of eight activation rows into `out[i]`; `fields` gives a block's (qs, d, s), and
/// `offsets` says whether to fill `c16`.
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
/// column chunk: per four rows it used to look up each row (copy or file) and go through
/// the tile kernel's dispatch, about a tenth of a SmolLM2 decode step.
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

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::{Q4_1, Q5_0, Q8_0, Q8_1, Q8x8, U5};
    use half;
    use std::arch::x86_64::*;

    /// ggml's hsum_float_8: halves, then pairs.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::cpu) fn hsum_float_8(x: __m256) -> f32 {
        let res = _mm256_extractf128_ps(x, 1);
        let res = _mm_add_ps(res, _mm256_castps256_ps128(x));
        let res = _mm_add_ps(res, _mm_movehl_ps(res, res));
        let res = _mm_add_ss(res, _mm_movehdup_ps(res));
        _mm_cvtss_f32(res)
    }

    /// u8 × i8 products summed in groups of four consecutive bytes, as 8 floats. The i16
    /// intermediate cannot saturate for our operands (|x| ≤ 127, |y| ≤ 127 or x ≤ 15), so
    /// this equals ggml's VNNI `dpbusd` variant too.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn mul_sum_us8_pairs_float(ax: __m256i, sy: __m256i) -> __m256 {
        let dot = _mm256_maddubs_epi16(ax, sy);
        _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn load32(q: &[i8; 32]) -> __m256i {
        // SAFETY: 32 readable bytes.
        unsafe { _mm256_loadu_si256(q.as_ptr() as *const __m256i) }
    }

    /// How far ahead of a weight block to prefetch: C rows, one call's worth. Decode calls
    /// the C-row kernels on rows from C runs of consecutive rows (matmul.rs), so row c's
    /// next rows in its run lie C rows on, and this is where the call after the next one
    /// reads them. Decode streams every weight once from memory; with one prefetch per cache
    /// line (`prefetch_line`), kernel_speed from memory went from 8.4-8.7 to 10.0-12.5 GB/s
    /// (Q4_1, four rows side by side) against 12 GB/s for a bare sequential read on this
    /// host. Once rows came in runs, decode paired A/B (tg128 t/s, SmolLM2, 1 / 2 threads):
    /// two calls ahead 80-92 / 107-118, one 93-100 / 128-140, none 81-93 / 122-142.
    #[inline]
    fn prefetch_distance<T>(c: usize, blocks: usize) -> usize {
        c * blocks * std::mem::size_of::<T>()
    }

    /// One block of 32 as ggml's AVX2 quantize_row_q8_0/q8_1: amax, d = amax/127, q =
    /// round-to-nearest-even(x · 127/amax) with saturating packs; returns d and Σq.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn quantize_block(x: &[f32], q: &mut [i8; 32]) -> (f32, i32) {
        assert!(x.len() >= 32);
        let p = x.as_ptr();
        let v: [__m256; 4] = std::array::from_fn(|i| _mm256_loadu_ps(p.add(8 * i)));
        let sign = _mm256_set1_ps(-0.0);
        let abs = |v: __m256| _mm256_andnot_ps(sign, v);
        let m = _mm256_max_ps(_mm256_max_ps(abs(v[0]), abs(v[1])), _mm256_max_ps(abs(v[2]), abs(v[3])));
        let m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
        let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        let amax = _mm_cvtss_f32(m4);
        let d = amax / 127.0;
        let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
        let i: [__m256i; 4] = std::array::from_fn(|k| {
            _mm256_cvtps_epi32(_mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(v[k], id)))
        });
        let sum = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
        let s4 = _mm_add_epi32(_mm256_extracti128_si256::<1>(sum), _mm256_castsi256_si128(sum));
        let s4 = _mm_hadd_epi32(s4, s4);
        let s4 = _mm_hadd_epi32(s4, s4);
        // Packs interleave 128-bit lanes; the permute puts the 32 bytes back in order.
        let i01 = _mm256_packs_epi32(i[0], i[1]);
        let i23 = _mm256_packs_epi32(i[2], i[3]);
        let b = _mm256_packs_epi16(i01, i23);
        let b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(q.as_mut_ptr() as *mut __m256i, b);
        (d, _mm_cvtsi128_si32(s4))
    }

    /// Prefetches `bytes` ahead of block `i` of a row when that block starts a new cache
    /// line: one prefetch per line, since a prefetch per block costs more issue slots than
    /// it saves.
    #[inline]
    fn prefetch_line<T>(x: &T, i: usize, bytes: usize) {
        let size = std::mem::size_of::<T>();
        if i == 0 || (i * size) / 64 != ((i - 1) * size) / 64 {
            prefetch_ahead(x, bytes);
        }
    }

    #[inline]
    fn prefetch_ahead<T>(x: &T, bytes: usize) {
        // SAFETY: SSE is part of x86-64; a prefetch never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((x as *const T as *const i8).wrapping_add(bytes)) };
    }

    /// The 32 nibbles of a Q4_1 block as bytes, low nibbles first (ggml's
    /// bytes_from_nibbles_32): the 16 bytes in both halves, the upper half shifted by 4.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn nibbles(qs: &[u8; 16]) -> __m256i {
        // SAFETY: 16 readable bytes.
        let both = unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(qs.as_ptr() as *const __m128i)) };
        _mm256_and_si256(_mm256_set1_epi8(0xf), _mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0)))
    }

    /// Two consecutive f16 fields (d and m, or d and s) as [f32; 4] lanes [first, second, 0, 0].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn f16_pair(p: *const half::f16) -> __m128 {
        // SAFETY: the caller points at two readable f16 fields.
        let bits = unsafe { std::ptr::read_unaligned(p as *const i32) };
        _mm_cvtph_ps(_mm_cvtsi32_si128(bits))
    }

    /// C weight rows × R activation rows. Per pair and block, one multiply gives both
    /// d·dy (the block's scale) and m·sy (its offset term), as ggml forms each.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn dot_q4_1<const C: usize, const R: usize>(w: [&[Q4_1]; C], a: [&[Q8_1]; R]) -> [[f32; R]; C] {
        let mut acc = [[_mm256_setzero_ps(); R]; C];
        let mut summs = [[_mm_setzero_ps(); R]; C];
        let nb = w[0].len();
        let ones = _mm256_set1_epi16(1);
        let pf = prefetch_distance::<Q4_1>(C, nb);
        for i in 0..nb {
            let qy: [__m256i; R] = std::array::from_fn(|r| load32(&a[r][i].qs));
            let ys: [__m128; R] = std::array::from_fn(|r| f16_pair(&a[r][i].d));
            for c in 0..C {
                let x = &w[c][i];
                prefetch_line(x, i, pf);
                let dm = f16_pair(&x.d);
                let qx = nibbles(&x.qs);
                for r in 0..R {
                    let p = _mm_mul_ps(dm, ys[r]);
                    summs[c][r] = _mm_add_ps(summs[c][r], p);
                    let xy = _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, _mm256_maddubs_epi16(qx, qy[r])));
                    acc[c][r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), xy, acc[c][r]);
                }
            }
        }
        let mut out = [[0f32; R]; C];
        for c in 0..C {
            for r in 0..R {
                // Lane 1 holds Σ m·sy.
                out[c][r] = hsum_float_8(acc[c][r]) + _mm_cvtss_f32(_mm_movehdup_ps(summs[c][r]));
            }
        }
        out
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q4_1_runs(rows: &[Q4_1], b: usize, a: &[Q8_1], out: &mut [f32]) {
        let row = |j: usize| &rows[j * b..(j + 1) * b];
        // SAFETY: the CPU has the features (this function's contract).
        let four = |w| unsafe { dot_q4_1_c4(w, a) };
        super::four_runs(rows.len() / b, row, out, four, |w| dot_q4_1::<1, 1>([w], [a])[0][0])
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q8_0_runs(rows: &[Q8_0], b: usize, a: &[Q8_0], out: &mut [f32]) {
        let row = |j: usize| &rows[j * b..(j + 1) * b];
        super::four_runs(rows.len() / b, row, out, |w| dot_q8_0::<4, 1>(w, [a]).map(|r| r[0]), |w| dot_q8_0::<1, 1>([w], [a])[0][0])
    }

    /// Four weight rows × one activation row (decode): the four rows' (d, m) pairs are
    /// converted together, and one multiply forms all four d·dy and m·sy of a block.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q4_1_c4(w: [&[Q4_1]; 4], a: &[Q8_1]) -> [f32; 4] {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut summs = _mm256_setzero_ps();
        let nb = w[0].len();
        assert!(w.iter().all(|w| w.len() == nb) && a.len() >= nb);
        let ones = _mm256_set1_epi16(1);
        let pf = prefetch_distance::<Q4_1>(4, nb);
        let lane: [__m256i; 4] = std::array::from_fn(|c| _mm256_set1_epi32(2 * c as i32));
        let dm_bits = |x: &Q4_1| {
            // SAFETY: d and m are two adjacent f16 fields.
            unsafe { std::ptr::read_unaligned(&x.d as *const half::f16 as *const i32) }
        };
        for i in 0..nb {
            let y = &a[i];
            let qy = load32(&y.qs);
            // [dy, sy] in every pair of lanes.
            let ys = _mm256_castpd_ps(_mm256_broadcastsd_pd(_mm_castps_pd(f16_pair(&y.d))));
            let x: [&Q4_1; 4] = std::array::from_fn(|c| &w[c][i]);
            let dm = _mm256_cvtph_ps(_mm_setr_epi32(dm_bits(x[0]), dm_bits(x[1]), dm_bits(x[2]), dm_bits(x[3])));
            // [d0·dy, m0·sy, d1·dy, m1·sy, ...]
            let p = _mm256_mul_ps(dm, ys);
            summs = _mm256_add_ps(summs, p);
            for c in 0..4 {
                prefetch_line(x[c], i, pf);
                let xy = _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, _mm256_maddubs_epi16(nibbles(&x[c].qs), qy)));
                acc[c] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(p, lane[c]), xy, acc[c]);
            }
        }
        let mut s = [0f32; 8];
        // SAFETY: 8 floats.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), summs) };
        std::array::from_fn(|c| hsum_float_8(acc[c]) + s[2 * c + 1])
    }

    /// One weight row × eight packed activation rows. Per block, one multiply forms the
    /// eight m·sy; each row's d·dy is its own multiply by a broadcast load, which costs less
    /// than picking the lane out of one eight-lane product (two shuffles per row).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q4_1_x8(w: &[Q4_1], a: &[Q8x8]) -> [f32; 8] {
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut summs = _mm256_setzero_ps();
        let ones = _mm256_set1_epi16(1);
        // The scales in a pass ahead, as in `dot_q5_0_x8`.
        let mut scales: Scales = [std::mem::MaybeUninit::uninit(); SCALE_BLOCKS];
        for (w, a) in w.chunks(SCALE_BLOCKS).zip(a.chunks(SCALE_BLOCKS)) {
            for ((x, y), s) in w.iter().zip(a).zip(scales.iter_mut()) {
                let dm = f16_pair(&x.d);
                put_scales(s, _mm_cvtss_f32(dm), y);
                let m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
                // SAFETY: 8 floats each.
                summs = _mm256_add_ps(summs, _mm256_mul_ps(m, unsafe { _mm256_loadu_ps(y.s.as_ptr()) }));
            }
            for ((x, y), s) in w.iter().zip(a).zip(scales.iter()) {
                let qx = nibbles(&x.qs);
                for r in 0..8 {
                    let xy = _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, _mm256_maddubs_epi16(qx, load32(&y.qs[r]))));
                    acc[r] = _mm256_fmadd_ps(scale(s, r), xy, acc[r]);
                }
            }
        }
        let mut s = [0f32; 8];
        // SAFETY: 8 floats.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), summs) };
        std::array::from_fn(|r| hsum_float_8(acc[r]) + s[r])
    }

    /// ggml's bytes_from_bits_32: byte j is 0xff where bit j of the 32 is set, else 0.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn bytes_from_bits_32(qh: &[u8; 4]) -> __m256i {
        let x32 = i32::from_le_bytes(*qh);
        let shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x32), shuf);
        let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub fn dot_q5_0<const C: usize, const R: usize>(w: [&[Q5_0]; C], a: [&[Q8_0]; R]) -> [[f32; R]; C] {
        let mut acc = [[_mm256_setzero_ps(); R]; C];
        let nb = w[0].len();
        let pf = prefetch_distance::<Q5_0>(C, nb);
        for i in 0..nb {
            let qy: [__m256i; R] = std::array::from_fn(|r| load32(&a[r][i].qs));
            let dy: [f32; R] = std::array::from_fn(|r| a[r][i].d.to_f32());
            for c in 0..C {
                let x = &w[c][i];
                prefetch_line(x, i, pf);
                let d0 = x.d.to_f32();
                // (nibble | bit 4) - 16: where the high bit is clear, OR in 0xF0.
                let hi = _mm256_andnot_si256(bytes_from_bits_32(&x.qh), _mm256_set1_epi8(0xF0u8 as i8));
                let qx = _mm256_or_si256(nibbles(&x.qs), hi);
                let ax = _mm256_sign_epi8(qx, qx);
                for r in 0..R {
                    let d = _mm256_set1_ps(d0 * dy[r]);
                    let q = mul_sum_us8_pairs_float(ax, _mm256_sign_epi8(qy[r], qx));
                    acc[c][r] = _mm256_fmadd_ps(d, q, acc[c][r]);
                }
            }
        }
        let mut out = [[0f32; R]; C];
        for c in 0..C {
            for r in 0..R {
                out[c][r] = hsum_float_8(acc[c][r]);
            }
        }
        out
    }

    /// One Q5_0 weight row × eight packed activation rows (see `dot_q4_1_x8`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q5_0_x8(w: &[Q5_0], a: &[Q8x8]) -> [f32; 8] {
        // SAFETY (both calls): the CPU has AVX2, FMA and F16C (this function's contract).
        unsafe {
            q5_0_x8(w, a, |x| x.d.to_f32(), |x| {
                let hi = _mm256_and_si256(bytes_from_bits_32(&x.qh), _mm256_set1_epi8(0x10));
                _mm256_or_si256(nibbles(&x.qs), hi)
            })
        }
    }

    /// The body of the eight-row Q5_0 kernels; `d` gives a block's d, `unsigned` its
    /// weights + 16 as bytes.
    ///
    /// The weights read unsigned, u = w + 16 in 0..=31 (the nibble with its fifth bit):
    /// maddubs(u, y) - 16·(y0 + y1) is exactly ggml's maddubs(|w|, sign(y, w)) = w0·y0 + w1·y1
    /// in every i16 lane (|u·y pair| <= 7874, so nothing saturates), so the i32 lanes after
    /// madd, and everything after them, are ggml's. The offset comes packed (`Q8x8::c16`),
    /// which saves the per-row sign of the signed form.
    ///
    /// Each block's eight scales d·y.d come from one multiply in a pass ahead of the dot
    /// products, which then broadcast them from memory (a load). Multiplying per pair, the
    /// compiler emits a scalar multiply and a register broadcast: two more ops on the two
    /// pipes that also run maddubs, madd and the FMA (one block's store, read back at once,
    /// stalls on store forwarding instead).
    ///
    /// # Safety
    /// The CPU must have AVX2, FMA and F16C.
    #[inline(always)]
    unsafe fn q5_0_x8<B>(w: &[B], a: &[Q8x8], d: impl Fn(&B) -> f32, unsigned: impl Fn(&B) -> __m256i) -> [f32; 8] {
        // SAFETY: the caller's CPU has the features.
        unsafe {
            let mut acc = [_mm256_setzero_ps(); 8];
            let ones = _mm256_set1_epi16(1);
            let mut scales: Scales = [std::mem::MaybeUninit::uninit(); SCALE_BLOCKS];
            for (w, a) in w.chunks(SCALE_BLOCKS).zip(a.chunks(SCALE_BLOCKS)) {
                for ((x, y), s) in w.iter().zip(a).zip(scales.iter_mut()) {
                    put_scales(s, d(x), y);
                }
                for ((x, y), s) in w.iter().zip(a).zip(scales.iter()) {
                    let ux = unsigned(x);
                    for r in 0..8 {
                        let c = _mm256_loadu_si256(y.c16[r].as_ptr() as *const __m256i);
                        let pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(ux, load32(&y.qs[r])), c);
                        let q = _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, pairs));
                        acc[r] = _mm256_fmadd_ps(scale(s, r), q, acc[r]);
                    }
                }
            }
            std::array::from_fn(|r| hsum_float_8(acc[r]))
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn unpack_q5_0(w: &[Q5_0], out: &mut [U5]) {
        for (x, o) in w.iter().zip(out.iter_mut()) {
            let hi = _mm256_and_si256(bytes_from_bits_32(&x.qh), _mm256_set1_epi8(0x10));
            // SAFETY: 32 writable bytes.
            unsafe { _mm256_storeu_si256(o.q.as_mut_ptr() as *mut __m256i, _mm256_or_si256(nibbles(&x.qs), hi)) };
            o.d = x.d.to_f32();
        }
    }

    /// Room for the scales of SCALE_BLOCKS blocks × eight rows, left uninitialised: each
    /// block's are written before they are read, and zeroing 1 KiB per call had cost 3% of
    /// a prefill.
    type Scales = [std::mem::MaybeUninit<[f32; 8]>; SCALE_BLOCKS];

    /// Block i's eight scales d·y.d[r] into `s[i]`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn put_scales(s: &mut std::mem::MaybeUninit<[f32; 8]>, d: f32, y: &Q8x8) {
        // SAFETY: eight readable f32s, and eight writable ones.
        unsafe {
            let v = _mm256_mul_ps(_mm256_set1_ps(d), _mm256_loadu_ps(y.d.as_ptr()));
            _mm256_storeu_ps(s.as_mut_ptr() as *mut f32, v)
        }
    }

    /// Row r's scale of a block whose scales `put_scales` wrote, as a broadcast load.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn scale(s: &std::mem::MaybeUninit<[f32; 8]>, r: usize) -> __m256 {
        // SAFETY: written by put_scales before this read (the callers' loop order).
        unsafe { _mm256_broadcast_ss(&s.assume_init_ref()[r]) }
    }

    /// `dot_q5_0_x8` on weights `unpack_q5_0` already unpacked.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q5_0_x8u(w: &[U5], a: &[Q8x8]) -> [f32; 8] {
        // SAFETY: the CPU has the features (this function's contract); 32 readable bytes.
        unsafe { q5_0_x8(w, a, |x| x.d, |x| _mm256_loadu_si256(x.q.as_ptr() as *const __m256i)) }
    }

    /// Blocks whose scales an eight-row kernel computes in one pass ahead of their dots.
    const SCALE_BLOCKS: usize = 32;

    /// The signed form `dot_q5_0_x8` replaced, for the kernel_speed probe.
    #[cfg(test)]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q5_0_x8_signed(w: &[Q5_0], a: &[Q8x8]) -> [f32; 8] {
        let mut acc = [_mm256_setzero_ps(); 8];
        for (x, y) in w.iter().zip(a) {
            let d = _mm256_set1_ps(x.d.to_f32());
            let hi = _mm256_andnot_si256(bytes_from_bits_32(&x.qh), _mm256_set1_epi8(0xF0u8 as i8));
            let qx = _mm256_or_si256(nibbles(&x.qs), hi);
            let ax = _mm256_sign_epi8(qx, qx);
            for r in 0..8 {
                let q = mul_sum_us8_pairs_float(ax, _mm256_sign_epi8(load32(&y.qs[r]), qx));
                let scale = _mm256_mul_ps(d, _mm256_broadcast_ss(&y.d[r]));
                acc[r] = _mm256_fmadd_ps(scale, q, acc[r]);
            }
        }
        std::array::from_fn(|r| hsum_float_8(acc[r]))
    }

    /// One Q8_0 weight row × eight packed activation rows (see `dot_q4_1_x8`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q8_0_x8(w: &[Q8_0], a: &[Q8x8]) -> [f32; 8] {
        let mut acc = [_mm256_setzero_ps(); 8];
        // The scales in a pass ahead, as in `dot_q5_0_x8`.
        let mut scales: Scales = [std::mem::MaybeUninit::uninit(); SCALE_BLOCKS];
        for (w, a) in w.chunks(SCALE_BLOCKS).zip(a.chunks(SCALE_BLOCKS)) {
            for ((x, y), s) in w.iter().zip(a).zip(scales.iter_mut()) {
                put_scales(s, x.d.to_f32(), y);
            }
            for ((x, y), s) in w.iter().zip(a).zip(scales.iter()) {
                let qx = load32(&x.qs);
                let ax = _mm256_sign_epi8(qx, qx);
                for r in 0..8 {
                    let q = mul_sum_us8_pairs_float(ax, _mm256_sign_epi8(load32(&y.qs[r]), qx));
                    acc[r] = _mm256_fmadd_ps(scale(s, r), q, acc[r]);
                }
            }
        }
        std::array::from_fn(|r| hsum_float_8(acc[r]))
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn dot_q8_0<const C: usize, const R: usize>(w: [&[Q8_0]; C], a: [&[Q8_0]; R]) -> [[f32; R]; C] {
        let mut acc = [[_mm256_setzero_ps(); R]; C];
        let nb = w[0].len();
        let pf = prefetch_distance::<Q8_0>(C, nb);
        for i in 0..nb {
            let qy: [__m256i; R] = std::array::from_fn(|r| load32(&a[r][i].qs));
            let dy: [f32; R] = std::array::from_fn(|r| a[r][i].d.to_f32());
            for c in 0..C {
                let x = &w[c][i];
                prefetch_line(x, i, pf);
                let d0 = x.d.to_f32();
                let qx = load32(&x.qs);
                // |x| and sign-applied y, as ggml's mul_sum_i8_pairs_float.
                let ax = _mm256_sign_epi8(qx, qx);
                for r in 0..R {
                    let d = _mm256_set1_ps(d0 * dy[r]);
                    let q = mul_sum_us8_pairs_float(ax, _mm256_sign_epi8(qy[r], qx));
                    acc[c][r] = _mm256_fmadd_ps(d, q, acc[c][r]);
                }
            }
        }
        let mut out = [[0f32; R]; C];
        for c in 0..C {
            for r in 0..R {
                out[c][r] = hsum_float_8(acc[c][r]);
            }
        }
        out
    }
}

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

#[cfg(test)]
mod speed {
    //! `cargo nextest run --release --workspace --run-ignored only -E 'test(kernel_speed)'
    //! --no-capture`: decode and prefill kernel throughput out of cache and in L2 (not a timed
    //! test).
    use super::*;
    use candle_core::quantized::k_quants::GgmlType;

    /// Best of many passes: on a shared machine the fastest pass is the one nobody preempted.
    fn gbps(bytes: usize, f: &mut dyn FnMut()) -> f64 {
        f();
        let t = std::time::Instant::now();
        let mut best = f64::MAX;
        while t.elapsed().as_millis() < 1500 {
            let p = std::time::Instant::now();
            f();
            best = best.min(p.elapsed().as_secs_f64());
        }
        bytes as f64 / best / 1e9
    }

    /// `rows` rows quantized from the same `a`.
    fn weights<T: GgmlType>(rows: usize, a: &[f32]) -> Vec<T> {
        let mut row = vec![T::zeros(); a.len() / T::BLCK_SIZE];
        T::from_float(a, &mut row);
        (0..rows).flat_map(|_| row.iter().cloned()).collect()
    }

    #[test]
    #[ignore]
    fn kernel_speed() {
        let k = 576;
        let qb = k / 32;
        let a: Vec<f32> = (0..k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let mut q81 = vec![BlockQ8_1::zeros(); qb];
        quantize_q8_1(&a, &mut q81);
        let mut q80 = vec![BlockQ8_0::zeros(); qb];
        quantize_q8_0(&a, &mut q80);
        for rows in [1024usize, 160 * 1024] {
            let w41: Vec<BlockQ4_1> = weights(rows, &a);
            let w80: Vec<BlockQ8_0> = weights(rows, &a);
            let mut sink = 0f32;
            let g41 = gbps(rows * qb * 20, &mut || {
                for j in (0..rows).step_by(4) {
                    let w = std::array::from_fn(|c| &w41[(j + c) * qb..(j + c + 1) * qb]);
                    sink += dot_q4_1::<4, 1>(w, [&q81[..]])[0][0];
                }
            });
            let g41s = gbps(rows * qb * 20, &mut || {
                for j in 0..rows {
                    sink += dot_q4_1::<1, 1>([&w41[j * qb..(j + 1) * qb]], [&q81[..]])[0][0];
                }
            });
            eprintln!("{rows} rows: q4_1 row by row {g41s:.2} GB/s");
            let g80 = gbps(rows * qb * 34, &mut || {
                for j in (0..rows).step_by(4) {
                    let w = std::array::from_fn(|c| &w80[(j + c) * qb..(j + c + 1) * qb]);
                    sink += dot_q8_0::<4, 1>(w, [&q80[..]])[0][0];
                }
            });
            let g80s = gbps(rows * qb * 34, &mut || {
                for j in 0..rows {
                    sink += dot_q8_0::<1, 1>([&w80[j * qb..(j + 1) * qb]], [&q80[..]])[0][0];
                }
            });
            eprintln!("{rows} rows: q4_1 {g41:.2} GB/s, q8_0 {g80:.2} GB/s, q8_0 row by row {g80s:.2} GB/s ({sink})");
            // Prefill: one weight row × eight packed activation rows, in block pairs per ns.
            let rows8: [&[BlockQ8_1]; 8] = std::array::from_fn(|_| &q81[..]);
            let zero = Q8x8::ZERO;
            let mut packed = vec![zero; qb];
            pack_q8_1_x8(rows8, &mut packed);
            let g = gbps(rows * qb * 8, &mut || {
                for j in 0..rows {
                    sink += dot_q4_1_x8(&w41[j * qb..(j + 1) * qb], rows8, &packed)[0];
                }
            });
            eprintln!("{rows} rows: q4_1 x8 prefill {g:.2} G block pairs/s ({sink})");
            let w50: Vec<BlockQ5_0> = weights(rows, &a);
            let rows80: [&[BlockQ8_0]; 8] = std::array::from_fn(|_| &q80[..]);
            pack_q8_0_x8(rows80, &mut packed);
            let w50m = BlockQ5_0::mirror(&w50);
            let gu = gbps(rows * qb * 8, &mut || {
                for j in 0..rows {
                    sink += unsafe { x86::dot_q5_0_x8(&w50m[j * qb..(j + 1) * qb], &packed) }[0];
                }
            });
            let gs = gbps(rows * qb * 8, &mut || {
                for j in 0..rows {
                    sink += unsafe { x86::dot_q5_0_x8_signed(&w50m[j * qb..(j + 1) * qb], &packed) }[0];
                }
            });
            // As a prefill tile runs it: strips of 20 rows unpacked once, then read by eight
            // eight-row groups (the unpack's cost included).
            let mut u = vec![U5::default(); 20 * qb];
            let gp = gbps(rows * qb * 8 * 8, &mut || {
                for s0 in (0..rows).step_by(20) {
                    let s1 = (s0 + 20).min(rows);
                    for j in s0..s1 {
                        unpack_q5_0(&w50[j * qb..(j + 1) * qb], &mut u[(j - s0) * qb..(j - s0 + 1) * qb]);
                    }
                    for _group in 0..8 {
                        for j in s0..s1 {
                            sink += unsafe { x86::dot_q5_0_x8u(&u[(j - s0) * qb..(j - s0 + 1) * qb], &packed) }[0];
                        }
                    }
                }
            });
            eprintln!(
                "{rows} rows: q5_0 x8 prefill unsigned {gu:.2}, signed {gs:.2}, unpacked strips {gp:.2} G block pairs/s ({sink})"
            );
        }
    }
}
