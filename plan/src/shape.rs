//! What every executor works out once per plan before it allocates anything: each node's
//! width and whether its rows are logit rows (`infer`), which nodes must run, and which
//! activation buffer each one writes, shared between nodes whose lifetimes do not overlap
//! (`allocate`). One definition, so that the CPU and GPU executors accept and reject the same
//! plans with the same words.

use crate::op::{NodeId, Op, WeightIdx};
use crate::spec::PlanSpec;

/// Per node, fixed at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeShape {
    pub width: usize,
    /// Its rows are the batch's logit rows (it comes after SelectRows or Pool), not its tokens.
    pub selected: bool,
}

/// A plan's node shapes and the bounds its weights put on a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Shapes {
    pub nodes: Vec<NodeShape>,
    /// Token ids must be below this (the smallest embedding matrix's row count).
    pub token_space: u32,
    /// Positions must be below this when the plan embeds positions (u32::MAX otherwise).
    pub position_space: u32,
    /// The widest rope rotation and attention head, for scratch sizing.
    pub max_rot: usize,
    pub max_head_dim: usize,
}

/// Which nodes run and where they write.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Per node: needed for an output or a KV-cache write.
    pub live: Vec<bool>,
    /// Per node: needed for the hidden output or a KV-cache write. A batch whose logit rows
    /// all want the hidden state runs only these (it skips the LM head).
    pub for_hidden: Vec<bool>,
    /// Per live node: its activation buffer (usize::MAX for a dead node).
    pub slot: Vec<usize>,
    /// Per buffer: its length in f32 values, for `max_rows` rows (`selected_rows` for a node
    /// whose rows are logit rows).
    pub slot_len: Vec<usize>,
}

/// The nodes an op reads, as indices.
fn srcs(op: &Op) -> impl Iterator<Item = usize> {
    op.inputs().map(|j| j as usize)
}

