//! AVX2 + F16C versions of `ggml_math`'s replicas, bit for bit the same results.
//!
//! ggml's reference arithmetic here is its AVX-512 build (16-lane accumulators); every one of
//! those operations is lane-wise, so a 16-lane accumulator is two 8-lane AVX2 registers and
//! the reduction trees are the same additions in the same pairs (IEEE addition commutes, so
//! only the pairing matters). The scalar functions in `ggml_math` stay as the definition: the
//! tests below check these against them on random data, and every entry point falls back to
//! them on a CPU without AVX2/FMA/F16C or for shapes the vector code does not cover.

use half::f16;

use super::ggml_math;

pub fn has_simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The K dots of one attention task: `scores[j * stride + i]` = K[cells[i]] · q_j for each
/// head j of `qs` ([heads][hd], f16 values held as f32), in tinyBLAS's order when `tiny`
/// (`dot_f16_tiny`), else ggml_vec_dot_f16's (`dot_f16_vec`). K rows are `kw` wide; the
/// head's keys start at `off`.
#[allow(clippy::too_many_arguments)]
pub fn k_dots(tiny: bool, k: &[f16], kw: usize, off: usize, hd: usize, cells: &[u32], qs: &[f32], scores: &mut [f32], stride: usize) {
    let heads = qs.len() / hd;
    let n = cells.len();
    assert!(heads == 0 || scores.len() >= (heads - 1) * stride + n);
    assert!(cells.iter().all(|&c| c as usize * kw + off + hd <= k.len()));
    #[cfg(target_arch = "x86_64")]
    if has_simd() && hd % if tiny { 16 } else { 64 } == 0 {
        // SAFETY: the CPU has the features; rows, queries and scores in bounds (above).
        unsafe {
            let (kp, qp, sp) = (k.as_ptr().add(off), qs.as_ptr(), scores.as_mut_ptr());
            let mut j = 0;
            while j < heads {
                let (qj, sj) = (qp.add(j * hd), sp.add(j * stride));
                j += match (tiny, heads - j) {
                    (true, 1) => x86::k_dots_tiny::<1>(kp, kw, hd, cells, qj, sj, stride),
                    (true, 2) => x86::k_dots_tiny::<2>(kp, kw, hd, cells, qj, sj, stride),
                    (true, 3) => x86::k_dots_tiny::<3>(kp, kw, hd, cells, qj, sj, stride),
                    (true, _) => x86::k_dots_tiny::<4>(kp, kw, hd, cells, qj, sj, stride),
                    (false, _) => x86::k_dots_vec(kp, kw, hd, cells, qj, sj),
                };
            }
        }
        return;
    }
    for j in 0..heads {
        let qj = &qs[j * hd..(j + 1) * hd];
        for (i, &c) in cells.iter().enumerate() {
            let kr = &k[c as usize * kw + off..c as usize * kw + off + hd];
            scores[j * stride + i] = if tiny { ggml_math::dot_f16_tiny(kr, qj) } else { ggml_math::dot_f16_vec(kr, qj) };
        }
    }
}

