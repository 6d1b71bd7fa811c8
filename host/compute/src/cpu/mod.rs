//! The CPU executor: compiles a guest's plan against the mapped model file (every weight and
//! node checked once, buffers and the KV cache allocated once), then runs batches on its own
//! thread pool with candle's block types and ggml-exact kernels.

mod attention;
mod backing;
mod ggml_math;
mod ggml_simd;
mod kquant;
mod matmul;
mod ops;
mod pool;
#[doc(hidden)]
pub mod probe;
mod quant;
mod topk;
mod weights;

use std::ops::Range;
use std::sync::{Arc, Mutex, Weak};

use memmap2::Mmap;

use crate::plan::{Batch, Candidates, Op, PlanSpec};
use attention::KvLayer;
use backing::Backing;
pub use pool::Pool;
use pool::{PerThread, SyncPtr};
pub use weights::type_name;
use weights::{Use, Weight};

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// The plan needs something this executor cannot do (e.g. a weight type).
    #[error("{0}")]
    Unsupported(String),
    /// The plan or batch is malformed.
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, ComputeError> {
    Err(ComputeError::Invalid(msg.into()))
}

/// Owns the thread pool that every plan compiled by it runs on, and the weights' bytes of
/// each file its plans read (one huge-page copy per file, shared by its plans).
pub struct CpuExecutor {
    pool: Arc<Pool>,
    copy_weights: bool,
    backings: Mutex<Vec<Weak<Backing>>>,
}

impl CpuExecutor {
    /// A pool of `threads` participants (the calling thread counts as one); at least 1.
    /// Weights move to a huge-page copy in the background where that helps
    /// (`backing::copy_wanted`).
    pub fn new(threads: usize) -> Self {
        Self::with_weight_copy(threads, backing::copy_wanted())
    }

    /// As `new`, with the huge-page copy of the weights on or off.
    pub fn with_weight_copy(threads: usize, copy_weights: bool) -> Self {
        CpuExecutor {
            pool: Arc::new(Pool::new(threads.max(1))),
            copy_weights,
            backings: Mutex::new(Vec::new()),
        }
    }

    /// The bytes of `file` for a plan whose weights start at `start`: the backing an earlier
    /// plan over the same mapping made, or a new one (which starts copying).
    fn backing(&self, file: Arc<Mmap>, start: usize) -> Arc<Backing> {
        if !self.copy_weights {
            return Backing::file_only(file);
        }
        let mut all = self.backings.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|b| b.strong_count() > 0);
        if let Some(b) = all.iter().filter_map(Weak::upgrade).find(|b| Arc::ptr_eq(b.file(), &file)) {
            return b;
        }
        let b = Backing::copying(file, start);
        all.push(Arc::downgrade(&b));
        b
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Validates `spec` against the mapped file and prepares it to run: binds every weight
    /// (bounds, block shape, type support for its use), infers and checks every node's
    /// width, allocates activation buffers for `max_rows` and the f16 KV cache.
    pub fn compile(&self, file: Arc<Mmap>, spec: PlanSpec) -> Result<CpuPlan, ComputeError> {
        // The copy starts at the first weight: what comes before is metadata.
        let start = spec.weights.iter().map(|w| w.offset).min().unwrap_or(0);
        let backing = self.backing(file, start.min(usize::MAX as u64) as usize);
        CpuPlan::compile(Arc::clone(&self.pool), backing, spec)
    }
}

// The runtime keeps plans in its wasm host state and shares the executor across threads.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<CpuPlan>();
    send_sync::<CpuExecutor>();
};

/// Per node, fixed at compile time.
#[derive(Debug, Clone, Copy)]
struct NodeInfo {
    width: usize,
    /// Its rows are the batch's logit rows (it comes after SelectRows), not its tokens.
    selected: bool,
    /// Needed for the logits or for a KV-cache write.
    live: bool,
    /// Activation buffer (shared with nodes whose lifetimes do not overlap).
    slot: usize,
}

