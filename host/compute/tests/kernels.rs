//! Matmul and Embed for every supported weight type, through compiled plans, against f32
//! references built from candle's own dequantization (llama.cpp's test-backend-ops idea with
//! the CPU executor as the device under test).

mod common;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use common::*;
use half::{bf16, f16};
use wollama_compute::cpu::CpuExecutor;
use wollama_plan::{KvSpec, Op, PlanSpec};

/// x · Wᵀ for `rows` activation rows through a plan; returns (result, f32 reference).
fn matmul_case<T: GgmlType>(ty: u32, k: usize, n: usize, rows: usize, threads: usize) -> (Vec<f32>, Vec<f32>) {
    let mut f = FileBuilder::default();
    let x = rand_vec(k * rows, 2);
    let table = f.f32("x", &[k as u64, rows as u64], &x);
    // Rows of different scales, as real weights have.
    let w: Vec<f32> = rand_vec(k * n, 1)
        .iter()
        .enumerate()
        .map(|(i, v)| v * (1.0 + (i / k % 5) as f32))
        .collect();
    let (wi, wq) = f.quant::<T>("w", ty, k, n, &w);
    let (map, weights) = f.finish();
    let spec = PlanSpec {
        hidden: None,
        weights,
        // The matmul sees all rows (the multi-row path), then rows are selected.
        nodes: vec![Op::Embed(table), Op::Matmul(0, wi), Op::SelectRows(1)],
        logits: 2,
        kv: KvSpec {
            cells: 256,
            widths: vec![],
        },
        max_rows: rows as u32,
    };
    let mut plan = CpuExecutor::new(threads).compile(map, spec).unwrap();
    assert_eq!(plan.vocab(), n as u32);
    let out = plan.run(&batch((0..rows as u32).collect(), n as u32)).unwrap();
    let got: Vec<f32> = full_rows(&out, n).concat();
    let mut want = vec![0f32; rows * n];
    for r in 0..rows {
        for j in 0..n {
            want[r * n + j] = (0..k).map(|i| x[r * k + i] as f64 * wq[j * k + i] as f64).sum::<f64>() as f32;
        }
    }
    (got, want)
}

