//! The llama decoder (also qwen2 and mistral, which differ only by optional biases):
//! RMSNorm, RoPE, grouped-query attention, SwiGLU, tied or separate output weights.

use super::{Binder, HParams};
use crate::gguf::Gguf;
use wollama_plan::{Attention, Op, PlanSpec, Rope};

pub fn build(g: &Gguf, hp: &HParams) -> Result<PlanSpec, String> {
    let mut m = Binder::new(g);
    let (d, ff, v) = (hp.n_embd as u64, hp.n_ff as u64, hp.n_vocab as u64);
    let q_dim = (hp.n_head * hp.head_dim) as u64;
    let kv_dim = (hp.n_head_kv * hp.head_dim) as u64;

    let tok_embd = m.tensor("token_embd.weight", &[d, v])?;
    let mut x = m.b.push(Op::Embed(tok_embd));

    for il in 0..hp.n_layer {
        let p = |s: &str| format!("blk.{il}.{s}");
        let attn_norm = m.tensor(&p("attn_norm.weight"), &[d])?;
        let wq = m.tensor(&p("attn_q.weight"), &[d, q_dim])?;
        let wk = m.tensor(&p("attn_k.weight"), &[d, kv_dim])?;
        let wv = m.tensor(&p("attn_v.weight"), &[d, kv_dim])?;
        let wo = m.tensor(&p("attn_output.weight"), &[q_dim, d])?;
        let bq = m.optional(&p("attn_q.bias"), &[q_dim])?;
        let bk = m.optional(&p("attn_k.bias"), &[kv_dim])?;
        let bv = m.optional(&p("attn_v.bias"), &[kv_dim])?;
        let ffn_norm = m.tensor(&p("ffn_norm.weight"), &[d])?;
        let w_gate = m.tensor(&p("ffn_gate.weight"), &[d, ff])?;
        let w_up = m.tensor(&p("ffn_up.weight"), &[d, ff])?;
        let w_down = m.tensor(&p("ffn_down.weight"), &[ff, d])?;

        let h = m.b.push(Op::RmsNorm(x, hp.norm_eps, 0));
        let h = m.b.push(Op::MulWeight(h, attn_norm));
        let mut proj = |w, bias: Option<u32>| {
            let y = m.b.push(Op::Matmul(h, w));
            match bias {
                Some(b) => m.b.push(Op::AddWeight(y, b)),
                None => y,
            }
        };
        let q = proj(wq, bq);
        let k = proj(wk, bk);
        let vv = proj(wv, bv);
        let rope = |x| Rope {
            x,
            head_dim: hp.head_dim,
            n_rot: hp.n_rot,
            freq_base: hp.rope_base,
            freq_scale: hp.rope_scale,
            neox: hp.arch == "qwen2",
        };
        let q = m.b.push(Op::Rope(rope(q)));
        let k = m.b.push(Op::Rope(rope(k)));
        let layer = m.b.kv_layer(kv_dim as u32);
        let a = m.b.push(Op::Attention(Attention {
            q,
            k,
            v: vv,
            layer,
            n_head: hp.n_head,
            n_kv_head: hp.n_head_kv,
            head_dim: hp.head_dim,
            scale: 1.0 / (hp.head_dim as f32).sqrt(),
            softcap: 0.0,
            window: 0,
        }));
        let mut o = m.b.push(Op::Matmul(a, wo));
        if il + 1 == hp.n_layer {
            // Only the rows whose logits are wanted go through the last FFN (as llama.cpp).
            o = m.b.push(Op::SelectRows(o));
            x = m.b.push(Op::SelectRows(x));
        }
        x = m.b.push(Op::Add(x, o));

        let h = m.b.push(Op::RmsNorm(x, hp.norm_eps, 0));
        let h = m.b.push(Op::MulWeight(h, ffn_norm));
        let gate = m.b.push(Op::Matmul(h, w_gate));
        let up = m.b.push(Op::Matmul(h, w_up));
        let act = m.b.push(Op::SwiGlu(gate, up));
        let down = m.b.push(Op::Matmul(act, w_down));
        x = m.b.push(Op::Add(x, down));
    }

    let out_norm = m.tensor("output_norm.weight", &[d])?;
    let h = m.b.push(Op::RmsNorm(x, hp.norm_eps, 0));
    let h = m.b.push(Op::MulWeight(h, out_norm));
    let output = match m.optional("output.weight", &[d, v])? {
        Some(w) => w,
        None => tok_embd, // tied embeddings
    };
    let logits = m.b.push(Op::Matmul(h, output));
    Ok(PlanSpec { hidden: Some(h), ..m.finish(logits) })
}
