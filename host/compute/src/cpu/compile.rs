//! Compiling a plan: every weight bound and every node's width checked once, against the
//! mapped file; liveness, activation buffers shared between nodes whose lifetimes do not
//! overlap, the KV cache and per-thread scratch sized for `max_rows`. After this a batch can
//! only fail `Batch::validate`, never a kernel.

use std::sync::Arc;

use wollama_plan::{NodeId, Op, PlanSpec, Weight as WeightDesc};

use super::attention::{self, KvLayer};
use super::backing::Backing;
use super::pool::{PerThread, Pool};
use super::weights::{self, Use, Weight};
use super::{invalid, matmul, ComputeError, CpuPlan, NodeInfo};

/// The nodes an op reads, as indices.
fn srcs(op: &Op) -> impl Iterator<Item = usize> {
    op.inputs().map(|j| j as usize)
}

impl CpuPlan {
    pub(super) fn compile(pool: Arc<Pool>, file: Arc<Backing>, spec: PlanSpec) -> Result<CpuPlan, ComputeError> {
        let n = spec.nodes.len();
        if n == 0 || spec.logits as usize >= n {
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
        // Node i's weight w, which the plan must list.
        let desc = |i: usize, w: u32| -> Result<&WeightDesc, ComputeError> {
            spec.weights.get(w as usize).ok_or_else(|| {
                ComputeError::Invalid(format!("node {i} uses weight {w}, but the plan lists {}", spec.weights.len()))
            })
        };
        let mut matrix = |i: usize, w: u32| -> Result<(usize, usize), ComputeError> {
            let d = desc(i, w)?;
            let w = w as usize;
            if weights[w].is_none() {
                weights[w] = Some(Weight::bind(&file, d, Use::Matrix)?);
            }
            Ok(weights[w].as_ref().expect("bound").dims())
        };
        let mut vector = |i: usize, w: u32| -> Result<usize, ComputeError> {
            let d = desc(i, w)?;
            let w = w as usize;
            if vectors[w].is_none() {
                vectors[w] = Some(Weight::bind(&file, d, Use::Vector)?.to_f32_vec());
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
            let src = |j: NodeId| info[j as usize];
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
                            spec.weights[w as usize].name, x.width
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
                            spec.weights[w as usize].name, x.width
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
            if h as usize >= n {
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
        let outputs: Vec<usize> = std::iter::once(spec.logits).chain(spec.hidden).map(|o| o as usize).collect();
        let need = liveness(&outputs);
        let for_hidden = match spec.hidden {
            Some(h) => liveness(&[h as usize]),
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
            let s: Vec<usize> = srcs(&spec.nodes[i]).collect();
            for (t, &j) in s.iter().enumerate() {
                if last_use[j] == i && !s[..t].contains(&j) {
                    free.push(info[j].slot);
                }
            }
            if last_use[i] == i {
                free.push(slot);
            }
        }

        let vocab = info[spec.logits as usize].width;
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
                let bytes = matmul::scratch_bytes(weights[*w as usize].as_ref().expect("bound"), max_rows);
                matmul_scratch = matmul_scratch.max(bytes.div_ceil(8));
            }
        }
        let mut matmul_run = vec![1usize; n];
        for i in 0..n {
            let Op::Matmul(x, w) = spec.nodes[i] else { continue };
            if !info[i].live {
                continue;
            }
            let first = weights[w as usize].as_ref().expect("bound");
            let mut j = i + 1;
            while j < n && j - i < matmul::MAX_GROUP && info[j].live {
                match spec.nodes[j] {
                    Op::Matmul(x2, w2) if x2 == x && matmul::groupable(first, weights[w2 as usize].as_ref().expect("bound")) => j += 1,
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
}
