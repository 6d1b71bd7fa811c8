//! Matmul and embedding conformance: every weight type the GPU executor runs, against the CPU
//! executor (ggml's arithmetic) through compiled plans, over batch sizes that take the vector
//! kernel (≤ 8 rows) and the tiled one (odd counts, partial tiles), odd output widths and rows
//! of one and several blocks.

#[path = "../../compute/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use common::*;
use half::{bf16, f16};
use memmap2::Mmap;
use wollama_compute::cpu::CpuExecutor;
use wollama_gpu::{Choice, GpuExecutor, LimitOverride};
use wollama_plan::{Batch, KvSpec, Op, PlanSpec};

/// Batch sizes: the vector kernel's 1..8, the tiled kernel's partial and whole 64-row tiles.
const ROWS: [usize; 9] = [1, 2, 3, 7, 8, 9, 33, 64, 65];
/// Output widths: odd ones leave partial tiles and workgroups.
const WIDTHS: [usize; 2] = [33, 100];
/// Distinct activation rows the plans embed (one per token id).
const INPUTS: usize = 65;

/// Both executors quantize each activation row to the weight type's partner with the same
/// rounding and sum the same exact integer products per block; what is left is the order of
/// the float sums over blocks (and f32 fused or not), a few ULP of the result: an NMSE-style
/// relative error (rel_err: sqrt(Σ(g-c)²/Σc²)) of ~1e-7. A quant one step off on either side
/// (a rounding or scale mismatch) shows as ~1e-3 on a row of one or two blocks, so 1e-5 keeps
/// a wide margin over summation noise and still catches it.
const MATMUL_BUDGET: f32 = 1e-5;
/// Embedding is dequantization alone: the same formulas, at most an ULP apart (fused or not).
const EMBED_BUDGET: f32 = 1e-6;

fn gpu() -> GpuExecutor {
    GpuExecutor::new(Choice::Any, LimitOverride::default()).expect("a GPU adapter (lavapipe counts)")
}

/// A type's weight matrix [n rows of k] from random values, into `f`.
type Make = Box<dyn Fn(&mut FileBuilder, usize, usize, u64) -> u32>;

fn q<T: GgmlType>(ty: u32) -> impl Fn(&mut FileBuilder, usize, usize, u64) -> u32 {
    move |f: &mut FileBuilder, k: usize, n: usize, seed: u64| f.quant::<T>("w", ty, k, n, &rand_vec(k * n, seed)).0
}

/// (name, ggml type, row lengths to test, how to make the matrix).
fn types() -> Vec<(&'static str, u32, [usize; 2], Make)> {
    vec![
        ("F32", F32, [7, 100], Box::new(q::<f32>(F32))),
        ("F16", F16, [7, 100], Box::new(q::<f16>(F16))),
        ("BF16", BF16, [7, 100], Box::new(q::<bf16>(BF16))),
        ("Q4_0", Q4_0, [32, 96], Box::new(q::<BlockQ4_0>(Q4_0))),
        ("Q4_1", Q4_1, [32, 96], Box::new(q::<BlockQ4_1>(Q4_1))),
        ("Q5_0", Q5_0, [32, 96], Box::new(q::<BlockQ5_0>(Q5_0))),
        ("Q5_1", Q5_1, [32, 96], Box::new(q::<BlockQ5_1>(Q5_1))),
        ("Q8_0", Q8_0, [32, 96], Box::new(q::<BlockQ8_0>(Q8_0))),
        ("Q2_K", Q2_K, [256, 512], Box::new(q::<BlockQ2K>(Q2_K))),
        ("Q3_K", Q3_K, [256, 512], Box::new(q::<BlockQ3K>(Q3_K))),
        ("Q4_K", Q4_K, [256, 512], Box::new(q::<BlockQ4K>(Q4_K))),
        ("Q5_K", Q5_K, [256, 512], Box::new(q::<BlockQ5K>(Q5_K))),
        ("Q6_K", Q6_K, [256, 512], Box::new(q::<BlockQ6K>(Q6_K))),
    ]
}

/// Activation rows with varied scales (and one all-zero block), as rows of an F32 embedding.
fn inputs(k: usize) -> Vec<f32> {
    let mut x = rand_vec(k * INPUTS, 7);
    for (r, row) in x.chunks_exact_mut(k).enumerate() {
        let scale = [1.0, 0.01, 30.0, 0.5][r % 4];
        row.iter_mut().for_each(|v| *v *= scale);
    }
    x[k * 5..k * 5 + k.min(32)].fill(0.0);
    x
}

