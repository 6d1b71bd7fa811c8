//! Q4_1 weights dotted with Q8_1 activations, in ggml's arithmetic: activations quantized as
//! ggml's AVX2 `quantize_row_q8_1` does (scale 127/amax, round half to even, s = f16(d·Σq)),
//! and the dot accumulated in 8 f32 lanes with FMA and reduced in ggml's `hsum_float_8`
//! order, so results match llama.cpp's x86 build bit for bit where the inputs agree.

use half::f16;

pub const QK: usize = 32;

/// ggml's block_q4_1: scale, minimum, 32 nibbles.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BlockQ4_1 {
    pub d: f16,
    pub m: f16,
    pub qs: [u8; QK / 2],
}

/// ggml's block_q8_1: scale, scale × Σq, 32 signed bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BlockQ8_1 {
    pub d: f16,
    pub s: f16,
    pub qs: [i8; QK],
}

const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);

impl BlockQ8_1 {
    pub const ZERO: BlockQ8_1 = BlockQ8_1 { d: f16::ZERO, s: f16::ZERO, qs: [0; QK] };
}

pub fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    debug_assert_eq!(x.len(), y.len() * QK);
    for (xs, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(xs) {
            *q = (v * id).round_ties_even() as i8;
            sum += *q as i32;
        }
        b.d = f16::from_f32(d);
        b.s = f16::from_f32(d * sum as f32);
    }
}

pub fn dequantize_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    for (b, ys) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let (d, m) = (b.d.to_f32(), b.m.to_f32());
        for j in 0..QK / 2 {
            ys[j] = (b.qs[j] & 0x0f) as f32 * d + m;
            ys[j + QK / 2] = (b.qs[j] >> 4) as f32 * d + m;
        }
    }
}

/// Σ over blocks of the Q4_1 row times the Q8_1 row.
pub fn vec_dot(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { avx2::vec_dot(x, y) };
        }
    }
    vec_dot_scalar(x, y)
}

/// Four weight rows against one activation row: each result is bit-identical to `vec_dot`
/// (every row keeps its own accumulators), but the activation is loaded once per block and
/// the four dependency chains overlap.
pub fn vec_dot_4(x: [&[BlockQ4_1]; 4], y: &[BlockQ8_1]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { avx2::vec_dot_4(x, y) };
        }
    }
    x.map(|r| vec_dot_scalar(r, y))
}

/// The same arithmetic as the AVX2 path, lane by lane.
pub fn vec_dot_scalar(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (bx, by) in x.iter().zip(y) {
        summs += bx.m.to_f32() * by.s.to_f32();
        let d0d1 = bx.d.to_f32() * by.d.to_f32();
        for (lane, a) in acc.iter_mut().enumerate() {
            let mut s = 0i32;
            for j in lane * 4..lane * 4 + 4 {
                let q = if j < 16 { bx.qs[j] & 0x0f } else { bx.qs[j - 16] >> 4 };
                s += q as i32 * by.qs[j] as i32;
            }
            *a = d0d1.mul_add(s as f32, *a);
        }
    }
    hsum8(acc) + summs
}

