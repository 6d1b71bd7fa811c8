//! A whole plan as the guest describes it and the host compiles it once.

use crate::op::{NodeId, Op};

/// A weight tensor inside the model file. The guest names weights by offset so that their
/// bytes never enter guest memory; the host maps them.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub name: String,
    /// The GGUF/ggml type id (see [`crate::GgmlType`]); a raw id so that a type one side does
    /// not know still reaches the executor, which names it in its error.
    pub ggml_type: u32,
    /// ggml order: shape[0] is the contiguous row length.
    pub shape: Vec<u64>,
    /// Absolute byte offset in the file.
    pub offset: u64,
}

/// The KV cache a plan's attention nodes read and write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KvSpec {
    /// Cells per layer; a cell holds one token's K and V.
    pub cells: u32,
    /// Per layer: n_kv_head * head_dim (the K width, equal to the V width).
    pub widths: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    pub weights: Vec<Weight>,
    pub nodes: Vec<Op>,
    /// The node whose rows are logits (after `SelectRows`), or pooled vectors for an
    /// embedding plan.
    pub logits: NodeId,
    /// A second output with the logit rows' count, read back whole for a batch's
    /// `hidden_rows`: a decoder's final hidden state (after the output norm, what the LM head
    /// reads), the embedding of a sequence up to that token. None = only logits.
    pub hidden: Option<NodeId>,
    pub kv: KvSpec,
    /// Most tokens one batch may carry.
    pub max_rows: u32,
}

impl PlanSpec {
    /// An embedding plan's output is pooled vectors, read back whole, not logits to sample.
    pub fn is_embedding(&self) -> bool {
        matches!(self.nodes.get(self.logits as usize), Some(Op::Pool(..)))
    }
}
