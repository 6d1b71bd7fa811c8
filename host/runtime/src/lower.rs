//! Conversions between the WIT `compute` records (and the runtime's `batch`/`candidates`)
//! and the plan crate's types, both ways: WIT -> plan is what the host compiles and runs,
//! plan -> WIT is what the guest sends. The conversions themselves are the plan crate's one
//! table (`wollama_plan::wit_conversions!`), which the guest invokes too; the round trips are
//! checked here, on the side that has both directions' callers.

use crate::bindings::exports::wollama::engine::runtime;
use crate::bindings::wollama::engine::compute;

wollama_plan::wit_conversions!(compute, runtime);

#[cfg(test)]
mod tests {
    use super::runtime::{Batch, Candidates};
    use super::compute as wit;
    use wollama_plan as plan;
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
