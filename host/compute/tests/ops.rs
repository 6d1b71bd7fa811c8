//! Every op the plans use, on the CPU executor, against a straightforward f32 reference
//! (llama.cpp's test-backend-ops idea with the CPU as the device under test).

use std::io::Write;
use std::sync::Arc;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0,
    GgmlType,
};
use half::{bf16, f16};
use memmap2::Mmap;
use wollama_compute::cpu::CpuExecutor;
use wollama_compute::plan::{Attention, Batch, KvSpec, Op, PlanSpec, WeightDesc};

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A file of tensors laid out 32-aligned; returns (map, descs).
fn file_of(tensors: &[(&str, u32, Vec<u64>, Vec<u8>)]) -> (Arc<Mmap>, Vec<WeightDesc>) {
    let mut f = tempfile::tempfile().unwrap();
    let mut descs = Vec::new();
    let mut off = 0u64;
    for (name, ty, shape, bytes) in tensors {
        descs.push(WeightDesc { name: name.to_string(), ggml_type: *ty, shape: shape.clone(), offset: off });
        f.write_all(bytes).unwrap();
        off += bytes.len() as u64;
        let pad = (32 - off % 32) % 32;
        f.write_all(&vec![0u8; pad as usize]).unwrap();
        off += pad;
    }
    (Arc::new(unsafe { Mmap::map(&f).unwrap() }), descs)
}

fn as_bytes<T>(v: &[T]) -> Vec<u8> {
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)).to_vec() }
}

fn batch(tokens: Vec<u32>, logit_rows: Vec<u32>, k: u32) -> Batch {
    let n = tokens.len();
    Batch {
        positions: (0..n as i32).collect(),
        seqs: vec![0; n],
        write_cells: (0..n as u32).collect(),
        cell_pos: (0..n as i32).collect(),
        cell_seqs: vec![1; n],
        bias: vec![vec![]; logit_rows.len()],
        logit_rows,
        top_k: k,
        tokens,
        ..Default::default()
    }
}

/// Runs x·Wᵀ for a weight of type T through the executor; returns (got, reference).
fn matmul_case<T: GgmlType>(ty: u32, k: usize, n: usize, rows: usize, threads: usize) -> (Vec<f32>, Vec<f32>) {
    let w = rand_vec(k * n, 1);
    let mut blocks = vec![T::zeros(); k * n / T::BLCK_SIZE];
    T::from_float(&w, &mut blocks);
    let mut wq = vec![0f32; k * n];
    T::to_float(&blocks, &mut wq);
    let x = rand_vec(k * rows, 2);
    let (map, descs) = file_of(&[
        ("emb", 0, vec![k as u64, rows as u64], as_bytes(&x)),
        ("w", ty, vec![k as u64, n as u64], as_bytes(&blocks)),
    ]);
    let spec = PlanSpec {
        weights: descs,
        nodes: vec![Op::Embed(0), Op::SelectRows(0), Op::Matmul(1, 1)],
        logits: 2,
        kv: KvSpec { cells: 8, widths: vec![] },
        max_rows: rows as u32,
    };
    let exec = CpuExecutor::new(threads);
    let mut plan = exec.compile(map, spec).unwrap();
    let out = plan.run(&batch((0..rows as u32).collect(), (0..rows as u32).collect(), n as u32)).unwrap();
    let mut got = vec![0f32; rows * n];
    for (r, c) in out.iter().enumerate() {
        for (&id, &l) in c.ids.iter().zip(&c.logits) {
            got[r * n + id as usize] = l;
        }
    }
    let mut want = vec![0f32; rows * n];
    for r in 0..rows {
        for j in 0..n {
            want[r * n + j] = (0..k).map(|i| x[r * k + i] * wq[j * k + i]).sum();
        }
    }
    (got, want)
}

fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    let num: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f32 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}

