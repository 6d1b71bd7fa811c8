//! Records a model's forward graph as a `wollama_plan::PlanSpec`: the model builders
//! (`model/*.rs`) push ops and name weights here; `component.rs` hands the spec to the host.

use wollama_plan::{KvSpec, NodeId, Op, PlanSpec, Weight, WeightIdx};

/// Records nodes and weights; weights are deduplicated by name so tied embeddings bind once.
#[derive(Default)]
pub struct GraphBuilder {
    weights: Vec<Weight>,
    nodes: Vec<Op>,
    kv_widths: Vec<u32>,
}

impl GraphBuilder {
    pub fn weight(&mut self, w: Weight) -> WeightIdx {
        if let Some(i) = self.weights.iter().position(|x| x.name == w.name) {
            return i as WeightIdx;
        }
        self.weights.push(w);
        (self.weights.len() - 1) as WeightIdx
    }

    pub fn push(&mut self, op: Op) -> NodeId {
        self.nodes.push(op);
        (self.nodes.len() - 1) as NodeId
    }

    /// Declares the next KV layer and returns its index.
    pub fn kv_layer(&mut self, width: u32) -> u32 {
        self.kv_widths.push(width);
        (self.kv_widths.len() - 1) as u32
    }

    /// The spec with `logits` as its output. The cache's cell count and the batch size are
    /// the engine's choice, not the model's: they stay 0 until the engine sets them.
    pub fn finish(self, logits: NodeId) -> PlanSpec {
        PlanSpec {
            weights: self.weights,
            nodes: self.nodes,
            logits,
            hidden: None,
            kv: KvSpec { cells: 0, widths: self.kv_widths },
            max_rows: 0,
        }
    }
}
