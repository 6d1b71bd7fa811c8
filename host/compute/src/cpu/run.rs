//! Running a compiled plan: one forward pass per batch, node by node on the pool, then the
//! biased top-k (or whole rows) of every logit row.

use std::ops::Range;

use wollama_plan::{Batch, Candidates, NodeId, Op};

use super::pool::{Pool, SyncPtr};
use super::weights::Weight;
use super::{attention, ggml_math, ggml_simd, invalid, matmul, ops, topk, ComputeError, CpuPlan, NodeInfo};

impl CpuPlan {
    /// Runs one forward pass and returns the top-k candidates of every logit row.
    pub fn run(&mut self, b: &Batch) -> Result<Vec<Candidates>, ComputeError> {
        let out = self.forward(b);
        self.backing.settle();
        out
    }

    fn forward(&mut self, b: &Batch) -> Result<Vec<Candidates>, ComputeError> {
        b.validate(&self.spec, self.token_space)
            .map_err(ComputeError::Invalid)?;
        if b.logit_rows.len() > self.spec.max_rows as usize {
            return invalid(format!(
                "{} logit rows exceed the plan's {} rows",
                b.logit_rows.len(),
                self.spec.max_rows
            ));
        }
        if let Some(p) = b.positions.iter().find(|&&p| p < 0 || p as u32 >= self.position_space) {
            return invalid(format!(
                "position {p} is outside the model's {} position embeddings",
                self.position_space
            ));
        }
        for &(src, dst) in &b.copies {
            if src != dst {
                for layer in &mut self.kv {
                    layer.copy_cell(src as usize, dst as usize);
                }
            }
        }
        let (rows, lrows) = (b.tokens.len(), b.logit_rows.len());
        // Only hidden states wanted (decoder embeddings): the LM head has nothing to do.
        let hidden_only = self.spec.hidden.is_some() && b.hidden_rows.len() == lrows;
        let mut i = 0;
        while i < self.spec.nodes.len() {
            let node = self.nodes[i];
            let run = self.matmul_run[i];
            if !node.live || (hidden_only && !self.for_hidden[i..i + run].contains(&true)) {
                i += run;
                continue;
            }
            let nrows = if node.selected { lrows } else { rows };
            if run > 1 {
                self.eval_matmul_run(i..i + run, nrows);
                i += run;
                continue;
            }
            let mut out = std::mem::take(&mut self.slots[node.slot]);
            self.eval(i, b, nrows, &mut out[..nrows * node.width]);
            self.slots[node.slot] = out;
            i += 1;
        }
        Ok(self.candidates(b))
    }

    /// Output node `id` as (its info, its buffer), for `output_row`.
    fn output(&self, id: NodeId) -> (NodeInfo, &[f32]) {
        let node = self.nodes[id as usize];
        (node, &self.slots[node.slot])
    }

    /// Bias and top-k of each logit row, rows spread over the pool; hidden rows whole.
    fn candidates(&self, b: &Batch) -> Vec<Candidates> {
        let mut out = vec![Candidates::default(); b.logit_rows.len()];
        let is_hidden = |r: usize| b.hidden_rows.binary_search(&(r as u32)).is_ok();
        let logits = self.output(self.spec.logits);
        if b.top_k == 0 {
            // Whole rows (pooled embeddings): no bias, no ranking.
            for (r, o) in out.iter_mut().enumerate().filter(|(r, _)| !is_hidden(*r)) {
                o.logits = output_row(logits, b, r).to_vec();
            }
        } else if b.hidden_rows.len() < b.logit_rows.len() {
            let op = SyncPtr::new(&mut out);
            let scratch = &self.topk_scratch;
            self.pool.run(b.logit_rows.len(), &|r, thread| {
                if is_hidden(r) {
                    return;
                }
                // SAFETY: one chunk per thread at a time; chunk r writes only out[r].
                let (row, idx) = unsafe { scratch.get(thread) };
                row.copy_from_slice(output_row(logits, b, r));
                topk::apply_bias(row, &b.bias[r]);
                unsafe { op.write(r, topk::top_k(row, b.top_k as usize, idx)) };
            });
        }
        if let Some(h) = self.spec.hidden {
            let hidden = self.output(h);
            for &r in &b.hidden_rows {
                out[r as usize].logits = output_row(hidden, b, r as usize).to_vec();
            }
        }
        out
    }

    fn input(&self, j: NodeId, rows: usize) -> &[f32] {
        let node = self.nodes[j as usize];
        &self.slots[node.slot][..rows * node.width]
    }

