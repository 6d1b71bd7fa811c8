//! The Gemma 3 decoder, as llama.cpp builds it: embeddings scaled by √n_embd, per-head RMSNorm
//! of q and k before NeoX RoPE, q scaled by 1/√head_dim, sliding-window attention on five
//! layers of every six (their RoPE base fixed at 10 000, the global layers' from the file),
//! RMSNorm after attention and after the GELU-gated FFN, tied output weights. Without a
//! sliding window the final logits are soft-capped when the file asks for it.

use super::{Binder, HParams};
use crate::gguf::Gguf;
use wollama_plan::{Attention, Op, PlanSpec, Rope};

/// Five local (sliding-window) layers, then one global, repeating.
const SWA_PATTERN: u32 = 6;
/// RoPE base of the local layers; Gemma 3 files do not record it.
const SWA_ROPE_BASE: f32 = 10_000.0;

fn is_local(il: u32) -> bool {
    il % SWA_PATTERN < SWA_PATTERN - 1
}

pub fn build(g: &Gguf, hp: &HParams) -> Result<PlanSpec, String> {
    let mut m = Binder::new(g);
    let (d, ff, v) = (hp.n_embd as u64, hp.n_ff as u64, hp.n_vocab as u64);
    let hd = hp.head_dim as u64;
    let q_dim = hp.n_head as u64 * hd;
    let kv_dim = hp.n_head_kv as u64 * hd;
    let window = g.u64("gemma3.attention.sliding_window").unwrap_or(0).min(u32::MAX as u64) as u32;
    let final_softcap = g.f64("gemma3.final_logit_softcapping").unwrap_or(0.0) as f32;
    let norm = |m: &mut Binder, x, w| {
        let n = m.b.push(Op::RmsNorm(x, hp.norm_eps, 0));
        m.b.push(Op::MulWeight(n, w))
    };

    let tok_embd = m.tensor("token_embd.weight", &[d, v])?;
    let e = m.b.push(Op::Embed(tok_embd));
    let mut x = m.b.push(Op::Scale(e, (hp.n_embd as f32).sqrt()));

    for il in 0..hp.n_layer {
        let p = |s: &str| format!("blk.{il}.{s}");
        let attn_norm = m.tensor(&p("attn_norm.weight"), &[d])?;
        let wq = m.tensor(&p("attn_q.weight"), &[d, q_dim])?;
        let wk = m.tensor(&p("attn_k.weight"), &[d, kv_dim])?;
        let wv = m.tensor(&p("attn_v.weight"), &[d, kv_dim])?;
        let q_norm = m.tensor(&p("attn_q_norm.weight"), &[hd])?;
        let k_norm = m.tensor(&p("attn_k_norm.weight"), &[hd])?;
        let wo = m.tensor(&p("attn_output.weight"), &[q_dim, d])?;
        let post_attn_norm = m.tensor(&p("post_attention_norm.weight"), &[d])?;
        let ffn_norm = m.tensor(&p("ffn_norm.weight"), &[d])?;
        let w_gate = m.tensor(&p("ffn_gate.weight"), &[d, ff])?;
        let w_up = m.tensor(&p("ffn_up.weight"), &[d, ff])?;
        let w_down = m.tensor(&p("ffn_down.weight"), &[ff, d])?;
        let post_ffw_norm = m.tensor(&p("post_ffw_norm.weight"), &[d])?;

        let local = window > 0 && is_local(il);
        let rope = |x| Rope {
            x,
            head_dim: hp.head_dim,
            n_rot: hp.n_rot,
            freq_base: if local { SWA_ROPE_BASE } else { hp.rope_base },
            freq_scale: if local { 1.0 } else { hp.rope_scale },
            neox: true,
        };
        let h = norm(&mut m, x, attn_norm);
        let q = m.b.push(Op::Matmul(h, wq));
        let k = m.b.push(Op::Matmul(h, wk));
        let vv = m.b.push(Op::Matmul(h, wv));
        // Per-head norms: the weight (one head long) repeats over the heads.
        let q = m.b.push(Op::RmsNorm(q, hp.norm_eps, hp.head_dim));
        let q = m.b.push(Op::MulWeight(q, q_norm));
        let q = m.b.push(Op::Rope(rope(q)));
        let k = m.b.push(Op::RmsNorm(k, hp.norm_eps, hp.head_dim));
        let k = m.b.push(Op::MulWeight(k, k_norm));
        let k = m.b.push(Op::Rope(rope(k)));
        // q is scaled before attention (which then scales by 1), where llama.cpp scales it.
        let q = m.b.push(Op::Scale(q, 1.0 / (hp.head_dim as f32).sqrt()));
        let layer = m.b.kv_layer(kv_dim as u32);
        let a = m.b.push(Op::Attention(Attention {
            q,
            k,
            v: vv,
            layer,
            n_head: hp.n_head,
            n_kv_head: hp.n_head_kv,
            head_dim: hp.head_dim,
            scale: 1.0,
            softcap: 0.0,
            window: if local { window } else { 0 },
        }));
        let mut o = m.b.push(Op::Matmul(a, wo));
        if il + 1 == hp.n_layer {
            o = m.b.push(Op::SelectRows(o));
            x = m.b.push(Op::SelectRows(x));
        }
        let o = norm(&mut m, o, post_attn_norm);
        let sa = m.b.push(Op::Add(o, x));

        let h = norm(&mut m, sa, ffn_norm);
        let gate = m.b.push(Op::Matmul(h, w_gate));
        let up = m.b.push(Op::Matmul(h, w_up));
        let act = m.b.push(Op::GeGlu(gate, up));
        let down = m.b.push(Op::Matmul(act, w_down));
        let f = norm(&mut m, down, post_ffw_norm);
        x = m.b.push(Op::Add(f, sa));
    }

    let out_norm = m.tensor("output_norm.weight", &[d])?;
    let h = norm(&mut m, x, out_norm);
    let output = m.optional("output.weight", &[d, v])?.unwrap_or(tok_embd);
    let mut logits = m.b.push(Op::Matmul(h, output));
    if window == 0 && final_softcap > 0.0 {
        logits = m.b.push(Op::Softcap(logits, final_softcap));
    }
    // The hidden state is what the LM head reads: after the final norm (the embedding scale
    // is inside, at the graph's start), before any logit soft-capping.
    Ok(PlanSpec { hidden: Some(h), ..m.finish(logits) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sixth_layer_is_global() {
        let global: Vec<u32> = (0..18).filter(|&il| !super::is_local(il)).collect();
        assert_eq!(global, [5, 11, 17]);
    }
}