pub struct CpuPlan {
    pool: Arc<Pool>,
    spec: PlanSpec,
    /// The weights' bytes (the file, then its huge-page copy).
    backing: Arc<Backing>,
    /// Matrices (Matmul, Embed) as typed views of the file.
    weights: Vec<Option<Weight>>,
    /// Vectors (MulWeight, AddWeight) converted to f32 once.
    vectors: Vec<Option<Vec<f32>>>,
    nodes: Vec<NodeInfo>,
    /// Per node: needed for the hidden output or a KV-cache write. A batch whose logit rows
    /// all want the hidden state runs only these (it skips the LM head).
    for_hidden: Vec<bool>,
    slots: Vec<Vec<f32>>,
    kv: Vec<KvLayer>,
    vocab: u32,
    /// Token ids must be below this (the smallest embedding matrix's row count).
    token_space: u32,
    /// Positions must be below this when the plan embeds positions (u32::MAX otherwise).
    position_space: u32,
    matmul_scratch: Vec<u64>,
    /// For a Matmul node: how many consecutive live Matmul nodes from it (itself included)
    /// read the same input with groupable weights (they run as one `matmul_group`).
    matmul_run: Vec<usize>,
    rope_cache: PerThread<Vec<f32>>,
    attention_scratch: PerThread<attention::Scratch>,
    /// (a biased logit row, index scratch) per thread.
    topk_scratch: PerThread<(Vec<f32>, Vec<u32>)>,
}

/// The nodes an op reads.
fn sources(op: &Op) -> ([usize; 3], usize) {
    match *op {
        Op::Embed(_) | Op::EmbedPositions(_) => ([0; 3], 0),
        Op::Matmul(x, _)
        | Op::RmsNorm(x, _, _)
        | Op::LayerNorm(x, _)
        | Op::MulWeight(x, _)
        | Op::AddWeight(x, _)
        | Op::Scale(x, _)
        | Op::Gelu(x)
        | Op::GeluErf(x)
        | Op::Pool(x, _)
        | Op::SelectRows(x)
        | Op::Softcap(x, _) => ([x, 0, 0], 1),
        Op::Add(a, b) | Op::Mul(a, b) | Op::SwiGlu(a, b) | Op::GeGlu(a, b) => ([a, b, 0], 2),
        Op::Rope(r) => ([r.x, 0, 0], 1),
        Op::Attention(a) | Op::EncoderAttention(a) => ([a.q, a.k, a.v], 3),
    }
}

fn srcs(op: &Op) -> impl Iterator<Item = usize> {
    let (s, n) = sources(op);
    s.into_iter().take(n)
}

impl CpuPlan {
    fn compile(pool: Arc<Pool>, file: Arc<Backing>, spec: PlanSpec) -> Result<CpuPlan, ComputeError> {
        let n = spec.nodes.len();
        if n == 0 || spec.logits >= n {
            return invalid(format!(
                "the logits node {} is not one of the plan's {n} nodes",
                spec.logits
            ));
        }
        if spec.max_rows == 0 || spec.max_rows > 1 << 20 {
            return invalid(format!("max_rows {} is out of range", spec.max_rows));
        }
        let max_rows = spec.max_rows as usize;
        // Every listed weight of a type we run must lie inside the file with a sensible
        // shape; one of another type is reported (by name and type) if a node uses it.
        for w in spec.weights.iter().filter(|w| weights::supported(w.ggml_type)) {
            weights::check_desc(file.len(), w)?;
        }

        let mut weights: Vec<Option<Weight>> = vec![None; spec.weights.len()];
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; spec.weights.len()];
        let mut matrix = |i: usize, w: usize| -> Result<(usize, usize), ComputeError> {
            let Some(desc) = spec.weights.get(w) else {
                return invalid(format!(
                    "node {i} uses weight {w}, but the plan lists {}",
                    spec.weights.len()
                ));
            };
            if weights[w].is_none() {
                weights[w] = Some(Weight::bind(&file, desc, Use::Matrix)?);
            }
            Ok(weights[w].as_ref().expect("bound").dims())
        };
        let mut vector = |i: usize, w: usize| -> Result<usize, ComputeError> {
            let Some(desc) = spec.weights.get(w) else {
                return invalid(format!(
                    "node {i} uses weight {w}, but the plan lists {}",
                    spec.weights.len()
                ));
            };
            if vectors[w].is_none() {
                vectors[w] = Some(Weight::bind(&file, desc, Use::Vector)?.to_f32_vec());
            }
            Ok(vectors[w].as_ref().expect("bound").len())
        };