    /// Consecutive matmuls of one input (see `matmul_run`). Their output slots are distinct
    /// and none is the input's: each was allocated while the input was still live.
    fn eval_matmul_run(&mut self, nodes: Range<usize>, rows: usize) {
        let Op::Matmul(x, _) = self.spec.nodes[nodes.start] else { unreachable!("a matmul run starts with a matmul") };
        let mut outs: [Vec<f32>; matmul::MAX_GROUP] = Default::default();
        let mut ws: [Option<&Weight>; matmul::MAX_GROUP] = [None; matmul::MAX_GROUP];
        for (k, i) in nodes.clone().enumerate() {
            let Op::Matmul(_, w) = self.spec.nodes[i] else { unreachable!("runs hold matmuls only") };
            outs[k] = std::mem::take(&mut self.slots[self.nodes[i].slot]);
            ws[k] = self.weights[w as usize].as_ref();
        }
        let len = nodes.len();
        {
            let ws: [&Weight; matmul::MAX_GROUP] =
                std::array::from_fn(|k| ws[k].or(ws[0]).expect("bound at compile"));
            let widths: [usize; matmul::MAX_GROUP] =
                std::array::from_fn(|k| if k < len { self.nodes[nodes.start + k].width } else { 0 });
            let mut ys: [&mut [f32]; matmul::MAX_GROUP] = Default::default();
            for (k, (y, o)) in ys.iter_mut().zip(outs.iter_mut()).enumerate().take(len) {
                *y = &mut o[..rows * widths[k]];
            }
            let x = &self.slots[self.nodes[x as usize].slot][..rows * self.nodes[x as usize].width];
            matmul::matmul_group(&self.pool, &ws[..len], x, rows, &mut ys[..len], &mut self.matmul_scratch);
        }
        for (k, i) in nodes.enumerate() {
            self.slots[self.nodes[i].slot] = std::mem::take(&mut outs[k]);
        }
    }

    fn eval(&mut self, i: usize, b: &Batch, rows: usize, out: &mut [f32]) {
        let width = self.nodes[i].width;
        let pool = &*self.pool;
        match self.spec.nodes[i] {
            Op::Embed(w) => {
                let ids: Vec<usize> = b.tokens.iter().map(|&t| t as usize).collect();
                gather_rows(pool, self.weights[w as usize].as_ref().expect("bound at compile"), &ids, width, out);
            }
            Op::Matmul(x, w) => {
                let wt = self.weights[w as usize].as_ref().expect("bound at compile");
                let x = &self.slots[self.nodes[x as usize].slot][..rows * self.nodes[x as usize].width];
                matmul::matmul(pool, wt, x, rows, out, &mut self.matmul_scratch);
            }
            Op::RmsNorm(x, eps, group) => {
                let g = if group == 0 { width } else { group as usize };
                let x = self.input(x, rows);
                par_rows(pool, rows, width, out, &|r, o| {
                    ops::rms_norm(&x[r.start * width..r.end * width], o, g, eps)
                });
            }
            Op::LayerNorm(x, eps) => {
                let x = self.input(x, rows);
                par_rows(pool, rows, width, out, &|r, o| {
                    ops::layer_norm(&x[r.start * width..r.end * width], o, width, eps)
                });
            }
            Op::MulWeight(x, w) => {
                let (x, w) = (
                    self.input(x, rows),
                    self.vectors[w as usize].as_deref().expect("bound at compile"),
                );
                par_rows(pool, rows, width, out, &|r, o| {
                    ops::broadcast(&x[r.start * width..r.end * width], w, o, |a, b| a * b)
                });
            }
            Op::AddWeight(x, w) => {
                let (x, w) = (
                    self.input(x, rows),
                    self.vectors[w as usize].as_deref().expect("bound at compile"),
                );
                par_rows(pool, rows, width, out, &|r, o| {
                    ops::broadcast(&x[r.start * width..r.end * width], w, o, |a, b| a + b)
                });
            }
            Op::Add(a, c) => zip(pool, self.input(a, rows), self.input(c, rows), out, width, |x, y| x + y),
            Op::Mul(a, c) => zip(pool, self.input(a, rows), self.input(c, rows), out, width, |x, y| x * y),
            Op::SwiGlu(a, c) => {
                // ggml: vector SiLU (its own exp) over whole 16-blocks of each row, libm after.
                let (x, g) = (self.input(a, rows), self.input(c, rows));
                let simd = width - width % 16;
                par_rows(pool, rows, width, out, &|r, o| {
                    let (x, g) = (&x[r.start * width..r.end * width], &g[r.start * width..r.end * width]);
                    for ((o, x), g) in o
                        .chunks_exact_mut(width)
                        .zip(x.chunks_exact(width))
                        .zip(g.chunks_exact(width))
                    {
                        ggml_simd::silu_mul(&x[..simd], &g[..simd], &mut o[..simd]);
                        for i in simd..width {
                            o[i] = ggml_math::silu_libm(x[i]) * g[i];
                        }
                    }
                });
            }
            Op::GeGlu(a, c) => zip(pool, self.input(a, rows), self.input(c, rows), out, width, |x, y| {
                ops::gelu(x) * y
            }),
            Op::Scale(x, s) => map(pool, self.input(x, rows), out, width, |v| v * s),
            Op::Gelu(x) => map(pool, self.input(x, rows), out, width, ops::gelu),
            Op::GeluErf(x) => map(pool, self.input(x, rows), out, width, ops::gelu_erf),
            Op::EmbedPositions(w) => {
                // Positions were checked against the table's rows in `run`.
                let ids: Vec<usize> = b.positions.iter().map(|&p| p as usize).collect();
                gather_rows(pool, self.weights[w as usize].as_ref().expect("bound at compile"), &ids, width, out);
            }
            Op::Pool(x, how) => {
                let x = self.input(x, b.tokens.len());
                ops::pool(x, width, &b.seqs, &b.logit_rows, how, out);
            }
            Op::Softcap(x, cap) => {
                // ggml: scale by 1/cap, tanh, scale by cap.
                let inv = 1.0 / cap;
                map(pool, self.input(x, rows), out, width, |v| (v * inv).tanh() * cap)
            }
            Op::Rope(r) => {
                let x = self.input(r.x, rows);
                let cache = &self.rope_cache;
                par_rows_t(pool, rows, width, out, &|rr, o, thread| {
                    o.copy_from_slice(&x[rr.start * width..rr.end * width]);
                    // SAFETY: one chunk per thread at a time.
                    let c = unsafe { cache.get(thread) };
                    ops::rope(o, width, &b.positions[rr], &r, c);
                });
            }
            Op::Attention(a) | Op::EncoderAttention(a) => {
                let causal = matches!(self.spec.nodes[i], Op::Attention(_));
                let kv = &mut self.kv[a.layer as usize];
                let node = |j: NodeId| &self.slots[self.nodes[j as usize].slot][..rows * self.nodes[j as usize].width];
                kv.write(b, node(a.k), node(a.v));
                attention::attend(pool, &a, causal, b, kv, node(a.q), out, &self.attention_scratch);
            }
            Op::SelectRows(x) => {
                let x = self.input(x, b.tokens.len());
                for (o, &from) in out.chunks_exact_mut(width).zip(&b.logit_rows) {
                    let f = from as usize;
                    o.copy_from_slice(&x[f * width..(f + 1) * width]);
                }
            }
        }
    }
}

