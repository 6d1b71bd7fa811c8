//! Scalar replicas of the float arithmetic of llama.cpp's x86 CPU backend (ggml-cpu built for
//! AVX-512, as the reference build on the target machine is), lane by lane, so that softmax,
//! SiLU and the f16 attention products round exactly as ggml's do:
//!
//! - `expf`: ggml's vectorised `ggml_v_expf` (AVX-512 variant), not libm's `expf`;
//! - `reduce16`: GCC's `_mm512_reduce_add_ps` tree;
//! - `dot_f16_vec`: `ggml_vec_dot_f16` (4 accumulators × 16 lanes, f64 result), used by
//!   ggml's matmul for a single column (decode);
//! - `dot_f16_tiny`: llamafile's tinyBLAS (one 16-lane accumulator, then `reduce16`), which
//!   ggml's matmul uses for f16 × f16 when the batch has two or more columns (prefill).
//!
//! Every lane is computed independently in ggml, so scalar code with the same fused
//! operations gives the same bits.

use half::f16;

/// `ggml_v_expf` for AVX-512 (lane-wise): a degree-5 polynomial on the reduced argument and a
/// scale by 2^n; |n| > 192 flushes to 0 or infinity.
#[inline]
pub fn expf(x: f32) -> f32 {
    let r = f32::from_bits(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3fb8_aa3b), r); // 0x1.715476p+0
    let n = z - r;
    let b = (-n).mul_add(
        f32::from_bits(0x35bf_be8e),                  // 0x1.7f7d1cp-20
        (-n).mul_add(f32::from_bits(0x3f31_7200), x), // 0x1.62e4p-1
    );
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    let u = b * b;
    let j = f32::from_bits(0x3c07_2010) // 0x1.0e4020p-7
        .mul_add(b, f32::from_bits(0x3d2b_9f17)) // 0x1.573e2ep-5
        .mul_add(
            u,
            f32::from_bits(0x3e2a_af33).mul_add(b, f32::from_bits(0x3eff_fedb)), // 0x1.555e66p-3, 0x1.fffdb6p-2
        )
        .mul_add(u, f32::from_bits(0x3f7f_fff6).mul_add(b, 1.0)); // 0x1.ffffecp-1
                                                                  // _mm512_scalef_ps(j, n) = j · 2^n, rounded once (exact in f64, then one rounding).
    // 2^n built from its bits (|n| <= 192 here): powi is a libm loop and this is hot.
    let pow2 = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    ((j as f64) * pow2) as f32
}

/// SiLU as ggml's vector path computes it: x / (1 + exp(0 - x)).
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + expf(0.0 - x))
}

/// SiLU as ggml's scalar tail computes it (libm's expf).
#[inline]
pub fn silu_libm(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// GCC's `_mm512_reduce_add_ps`: halves, quarters, then pairs.
#[inline]
pub fn reduce16(v: &[f32; 16]) -> f32 {
    let mut t3 = [0f32; 8];
    for i in 0..8 {
        t3[i] = v[8 + i] + v[i];
    }
    let t6 = [t3[4] + t3[0], t3[5] + t3[1], t3[6] + t3[2], t3[7] + t3[3]];
    (t6[0] + t6[2]) + (t6[1] + t6[3])
}

/// ggml's AVX-512 reduction of four 16-lane accumulators to one f64.
#[inline]
pub fn reduce4x16(acc: &[[f32; 16]; 4]) -> f64 {
    let mut x = [0f32; 16];
    for l in 0..16 {
        x[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    reduce16(&x) as f64
}

/// `ggml_vec_dot_f16` on AVX-512: lane `i % 16` of accumulator `(i / 16) % 4` over steps of
/// 64, the four reduced and summed in f64, then the tail in f64.
/// `y` holds f16 values as f32 (a query converted once, as ggml converts it to f16).
pub fn dot_f16_vec(x: &[f16], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let np = n & !63;
    let mut acc = [[0f32; 16]; 4];
    for i in (0..np).step_by(64) {
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, a) in a.iter_mut().enumerate() {
                let k = i + 16 * j + l;
                *a = x[k].to_f32().mul_add(y[k], *a);
            }
        }
    }
    let mut sum = reduce4x16(&acc);
    for i in np..n {
        sum += (x[i].to_f32() * y[i]) as f64;
    }
    sum as f32
}

/// tinyBLAS's f16 dot on AVX-512: one 16-lane accumulator over steps of 16 (a short tail is
/// zero-padded), then `reduce16`.
/// `y` as in `dot_f16_vec`.
pub fn dot_f16_tiny(x: &[f16], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let mut acc = [0f32; 16];
    for i in 0..n {
        acc[i % 16] = x[i].to_f32().mul_add(y[i], acc[i % 16]);
    }
    reduce16(&acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expf_is_close_to_libm_and_flushes_like_ggml() {
        let mut worst = 0f32;
        for i in -20000..=2000 {
            let x = i as f32 * 0.0043;
            let (a, b) = (expf(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
        }
        // "maximum error 1.45358 plus 0.5 ulps"
        assert!(worst < 3.0 * f32::EPSILON, "{worst}");
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(-200.0), 0.0);
        assert_eq!(expf(0.0), 1.0);
        assert!(expf(-100.0) > 0.0 && expf(-100.0) < 1e-43, "subnormal results are kept");
    }

    #[test]
    fn reductions_follow_the_tree() {
        // Values whose sum depends on the order: the tree adds lane 9 to lane 1 first.
        let mut v = [0f32; 16];
        v[0] = 1.0;
        v[1] = 1e8;
        v[9] = -1e8;
        assert_eq!(reduce16(&v), 1.0);
        let seq: f32 = v.iter().sum();
        assert_ne!(seq, reduce16(&v), "a sequential sum would lose the 1");
    }

    #[test]
    fn f16_dots_equal_the_exact_sum_when_it_is_representable() {
        let x: Vec<f16> = (0..100).map(|i| f16::from_f32((i % 7) as f32 - 3.0)).collect();
        let y: Vec<f32> = (0..100).map(|i| (i % 5) as f32 * 0.5).collect();
        let exact: f32 = x.iter().zip(&y).map(|(a, b)| a.to_f32() * b).sum();
        assert_eq!(dot_f16_vec(&x, &y), exact);
        assert_eq!(dot_f16_tiny(&x, &y), exact);
    }
}
