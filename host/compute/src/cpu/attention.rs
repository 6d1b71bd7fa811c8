//! Causal attention over the f16 KV cache, following ggml's non-flash path: q is rounded to
//! f16 for q·k, the softmax runs in f32 with an f64 sum, and the probabilities are rounded
//! to f16 before the weighted sum of V. Visibility comes from the batch's cell table.

use half::f16;

use super::pool::{Pool, SyncPtr};
use crate::plan::{Attention, Batch};

pub struct KvLayer {
    pub k: Vec<f16>,
    pub v: Vec<f16>,
    pub width: usize,
}

impl KvLayer {
    pub fn new(cells: usize, width: usize) -> Self {
        KvLayer { k: vec![f16::ZERO; cells * width], v: vec![f16::ZERO; cells * width], width }
    }

    pub fn write(&mut self, b: &Batch, k: &[f32], v: &[f32]) {
        let w = self.width;
        for (r, &cell) in b.write_cells.iter().enumerate() {
            let c = cell as usize;
            for (dst, &src) in self.k[c * w..(c + 1) * w].iter_mut().zip(&k[r * w..(r + 1) * w]) {
                *dst = f16::from_f32(src);
            }
            for (dst, &src) in self.v[c * w..(c + 1) * w].iter_mut().zip(&v[r * w..(r + 1) * w]) {
                *dst = f16::from_f32(src);
            }
        }
    }

    pub fn copy_cell(&mut self, src: usize, dst: usize) {
        let w = self.width;
        self.k.copy_within(src * w..(src + 1) * w, dst * w);
        self.v.copy_within(src * w..(src + 1) * w, dst * w);
    }
}

/// out[rows, n_head * head_dim] = softmax(q·Kᵀ · scale) · V for the cells each row sees.
pub fn attend(pool: &Pool, a: &Attention, b: &Batch, kv: &KvLayer, q: &[f32], out: &mut [f32]) {
    let (hd, nh, nkv) = (a.head_dim as usize, a.n_head as usize, a.n_kv_head as usize);
    let group = nh / nkv;
    let rows = b.tokens.len();
    let q_width = nh * hd;
    let op = SyncPtr(out.as_mut_ptr());
    pool.run(rows * nh, &|task| {
        let (r, h) = (task / nh, task % nh);
        let kvh = h / group;
        let pos = b.positions[r];
        let seq_bit = 1u64 << b.seqs[r];
        let qh: Vec<f32> = q[r * q_width + h * hd..r * q_width + (h + 1) * hd]
            .iter()
            .map(|&v| f16::from_f32(v).to_f32())
            .collect();
        let mut cells = Vec::new();
        let mut scores = Vec::new();
        for (c, (&cp, &cs)) in b.cell_pos.iter().zip(&b.cell_seqs).enumerate() {
            let visible = cs & seq_bit != 0
                && cp >= 0
                && cp <= pos
                && (a.window == 0 || ((pos - cp) as u32) < a.window);
            if !visible {
                continue;
            }
            let kr = &kv.k[c * kv.width + kvh * hd..c * kv.width + (kvh + 1) * hd];
            let mut s = 0f32;
            for (x, y) in qh.iter().zip(kr) {
                s += x * y.to_f32();
            }
            s *= a.scale;
            if a.softcap > 0.0 {
                s = a.softcap * (s / a.softcap).tanh();
            }
            cells.push(c);
            scores.push(s);
        }
        // SAFETY: each task writes its own (row, head) slice of `out`.
        let dst = unsafe { std::slice::from_raw_parts_mut(op.get().add(r * q_width + h * hd), hd) };
        dst.fill(0.0);
        if cells.is_empty() {
            return;
        }
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f64;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            sum += *s as f64;
        }
        let inv = (1.0 / sum) as f32;
        for (&c, &s) in cells.iter().zip(&scores) {
            let p = f16::from_f32(s * inv).to_f32();
            let vr = &kv.v[c * kv.width + kvh * hd..c * kv.width + (kvh + 1) * hd];
            for (o, v) in dst.iter_mut().zip(vr) {
                *o += p * v.to_f32();
            }
        }
    });
}
