//! The BERT encoder (llama.cpp's `bert` architecture): token + token-type + absolute position
//! embeddings, post-norm layers (LayerNorm after each residual), attention without a causal
//! mask, a GELU feed-forward, and the pooling the model declares (`bert.pooling_type`).

use super::{Binder, HParams};
use crate::gguf::Gguf;
use wollama_plan::{Attention, NodeId, Op, PlanSpec, Pooling, WeightIdx};

/// llama.cpp's `llama_pooling_type` values.
pub fn pooling_of(g: &Gguf, arch: &str) -> Result<Pooling, String> {
    match g.u64(&format!("{arch}.pooling_type")) {
        Some(1) => Ok(Pooling::Mean),
        Some(2) => Ok(Pooling::Cls),
        Some(3) => Ok(Pooling::Last),
        Some(other) => Err(format!("{arch}.pooling_type {other} is not supported (mean, cls or last)")),
        None => Err(format!("{arch}.pooling_type is missing: the model does not say how to pool its embeddings")),
    }
}

pub fn build(g: &Gguf, hp: &HParams) -> Result<PlanSpec, String> {
    let arch = &hp.arch;
    let eps = g.f64(&format!("{arch}.attention.layer_norm_epsilon")).unwrap_or(1e-12) as f32;
    let pooling = pooling_of(g, arch)?;
    let mut m = Binder::new(g);
    let (d, ff, v) = (hp.n_embd as u64, hp.n_ff as u64, hp.n_vocab as u64);
    let n_pos = hp.n_ctx_train as u64;

    // LayerNorm with its weight and bias: the norm every BERT block ends with.
    fn norm(m: &mut Binder, x: NodeId, eps: f32, w: WeightIdx, b: WeightIdx) -> NodeId {
        let h = m.b.push(Op::LayerNorm(x, eps));
        let h = m.b.push(Op::MulWeight(h, w));
        m.b.push(Op::AddWeight(h, b))
    }
    fn linear(m: &mut Binder, x: NodeId, w: WeightIdx, b: WeightIdx) -> NodeId {
        let y = m.b.push(Op::Matmul(x, w));
        m.b.push(Op::AddWeight(y, b))
    }

    let tok = m.tensor("token_embd.weight", &[d, v])?;
    let pos = m.tensor("position_embd.weight", &[d, n_pos])?;
    let x = m.b.push(Op::Embed(tok));
    let p = m.b.push(Op::EmbedPositions(pos));
    let mut x = m.b.push(Op::Add(x, p));
    // Every input is segment A: add row 0 of the token-type table to every row.
    if let Some(t) = m.first_row("token_types.weight", d)? {
        x = m.b.push(Op::AddWeight(x, t));
    }
    let (nw, nb) = (m.tensor("token_embd_norm.weight", &[d])?, m.tensor("token_embd_norm.bias", &[d])?);
    x = norm(&mut m, x, eps, nw, nb);

    let q_dim = (hp.n_head * hp.head_dim) as u64;
    for il in 0..hp.n_layer {
        let p = |s: &str| format!("blk.{il}.{s}");
        let mut w = |s: &str, shape: &[u64]| m.tensor(&p(s), shape);
        let (wq, bq) = (w("attn_q.weight", &[d, q_dim])?, w("attn_q.bias", &[q_dim])?);
        let (wk, bk) = (w("attn_k.weight", &[d, q_dim])?, w("attn_k.bias", &[q_dim])?);
        let (wv, bv) = (w("attn_v.weight", &[d, q_dim])?, w("attn_v.bias", &[q_dim])?);
        let (wo, bo) = (w("attn_output.weight", &[q_dim, d])?, w("attn_output.bias", &[d])?);
        let (n1w, n1b) = (w("attn_output_norm.weight", &[d])?, w("attn_output_norm.bias", &[d])?);
        let (wu, bu) = (w("ffn_up.weight", &[d, ff])?, w("ffn_up.bias", &[ff])?);
        let (wd, bd) = (w("ffn_down.weight", &[ff, d])?, w("ffn_down.bias", &[d])?);
        let (n2w, n2b) = (w("layer_output_norm.weight", &[d])?, w("layer_output_norm.bias", &[d])?);

        let q = linear(&mut m, x, wq, bq);
        let k = linear(&mut m, x, wk, bk);
        let vv = linear(&mut m, x, wv, bv);
        let layer = m.b.kv_layer(q_dim as u32);
        let a = m.b.push(Op::EncoderAttention(Attention {
            q,
            k,
            v: vv,
            layer,
            n_head: hp.n_head,
            n_kv_head: hp.n_head,
            head_dim: hp.head_dim,
            scale: 1.0 / (hp.head_dim as f32).sqrt(),
            softcap: 0.0,
            window: 0,
        }));
        let o = linear(&mut m, a, wo, bo);
        let h = m.b.push(Op::Add(o, x));
        let h = norm(&mut m, h, eps, n1w, n1b);
        let up = linear(&mut m, h, wu, bu);
        let act = m.b.push(Op::GeluErf(up));
        let down = linear(&mut m, act, wd, bd);
        let y = m.b.push(Op::Add(down, h));
        x = norm(&mut m, y, eps, n2w, n2b);
    }
    let out = m.b.push(Op::Pool(x, pooling));
    Ok(m.finish(out))
}