/// Infers and checks every node's width. `matrix(node, w)` binds a matrix weight and returns
/// its (row length, rows); `vector(node, w)` a vector weight's length; either may fail with
/// the executor's own error (an unsupported type, say). `invalid` makes the executor's error
/// for a malformed plan.
pub fn infer<E>(
    spec: &PlanSpec,
    mut matrix: impl FnMut(usize, WeightIdx) -> Result<(usize, usize), E>,
    mut vector: impl FnMut(usize, WeightIdx) -> Result<usize, E>,
    invalid: impl Fn(String) -> E,
) -> Result<Shapes, E> {
    let n = spec.nodes.len();
    if n == 0 || spec.logits as usize >= n {
        return Err(invalid(format!("the logits node {} is not one of the plan's {n} nodes", spec.logits)));
    }
    if spec.max_rows == 0 || spec.max_rows > 1 << 20 {
        return Err(invalid(format!("max_rows {} is out of range", spec.max_rows)));
    }
    if let Some(h) = spec.hidden {
        if h as usize >= n {
            return Err(invalid(format!("the hidden output {h} is not one of the plan's {n} nodes")));
        }
    }
    let mut info: Vec<NodeShape> = Vec::with_capacity(n);
    let mut token_space = u32::MAX;
    let mut position_space = u32::MAX;
    let (mut max_rot, mut max_head_dim) = (0usize, 0usize);
    for (i, op) in spec.nodes.iter().enumerate() {
        for j in srcs(op) {
            if j >= i {
                return Err(invalid(format!("node {i} ({op:?}) reads node {j}, which is not an earlier node")));
            }
        }
        let src = |j: NodeId| info[j as usize];
        let same = |a: NodeShape, b: NodeShape| -> Result<(), E> {
            if a.width != b.width || a.selected != b.selected {
                return Err(invalid(format!(
                    "node {i} ({op:?}) combines a [{}{}] and a [{}{}] activation",
                    if a.selected { "logit rows, " } else { "rows, " },
                    a.width,
                    if b.selected { "logit rows, " } else { "rows, " },
                    b.width
                )));
            }
            Ok(())
        };
        let name = |w: WeightIdx| spec.weights.get(w as usize).map(|w| w.name.as_str()).unwrap_or("?");
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
                    return Err(invalid(format!(
                        "node {i}: weight {} has rows of {k} but its input is {} wide",
                        name(w),
                        x.width
                    )));
                }
                (rows, x.selected)
            }
            Op::RmsNorm(x, _, group) => {
                let x = src(x);
                if group != 0 && x.width % group as usize != 0 {
                    return Err(invalid(format!("node {i}: rms-norm group {group} does not divide width {}", x.width)));
                }
                (x.width, x.selected)
            }
            Op::LayerNorm(x, _) | Op::Scale(x, _) | Op::Gelu(x) | Op::GeluErf(x) => (src(x).width, src(x).selected),
            Op::EmbedPositions(w) => {
                let (k, rows) = matrix(i, w)?;
                position_space = position_space.min(rows.min(i32::MAX as usize) as u32);
                (k, false)
            }
            Op::Pool(x, _) => {
                let x = src(x);
                if x.selected {
                    return Err(invalid(format!("node {i}: pooling needs all of the batch's rows")));
                }
                (x.width, true)
            }
            Op::Softcap(x, cap) => {
                if cap.is_nan() || cap <= 0.0 {
                    return Err(invalid(format!("node {i}: softcap {cap} must be positive")));
                }
                (src(x).width, src(x).selected)
            }
            Op::MulWeight(x, w) | Op::AddWeight(x, w) => {
                let x = src(x);
                let len = vector(i, w)?;
                if len == 0 || x.width % len != 0 {
                    return Err(invalid(format!(
                        "node {i}: weight {} ({len} values) does not broadcast over width {}",
                        name(w),
                        x.width
                    )));
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
                    return Err(invalid(format!(
                        "node {i}: rope with head_dim {} and n_rot {} does not fit width {}",
                        r.head_dim, r.n_rot, x.width
                    )));
                }
                if r.freq_base.is_nan() || r.freq_base <= 0.0 || !r.freq_scale.is_finite() {
                    return Err(invalid(format!("node {i}: rope frequency base/scale out of range")));
                }
                if x.selected {
                    return Err(invalid(format!("node {i}: rope needs the batch's positions, not logit rows")));
                }
                max_rot = max_rot.max(r.n_rot as usize);
                (x.width, false)
            }
            Op::Attention(a) | Op::EncoderAttention(a) => {
                let (q, k, v) = (src(a.q), src(a.k), src(a.v));
                let layer = a.layer as usize;
                let Some(&kv_width) = spec.kv.widths.get(layer) else {
                    return Err(invalid(format!(
                        "node {i}: attention uses KV layer {layer}, but the cache has {}",
                        spec.kv.widths.len()
                    )));
                };
                let hd = a.head_dim as usize;
                if hd == 0 || a.n_head == 0 || a.n_kv_head == 0 || a.n_head % a.n_kv_head != 0 {
                    return Err(invalid(format!(
                        "node {i}: attention with {} heads over {} KV heads of {hd}",
                        a.n_head, a.n_kv_head
                    )));
                }
                let (qw, kw) = (a.n_head as usize * hd, a.n_kv_head as usize * hd);
                if q.width != qw || k.width != kw || v.width != kw || kv_width as usize != kw {
                    return Err(invalid(format!(
                        "node {i}: attention widths q {} k {} v {} cache {kv_width} do not match \
                         {} heads and {} KV heads of {hd}",
                        q.width, k.width, v.width, a.n_head, a.n_kv_head
                    )));
                }
                if q.selected || k.selected || v.selected {
                    return Err(invalid(format!("node {i}: attention needs all of the batch's rows")));
                }
                if !a.scale.is_finite() || a.softcap.is_nan() || a.softcap < 0.0 {
                    return Err(invalid(format!("node {i}: attention scale or softcap out of range")));
                }
                max_head_dim = max_head_dim.max(hd);
                (qw, false)
            }
            Op::SelectRows(x) => {
                let x = src(x);
                if x.selected {
                    return Err(invalid(format!("node {i} selects rows twice")));
                }
                (x.width, true)
            }
        };
        info.push(NodeShape { width, selected });
    }
    if info[spec.logits as usize].width > u32::MAX as usize {
        return Err(invalid("the logits are too wide".into()));
    }
    Ok(Shapes { nodes: info, token_space, position_space, max_rot, max_head_dim })
}

