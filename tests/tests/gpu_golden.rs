//! The GPU executor (lavapipe in CI) against llama.cpp's greedy goldens, with the rule of
//! `greedy_golden.rs`: the same tokens up to the first step whose top-two margin is < 0.1.
//! These tests need a GPU adapter; `scripts/test.sh` leaves them out, by name, on a machine
//! without Vulkan.

use std::sync::Arc;

use wollama_runtime::{gpu_for, Device, DeviceChoice, LimitOverride, Runtime, Session};
use wollama_tests::*;

fn gpu() -> Arc<wollama_runtime::GpuExecutor> {
    gpu_for(DeviceChoice::Gpu, LimitOverride::default())
        .expect("a GPU adapter (lavapipe counts)")
        .expect("--device gpu never falls back to the CPU")
}

fn open_gpu(model: &str) -> Session {
    Runtime::shared().expect("runtime").open_on(&model_path(model), &Device::Gpu(gpu())).expect("open model on the GPU")
}

/// Steps checked at most per case: lavapipe runs a step in tens of milliseconds.
const MAX_STEPS: usize = 32;

fn golden_on_gpu(model: &str) {
    let mut s = open_gpu(model);
    start(&mut s, 1, 512);
    let report = check_greedy_goldens(&mut s, model, MAX_STEPS);
    eprintln!("{} on {}\n{}", model, gpu().summary(), report.join("\n"));
}

#[test]
fn gpu_smollm2_greedy_matches_llama_cpp_up_to_the_first_near_tie() {
    golden_on_gpu("smollm2");
}

/// Gemma 3 amplifies one ulp anywhere into whole logits: on the CPU alone, the embedding
/// scale one ulp up moves the last prefill row's logits by 6.8e-2 relative, 1.4 at most
/// (`gpu_gemma_probe.rs`: each quantized activation block's rounding flips and the flips
/// compound over 18 layers). So this passes only where every op is the CPU's bit for bit.
/// RMS norm, GELU, rope and the Q5_0/Q8_0 matmuls are (ops.rs, matmul.rs); attention (its
/// K dots, ggml's expf, f64 softmax sum and V lanes: 1.3e-7 on Gemma's first layer) and the
/// Q4_K/Q6_K matmuls (~2e-7: not ggml's AVX2 order) are not yet, and chat_python_sum's step
/// 28 (llama.cpp's margin 0.405) flips: the GPU's logits are still ~1 off at most per step.
#[test]
#[ignore = "not yet met: chat_python_sum flips at step 28 (margin 0.405) until attention and the Q4_K/Q6_K matmuls are the CPU's bit for bit; run with --ignored"]
fn gpu_gemma3_greedy_matches_llama_cpp_up_to_the_first_near_tie() {
    golden_on_gpu("gemma3");
}

/// Three prompts decoded together (prefill rows of several sequences in one batch, then
/// several decode rows per step) give the tokens each gives alone.
#[test]
fn gpu_batched_requests_give_the_tokens_they_give_alone() {
    let g = golden("smollm2");
    let prompts: Vec<Vec<u32>> = g["greedy"].as_array().unwrap().iter().map(|c| ids(&c["prompt_ids"])).collect();
    let reqs: Vec<_> = prompts.iter().map(|p| request(p.clone(), greedy(), 12)).collect();
    let mut s = open_gpu("smollm2");
    start(&mut s, 3, 512);
    let alone: Vec<Vec<u32>> = reqs.iter().map(|r| run_all(&mut s, std::slice::from_ref(r)).remove(0).ids).collect();
    let together: Vec<Vec<u32>> = run_all(&mut s, &reqs).into_iter().map(|o| o.ids).collect();
    assert_eq!(together, alone);
    assert!(alone.iter().all(|ids| ids.len() == 12), "{alone:?}");
}
