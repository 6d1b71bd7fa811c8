//! Attention over the f16 KV cache, following ggml's non-flash path (llama.cpp's default
//! f16 cache): q is rounded to f16 and dotted with f16 K in f32, the scores are scaled (and
//! soft-capped), the softmax uses ggml's vector exp with its sum in f64, and the probabilities
//! are rounded to f16 before the weighted sum of f16 V rows, accumulated in f32 — every sum in
//! ggml's order (see `ggml_math`). Which cells a row sees comes from the batch's cell table
//! (which already includes this batch's own cells).

use half::f16;

use super::ggml_simd::{axpy_f16, dot_f16_tiny, dot_f16_vec, exp_sum, reduce16_rows, reduce4x16_rows};

use super::pool::{PerThread, Pool, SyncPtr};
use crate::plan::{Attention, Batch};

pub struct KvLayer {
    pub k: Vec<f16>,
    pub v: Vec<f16>,
    pub width: usize,
}

impl KvLayer {
    pub fn new(cells: usize, width: usize) -> Self {
        KvLayer {
            k: vec![f16::ZERO; cells * width],
            v: vec![f16::ZERO; cells * width],
            width,
        }
    }

    /// Stores this batch's K and V rows in their cells (f32 -> f16, round to nearest even).
    pub fn write(&mut self, b: &Batch, k: &[f32], v: &[f32]) {
        let w = self.width;
        for (r, &cell) in b.write_cells.iter().enumerate() {
            let c = cell as usize;
            to_f16(&k[r * w..(r + 1) * w], &mut self.k[c * w..(c + 1) * w]);
            to_f16(&v[r * w..(r + 1) * w], &mut self.v[c * w..(c + 1) * w]);
        }
    }

    pub fn copy_cell(&mut self, src: usize, dst: usize) {
        let w = self.width;
        self.k.copy_within(src * w..(src + 1) * w, dst * w);
        self.v.copy_within(src * w..(src + 1) * w, dst * w);
    }
}

fn to_f16(src: &[f32], dst: &mut [f16]) {
    use half::slice::HalfFloatSliceExt;
    dst.convert_from_f32_slice(src);
}

/// Per-thread scratch for one (row, head) task.
pub struct Scratch {
    cells: Vec<u32>,
    scores: Vec<f32>,
    q: Vec<f16>,
    /// V accumulators: [4 × 16 lanes][head_dim] (decode) or [16 lanes][head_dim] (prefill).
    acc: Vec<f32>,
}

impl Scratch {
    pub fn new(cells: usize, head_dim: usize) -> Self {
        Scratch {
            cells: vec![0; cells],
            scores: vec![0.0; cells],
            q: vec![f16::ZERO; head_dim],
            acc: vec![0.0; 64 * head_dim],
        }
    }
}

/// out[rows, n_head * head_dim] = softmax(scale · q·Kᵀ) · V over the cells each row sees:
/// those of its sequence at positions up to its own when `causal`, all of them otherwise.
///
/// ggml runs the two products as f16 matmuls whose summation order depends on the batch:
/// one column (decode) goes through `ggml_vec_dot_f16`, two or more through tinyBLAS. Both
/// orders are reproduced here, with K/V lanes assigned by absolute cell index as in ggml's
/// cache, so a batch gives llama.cpp's bits whatever its size.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    pool: &Pool,
    a: &Attention,
    causal: bool,
    b: &Batch,
    kv: &KvLayer,
    q: &[f32],
    out: &mut [f32],
    scratch: &PerThread<Scratch>,
) {
    let (hd, nh, nkv) = (a.head_dim as usize, a.n_head as usize, a.n_kv_head as usize);
    let group = nh / nkv;
    let rows = b.tokens.len();
    let qw = nh * hd;
    let kw = kv.width;
    // ggml picks the order by the batch's row count: tinyBLAS (≥ 2 columns) for a prompt,
    // ggml_vec_dot_f16 for a single decoded token. We pick it by the rows of the row's own
    // sequence instead: a lone request gets exactly llama.cpp's arithmetic, and a sequence's
    // results do not depend on which other requests share the batch.
    let mut seq_rows = [0u32; 64];
    for &s in &b.seqs {
        seq_rows[s as usize] += 1;
    }
    let op = SyncPtr::new(out);
    pool.run(rows * nh, &|task, thread| {
        let (r, h) = (task / nh, task % nh);
        let multi = seq_rows[b.seqs[r] as usize] >= 2;
        let tiny_kq = multi;
        let tiny_kqv = multi && hd % 4 == 0;
        let kvh = h / group;
        // SAFETY: this thread runs one task at a time.
        let s = unsafe { scratch.get(thread) };
        let pos = b.positions[r];
        let seq = 1u64 << b.seqs[r];
        // q in f16, as ggml converts it for the f16 K matmul.
        to_f16(&q[r * qw + h * hd..r * qw + (h + 1) * hd], &mut s.q[..hd]);
        let mut n = 0;
        let mut max = f32::NEG_INFINITY;
        for (c, (&cp, &cs)) in b.cell_pos.iter().zip(&b.cell_seqs).enumerate() {
            if cs & seq == 0 || cp < 0 || (causal && cp > pos) || (a.window != 0 && (pos - cp).unsigned_abs() >= a.window) {
                continue;
            }
            let kr = &kv.k[c * kw + kvh * hd..c * kw + (kvh + 1) * hd];
            let dot = if tiny_kq {
                dot_f16_tiny(kr, &s.q[..hd])
            } else {
                dot_f16_vec(kr, &s.q[..hd])
            };
            let mut sc = dot * a.scale;
            if a.softcap != 0.0 {
                sc = a.softcap * (sc / a.softcap).tanh();
            }
            max = max.max(sc);
            s.cells[n] = c as u32;
            s.scores[n] = sc;
            n += 1;
        }
        // SAFETY: each task writes its own (row, head) slice.
        let dst = unsafe { op.slice(r * qw + h * hd, hd) };
        dst.fill(0.0);
        if n == 0 {
            return;
        }
        // ggml_vec_soft_max_f32: exp per 16-cell block, each block reduced in f32 and summed
        // in f64. Lanes go by a cell's rank among the cells this row sees, not by its index in
        // the cache: for one request from an empty cache the two are the same (so this is
        // llama.cpp's order), and a sequence's result does not depend on where other
        // sequences put their cells.
        let sum = exp_sum(&mut s.scores[..n], max);
        let inv = (1.0 / sum) as f32;
        // V: the probabilities rounded to f16; lane (and accumulator) by rank, as above.
        let (ways, acc) = if tiny_kqv {
            (16, &mut s.acc[..16 * hd])
        } else {
            (64, &mut s.acc[..64 * hd])
        };
        acc.fill(0.0);
        for (i, (&c, &e)) in s.cells[..n].iter().zip(&s.scores[..n]).enumerate() {
            let p = f16::from_f32(e * inv).to_f32();
            let c = c as usize;
            let vr = &kv.v[c * kw + kvh * hd..c * kw + (kvh + 1) * hd];
            axpy_f16(&mut acc[(i % ways) * hd..(i % ways + 1) * hd], vr, p);
        }
        if tiny_kqv {
            reduce16_rows(acc, hd, dst);
        } else {
            reduce4x16_rows(acc, hd, dst);
        }
    });
}