/// Which nodes run (what the outputs need, plus every attention node, which writes the cache)
/// and a buffer for each: a node takes a free buffer before its inputs' buffers are released,
/// so an output never aliases an input; a buffer is freed after its node's last reader; the
/// outputs' buffers are never reused within the pass (they are read after it). A node whose
/// rows are logit rows gets room for `selected_rows` of them (an executor that bounds a
/// batch's logit rows below `max_rows` saves an LM head's worth of memory).
pub fn allocate(spec: &PlanSpec, shapes: &Shapes, selected_rows: usize) -> Allocation {
    let n = spec.nodes.len();
    let max_rows = spec.max_rows as usize;
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
    let live = liveness(&outputs);
    let for_hidden = match spec.hidden {
        Some(h) => liveness(&[h as usize]),
        None => live.clone(),
    };
    let mut last_use = vec![0usize; n];
    for i in (0..n).filter(|&i| live[i]) {
        last_use[i] = i;
        for j in srcs(&spec.nodes[i]) {
            last_use[j] = i;
        }
    }
    for &o in &outputs {
        last_use[o] = usize::MAX;
    }
    let mut slot = vec![usize::MAX; n];
    let mut free: Vec<usize> = Vec::new();
    let mut slot_len: Vec<usize> = Vec::new();
    for i in (0..n).filter(|&i| live[i]) {
        let rows = if shapes.nodes[i].selected { selected_rows.min(max_rows) } else { max_rows };
        let len = rows * shapes.nodes[i].width;
        // Best fit among free buffers: the smallest one that is large enough, else the largest.
        let pick = free
            .iter()
            .enumerate()
            .filter(|(_, &s)| slot_len[s] >= len)
            .min_by_key(|(_, &s)| slot_len[s])
            .or_else(|| free.iter().enumerate().max_by_key(|(_, &s)| slot_len[s]))
            .map(|(at, _)| at);
        let s = match pick {
            Some(at) => free.swap_remove(at),
            None => {
                slot_len.push(0);
                slot_len.len() - 1
            }
        };
        slot_len[s] = slot_len[s].max(len);
        slot[i] = s;
        let ins: Vec<usize> = srcs(&spec.nodes[i]).collect();
        for (t, &j) in ins.iter().enumerate() {
            if last_use[j] == i && !ins[..t].contains(&j) {
                free.push(slot[j]);
            }
        }
        if last_use[i] == i {
            free.push(s);
        }
    }
    Allocation { live, for_hidden, slot, slot_len }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KvSpec, Weight};

    fn spec(nodes: Vec<Op>, logits: u32) -> PlanSpec {
        let w = |name: &str| Weight { name: name.into(), ggml_type: 0, shape: vec![4, 10], offset: 0 };
        PlanSpec {
            weights: vec![w("emb"), w("out")],
            nodes,
            logits,
            hidden: None,
            kv: KvSpec { cells: 4, widths: vec![] },
            max_rows: 2,
        }
    }

    fn shapes(s: &PlanSpec) -> Result<Shapes, String> {
        infer(s, |_, _| Ok((4, 10)), |_, _| Ok(4), |m| m)
    }

    #[test]
    fn widths_follow_the_ops() {
        let s = spec(vec![Op::Embed(0), Op::RmsNorm(0, 1e-6, 0), Op::SelectRows(1), Op::Matmul(2, 1)], 3);
        let got = shapes(&s).expect("valid");
        let w: Vec<(usize, bool)> = got.nodes.iter().map(|n| (n.width, n.selected)).collect();
        assert_eq!(w, [(4, false), (4, false), (4, true), (10, true)]);
        assert_eq!(got.token_space, 10);
    }

    #[test]
    fn malformed_plans_say_what_is_wrong() {
        let bad = spec(vec![Op::Embed(0), Op::Add(0, 2)], 1);
        assert!(shapes(&bad).unwrap_err().contains("not an earlier node"));
        let bad = spec(vec![Op::Embed(0), Op::SelectRows(0), Op::Add(0, 1)], 2);
        assert!(shapes(&bad).unwrap_err().contains("combines a [rows, 4] and a [logit rows, 4]"));
        let bad = spec(vec![Op::Embed(0)], 3);
        assert!(shapes(&bad).unwrap_err().contains("not one of the plan's 1 nodes"));
    }

    #[test]
    fn dead_nodes_get_no_buffer_and_buffers_are_reused() {
        // Node 1 is dead; node 3 can reuse node 0's buffer once node 2 has read it.
        let s = spec(
            vec![Op::Embed(0), Op::Scale(0, 2.0), Op::Scale(0, 3.0), Op::Scale(2, 4.0), Op::Scale(3, 5.0)],
            4,
        );
        let a = allocate(&s, &shapes(&s).expect("valid"), 2);
        assert_eq!(a.live, [true, false, true, true, true]);
        assert_eq!(a.slot[1], usize::MAX);
        assert_ne!(a.slot[2], a.slot[0], "an output never aliases its input");
        assert_eq!(a.slot[3], a.slot[0], "node 0's buffer is free after node 2");
        assert!(a.slot_len.iter().all(|&l| l == 8));
    }
}
