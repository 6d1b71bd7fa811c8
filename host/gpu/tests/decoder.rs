//! A small decoder (SmolLM2's shape in miniature, the CPU executor's test model) on the GPU
//! against the CPU executor: logits over prefill and decode steps.

#[path = "../../compute/tests/common/mod.rs"]
mod common;

use common::decoder::{decoder_spec, step, Outputs};
use common::{full_rows, rel_err};
use wollama_compute::cpu::CpuExecutor;
use wollama_gpu::{Choice, GpuExecutor, LimitOverride};

#[test]
fn gpu_decoder_logits_match_the_cpu_through_prefill_and_decode() {
    let gpu = GpuExecutor::new(Choice::Any, LimitOverride::default()).expect("a GPU adapter (lavapipe counts)");
    let (map, spec) = decoder_spec(16, Outputs::Logits);
    let mut cpu_plan = CpuExecutor::new(1).compile(map.clone(), spec.clone()).unwrap();
    let mut gpu_plan = gpu.compile(&&map[..], spec).unwrap();
    let vocab = 200;
    // A 12-row prefill (tiled matmul), then single-token decode steps (vector matmul).
    let prompt: Vec<u32> = (0..12).map(|i| (i * 37 + 5) % 200).collect();
    let mut b = step(&prompt, 0, true, 0);
    b.top_k = vocab;
    let c = full_rows(&cpu_plan.run(&b).unwrap(), vocab as usize);
    let g = full_rows(&gpu_plan.run(&b).unwrap(), vocab as usize);
    for (r, (c, g)) in c.iter().zip(&g).enumerate() {
        let e = rel_err(g, c);
        assert!(e < 2e-2, "prefill row {r}: relative error {e}");
    }
    for t in 0..6u32 {
        let mut b = step(&[(t * 11 + 3) % 200], 12 + t as i32, false, 12 + t as usize);
        b.top_k = vocab;
        let c = full_rows(&cpu_plan.run(&b).unwrap(), vocab as usize);
        let g = full_rows(&gpu_plan.run(&b).unwrap(), vocab as usize);
        let e = rel_err(&g[0], &c[0]);
        eprintln!("decode step {t}: relative error {e}");
        assert!(e < 2e-2, "decode step {t}: relative error {e}");
    }
}
