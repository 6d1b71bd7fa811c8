//! y = x · Wᵀ for every weight type. The activation rows are quantized once to the type's
//! dot-product partner (Q8_0, Q8_1, Q8_K, f16, ...) exactly as ggml does, then candle's
//! `vec_dot` kernels run over chunks of weight rows (output columns) in parallel.

use candle_core::quantized::k_quants::GgmlType;

use super::kernels::q4_1;
use super::pool::{Pool, SyncPtr};
use super::weights::{View, Weight};

/// Output columns per parallel chunk: small enough to balance two threads, large enough
/// that claiming a chunk costs nothing next to computing it.
const COLS_PER_CHUNK: usize = 16;

/// Below this many multiply-adds a matmul runs on the calling thread: waking a worker
/// costs more than it saves.
const PARALLEL_MIN_MACS: usize = 256 * 1024;

fn run_chunks(pool: &Pool, chunks: usize, macs: usize, task: &(dyn Fn(usize) + Sync)) {
    if macs < PARALLEL_MIN_MACS {
        (0..chunks).for_each(task);
    } else {
        pool.run(chunks, task);
    }
}

pub fn matmul(pool: &Pool, w: &Weight, x: &[f32], rows: usize, y: &mut [f32]) {
    match w {
        Weight::F32(v) => mm(pool, v, x, rows, y),
        Weight::F16(v) => mm(pool, v, x, rows, y),
        Weight::Bf16(v) => mm(pool, v, x, rows, y),
        Weight::Q4_0(v) => mm(pool, v, x, rows, y),
        Weight::Q4_1(v) => mm_q4_1(pool, v, x, rows, y),
        Weight::Q5_0(v) => mm(pool, v, x, rows, y),
        Weight::Q5_1(v) => mm(pool, v, x, rows, y),
        Weight::Q8_0(v) => mm(pool, v, x, rows, y),
        Weight::Q2K(v) => mm(pool, v, x, rows, y),
        Weight::Q3K(v) => mm(pool, v, x, rows, y),
        Weight::Q4K(v) => mm(pool, v, x, rows, y),
        Weight::Q5K(v) => mm(pool, v, x, rows, y),
        Weight::Q6K(v) => mm(pool, v, x, rows, y),
    }
}

fn mm<T: GgmlType>(pool: &Pool, w: &View<T>, x: &[f32], rows: usize, y: &mut [f32]) {
    let (k, n) = (w.k, w.rows);
    debug_assert!(x.len() >= rows * k && y.len() >= rows * n);
    let qb = k / T::VecDotType::BLCK_SIZE;
    let mut q = vec![T::VecDotType::zeros(); rows * qb];
    {
        let qp = SyncPtr(q.as_mut_ptr());
        let quantize = |r: usize| {
            // SAFETY: each task writes only row r of q.
            let dst = unsafe { std::slice::from_raw_parts_mut(qp.get().add(r * qb), qb) };
            T::VecDotType::from_float(&x[r * k..(r + 1) * k], dst);
        };
        if rows >= 8 {
            pool.run(rows, &quantize);
        } else {
            (0..rows).for_each(quantize);
        }
    }
    let yp = SyncPtr(y.as_mut_ptr());
    let chunks = n.div_ceil(COLS_PER_CHUNK);
    let q = &q;
    run_chunks(pool, chunks, rows * n * k, &|c| {
        let cols = c * COLS_PER_CHUNK..((c + 1) * COLS_PER_CHUNK).min(n);
        for r in 0..rows {
            let act = &q[r * qb..(r + 1) * qb];
            for j in cols.clone() {
                let v = T::vec_dot(k, w.row(j), act);
                // SAFETY: column j belongs to this chunk alone.
                unsafe { *yp.get().add(r * n + j) = v };
            }
        }
    });
}

/// Q4_1 with the ggml-exact kernels of `kernels::q4_1`.
fn mm_q4_1(pool: &Pool, w: &View<q4_1::BlockQ4_1>, x: &[f32], rows: usize, y: &mut [f32]) {
    let (k, n) = (w.k, w.rows);
    let qb = k / q4_1::QK;
    let mut q = vec![q4_1::BlockQ8_1::ZERO; rows * qb];
    for r in 0..rows {
        q4_1::quantize_q8_1(&x[r * k..(r + 1) * k], &mut q[r * qb..(r + 1) * qb]);
    }
    let yp = SyncPtr(y.as_mut_ptr());
    let q = &q;
    run_chunks(pool, n.div_ceil(COLS_PER_CHUNK), rows * n * k, &|c| {
        let cols = c * COLS_PER_CHUNK..((c + 1) * COLS_PER_CHUNK).min(n);
        for r in 0..rows {
            let act = &q[r * qb..(r + 1) * qb];
            let mut j = cols.start;
            while j + 4 <= cols.end {
                let v = q4_1::vec_dot_4([w.row(j), w.row(j + 1), w.row(j + 2), w.row(j + 3)], act);
                for (i, x) in v.into_iter().enumerate() {
                    // SAFETY: columns j..j+4 belong to this chunk alone.
                    unsafe { *yp.get().add(r * n + j + i) = x };
                }
                j += 4;
            }
            for j in j..cols.end {
                // SAFETY: column j belongs to this chunk alone.
                unsafe { *yp.get().add(r * n + j) = q4_1::vec_dot(w.row(j), act) };
            }
        }
    });
}
