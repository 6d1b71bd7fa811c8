//! Conversions between the WIT `compute` records (and the runtime's `batch`/`candidates`)
//! and the plan crate's types, both ways: WIT -> plan is what the host compiles and runs,
//! plan -> WIT is what the guest sends, so that a round trip can be checked here.

use wollama_plan as plan;

use crate::bindings::exports::wollama::engine::runtime::{Batch, Candidates};
use crate::bindings::wollama::engine::compute::{self as wit, Op};

impl From<wit::Weight> for plan::Weight {
    fn from(w: wit::Weight) -> Self {
        plan::Weight { name: w.name, ggml_type: w.ggml_type, shape: w.shape, offset: w.offset }
    }
}

impl From<plan::Weight> for wit::Weight {
    fn from(w: plan::Weight) -> Self {
        wit::Weight { name: w.name, ggml_type: w.ggml_type, shape: w.shape, offset: w.offset }
    }
}

impl From<wit::Rope> for plan::Rope {
    fn from(r: wit::Rope) -> Self {
        plan::Rope { x: r.x, head_dim: r.head_dim, n_rot: r.n_rot, freq_base: r.freq_base, freq_scale: r.freq_scale, neox: r.neox }
    }
}

impl From<plan::Rope> for wit::Rope {
    fn from(r: plan::Rope) -> Self {
        wit::Rope { x: r.x, head_dim: r.head_dim, n_rot: r.n_rot, freq_base: r.freq_base, freq_scale: r.freq_scale, neox: r.neox }
    }
}

impl From<wit::Attention> for plan::Attention {
    fn from(a: wit::Attention) -> Self {
        let wit::Attention { q, k, v, layer, n_head, n_kv_head, head_dim, scale, softcap, window } = a;
        plan::Attention { q, k, v, layer, n_head, n_kv_head, head_dim, scale, softcap, window }
    }
}

impl From<plan::Attention> for wit::Attention {
    fn from(a: plan::Attention) -> Self {
        let plan::Attention { q, k, v, layer, n_head, n_kv_head, head_dim, scale, softcap, window } = a;
        wit::Attention { q, k, v, layer, n_head, n_kv_head, head_dim, scale, softcap, window }
    }
}

impl From<wit::Pooling> for plan::Pooling {
    fn from(p: wit::Pooling) -> Self {
        match p {
            wit::Pooling::Mean => plan::Pooling::Mean,
            wit::Pooling::Cls => plan::Pooling::Cls,
            wit::Pooling::Last => plan::Pooling::Last,
        }
    }
}

impl From<plan::Pooling> for wit::Pooling {
    fn from(p: plan::Pooling) -> Self {
        match p {
            plan::Pooling::Mean => wit::Pooling::Mean,
            plan::Pooling::Cls => wit::Pooling::Cls,
            plan::Pooling::Last => wit::Pooling::Last,
        }
    }
}

impl From<Op> for plan::Op {
    fn from(op: Op) -> Self {
        use plan::Op as P;
        match op {
            Op::Embed(w) => P::Embed(w),
            Op::Matmul((x, w)) => P::Matmul(x, w),
            Op::RmsNorm((x, eps, g)) => P::RmsNorm(x, eps, g),
            Op::LayerNorm((x, eps)) => P::LayerNorm(x, eps),
            Op::MulWeight((x, w)) => P::MulWeight(x, w),
            Op::AddWeight((x, w)) => P::AddWeight(x, w),
            Op::Add((a, b)) => P::Add(a, b),
            Op::Mul((a, b)) => P::Mul(a, b),
            Op::Scale((x, f)) => P::Scale(x, f),
            Op::Swiglu((a, b)) => P::SwiGlu(a, b),
            Op::Geglu((a, b)) => P::GeGlu(a, b),
            Op::Gelu(x) => P::Gelu(x),
            Op::Rope(r) => P::Rope(r.into()),
            Op::Attention(a) => P::Attention(a.into()),
            Op::SelectRows(x) => P::SelectRows(x),
            Op::Softcap((x, c)) => P::Softcap(x, c),
            Op::EmbedPositions(w) => P::EmbedPositions(w),
            Op::EncoderAttention(a) => P::EncoderAttention(a.into()),
            Op::GeluErf(x) => P::GeluErf(x),
            Op::Pool((x, p)) => P::Pool(x, p.into()),
        }
    }
}

