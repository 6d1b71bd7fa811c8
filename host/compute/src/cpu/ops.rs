//! Row-wise and element-wise ops, following ggml's arithmetic where it changes results: f64
//! sums in the norms, the rope cache built by repeated multiplication in f32, GELU through
//! ggml's f16 lookup table. Each works on a range of rows so the caller can split big batches
//! over the pool.

use std::sync::OnceLock;

use half::f16;

use wollama_plan::Rope;

/// x / sqrt(mean(x²) + eps) over each group of `g` values (ggml_rms_norm).
pub fn rms_norm(x: &[f32], y: &mut [f32], g: usize, eps: f32) {
    for (xs, ys) in x.chunks_exact(g).zip(y.chunks_exact_mut(g)) {
        let sum: f64 = xs.iter().map(|&v| (v * v) as f64).sum();
        let mean = (sum / g as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (o, &v) in ys.iter_mut().zip(xs) {
            *o = v * scale;
        }
    }
}

/// (x - mean) / sqrt(var + eps) per row (ggml_norm).
pub fn layer_norm(x: &[f32], y: &mut [f32], width: usize, eps: f32) {
    for (xs, ys) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
        let mean = (xs.iter().map(|&v| v as f64).sum::<f64>() / width as f64) as f32;
        let mut sum2 = 0f64;
        for (o, &v) in ys.iter_mut().zip(xs) {
            *o = v - mean;
            sum2 += (*o * *o) as f64;
        }
        let var = (sum2 / width as f64) as f32;
        let scale = 1.0 / (var + eps).sqrt();
        for o in ys.iter_mut() {
            *o *= scale;
        }
    }
}

/// Rotary embedding of rows `x` ([rows, width], heads of `head_dim`) at `positions`, in
/// place. `cache` holds n_rot floats (cos, sin per rotated pair) as ggml's rope cache does:
/// theta_i = pos · freq_scale · base^(-2i/n_rot), the power formed by repeated multiplication.
pub fn rope(x: &mut [f32], width: usize, positions: &[i32], r: &Rope, cache: &mut [f32]) {
    let hd = r.head_dim as usize;
    let n_rot = r.n_rot as usize;
    let half = n_rot / 2;
    let theta_scale = r.freq_base.powf(-2.0 / n_rot as f32);
    for (row, &pos) in x.chunks_exact_mut(width).zip(positions) {
        let mut theta = pos as f32;
        for i in 0..half {
            let t = r.freq_scale * theta;
            cache[2 * i] = t.cos();
            cache[2 * i + 1] = t.sin();
            theta *= theta_scale;
        }
        for head in row.chunks_exact_mut(hd) {
            for i in 0..half {
                let (c, s) = (cache[2 * i], cache[2 * i + 1]);
                let (a, b) = if r.neox { (i, i + half) } else { (2 * i, 2 * i + 1) };
                let (x0, x1) = (head[a], head[b]);
                // The rounding of ggml's `x0*cos - x1*sin` / `x0*sin + x1*cos` as GCC
                // contracts them (checked bit for bit against llama.cpp's CPU build).
                head[a] = x0.mul_add(c, -(x1 * s));
                head[b] = x0.mul_add(s, x1 * c);
            }
        }
    }
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_COEF_A: f32 = 0.044715;

/// GELU, tanh approximation, in f32.
#[inline]
pub fn gelu_f32(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)).tanh())
}

/// GELU as ggml-cpu computes it: 0 below -10, identity above 10, and in between a lookup of
/// the f16-rounded input in a table of f16 results (GGML_GELU_FP16).
#[inline]
pub fn gelu(x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        static TABLE: OnceLock<Vec<f16>> = OnceLock::new();
        let t = TABLE.get_or_init(|| {
            (0..=u16::MAX)
                .map(|i| f16::from_f32(gelu_f32(f16::from_bits(i).to_f32())))
                .collect()
        });
        t[f16::from_f32(x).to_bits() as usize].to_f32()
    }
}

/// y = op(x, w) with w repeated along the row (and along groups when shorter than the row).
pub fn broadcast(x: &[f32], w: &[f32], y: &mut [f32], op: impl Fn(f32, f32) -> f32) {
    for (ys, xs) in y.chunks_exact_mut(w.len()).zip(x.chunks_exact(w.len())) {
        for ((o, &a), &b) in ys.iter_mut().zip(xs).zip(w) {
            *o = op(a, b);
        }
    }
}

