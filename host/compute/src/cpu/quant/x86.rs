//! The AVX2 forms of quant.rs's kernels (ggml's `arch/x86/quants.c` path): quant.rs holds the
//! portable definitions and dispatches here when the CPU has AVX2, FMA and F16C; every function
//! here gives the portable one's bits.

// The kernels index several per-row arrays (accumulators, scales, activation rows) with one row
// index, in loops that are the form measured and tested bit for bit.
#![allow(clippy::needless_range_loop)]

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
/// reads them. Decode streams every weight once from memory; one prefetch per cache line
/// (`prefetch_line`) brings the kernels close to a bare sequential read, and this distance
/// decoded faster than two calls ahead or none (docs/performance.md has the runs).
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
/// block's are written before they are read, and zeroing 1 KiB per call showed up in a
/// prefill's time (docs/performance.md).
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

/// The signed form `dot_q5_0_x8` replaced, for the kernel_speed bench to compare (`probe.rs`).
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
