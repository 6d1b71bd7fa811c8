//! Lavapipe-scale timing of one matmul (SmolLM2-135M's 576 → 1536 projection; 1 row and 64), for
//! before/after comparisons of the matmul kernels: `cargo bench -p wollama-gpu --bench
//! matmul_timing`. A probe to read, not a test.

#[path = "../../compute/tests/common/mod.rs"]
mod common;

use std::time::Instant;

use candle_core::quantized::k_quants::{BlockQ4_1, BlockQ8_0};
use common::*;
use wollama_gpu::{Choice, GpuExecutor, LimitOverride};
use wollama_plan::{KvSpec, Op, PlanSpec};

fn main() {
    let gpu = GpuExecutor::new(Choice::Any, LimitOverride::default()).expect("a GPU adapter");
    let (k, n) = (576usize, 1536usize);
    for (name, ty) in [("Q8_0", Q8_0), ("Q4_1", Q4_1)] {
        let mut f = FileBuilder::default();
        let x = f.f32("x", &[k as u64, 64], &rand_vec(k * 64, 1));
        let data = rand_vec(k * n, 2);
        let w = if ty == Q8_0 { f.quant::<BlockQ8_0>("w", ty, k, n, &data).0 } else { f.quant::<BlockQ4_1>("w", ty, k, n, &data).0 };
        let (map, weights) = f.finish();
        let nodes = vec![Op::Embed(x), Op::Matmul(0, w)];
        let spec = PlanSpec { hidden: None, weights, nodes, logits: 1, kv: KvSpec { cells: 64, widths: vec![] }, max_rows: 64 };
        let mut plan = gpu.compile(&&map[..], spec).unwrap();
        for rows in [1, 64] {
            let mut b = batch((0..rows).collect(), 1);
            b.logit_rows = vec![rows - 1];
            b.bias = vec![vec![]];
            plan.run(&b).unwrap();
            let runs = if rows == 1 { 20 } else { 5 };
            let t0 = Instant::now();
            for _ in 0..runs {
                plan.run(&b).unwrap();
            }
            eprintln!("{name} {k}x{n}, {rows} rows: {:.2} ms per step", t0.elapsed().as_secs_f64() * 1e3 / runs as f64);
        }
    }
}
