//! The plan's second output (a decoder's final hidden state, which embeddings read), and a
//! sequence's results not depending on where its KV cells lie.

mod common;

use common::decoder::{decoder, decoder_with, step, Outputs};
use common::{rand_vec, FileBuilder};
use wollama_compute::cpu::{CpuExecutor, CpuPlan};
use wollama_plan::{Attention, Batch, KvSpec, Op, PlanSpec};

const PROMPT: [u32; 7] = [5, 17, 42, 99, 3, 150, 7];

/// The hidden state of every prompt row, read from a plan whose only output it is.
fn hidden_states() -> Vec<Vec<f32>> {
    let mut only = decoder_with(2, 8, Outputs::HiddenOnly);
    let b = Batch { top_k: 0, ..step(&PROMPT, 0, true, 0) };
    only.run(&b).unwrap().into_iter().map(|c| c.logits).collect()
}

#[test]
fn hidden_rows_come_back_whole_and_the_others_as_candidates() {
    let want_hidden = hidden_states();
    let want_logits = decoder(2, 8).run(&step(&PROMPT, 0, true, 0)).unwrap();
    let mut both = decoder_with(2, 8, Outputs::LogitsAndHidden);
    let got = both.run(&Batch { hidden_rows: vec![1, 4], ..step(&PROMPT, 0, true, 0) }).unwrap();
    for (r, c) in got.iter().enumerate() {
        if r == 1 || r == 4 {
            assert!(c.ids.is_empty(), "row {r}: no ids for a hidden row");
            assert_eq!(c.logits, want_hidden[r], "row {r}: the hidden state");
        } else {
            assert_eq!(c, &want_logits[r], "row {r}: the candidates as without hidden rows");
        }
    }
}

#[test]
fn a_pass_of_hidden_rows_only_skips_the_head_and_leaves_the_cache_as_usual() {
    let want_hidden = hidden_states();
    let mut both = decoder_with(2, 8, Outputs::LogitsAndHidden);
    let all: Vec<u32> = (0..PROMPT.len() as u32).collect();
    let got = both.run(&Batch { hidden_rows: all, ..step(&PROMPT, 0, true, 0) }).unwrap();
    assert_eq!(got.into_iter().map(|c| c.logits).collect::<Vec<_>>(), want_hidden);
    // The K/V it wrote are those a normal pass writes: the next token decodes the same.
    let mut plain = decoder(2, 8);
    plain.run(&step(&PROMPT, 0, true, 0)).unwrap();
    let next = step(&[77], PROMPT.len() as i32, false, PROMPT.len());
    assert_eq!(both.run(&next).unwrap(), plain.run(&next).unwrap());
}

#[test]
fn bad_hidden_rows_are_errors() {
    let b = step(&PROMPT[..3], 0, true, 0);
    let e = decoder(1, 8).run(&Batch { hidden_rows: vec![0], ..b.clone() }).unwrap_err().to_string();
    assert!(e.contains("the plan has no hidden output"), "{e}");
    let mut both = decoder_with(1, 8, Outputs::LogitsAndHidden);
    for (rows, why) in [(vec![1, 0], "ascending"), (vec![0, 0], "ascending"), (vec![3], "not one of the 3 logit rows")] {
        let e = both.run(&Batch { hidden_rows: rows, ..b.clone() }).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
}

/// Embed, q/k/v projections (f32) and causal attention over 64 cells: the attention output
/// itself is the plan's output, so any change of its bits shows.
fn attention_plan() -> CpuPlan {
    let (d, nh, nkv, hd) = (16u64, 2u64, 1u64, 8u64);
    let mut f = FileBuilder::default();
    let e = f.f32("emb", &[d, 64], &rand_vec((d * 64) as usize, 41));
    let q = f.f32("wq", &[d, nh * hd], &rand_vec((d * nh * hd) as usize, 42));
    let k = f.f32("wk", &[d, nkv * hd], &rand_vec((d * nkv * hd) as usize, 43));
    let v = f.f32("wv", &[d, nkv * hd], &rand_vec((d * nkv * hd) as usize, 44));
    let (map, weights) = f.finish();
    let att = Attention { q: 1, k: 2, v: 3, layer: 0, n_head: 2, n_kv_head: 1, head_dim: 8, scale: 0.35, softcap: 0.0, window: 0 };
    let nodes = vec![Op::Embed(e), Op::Matmul(0, q), Op::Matmul(0, k), Op::Matmul(0, v), Op::Attention(att), Op::SelectRows(4)];
    let kv = KvSpec { cells: 64, widths: vec![(nkv * hd) as u32] };
    CpuExecutor::new(2).compile(map, PlanSpec { hidden: None, weights, nodes, logits: 5, kv, max_rows: 64 }).unwrap()
}

#[test]
fn a_sequence_gives_the_same_bits_wherever_its_cells_lie() {
    // More positions than the softmax and V lanes (16), so their order matters.
    let n = 40;
    let prompt: Vec<u32> = (0..n as u32).map(|i| i * 7 % 64).collect();
    let whole = |b: Batch| Batch { top_k: 0, ..b };
    let in_order = attention_plan().run(&whole(step(&prompt, 0, true, 0))).unwrap();
    // The same sequence scattered over the cache, as freed cells get reused: position i in
    // cell 17·i mod 64.
    let cell = |i: usize| (17 * i) % 64;
    let mut b = whole(step(&prompt, 0, true, 0));
    b.write_cells = (0..n).map(|i| cell(i) as u32).collect();
    b.cell_pos = vec![-1; 64];
    b.cell_seqs = vec![0; 64];
    for i in 0..n {
        b.cell_pos[cell(i)] = i as i32;
        b.cell_seqs[cell(i)] = 1;
    }
    assert_eq!(attention_plan().run(&b).unwrap(), in_order);
}
