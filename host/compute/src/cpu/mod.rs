//! The CPU executor: compiles a guest's plan against the mapped model file (every weight
//! and op checked once), then runs batches with preallocated, liveness-shared buffers.

mod attention;
pub mod kernels;
mod matmul;
mod ops;
mod pool;
mod topk;
mod weights;

use std::sync::Arc;

use memmap2::Mmap;

use crate::plan::{Batch, Candidates, Op, PlanSpec};
use attention::KvLayer;
pub use pool::Pool;
pub use weights::{type_name, Weight};

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
}

pub struct CpuExecutor {
    pool: Arc<Pool>,
}

impl CpuExecutor {
    pub fn new(threads: usize) -> Self {
        CpuExecutor { pool: Arc::new(Pool::new(threads.max(1))) }
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    pub fn compile(&self, file: Arc<Mmap>, spec: PlanSpec) -> Result<CpuPlan, ComputeError> {
        CpuPlan::compile(Arc::clone(&self.pool), file, spec)
    }
}

/// Per node, fixed at compile time.
#[derive(Debug, Clone, Copy)]
struct NodeInfo {
    width: usize,
    /// Rows are the batch's logit rows (after SelectRows) rather than all its tokens.
    selected: bool,
    slot: usize,
}

pub struct CpuPlan {
    pool: Arc<Pool>,
    spec: PlanSpec,
    weights: Vec<Option<Weight>>,
    /// Small vector weights (norms, biases) dequantized once.
    vectors: Vec<Option<Vec<f32>>>,
    nodes: Vec<NodeInfo>,
    kv: Vec<KvLayer>,
    slots: Vec<Vec<f32>>,
    vocab: u32,
    rope_cache: Vec<f32>,
    topk_idx: Vec<u32>,
}

fn invalid<T>(msg: String) -> Result<T, ComputeError> {
    Err(ComputeError::Invalid(msg))
}

impl CpuPlan {
    fn compile(pool: Arc<Pool>, file: Arc<Mmap>, spec: PlanSpec) -> Result<CpuPlan, ComputeError> {
        let mut weights: Vec<Option<Weight>> = vec![None; spec.weights.len()];
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; spec.weights.len()];
        let n = spec.nodes.len();
        if n == 0 || spec.logits >= n {
            return invalid("the plan has no logits node".into());
        }
        let mut bind = |w: usize, as_vector: bool| -> Result<(usize, usize), ComputeError> {
            let desc = spec.weights.get(w).ok_or_else(|| ComputeError::Invalid(format!("weight {w} does not exist")))?;
            if weights[w].is_none() {
                weights[w] = Some(Weight::bind(&file, desc)?);
            }
            let wt = weights[w].as_ref().expect("bound above");
            if as_vector && vectors[w].is_none() {
                vectors[w] = Some(wt.to_f32_vec());
            }
            Ok(wt.dims())
        };

