//! Attention over the f16 KV cache, following ggml's non-flash path (llama.cpp's default
//! f16 cache): q is rounded to f16 and dotted with f16 K in f32, the scores are scaled (and
//! soft-capped), the softmax uses ggml's vector exp with its sum in f64, and the probabilities
//! are rounded to f16 before the weighted sum of f16 V rows, accumulated in f32 — every sum in
//! ggml's order (see `ggml_math`). Which cells a row sees comes from the batch's cell table
//! (which already includes this batch's own cells).

use half::f16;

use super::ggml_simd::{exp_sum, k_dots, pv_lanes, reduce16_rows, reduce4x16_rows};

use super::pool::{PerThread, Pool, SyncPtr};
use wollama_plan::{Attention, Batch};

pub struct KvLayer {
    pub k: Vec<f16>,
    pub v: Vec<f16>,
    pub width: usize,
}

impl KvLayer {
    /// Zeroed cells from the allocator's zeroed pages (`vec![0u16; n]`), so that a cell's
    /// memory becomes resident only once a sequence writes it: the resident set grows with
    /// the context in use, not with num_ctx (`vec![f16::ZERO; n]` writes every element;
    /// Gemma 3's 72 MiB at num_ctx 4096 were all resident from load).
    pub fn new(cells: usize, width: usize) -> Self {
        use half::vec::HalfBitsVecExt;
        KvLayer {
            k: vec![0u16; cells * width].reinterpret_into(),
            v: vec![0u16; cells * width].reinterpret_into(),
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
}

impl Scratch {
    pub fn new(cells: usize, head_dim: usize) -> Self {
        Scratch { cells: vec![0; cells], scores: vec![0.0; cells], q: vec![0.0; head_dim], acc: vec![0.0; 64 * head_dim] }
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
/// orders are reproduced here, with K/V lanes assigned by a cell's rank (by position) among
/// the cells the row sees, so a batch gives llama.cpp's bits whatever its size and wherever
/// its cells lie.
///
/// Each task is one row and a run of heads sharing a KV head, in phases over its cells: K
/// dots for all the run's heads (each K row converted once), then per head the scale, max,
/// softmax sum and f16 probabilities as whole-row vector passes, then the V sums lane by
/// lane with the accumulators in registers (`pv_lanes`).
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
    // One task per (row, KV head) shares the cell scan and each K and V row's conversion
    // among the group's heads; a decode step on several threads keeps one task per (row,
    // head) instead so that its few tasks spread over the threads.
    let per = if rows * nkv >= 2 * pool.threads() { group } else { 1 };
    let runs = nh / per;
    let cells_n = b.cell_pos.len();
    let op = SyncPtr::new(out);
    pool.run(rows * runs, &|task, thread| {
        let (r, h0) = (task / runs, (task % runs) * per);
        let tiny = seq_rows[b.seqs[r] as usize] >= 2;
        let tiny_kqv = tiny && hd % 4 == 0;
        let ways = if tiny_kqv { 16 } else { 64 };
        let kvh = h0 / group;
        // SAFETY: this thread runs one task at a time.
        let s = unsafe { scratch.get(thread) };
        s.fit(per, cells_n, hd, ways);
        // SAFETY: each task writes its own (row, heads) slice.
        let dst = unsafe { op.slice(r * qw + h0 * hd, per * hd) };
        dst.fill(0.0);
        let n = visible_cells(a, causal, b, r, &mut s.cells);
        if n == 0 {
            return;
        }
        // q rounded to f16, as ggml converts it for the f16 K matmul.
        for (d, &v) in s.q[..per * hd].iter_mut().zip(&q[r * qw + h0 * hd..r * qw + (h0 + per) * hd]) {
            *d = f16::from_f32(v).to_f32();
        }
        let cells = &s.cells[..n];
        k_dots(tiny, &kv.k, kw, kvh * hd, hd, cells, &s.q[..per * hd], &mut s.scores, cells_n);
        for j in 0..per {
            let sc = &mut s.scores[j * cells_n..j * cells_n + n];
            let max = scale_and_max(sc, a.scale, a.softcap);
            // ggml_vec_soft_max_f32: exp per 16-cell block, each block reduced in f32 and
            // summed in f64; then the probabilities rounded to f16 for the V product.
            let sum = exp_sum(sc, max);
            round_probabilities(sc, (1.0 / sum) as f32);
        }
        // Only the accumulators this row's cells reach are written and summed; the rest
        // count as zeros in the reduction (a decode step over a short context uses few of
        // its 64).
        let used = n.min(ways);
        let stride = ways * hd;
        pv_lanes(&kv.v, kw, kvh * hd, hd, cells, &s.scores, cells_n, per, ways, &mut s.acc, stride);
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

/// The cells row `r` sees, in position order, into `out`; returns how many. The softmax and
/// V sums take their lanes from this order, so it must not depend on where the cells lie:
/// once cells are freed and reused, a sequence's later positions may sit in lower cells
/// than its earlier ones. For a request alone on an empty cache, position order is cell
/// order (llama.cpp's).
fn visible_cells(a: &Attention, causal: bool, b: &Batch, r: usize, out: &mut [u32]) -> usize {
    let pos = b.positions[r];
    let seq = 1u64 << b.seqs[r];
    let mut n = 0;
    let (mut last, mut sorted) = (i32::MIN, true);
    for (c, (&cp, &cs)) in b.cell_pos.iter().zip(&b.cell_seqs).enumerate() {
        if cs & seq == 0 || cp < 0 || (causal && cp > pos) || (a.window != 0 && (pos - cp).unsigned_abs() >= a.window) {
            continue;
        }
        sorted &= cp >= last;
        last = cp;
        out[n] = c as u32;
        n += 1;
    }
    if !sorted {
        out[..n].sort_unstable_by_key(|&c| (b.cell_pos[c as usize], c));
    }
    n
}

/// Scales the dots (and soft-caps them, ggml's tanh form) in place; returns their maximum.
fn scale_and_max(s: &mut [f32], scale: f32, softcap: f32) -> f32 {
    for v in s.iter_mut() {
        *v *= scale;
    }
    if softcap != 0.0 {
        for v in s.iter_mut() {
            *v = softcap * (*v / softcap).tanh();
        }
    }
    // Eight running maxima, so the loop vectorises; max is exact in any order.
    let mut m = [f32::NEG_INFINITY; 8];
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        for (m, &v) in m.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let mut max = m.into_iter().fold(f32::NEG_INFINITY, f32::max);
    for &v in chunks.remainder() {
        max = max.max(v);
    }
    max
}

/// p = f16(e · inv) in place: the probabilities as ggml feeds them to the f16 V product.
fn round_probabilities(s: &mut [f32], inv: f32) {
    for v in s.iter_mut() {
        *v = f16::from_f32(*v * inv).to_f32();
    }
}
