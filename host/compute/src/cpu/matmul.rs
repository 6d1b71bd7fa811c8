//! y = x · Wᵀ for every supported weight type.
//!
//! Each activation row is quantized once to the weight type's dot-product partner (Q8_0,
//! Q8_1, Q8_K, f16, bf16 or f32, exactly as ggml picks it), then tiles of (activation rows ×
//! output columns) are spread over the pool. Inside a tile the weight rows of a column strip
//! stay in L1 while up to four activation rows at a time stream past them, so a multi-row batch
//! reads each weight once per strip rather than once per row.

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use half::{bf16, f16};

use super::pool::{Pool, SyncPtr};
use super::kquant;
use super::quant::{self, Q8x8, U5};
use super::weights::{self, with_view, View, Weight};

/// The per-type kernel: candle's by default, ggml-exact replacements where candle differs.
pub trait Kernel: GgmlType {
    /// Quantizes one activation row to the dot-product partner type.
    fn quantize(x: &[f32], out: &mut [Self::VecDotType]) {
        Self::VecDotType::from_float(x, out)
    }

    /// Dot products of C weight rows with R activation rows: out[c][r] = w[c] · a[r].
    fn dots<const C: usize, const R: usize>(k: usize, w: [&[Self]; C], a: [&[Self::VecDotType]; R]) -> [[f32; R]; C] {
        w.map(|w| a.map(|a| Self::vec_dot(k, w, a)))
    }

    /// Whether the type has an 8-row prefill kernel (`dots8`) reading `pack8`'s layout
    /// (without one, multi-row tiles use `dots::<2, 4>`).
    const HAS8: bool = false;

    /// Whether `dots8` reads `pack8`'s layout (else the packed slice it gets is empty).
    const PACKS8: bool = false;

    /// Packs eight activation rows block by block for `dots8`.
    fn pack8(_a: [&[Self::VecDotType]; 8], _out: &mut [Q8x8]) {}

    /// One weight row against eight activation rows (`a`, and `packed` by `pack8`).
    fn dots8(k: usize, w: &[Self], a: [&[Self::VecDotType]; 8], _packed: &[Q8x8]) -> [f32; 8] {
        Self::dots(k, [w], a)[0]
    }

    /// Decode: `rows` (whole weight rows, contiguous) against one activation row, read as
    /// four equal runs of rows, one row of each per four-row call, so that each of the call's
    /// rows continues a run of consecutive rows: one sequential stream per row, which the
    /// hardware prefetcher follows (rows j..j+3 side by side are four streams of one row
    /// each). The rows past the last whole run go one by one. out[j] = row j · a.
    fn dots_runs(k: usize, rows: &[Self], a: &[Self::VecDotType], out: &mut [f32]) {
        let b = k / Self::BLCK_SIZE;
        runs_by_row(k, rows.len() / b, |j| &rows[j * b..(j + 1) * b], a, out)
    }

    /// Whether a prefill tile unpacks its weight strips once (`unpack`) for an eight-row
    /// kernel on unpacked rows (`dots8_unpacked`), instead of `dots8` unpacking each block
    /// once per eight-row group.
    const UNPACKS: bool = false;

    /// One weight row unpacked, one `U5` per block.
    fn unpack(_w: &[Self], _out: &mut [U5]) {
        unreachable!("only types with UNPACKS unpack")
    }

    /// `dots8` on a row `unpack` unpacked (same bits).
    fn dots8_unpacked(_w: &[U5], _packed: &[Q8x8]) -> [f32; 8] {
        unreachable!("only types with UNPACKS unpack")
    }
}

/// `Kernel::dots_runs` on `n` rows that `row` gives one by one, through the four-row tile.
fn runs_by_row<'a, T: Kernel + 'a>(k: usize, n: usize, row: impl Fn(usize) -> &'a [T], a: &[T::VecDotType], out: &mut [f32]) {
    quant::four_runs(n, row, out, |w| T::dots(k, w, [a]).map(|r| r[0]), |w| T::dots(k, [w], [a])[0][0])
}

impl Kernel for f32 {}
impl Kernel for f16 {}
impl Kernel for bf16 {}

