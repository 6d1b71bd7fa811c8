//! Decode and prefill kernel throughput, out of cache (160 Ki rows) and in L2 (1 Ki rows); a
//! probe to read, not a timed test:
//!
//!   cargo bench -p wollama-compute --bench kernel_speed
//!
//! docs/performance.md keeps what it measured and when. Decode's kernels are timed four rows
//! side by side and row by row, in GB/s of weights; prefill's eight-row kernels in G block pairs
//! (weight block × activation row) per second, Q5_0 in its unsigned form (the one in use), the
//! signed form it replaced, and as a prefill tile runs it (strips unpacked once, read by eight
//! groups).

#[cfg(target_arch = "x86_64")]
fn main() {
    x86::main()
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("kernel_speed measures the AVX2 kernels: x86-64 only");
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use candle_core::quantized::k_quants::{BlockQ4_1, BlockQ5_0, BlockQ8_0, BlockQ8_1, GgmlType};
    use wollama_compute::cpu::probe::{
        dot_q4_1_1x1, dot_q4_1_4x1, dot_q4_1_x8, dot_q5_0_x8, dot_q5_0_x8_signed, dot_q5_0_x8u, dot_q8_0_1x1,
        dot_q8_0_4x1, pack_q8_0_x8, pack_q8_1_x8, quantize_q8_0, quantize_q8_1, unpack_q5_0, Q8x8, U5,
    };

    /// Best of many passes: on a shared machine the fastest pass is the one nobody preempted.
    fn gbps(bytes: usize, f: &mut dyn FnMut()) -> f64 {
        f();
        let t = std::time::Instant::now();
        let mut best = f64::MAX;
        while t.elapsed().as_millis() < 1500 {
            let p = std::time::Instant::now();
            f();
            best = best.min(p.elapsed().as_secs_f64());
        }
        bytes as f64 / best / 1e9
    }

    /// `rows` rows quantized from the same `a`.
    fn weights<T: GgmlType>(rows: usize, a: &[f32]) -> Vec<T> {
        let mut row = vec![T::zeros(); a.len() / T::BLCK_SIZE];
        T::from_float(a, &mut row);
        (0..rows).flat_map(|_| row.iter().cloned()).collect()
    }

    pub fn main() {
        if !std::arch::is_x86_feature_detected!("avx2")
            || !std::arch::is_x86_feature_detected!("fma")
            || !std::arch::is_x86_feature_detected!("f16c")
        {
            eprintln!("kernel_speed measures the AVX2 kernels; this CPU lacks AVX2, FMA or F16C");
            return;
        }
        let k = 576;
        let qb = k / 32;
        let a: Vec<f32> = (0..k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let mut q81 = vec![BlockQ8_1::zeros(); qb];
        quantize_q8_1(&a, &mut q81);
        let mut q80 = vec![BlockQ8_0::zeros(); qb];
        quantize_q8_0(&a, &mut q80);
        for rows in [1024usize, 160 * 1024] {
            let w41: Vec<BlockQ4_1> = weights(rows, &a);
            let w80: Vec<BlockQ8_0> = weights(rows, &a);
            let mut sink = 0f32;
            let g41 = gbps(rows * qb * 20, &mut || {
                for j in (0..rows).step_by(4) {
                    let w = std::array::from_fn(|c| &w41[(j + c) * qb..(j + c + 1) * qb]);
                    sink += dot_q4_1_4x1(w, &q81)[0];
                }
            });
            let g41s = gbps(rows * qb * 20, &mut || {
                for j in 0..rows {
                    sink += dot_q4_1_1x1(&w41[j * qb..(j + 1) * qb], &q81);
                }
            });
            eprintln!("{rows} rows: q4_1 row by row {g41s:.2} GB/s");
            let g80 = gbps(rows * qb * 34, &mut || {
                for j in (0..rows).step_by(4) {
                    let w = std::array::from_fn(|c| &w80[(j + c) * qb..(j + c + 1) * qb]);
                    sink += dot_q8_0_4x1(w, &q80)[0];
                }
            });
            let g80s = gbps(rows * qb * 34, &mut || {
                for j in 0..rows {
                    sink += dot_q8_0_1x1(&w80[j * qb..(j + 1) * qb], &q80);
                }
            });
            eprintln!("{rows} rows: q4_1 {g41:.2} GB/s, q8_0 {g80:.2} GB/s, q8_0 row by row {g80s:.2} GB/s ({sink})");
            // Prefill: one weight row × eight packed activation rows, in block pairs per ns.
            let rows8: [&[BlockQ8_1]; 8] = std::array::from_fn(|_| &q81[..]);
            let zero = Q8x8::ZERO;
            let mut packed = vec![zero; qb];
            pack_q8_1_x8(rows8, &mut packed);
            let g = gbps(rows * qb * 8, &mut || {
                for j in 0..rows {
                    sink += dot_q4_1_x8(&w41[j * qb..(j + 1) * qb], rows8, &packed)[0];
                }
            });
            eprintln!("{rows} rows: q4_1 x8 prefill {g:.2} G block pairs/s ({sink})");
            let w50: Vec<BlockQ5_0> = weights(rows, &a);
            let rows80: [&[BlockQ8_0]; 8] = std::array::from_fn(|_| &q80[..]);
            pack_q8_0_x8(rows80, &mut packed);
            let gu = gbps(rows * qb * 8, &mut || {
                for j in 0..rows {
                    sink += dot_q5_0_x8(&w50[j * qb..(j + 1) * qb], &packed)[0];
                }
            });
            let gs = gbps(rows * qb * 8, &mut || {
                for j in 0..rows {
                    sink += dot_q5_0_x8_signed(&w50[j * qb..(j + 1) * qb], &packed)[0];
                }
            });
            // As a prefill tile runs it: strips of 20 rows unpacked once, then read by eight
            // eight-row groups (the unpack's cost included).
            let mut u = vec![U5::default(); 20 * qb];
            let gp = gbps(rows * qb * 8 * 8, &mut || {
                for s0 in (0..rows).step_by(20) {
                    let s1 = (s0 + 20).min(rows);
                    for j in s0..s1 {
                        unpack_q5_0(&w50[j * qb..(j + 1) * qb], &mut u[(j - s0) * qb..(j - s0 + 1) * qb]);
                    }
                    for _group in 0..8 {
                        for j in s0..s1 {
                            sink += dot_q5_0_x8u(&u[(j - s0) * qb..(j - s0 + 1) * qb], &packed)[0];
                        }
                    }
                }
            });
            eprintln!(
                "{rows} rows: q5_0 x8 prefill unsigned {gu:.2}, signed {gs:.2}, unpacked strips {gp:.2} G block pairs/s ({sink})"
            );
        }
    }
}
