//! Ops, attention, bias/top-k and plan validation through compiled plans, each against a
//! straightforward reference.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use candle_core::quantized::k_quants::BlockQ4_1;
use common::decoder::{decoder, decoder_on, step, Outputs};
use common::*;
use wollama_compute::cpu::{ComputeError, CpuExecutor};
use wollama_plan::{Attention, Batch, KvSpec, Op, PlanSpec, Rope};

/// A plan over an f32 table of `vocab` rows of width `d` (row t = rand), plus extra weights.
struct Setup {
    f: FileBuilder,
    table: Vec<f32>,
    d: usize,
}

impl Setup {
    fn new(d: usize, vocab: usize, seed: u64) -> Setup {
        let mut f = FileBuilder::default();
        let table: Vec<f32> = rand_vec(d * vocab, seed).iter().map(|v| v * 2.0).collect();
        f.f32("token_embd.weight", &[d as u64, vocab as u64], &table);
        Setup { f, table, d }
    }

    fn row(&self, t: u32) -> &[f32] {
        &self.table[t as usize * self.d..(t as usize + 1) * self.d]
    }

    fn run(self, nodes: Vec<Op>, kv: KvSpec, b: &Batch, threads: usize) -> Vec<Vec<f32>> {
        let logits = (nodes.len() - 1) as u32;
        let (map, weights) = self.f.finish();
        let mut plan = CpuExecutor::new(threads)
            .compile(
                map,
                PlanSpec {
                    hidden: None,
                    weights,
                    nodes,
                    logits,
                    kv,
                    max_rows: 16,
                },
            )
            .unwrap();
        let v = plan.vocab() as usize;
        full_rows(&plan.run(b).unwrap(), v)
    }
}

fn no_kv() -> KvSpec {
    KvSpec {
        cells: 256,
        widths: vec![],
    }
}

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * w.abs().max(1.0), "{what}[{i}]: {g} vs {w}");
    }
}

#[test]
fn norms_and_broadcast_weights() {
    let d = 12;
    let mut s = Setup::new(d, 5, 1);
    let norm = rand_vec(d, 2);
    let head_norm = rand_vec(4, 3);
    let bias = rand_vec(d, 4);
    let wn = s.f.f32("norm", &[d as u64], &norm);
    let wh = s.f.f32("head_norm", &[4], &head_norm);
    let wb = s.f.f32("bias", &[d as u64], &bias);
    let tokens = vec![3u32, 1, 4];
    let rows: Vec<Vec<f32>> = tokens.iter().map(|&t| s.row(t).to_vec()).collect();
    let mut b = batch(tokens, d as u32);
    b.logit_rows = vec![0, 1, 2];
    let nodes = vec![
        Op::Embed(0),
        Op::RmsNorm(0, 1e-5, 0),
        Op::MulWeight(1, wn),
        Op::RmsNorm(2, 1e-6, 4), // per-head norm over groups of 4
        Op::MulWeight(3, wh),    // broadcast over the 3 groups
        Op::LayerNorm(4, 1e-5),
        Op::AddWeight(5, wb),
        Op::SelectRows(6),
    ];
    let got = s.run(nodes, no_kv(), &b, 2);
    for (g, x) in got.iter().zip(&rows) {
        let rms = |v: &[f32], eps: f32| -> Vec<f32> {
            let m = v.iter().map(|a| (a * a) as f64).sum::<f64>() / v.len() as f64;
            v.iter().map(|a| a / (m as f32 + eps).sqrt()).collect()
        };
        let y: Vec<f32> = rms(x, 1e-5).iter().zip(&norm).map(|(a, w)| a * w).collect();
        let y: Vec<f32> = y.chunks(4).flat_map(|c| rms(c, 1e-6)).collect();
        let y: Vec<f32> = y.iter().enumerate().map(|(i, a)| a * head_norm[i % 4]).collect();
        let mean = y.iter().sum::<f32>() / d as f32;
        let var = y.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / d as f32;
        let y: Vec<f32> = y
            .iter()
            .zip(&bias)
            .map(|(a, w)| (a - mean) / (var + 1e-5).sqrt() + w)
            .collect();
        close(g, &y, 1e-4, "norms");
    }
}