/// Logit row `r`'s row of an output node (whose rows are the logit rows, or all rows).
fn output_row<'a>((node, buf): (NodeInfo, &'a [f32]), b: &Batch, r: usize) -> &'a [f32] {
    let src = if node.selected { r } else { b.logit_rows[r] as usize };
    &buf[src * node.width..(src + 1) * node.width]
}

/// out row r = row ids[r] of the matrix `wt`, as f32.
fn gather_rows(pool: &Pool, wt: &Weight, ids: &[usize], width: usize, out: &mut [f32]) {
    par_rows(pool, ids.len(), width, out, &|r, o| {
        for (&id, o) in ids[r].iter().zip(o.chunks_exact_mut(width)) {
            wt.row_to_f32(id, o);
        }
    });
}

/// Work below this many elements runs on the calling thread alone.
const PAR_MIN_ELEMS: usize = 1 << 15;

/// Runs `f(rows, out_rows)` over row ranges of `out` ([rows, width]), split over the pool when
/// the op is big enough to be worth it.
fn par_rows(pool: &Pool, rows: usize, width: usize, out: &mut [f32], f: &(dyn Fn(Range<usize>, &mut [f32]) + Sync)) {
    par_rows_t(pool, rows, width, out, &|r, o, _| f(r, o))
}

/// A row-range body that also gets the pool thread number (for per-thread scratch).
type RowsFn<'a> = dyn Fn(Range<usize>, &mut [f32], usize) + Sync + 'a;

fn par_rows_t(pool: &Pool, rows: usize, width: usize, out: &mut [f32], f: &RowsFn) {
    if rows * width < PAR_MIN_ELEMS || rows < 2 || pool.threads() == 1 {
        f(0..rows, &mut out[..rows * width], 0);
        return;
    }
    let chunks = (pool.threads() * 4).min(rows);
    let per = rows.div_ceil(chunks);
    let chunks = rows.div_ceil(per);
    let op = SyncPtr::new(out);
    pool.run(chunks, &|c, thread| {
        let r = c * per..((c + 1) * per).min(rows);
        // SAFETY: chunks cover disjoint row ranges.
        let o = unsafe { op.slice(r.start * width, r.len() * width) };
        f(r, o, thread);
    });
}

fn zip(pool: &Pool, a: &[f32], b: &[f32], out: &mut [f32], width: usize, f: impl Fn(f32, f32) -> f32 + Sync) {
    let rows = out.len() / width.max(1);
    par_rows(pool, rows, width, out, &|r, o| {
        let (a, b) = (&a[r.start * width..r.end * width], &b[r.start * width..r.end * width]);
        for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    });
}

fn map(pool: &Pool, a: &[f32], out: &mut [f32], width: usize, f: impl Fn(f32) -> f32 + Sync) {
    let rows = out.len() / width.max(1);
    par_rows(pool, rows, width, out, &|r, o| {
        for (o, &x) in o.iter_mut().zip(&a[r.start * width..r.end * width]) {
            *o = f(x);
        }
    });
}