/// y = x · Wᵀ exposed as logits: Embed (the inputs), Matmul, SelectRows.
fn matmul_plan(k: usize, n: usize, make: &dyn Fn(&mut FileBuilder, usize, usize, u64) -> u32) -> (Arc<Mmap>, PlanSpec) {
    let mut f = FileBuilder::default();
    let x = f.f32("x", &[k as u64, INPUTS as u64], &inputs(k));
    let w = make(&mut f, k, n, 11 + k as u64 * 3 + n as u64);
    let (map, weights) = f.finish();
    let nodes = vec![Op::Embed(x), Op::Matmul(0, w), Op::SelectRows(1)];
    (map, PlanSpec { hidden: None, weights, nodes, logits: 2, kv: KvSpec { cells: 128, widths: vec![] }, max_rows: 65 })
}

/// A batch of `rows` rows (token ids scrambled over the inputs), the last ≤ 64 of them read
/// back whole.
fn rows_batch(rows: usize) -> Batch {
    let tokens: Vec<u32> = (0..rows).map(|i| ((i * 37 + 3) % INPUTS) as u32).collect();
    let mut b = batch(tokens, 0);
    let first = rows.saturating_sub(64);
    b.logit_rows = (first as u32..rows as u32).collect();
    b.bias = vec![vec![]; b.logit_rows.len()];
    b
}

fn logits(c: &[wollama_plan::Candidates]) -> Vec<f32> {
    c.iter().flat_map(|c| c.logits.iter().copied()).collect()
}

/// The worst relative error of each type's matmuls over every shape and batch size.
fn matmul_errors(gpu: &GpuExecutor, names: &[&str]) -> Vec<(&'static str, f32)> {
    let cpu = CpuExecutor::new(1);
    let mut worst = Vec::new();
    for (name, _, ks, make) in types().into_iter().filter(|t| names.is_empty() || names.contains(&t.0)) {
        let mut e_max = 0f32;
        for k in ks {
            for n in WIDTHS {
                let (map, spec) = matmul_plan(k, n, &*make);
                let mut c = cpu.compile(map.clone(), spec.clone()).unwrap();
                let mut g = gpu.compile(&&map[..], spec).unwrap();
                for rows in ROWS {
                    let b = rows_batch(rows);
                    let (cv, gv) = (logits(&c.run(&b).unwrap()), logits(&g.run(&b).unwrap()));
                    assert_eq!(cv.len(), b.logit_rows.len() * n);
                    assert_eq!(gv.len(), cv.len());
                    let e = rel_err(&gv, &cv);
                    assert!(e.is_finite(), "{name} k={k} n={n} rows={rows}: {e}");
                    e_max = e_max.max(e);
                }
            }
        }
        eprintln!("{name}: worst relative error {e_max:.2e}");
        worst.push((name, e_max));
    }
    worst
}

fn check(worst: &[(&str, f32)]) {
    let bad: Vec<_> = worst.iter().filter(|(_, e)| e.is_nan() || *e >= MATMUL_BUDGET).collect();
    assert!(bad.is_empty(), "over the {MATMUL_BUDGET:e} budget: {bad:?}");
}

#[test]
fn matmul_matches_the_cpu_for_every_weight_type() {
    let gpu = gpu();
    eprintln!("dot4I8Packed: {}", gpu.uses_dot4());
    check(&matmul_errors(&gpu, &[]));
}

/// The integer matmuls without dot4I8Packed (what an implementation lacking it runs).
#[test]
fn matmul_fallback_without_dot4_matches_the_cpu() {
    let mut gpu = gpu();
    gpu.force_dot4_fallback();
    check(&matmul_errors(&gpu, &["Q4_0", "Q5_1", "Q8_0", "Q3_K", "Q5_K", "Q6_K"]));
}

#[test]
fn embed_matches_the_cpu_for_every_weight_type() {
    let gpu = gpu();
    let cpu = CpuExecutor::new(1);
    for (name, _, ks, make) in types() {
        for k in ks {
            let n = 33;
            let mut f = FileBuilder::default();
            let w = make(&mut f, k, n, 5 + k as u64);
            let (map, weights) = f.finish();
            let spec = PlanSpec {
                hidden: None,
                weights,
                nodes: vec![Op::Embed(w), Op::SelectRows(0)],
                logits: 1,
                kv: KvSpec { cells: 128, widths: vec![] },
                max_rows: 65,
            };
            let mut c = cpu.compile(map.clone(), spec.clone()).unwrap();
            let mut g = gpu.compile(&&map[..], spec).unwrap();
            let tokens: Vec<u32> = (0..9).map(|i| (i * 7 + 2) % n as u32).collect();
            let b = batch(tokens, 0);
            let (cv, gv) = (logits(&c.run(&b).unwrap()), logits(&g.run(&b).unwrap()));
            assert_eq!(gv.len(), 9 * k);
            let e = rel_err(&gv, &cv);
            eprintln!("embed {name} k={k}: relative error {e:.2e}");
            assert!(e < EMBED_BUDGET, "embed {name} k={k}: relative error {e}");
        }
    }
}

