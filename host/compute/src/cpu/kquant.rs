//! Q4_K and Q6_K against Q8_K for R activation rows at once: ggml's AVX2
//! `ggml_vec_dot_q4_K_q8_K` / `ggml_vec_dot_q6_K_q8_K` per pair (candle's AVX kernels are
//! the same port), with each weight super-block's scales and quants unpacked once per tile
//! instead of once per pair. The integer sums are exact in any order; the float steps (one
//! FMA per super-block, then the final reductions) are ggml's, so every result equals the
//! single-pair kernel's bits.

use candle_core::quantized::k_quants::{BlockQ4K, BlockQ6K, BlockQ8K, GgmlType};
use half::f16;

use super::quant::Q8K;

#[repr(C)]
pub struct Q4K {
    pub d: f16,
    pub dmin: f16,
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}
#[repr(C)]
pub struct Q6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: f16,
}
const _: () = assert!(
    std::mem::size_of::<Q4K>() == std::mem::size_of::<BlockQ4K>()
        && std::mem::align_of::<Q4K>() == std::mem::align_of::<BlockQ4K>()
        && std::mem::size_of::<Q6K>() == std::mem::size_of::<BlockQ6K>()
        && std::mem::align_of::<Q6K>() == std::mem::align_of::<BlockQ6K>()
);

fn view<A, B>(s: &[A]) -> &[B] {
    // SAFETY: only called for the mirror pairs checked above (same size, alignment and
    // repr(C) field order), all plain data.
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const B, s.len()) }
}

/// C weight rows × R activation rows of Q4_K · Q8_K.
pub fn dot_q4k<const C: usize, const R: usize>(k: usize, w: [&[BlockQ4K]; C], a: [&[BlockQ8K]; R]) -> [[f32; R]; C] {
    #[cfg(target_arch = "x86_64")]
    if super::ggml_simd::has_simd() {
        let a: [&[Q8K]; R] = a.map(view);
        // SAFETY: the CPU has AVX2, FMA and F16C.
        return w.map(|w| unsafe { x86::dot_q4k(view(w), a) });
    }
    w.map(|w| a.map(|a| BlockQ4K::vec_dot(k, w, a)))
}

