//! The AVX2 + FMA + F16C bodies of ggml_simd.rs's entry points, which dispatch here when the
//! CPU has those features; each gives `ggml_math`'s scalar definition's bits.

use half::f16;
use std::arch::x86_64::*;

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn load_ph(p: *const f16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
}

/// `reduce16` of the 16 lanes (lo, hi): t3 = hi + lo, t6 = t3.hi128 + t3.lo128, then
/// (t6[0] + t6[2]) + (t6[1] + t6[3]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn reduce16(lo: __m256, hi: __m256) -> f32 {
    let t3 = _mm256_add_ps(hi, lo);
    let t6 = _mm_add_ps(_mm256_extractf128_ps::<1>(t3), _mm256_castps256_ps128(t3));
    let p = _mm_add_ps(t6, _mm_movehl_ps(t6, t6)); // [t0+t2, t1+t3, ..]
    _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)))
}

/// `super::k_dots` in tinyBLAS's order for H heads at once (each K row converted once
/// for all of them); returns H.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn k_dots_tiny<const H: usize>(
    k: *const f16,
    kw: usize,
    hd: usize,
    cells: &[u32],
    q: *const f32,
    scores: *mut f32,
    stride: usize,
) -> usize {
    for (i, &c) in cells.iter().enumerate() {
        let kr = k.add(c as usize * kw);
        let mut acc = [[_mm256_setzero_ps(); 2]; H];
        let mut d = 0;
        while d < hd {
            let (lo, hi) = (load_ph(kr.add(d)), load_ph(kr.add(d + 8)));
            for (j, a) in acc.iter_mut().enumerate() {
                let qd = q.add(j * hd + d);
                a[0] = _mm256_fmadd_ps(lo, _mm256_loadu_ps(qd), a[0]);
                a[1] = _mm256_fmadd_ps(hi, _mm256_loadu_ps(qd.add(8)), a[1]);
            }
            d += 16;
        }
        for (j, a) in acc.iter().enumerate() {
            *scores.add(j * stride + i) = reduce16(a[0], a[1]);
        }
    }
    H
}

/// `super::k_dots` in ggml_vec_dot_f16's order for one head; returns 1.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn k_dots_vec(k: *const f16, kw: usize, hd: usize, cells: &[u32], q: *const f32, scores: *mut f32) -> usize {
    for (i, &c) in cells.iter().enumerate() {
        let kr = k.add(c as usize * kw);
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let mut d = 0;
        while d < hd {
            for (j, a) in acc.iter_mut().enumerate() {
                for (h, a) in a.iter_mut().enumerate() {
                    let e = d + 16 * j + 8 * h;
                    *a = _mm256_fmadd_ps(load_ph(kr.add(e)), _mm256_loadu_ps(q.add(e)), *a);
                }
            }
            d += 64;
        }
        let lane = |h: usize| _mm256_add_ps(_mm256_add_ps(acc[0][h], acc[2][h]), _mm256_add_ps(acc[1][h], acc[3][h]));
        *scores.add(i) = reduce16(lane(0), lane(1));
    }
    1
}

/// `super::pv_lanes` for H heads at once, DB 8-float chunks of the head dimension at a
/// time; returns H. `v` points at the head's values in cell 0, `p` at head 0's
/// probabilities, `acc` at head 0's accumulators.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn pv_lanes<const H: usize, const DB: usize>(
    v: *const f16,
    kw: usize,
    hd: usize,
    cells: &[u32],
    p: *const f32,
    pstride: usize,
    ways: usize,
    acc: *mut f32,
    astride: usize,
) -> usize {
    let n = cells.len();
    for l in 0..n.min(ways) {
        let mut d0 = 0;
        while d0 < hd {
            let mut a = [[_mm256_setzero_ps(); DB]; H];
            let mut i = l;
            while i < n {
                let vr = v.add(*cells.get_unchecked(i) as usize * kw + d0);
                let vv: [__m256; DB] = std::array::from_fn(|t| load_ph(vr.add(8 * t)));
                for (j, aj) in a.iter_mut().enumerate() {
                    let pj = _mm256_broadcast_ss(&*p.add(j * pstride + i));
                    for (t, at) in aj.iter_mut().enumerate() {
                        *at = _mm256_fmadd_ps(vv[t], pj, *at);
                    }
                }
                i += ways;
            }
            for (j, aj) in a.iter().enumerate() {
                for (t, at) in aj.iter().enumerate() {
                    _mm256_storeu_ps(acc.add(j * astride + l * hd + d0 + 8 * t), *at);
                }
            }
            d0 += 8 * DB;
        }
    }
    H
}