        let mut info: Vec<NodeInfo> = Vec::with_capacity(n);
        let mut token_space = u32::MAX;
        let mut position_space = u32::MAX;
        let (mut max_rot, mut max_head_dim) = (0usize, 0usize);
        for (i, op) in spec.nodes.iter().enumerate() {
            for j in srcs(op) {
                if j >= i {
                    return invalid(format!(
                        "node {i} ({op:?}) reads node {j}, which is not an earlier node"
                    ));
                }
            }
            let src = |j: usize| info[j];
            let same = |a: NodeInfo, b: NodeInfo| -> Result<(), ComputeError> {
                if a.width != b.width || a.selected != b.selected {
                    return invalid(format!(
                        "node {i} ({op:?}) combines a [{}{}] and a [{}{}] activation",
                        if a.selected { "logit rows, " } else { "rows, " },
                        a.width,
                        if b.selected { "logit rows, " } else { "rows, " },
                        b.width
                    ));
                }
                Ok(())
            };
            let (width, selected) = match *op {
                Op::Embed(w) => {
                    let (k, rows) = matrix(i, w)?;
                    token_space = token_space.min(rows.min(u32::MAX as usize) as u32);
                    (k, false)
                }
                Op::Matmul(x, w) => {
                    let x = src(x);
                    let (k, rows) = matrix(i, w)?;
                    if k != x.width {
                        return invalid(format!(
                            "node {i}: weight {} has rows of {k} but its input is {} wide",
                            spec.weights[w].name, x.width
                        ));
                    }
                    (rows, x.selected)
                }
                Op::RmsNorm(x, _, group) => {
                    let x = src(x);
                    if group != 0 && x.width % group as usize != 0 {
                        return invalid(format!(
                            "node {i}: rms-norm group {group} does not divide width {}",
                            x.width
                        ));
                    }
                    (x.width, x.selected)
                }
                Op::LayerNorm(x, _) | Op::Scale(x, _) | Op::Gelu(x) | Op::GeluErf(x) => {
                    (src(x).width, src(x).selected)
                }
                Op::EmbedPositions(w) => {
                    let (k, rows) = matrix(i, w)?;
                    position_space = position_space.min(rows.min(i32::MAX as usize) as u32);
                    (k, false)
                }
                Op::Pool(x, _) => {
                    let x = src(x);
                    if x.selected {
                        return invalid(format!("node {i}: pooling needs all of the batch's rows"));
                    }
                    (x.width, true)
                }
                Op::Softcap(x, cap) => {
                    if cap.is_nan() || cap <= 0.0 {
                        return invalid(format!("node {i}: softcap {cap} must be positive"));
                    }
                    (src(x).width, src(x).selected)
                }
                Op::MulWeight(x, w) | Op::AddWeight(x, w) => {
                    let x = src(x);
                    let len = vector(i, w)?;
                    if x.width % len != 0 {
                        return invalid(format!(
                            "node {i}: weight {} ({len} values) does not broadcast over width {}",
                            spec.weights[w].name, x.width
                        ));
                    }
                    (x.width, x.selected)
                }
                Op::Add(a, b) | Op::Mul(a, b) | Op::SwiGlu(a, b) | Op::GeGlu(a, b) => {
                    let (a, b) = (src(a), src(b));
                    same(a, b)?;
                    (a.width, a.selected)
                }
                Op::Rope(r) => {
                    let x = src(r.x);
                    let hd = r.head_dim as usize;
                    if hd == 0 || x.width % hd != 0 || r.n_rot > r.head_dim || r.n_rot % 2 != 0 {
                        return invalid(format!(
                            "node {i}: rope with head_dim {} and n_rot {} does not fit width {}",
                            r.head_dim, r.n_rot, x.width
                        ));
                    }
                    if r.freq_base.is_nan() || r.freq_base <= 0.0 || !r.freq_scale.is_finite() {
                        return invalid(format!("node {i}: rope frequency base/scale out of range"));
                    }
                    if x.selected {
                        return invalid(format!("node {i}: rope needs the batch's positions, not logit rows"));
                    }
                    max_rot = max_rot.max(r.n_rot as usize);
                    (x.width, false)
                }
                Op::Attention(a) | Op::EncoderAttention(a) => {
                    let (q, k, v) = (src(a.q), src(a.k), src(a.v));
                    let layer = a.layer as usize;
                    let Some(&kv_width) = spec.kv.widths.get(layer) else {
                        return invalid(format!(
                            "node {i}: attention uses KV layer {layer}, but the cache has {}",
                            spec.kv.widths.len()
                        ));
                    };
                    let hd = a.head_dim as usize;
                    if hd == 0 || a.n_head == 0 || a.n_kv_head == 0 || a.n_head % a.n_kv_head != 0 {
                        return invalid(format!(
                            "node {i}: attention with {} heads over {} KV heads of {hd}",
                            a.n_head, a.n_kv_head
                        ));
                    }
                    let (qw, kw) = (a.n_head as usize * hd, a.n_kv_head as usize * hd);
                    if q.width != qw || k.width != kw || v.width != kw || kv_width as usize != kw {
                        return invalid(format!(
                            "node {i}: attention widths q {} k {} v {} cache {kv_width} do not match \
                             {} heads and {} KV heads of {hd}",
                            q.width, k.width, v.width, a.n_head, a.n_kv_head
                        ));
                    }
                    if q.selected || k.selected || v.selected {
                        return invalid(format!("node {i}: attention needs all of the batch's rows"));
                    }
                    if !a.scale.is_finite() || a.softcap.is_nan() || a.softcap < 0.0 {
                        return invalid(format!("node {i}: attention scale or softcap out of range"));
                    }
                    max_head_dim = max_head_dim.max(hd);
                    (qw, false)
                }
                Op::SelectRows(x) => {
                    let x = src(x);
                    if x.selected {
                        return invalid(format!("node {i} selects rows twice"));
                    }
                    (x.width, true)
                }
            };
            info.push(NodeInfo {
                width,
                selected,
                live: false,
                slot: usize::MAX,
            });
        }

