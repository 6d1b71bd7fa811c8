//! Quick matvec timing through the public API (not a test):
//!
//!   cargo bench -p wollama-compute --bench matvec
//!
//! For a 576×N weight in Q4_1 and Q8_0 (N from `MATVEC_N`: 1536 by default, SmolLM2's FFN
//! up/gate shape, which stays in L2; 49152 for its LM head, which streams from memory), with 1
//! and 2 threads, once the weights are on their huge-page copy: µs per single-row pass of a plan Embed -> SelectRows -> Matmul, minus the same
//! plan without the matmul (its fixed cost is printed too). Also a 64-row pass (prefill).

use std::sync::Arc;
use std::time::Instant;

use candle_core::quantized::k_quants::{BlockQ4_1, BlockQ8_0, GgmlType};
use memmap2::MmapMut;
use wollama_compute::cpu::{CpuExecutor, CpuPlan};
use wollama_plan::{Batch, KvSpec, Op, PlanSpec, Weight};

const K: usize = 576;
fn n() -> usize {
    std::env::var("MATVEC_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1536)
}

fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn bytes<T>(v: &[T]) -> Vec<u8> {
    // SAFETY: plain data viewed as bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)).to_vec() }
}

fn plan<T: GgmlType>(ty: u32, threads: usize, with_matmul: bool) -> CpuPlan {
    let n = n();
    let x = rand_vec(K * 64, 1);
    let mut blocks = vec![T::zeros(); K * n / T::BLCK_SIZE];
    T::from_float(&rand_vec(K * n, 2), &mut blocks);
    let (xb, wb) = (bytes(&x), bytes(&blocks));
    let w_off = xb.len().div_ceil(64) * 64;
    let mut m = MmapMut::map_anon(w_off + wb.len()).unwrap();
    m[..xb.len()].copy_from_slice(&xb);
    m[w_off..].copy_from_slice(&wb);
    let map = Arc::new(m.make_read_only().unwrap());
    let weights = vec![
        Weight {
            name: "x".into(),
            ggml_type: 0,
            shape: vec![K as u64, 64],
            offset: 0,
        },
        Weight {
            name: "w".into(),
            ggml_type: ty,
            shape: vec![K as u64, n as u64],
            offset: w_off as u64,
        },
    ];
    let nodes = if with_matmul {
        vec![Op::Embed(0), Op::Matmul(0, 1), Op::SelectRows(1)]
    } else {
        vec![Op::Embed(0), Op::SelectRows(0)]
    };
    let spec = PlanSpec {
        hidden: None,
        weights,
        logits: (nodes.len() - 1) as u32,
        nodes,
        kv: KvSpec {
            cells: 64,
            widths: vec![],
        },
        max_rows: 64,
    };
    let mut p = CpuExecutor::new(threads).compile(map, spec).unwrap();
    // The first pass starts the copy.
    p.run(&batch(1)).unwrap();
    let t = Instant::now();
    while !p.weights_copied() && t.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    p
}

fn batch(rows: usize) -> Batch {
    Batch {
        tokens: (0..rows as u32).collect(),
        positions: (0..rows as i32).collect(),
        seqs: vec![0; rows],
        write_cells: (0..rows as u32).collect(),
        cell_pos: vec![],
        cell_seqs: vec![],
        logit_rows: vec![0],
        bias: vec![vec![]],
        top_k: 1,
        ..Default::default()
    }
}

/// (fastest, median) µs of `iters` runs. On a machine shared with other work the fastest
/// run is the better estimate of the kernel itself.
fn time(p: &mut CpuPlan, b: &Batch, iters: usize) -> (f64, f64) {
    for _ in 0..iters / 10 + 1 {
        p.run(b).unwrap();
    }
    let mut t: Vec<f64> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            p.run(b).unwrap();
            s.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (t[0], t[iters / 2])
}

fn main() {
    let n = n();
    println!("matvec {K}x{n}: µs per pass, fastest / median of the runs, minus the same plan without the matmul");
    for (name, ty) in [("Q4_1", 3u32), ("Q8_0", 8)] {
        for threads in [1, 2] {
            let mk = |m| {
                if ty == 3 {
                    plan::<BlockQ4_1>(ty, threads, m)
                } else {
                    plan::<BlockQ8_0>(ty, threads, m)
                }
            };
            let (mut with, mut without) = (mk(true), mk(false));
            let base = time(&mut without, &batch(1), 2000);
            let one = time(&mut with, &batch(1), 2000);
            let base64 = time(&mut without, &batch(64), 100);
            let many = time(&mut with, &batch(64), 100);
            let (one, one_med) = (one.0 - base.0, one.1 - base.1);
            let (many, many_med) = (many.0 - base64.0, many.1 - base64.1);
            let bytes_per_weight = if ty == 3 { 20.0 / 32.0 } else { 34.0 / 32.0 };
            let gbs = (K * n) as f64 * bytes_per_weight / one / 1e3;
            println!(
                "{name} {threads} thread(s): 1 row {one:6.1} / {one_med:6.1} µs ({gbs:4.1} GB/s of weights)   \
                 64 rows {many:7.1} / {many_med:7.1} µs ({:.1} µs/row)",
                many / 64.0
            );
        }
    }
}
