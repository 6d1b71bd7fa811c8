//! Row-wise and element-wise ops, written to follow ggml's arithmetic where it changes
//! results (f64 sums in norms, f32 rope cache built by repeated multiplication).

use crate::plan::Rope;

/// x / sqrt(mean(x²) + eps) over each group of `group` values (the whole row when 0).
pub fn rms_norm(x: &[f32], y: &mut [f32], width: usize, rows: usize, eps: f32, group: usize) {
    let g = if group == 0 { width } else { group };
    for (xs, ys) in x[..rows * width].chunks_exact(g).zip(y.chunks_exact_mut(g)) {
        let sum: f64 = xs.iter().map(|&v| (v * v) as f64).sum();
        let mean = (sum / g as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for (o, &v) in ys.iter_mut().zip(xs) {
            *o = v * scale;
        }
    }
}

pub fn layer_norm(x: &[f32], y: &mut [f32], width: usize, rows: usize, eps: f32) {
    for (xs, ys) in x[..rows * width].chunks_exact(width).zip(y.chunks_exact_mut(width)) {
        let mean = (xs.iter().map(|&v| v as f64).sum::<f64>() / width as f64) as f32;
        let var = (xs.iter().map(|&v| ((v - mean) * (v - mean)) as f64).sum::<f64>() / width as f64) as f32;
        let scale = 1.0 / (var + eps).sqrt();
        for (o, &v) in ys.iter_mut().zip(xs) {
            *o = (v - mean) * scale;
        }
    }
}

/// Rotary embedding in place over [rows, heads * head_dim].
pub fn rope(x: &mut [f32], width: usize, rows: usize, positions: &[i32], r: &Rope, cache: &mut Vec<f32>) {
    let hd = r.head_dim as usize;
    let n_rot = r.n_rot as usize;
    let theta_scale = r.freq_base.powf(-2.0 / n_rot as f32);
    cache.resize(n_rot, 0.0);
    for row in 0..rows {
        // cos/sin per rotated pair, as ggml's rope cache computes them.
        let mut theta = positions[row] as f32;
        for i in 0..n_rot / 2 {
            let t = theta * r.freq_scale;
            cache[2 * i] = t.cos();
            cache[2 * i + 1] = t.sin();
            theta *= theta_scale;
        }
        for head in x[row * width..(row + 1) * width].chunks_exact_mut(hd) {
            for i in 0..n_rot / 2 {
                let (c, s) = (cache[2 * i], cache[2 * i + 1]);
                let (a, b) = if r.neox { (i, i + n_rot / 2) } else { (2 * i, 2 * i + 1) };
                let (x0, x1) = (head[a], head[b]);
                head[a] = x0 * c - x1 * s;
                head[b] = x0 * s + x1 * c;
            }
        }
    }
}

#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_COEF_A: f32 = 0.044715;

#[inline]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)).tanh())
}

/// Multiplies (or adds) a weight vector broadcast over rows and over groups.
pub fn broadcast(x: &[f32], w: &[f32], y: &mut [f32], n: usize, op: impl Fn(f32, f32) -> f32) {
    for (ys, xs) in y[..n].chunks_mut(w.len()).zip(x[..n].chunks(w.len())) {
        for ((o, &a), &b) in ys.iter_mut().zip(xs).zip(w) {
            *o = op(a, b);
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
        rms_norm(&x, &mut y, 3, 2, 1e-6, 0);
        let r0 = ((1.0 + 4.0 + 9.0) / 3.0f32 + 1e-6).sqrt();
        assert!((y[1] + 2.0 / r0).abs() < 1e-6);
        // Grouped: each pair normalised alone.
        rms_norm(&x, &mut y, 6, 1, 0.0, 2);
        let r = ((1.0 + 4.0) / 2.0f32).sqrt();
        assert!((y[0] - 1.0 / r).abs() < 1e-6);
        assert!((y[4] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [0f32; 4];
        layer_norm(&x, &mut y, 4, 1, 0.0);
        assert!(y.iter().sum::<f32>().abs() < 1e-6);
        assert!((y.iter().map(|v| v * v).sum::<f32>() / 4.0 - 1.0).abs() < 1e-5);
    }

    fn reference_rope(x: &[f32], pos: f32, hd: usize, n_rot: usize, base: f32, neox: bool) -> Vec<f32> {
        let mut y = x.to_vec();
        for i in 0..n_rot / 2 {
            let theta = pos as f64 * (base as f64).powf(-2.0 * i as f64 / n_rot as f64);
            let (a, b) = if neox { (i, i + n_rot / 2) } else { (2 * i, 2 * i + 1) };
            for h in (0..x.len()).step_by(hd) {
                let (x0, x1) = (x[h + a] as f64, x[h + b] as f64);
                y[h + a] = (x0 * theta.cos() - x1 * theta.sin()) as f32;
                y[h + b] = (x0 * theta.sin() + x1 * theta.cos()) as f32;
            }
        }
        y
    }

    #[test]
    fn rope_normal_and_neox_match_a_reference() {
        let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
        for neox in [false, true] {
            for n_rot in [8, 6] {
                let r = Rope { x: 0, head_dim: 8, n_rot, freq_base: 10000.0, freq_scale: 1.0, neox };
                let mut y = x.clone();
                rope(&mut y, 16, 1, &[7], &r, &mut Vec::new());
                let want = reference_rope(&x, 7.0, 8, n_rot as usize, 10000.0, neox);
                for (a, b) in y.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-4, "neox={neox} n_rot={n_rot}: {y:?} vs {want:?}");
                }
                // Dimensions past n_rot pass through.
                assert_eq!(y[7], if n_rot == 6 { x[7] } else { y[7] });
            }
        }
    }

    #[test]
    fn activations() {
        assert!((silu(1.0) - 0.731_058_6).abs() < 1e-6);
        assert!((gelu(1.0) - 0.841_192).abs() < 1e-4);
    }
}
