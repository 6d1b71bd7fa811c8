//! Attention over the f16 KV cache, following ggml's non-flash path (llama.cpp's default
//! f16 cache): q is rounded to f16 and dotted with f16 K in f32, the scores are scaled (and
//! soft-capped), the softmax uses ggml's vector exp with its sum in f64, and the probabilities
//! are rounded to f16 before the weighted sum of f16 V rows, accumulated in f32 — every sum in
//! ggml's order (see `ggml_math`). Which cells a row sees comes from the batch's cell table
//! (which already includes this batch's own cells).

use half::f16;

use super::ggml_simd::{axpy_f16_heads, dot_f16_vec_q32, dots_f16_tiny_heads, exp_sum, reduce16_rows, reduce4x16_rows};

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

/// Per-thread scratch for one task: a row and a run of heads that share a KV head.
pub struct Scratch {
    cells: Vec<u32>,
    /// [heads][cells] scores, then probabilities.
    scores: Vec<f32>,
    /// [heads][head_dim] q rounded to f16, held as f32.
    q: Vec<f32>,
    /// [heads][ways][head_dim] V accumulators (64 ways for decode, 16 for prefill).
    acc: Vec<f32>,
    max: Vec<f32>,
    p: Vec<f32>,
}

impl Scratch {
    pub fn new(cells: usize, head_dim: usize) -> Self {
        Scratch {
            cells: vec![0; cells],
            scores: vec![0.0; cells],
            q: vec![0.0; head_dim],
            acc: vec![0.0; 64 * head_dim],
            max: Vec::new(),
            p: Vec::new(),
        }
    }

    /// Room for `heads` heads (grown once, on the first multi-head task).
    fn fit(&mut self, heads: usize, cells: usize, head_dim: usize, ways: usize) {
        let grow = |v: &mut Vec<f32>, n: usize| {
            if v.len() < n {
                v.resize(n, 0.0);
            }
        };
        grow(&mut self.scores, heads * cells);
        grow(&mut self.q, heads * head_dim);
        grow(&mut self.acc, heads * ways * head_dim);
        grow(&mut self.max, heads);
        grow(&mut self.p, heads);
        if self.cells.len() < cells {
            self.cells.resize(cells, 0);
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
    // A prompt has rows enough to keep the pool busy with one task per (row, KV head): the
    // heads of a group then share the cell scan and each K and V row's conversion. A decode
    // step keeps one task per (row, head) so that its few tasks spread over the threads.
    let per = if rows >= 2 * pool.threads() { group } else { 1 };
    let runs = nh / per;
    let cells_n = b.cell_pos.len();
    let op = SyncPtr::new(out);
    pool.run(rows * runs, &|task, thread| {
        let (r, h0) = (task / runs, (task % runs) * per);
        let multi = seq_rows[b.seqs[r] as usize] >= 2;
        let tiny_kq = multi;
        let tiny_kqv = multi && hd % 4 == 0;
        let ways = if tiny_kqv { 16 } else { 64 };
        let kvh = h0 / group;
        // SAFETY: this thread runs one task at a time.
        let s = unsafe { scratch.get(thread) };
        s.fit(per, cells_n, hd, ways);
        let pos = b.positions[r];
        let seq = 1u64 << b.seqs[r];
        // q rounded to f16, as ggml converts it for the f16 K matmul.
        for j in 0..per {
            let h = h0 + j;
            for (d, &v) in s.q[j * hd..(j + 1) * hd].iter_mut().zip(&q[r * qw + h * hd..r * qw + (h + 1) * hd]) {
                *d = f16::from_f32(v).to_f32();
            }
        }
        let mut n = 0;
        s.max[..per].fill(f32::NEG_INFINITY);
        for (c, (&cp, &cs)) in b.cell_pos.iter().zip(&b.cell_seqs).enumerate() {
            if cs & seq == 0 || cp < 0 || (causal && cp > pos) || (a.window != 0 && (pos - cp).unsigned_abs() >= a.window) {
                continue;
            }
            let kr = &kv.k[c * kw + kvh * hd..c * kw + (kvh + 1) * hd];
            if tiny_kq {
                dots_f16_tiny_heads(kr, &s.q[..per * hd], &mut s.p[..per]);
            } else {
                for j in 0..per {
                    s.p[j] = dot_f16_vec_q32(kr, &s.q[j * hd..(j + 1) * hd]);
                }
            }
            for j in 0..per {
                let mut sc = s.p[j] * a.scale;
                if a.softcap != 0.0 {
                    sc = a.softcap * (sc / a.softcap).tanh();
                }
                s.max[j] = s.max[j].max(sc);
                s.scores[j * cells_n + n] = sc;
            }
            s.cells[n] = c as u32;
            n += 1;
        }
        // SAFETY: each task writes its own (row, heads) slice.
        let dst = unsafe { op.slice(r * qw + h0 * hd, per * hd) };
        dst.fill(0.0);
        if n == 0 {
            return;
        }
        // ggml_vec_soft_max_f32: exp per 16-cell block, each block reduced in f32 and summed
        // in f64. Lanes go by a cell's rank among the cells this row sees, not by its index in
        // the cache: for one request from an empty cache the two are the same (so this is
        // llama.cpp's order), and a sequence's result does not depend on where other
        // sequences put their cells.
        for j in 0..per {
            let sum = exp_sum(&mut s.scores[j * cells_n..j * cells_n + n], s.max[j]);
            // Stored as the factor 1/sum; the probabilities are formed below.
            s.max[j] = (1.0 / sum) as f32;
        }
        // V: the probabilities rounded to f16; lane (and accumulator) by rank, as above.
        // Only the accumulators this row's cells reach are cleared and summed; the rest
        // count as zeros in the reduction (a decode step over a short context touches few of
        // its 64).
        let used = n.min(ways);
        let stride = ways * hd;
        for j in 0..per {
            s.acc[j * stride..j * stride + used * hd].fill(0.0);
        }
        for (i, &c) in s.cells[..n].iter().enumerate() {
            for j in 0..per {
                s.p[j] = f16::from_f32(s.scores[j * cells_n + i] * s.max[j]).to_f32();
            }
            let c = c as usize;
            let vr = &kv.v[c * kw + kvh * hd..c * kw + (kvh + 1) * hd];
            let slot = (i % ways) * hd;
            axpy_f16_heads(&mut s.acc[slot..], stride, vr, &s.p[..per]);
        }
        for j in 0..per {
            let acc = &s.acc[j * stride..(j + 1) * stride];
            let o = &mut dst[j * hd..(j + 1) * hd];
            if tiny_kqv {
                reduce16_rows(acc, hd, used, o);
            } else {
                reduce4x16_rows(acc, hd, used, o);
            }
        }
    });
}