#[test]
fn matmul_every_type_against_f32() {
    // The error budget covers the activation's 8-bit quantization (ggml does the same).
    let cases: Vec<(&str, u32, f32, Box<dyn Fn(usize) -> (Vec<f32>, Vec<f32>)>)> = vec![
        ("F32", 0, 1e-5, Box::new(|t| matmul_case::<f32>(0, 256, 40, 3, t))),
        ("F16", 1, 2e-3, Box::new(|t| matmul_case::<f16>(1, 256, 40, 3, t))),
        ("BF16", 30, 1e-2, Box::new(|t| matmul_case::<bf16>(30, 256, 40, 3, t))),
        ("Q4_0", 2, 0.02, Box::new(|t| matmul_case::<BlockQ4_0>(2, 256, 40, 3, t))),
        ("Q4_1", 3, 0.02, Box::new(|t| matmul_case::<BlockQ4_1>(3, 256, 40, 3, t))),
        ("Q5_0", 6, 0.02, Box::new(|t| matmul_case::<BlockQ5_0>(6, 256, 40, 3, t))),
        ("Q5_1", 7, 0.02, Box::new(|t| matmul_case::<BlockQ5_1>(7, 256, 40, 3, t))),
        ("Q8_0", 8, 0.01, Box::new(|t| matmul_case::<BlockQ8_0>(8, 256, 40, 3, t))),
        ("Q2_K", 10, 0.02, Box::new(|t| matmul_case::<BlockQ2K>(10, 256, 40, 3, t))),
        ("Q3_K", 11, 0.02, Box::new(|t| matmul_case::<BlockQ3K>(11, 256, 40, 3, t))),
        ("Q4_K", 12, 0.02, Box::new(|t| matmul_case::<BlockQ4K>(12, 256, 40, 3, t))),
        ("Q5_K", 13, 0.02, Box::new(|t| matmul_case::<BlockQ5K>(13, 256, 40, 3, t))),
        ("Q6_K", 14, 0.02, Box::new(|t| matmul_case::<BlockQ6K>(14, 256, 40, 3, t))),
    ];
    for (name, _, budget, case) in &cases {
        let (got1, want) = case(1);
        let e = rel_err(&got1, &want);
        assert!(e < *budget, "{name}: relative error {e} over {budget}");
        let (got3, _) = case(3);
        assert_eq!(got1, got3, "{name}: 1 and 3 threads differ");
    }
}

/// q = E·Wq (2 heads of 4), k = E·Wk, v = E·Wv (1 KV head), attention, all rows out.
fn run_attention(b: &Batch, window: u32) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let (vocab, d) = (16usize, 12usize);
    let e = rand_vec(d * vocab, 5);
    let wq = rand_vec(d * 8, 6);
    let wk = rand_vec(d * 4, 7);
    let wv = rand_vec(d * 4, 8);
    let (map, descs) = file_of(&[
        ("emb", 0, vec![d as u64, vocab as u64], as_bytes(&e)),
        ("wq", 0, vec![d as u64, 8], as_bytes(&wq)),
        ("wk", 0, vec![d as u64, 4], as_bytes(&wk)),
        ("wv", 0, vec![d as u64, 4], as_bytes(&wv)),
    ]);
    let att = Attention { q: 1, k: 2, v: 3, layer: 0, n_head: 2, n_kv_head: 1, head_dim: 4, scale: 0.5, softcap: 0.0, window };
    let spec = PlanSpec {
        weights: descs,
        nodes: vec![Op::Embed(0), Op::Matmul(0, 1), Op::Matmul(0, 2), Op::Matmul(0, 3), Op::Attention(att), Op::SelectRows(4)],
        logits: 5,
        kv: KvSpec { cells: 16, widths: vec![4] },
        max_rows: 16,
    };
    let exec = CpuExecutor::new(2);
    let mut plan = exec.compile(map, spec).unwrap();
    let out = plan.run(b).unwrap();
    let got: Vec<Vec<f32>> = out
        .iter()
        .map(|c| {
            let mut v = vec![0f32; 8];
            for (&id, &l) in c.ids.iter().zip(&c.logits) {
                v[id as usize] = l;
            }
            v
        })
        .collect();
    // Reference in f32 over each row's visible cells.
    let proj = |t: u32, w: &[f32], n: usize| -> Vec<f32> {
        (0..n).map(|j| (0..d).map(|i| e[t as usize * d + i] * w[j * d + i]).sum()).collect()
    };
    let want = b
        .logit_rows
        .iter()
        .map(|&r| {
            let r = r as usize;
            let q = proj(b.tokens[r], &wq, 8);
            let vis: Vec<usize> = (0..b.tokens.len())
                .filter(|&c| {
                    b.seqs[c] == b.seqs[r]
                        && b.positions[c] <= b.positions[r]
                        && (window == 0 || ((b.positions[r] - b.positions[c]) as u32) < window)
                })
                .collect();
            let mut o = vec![0f32; 8];
            for h in 0..2 {
                let s: Vec<f32> = vis
                    .iter()
                    .map(|&c| {
                        let k = proj(b.tokens[c], &wk, 4);
                        (0..4).map(|i| q[h * 4 + i] * k[i]).sum::<f32>() * 0.5
                    })
                    .collect();
                let m = s.iter().copied().fold(f32::MIN, f32::max);
                let z: f32 = s.iter().map(|x| (x - m).exp()).sum();
                for (&c, &sc) in vis.iter().zip(&s) {
                    let v = proj(b.tokens[c], &wv, 4);
                    for i in 0..4 {
                        o[h * 4 + i] += (sc - m).exp() / z * v[i];
                    }
                }
            }
            o
        })
        .collect();
    (got, want)
}

