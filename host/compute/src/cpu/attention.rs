//! Attention over the f16 KV cache, following ggml's non-flash path (llama.cpp's default
//! f16 cache): q is rounded to f16 and dotted with f16 K in f32, the scores are scaled (and
//! soft-capped), the softmax runs in f32 with its sum in f64, and the probabilities are rounded
//! to f16 before the weighted sum of f16 V rows, accumulated in f32. Which cells a row sees
//! comes from the batch's cell table (which already includes this batch's own cells).

use candle_core::quantized::k_quants::GgmlType;
use half::f16;

use super::pool::{PerThread, Pool, SyncPtr};
use crate::plan::{Attention, Batch};

pub struct KvLayer {
    pub k: Vec<f16>,
    pub v: Vec<f16>,
    pub width: usize,
}

impl KvLayer {
    pub fn new(cells: usize, width: usize) -> Self {
        KvLayer {
            k: vec![f16::ZERO; cells * width],
            v: vec![f16::ZERO; cells * width],
            width,
        }
    }

    /// Stores this batch's K and V rows in their cells (f32 -> f16, round to nearest even).
    pub fn write(&mut self, b: &Batch, k: &[f32], v: &[f32]) {
        let w = self.width;
        for (r, &cell) in b.write_cells.iter().enumerate() {
            let c = cell as usize;
            to_f16(&k[r * w..(r + 1) * w], &mut self.k[c * w..(c + 1) * w]);
            to_f16(&v[r * w..(r + 1) * w], &mut self.v[c * w..(c + 1) * w]);
        }
    }

    pub fn copy_cell(&mut self, src: usize, dst: usize) {
        let w = self.width;
        self.k.copy_within(src * w..(src + 1) * w, dst * w);
        self.v.copy_within(src * w..(src + 1) * w, dst * w);
    }
}

fn to_f16(src: &[f32], dst: &mut [f16]) {
    use half::slice::HalfFloatSliceExt;
    dst.convert_from_f32_slice(src);
}

/// Per-thread scratch for one (row, head) task.
pub struct Scratch {
    cells: Vec<u32>,
    scores: Vec<f32>,
    q: Vec<f16>,
    v: Vec<f32>,
}

impl Scratch {
    pub fn new(cells: usize, head_dim: usize) -> Self {
        Scratch {
            cells: vec![0; cells],
            scores: vec![0.0; cells],
            q: vec![f16::ZERO; head_dim],
            v: vec![0.0; head_dim],
        }
    }
}

/// out[rows, n_head * head_dim] = softmax(scale · q·Kᵀ) · V over the cells each row sees.
pub fn attend(
    pool: &Pool,
    a: &Attention,
    b: &Batch,
    kv: &KvLayer,
    q: &[f32],
    out: &mut [f32],
    scratch: &PerThread<Scratch>,
) {
    let (hd, nh, nkv) = (a.head_dim as usize, a.n_head as usize, a.n_kv_head as usize);
    let group = nh / nkv;
    let rows = b.tokens.len();
    let qw = nh * hd;
    let kw = kv.width;
    let op = SyncPtr::new(out);
    pool.run(rows * nh, &|task, thread| {
        let (r, h) = (task / nh, task % nh);
        let kvh = h / group;
        // SAFETY: this thread runs one task at a time.
        let s = unsafe { scratch.get(thread) };
        let pos = b.positions[r];
        let seq = 1u64 << b.seqs[r];
        // q in f16, as ggml converts it for the f16 K matmul.
        to_f16(&q[r * qw + h * hd..r * qw + (h + 1) * hd], &mut s.q[..hd]);
        let mut n = 0;
        let mut max = f32::NEG_INFINITY;
        for (c, (&cp, &cs)) in b.cell_pos.iter().zip(&b.cell_seqs).enumerate() {
            if cs & seq == 0 || cp < 0 || cp > pos || (a.window != 0 && (pos - cp) as u32 >= a.window) {
                continue;
            }
            let kr = &kv.k[c * kw + kvh * hd..c * kw + (kvh + 1) * hd];
            let mut sc = <f16 as GgmlType>::vec_dot(hd, kr, &s.q[..hd]) * a.scale;
            if a.softcap != 0.0 {
                sc = a.softcap * (sc / a.softcap).tanh();
            }
            max = max.max(sc);
            s.cells[n] = c as u32;
            s.scores[n] = sc;
            n += 1;
        }
        // SAFETY: each task writes its own (row, head) slice.
        let dst = unsafe { op.slice(r * qw + h * hd, hd) };
        dst.fill(0.0);
        if n == 0 {
            return;
        }
        let mut sum = 0f64;
        for sc in &mut s.scores[..n] {
            *sc = (*sc - max).exp();
            sum += *sc as f64;
        }
        let inv = (1.0 / sum) as f32;
        for (&c, &p) in s.cells[..n].iter().zip(&s.scores[..n]) {
            let p = f16::from_f32(p * inv).to_f32();
            if p == 0.0 {
                continue;
            }
            let c = c as usize;
            let vr = &kv.v[c * kw + kvh * hd..c * kw + (kvh + 1) * hd];
            {
                use half::slice::HalfFloatSliceExt;
                vr.convert_to_f32_slice(&mut s.v[..hd]);
            }
            for (o, &v) in dst.iter_mut().zip(&s.v[..hd]) {
                *o += p * v;
            }
        }
    });
}