/// The V products of one attention task, lane by lane: for each head j (probabilities
/// `p[j * pstride..]`, by rank) and lane l < min(n, ways), the accumulator row
/// `acc[j * astride + l * hd..][..hd]` = Σ over the ranks i ≡ l (mod ways), in increasing
/// order, of fma(V[cells[i]], p_i, ·) from +0.0 — what accumulating rank by rank into
/// acc[i % ways] gives, with each accumulator kept in registers for its whole run.
/// `v` rows are `kw` wide; the head's values start at `off`.
#[allow(clippy::too_many_arguments)]
pub fn pv_lanes(
    v: &[f16],
    kw: usize,
    off: usize,
    hd: usize,
    cells: &[u32],
    p: &[f32],
    pstride: usize,
    heads: usize,
    ways: usize,
    acc: &mut [f32],
    astride: usize,
) {
    let n = cells.len();
    let used = n.min(ways);
    assert!(heads == 0 || (p.len() >= (heads - 1) * pstride + n && acc.len() >= (heads - 1) * astride + used * hd));
    assert!(cells.iter().all(|&c| c as usize * kw + off + hd <= v.len()));
    #[cfg(target_arch = "x86_64")]
    if has_simd() && hd % 8 == 0 {
        // SAFETY: the CPU has the features; every V row, probability and accumulator row
        // touched is in bounds (checked above).
        unsafe {
            let (vp, pp, ap) = (v.as_ptr().add(off), p.as_ptr(), acc.as_mut_ptr());
            let chunks = hd / 8;
            let mut j = 0;
            while j < heads {
                let (pj, aj) = (pp.add(j * pstride), ap.add(j * astride));
                // As many heads per pass as keep about eight accumulators in registers.
                let done = match (heads - j, chunks) {
                    (1, c) if c % 8 == 0 => x86::pv_lanes::<1, 8>(vp, kw, hd, cells, pj, pstride, ways, aj, astride),
                    (2, c) if c % 4 == 0 => x86::pv_lanes::<2, 4>(vp, kw, hd, cells, pj, pstride, ways, aj, astride),
                    (3, c) if c % 2 == 0 => x86::pv_lanes::<3, 2>(vp, kw, hd, cells, pj, pstride, ways, aj, astride),
                    (h, c) if h >= 4 && c % 2 == 0 => x86::pv_lanes::<4, 2>(vp, kw, hd, cells, pj, pstride, ways, aj, astride),
                    _ => x86::pv_lanes::<1, 1>(vp, kw, hd, cells, pj, pstride, ways, aj, astride),
                };
                j += done;
            }
        }
        return;
    }
    for j in 0..heads {
        for l in 0..used {
            let a = &mut acc[j * astride + l * hd..j * astride + (l + 1) * hd];
            a.fill(0.0);
            for i in (l..n).step_by(ways) {
                let c = cells[i] as usize * kw + off;
                axpy_f16(a, &v[c..c + hd], p[j * pstride + i]);
            }
        }
    }
}

/// o[i] = silu(x[i]) · g[i] with ggml's vector SiLU (`ggml_math::silu`), bit for bit.
pub fn silu_mul(x: &[f32], g: &[f32], o: &mut [f32]) {
    let n = o.len().min(x.len()).min(g.len());
    #[cfg(target_arch = "x86_64")]
    if has_simd() {
        let whole = n - n % 8;
        // SAFETY: the CPU has the features; `whole` values of each slice are in bounds.
        unsafe { x86::silu_mul(&x[..whole], &g[..whole], &mut o[..whole]) };
        for i in whole..n {
            o[i] = ggml_math::silu(x[i]) * g[i];
        }
        return;
    }
    for i in 0..n {
        o[i] = ggml_math::silu(x[i]) * g[i];
    }
}

/// Softmax numerators in place, `s[i] = expf(s[i] - max)`, and their sum as ggml forms it:
/// each block of 16 reduced with `reduce16` (the last one zero-padded), the blocks summed in
/// f64 (ggml_vec_soft_max_f32).
pub fn exp_sum(s: &mut [f32], max: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if has_simd() {
        // SAFETY: the CPU has the features.
        return unsafe { x86::exp_sum(s, max) };
    }
    exp_sum_scalar(s, max)
}

pub fn exp_sum_scalar(s: &mut [f32], max: f32) -> f64 {
    let mut sum = 0f64;
    for block in s.chunks_mut(16) {
        let mut lanes = [0f32; 16];
        for (l, v) in lanes.iter_mut().zip(block.iter_mut()) {
            *v = ggml_math::expf(*v - max);
            *l = *v;
        }
        sum += ggml_math::reduce16(&lanes) as f64;
    }
    sum
}

/// acc[d] = fma(v[d], p, acc[d]): one probability-weighted f16 V row into an accumulator.
#[inline]
pub fn axpy_f16(acc: &mut [f32], v: &[f16], p: f32) {
    #[cfg(target_arch = "x86_64")]
    if has_simd() && acc.len() == v.len() && v.len() % 8 == 0 {
        // SAFETY: the CPU has the features; equal lengths, multiples of 8.
        return unsafe { x86::axpy_f16(acc, v, p) };
    }
    for (o, x) in acc.iter_mut().zip(v) {
        *o = x.to_f32().mul_add(p, *o);
    }
}

