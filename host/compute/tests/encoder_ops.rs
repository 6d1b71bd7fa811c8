//! The encoder ops (position embeddings, attention without the causal mask, exact GELU,
//! pooling per sequence) and whole-row readback (top-k 0), each against an f64 reference.

mod common;

use common::*;
use wollama_compute::cpu::CpuExecutor;
use wollama_plan::{Attention, Batch, KvSpec, Op, PlanSpec, Pooling};

const D: usize = 8;

/// Two sequences in one batch: seq 3 has 3 rows, seq 5 has 2, interleaved.
fn two_sequences() -> Batch {
    Batch {
        tokens: vec![1, 4, 2, 0, 3],
        positions: vec![0, 0, 1, 2, 1],
        seqs: vec![3, 5, 3, 3, 5],
        write_cells: vec![0, 1, 2, 3, 4],
        cell_pos: vec![0, 0, 1, 2, 1],
        cell_seqs: vec![1 << 3, 1 << 5, 1 << 3, 1 << 3, 1 << 5],
        // The last row of each sequence names it.
        logit_rows: vec![3, 4],
        bias: vec![vec![]; 2],
        top_k: 0,
        ..Default::default()
    }
}

fn compile(f: FileBuilder, nodes: Vec<Op>, kv_widths: Vec<u32>) -> wollama_compute::cpu::CpuPlan {
    let logits = (nodes.len() - 1) as u32;
    let (map, weights) = f.finish();
    CpuExecutor::new(2)
        .compile(map, PlanSpec { weights, nodes, logits, hidden: None, kv: KvSpec { cells: 8, widths: kv_widths }, max_rows: 8 })
        .unwrap()
}

fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((*g as f64 - w).abs() <= tol * w.abs().max(1.0), "{what}[{i}]: {g} vs {w}");
    }
}

fn erf_gelu(x: f64) -> f64 {
    // Abramowitz-Stegun 7.1.26 is too coarse; integrate erf by Simpson's rule instead.
    let z = x / std::f64::consts::SQRT_2;
    let n = 2000;
    let h = z / n as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(0.0) + f(z);
    for i in 1..n {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    let erf = s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt();
    0.5 * x * (1.0 + erf)
}

#[test]
fn position_embeddings_gelu_erf_and_every_pooling() {
    let tok = rand_vec(D * 5, 1);
    let pos: Vec<f32> = rand_vec(D * 3, 2).iter().map(|v| v * 3.0).collect();
    for (how, name) in [(Pooling::Mean, "mean"), (Pooling::Cls, "cls"), (Pooling::Last, "last")] {
        let mut f = FileBuilder::default();
        let wt = f.f32("token_embd.weight", &[D as u64, 5], &tok);
        let wp = f.f32("position_embd.weight", &[D as u64, 3], &pos);
        let nodes = vec![Op::Embed(wt), Op::EmbedPositions(wp), Op::Add(0, 1), Op::GeluErf(2), Op::Pool(3, how)];
        let mut plan = compile(f, nodes, vec![]);
        let b = two_sequences();
        let out = plan.run(&b).unwrap();
        assert_eq!(out.len(), 2, "one vector per sequence");
        let row = |r: usize| -> Vec<f64> {
            let (t, p) = (b.tokens[r] as usize, b.positions[r] as usize);
            (0..D).map(|i| erf_gelu(tok[t * D + i] as f64 + pos[p * D + i] as f64)).collect()
        };
        for (o, (seq, members)) in out.iter().zip([(3, vec![0, 2, 3]), (5, vec![1, 4])]) {
            assert!(o.ids.is_empty(), "whole rows come back without ids");
            let want: Vec<f64> = match how {
                Pooling::Mean => {
                    let rows: Vec<Vec<f64>> = members.iter().map(|&r| row(r)).collect();
                    (0..D).map(|i| rows.iter().map(|r| r[i]).sum::<f64>() / rows.len() as f64).collect()
                }
                Pooling::Cls => row(members[0]),
                Pooling::Last => row(*members.last().unwrap()),
            };
            close(&o.logits, &want, 1e-5, &format!("{name} pooling of sequence {seq}"));
        }
    }
}

#[test]
fn encoder_attention_sees_the_whole_sequence_and_only_it() {
    let (nh, hd) = (2usize, 4usize);
    let w = nh * hd;
    let tok = rand_vec(D * 5, 3);
    let (wq, wk, wv) = (rand_vec(D * w, 4), rand_vec(D * w, 5), rand_vec(D * w, 6));
    let mut f = FileBuilder::default();
    let e = f.f32("token_embd.weight", &[D as u64, 5], &tok);
    let q = f.f32("q", &[D as u64, w as u64], &wq);
    let k = f.f32("k", &[D as u64, w as u64], &wk);
    let v = f.f32("v", &[D as u64, w as u64], &wv);
    let att = Attention {
        q: 1,
        k: 2,
        v: 3,
        layer: 0,
        n_head: nh as u32,
        n_kv_head: nh as u32,
        head_dim: hd as u32,
        scale: 0.5,
        softcap: 0.0,
        window: 0,
    };
    let nodes = vec![
        Op::Embed(e),
        Op::Matmul(0, q),
        Op::Matmul(0, k),
        Op::Matmul(0, v),
        Op::EncoderAttention(att),
        Op::SelectRows(4),
    ];
    let mut plan = compile(f, nodes, vec![w as u32]);
    let mut b = two_sequences();
    b.logit_rows = (0..5).collect();
    b.bias = vec![vec![]; 5];
    let out = plan.run(&b).unwrap();
    let proj = |t: u32, m: &[f32]| -> Vec<f64> {
        let x = &tok[t as usize * D..(t as usize + 1) * D];
        (0..w).map(|j| (0..D).map(|i| x[i] as f64 * m[j * D + i] as f64).sum()).collect()
    };
    for (r, o) in out.iter().enumerate() {
        let qr = proj(b.tokens[r], &wq);
        // Every row of the same sequence, before and after this one.
        let others: Vec<usize> = (0..5).filter(|&c| b.seqs[c] == b.seqs[r]).collect();
        let mut want = vec![0f64; w];
        for h in 0..nh {
            let scores: Vec<f64> = others
                .iter()
                .map(|&c| {
                    let kc = proj(b.tokens[c], &wk);
                    (0..hd).map(|i| qr[h * hd + i] * kc[h * hd + i]).sum::<f64>() * 0.5
                })
                .collect();
            let max = scores.iter().copied().fold(f64::MIN, f64::max);
            let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            for (&c, s) in others.iter().zip(&scores) {
                let vc = proj(b.tokens[c], &wv);
                for i in 0..hd {
                    want[h * hd + i] += (s - max).exp() / z * vc[h * hd + i];
                }
            }
        }
        // f16 q, K, V and probabilities, as the causal kernel.
        close(&o.logits, &want, 4e-3, &format!("row {r}"));
    }
}

#[test]
fn positions_beyond_the_position_table_are_errors() {
    let mut f = FileBuilder::default();
    let wt = f.f32("token_embd.weight", &[D as u64, 5], &rand_vec(D * 5, 7));
    let wp = f.f32("position_embd.weight", &[D as u64, 3], &rand_vec(D * 3, 8));
    let mut plan = compile(f, vec![Op::Embed(wt), Op::EmbedPositions(wp), Op::Add(0, 1), Op::Pool(2, Pooling::Mean)], vec![]);
    let mut b = two_sequences();
    b.positions[3] = 3;
    let e = plan.run(&b).unwrap_err().to_string();
    assert!(e.contains("position 3 is outside the model's 3 position embeddings"), "{e}");
}
