//! A small decoder, end to end: SmolLM2's shape in miniature, in an in-memory file.

use candle_core::quantized::k_quants::{BlockQ4_1, BlockQ8_0};
use wollama_compute::cpu::{CpuExecutor, CpuPlan};
use wollama_plan::{Attention, Batch, KvSpec, NodeId, Op, PlanSpec, Rope, WeightIdx};

use super::{rand_vec, FileBuilder, Q4_1, Q8_0};

/// Embedding Q8_0 tied as output, Q4_1 projections, rms norms, rope, GQA attention, SwiGLU:
/// SmolLM2's shape in miniature.
pub fn decoder(threads: usize, max_rows: u32) -> CpuPlan {
    decoder_with(threads, max_rows, Outputs::Logits)
}

/// One llama block's weights (indices into the plan's weights).
pub struct LayerWeights {
    pub attn_norm: WeightIdx,
    pub wq: WeightIdx,
    pub wk: WeightIdx,
    pub wv: WeightIdx,
    pub wo: WeightIdx,
    pub ffn_norm: WeightIdx,
    pub wg: WeightIdx,
    pub wu: WeightIdx,
    pub wd: WeightIdx,
}

/// One llama block's shape.
pub struct LayerShape {
    pub layer: u32,
    pub n_head: u32,
    pub n_kv: u32,
    pub head_dim: u32,
    pub eps: f32,
    pub rope_base: f32,
}

/// Appends one llama block (the guest's guest/src/model/llama.rs, written against the plan
/// directly) reading `x`; returns its output. `select_last` moves SelectRows before the
/// block's residual adds, as the guest does in the last layer.
pub fn llama_layer(nodes: &mut Vec<Op>, x: NodeId, w: &LayerWeights, g: &LayerShape, select_last: bool) -> NodeId {
    let mut push = |op: Op| {
        nodes.push(op);
        (nodes.len() - 1) as u32
    };
    let h = push(Op::RmsNorm(x, g.eps, 0));
    let h = push(Op::MulWeight(h, w.attn_norm));
    let q = push(Op::Matmul(h, w.wq));
    let k = push(Op::Matmul(h, w.wk));
    let v = push(Op::Matmul(h, w.wv));
    let rope = |x| Rope { x, head_dim: g.head_dim, n_rot: g.head_dim, freq_base: g.rope_base, freq_scale: 1.0, neox: false };
    let q = push(Op::Rope(rope(q)));
    let k = push(Op::Rope(rope(k)));
    let a = push(Op::Attention(Attention {
        q,
        k,
        v,
        layer: g.layer,
        n_head: g.n_head,
        n_kv_head: g.n_kv,
        head_dim: g.head_dim,
        scale: 1.0 / (g.head_dim as f32).sqrt(),
        softcap: 0.0,
        window: 0,
    }));
    let mut o = push(Op::Matmul(a, w.wo));
    let mut x = x;
    if select_last {
        o = push(Op::SelectRows(o));
        x = push(Op::SelectRows(x));
    }
    let x1 = push(Op::Add(x, o));
    let h = push(Op::RmsNorm(x1, g.eps, 0));
    let h = push(Op::MulWeight(h, w.ffn_norm));
    let gt = push(Op::Matmul(h, w.wg));
    let up = push(Op::Matmul(h, w.wu));
    let act = push(Op::SwiGlu(gt, up));
    let dn = push(Op::Matmul(act, w.wd));
    push(Op::Add(x1, dn))
}

/// What the small decoder's plan outputs.
#[derive(Clone, Copy, PartialEq)]
pub enum Outputs {
    Logits,
    /// The logits, and the final hidden state (after the output norm) as `hidden`.
    LogitsAndHidden,
    /// The final hidden state as the plan's only output, read whole with top-k 0.
    HiddenOnly,
}

/// `decoder` with its outputs chosen.
pub fn decoder_with(threads: usize, max_rows: u32, outputs: Outputs) -> CpuPlan {
    decoder_on(&CpuExecutor::new(threads), max_rows, outputs)
}

