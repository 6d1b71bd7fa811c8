//! The host's view of a guest's forward plan: plain Rust mirrors of the WIT `compute`
//! records, so executors and their tests need no wasm. The runtime converts the WIT types.

/// A weight tensor inside the mapped model file.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightDesc {
    pub name: String,
    /// ggml type id (0 = F32, 1 = F16, 2 = Q4_0, 3 = Q4_1, 6 = Q5_0, 7 = Q5_1, 8 = Q8_0,
    /// 10..=14 = Q2_K..Q6_K, 30 = BF16).
    pub ggml_type: u32,
    /// ggml order: shape[0] is the contiguous row length.
    pub shape: Vec<u64>,
    /// Absolute byte offset in the file.
    pub offset: u64,
}

pub type NodeId = usize;
pub type WeightIdx = usize;

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
    /// 0 = off.
    pub softcap: f32,
    /// 0 = unlimited.
    pub window: u32,
}

/// How `Op::Pool` reduces the rows of one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    /// The sequence's first row in the batch (position 0 when the sequence is whole).
    Cls,
    /// The sequence's last row in the batch.
    Last,
}

/// One node of the plan. Every activation is a row-major [rows, width] f32 matrix where
/// `rows` is the batch's token count (or the logit-row count after `SelectRows`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// Rows of an embedding weight [n, vocab] for the batch tokens -> [rows, n].
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
    /// gelu_tanh(a) * b.
    GeGlu(NodeId, NodeId),
    Gelu(NodeId),
    Rope(Rope),
    Attention(Attention),
    /// Keep only the batch's `logit_rows`, in order.
    SelectRows(NodeId),
    /// cap * tanh(x / cap).
    Softcap(NodeId, f32),
    /// Rows of an embedding weight for the batch positions -> [rows, n].
    EmbedPositions(WeightIdx),
    /// Attention without the causal mask: a row sees every cell of its sequence.
    EncoderAttention(Attention),
    /// 0.5·x·(1 + erf(x/√2)).
    GeluErf(NodeId),
    /// One row per logit row: the batch rows of that row's sequence, pooled.
    Pool(NodeId, Pooling),
}

#[derive(Debug, Clone, PartialEq)]
pub struct KvSpec {
    pub cells: u32,
    /// Per layer: n_kv_head * head_dim (the K width, equal to the V width).
    pub widths: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    pub weights: Vec<WeightDesc>,
    pub nodes: Vec<Op>,
    pub logits: NodeId,
    /// A second output with the logit rows' count (a decoder's final hidden state), read back
    /// whole for the batch's `hidden_rows`; None = only logits.
    pub hidden: Option<NodeId>,
    pub kv: KvSpec,
    pub max_rows: u32,
}

/// One bias entry: (token, penalty, add). A positive logit is divided by `penalty`, a
/// negative one multiplied (llama.cpp's repeat penalty), then `add` is added.
pub type Bias = (u32, f32, f32);

/// One forward pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub tokens: Vec<u32>,
    pub positions: Vec<i32>,
    /// Per row: its sequence (slot), < 64.
    pub seqs: Vec<u32>,
    /// Per row: the KV cell its K/V go to.
    pub write_cells: Vec<u32>,
    /// For cells [0, n): the position (-1 = empty) and the set of sequences that see it.
    pub cell_pos: Vec<i32>,
    pub cell_seqs: Vec<u64>,
    /// (src, dst) cell copies done before the pass, in order.
    pub copies: Vec<(u32, u32)>,
    pub logit_rows: Vec<u32>,
    /// Per logit row.
    pub bias: Vec<Vec<Bias>>,
    /// 0: each output row comes back whole, unsorted, with no ids (pooled embeddings).
    pub top_k: u32,
    /// Logit rows (indices into `logit_rows`, ascending) whose row of the plan's `hidden`
    /// output comes back whole, with no ids, instead of candidates.
    pub hidden_rows: Vec<u32>,
}

/// The k best (id, logit) of one logit row, best first (ties: lower id first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Candidates {
    pub ids: Vec<u32>,
    pub logits: Vec<f32>,
}

impl Batch {
    /// Checks the batch against the plan before anything runs, so a guest bug is an error
    /// rather than an out-of-bounds access.
    pub fn validate(&self, spec: &PlanSpec, vocab: u32) -> Result<(), String> {
        let rows = self.tokens.len();
        if rows == 0 {
            return Err("empty batch".into());
        }
        if rows > spec.max_rows as usize {
            return Err(format!("batch of {rows} rows exceeds the plan's {}", spec.max_rows));
        }
        if self.positions.len() != rows || self.seqs.len() != rows || self.write_cells.len() != rows {
            return Err("tokens, positions, seqs and write_cells differ in length".into());
        }
        if self.cell_pos.len() != self.cell_seqs.len() || self.cell_pos.len() > spec.kv.cells as usize {
            return Err("cell table is malformed or larger than the cache".into());
        }
        let cells = spec.kv.cells;
        if let Some(c) = self.write_cells.iter().find(|&&c| c >= cells) {
            return Err(format!("write cell {c} is outside the cache of {cells}"));
        }
        if let Some(s) = self.seqs.iter().find(|&&s| s >= 64) {
            return Err(format!("sequence {s} is not below 64"));
        }
        if let Some(t) = self.tokens.iter().find(|&&t| t >= vocab) {
            return Err(format!("token {t} is outside the vocabulary of {vocab}"));
        }
        if self.copies.iter().any(|&(s, d)| s >= cells || d >= cells) {
            return Err("cell copy outside the cache".into());
        }
        if let Some(r) = self.logit_rows.iter().find(|&&r| r as usize >= rows) {
            return Err(format!("logit row {r} is outside the batch"));
        }
        if self.bias.len() != self.logit_rows.len() {
            return Err("one bias list per logit row is required".into());
        }
        if !self.hidden_rows.is_empty() && spec.hidden.is_none() {
            return Err("the batch asks for hidden rows, but the plan has no hidden output".into());
        }
        if self.hidden_rows.windows(2).any(|w| w[0] >= w[1]) {
            return Err("hidden rows must be ascending and distinct".into());
        }
        if let Some(r) = self.hidden_rows.iter().find(|&&r| r as usize >= self.logit_rows.len()) {
            return Err(format!("hidden row {r} is not one of the {} logit rows", self.logit_rows.len()));
        }
        Ok(())
    }
}