#[test]
fn attention_two_sequences_causal_gqa_and_window() {
    // Rows 0-2: sequence 0 at positions 0..3; rows 3-4: sequence 1 at positions 0..2.
    let b = Batch {
        tokens: vec![3, 7, 1, 9, 4],
        positions: vec![0, 1, 2, 0, 1],
        seqs: vec![0, 0, 0, 1, 1],
        write_cells: vec![0, 1, 2, 3, 4],
        cell_pos: vec![0, 1, 2, 0, 1],
        cell_seqs: vec![1, 1, 1, 2, 2],
        logit_rows: vec![0, 1, 2, 3, 4],
        bias: vec![vec![]; 5],
        top_k: 8,
        ..Default::default()
    };
    for window in [0, 2] {
        let (got, want) = run_attention(&b, window);
        for (g, w) in got.iter().zip(&want) {
            let e = rel_err(g, w);
            assert!(e < 5e-3, "window {window}: {g:?} vs {w:?}");
        }
    }
}

#[test]
fn bias_and_top_k_through_a_plan() {
    let (k, n) = (32usize, 10usize);
    let x = rand_vec(k, 11);
    let w = rand_vec(k * n, 12);
    let (map, descs) = file_of(&[("emb", 0, vec![k as u64, 1], as_bytes(&x)), ("w", 0, vec![k as u64, n as u64], as_bytes(&w))]);
    let spec = PlanSpec {
        weights: descs,
        nodes: vec![Op::Embed(0), Op::SelectRows(0), Op::Matmul(1, 1)],
        logits: 2,
        kv: KvSpec { cells: 4, widths: vec![] },
        max_rows: 1,
    };
    let mut plan = CpuExecutor::new(1).compile(map, spec).unwrap();
    let mut b = batch(vec![0], vec![0], n as u32);
    let plain = plan.run(&b).unwrap().remove(0);
    let best = plain.ids[0];
    b.bias = vec![vec![(best, 1.0, f32::NEG_INFINITY)]];
    b.top_k = 3;
    let banned = plan.run(&b).unwrap().remove(0);
    assert_eq!(banned.ids.len(), 3);
    assert!(!banned.ids.contains(&best));
    assert_eq!(banned.ids[0], plain.ids[1]);
}

#[test]
fn compile_errors_name_the_problem() {
    let x = rand_vec(64, 1);
    let (map, mut descs) = file_of(&[("blk.0.attn_q.weight", 0, vec![32, 2], as_bytes(&x))]);
    let spec = |descs: Vec<WeightDesc>| PlanSpec {
        weights: descs,
        nodes: vec![Op::Embed(0), Op::SelectRows(0)],
        logits: 1,
        kv: KvSpec { cells: 4, widths: vec![] },
        max_rows: 4,
    };
    let exec = CpuExecutor::new(1);
    assert!(exec.compile(map.clone(), spec(descs.clone())).is_ok());
    descs[0].ggml_type = 16;
    let e = exec.compile(map.clone(), spec(descs.clone())).err().unwrap().to_string();
    assert!(e.contains("IQ2_XXS") && e.contains("blk.0.attn_q.weight"), "{e}");
    descs[0].ggml_type = 0;
    descs[0].offset = 1 << 20;
    let e = exec.compile(map.clone(), spec(descs.clone())).err().unwrap().to_string();
    assert!(e.contains("past the end"), "{e}");
    descs[0].offset = 0;
    let mut bad = spec(descs);
    bad.nodes = vec![Op::SelectRows(1), Op::Embed(0)];
    assert!(exec.compile(map, bad).is_err());
}