/// C weight rows × R activation rows of Q6_K · Q8_K.
pub fn dot_q6k<const C: usize, const R: usize>(k: usize, w: [&[BlockQ6K]; C], a: [&[BlockQ8K]; R]) -> [[f32; R]; C] {
    #[cfg(target_arch = "x86_64")]
    if super::ggml_simd::has_simd() {
        let a: [&[Q8K]; R] = a.map(view);
        // SAFETY: the CPU has AVX2, FMA and F16C.
        return w.map(|w| unsafe { x86::dot_q6k(view(w), a) });
    }
    w.map(|w| a.map(|a| BlockQ6K::vec_dot(k, w, a)))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::quant::x86::hsum_float_8;
    use super::{Q4K, Q6K, Q8K};
    use std::arch::x86_64::*;

    /// ggml's shuffle that spreads the 16-bit scale of sub-block i over a whole register.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn scale_k4(scales: __m256i, i: usize) -> __m256i {
        let lo = (2 * i) as i8;
        _mm256_shuffle_epi8(scales, _mm256_set1_epi16(i16::from_le_bytes([lo as u8, lo as u8 + 1])))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load(p: *const u8) -> __m256i {
        _mm256_loadu_si256(p as *const __m256i)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q4k<const R: usize>(w: &[Q4K], a: [&[Q8K]; R]) -> [f32; R] {
        const KMASK1: u32 = 0x3f3f3f3f;
        const KMASK2: u32 = 0x0f0f0f0f;
        const KMASK3: u32 = 0x03030303;
        let m4 = _mm256_set1_epi8(0xF);
        let mut acc = [_mm256_setzero_ps(); R];
        let mut acc_m = [_mm_setzero_ps(); R];
        for (i, x) in w.iter().enumerate() {
            let mut utmp = [0u32; 4];
            for (u, b) in utmp.iter_mut().zip(x.scales.chunks_exact(4)) {
                *u = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            utmp[3] = ((utmp[2] >> 4) & KMASK2) | (((utmp[1] >> 6) & KMASK3) << 4);
            let uaux = utmp[1] & KMASK1;
            utmp[1] = (utmp[2] & KMASK2) | (((utmp[0] >> 6) & KMASK3) << 4);
            utmp[2] = uaux;
            utmp[0] &= KMASK1;
            let mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32(
                utmp[3] as i32,
                utmp[2] as i32,
                utmp[1] as i32,
                utmp[0] as i32,
            ));
            let mins = _mm256_extracti128_si256::<1>(mins_and_scales);
            let sc128 = _mm256_extracti128_si256::<0>(mins_and_scales);
            let scales = _mm256_insertf128_si256::<1>(_mm256_castsi128_si256(sc128), sc128);
            let (xd, xdmin) = (x.d.to_f32(), x.dmin.to_f32());
            let mut sumi = [_mm256_setzero_si256(); R];
            for r in 0..R {
                let y = &a[r][i];
                let q8sums = load(y.bsums.as_ptr() as *const u8);
                let q8s = _mm_hadd_epi16(_mm256_extracti128_si256::<0>(q8sums), _mm256_extracti128_si256::<1>(q8sums));
                let prod = _mm_madd_epi16(mins, q8s);
                acc_m[r] = _mm_fmadd_ps(_mm_set1_ps(-y.d * xdmin), _mm_cvtepi32_ps(prod), acc_m[r]);
            }
            for j in 0..4 {
                let scale_l = scale_k4(scales, 2 * j);
                let scale_h = scale_k4(scales, 2 * j + 1);
                let q4bits = load(x.qs.as_ptr().add(32 * j));
                let q4l = _mm256_and_si256(q4bits, m4);
                let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4bits), m4);
                for r in 0..R {
                    let q8 = a[r][i].qs.as_ptr().add(64 * j) as *const u8;
                    let p16l = _mm256_madd_epi16(scale_l, _mm256_maddubs_epi16(q4l, load(q8)));
                    let p16h = _mm256_madd_epi16(scale_h, _mm256_maddubs_epi16(q4h, load(q8.add(32))));
                    sumi[r] = _mm256_add_epi32(sumi[r], _mm256_add_epi32(p16l, p16h));
                }
            }
            for r in 0..R {
                let d = a[r][i].d * xd;
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
            }
        }
        std::array::from_fn(|r| {
            let m = _mm_add_ps(acc_m[r], _mm_movehl_ps(acc_m[r], acc_m[r]));
            let m = _mm_add_ss(m, _mm_movehdup_ps(m));
            hsum_float_8(acc[r]) + _mm_cvtss_f32(m)
        })
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_q6k<const R: usize>(w: &[Q6K], a: [&[Q8K]; R]) -> [f32; R] {
        let m4 = _mm256_set1_epi8(0xF);
        let m2 = _mm256_set1_epi8(3);
        let m32s = _mm256_set1_epi8(32);
        let mut acc = [_mm256_setzero_ps(); R];
        for (i, x) in w.iter().enumerate() {
            let scales = _mm_loadu_si128(x.scales.as_ptr() as *const __m128i);
            let mut sumi = [_mm256_setzero_si256(); R];
            for j in 0..2 {
                let q4bits1 = load(x.ql.as_ptr().add(64 * j));
                let q4bits2 = load(x.ql.as_ptr().add(64 * j + 32));
                let q4bits_h = load(x.qh.as_ptr().add(32 * j));
                let h = |s: usize| match s {
                    0 => _mm256_slli_epi16::<4>(_mm256_and_si256(q4bits_h, m2)),
                    1 => _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<2>(q4bits_h), m2)),
                    2 => _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<4>(q4bits_h), m2)),
                    _ => _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<6>(q4bits_h), m2)),
                };
                let q: [__m256i; 4] = [
                    _mm256_or_si256(_mm256_and_si256(q4bits1, m4), h(0)),
                    _mm256_or_si256(_mm256_and_si256(q4bits2, m4), h(1)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4bits1), m4), h(2)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(q4bits2), m4), h(3)),
                ];
                // Sub-block scale is (i8) scales[4j + s], spread as ggml's get_scale_shuffle.
                let sc: [__m256i; 4] = std::array::from_fn(|s| {
                    let b = (8 * j + 2 * s) as u8;
                    let lo = _mm_shuffle_epi8(scales, _mm_set_epi64x(0x0101010101010101 * (b + 1) as i64, 0x0101010101010101 * b as i64));
                    _mm256_cvtepi8_epi16(lo)
                });
                for r in 0..R {
                    let q8 = a[r][i].qs.as_ptr().add(128 * j) as *const u8;
                    let mut s = _mm256_setzero_si256();
                    for t in 0..4 {
                        let q8t = load(q8.add(32 * t));
                        let p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q[t], q8t), _mm256_maddubs_epi16(m32s, q8t));
                        s = _mm256_add_epi32(s, _mm256_madd_epi16(sc[t], p16));
                    }
                    sumi[r] = _mm256_add_epi32(sumi[r], s);
                }
            }
            for r in 0..R {
                let d = a[r][i].d * x.d.to_f32();
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[r]), acc[r]);
            }
        }
        std::array::from_fn(|r| hsum_float_8(acc[r]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: u64) -> Vec<f32> {
        super::super::ggml_simd::test_data(n, seed, 1.0)
    }

    #[test]
    fn tiles_are_candles_ggml_kernels_bit_for_bit() {
        let k = 256 * 3;
        let w = rand(k, 5);
        let mut q4 = vec![BlockQ4K::zeros(); k / 256];
        BlockQ4K::from_float(&w, &mut q4);
        let mut q6 = vec![BlockQ6K::zeros(); k / 256];
        BlockQ6K::from_float(&w, &mut q6);
        let acts: Vec<Vec<BlockQ8K>> = (0..4)
            .map(|r| {
                let mut b = vec![BlockQ8K::zeros(); k / 256];
                super::super::quant::quantize_q8k(&rand(k, 20 + r), &mut b);
                b
            })
            .collect();
        let a: [&[BlockQ8K]; 4] = std::array::from_fn(|r| &acts[r][..]);
        let t4 = dot_q4k(k, [&q4[..], &q4[..]], a);
        let t6 = dot_q6k(k, [&q6[..]], a);
        for r in 0..4 {
            assert_eq!(t4[1][r].to_bits(), BlockQ4K::vec_dot(k, &q4, a[r]).to_bits(), "q4_K row {r}");
            assert_eq!(t6[0][r].to_bits(), BlockQ6K::vec_dot(k, &q6, a[r]).to_bits(), "q6_K row {r}");
        }
    }
}
