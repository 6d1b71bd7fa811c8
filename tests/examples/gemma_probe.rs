//! Gemma 3's real plan, truncated at a node, on the CPU and GPU executors: each node's
//! output over a prefill of the golden's `chat_python_sum` prompt, the logits' error per
//! decode step, and the CPU's own sensitivity to one ulp. A probe for the GPU executor's
//! exactness work, run by hand:
//! `cargo run --release -p wollama-tests --example gemma_probe -- nodes|decode|sensitivity`
//! (`GEMMA_NODES=a..b`, `GEMMA_STEPS=n`, `GEMMA_NODE=i` narrow it).

use std::sync::Arc;

use memmap2::Mmap;
use wollama_compute::cpu::CpuExecutor;
use wollama_gpu::{Choice, GpuExecutor, LimitOverride};
use wollama_plan::{Batch, PlanSpec};
use wollama_tests::*;

fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt() as f32
}

fn batch(tokens: Vec<u32>) -> Batch {
    Batch::whole_sequence(tokens, 0)
}

/// Gemma 3's decoder plan as the guest compiles it (no hidden output), the file mapped, and a
/// golden case's prompt and generated ids.
fn gemma(case: &str) -> (Arc<Mmap>, PlanSpec, Vec<u32>, Vec<u32>) {
    let path = model_path("gemma3");
    let mut s = open("gemma3", 1);
    start(&mut s, 1, 512);
    let mut spec: PlanSpec = s.plan_specs().into_iter().find(|p| !p.is_embedding()).expect("a decoder plan");
    spec.hidden = None;
    // SAFETY: the test model is not modified while mapped.
    let map = Arc::new(unsafe { Mmap::map(&std::fs::File::open(&path).unwrap()).unwrap() });
    let g = golden("gemma3");
    let case = g["greedy"].as_array().unwrap().iter().find(|c| c["name"] == case).expect("the golden case");
    (map, spec, ids(&case["prompt_ids"]), ids(&case["generated_ids"]))
}

fn gpu_gemma3_node_errors() {
    let (map, spec, prompt, _) = gemma("chat_python_sum");
    for (i, n) in spec.nodes.iter().enumerate().take(40) {
        eprintln!("{i}: {n:?}");
    }
    eprintln!("nodes {} logits {} kv {:?}", spec.nodes.len(), spec.logits, spec.kv);
    let gpu = GpuExecutor::new(Choice::Any, LimitOverride::default()).unwrap();
    let range = std::env::var("GEMMA_NODES").unwrap_or_else(|_| "0..30".into());
    let (a, b) = range.split_once("..").unwrap();
    let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
    let cpu = CpuExecutor::new(2);
    for i in a..b.min(spec.nodes.len()) {
        let mut t = spec.clone();
        t.nodes.truncate(i + 1);
        t.logits = i as u32;
        let mut cp = cpu.compile(map.clone(), t.clone()).unwrap();
        let mut gp = gpu.compile(&&map[..], t).unwrap();
        let bt = batch(prompt.clone());
        let c = cp.run(&bt).unwrap();
        let gg = gp.run(&bt).unwrap();
        let errs: Vec<f32> = c.iter().zip(&gg).map(|(c, g)| rel_err(&g.logits, &c.logits)).collect();
        let max = errs.iter().cloned().fold(0f32, f32::max);
        let worst = errs.iter().position(|&e| e == max).unwrap_or(0);
        let maxabs = c[worst].logits.iter().zip(&gg[worst].logits).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        eprintln!("node {i} {:?}: rows {} max rel {max:.3e} (row {worst}, max abs {maxabs:.3e}) mean {:.3e}", spec.nodes[i], c.len(), errs.iter().sum::<f32>() / errs.len() as f32);
    }
}

/// The whole plan over the prefill and then decode steps of the golden's tokens: each step's
/// logits on both executors.
fn gpu_gemma3_decode_errors() {
    let name = std::env::var("GEMMA_CASE").unwrap_or_else(|_| "chat_python_sum".into());
    let (map, mut spec, prompt, want) = gemma(&name);
    if let Ok(i) = std::env::var("GEMMA_NODE") {
        let i: usize = i.parse().unwrap();
        spec.nodes.truncate(i + 1);
        spec.logits = i as u32;
    }
    let steps: usize = std::env::var("GEMMA_STEPS").map(|v| v.parse().unwrap()).unwrap_or(30);
    let gpu = GpuExecutor::new(Choice::Any, LimitOverride::default()).unwrap();
    let mut cp = CpuExecutor::new(2).compile(map.clone(), spec.clone()).unwrap();
    let mut gp = gpu.compile(&&map[..], spec).unwrap();
    let mut toks = prompt.clone();
    let mut bt = batch(prompt.clone());
    bt.logit_rows = vec![prompt.len() as u32 - 1];
    bt.bias = vec![vec![]];
    for step in 0..=steps {
        let c = cp.run(&bt).unwrap();
        let gg = gp.run(&bt).unwrap();
        let (c, gg) = (&c[0].logits, &gg[0].logits);
        let top2 = |v: &[f32]| {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
            (idx[0], v[idx[0]], idx[1], v[idx[1]])
        };
        let maxabs = c.iter().zip(gg).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        eprintln!("step {step}: rel {:.3e} max abs {maxabs:.3e} cpu {:?} gpu {:?}", rel_err(gg, c), top2(c), top2(gg));
        if step == steps {
            break;
        }
        let Some(&next) = want.get(step) else { break };
        let n = toks.len();
        toks.push(next);
        bt = batch(vec![next]);
        bt.positions = vec![n as i32];
        bt.write_cells = vec![n as u32];
        bt.cell_pos = (0..=n as i32).collect();
        bt.cell_seqs = vec![1; n + 1];
        bt.logit_rows = vec![0];
    }
}

/// The CPU against itself with the embedding scale one ulp off: how far a 1e-7 difference
/// carries to the logits (the model's own sensitivity).
fn gemma3_cpu_sensitivity() {
    let (map, spec, prompt, _) = gemma("chat_python_sum");
    let mut other = spec.clone();
    if let wollama_plan::Op::Scale(x, f) = other.nodes[1] {
        other.nodes[1] = wollama_plan::Op::Scale(x, f32::from_bits(f.to_bits() + 1));
    }
    let cpu = CpuExecutor::new(2);
    let mut a = cpu.compile(map.clone(), spec).unwrap();
    let mut b = cpu.compile(map.clone(), other).unwrap();
    let mut bt = batch(prompt.clone());
    bt.logit_rows = vec![prompt.len() as u32 - 1];
    bt.bias = vec![vec![]];
    let (x, y) = (a.run(&bt).unwrap(), b.run(&bt).unwrap());
    let maxabs = x[0].logits.iter().zip(&y[0].logits).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    eprintln!("cpu vs cpu with the scale one ulp up: rel {:.3e} max abs {maxabs:.3e}", rel_err(&y[0].logits, &x[0].logits));
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("nodes") => gpu_gemma3_node_errors(),
        Some("decode") => gpu_gemma3_decode_errors(),
        Some("sensitivity") => gemma3_cpu_sensitivity(),
        _ => eprintln!("usage: gemma_probe nodes|decode|sensitivity"),
    }
}