impl Kernel for BlockQ4_0 {
    fn quantize(x: &[f32], out: &mut [BlockQ8_0]) {
        quant::quantize_q8_0(x, out)
    }
}
/// The legacy block types with ggml-exact tiles and packed 8-row prefill kernels.
macro_rules! packed_kernel {
    ($($t:ty: $quantize:path, $tile:path, $pack:path, $eight:path, $runs:path);*) => {$(
        impl Kernel for $t {
            fn quantize(x: &[f32], out: &mut [Self::VecDotType]) {
                $quantize(x, out)
            }
            fn dots<const C: usize, const R: usize>(_k: usize, w: [&[Self]; C], a: [&[Self::VecDotType]; R]) -> [[f32; R]; C] {
                $tile(w, a)
            }
            const HAS8: bool = true;
            const PACKS8: bool = true;
            fn pack8(a: [&[Self::VecDotType]; 8], out: &mut [Q8x8]) {
                $pack(a, out)
            }
            fn dots8(_k: usize, w: &[Self], a: [&[Self::VecDotType]; 8], packed: &[Q8x8]) -> [f32; 8] {
                $eight(w, a, packed)
            }
            fn dots_runs(k: usize, rows: &[Self], a: &[Self::VecDotType], out: &mut [f32]) {
                $runs(rows, k / Self::BLCK_SIZE, a, out)
            }
        }
    )*};
}
impl Kernel for BlockQ5_0 {
    fn quantize(x: &[f32], out: &mut [BlockQ8_0]) {
        quant::quantize_q8_0(x, out)
    }
    fn dots<const C: usize, const R: usize>(_k: usize, w: [&[Self]; C], a: [&[BlockQ8_0]; R]) -> [[f32; R]; C] {
        quant::dot_q5_0(w, a)
    }
    const HAS8: bool = true;
    const PACKS8: bool = true;
    fn pack8(a: [&[BlockQ8_0]; 8], out: &mut [Q8x8]) {
        quant::pack_q8_0_x8(a, out)
    }
    fn dots8(_k: usize, w: &[Self], a: [&[BlockQ8_0]; 8], packed: &[Q8x8]) -> [f32; 8] {
        quant::dot_q5_0_x8(w, a, packed)
    }
    const UNPACKS: bool = true;
    fn unpack(w: &[Self], out: &mut [U5]) {
        quant::unpack_q5_0(w, out)
    }
    fn dots8_unpacked(w: &[U5], packed: &[Q8x8]) -> [f32; 8] {
        quant::dot_q5_0_x8u(w, packed)
    }
}
packed_kernel!(
    BlockQ8_0: quant::quantize_q8_0, quant::dot_q8_0, quant::pack_q8_0_x8, quant::dot_q8_0_x8, quant::dot_q8_0_runs;
    BlockQ4_1: quant::quantize_q8_1, quant::dot_q4_1, quant::pack_q8_1_x8, quant::dot_q4_1_x8, quant::dot_q4_1_runs
);
impl Kernel for BlockQ5_1 {
    fn quantize(x: &[f32], out: &mut [candle_core::quantized::k_quants::BlockQ8_1]) {
        quant::quantize_q8_1(x, out)
    }
}
macro_rules! k_quant_kernel {
    ($($t:ty $(=> $tile:path)?),*) => {$(
        impl Kernel for $t {
            fn quantize(x: &[f32], out: &mut [candle_core::quantized::k_quants::BlockQ8K]) {
                quant::quantize_q8k(x, out)
            }
            $(
            fn dots<const C: usize, const R: usize>(
                k: usize,
                w: [&[Self]; C],
                a: [&[Self::VecDotType]; R],
            ) -> [[f32; R]; C] {
                $tile(k, w, a)
            }
            // The tile kernels unpack each weight super-block once for all R rows, so eight
            // rows at a time halve that work against 2 × 4 tiles (no packing needed).
            const HAS8: bool = true;
            fn dots8(k: usize, w: &[Self], a: [&[Self::VecDotType]; 8], _packed: &[Q8x8]) -> [f32; 8] {
                $tile(k, [w], a)[0]
            }
            )?
        }
    )*};
}
k_quant_kernel!(BlockQ2K, BlockQ3K, BlockQ4K => kquant::dot_q4k, BlockQ5K, BlockQ6K => kquant::dot_q6k);