/// `ggml_math::expf` on 8 lanes; None when a lane needs the scale outside the normal
/// exponent range (the f32 product by 2^n would then round twice).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn expf8(x: __m256) -> Option<__m256> {
    let c = |b: u32| _mm256_set1_ps(f32::from_bits(b));
    let r = c(0x4b40_0000);
    let z = _mm256_fmadd_ps(x, c(0x3fb8_aa3b), r);
    let n = _mm256_sub_ps(z, r);
    let negn = _mm256_xor_ps(n, _mm256_set1_ps(-0.0));
    let b = _mm256_fmadd_ps(negn, c(0x35bf_be8e), _mm256_fmadd_ps(negn, c(0x3f31_7200), x));
    // Lanes with n < -192 flush to 0 (ggml's rule); others need -126 <= n <= 127.
    let flush = _mm256_cmp_ps::<_CMP_LT_OQ>(n, _mm256_set1_ps(-192.0));
    let low = _mm256_cmp_ps::<_CMP_LT_OQ>(n, _mm256_set1_ps(-126.0));
    let high = _mm256_cmp_ps::<_CMP_GT_OQ>(n, _mm256_set1_ps(127.0));
    let bad = _mm256_or_ps(_mm256_andnot_ps(flush, low), high);
    if _mm256_movemask_ps(bad) != 0 || _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_UNORD_Q>(x, x)) != 0 {
        return None;
    }
    let u = _mm256_mul_ps(b, b);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
            u,
            _mm256_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
        ),
        u,
        _mm256_fmadd_ps(c(0x3f7f_fff6), b, _mm256_set1_ps(1.0)),
    );
    // 2^n exactly, then one rounding of j · 2^n (what _mm512_scalef_ps does).
    let ni = _mm256_cvtps_epi32(n);
    let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(ni, _mm256_set1_epi32(127))));
    let e = _mm256_mul_ps(j, pow2);
    Some(_mm256_andnot_ps(flush, e))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn silu_mul(x: &[f32], g: &[f32], o: &mut [f32]) {
    let one = _mm256_set1_ps(1.0);
    let mut i = 0;
    while i < o.len() {
        let xv = _mm256_loadu_ps(x.as_ptr().add(i));
        match expf8(_mm256_sub_ps(_mm256_setzero_ps(), xv)) {
            Some(e) => {
                let s = _mm256_div_ps(xv, _mm256_add_ps(one, e));
                _mm256_storeu_ps(o.as_mut_ptr().add(i), _mm256_mul_ps(s, _mm256_loadu_ps(g.as_ptr().add(i))));
            }
            None => {
                for j in i..i + 8 {
                    o[j] = super::ggml_math::silu(x[j]) * g[j];
                }
            }
        }
        i += 8;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn exp_sum(s: &mut [f32], max: f32) -> f64 {
    let m = _mm256_set1_ps(max);
    let mut sum = 0f64;
    let whole = s.len() - s.len() % 16;
    let mut i = 0;
    while i < whole {
        let p = s.as_mut_ptr().add(i);
        let x0 = _mm256_sub_ps(_mm256_loadu_ps(p), m);
        let x1 = _mm256_sub_ps(_mm256_loadu_ps(p.add(8)), m);
        match (expf8(x0), expf8(x1)) {
            (Some(e0), Some(e1)) => {
                _mm256_storeu_ps(p, e0);
                _mm256_storeu_ps(p.add(8), e1);
                sum += reduce16(e0, e1) as f64;
            }
            _ => sum += super::exp_sum_scalar(&mut s[i..i + 16], max),
        }
        i += 16;
    }
    if whole < s.len() {
        sum += super::exp_sum_scalar(&mut s[whole..], max);
    }
    sum
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn axpy_f16(acc: &mut [f32], v: &[f16], p: f32) {
    let pv = _mm256_set1_ps(p);
    let (ap, vp) = (acc.as_mut_ptr(), v.as_ptr());
    let mut d = 0;
    while d < acc.len() {
        _mm256_storeu_ps(ap.add(d), _mm256_fmadd_ps(load_ph(vp.add(d)), pv, _mm256_loadu_ps(ap.add(d))));
        d += 8;
    }
}

/// The reduce16 tree applied to 16 rows, 8 columns at a time.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tree16(row: impl Fn(usize) -> __m256) -> __m256 {
    let t3: [__m256; 8] = std::array::from_fn(|i| _mm256_add_ps(row(8 + i), row(i)));
    let t6: [__m256; 4] = std::array::from_fn(|k| _mm256_add_ps(t3[4 + k], t3[k]));
    _mm256_add_ps(_mm256_add_ps(t6[0], t6[2]), _mm256_add_ps(t6[1], t6[3]))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn reduce16_rows(acc: &[f32], hd: usize, used: usize, out: &mut [f32]) {
    assert!(acc.len() >= used * hd && out.len() >= hd);
    let ap = acc.as_ptr();
    let mut d = 0;
    while d < hd {
        let v = tree16(|l| if l < used { _mm256_loadu_ps(ap.add(l * hd + d)) } else { _mm256_setzero_ps() });
        _mm256_storeu_ps(out.as_mut_ptr().add(d), v);
        d += 8;
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn reduce4x16_rows(acc: &[f32], hd: usize, used: usize, out: &mut [f32]) {
    assert!(acc.len() >= used * hd && out.len() >= hd);
    let ap = acc.as_ptr();
    let mut d = 0;
    while d < hd {
        let at = |j: usize, l: usize| {
            let row = 16 * j + l;
            if row < used { _mm256_loadu_ps(ap.add(row * hd + d)) } else { _mm256_setzero_ps() }
        };
        let v = tree16(|l| _mm256_add_ps(_mm256_add_ps(at(0, l), at(2, l)), _mm256_add_ps(at(1, l), at(3, l))));
        _mm256_storeu_ps(out.as_mut_ptr().add(d), v);
        d += 8;
    }
}