/// Matmuls reading one input (Q, K and V; gate and up) quantize it once: embed, one quantize
/// pass, two matmuls and the add are five dispatches; an input whose buffer another input's
/// rows displaced is quantized again (the third matmul).
#[test]
fn one_input_is_quantized_once_for_the_matmuls_that_read_it() {
    let gpu = gpu();
    let cpu = CpuExecutor::new(1);
    let k = 64;
    let mut f = FileBuilder::default();
    let x = f.f32("x", &[k as u64, INPUTS as u64], &inputs(k));
    let w1 = f.quant::<BlockQ4_1>("w1", Q4_1, k, k, &rand_vec(k * k, 1)).0;
    let w2 = f.quant::<BlockQ8_0>("w2", Q8_0, k, k, &rand_vec(k * k, 2)).0;
    let w3 = f.quant::<BlockQ5_0>("w3", Q5_0, k, k, &rand_vec(k * k, 3)).0;
    let (map, weights) = f.finish();
    let nodes = vec![
        Op::Embed(x),
        Op::Matmul(0, w1),
        Op::Matmul(0, w2),
        Op::Add(1, 2),
        Op::Matmul(3, w3),
        Op::Matmul(0, w2),
        Op::Add(4, 5),
    ];
    let spec = PlanSpec { hidden: None, weights, nodes, logits: 6, kv: KvSpec { cells: 128, widths: vec![] }, max_rows: 65 };
    let mut c = cpu.compile(map.clone(), spec.clone()).unwrap();
    let mut g = gpu.compile(&&map[..], spec).unwrap();
    for rows in [1, 9] {
        let b = batch((0..rows as u32).collect(), 0);
        let (cv, gv) = (logits(&c.run(&b).unwrap()), logits(&g.run(&b).unwrap()));
        let e = rel_err(&gv, &cv);
        assert!(e < MATMUL_BUDGET, "rows={rows}: relative error {e}");
        // embed, quantize x, 2 matmuls, add, quantize the sum, matmul, quantize x again,
        // matmul, add, and the copy of the logit rows (the logits node is not one row per
        // logit row).
        assert_eq!(g.last_dispatches(), 11, "rows={rows}");
    }
}

/// A weight split into row chunks (a small binding limit) writes each chunk's columns.
#[test]
fn quantized_matmul_over_row_chunks_matches_the_cpu() {
    let cpu = CpuExecutor::new(1);
    // Limits that split the 100 rows into two chunks but hold 9 rows of activations.
    for (name, _, ks, make) in types().into_iter().filter(|t| ["Q4_1", "Q6_K"].contains(&t.0)) {
        let k = ks[ks.len() - 1].min(256);
        let limit = if k == 256 { 16384 } else { 4096 };
        let gpu = GpuExecutor::new(Choice::Any, LimitOverride { max_binding: Some(limit) }).expect("a GPU adapter");
        let (map, mut spec) = matmul_plan(k, 100, &*make);
        spec.max_rows = 9;
        let mut c = cpu.compile(map.clone(), spec.clone()).unwrap();
        let mut g = gpu.compile(&&map[..], spec).unwrap();
        for rows in [1, 9] {
            let b = rows_batch(rows);
            let (cv, gv) = (logits(&c.run(&b).unwrap()), logits(&g.run(&b).unwrap()));
            let e = rel_err(&gv, &cv);
            assert!(e < MATMUL_BUDGET, "{name} rows={rows}: relative error {e}");
        }
    }
}

/// Q5_0 and Q8_0 matmuls (the vector kernel's 1..8 rows and the tiled kernel's) in ggml's
/// order: eight lanes of FMA over the blocks, summed as hsum_float_8 sums them: the CPU's
/// bits exactly, on Gemma 3's 640-wide rows (20 blocks) too. (A few ulp apart before: ~1e-7.)
#[test]
fn ggml_lane_types_match_the_cpu_exactly() {
    let gpu = gpu();
    let cpu = CpuExecutor::new(1);
    for (name, _, ks, make) in types().into_iter().filter(|t| matches!(t.0, "Q5_0" | "Q8_0")) {
        for k in [ks[0], ks[1], 640] {
            for n in WIDTHS {
                let (map, spec) = matmul_plan(k, n, &*make);
                let mut c = cpu.compile(map.clone(), spec.clone()).unwrap();
                let mut g = gpu.compile(&&map[..], spec).unwrap();
                for rows in ROWS {
                    let b = rows_batch(rows);
                    let (cv, gv) = (logits(&c.run(&b).unwrap()), logits(&g.run(&b).unwrap()));
                    let e = if cv == gv { 0.0 } else { rel_err(&gv, &cv) };
                    assert_eq!(e, 0.0, "{name} k={k} n={n} rows={rows}: relative error {e:e}");
                }
            }
        }
    }
}
