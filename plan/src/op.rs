//! The ops a plan's nodes are made of. Every activation is a row-major [rows, width] f32
//! matrix whose `rows` is the batch's token count, or its logit-row count after `SelectRows`
//! or `Pool`.

/// Index of a node in a plan's node list; a node only reads earlier nodes. u32 as in the WIT.
pub type NodeId = u32;
/// Index into a plan's weight list. u32 as in the WIT.
pub type WeightIdx = u32;

/// Rotary position embedding applied per head to a [rows, heads * head_dim] activation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    pub x: NodeId,
    pub head_dim: u32,
    /// Leading dimensions of each head that rotate (the rest pass through).
    pub n_rot: u32,
    pub freq_base: f32,
    pub freq_scale: f32,
    /// NeoX layout rotates (i, i + n_rot/2); the normal layout rotates (2i, 2i+1).
    pub neox: bool,
}

/// Attention over the KV cache: this step's K and V are written into the cells the batch
/// names, then every row attends to the cells the batch's cell table makes visible to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attention {
    pub q: NodeId,
    pub k: NodeId,
    pub v: NodeId,
    /// Which KV layer of the plan's cache this reads and writes.
    pub layer: u32,
    pub n_head: u32,
    pub n_kv_head: u32,
    pub head_dim: u32,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// tanh soft-capping of scores; 0 = off.
    pub softcap: f32,
    /// Sliding window in positions; 0 = unlimited.
    pub window: u32,
}

/// How `Op::Pool` reduces the rows of one sequence to one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The average of the sequence's rows.
    Mean,
    /// The sequence's first row in the batch (position 0 when the sequence is whole, e.g.
    /// BERT's [CLS]).
    Cls,
    /// The sequence's last row in the batch.
    Last,
}

/// One node of the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// Rows of an embedding weight [n, vocab] for the batch's token ids -> [rows, n].
    Embed(WeightIdx),
    /// x · Wᵀ for a weight of ggml shape [k, n]: [rows, k] -> [rows, n].
    Matmul(NodeId, WeightIdx),
    /// RMS-normalise each group of `group` values (0 = the whole row): x / sqrt(mean(x²) + eps).
    RmsNorm(NodeId, f32, u32),
    /// (x - mean) / sqrt(var + eps) per row.
    LayerNorm(NodeId, f32),
    /// x * w; w is a vector broadcast over rows, and over groups when shorter than the row.
    MulWeight(NodeId, WeightIdx),
    /// x + w; w is a vector broadcast over rows.
    AddWeight(NodeId, WeightIdx),
    Add(NodeId, NodeId),
    Mul(NodeId, NodeId),
    Scale(NodeId, f32),
    /// silu(a) * b.
    SwiGlu(NodeId, NodeId),
    /// gelu(a) * b (tanh approximation).
    GeGlu(NodeId, NodeId),
    /// gelu, tanh approximation.
    Gelu(NodeId),
    Rope(Rope),
    /// Causal: a row sees the cells of its sequence at positions <= its own (inside the
    /// window when there is one).
    Attention(Attention),
    /// Keep only the batch's `logit_rows`, in order.
    SelectRows(NodeId),
    /// cap * tanh(x / cap).
    Softcap(NodeId, f32),
    /// Rows of an embedding weight for the batch's positions (absolute position embeddings).
    EmbedPositions(WeightIdx),
    /// Attention without the causal mask: a row sees every cell of its sequence (encoders).
    /// The batch must carry each sequence whole.
    EncoderAttention(Attention),
    /// gelu with the exact erf form, 0.5·x·(1 + erf(x/√2)) (BERT).
    GeluErf(NodeId),
    /// One row per logit row: the batch rows of that row's sequence, pooled.
    Pool(NodeId, Pooling),
}

impl Op {
    /// The nodes this op reads, in operand order (a node read twice appears twice). Executors
    /// use it for ordering checks and liveness, so it lives beside the op set it must match.
    pub fn inputs(&self) -> impl Iterator<Item = NodeId> {
        let (ids, n) = match *self {
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
        };
        ids.into_iter().take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_follow_operand_order() {
        let att = Attention { q: 4, k: 5, v: 6, layer: 0, n_head: 1, n_kv_head: 1, head_dim: 2, scale: 1.0, softcap: 0.0, window: 0 };
        let cases: [(Op, &[NodeId]); 5] = [
            (Op::Embed(0), &[]),
            (Op::Matmul(3, 9), &[3]),
            (Op::SwiGlu(1, 2), &[1, 2]),
            (Op::Mul(7, 7), &[7, 7]),
            (Op::EncoderAttention(att), &[4, 5, 6]),
        ];
        for (op, want) in cases {
            assert_eq!(op.inputs().collect::<Vec<_>>(), want, "{op:?}");
        }
    }
}