#[test]
fn elementwise_ops() {
    let d = 16;
    let s = Setup::new(d, 4, 9);
    let tokens = vec![0u32, 1, 2, 3];
    let (a, c): (Vec<f32>, Vec<f32>) = (s.row(0).to_vec(), s.row(1).to_vec());
    let b = batch(tokens, d as u32);
    let nodes = vec![
        Op::Embed(0),        // 0: x
        Op::Scale(0, -1.5),  // 1: -1.5x
        Op::Add(0, 1),       // 2: -0.5x
        Op::Mul(2, 0),       // 3: -0.5x²
        Op::SwiGlu(0, 1),    // 4: silu(x)·(-1.5x)
        Op::GeGlu(0, 3),     // 5: gelu(x)·(-0.5x²)
        Op::Gelu(0),         // 6
        Op::Softcap(1, 2.0), // 7: 2 tanh(-0.75x)
        Op::Add(4, 5),       // 8
        Op::Add(8, 6),       // 9
        Op::Add(9, 7),       // 10
        Op::SelectRows(10),
    ];
    let got = s.run(nodes, no_kv(), &b, 1);
    let silu = |x: f32| x / (1.0 + (-x).exp());
    let gelu = |x: f32| 0.5 * x * (1.0 + (0.797_884_6 * x * (1.0 + 0.044715 * x * x)).tanh());
    for (r, x) in [a, c].iter().enumerate() {
        let want: Vec<f32> = x
            .iter()
            .map(|&x| silu(x) * (-1.5 * x) + gelu(x) * (-0.5 * x * x) + gelu(x) + 2.0 * (-0.75 * x).tanh())
            .collect();
        // GELU goes through ggml's f16 table: ~1e-3 relative.
        close(&got[r], &want, 5e-3, "elementwise");
    }
}

fn rope_reference(x: &[f32], pos: i32, hd: usize, n_rot: usize, base: f64, neox: bool) -> Vec<f32> {
    let mut y = x.to_vec();
    for h in (0..x.len()).step_by(hd) {
        for i in 0..n_rot / 2 {
            let theta = pos as f64 * base.powf(-2.0 * i as f64 / n_rot as f64);
            let (a, b) = if neox { (i, i + n_rot / 2) } else { (2 * i, 2 * i + 1) };
            let (x0, x1) = (x[h + a] as f64, x[h + b] as f64);
            y[h + a] = (x0 * theta.cos() - x1 * theta.sin()) as f32;
            y[h + b] = (x0 * theta.sin() + x1 * theta.cos()) as f32;
        }
    }
    y
}