impl From<plan::Op> for Op {
    fn from(op: plan::Op) -> Self {
        use plan::Op as P;
        match op {
            P::Embed(w) => Op::Embed(w),
            P::Matmul(x, w) => Op::Matmul((x, w)),
            P::RmsNorm(x, eps, g) => Op::RmsNorm((x, eps, g)),
            P::LayerNorm(x, eps) => Op::LayerNorm((x, eps)),
            P::MulWeight(x, w) => Op::MulWeight((x, w)),
            P::AddWeight(x, w) => Op::AddWeight((x, w)),
            P::Add(a, b) => Op::Add((a, b)),
            P::Mul(a, b) => Op::Mul((a, b)),
            P::Scale(x, f) => Op::Scale((x, f)),
            P::SwiGlu(a, b) => Op::Swiglu((a, b)),
            P::GeGlu(a, b) => Op::Geglu((a, b)),
            P::Gelu(x) => Op::Gelu(x),
            P::Rope(r) => Op::Rope(r.into()),
            P::Attention(a) => Op::Attention(a.into()),
            P::SelectRows(x) => Op::SelectRows(x),
            P::Softcap(x, c) => Op::Softcap((x, c)),
            P::EmbedPositions(w) => Op::EmbedPositions(w),
            P::EncoderAttention(a) => Op::EncoderAttention(a.into()),
            P::GeluErf(x) => Op::GeluErf(x),
            P::Pool(x, p) => Op::Pool((x, p.into())),
        }
    }
}

impl From<wit::PlanSpec> for plan::PlanSpec {
    fn from(s: wit::PlanSpec) -> Self {
        plan::PlanSpec {
            weights: s.weights.into_iter().map(Into::into).collect(),
            nodes: s.nodes.into_iter().map(Into::into).collect(),
            logits: s.logits,
            hidden: s.hidden,
            kv: plan::KvSpec { cells: s.kv.cells, widths: s.kv.widths },
            max_rows: s.max_rows,
        }
    }
}

impl From<plan::PlanSpec> for wit::PlanSpec {
    fn from(s: plan::PlanSpec) -> Self {
        wit::PlanSpec {
            weights: s.weights.into_iter().map(Into::into).collect(),
            nodes: s.nodes.into_iter().map(Into::into).collect(),
            logits: s.logits,
            hidden: s.hidden,
            kv: wit::KvSpec { cells: s.kv.cells, widths: s.kv.widths },
            max_rows: s.max_rows,
        }
    }
}

/// A WIT batch is a plan batch plus the id of the plan it runs on.
impl From<Batch> for (u32, plan::Batch) {
    fn from(b: Batch) -> Self {
        let batch = plan::Batch {
            tokens: b.tokens,
            positions: b.positions,
            seqs: b.seqs,
            write_cells: b.write_cells,
            cell_pos: b.cell_pos,
            cell_seqs: b.cell_seqs,
            copies: b.copies,
            logit_rows: b.logit_rows,
            bias: b.bias,
            top_k: b.top_k,
            hidden_rows: b.hidden_rows,
        };
        (b.plan, batch)
    }
}

impl From<(u32, plan::Batch)> for Batch {
    fn from((plan, b): (u32, plan::Batch)) -> Self {
        Batch {
            plan,
            tokens: b.tokens,
            positions: b.positions,
            seqs: b.seqs,
            write_cells: b.write_cells,
            cell_pos: b.cell_pos,
            cell_seqs: b.cell_seqs,
            copies: b.copies,
            logit_rows: b.logit_rows,
            bias: b.bias,
            top_k: b.top_k,
            hidden_rows: b.hidden_rows,
        }
    }
}

impl From<plan::Candidates> for Candidates {
    fn from(c: plan::Candidates) -> Self {
        Candidates { ids: c.ids, logits: c.logits }
    }
}