        let mut info: Vec<NodeInfo> = Vec::with_capacity(n);
        for (i, op) in spec.nodes.iter().enumerate() {
            let src = |j: usize| -> Result<NodeInfo, ComputeError> {
                if j >= i {
                    return invalid(format!("node {i} reads node {j}, which is not an earlier node"));
                }
                Ok(info[j])
            };
            let same = |a: NodeInfo, b: NodeInfo| -> Result<(), ComputeError> {
                if a.width != b.width || a.selected != b.selected {
                    return invalid(format!("node {i} combines nodes of different shapes"));
                }
                Ok(())
            };
            let (width, selected) = match *op {
                Op::Embed(w) => (bind(w, false)?.0, false),
                Op::Matmul(x, w) => {
                    let x = src(x)?;
                    let (k, rows) = bind(w, false)?;
                    if k != x.width {
                        return invalid(format!(
                            "node {i}: weight {} has rows of {k} but the input is {} wide",
                            spec.weights[w].name, x.width
                        ));
                    }
                    (rows, x.selected)
                }
                Op::RmsNorm(x, _, group) => {
                    let x = src(x)?;
                    if group != 0 && x.width % group as usize != 0 {
                        return invalid(format!("node {i}: group {group} does not divide width {}", x.width));
                    }
                    (x.width, x.selected)
                }
                Op::LayerNorm(x, _) | Op::Scale(x, _) | Op::Gelu(x) | Op::Softcap(x, _) => {
                    let x = src(x)?;
                    (x.width, x.selected)
                }
                Op::MulWeight(x, w) | Op::AddWeight(x, w) => {
                    let x = src(x)?;
                    let (k, rows) = bind(w, true)?;
                    if x.width % (k * rows) != 0 {
                        return invalid(format!(
                            "node {i}: weight {} ({} values) does not broadcast over width {}",
                            spec.weights[w].name,
                            k * rows,
                            x.width
                        ));
                    }
                    (x.width, x.selected)
                }
                Op::Add(a, b) | Op::Mul(a, b) | Op::SwiGlu(a, b) | Op::GeGlu(a, b) => {
                    let (a, b) = (src(a)?, src(b)?);
                    same(a, b)?;
                    (a.width, a.selected)
                }
                Op::Rope(r) => {
                    let x = src(r.x)?;
                    if r.head_dim == 0 || x.width % r.head_dim as usize != 0 || r.n_rot > r.head_dim || r.n_rot % 2 != 0 {
                        return invalid(format!("node {i}: rope does not fit width {}", x.width));
                    }
                    (x.width, x.selected)
                }
                Op::Attention(a) => {
                    let (q, k, v) = (src(a.q)?, src(a.k)?, src(a.v)?);
                    let kv_width = spec.kv.widths.get(a.layer as usize).copied().unwrap_or(0) as usize;
                    let hd = a.head_dim as usize;
                    if a.n_kv_head == 0
                        || a.n_head % a.n_kv_head != 0
                        || q.width != a.n_head as usize * hd
                        || k.width != a.n_kv_head as usize * hd
                        || v.width != k.width
                        || kv_width != k.width
                        || q.selected
                        || k.selected
                        || v.selected
                    {
                        return invalid(format!("node {i}: attention shapes do not agree with KV layer {}", a.layer));
                    }
                    (q.width, false)
                }
                Op::SelectRows(x) => {
                    let x = src(x)?;
                    if x.selected {
                        return invalid(format!("node {i} selects rows twice"));
                    }
                    (x.width, true)
                }
            };
            info.push(NodeInfo { width, selected, slot: usize::MAX });
        }

        // Buffers: a node's slot is reused once its last reader has run.
        let mut last_use = vec![None::<usize>; n];
        for (i, op) in spec.nodes.iter().enumerate() {
            for j in sources(op) {
                last_use[j] = Some(i);
            }
        }
        last_use[spec.logits] = Some(n);
        let mut free: Vec<usize> = Vec::new();
        let mut n_slots = 0;
        for i in 0..n {
            info[i].slot = free.pop().unwrap_or_else(|| {
                n_slots += 1;
                n_slots - 1
            });
            let mut srcs = sources(&spec.nodes[i]);
            srcs.sort_unstable();
            srcs.dedup();
            for j in srcs {
                if last_use[j] == Some(i) {
                    free.push(info[j].slot);
                }
            }
            if last_use[i].is_none() {
                free.push(info[i].slot);
            }
        }

        let vocab = info[spec.logits].width as u32;
        if !info[spec.logits].selected {
            return invalid("the logits node must come after select-rows".into());
        }
        let kv = spec.kv.widths.iter().map(|&w| KvLayer::new(spec.kv.cells as usize, w as usize)).collect();
        Ok(CpuPlan {
            pool,
            weights,
            vectors,
            nodes: info,
            kv,
            slots: vec![Vec::new(); n_slots],
            vocab,
            rope_cache: Vec::new(),
            topk_idx: Vec::new(),
            spec,
        })
    }

    pub fn vocab(&self) -> u32 {
        self.vocab
    }

    pub fn run(&mut self, b: &Batch) -> Result<Vec<Candidates>, ComputeError> {
        b.validate(&self.spec, self.vocab_for_tokens()).map_err(ComputeError::Invalid)?;
        for &(src, dst) in &b.copies {
            for layer in &mut self.kv {
                layer.copy_cell(src as usize, dst as usize);
            }
        }
        let rows = b.tokens.len();
        let lrows = b.logit_rows.len();
        for i in 0..self.spec.nodes.len() {
            let node = self.nodes[i];
            let nrows = if node.selected { lrows } else { rows };
            let mut out = std::mem::take(&mut self.slots[node.slot]);
            if out.len() < nrows * node.width {
                out.resize(nrows * node.width, 0.0);
            }
            self.eval(i, b, nrows, &mut out[..nrows * node.width]);
            self.slots[node.slot] = out;
        }
        let logits = &self.slots[self.nodes[self.spec.logits].slot];
        let v = self.vocab as usize;
        let mut out = Vec::with_capacity(lrows);
        let mut row = vec![0f32; v];
        for (r, bias) in b.bias.iter().enumerate() {
            row.copy_from_slice(&logits[r * v..(r + 1) * v]);
            topk::apply_bias(&mut row, bias);
            out.push(topk::top_k(&row, b.top_k as usize, &mut self.topk_idx));
        }
        Ok(out)
    }