#[test]
fn rope_normal_and_neox_through_a_plan() {
    let (hd, heads) = (8usize, 3usize);
    for neox in [false, true] {
        for n_rot in [8u32, 4] {
            let s = Setup::new(hd * heads, 6, 21);
            let tokens = vec![5u32, 2, 0];
            let xs: Vec<Vec<f32>> = tokens.iter().map(|&t| s.row(t).to_vec()).collect();
            let mut b = batch(tokens, (hd * heads) as u32);
            b.positions = vec![0, 17, 1000];
            let rope = Rope {
                x: 0,
                head_dim: hd as u32,
                n_rot,
                freq_base: 100000.0,
                freq_scale: 1.0,
                neox,
            };
            let got = s.run(vec![Op::Embed(0), Op::Rope(rope), Op::SelectRows(1)], no_kv(), &b, 2);
            for ((g, x), &p) in got.iter().zip(&xs).zip(&b.positions) {
                let want = rope_reference(x, p, hd, n_rot as usize, 100000.0, neox);
                // f32 angles up to 1000 rad (built by repeated multiplication, as ggml): ~1e-3.
                close(g, &want, 2e-3, &format!("rope neox={neox} n_rot={n_rot} pos={p}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Attention

struct AttnModel {
    d: usize,
    nh: usize,
    nkv: usize,
    hd: usize,
    table: Vec<f32>,
    wq: Vec<f32>,
    wk: Vec<f32>,
    wv: Vec<f32>,
}

impl AttnModel {
    fn new() -> AttnModel {
        let (d, nh, nkv, hd) = (16, 4, 2, 8);
        AttnModel {
            d,
            nh,
            nkv,
            hd,
            table: rand_vec(d * 32, 31),
            wq: rand_vec(d * nh * hd, 32),
            wk: rand_vec(d * nkv * hd, 33),
            wv: rand_vec(d * nkv * hd, 34),
        }
    }

    fn plan(&self, threads: usize, window: u32, softcap: f32) -> wollama_compute::cpu::CpuPlan {
        let mut f = FileBuilder::default();
        let (d, nh, nkv, hd) = (self.d as u64, self.nh as u64, self.nkv as u64, self.hd as u64);
        let e = f.f32("emb", &[d, 32], &self.table);
        let q = f.f32("wq", &[d, nh * hd], &self.wq);
        let k = f.f32("wk", &[d, nkv * hd], &self.wk);
        let v = f.f32("wv", &[d, nkv * hd], &self.wv);
        let (map, weights) = f.finish();
        let att = Attention {
            q: 1,
            k: 2,
            v: 3,
            layer: 1,
            n_head: nh as u32,
            n_kv_head: nkv as u32,
            head_dim: hd as u32,
            scale: 0.35,
            softcap,
            window,
        };
        let spec = PlanSpec {
            hidden: None,
            weights,
            nodes: vec![
                Op::Embed(e),
                Op::Matmul(0, q),
                Op::Matmul(0, k),
                Op::Matmul(0, v),
                Op::Attention(att),
                Op::SelectRows(4),
            ],
            logits: 5,
            kv: KvSpec {
                cells: 16,
                widths: vec![8, (nkv * hd) as u32],
            },
            max_rows: 8,
        };
        CpuExecutor::new(threads).compile(map, spec).unwrap()
    }

    fn proj(&self, t: u32, w: &[f32], n: usize) -> Vec<f64> {
        let x = &self.table[t as usize * self.d..(t as usize + 1) * self.d];
        (0..n)
            .map(|j| (0..self.d).map(|i| x[i] as f64 * w[j * self.d + i] as f64).sum())
            .collect()
    }
}

/// The reference cache: per cell, the token whose K/V it holds.
fn attention_reference(
    m: &AttnModel,
    cache: &mut [Option<u32>; 16],
    b: &Batch,
    window: u32,
    softcap: f32,
) -> Vec<Vec<f32>> {
    for &(s, d) in &b.copies {
        cache[d as usize] = cache[s as usize];
    }
    for (r, &c) in b.write_cells.iter().enumerate() {
        cache[c as usize] = Some(b.tokens[r]);
    }
    let (nh, nkv, hd) = (m.nh, m.nkv, m.hd);
    b.logit_rows
        .iter()
        .map(|&r| {
            let r = r as usize;
            let q = m.proj(b.tokens[r], &m.wq, nh * hd);
            let pos = b.positions[r];
            let vis: Vec<usize> = (0..b.cell_pos.len())
                .filter(|&c| {
                    let cp = b.cell_pos[c];
                    b.cell_seqs[c] & (1 << b.seqs[r]) != 0
                        && cp >= 0
                        && cp <= pos
                        && (window == 0 || pos - cp < window as i32)
                })
                .collect();
            let mut out = vec![0f32; nh * hd];
            for h in 0..nh {
                let kvh = h / (nh / nkv);
                let kvs: Vec<(Vec<f64>, Vec<f64>)> = vis
                    .iter()
                    .map(|&c| {
                        let t = cache[c].expect("a visible cell was written");
                        (m.proj(t, &m.wk, nkv * hd), m.proj(t, &m.wv, nkv * hd))
                    })
                    .collect();
                let scores: Vec<f64> = kvs
                    .iter()
                    .map(|(k, _)| {
                        let s = (0..hd).map(|i| q[h * hd + i] * k[kvh * hd + i]).sum::<f64>() * 0.35;
                        if softcap > 0.0 {
                            softcap as f64 * (s / softcap as f64).tanh()
                        } else {
                            s
                        }
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::MIN, f64::max);
                let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                for ((_, v), s) in kvs.iter().zip(&scores) {
                    let p = (s - max).exp() / z;
                    for i in 0..hd {
                        out[h * hd + i] += (p * v[kvh * hd + i]) as f32;
                    }
                }
            }
            out
        })
        .collect()
}

/// Two batches: a prompt for two sequences, then a step that forks a third sequence by cell
/// copies, shares a cell between sequences, has empty cells, and continues sequence 0.
fn attention_batches() -> [Batch; 2] {
    let first = Batch {
        tokens: vec![3, 7, 1, 9, 4, 11, 12],
        positions: vec![0, 1, 2, 3, 0, 1, 2],
        seqs: vec![0, 0, 0, 0, 1, 1, 1],
        write_cells: vec![0, 1, 2, 3, 4, 5, 6],
        cell_pos: vec![0, 1, 2, 3, 0, 1, 2],
        cell_seqs: vec![1 | 8, 1, 1, 1, 2, 2, 2],
        logit_rows: vec![0, 1, 2, 3, 4, 5, 6],
        bias: vec![vec![]; 7],
        top_k: 32,
        ..Default::default()
    };
    let second = Batch {
        tokens: vec![20, 21, 22],
        positions: vec![4, 2, 1],
        seqs: vec![0, 2, 3],
        write_cells: vec![7, 10, 12],
        // Sequence 2 = a copy of sequence 0's first two cells.
        copies: vec![(0, 8), (1, 9)],
        cell_pos: vec![0, 1, 2, 3, 0, 1, 2, 4, 0, 1, 2, -1, 1, -1],
        cell_seqs: vec![1 | 8, 1, 1, 1, 2, 2, 2, 1, 4, 4, 4, u64::MAX, 8, 0],
        logit_rows: vec![2, 0, 1],
        bias: vec![vec![]; 3],
        top_k: 32,
        ..Default::default()
    };
    [first, second]
}

#[test]
fn attention_matches_f32_reference_over_sequences_windows_and_copies() {
    let m = AttnModel::new();
    for (window, softcap) in [(0u32, 0f32), (3, 0.0), (0, 1.5)] {
        let mut plan = m.plan(2, window, softcap);
        let mut cache = [None; 16];
        for (step, b) in attention_batches().iter().enumerate() {
            let got = full_rows(&plan.run(b).unwrap(), 32);
            let want = attention_reference(&m, &mut cache, b, window, softcap);
            for (r, (g, w)) in got.iter().zip(&want).enumerate() {
                let e = rel_err(g, w);
                // f16 q, K, V and probabilities: a few 1e-3.
                assert!(
                    e < 4e-3,
                    "window {window} softcap {softcap} step {step} row {r}: {e}\n{g:?}\n{w:?}"
                );
            }
        }
    }
}

#[test]
fn attention_is_identical_for_1_2_and_3_threads() {
    let m = AttnModel::new();
    let runs: Vec<Vec<Vec<f32>>> = [1, 2, 3]
        .iter()
        .map(|&t| {
            let mut plan = m.plan(t, 3, 0.0);
            attention_batches()
                .iter()
                .flat_map(|b| full_rows(&plan.run(b).unwrap(), 32))
                .collect()
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
}

// ---------------------------------------------------------------------------------------
// A small decoder, end to end (common/decoder.rs)

#[test]
fn prefill_agrees_with_token_by_token_decode() {
    // Not bit for bit: like ggml, attention sums in one order for a single-row batch and in
    // tinyBLAS's order for larger ones; everything else is per row.
    let prompt = [5u32, 17, 42, 99, 3, 150, 7];
    let mut plan = decoder(2, 8);
    let batch_rows = full_rows(&plan.run(&step(&prompt, 0, true, 0)).unwrap(), 200);
    let mut plan = decoder(2, 8);
    for (i, &t) in prompt.iter().enumerate() {
        let row = full_rows(&plan.run(&step(&[t], i as i32, false, i)).unwrap(), 200).remove(0);
        let e = rel_err(&row, &batch_rows[i]);
        assert!(e < 1e-3, "position {i}: {e}");
    }
}

#[test]
fn decoder_is_identical_for_1_2_and_3_threads() {
    let prompt = [1u32, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let mut outs = Vec::new();
    for t in [1, 2, 3] {
        let mut plan = decoder(t, 16);
        let mut c = plan.run(&step(&prompt, 0, true, 0)).unwrap();
        c.extend(plan.run(&step(&[77], 12, false, 12)).unwrap());
        outs.push(c);
    }
    assert_eq!(outs[0], outs[1]);
    assert_eq!(outs[0], outs[2]);
}

#[test]
fn weights_give_the_same_bits_before_during_and_after_their_huge_page_copy() {
    let from_file = CpuExecutor::with_weight_copy(2, false);
    let copying = CpuExecutor::with_weight_copy(2, true);
    let (mut a, mut b) = (
        decoder_on(&from_file, 8, Outputs::Logits),
        decoder_on(&copying, 8, Outputs::Logits),
    );
    let prompt = [9u32, 8, 7, 6, 5];
    assert_eq!(a.run(&step(&prompt, 0, true, 0)).unwrap(), b.run(&step(&prompt, 0, true, 0)).unwrap());
    let started = Instant::now();
    while !b.weights_copied() {
        assert!(started.elapsed() < Duration::from_secs(30), "the copy did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!a.weights_copied());
    for i in 0..4 {
        let s = step(&[1 + i], 5 + i as i32, false, 5 + i as usize);
        assert_eq!(a.run(&s).unwrap(), b.run(&s).unwrap(), "step {i}");
    }
}

#[test]
fn passes_complete_while_another_thread_busy_loops() {
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(31).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })
        })
        .collect();
    let mut plan = decoder(2, 8);
    let started = Instant::now();
    let reference = plan.run(&step(&[1, 2, 3], 0, false, 0)).unwrap();
    for i in 0..40 {
        let c = plan
            .run(&step(&[1 + i % 7], 3 + i as i32, false, 3 + i as usize))
            .unwrap();
        assert_eq!(c[0].ids.len(), 200);
    }
    stop.store(true, Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    assert_eq!(reference[0].ids.len(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "41 passes took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Bias, top-k and row selection

/// Logits straight from an f32 table: the plan is Embed -> SelectRows.
fn logit_plan(rows: &[Vec<f32>]) -> wollama_compute::cpu::CpuPlan {
    let v = rows[0].len();
    let mut f = FileBuilder::default();
    f.f32("table", &[v as u64, rows.len() as u64], &rows.concat());
    let (map, weights) = f.finish();
    let spec = PlanSpec {
        hidden: None,
        weights,
        nodes: vec![Op::Embed(0), Op::SelectRows(0)],
        logits: 1,
        kv: no_kv(),
        max_rows: 4,
    };
    CpuExecutor::new(2).compile(map, spec).unwrap()
}

#[test]
fn bias_penalty_sign_rule_ban_and_ties() {
    let rows = vec![vec![2.0, -2.0, 1.0, 1.0, 0.0, 3.0], vec![0.5, 0.5, 0.5, -1.0, 4.0, 0.5]];
    let mut plan = logit_plan(&rows);
    let mut b = batch(vec![0, 1], 6);
    b.logit_rows = vec![1, 0];
    b.bias = vec![
        vec![(4, 1.0, f32::NEG_INFINITY), (3, 2.0, 0.0)],
        vec![(0, 2.0, 0.0), (1, 2.0, 0.0), (5, 1.0, -2.0), (4, 4.0, 0.25)],
    ];
    let c = plan.run(&b).unwrap();
    // Row 1 (first logit row): 4 banned, -1 * 2 = -2; ties at 0.5 by id.
    assert_eq!(c[0].ids, vec![0, 1, 2, 5, 3, 4]);
    assert_eq!(c[0].logits, vec![0.5, 0.5, 0.5, 0.5, -2.0, f32::NEG_INFINITY]);
    // Row 0: 2/2 = 1, -2*2 = -4, 3-2 = 1, 0*4+0.25; ties at 1.0 by id.
    assert_eq!(c[1].ids, vec![0, 2, 3, 5, 4, 1]);
    assert_eq!(c[1].logits, vec![1.0, 1.0, 1.0, 1.0, 0.25, -4.0]);
    b.top_k = 2;
    let c = plan.run(&b).unwrap();
    assert_eq!((c[0].ids.clone(), c[1].ids.clone()), (vec![0, 1], vec![0, 2]));
}

#[test]
fn top_k_of_a_large_vocabulary() {
    let v = 5000;
    let row: Vec<f32> = (0..v).map(|i| ((i * 7919) % 1009) as f32).collect();
    let mut plan = logit_plan(std::slice::from_ref(&row));
    let mut sorted: Vec<u32> = (0..v as u32).collect();
    sorted.sort_by(|&a, &b| row[b as usize].partial_cmp(&row[a as usize]).unwrap().then(a.cmp(&b)));
    for k in [1u32, 40, 64, 300, 5000] {
        let mut b = batch(vec![0], k);
        b.bias = vec![vec![]];
        let c = plan.run(&b).unwrap().remove(0);
        assert_eq!(c.ids, sorted[..k as usize], "k = {k}");
    }
}

#[test]
fn select_rows_keeps_order_and_logits_may_skip_it() {
    let rows = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![5.0, 6.0]];
    let mut plan = logit_plan(&rows);
    let mut b = batch(vec![2, 0, 1], 2);
    b.logit_rows = vec![2, 0, 0];
    b.bias = vec![vec![]; 3];
    let c = plan.run(&b).unwrap();
    assert_eq!(c.iter().map(|c| c.ids[0]).collect::<Vec<_>>(), vec![1, 1, 1]);
    assert_eq!(c[1].logits, vec![6.0, 5.0]);
    // Logits without SelectRows: logit rows index the node's rows directly.
    let mut f = FileBuilder::default();
    f.f32("table", &[2, 3], &rows.concat());
    let (map, weights) = f.finish();
    let spec = PlanSpec {
        hidden: None,
        weights,
        nodes: vec![Op::Embed(0), Op::Scale(0, 2.0)],
        logits: 1,
        kv: no_kv(),
        max_rows: 4,
    };
    let mut plan = CpuExecutor::new(1).compile(map, spec).unwrap();
    let c = plan.run(&b).unwrap();
    assert_eq!(c[0].logits, vec![2.0, 0.0]);
    assert_eq!(c[1].logits, vec![12.0, 10.0]);
}

// ---------------------------------------------------------------------------------------
// Validation

fn compile_err(f: impl FnOnce(&mut PlanSpec)) -> String {
    let mut fb = FileBuilder::default();
    fb.f32("blk.0.attn_q.weight", &[32, 8], &rand_vec(256, 1));
    fb.f32("norm", &[32], &rand_vec(32, 2));
    let (map, weights) = fb.finish();
    let mut spec = PlanSpec {
        hidden: None,
        weights,
        nodes: vec![
            Op::Embed(0),
            Op::RmsNorm(0, 1e-5, 0),
            Op::MulWeight(1, 1),
            Op::SelectRows(2),
            Op::Matmul(3, 0),
        ],
        logits: 4,
        kv: KvSpec {
            cells: 4,
            widths: vec![32],
        },
        max_rows: 4,
    };
    let exec = CpuExecutor::new(1);
    assert!(
        exec.compile(map.clone(), spec.clone()).is_ok(),
        "the base plan is valid"
    );
    f(&mut spec);
    match exec.compile(map, spec) {
        Ok(_) => panic!("compiled"),
        Err(e) => format!(
            "{}: {e}",
            if matches!(e, ComputeError::Unsupported(_)) {
                "unsupported"
            } else {
                "invalid"
            }
        ),
    }
}

#[test]
fn compile_errors_name_the_problem() {
    let e = compile_err(|s| s.weights[0].ggml_type = 16);
    assert!(
        e.starts_with("unsupported") && e.contains("IQ2_XXS") && e.contains("blk.0.attn_q.weight"),
        "{e}"
    );
    let e = compile_err(|s| s.weights[0].ggml_type = 23);
    assert!(e.contains("IQ4_XS") && e.contains("blk.0.attn_q.weight"), "{e}");
    let e = compile_err(|s| s.weights[0].ggml_type = 35);
    assert!(e.starts_with("unsupported") && e.contains("TQ2_0") && e.contains("blk.0.attn_q.weight"), "{e}");
    let e = compile_err(|s| s.weights[0].ggml_type = 1000);
    assert!(e.starts_with("unsupported") && e.contains("unknown type 1000") && e.contains("blk.0.attn_q.weight"), "{e}");
    let e = compile_err(|s| s.weights[1].ggml_type = Q8_0);
    assert!(e.starts_with("unsupported") && e.contains("norm"), "{e}");
    let e = compile_err(|s| s.hidden = Some(5));
    assert!(e.contains("the hidden output 5 is not one of the plan's 5 nodes"), "{e}");
    let e = compile_err(|s| s.weights[0].offset = 1 << 20);
    assert!(e.contains("past the end") && e.contains("blk.0.attn_q.weight"), "{e}");
    let e = compile_err(|s| s.weights[0].shape = vec![32, 10]);
    assert!(e.contains("past the end"), "{e}");
    let e = compile_err(|s| {
        s.weights[0].ggml_type = Q4_K;
    });
    assert!(e.contains("block size") && e.contains("Q4_K"), "{e}");
    let e = compile_err(|s| s.nodes[1] = Op::RmsNorm(3, 1e-5, 0));
    assert!(e.contains("not an earlier node"), "{e}");
    let e = compile_err(|s| s.nodes[4] = Op::Matmul(3, 9));
    assert!(e.contains("weight 9"), "{e}");
    let e = compile_err(|s| s.logits = 7);
    assert!(e.contains("logits"), "{e}");
    let e = compile_err(|s| {
        s.nodes.insert(4, Op::Matmul(3, 0));
        s.logits = 5;
        s.nodes[5] = Op::Matmul(4, 0); // input 8 wide, weight rows 32
    });
    assert!(e.contains("8 wide"), "{e}");
    let e = compile_err(|s| s.nodes[4] = Op::Add(3, 2));
    assert!(e.starts_with("invalid") && e.contains("combines"), "{e}");
    let e = compile_err(|s| s.nodes[2] = Op::Add(1, 4));
    assert!(e.contains("not an earlier node"), "{e}");
    let e = compile_err(|s| s.nodes[1] = Op::RmsNorm(0, 1e-5, 5));
    assert!(e.contains("group"), "{e}");
    let e = compile_err(|s| {
        s.nodes[1] = Op::Rope(Rope {
            x: 0,
            head_dim: 6,
            n_rot: 6,
            freq_base: 1e4,
            freq_scale: 1.0,
            neox: false,
        })
    });
    assert!(e.contains("rope"), "{e}");
    let att = Attention {
        q: 2,
        k: 2,
        v: 2,
        layer: 1,
        n_head: 4,
        n_kv_head: 4,
        head_dim: 8,
        scale: 1.0,
        softcap: 0.0,
        window: 0,
    };
    let e = compile_err(|s| s.nodes[3] = Op::Attention(att));
    assert!(e.contains("KV layer 1"), "{e}");
    let e = compile_err(|s| {
        s.nodes[3] = Op::Attention(Attention {
            layer: 0,
            n_kv_head: 2,
            ..att
        })
    });
    assert!(e.contains("attention widths"), "{e}");
    // And a correct attention compiles.
    let mut fb = FileBuilder::default();
    fb.f32("e", &[32, 8], &rand_vec(256, 1));
    let (map, weights) = fb.finish();
    let spec = PlanSpec {
        hidden: None,
        weights,
        nodes: vec![
            Op::Embed(0),
            Op::Attention(Attention {
                layer: 0,
                q: 0,
                k: 0,
                v: 0,
                ..att
            }),
            Op::SelectRows(1),
        ],
        logits: 2,
        kv: KvSpec {
            cells: 4,
            widths: vec![32],
        },
        max_rows: 4,
    };
    assert!(CpuExecutor::new(1).compile(map, spec).is_ok());
}

#[test]
fn bad_batches_are_errors_not_crashes() {
    let mut plan = logit_plan(&[vec![1.0, 2.0], vec![3.0, 4.0]]);
    let ok = batch(vec![0, 1], 1);
    assert!(plan.run(&ok).is_ok());
    let mut b = ok.clone();
    b.tokens[1] = 2;
    assert!(plan.run(&b).is_err(), "token outside the embedding");
    let mut b = ok.clone();
    b.write_cells[0] = 999;
    assert!(plan.run(&b).is_err());
    let mut b = ok.clone();
    b.logit_rows = vec![0, 0, 0, 0, 0];
    b.bias = vec![vec![]; 5];
    assert!(plan.run(&b).is_err(), "more logit rows than the plan allows");
    // top_k 0 is not an error: it reads the rows back whole, unsorted and without ids.
    let mut b = ok.clone();
    b.top_k = 0;
    let whole = plan.run(&b).unwrap();
    assert!(whole.iter().all(|c| c.ids.is_empty()));
    assert_eq!(whole[1].logits, vec![3.0, 4.0]);
    let b = batch(vec![0; 5], 1);
    assert!(plan.run(&b).is_err(), "more rows than max_rows");
}

#[test]
fn plans_compiled_by_one_executor_share_its_pool() {
    let exec = CpuExecutor::new(2);
    let mk = || {
        let mut f = FileBuilder::default();
        let (w, _) = f.quant::<BlockQ4_1>("w", Q4_1, 64, 64, &rand_vec(64 * 64, 3));
        f.f32("e", &[64, 4], &rand_vec(256, 4));
        let (map, weights) = f.finish();
        let spec = PlanSpec {
            hidden: None,
            weights,
            nodes: vec![Op::Embed(1), Op::Matmul(0, w), Op::SelectRows(1)],
            logits: 2,
            kv: no_kv(),
            max_rows: 4,
        };
        exec.compile(map, spec).unwrap()
    };
    let (mut a, mut b) = (mk(), mk());
    let batch = batch(vec![0, 1, 2, 3], 5);
    let ra = std::thread::scope(|s| {
        let h = s.spawn(|| (0..50).map(|_| a.run(&batch).unwrap()).last().unwrap());
        let rb = (0..50).map(|_| b.run(&batch).unwrap()).last().unwrap();
        let ra = h.join().unwrap();
        assert_eq!(ra, rb);
        ra
    });
    assert_eq!(ra.len(), 4);
}