/// GELU in its exact form, 0.5·x·(1 + erf(x/√2)), as BERT's "gelu" activation (libm's erf).
#[inline]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// One output row per logit row: the rows of `x` ([rows, width]) whose sequence is that logit
/// row's, reduced by `how`. Mean sums in f64 so a long sequence loses no precision.
pub fn pool(x: &[f32], width: usize, seqs: &[u32], logit_rows: &[u32], how: wollama_plan::Pooling, out: &mut [f32]) {
    use wollama_plan::Pooling;
    let mut acc = vec![0f64; width];
    for (o, &lr) in out.chunks_exact_mut(width).zip(logit_rows) {
        let seq = seqs[lr as usize];
        let mut members = seqs.iter().enumerate().filter(|&(_, &s)| s == seq).map(|(r, _)| r);
        let row = |r: usize| &x[r * width..(r + 1) * width];
        match how {
            Pooling::Cls => o.copy_from_slice(row(members.next().expect("the logit row is a member"))),
            // `next_back()` finds the same row, but the edit re-partitions the crate's codegen units
            // and with them the kernels' machine code (seen 2026-12-07); `last()` keeps it.
            #[allow(clippy::double_ended_iterator_last)]
            Pooling::Last => o.copy_from_slice(row(members.last().expect("the logit row is a member"))),
            Pooling::Mean => {
                acc.fill(0.0);
                let mut n = 0usize;
                for r in members {
                    for (a, &v) in acc.iter_mut().zip(row(r)) {
                        *a += v as f64;
                    }
                    n += 1;
                }
                for (o, a) in o.iter_mut().zip(&acc) {
                    *o = (*a / n as f64) as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_matches_the_definition() {
        let x = [1.0f32, -2.0, 3.0, 4.0, 0.5, 0.5];
        let mut y = [0f32; 6];
        rms_norm(&x, &mut y, 3, 1e-6);
        let r0 = ((1.0 + 4.0 + 9.0) / 3.0f32 + 1e-6).sqrt();
        assert!((y[1] + 2.0 / r0).abs() < 1e-6);
        let r1 = ((16.0 + 0.25 + 0.25) / 3.0f32 + 1e-6).sqrt();
        assert!((y[3] - 4.0 / r1).abs() < 1e-6);
        rms_norm(&x, &mut y, 2, 0.0);
        let r = ((1.0 + 4.0) / 2.0f32).sqrt();
        assert!((y[0] - 1.0 / r).abs() < 1e-6);
        assert!((y[4] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let x = [1.0f32, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 14.0];
        let mut y = [0f32; 8];
        layer_norm(&x, &mut y, 4, 0.0);
        for row in y.chunks(4) {
            assert!(row.iter().sum::<f32>().abs() < 1e-5);
            assert!((row.iter().map(|v| v * v).sum::<f32>() / 4.0 - 1.0).abs() < 1e-5);
        }
        assert!((y[7] - 3.0f32.sqrt()).abs() < 1e-5);
    }

    fn reference_rope(x: &[f32], pos: f64, hd: usize, n_rot: usize, base: f64, scale: f64, neox: bool) -> Vec<f32> {
        let mut y = x.to_vec();
        for h in (0..x.len()).step_by(hd) {
            for i in 0..n_rot / 2 {
                let theta = pos * scale * base.powf(-2.0 * i as f64 / n_rot as f64);
                let (a, b) = if neox { (i, i + n_rot / 2) } else { (2 * i, 2 * i + 1) };
                let (x0, x1) = (x[h + a] as f64, x[h + b] as f64);
                y[h + a] = (x0 * theta.cos() - x1 * theta.sin()) as f32;
                y[h + b] = (x0 * theta.sin() + x1 * theta.cos()) as f32;
            }
        }
        y
    }

    #[test]
    fn rope_normal_and_neox_match_a_reference() {
        let (hd, heads) = (16usize, 3usize);
        let x: Vec<f32> = (0..2 * hd * heads).map(|i| (i as f32 * 0.37).sin()).collect();
        let positions = [5, 37];
        for neox in [false, true] {
            for n_rot in [16u32, 10] {
                for scale in [1.0f32, 0.25] {
                    let r = Rope {
                        x: 0,
                        head_dim: hd as u32,
                        n_rot,
                        freq_base: 10000.0,
                        freq_scale: scale,
                        neox,
                    };
                    let mut y = x.clone();
                    let mut cache = vec![0f32; n_rot as usize];
                    rope(&mut y, hd * heads, &positions, &r, &mut cache);
                    for (row, &p) in positions.iter().enumerate() {
                        let xs = &x[row * hd * heads..(row + 1) * hd * heads];
                        let want = reference_rope(xs, p as f64, hd, n_rot as usize, 10000.0, scale as f64, neox);
                        let got = &y[row * hd * heads..(row + 1) * hd * heads];
                        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (a - b).abs() < 1e-4,
                                "neox={neox} n_rot={n_rot} pos={p} i={i}: {a} vs {b}"
                            );
                        }
                        // Past n_rot: untouched.
                        for h in 0..heads {
                            for i in n_rot as usize..hd {
                                assert_eq!(got[h * hd + i], xs[h * hd + i]);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn activations() {
        assert!((gelu_f32(1.0) - 0.841_192).abs() < 1e-4);
        for x in [-12.0f32, -3.3, -0.7, 0.0, 0.2, 1.0, 2.7, 9.9, 11.0] {
            let exact = 0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044715 * x * x * x)).tanh());
            assert!(
                (gelu(x) - exact).abs() <= 1e-4 + 2e-3 * exact.abs(),
                "gelu({x}) = {} vs {exact}",
                gelu(x)
            );
        }
        assert_eq!(gelu(-12.0), 0.0);
        assert_eq!(gelu(11.0), 11.0);
    }
}