    /// Token ids must index the embedding matrix.
    fn vocab_for_tokens(&self) -> u32 {
        self.spec
            .nodes
            .iter()
            .find_map(|op| match op {
                Op::Embed(w) => self.weights[*w].as_ref().map(|w| w.dims().1 as u32),
                _ => None,
            })
            .unwrap_or(u32::MAX)
    }

    fn input(&self, j: usize) -> &[f32] {
        &self.slots[self.nodes[j].slot]
    }

    fn eval(&mut self, i: usize, b: &Batch, rows: usize, out: &mut [f32]) {
        let width = self.nodes[i].width;
        let n = rows * width;
        match self.spec.nodes[i] {
            Op::Embed(w) => {
                let wt = self.weights[w].as_ref().expect("bound");
                for (r, &t) in b.tokens.iter().enumerate() {
                    wt.row_to_f32(t as usize, &mut out[r * width..(r + 1) * width]);
                }
            }
            Op::Matmul(x, w) => {
                let wt = self.weights[w].as_ref().expect("bound");
                matmul::matmul(&self.pool, wt, self.input(x), rows, out);
            }
            Op::RmsNorm(x, eps, group) => ops::rms_norm(self.input(x), out, width, rows, eps, group as usize),
            Op::LayerNorm(x, eps) => ops::layer_norm(self.input(x), out, width, rows, eps),
            Op::MulWeight(x, w) => {
                ops::broadcast(self.input(x), self.vectors[w].as_ref().expect("bound"), out, n, |a, b| a * b)
            }
            Op::AddWeight(x, w) => {
                ops::broadcast(self.input(x), self.vectors[w].as_ref().expect("bound"), out, n, |a, b| a + b)
            }
            Op::Add(a, c) => zip(self.input(a), self.input(c), out, |x, y| x + y),
            Op::Mul(a, c) => zip(self.input(a), self.input(c), out, |x, y| x * y),
            Op::SwiGlu(a, c) => zip(self.input(a), self.input(c), out, |x, y| ops::silu(x) * y),
            Op::GeGlu(a, c) => zip(self.input(a), self.input(c), out, |x, y| ops::gelu(x) * y),
            Op::Scale(x, s) => map(self.input(x), out, |v| v * s),
            Op::Gelu(x) => map(self.input(x), out, ops::gelu),
            Op::Softcap(x, cap) => map(self.input(x), out, |v| cap * (v / cap).tanh()),
            Op::Rope(r) => {
                out.copy_from_slice(&self.input(r.x)[..n]);
                let mut cache = std::mem::take(&mut self.rope_cache);
                ops::rope(out, width, rows, &b.positions, &r, &mut cache);
                self.rope_cache = cache;
            }
            Op::Attention(a) => {
                let layer = a.layer as usize;
                let mut kv = std::mem::replace(&mut self.kv[layer], KvLayer::new(0, 0));
                kv.write(b, self.input(a.k), self.input(a.v));
                attention::attend(&self.pool, &a, b, &kv, self.input(a.q), out);
                self.kv[layer] = kv;
            }
            Op::SelectRows(x) => {
                let src = self.input(x);
                for (r, &from) in b.logit_rows.iter().enumerate() {
                    let f = from as usize;
                    out[r * width..(r + 1) * width].copy_from_slice(&src[f * width..(f + 1) * width]);
                }
            }
        }
    }
}

fn sources(op: &Op) -> Vec<usize> {
    match *op {
        Op::Embed(_) => vec![],
        Op::Matmul(x, _)
        | Op::RmsNorm(x, _, _)
        | Op::LayerNorm(x, _)
        | Op::MulWeight(x, _)
        | Op::AddWeight(x, _)
        | Op::Scale(x, _)
        | Op::Gelu(x)
        | Op::SelectRows(x)
        | Op::Softcap(x, _) => vec![x],
        Op::Add(a, b) | Op::Mul(a, b) | Op::SwiGlu(a, b) | Op::GeGlu(a, b) => vec![a, b],
        Op::Rope(r) => vec![r.x],
        Op::Attention(a) => vec![a.q, a.k, a.v],
    }
}

fn zip(a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

fn map(a: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
    for (o, &x) in out.iter_mut().zip(a) {
        *o = f(x);
    }
}