/// Bytes of quantized activations a matmul with this weight needs for `rows` rows.
pub fn scratch_bytes(w: &Weight, rows: usize) -> usize {
    with_view!(w, v, T => scratch_layout::<T>(rows, v.blocks_per_row()).2 * 8)
}

/// The matmul scratch in 8-byte words: (activation words, packed 8-row blocks, total words).
fn scratch_layout<T: Kernel>(rows: usize, qb: usize) -> (usize, usize, usize) {
    let act_words = (rows * qb * std::mem::size_of::<<T as GgmlType>::VecDotType>()).div_ceil(8);
    let packed = if T::PACKS8 { (rows / 8) * qb } else { 0 };
    (act_words, packed, act_words + (packed * std::mem::size_of::<Q8x8>()).div_ceil(8))
}

/// Weight bytes per tile strip: sized to stay in L1 next to the activation rows.
const STRIP_BYTES: usize = 16 * 1024;
/// Activation rows per tile (bounded so a tile's rows stay in L2).
const ROW_TILE: usize = 64;
/// Column chunks per pool thread: enough for the pool to balance the load when a thread
/// runs slow.
const CHUNKS_PER_THREAD: usize = 8;
/// The same for a matmul of fewer than four rows (decode), which streams every weight once
/// from memory: each chunk restarts each of its four row streams (see the single-row loop),
/// so fewer, longer chunks read faster; two per thread still leaves the pool room to balance
/// under contention (the paired runs are in docs/performance.md).
const DECODE_CHUNKS_PER_THREAD: usize = 2;
thread_local! {
    /// Each pool thread's unpacked weight strip (`Kernel::unpack`), kept between tiles so
    /// that no step allocates once every thread has seen its widest strip.
    static UNPACKED: std::cell::RefCell<Vec<U5>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// Smallest tile worth a separate claim, in weight blocks × rows (~2-4 µs of work).
const MIN_TILE_WORK: usize = 2048;

/// y[rows, n] = x[rows, k] · Wᵀ. `scratch` holds the quantized activations (8-byte words,
/// sized at compile time by `scratch_bytes`).
pub fn matmul(pool: &Pool, w: &Weight, x: &[f32], rows: usize, y: &mut [f32], scratch: &mut Vec<u64>) {
    with_view!(w, v, T => mm::<T>(pool, &[v], x, rows, &mut [y], scratch))
}

/// Most matmuls one `matmul_group` call runs.
pub const MAX_GROUP: usize = 8;

/// Whether `matmul_group` can run these weights together: one block type and one width.
pub fn groupable(a: &Weight, b: &Weight) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b) && a.dims().0 == b.dims().0
}

/// ys[i][rows, n_i] = x · W_iᵀ for weights that read the same input (`groupable` pairwise,
/// at most MAX_GROUP): the input is quantized once and all their tiles are one pool job, so
/// Q, K and V (or gate and up) cost one synchronisation instead of three.
pub fn matmul_group(pool: &Pool, ws: &[&Weight], x: &[f32], rows: usize, ys: &mut [&mut [f32]], scratch: &mut Vec<u64>) {
    assert!(!ws.is_empty() && ws.len() <= MAX_GROUP && ws.len() == ys.len());
    with_view!(ws[0], v0, T => {
        let views: [&View<T>; MAX_GROUP] = std::array::from_fn(|i| match i {
            0 => v0,
            i if i < ws.len() => weights::typed::<T>(ws[i]).expect("grouped weights share a type"),
            _ => v0,
        });
        mm::<T>(pool, &views[..ws.len()], x, rows, ys, scratch)
    })
}