        if let Some(h) = spec.hidden {
            if h >= n {
                return invalid(format!("the hidden output {h} is not one of the plan's {n} nodes"));
            }
        }
        // Liveness: what the outputs need, plus every attention node (it writes the cache).
        let liveness = |outputs: &[usize]| {
            let mut need = vec![false; n];
            for &o in outputs {
                need[o] = true;
            }
            for i in (0..n).rev() {
                if matches!(spec.nodes[i], Op::Attention(_) | Op::EncoderAttention(_)) {
                    need[i] = true;
                }
                if need[i] {
                    for j in srcs(&spec.nodes[i]) {
                        need[j] = true;
                    }
                }
            }
            need
        };
        let outputs: Vec<usize> = std::iter::once(spec.logits).chain(spec.hidden).collect();
        let need = liveness(&outputs);
        let for_hidden = match spec.hidden {
            Some(h) => liveness(&[h]),
            None => need.clone(),
        };
        // Buffers: a node takes a free slot before its inputs' slots are released, so an
        // output never aliases an input; a slot is freed after its node's last reader.
        let mut last_use = vec![0usize; n];
        for i in (0..n).filter(|&i| need[i]) {
            last_use[i] = i;
            for j in srcs(&spec.nodes[i]) {
                last_use[j] = i;
            }
        }
        // The outputs are read after the pass: their buffers are never reused within it.
        for &o in &outputs {
            last_use[o] = usize::MAX;
        }
        let mut free: Vec<usize> = Vec::new();
        let mut slot_len: Vec<usize> = Vec::new();
        for i in 0..n {
            if !need[i] {
                continue;
            }
            let len = max_rows * info[i].width;
            // Best fit among free slots: the smallest one that is large enough, else the largest.
            let pick = free
                .iter()
                .enumerate()
                .filter(|(_, &s)| slot_len[s] >= len)
                .min_by_key(|(_, &s)| slot_len[s])
                .or_else(|| free.iter().enumerate().max_by_key(|(_, &s)| slot_len[s]))
                .map(|(at, _)| at);
            let slot = match pick {
                Some(at) => free.swap_remove(at),
                None => {
                    slot_len.push(0);
                    slot_len.len() - 1
                }
            };
            slot_len[slot] = slot_len[slot].max(len);
            info[i].slot = slot;
            info[i].live = true;
            let (s, m) = sources(&spec.nodes[i]);
            for (t, &j) in s[..m].iter().enumerate() {
                if last_use[j] == i && !s[..t].contains(&j) {
                    free.push(info[j].slot);
                }
            }
            if last_use[i] == i {
                free.push(slot);
            }
        }

