//! Causal attention over the f16 KV cache, following ggml's non-flash path: q is rounded to
//! f16 for q·k, the softmax runs in f32 with an f64 sum, and the probabilities are rounded
//! to f16 before the weighted sum of V. Visibility comes from the batch's cell table.
//! One task per (row, KV head): the query heads of a group share each K and V row.

use std::cell::RefCell;

use half::f16;
use half::slice::HalfFloatSliceExt;

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
            self.k[c * w..(c + 1) * w].convert_from_f32_slice(&k[r * w..(r + 1) * w]);
            self.v[c * w..(c + 1) * w].convert_from_f32_slice(&v[r * w..(r + 1) * w]);
        }
    }

    pub fn copy_cell(&mut self, src: usize, dst: usize) {
        let w = self.width;
        self.k.copy_within(src * w..(src + 1) * w, dst * w);
        self.v.copy_within(src * w..(src + 1) * w, dst * w);
    }
}

#[derive(Default)]
struct Scratch {
    cells: Vec<usize>,
    /// [group][cells] scores, then probabilities.
    scores: Vec<f32>,
    q: Vec<f32>,
    row: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums, like a SIMD register, so the compiler vectorises it.
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for l in 0..8 {
            acc[l] += a[i * 8 + l] * b[i * 8 + l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// out[rows, n_head * head_dim] = softmax(q·Kᵀ · scale) · V for the cells each row sees.
pub fn attend(pool: &Pool, a: &Attention, b: &Batch, kv: &KvLayer, q: &[f32], out: &mut [f32]) {
    let (hd, nh, nkv) = (a.head_dim as usize, a.n_head as usize, a.n_kv_head as usize);
    let group = nh / nkv;
    let rows = b.tokens.len();
    let q_width = nh * hd;
    let op = SyncPtr(out.as_mut_ptr());
    pool.run(rows * nkv, &|task| {
        let (r, g) = (task / nkv, task % nkv);
        SCRATCH.with(|s| {
            let s = &mut *s.borrow_mut();
            let pos = b.positions[r];
            let seq_bit = 1u64 << b.seqs[r];
            s.cells.clear();
            for (c, (&cp, &cs)) in b.cell_pos.iter().zip(&b.cell_seqs).enumerate() {
                if cs & seq_bit != 0 && cp >= 0 && cp <= pos && (a.window == 0 || ((pos - cp) as u32) < a.window) {
                    s.cells.push(c);
                }
            }
            let n = s.cells.len();
            // The group's query heads, rounded to f16 as ggml's f16 matmul does.
            let first = r * q_width + g * group * hd;
            s.q.clear();
            s.q.extend(q[first..first + group * hd].iter().map(|&x| round_f16(x)));
            s.scores.resize(group * n, 0.0);
            s.row.resize(hd, 0.0);
            let kv_off = g * hd;
            for (i, &c) in s.cells.iter().enumerate() {
                let base = c * kv.width + kv_off;
                kv.k[base..base + hd].convert_to_f32_slice(&mut s.row);
                for h in 0..group {
                    let mut sc = dot(&s.q[h * hd..(h + 1) * hd], &s.row) * a.scale;
                    if a.softcap > 0.0 {
                        sc = a.softcap * (sc / a.softcap).tanh();
                    }
                    s.scores[h * n + i] = sc;
                }
            }
            for h in 0..group {
                let sc = &mut s.scores[h * n..(h + 1) * n];
                let max = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f64;
                for x in sc.iter_mut() {
                    *x = (*x - max).exp();
                    sum += *x as f64;
                }
                let inv = (1.0 / sum) as f32;
                for x in sc.iter_mut() {
                    *x = round_f16(*x * inv);
                }
            }
            // SAFETY: each task writes its own (row, group of heads) slice of `out`.
            let dst = unsafe { std::slice::from_raw_parts_mut(op.get().add(first), group * hd) };
            dst.fill(0.0);
            for (i, &c) in s.cells.iter().enumerate() {
                let base = c * kv.width + kv_off;
                kv.v[base..base + hd].convert_to_f32_slice(&mut s.row);
                for h in 0..group {
                    let p = s.scores[h * n + i];
                    for (o, &v) in dst[h * hd..(h + 1) * hd].iter_mut().zip(&s.row) {
                        *o += p * v;
                    }
                }
            }
        })
    });
}