fn mm<T: Kernel>(pool: &Pool, ws: &[&View<T>], x: &[f32], rows: usize, ys: &mut [&mut [f32]], scratch: &mut Vec<u64>) {
    type A<T> = <T as GgmlType>::VecDotType;
    let k = ws[0].k;
    if rows == 0 {
        return;
    }
    assert!(ws.iter().all(|w| w.k == k), "grouped matmuls share their input width");
    assert!(
        x.len() >= rows * k && ws.iter().zip(ys.iter()).all(|(w, y)| y.len() >= rows * w.rows),
        "matmul buffers too small"
    );
    let qb = ws[0].blocks_per_row();
    let (act_words, packed_len, words) = scratch_layout::<T>(rows, qb);
    if scratch.len() < words {
        scratch.resize(words, 0);
    }
    assert!(std::mem::align_of::<A<T>>() <= 8);
    let (act_scratch, pack_scratch) = scratch.split_at_mut(act_words);
    // SAFETY: the buffer holds at least rows*qb blocks, is 8-aligned, and every block type is
    // plain data valid for any bit pattern (we overwrite all of it before reading).
    let acts: &mut [A<T>] = unsafe { std::slice::from_raw_parts_mut(act_scratch.as_mut_ptr() as *mut A<T>, rows * qb) };
    // SAFETY: as above: Q8x8 is plain data of alignment 4, inside the 8-aligned words after
    // the activations.
    let packed: &mut [Q8x8] =
        unsafe { std::slice::from_raw_parts_mut(pack_scratch.as_mut_ptr() as *mut Q8x8, packed_len) };
    if rows >= 8 {
        let ap = SyncPtr::new(acts);
        pool.run(rows, &|r, _| {
            // SAFETY: chunk r writes only activation row r.
            let dst = unsafe { ap.slice(r * qb, qb) };
            T::quantize(&x[r * k..(r + 1) * k], dst);
        });
    } else {
        for (r, dst) in acts.chunks_exact_mut(qb).enumerate() {
            T::quantize(&x[r * k..(r + 1) * k], dst);
        }
    }
    let acts: &[A<T>] = acts;
    // Groups of eight rows for an 8-row kernel, counted from row 0 (row tiles are multiples
    // of eight rows apart, see below).
    let pack = if T::PACKS8 { qb } else { 0 };
    if pack > 0 {
        for (g, out) in packed.chunks_exact_mut(pack).enumerate() {
            let a = std::array::from_fn(|i| &acts[(8 * g + i) * qb..(8 * g + i + 1) * qb]);
            T::pack8(a, out);
        }
    }
    let packed: &[Q8x8] = packed;

    // Tiling, per matmul: row tiles of up to ROW_TILE rows, column chunks sized so that
    // there are a few chunks per thread (load balance) but each is worth claiming.
    let threads = pool.threads();
    let row_tiles = rows.div_ceil(ROW_TILE);
    // A multiple of 8, so every tile's 8-row groups are the packed groups.
    let tile_rows = rows.div_ceil(row_tiles).next_multiple_of(8);
    let row_tiles = rows.div_ceil(tile_rows);
    let min_cols = MIN_TILE_WORK.div_ceil(qb * tile_rows).max(1);
    let total: usize = ws.iter().map(|w| w.rows).sum();
    // (cols per chunk, column chunks, first task) of each matmul; chunks are sized against
    // the group's total so the pool gets CHUNKS_PER_THREAD per thread in all (decode:
    // DECODE_CHUNKS_PER_THREAD).
    let mut plan = [(0usize, 0usize, 0usize); MAX_GROUP + 1];
    let mut tasks = 0;
    for (m, w) in ws.iter().enumerate() {
        let n = w.rows.max(1);
        let per = if rows < 4 { DECODE_CHUNKS_PER_THREAD } else { CHUNKS_PER_THREAD };
        let want_chunks = ((threads * per) * n).div_ceil(total.max(1)).div_ceil(row_tiles).max(1);
        // Multiples of four columns, so decode's four-row kernel leaves no single rows.
        let cols = n.div_ceil(want_chunks).max(min_cols).next_multiple_of(4).min(n);
        let col_chunks = if w.rows == 0 { 0 } else { n.div_ceil(cols) };
        plan[m] = (cols, col_chunks, tasks);
        tasks += row_tiles * col_chunks;
    }
    plan[ws.len()].2 = tasks;
    // A tile unpacks its strips when it has at least two eight-row groups to share them.
    let unpack = T::UNPACKS && tile_rows >= 16;
    let row_bytes = qb * if unpack { std::mem::size_of::<U5>() } else { std::mem::size_of::<T>() };
    let strip = (STRIP_BYTES / row_bytes.max(1)).max(4) / 4 * 4;

    let yps: [SyncPtr<f32>; MAX_GROUP] =
        std::array::from_fn(|i| SyncPtr(ys.get_mut(i).map_or(std::ptr::null_mut(), |y| y.as_mut_ptr())));
    pool.run(tasks, &|task, _| {
        let m = (0..ws.len()).rfind(|&m| plan[m].2 <= task).expect("task in range");
        let (w, yp, (cols, col_chunks, first)) = (ws[m], &yps[m], plan[m]);
        let n = w.rows;
        let task = task - first;
        let (rt, cc) = (task / col_chunks, task % col_chunks);
        let (r0, r1) = (rt * tile_rows, ((rt + 1) * tile_rows).min(rows));
        // Strips keep weight rows in L1 for several activation rows; a lone row (decode)
        // reads each weight once, so its whole chunk is one strip.
        let strip = if r1 - r0 < 4 { cols } else { strip.min(cols) };
        let (c0, c1) = (cc * cols, ((cc + 1) * cols).min(n));
        let act = |r: usize| &acts[r * qb..(r + 1) * qb];
        // SAFETY (all writes below): element (r, j) belongs to exactly one tile.
        let put = |r: usize, j: usize, v: f32| unsafe { yp.write(r * n + j, v) };
        let mut s0 = c0;
        while s0 < c1 {
            let s1 = (s0 + strip).min(c1);
            let mut r = r0;
            if unpack && r + 16 <= r1 {
                UNPACKED.with_borrow_mut(|u| {
                    if u.len() < (s1 - s0) * qb {
                        u.resize((s1 - s0) * qb, U5::default());
                    }
                    for j in s0..s1 {
                        T::unpack(w.row(j), &mut u[(j - s0) * qb..(j - s0 + 1) * qb]);
                    }
                    while r + 8 <= r1 {
                        let p = &packed[(r / 8) * pack..(r / 8 + 1) * pack];
                        for j in s0..s1 {
                            let row = &u[(j - s0) * qb..(j - s0 + 1) * qb];
                            for (i, v) in T::dots8_unpacked(row, p).into_iter().enumerate() {
                                put(r + i, j, v);
                            }
                        }
                        r += 8;
                    }
                });
            }
            // 1 weight row × 8 activation rows where the type has such a kernel, else 2
            // weight rows × 4 activation rows per call, then the leftovers.
            while T::HAS8 && r + 8 <= r1 {
                let a = std::array::from_fn(|i| act(r + i));
                let p = &packed[(r / 8) * pack..(r / 8 + 1) * pack];
                for j in s0..s1 {
                    for (i, v) in T::dots8(k, w.row(j), a, p).into_iter().enumerate() {
                        put(r + i, j, v);
                    }
                }
                r += 8;
            }
            while r + 4 <= r1 {
                let a = [act(r), act(r + 1), act(r + 2), act(r + 3)];
                let mut j = s0;
                while j + 2 <= s1 {
                    let d = T::dots(k, [w.row(j), w.row(j + 1)], a);
                    for (c, col) in d.iter().enumerate() {
                        for (i, &v) in col.iter().enumerate() {
                            put(r + i, j + c, v);
                        }
                    }
                    j += 2;
                }
                if j < s1 {
                    for (i, &v) in T::dots(k, [w.row(j)], a)[0].iter().enumerate() {
                        put(r + i, j, v);
                    }
                }
                r += 4;
            }
            // Single rows (decode): the strip's rows as four runs (`Kernel::dots_runs`).
            while r < r1 {
                // SAFETY: row r's columns s0..s1 belong to this tile alone.
                let out = unsafe { yp.slice(r * n + s0, s1 - s0) };
                match w.settled_rows(s0, s1) {
                    Some(rows) => T::dots_runs(k, rows, act(r), out),
                    // The huge-page copy is under way: each row from where it is now.
                    None => runs_by_row(k, s1 - s0, |j| w.row(s0 + j), act(r), out),
                }
                r += 1;
            }
            s0 = s1;
        }
    });
}