/// `decoder_with` on a given executor.
pub fn decoder_on(exec: &CpuExecutor, max_rows: u32, outputs: Outputs) -> CpuPlan {
    let (map, spec) = decoder_spec(max_rows, outputs);
    exec.compile(map, spec).unwrap()
}

/// The small decoder's file and plan, for any executor.
pub fn decoder_spec(max_rows: u32, outputs: Outputs) -> (std::sync::Arc<memmap2::Mmap>, PlanSpec) {
    let (d, ff, vocab, nh, nkv, hd, layers) = (64usize, 96usize, 200usize, 4u32, 2u32, 16u32, 2);
    let mut f = FileBuilder::default();
    let (emb, _) = f.quant::<BlockQ8_0>("token_embd.weight", Q8_0, d, vocab, &rand_vec(d * vocab, 100));
    let mut nodes = vec![Op::Embed(emb)];
    let mut x = 0;
    for l in 0..layers {
        let seed = 200 + l as u64 * 10;
        let norm = f.f32(&format!("blk.{l}.attn_norm.weight"), &[d as u64], &rand_vec(d, seed));
        let mut q4 = |name: &str, k: usize, n: usize, s: u64| {
            f.quant::<BlockQ4_1>(&format!("blk.{l}.{name}.weight"), Q4_1, k, n, &rand_vec(k * n, s))
                .0
        };
        let (wq, wk, wv, wo) = (
            q4("attn_q", d, (nh * hd) as usize, seed + 1),
            q4("attn_k", d, (nkv * hd) as usize, seed + 2),
            q4("attn_v", d, (nkv * hd) as usize, seed + 3),
            q4("attn_output", (nh * hd) as usize, d, seed + 4),
        );
        let (wg, wu, wd) = (
            q4("ffn_gate", d, ff, seed + 5),
            q4("ffn_up", d, ff, seed + 6),
            q4("ffn_down", ff, d, seed + 7),
        );
        let ffn_norm = f.f32(&format!("blk.{l}.ffn_norm.weight"), &[d as u64], &rand_vec(d, seed + 8));
        let w = LayerWeights { attn_norm: norm, wq, wk, wv, wo, ffn_norm, wg, wu, wd };
        let shape = LayerShape { layer: l, n_head: nh, n_kv: nkv, head_dim: hd, eps: 1e-5, rope_base: 100000.0 };
        x = llama_layer(&mut nodes, x, &w, &shape, false);
    }
    let out_norm = f.f32("output_norm.weight", &[d as u64], &rand_vec(d, 999));
    let sel = nodes.len() as u32;
    nodes.push(Op::SelectRows(x));
    nodes.push(Op::RmsNorm(sel, 1e-5, 0));
    nodes.push(Op::MulWeight(sel + 1, out_norm));
    nodes.push(Op::Matmul(sel + 2, emb));
    let (logits, hidden) = match outputs {
        Outputs::Logits => (sel + 3, None),
        Outputs::LogitsAndHidden => (sel + 3, Some(sel + 2)),
        Outputs::HiddenOnly => (sel + 2, None),
    };
    let (map, weights) = f.finish();
    let kv = KvSpec {
        cells: 64,
        widths: vec![nkv * hd; layers as usize],
    };
    (
            map,
            PlanSpec {
                hidden,
                weights,
                nodes,
                logits,
                kv,
                max_rows,
            },
        )
}

/// One pass of sequence 0: `tokens` at positions from `start`, written after `prior` cells;
/// top-200 candidates for every row or the last.
pub fn step(tokens: &[u32], start: i32, all_logits: bool, prior: usize) -> Batch {
    let n = tokens.len();
    let total = prior + n;
    Batch {
        tokens: tokens.to_vec(),
        positions: (start..start + n as i32).collect(),
        seqs: vec![0; n],
        write_cells: (prior as u32..total as u32).collect(),
        cell_pos: (0..total as i32).collect(),
        cell_seqs: vec![1; total],
        logit_rows: if all_logits {
            (0..n as u32).collect()
        } else {
            vec![n as u32 - 1]
        },
        bias: vec![vec![]; if all_logits { n } else { 1 }],
        top_k: 200,
        ..Default::default()
    }
}

