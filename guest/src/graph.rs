//! The forward graph a model builds, as plain Rust. `component.rs` lowers it to the WIT
//! `compute` records; native tests inspect it directly. Mirrors `wit/engine.wit`.

pub type NodeId = u32;
pub type WeightIdx = u32;

#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub name: String,
    pub ggml_type: u32,
    pub shape: Vec<u64>,
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    pub x: NodeId,
    pub head_dim: u32,
    pub n_rot: u32,
    pub freq_base: f32,
    pub freq_scale: f32,
    pub neox: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attention {
    pub q: NodeId,
    pub k: NodeId,
    pub v: NodeId,
    pub layer: u32,
    pub n_head: u32,
    pub n_kv_head: u32,
    pub head_dim: u32,
    pub scale: f32,
    pub softcap: f32,
    pub window: u32,
}

/// How `Op::Pool` reduces one sequence's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Embed(WeightIdx),
    Matmul(NodeId, WeightIdx),
    RmsNorm(NodeId, f32, u32),
    LayerNorm(NodeId, f32),
    MulWeight(NodeId, WeightIdx),
    AddWeight(NodeId, WeightIdx),
    Add(NodeId, NodeId),
    Mul(NodeId, NodeId),
    Scale(NodeId, f32),
    SwiGlu(NodeId, NodeId),
    GeGlu(NodeId, NodeId),
    Gelu(NodeId),
    Rope(Rope),
    Attention(Attention),
    SelectRows(NodeId),
    Softcap(NodeId, f32),
    EmbedPositions(WeightIdx),
    /// Attention without the causal mask (encoders).
    EncoderAttention(Attention),
    GeluErf(NodeId),
    /// One row per logit row: its sequence's rows pooled.
    Pool(NodeId, Pooling),
}

#[derive(Debug, Clone, PartialEq)]
pub struct KvSpec {
    pub cells: u32,
    pub widths: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub weights: Vec<Weight>,
    pub nodes: Vec<Op>,
    /// The output node: logits, or pooled vectors for an embedding graph.
    pub logits: NodeId,
    /// A decoder's final hidden state (after the output norm, what the LM head reads): the
    /// rows an embedding request reads back instead of logits. None for an encoder.
    pub hidden: Option<NodeId>,
    pub kv_widths: Vec<u32>,
}

impl Graph {
    /// An embedding graph's output is pooled vectors, read back whole, not logits to sample.
    pub fn is_embedding(&self) -> bool {
        matches!(self.nodes.get(self.logits as usize), Some(Op::Pool(..)))
    }

    /// Names the node whose rows are the hidden state (see `hidden`).
    pub fn with_hidden(mut self, node: NodeId) -> Graph {
        self.hidden = Some(node);
        self
    }
}

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

    pub fn finish(self, logits: NodeId) -> Graph {
        Graph { weights: self.weights, nodes: self.nodes, logits, hidden: None, kv_widths: self.kv_widths }
    }
}