/// ggml's hsum_float_8 order.
fn hsum8(a: [f32; 8]) -> f32 {
    let r = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    let r = [r[0] + r[2], r[1] + r[3]];
    r[0] + r[1]
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BlockQ4_1, BlockQ8_1};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn vec_dot(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0f32;
        let low = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        for (bx, by) in x.iter().zip(y) {
            summs += bx.m.to_f32() * by.s.to_f32();
            let d0d1 = _mm256_set1_ps(bx.d.to_f32() * by.d.to_f32());
            // 32 nibbles: low halves to bytes 0..16, high halves to bytes 16..32.
            let packed = _mm_loadu_si128(bx.qs.as_ptr() as *const __m128i);
            let both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
            let qx = _mm256_and_si256(both, low);
            let qy = _mm256_loadu_si256(by.qs.as_ptr() as *const __m256i);
            let pairs = _mm256_maddubs_epi16(qx, qy);
            let quads = _mm256_madd_epi16(pairs, ones);
            acc = _mm256_fmadd_ps(d0d1, _mm256_cvtepi32_ps(quads), acc);
        }
        hsum(acc) + summs
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(acc: __m256) -> f32 {
        let hi = _mm256_extractf128_ps(acc, 1);
        let r = _mm_add_ps(hi, _mm256_castps256_ps128(acc));
        let r = _mm_add_ps(r, _mm_movehl_ps(r, r));
        let r = _mm_add_ss(r, _mm_movehdup_ps(r));
        _mm_cvtss_f32(r)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn vec_dot_4(x: [&[BlockQ4_1]; 4], y: &[BlockQ8_1]) -> [f32; 4] {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut summs = [0f32; 4];
        let low = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        for (b, by) in y.iter().enumerate() {
            let qy = _mm256_loadu_si256(by.qs.as_ptr() as *const __m256i);
            let (dy, sy) = (by.d.to_f32(), by.s.to_f32());
            for r in 0..4 {
                let bx = x[r].get_unchecked(b);
                summs[r] += bx.m.to_f32() * sy;
                let d0d1 = _mm256_set1_ps(bx.d.to_f32() * dy);
                let packed = _mm_loadu_si128(bx.qs.as_ptr() as *const __m128i);
                let both = _mm256_set_m128i(_mm_srli_epi16(packed, 4), packed);
                let qx = _mm256_and_si256(both, low);
                let quads = _mm256_madd_epi16(_mm256_maddubs_epi16(qx, qy), ones);
                acc[r] = _mm256_fmadd_ps(d0d1, _mm256_cvtepi32_ps(quads), acc[r]);
            }
        }
        [hsum(acc[0]) + summs[0], hsum(acc[1]) + summs[1], hsum(acc[2]) + summs[2], hsum(acc[3]) + summs[3]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn q4_1_of(w: &[f32]) -> Vec<BlockQ4_1> {
        use candle_core::quantized::k_quants::GgmlType;
        let mut c = vec![candle_core::quantized::k_quants::BlockQ4_1::zeros(); w.len() / QK];
        candle_core::quantized::k_quants::BlockQ4_1::from_float(w, &mut c);
        // Same layout (both are ggml's block_q4_1).
        c.iter().map(|b| unsafe { std::mem::transmute_copy::<_, BlockQ4_1>(b) }).collect()
    }

    #[test]
    fn simd_and_scalar_agree_bit_for_bit_and_match_f32() {
        for k in [32usize, 64, 576, 1536] {
            let w = rand(k, 3);
            let x = rand(k, 9);
            let wq = q4_1_of(&w);
            let mut xq = vec![BlockQ8_1::ZERO; k / QK];
            quantize_q8_1(&x, &mut xq);
            let a = vec_dot(&wq, &xq);
            let b = vec_dot_scalar(&wq, &xq);
            assert_eq!(a.to_bits(), b.to_bits(), "k={k}");
            let others: Vec<Vec<BlockQ4_1>> = (0..3).map(|i| q4_1_of(&rand(k, 20 + i))).collect();
            let four = vec_dot_4([&wq, &others[0], &others[1], &others[2]], &xq);
            assert_eq!(four[0].to_bits(), a.to_bits(), "k={k}: 4-row kernel differs");
            assert_eq!(four[2].to_bits(), vec_dot(&others[1], &xq).to_bits());
            let mut wd = vec![0f32; k];
            dequantize_q4_1(&wq, &mut wd);
            let want: f32 = wd.iter().zip(&x).map(|(a, b)| a * b).sum();
            let scale: f32 = wd.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
            assert!((a - want).abs() < 0.02 * scale, "k={k}: {a} vs {want}");
        }
    }

    #[test]
    fn agrees_with_candles_kernel() {
        use candle_core::quantized::k_quants::{BlockQ8_1 as CQ8, GgmlType};
        let k = 576;
        let w = rand(k, 5);
        let x = rand(k, 6);
        let wq = q4_1_of(&w);
        let mut cw = vec![candle_core::quantized::k_quants::BlockQ4_1::zeros(); k / QK];
        candle_core::quantized::k_quants::BlockQ4_1::from_float(&w, &mut cw);
        let mut cx = vec![CQ8::zeros(); k / QK];
        CQ8::from_float(&x, &mut cx);
        let theirs = candle_core::quantized::k_quants::BlockQ4_1::vec_dot(k, &cw, &cx);
        let mut xq = vec![BlockQ8_1::ZERO; k / QK];
        quantize_q8_1(&x, &mut xq);
        let ours = vec_dot(&wq, &xq);
        // Both round the activations to 8 bits; they differ only in how `s` is rounded.
        assert!((ours - theirs).abs() < 0.01 * theirs.abs().max(1.0), "{ours} vs {theirs}");

    }

    #[test]
    fn q8_1_rounds_half_to_even_and_keeps_s_in_one_rounding() {
        let mut x = vec![0f32; QK];
        x[0] = 127.0;
        x[1] = 0.5; // exactly half a step: ties to even (0)
        x[2] = 1.5; // ties to even (2)
        let mut y = [BlockQ8_1::ZERO];
        quantize_q8_1(&x, &mut y);
        assert_eq!((y[0].qs[0], y[0].qs[1], y[0].qs[2]), (127, 0, 2));
        assert_eq!(y[0].s, f16::from_f32(1.0 * 129.0));
    }
}