/// out[d] = reduce16 over the 16 accumulator rows `acc[l*hd + d]` (tinyBLAS's V sum); rows
/// from `used` on are read as +0.0 (they were never written), as if they had been zeroed.
pub fn reduce16_rows(acc: &[f32], hd: usize, used: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_simd() && hd % 8 == 0 {
        // SAFETY: the CPU has the features; acc holds `used` (≤ 16) rows of hd.
        return unsafe { x86::reduce16_rows(acc, hd, used.min(16), out) };
    }
    let at = |row: usize, d: usize| if row < used { acc[row * hd + d] } else { 0.0 };
    for (d, o) in out.iter_mut().enumerate().take(hd) {
        *o = ggml_math::reduce16(&std::array::from_fn(|l| at(l, d)));
    }
}

/// out[d] = reduce4x16 over the 64 accumulator rows (ggml_vec_dot_f16's V sum; row i is
/// accumulator i / 16, lane i % 16); rows from `used` on read as +0.0.
pub fn reduce4x16_rows(acc: &[f32], hd: usize, used: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_simd() && hd % 8 == 0 {
        // SAFETY: the CPU has the features; acc holds `used` (≤ 64) rows of hd.
        return unsafe { x86::reduce4x16_rows(acc, hd, used.min(64), out) };
    }
    let at = |row: usize, d: usize| if row < used { acc[row * hd + d] } else { 0.0 };
    for (d, o) in out.iter_mut().enumerate().take(hd) {
        let lanes: [[f32; 16]; 4] = std::array::from_fn(|j| std::array::from_fn(|l| at(16 * j + l, d)));
        *o = ggml_math::reduce4x16(&lanes) as f32;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
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
}

/// Reproducible test values in [-scale, scale) (xorshift), for the kernels' unit tests.
#[cfg(test)]
pub(crate) fn test_data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        test_data(n, seed, scale)
    }

    fn halves(v: &[f32]) -> Vec<f16> {
        v.iter().map(|&x| f16::from_f32(x)).collect()
    }

    #[test]
    fn vector_dots_are_the_scalar_replicas_bit_for_bit() {
        for (n, seed) in [(64, 1), (128, 2), (256, 3), (16, 4), (48, 5), (80, 6)] {
            let (x, y) = (halves(&rand(n, seed, 3.0)), halves(&rand(n, seed + 100, 2.0)));
            let y32: Vec<f32> = y.iter().map(|v| v.to_f32()).collect();
            let mut got = [0f32; 1];
            k_dots(true, &x, n, 0, n, &[0], &y32, &mut got, 1);
            assert_eq!(got[0].to_bits(), ggml_math::dot_f16_tiny(&x, &y32).to_bits(), "tiny {n}");
            k_dots(false, &x, n, 0, n, &[0], &y32, &mut got, 1);
            assert_eq!(got[0].to_bits(), ggml_math::dot_f16_vec(&x, &y32).to_bits(), "vec {n}");
        }
    }

    #[test]
    fn vector_softmax_sums_are_the_scalar_replica_bit_for_bit() {
        for (n, scale) in [(1, 5.0), (15, 5.0), (16, 30.0), (100, 60.0), (517, 120.0), (64, 400.0)] {
            let mut a = rand(n, n as u64, scale);
            let max = a.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let mut b = a.clone();
            let (sa, sb) = (exp_sum(&mut a, max), exp_sum_scalar(&mut b, max));
            assert_eq!(sa.to_bits(), sb.to_bits(), "sum over {n}");
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "values over {n}");
        }
    }

    #[test]
    fn vector_silu_is_the_scalar_replica_bit_for_bit() {
        let mut x = rand(1000, 3, 12.0);
        x[7] = -100.0; // exp(100) is past the vector path: that block goes scalar
        x[8] = 0.0;
        x[9] = -0.0;
        let g = rand(1000, 4, 3.0);
        let mut o = vec![0f32; 1000];
        silu_mul(&x, &g, &mut o);
        for i in 0..1000 {
            assert_eq!(o[i].to_bits(), (ggml_math::silu(x[i]) * g[i]).to_bits(), "at {i}");
        }
    }

    #[test]
    fn vector_v_sums_are_the_scalar_replicas_bit_for_bit() {
        let hd = 64;
        let v = halves(&rand(hd, 9, 2.0));
        let mut a = rand(64 * hd, 10, 1.0);
        let mut b = a.clone();
        for row in 0..64 {
            axpy_f16(&mut a[row * hd..(row + 1) * hd], &v, 0.37 + row as f32 * 0.01);
            for (o, x) in b[row * hd..(row + 1) * hd].iter_mut().zip(&v) {
                *o = x.to_f32().mul_add(0.37 + row as f32 * 0.01, *o);
            }
        }
        assert_eq!(a, b);
        // Several heads' K dots over several cells: each as its own dot, in both orders.
        let kw = 3 * hd;
        let ks = halves(&rand(20 * kw, 12, 2.0));
        for heads in 1..=6 {
            let qs: Vec<f32> = halves(&rand(heads * hd, 13 + heads as u64, 1.5)).iter().map(|h| h.to_f32()).collect();
            let cells: Vec<u32> = (0..11).map(|i| (i * 3) % 20).collect();
            let stride = 13;
            for tiny in [true, false] {
                let mut got = vec![f32::NAN; heads * stride];
                k_dots(tiny, &ks, kw, 2 * hd, hd, &cells, &qs, &mut got, stride);
                for j in 0..heads {
                    for (i, &c) in cells.iter().enumerate() {
                        let kr = &ks[c as usize * kw + 2 * hd..][..hd];
                        let q = &qs[j * hd..(j + 1) * hd];
                        let want = if tiny { ggml_math::dot_f16_tiny(kr, q) } else { ggml_math::dot_f16_vec(kr, q) };
                        assert_eq!(got[j * stride + i].to_bits(), want.to_bits(), "{heads} heads, tiny {tiny}");
                    }
                }
            }
        }
        // The lane-by-lane V products equal accumulating rank by rank, for every head
        // count the vector code groups and for short and long runs.
        let kw = 3 * hd;
        let vs = halves(&rand(40 * kw, 21, 2.0));
        for (heads, n, ways) in [(1, 5, 64), (1, 150, 64), (2, 37, 16), (3, 40, 16), (4, 19, 16), (5, 33, 16), (3, 3, 16)] {
            let cells: Vec<u32> = (0..n as u32).map(|i| (i * 7) % 40).collect();
            let pstride = n + 3;
            let p: Vec<f32> = halves(&rand(heads * pstride, 22 + n as u64, 1.0)).iter().map(|h| h.to_f32()).collect();
            let astride = ways * hd;
            let mut got = vec![f32::NAN; heads * astride];
            pv_lanes(&vs, kw, hd, hd, &cells, &p, pstride, heads, ways, &mut got, astride);
            let mut want = vec![0f32; heads * astride];
            for j in 0..heads {
                for (i, &c) in cells.iter().enumerate() {
                    let a = &mut want[j * astride + (i % ways) * hd..][..hd];
                    axpy_f16(a, &vs[c as usize * kw + hd..][..hd], p[j * pstride + i]);
                }
            }
            for j in 0..heads {
                let used = n.min(ways) * hd;
                let (g, w) = (&got[j * astride..j * astride + used], &want[j * astride..j * astride + used]);
                assert!(g.iter().zip(w).all(|(a, b)| a.to_bits() == b.to_bits()), "{heads} heads, {n} cells, {ways} ways");
            }
        }
        let (mut o1, mut o2) = (vec![0f32; hd], vec![0f32; hd]);
        // Rows past `used` count as zeros.
        let mut zeroed = a.clone();
        zeroed[5 * hd..].fill(0.0);
        reduce16_rows(&a, hd, 5, &mut o1);
        reduce16_rows(&zeroed, hd, 16, &mut o2);
        assert_eq!(o1, o2);
        reduce4x16_rows(&a, hd, 5, &mut o1);
        reduce4x16_rows(&zeroed, hd, 64, &mut o2);
        assert_eq!(o1, o2);
        reduce16_rows(&a, hd, 16, &mut o1);
        for (d, o) in o2.iter_mut().enumerate() {
            *o = ggml_math::reduce16(&std::array::from_fn(|l| a[l * hd + d]));
        }
        assert_eq!(o1, o2);
        reduce4x16_rows(&a, hd, 64, &mut o1);
        for (d, o) in o2.iter_mut().enumerate() {
            let lanes: [[f32; 16]; 4] = std::array::from_fn(|j| std::array::from_fn(|l| a[(16 * j + l) * hd + d]));
            *o = ggml_math::reduce4x16(&lanes) as f32;
        }
        assert_eq!(o1, o2);
    }
}
