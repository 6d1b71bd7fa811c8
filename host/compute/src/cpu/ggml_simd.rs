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
    if has_simd() && hd.is_multiple_of(if tiny { 16 } else { 64 }) {
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
    if has_simd() && hd.is_multiple_of(8) {
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
    if has_simd() && acc.len() == v.len() && v.len().is_multiple_of(8) {
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
    if has_simd() && hd.is_multiple_of(8) {
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
    if has_simd() && hd.is_multiple_of(8) {
        // SAFETY: the CPU has the features; acc holds `used` (≤ 64) rows of hd.
        return unsafe { x86::reduce4x16_rows(acc, hd, used.min(64), out) };
    }
    let at = |row: usize, d: usize| if row < used { acc[row * hd + d] } else { 0.0 };
    for (d, o) in out.iter_mut().enumerate().take(hd) {
        let lanes: [[f32; 16]; 4] = std::array::from_fn(|j| std::array::from_fn(|l| at(16 * j + l, d)));
        *o = ggml_math::reduce4x16(&lanes) as f32;
    }
}

/// The AVX2 bodies of the functions above.
#[cfg(target_arch = "x86_64")]
mod x86;

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