        let vocab = info[spec.logits].width;
        if vocab > u32::MAX as usize {
            return invalid("the logits are too wide");
        }
        let cells = spec.kv.cells as usize;
        let kv_bytes = spec.kv.widths.iter().try_fold(0usize, |acc, &w| {
            cells
                .checked_mul(w as usize)
                .and_then(|c| c.checked_mul(4))
                .and_then(|c| acc.checked_add(c))
        });
        if kv_bytes.is_none_or(|b| b > isize::MAX as usize / 2) {
            return invalid(format!(
                "a KV cache of {cells} cells over {:?} is too large",
                spec.kv.widths
            ));
        }
        let mut matmul_scratch = 0usize;
        for (i, op) in spec.nodes.iter().enumerate() {
            if let (Op::Matmul(_, w), true) = (op, info[i].live) {
                let bytes = matmul::scratch_bytes(weights[*w].as_ref().expect("bound"), max_rows);
                matmul_scratch = matmul_scratch.max(bytes.div_ceil(8));
            }
        }
        let mut matmul_run = vec![1usize; n];
        for i in 0..n {
            let Op::Matmul(x, w) = spec.nodes[i] else { continue };
            if !info[i].live {
                continue;
            }
            let first = weights[w].as_ref().expect("bound");
            let mut j = i + 1;
            while j < n && j - i < matmul::MAX_GROUP && info[j].live {
                match spec.nodes[j] {
                    Op::Matmul(x2, w2) if x2 == x && matmul::groupable(first, weights[w2].as_ref().expect("bound")) => j += 1,
                    _ => break,
                }
            }
            matmul_run[i] = j - i;
        }
        let threads = pool.threads();
        Ok(CpuPlan {
            matmul_run,
            weights,
            vectors,
            nodes: info,
            for_hidden,
            slots: slot_len.iter().map(|&l| vec![0f32; l]).collect(),
            kv: spec
                .kv
                .widths
                .iter()
                .map(|&w| KvLayer::new(cells, w as usize))
                .collect(),
            vocab: vocab as u32,
            token_space,
            position_space,
            matmul_scratch: vec![0u64; matmul_scratch],
            rope_cache: PerThread::new(threads, || vec![0f32; max_rot]),
            attention_scratch: PerThread::new(threads, || attention::Scratch::new(cells, max_head_dim)),
            topk_scratch: PerThread::new(threads, || (vec![0f32; vocab], Vec::new())),
            pool,
            spec,
            backing: file,
        })
    }

    /// Whether every weight is read from the huge-page copy now (false before the first
    /// `run`, which starts the copy, while it is being made, and always when none is made).
    pub fn weights_copied(&self) -> bool {
        self.backing.copied()
    }

    /// Width of the logits node.
    pub fn vocab(&self) -> u32 {
        self.vocab
    }

    pub fn spec(&self) -> &PlanSpec {
        &self.spec
    }

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
    fn output(&self, id: usize) -> (NodeInfo, &[f32]) {
        let node = self.nodes[id];
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

    fn input(&self, j: usize, rows: usize) -> &[f32] {
        let node = self.nodes[j];
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
            ws[k] = self.weights[w].as_ref();
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
            let x = &self.slots[self.nodes[x].slot][..rows * self.nodes[x].width];
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
                gather_rows(pool, self.weights[w].as_ref().expect("bound at compile"), &ids, width, out);
            }
            Op::Matmul(x, w) => {
                let wt = self.weights[w].as_ref().expect("bound at compile");
                let x = &self.slots[self.nodes[x].slot][..rows * self.nodes[x].width];
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
                    self.vectors[w].as_deref().expect("bound at compile"),
                );
                par_rows(pool, rows, width, out, &|r, o| {
                    ops::broadcast(&x[r.start * width..r.end * width], w, o, |a, b| a * b)
                });
            }
            Op::AddWeight(x, w) => {
                let (x, w) = (
                    self.input(x, rows),
                    self.vectors[w].as_deref().expect("bound at compile"),
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
                gather_rows(pool, self.weights[w].as_ref().expect("bound at compile"), &ids, width, out);
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
                let node = |j: usize| &self.slots[self.nodes[j].slot][..rows * self.nodes[j].width];
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