impl From<Candidates> for plan::Candidates {
    fn from(c: Candidates) -> Self {
        plan::Candidates { ids: c.ids, logits: c.logits }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plan::{Attention, Op as P, Pooling, Rope};

    /// Which variant `op` is, so that a new op fails `every_op_variant_round_trips` until it
    /// is added there.
    fn variant(op: &P) -> usize {
        match op {
            P::Embed(_) => 0,
            P::Matmul(..) => 1,
            P::RmsNorm(..) => 2,
            P::LayerNorm(..) => 3,
            P::MulWeight(..) => 4,
            P::AddWeight(..) => 5,
            P::Add(..) => 6,
            P::Mul(..) => 7,
            P::Scale(..) => 8,
            P::SwiGlu(..) => 9,
            P::GeGlu(..) => 10,
            P::Gelu(_) => 11,
            P::Rope(_) => 12,
            P::Attention(_) => 13,
            P::SelectRows(_) => 14,
            P::Softcap(..) => 15,
            P::EmbedPositions(_) => 16,
            P::EncoderAttention(_) => 17,
            P::GeluErf(_) => 18,
            P::Pool(..) => 19,
        }
    }
    const VARIANTS: usize = 20;

    fn spec() -> plan::PlanSpec {
        let rope = Rope { x: 1, head_dim: 64, n_rot: 32, freq_base: 10000.0, freq_scale: 0.5, neox: true };
        let att = Attention { q: 2, k: 3, v: 4, layer: 1, n_head: 8, n_kv_head: 2, head_dim: 64, scale: 0.125, softcap: 50.0, window: 512 };
        let nodes = vec![
            P::Embed(0),
            P::Matmul(0, 1),
            P::RmsNorm(1, 1e-6, 64),
            P::LayerNorm(2, 1e-12),
            P::MulWeight(3, 2),
            P::AddWeight(4, 3),
            P::Add(4, 5),
            P::Mul(5, 6),
            P::Scale(7, 0.5),
            P::SwiGlu(7, 8),
            P::GeGlu(8, 9),
            P::Gelu(10),
            P::Rope(rope),
            P::Attention(att),
            P::EncoderAttention(Attention { window: 0, softcap: 0.0, ..att }),
            P::GeluErf(14),
            P::EmbedPositions(4),
            P::Pool(15, Pooling::Mean),
            P::Pool(15, Pooling::Cls),
            P::Pool(15, Pooling::Last),
            P::SelectRows(16),
            P::Softcap(20, 30.0),
        ];
        let weights = (0..5)
            .map(|i| plan::Weight { name: format!("w{i}"), ggml_type: i * 7, shape: vec![64, 32 + i as u64], offset: 4096 * i as u64 })
            .collect();
        plan::PlanSpec {
            weights,
            nodes,
            logits: 21,
            hidden: Some(11),
            kv: plan::KvSpec { cells: 256, widths: vec![128, 128] },
            max_rows: 32,
        }
    }

    #[test]
    fn every_op_variant_round_trips() {
        let spec = spec();
        let mut seen = [false; VARIANTS];
        for op in &spec.nodes {
            seen[variant(op)] = true;
        }
        assert!(seen.iter().all(|&s| s), "the spec lacks a variant: {seen:?}");
        let back = plan::PlanSpec::from(wit::PlanSpec::from(spec.clone()));
        assert_eq!(back, spec);
        let none = plan::PlanSpec { hidden: None, ..spec };
        assert_eq!(plan::PlanSpec::from(wit::PlanSpec::from(none.clone())), none);
    }

    #[test]
    fn a_batch_round_trips_with_its_plan_id() {
        let b = plan::Batch {
            tokens: vec![5, 6, 7],
            positions: vec![0, 1, 9],
            seqs: vec![0, 0, 3],
            write_cells: vec![10, 11, 12],
            cell_pos: vec![0, 1, -1, 9],
            cell_seqs: vec![1, 1, 0, 1 << 3],
            copies: vec![(1, 2), (4, 5)],
            logit_rows: vec![1, 2],
            bias: vec![vec![(3, 1.1, -0.5)], vec![(4, 1.0, f32::NEG_INFINITY)]],
            top_k: 40,
            hidden_rows: vec![1],
        };
        let back: (u32, plan::Batch) = Batch::from((7, b.clone())).into();
        assert_eq!(back, (7, b));
        let c = plan::Candidates { ids: vec![3, 1], logits: vec![2.5, -1.0] };
        assert_eq!(plan::Candidates::from(Candidates::from(c.clone())), c);
    }
}