type Case = (&'static str, f32, fn(usize) -> (Vec<f32>, Vec<f32>));

#[test]
fn matmul_every_type_against_f32() {
    // The reference uses the dequantized weights, so the error is the activation's rounding
    // to the type's dot partner (Q8_0/Q8_1/Q8_K, f16, bf16) alone. 7 rows: the 4-row kernel
    // and the single-row remainder.
    let cases: [Case; 13] = [
        ("F32", 1e-6, |t| matmul_case::<f32>(0, 96, 40, 7, t)),
        ("F16", 1e-3, |t| matmul_case::<f16>(1, 96, 40, 7, t)),
        ("BF16", 8e-3, |t| matmul_case::<bf16>(30, 96, 40, 7, t)),
        ("Q4_0", 0.01, |t| matmul_case::<BlockQ4_0>(2, 96, 40, 7, t)),
        ("Q4_1", 0.01, |t| matmul_case::<BlockQ4_1>(3, 96, 40, 7, t)),
        ("Q5_0", 0.01, |t| matmul_case::<BlockQ5_0>(6, 96, 40, 7, t)),
        ("Q5_1", 0.01, |t| matmul_case::<BlockQ5_1>(7, 96, 40, 7, t)),
        ("Q8_0", 0.01, |t| matmul_case::<BlockQ8_0>(8, 96, 40, 7, t)),
        ("Q2_K", 0.01, |t| matmul_case::<BlockQ2K>(10, 512, 24, 7, t)),
        ("Q3_K", 0.01, |t| matmul_case::<BlockQ3K>(11, 512, 24, 7, t)),
        ("Q4_K", 0.01, |t| matmul_case::<BlockQ4K>(12, 512, 24, 7, t)),
        ("Q5_K", 0.01, |t| matmul_case::<BlockQ5K>(13, 512, 24, 7, t)),
        ("Q6_K", 0.01, |t| matmul_case::<BlockQ6K>(14, 512, 24, 7, t)),
    ];
    for (name, budget, case) in cases {
        let (got1, want) = case(1);
        let e = rel_err(&got1, &want);
        assert!(e < budget, "{name}: relative error {e} over {budget}");
        assert!(e > 0.0 || name == "F32", "{name}: suspiciously exact");
        for t in [2, 3] {
            let (got, _) = case(t);
            assert_eq!(got1, got, "{name}: 1 and {t} threads differ");
        }
    }
}

/// A matmul case by (activation rows, threads): its result and the f32 reference.
type MatmulCase = fn(usize, usize) -> (Vec<f32>, Vec<f32>);

#[test]
fn prefill_tiles_give_the_bits_of_the_small_batch_kernels() {
    // 40 rows take the prefill paths (8-row kernels, Q5_0's unpacked strips from 16 rows up,
    // several strips and column chunks); 7 rows take the 2×4 tiles and single rows, each of
    // which is ggml's arithmetic per pair (unit tests in cpu/quant.rs and cpu/kquant.rs).
    // Row r of x is the same in both, so every shared row must match to the bit.
    let cases: [(&str, MatmulCase); 5] = [
        ("Q4_1", |rows, t| matmul_case::<BlockQ4_1>(3, 96, 400, rows, t)),
        ("Q5_0", |rows, t| matmul_case::<BlockQ5_0>(6, 96, 400, rows, t)),
        ("Q8_0", |rows, t| matmul_case::<BlockQ8_0>(8, 96, 400, rows, t)),
        ("Q4_K", |rows, t| matmul_case::<BlockQ4K>(12, 512, 72, rows, t)),
        ("Q6_K", |rows, t| matmul_case::<BlockQ6K>(14, 512, 72, rows, t)),
    ];
    for (name, case) in cases {
        let (small, _) = case(7, 1);
        let n = small.len() / 7;
        for t in [1, 2] {
            let (big, want) = case(40, t);
            assert!(rel_err(&big, &want) < 0.01, "{name}: 40 rows against f32");
            assert_eq!(&big[..7 * n], &small[..], "{name}: 40-row tiles ({t} threads) differ from 7-row ones");
        }
    }
}

#[test]
fn quantization_error_of_the_weights_themselves_is_sane() {
    // The same products against the *original* f32 weights: a loose check that the weight
    // bytes are interpreted as the right type at all (a mismatched layout gives errors ~1).
    let k = 512;
    let n = 16;
    for (name, ty, budget) in [
        ("Q2_K", 10u32, 0.5f32),
        ("Q4_1", 3, 0.15),
        ("Q8_0", 8, 0.02),
        ("Q6_K", 14, 0.05),
    ] {
        let mut f = FileBuilder::default();
        let x = rand_vec(k, 5);
        let table = f.f32("x", &[k as u64, 1], &x);
        let w = rand_vec(k * n, 6);
        let wi = match ty {
            10 => f.quant::<BlockQ2K>("w", ty, k, n, &w).0,
            3 => f.quant::<BlockQ4_1>("w", ty, k, n, &w).0,
            8 => f.quant::<BlockQ8_0>("w", ty, k, n, &w).0,
            _ => f.quant::<BlockQ6K>("w", ty, k, n, &w).0,
        };
        let (map, weights) = f.finish();
        let spec = PlanSpec {
            hidden: None,
            weights,
            nodes: vec![Op::Embed(table), Op::SelectRows(0), Op::Matmul(1, wi)],
            logits: 2,
            kv: KvSpec {
                cells: 256,
                widths: vec![],
            },
            max_rows: 1,
        };
        let mut plan = CpuExecutor::new(2).compile(map, spec).unwrap();
        let got = full_rows(&plan.run(&batch(vec![0], n as u32)).unwrap(), n).concat();
        let want: Vec<f32> = (0..n).map(|j| (0..k).map(|i| x[i] * w[j * k + i]).sum()).collect();
        let e = rel_err(&got, &want);
        assert!(e < budget, "{name}: {e}");
    }
}

fn embed_case<T: GgmlType>(ty: u32, k: usize) {
    let vocab = 9;
    let mut f = FileBuilder::default();
    let (wi, deq) = f.quant::<T>("token_embd.weight", ty, k, vocab, &rand_vec(k * vocab, 7));
    let (map, weights) = f.finish();
    let spec = PlanSpec {
        hidden: None,
        weights,
        nodes: vec![Op::Embed(wi), Op::SelectRows(0)],
        logits: 1,
        kv: KvSpec {
            cells: 256,
            widths: vec![],
        },
        max_rows: 4,
    };
    let mut plan = CpuExecutor::new(2).compile(map, spec).unwrap();
    let tokens = vec![8, 0, 3, 3];
    let rows = full_rows(&plan.run(&batch(tokens.clone(), k as u32)).unwrap(), k);
    for (row, &t) in rows.iter().zip(&tokens) {
        assert_eq!(row, &deq[t as usize * k..(t as usize + 1) * k], "type {ty} token {t}");
    }
}

#[test]
fn embed_every_type_is_exact_dequantization() {
    embed_case::<f32>(0, 64);
    embed_case::<f16>(1, 64);
    embed_case::<bf16>(30, 64);
    embed_case::<BlockQ4_0>(2, 64);
    embed_case::<BlockQ4_1>(3, 64);
    embed_case::<BlockQ5_0>(6, 64);
    embed_case::<BlockQ5_1>(7, 64);
    embed_case::<BlockQ8_0>(8, 64);
    embed_case::<BlockQ2K>(10, 256);
    embed_case::<BlockQ3K>(11, 256);
    embed_case::<BlockQ4K>(12, 256);
    embed_case::<BlockQ5K>(13, 256);
    embed_case::<BlockQ6K>(14, 256);
}

#[test]
fn large_matmul_tiles_cover_every_output() {
    // Enough rows and columns for several row tiles, column chunks and strips.
    let (got, want) = matmul_case::<BlockQ4_1>(3, 576, 300, 150, 3);
    assert!(rel_err(&got, &want) < 0.01);
    // Every single output is close (on the scale of the outputs), not just the aggregate.
    let rms = (want.iter().map(|w| w * w).sum::<f32>() / want.len() as f32).sqrt();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() < 0.05 * rms, "output {i}: {g} vs {w} (rms {rms})");
    }
    let (got, want) = matmul_case::<BlockQ8_0>(8, 64, 5000, 3, 2);
    assert!(rel_err(&got, &want) < 0.01);
}
