//! Shared helpers: a model "file" built in memory (anonymous map, 32-aligned tensors, as
//! GGUF lays them out), random data, and reading full logit rows back from candidates.
#![allow(dead_code)]

pub mod decoder;

use std::sync::Arc;

use candle_core::quantized::k_quants::GgmlType;
use memmap2::{Mmap, MmapMut};
use wollama_plan::{Batch, Candidates, Weight, WeightIdx};

pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const Q4_0: u32 = 2;
pub const Q4_1: u32 = 3;
pub const Q5_0: u32 = 6;
pub const Q5_1: u32 = 7;
pub const Q8_0: u32 = 8;
pub const Q2_K: u32 = 10;
pub const Q3_K: u32 = 11;
pub const Q4_K: u32 = 12;
pub const Q5_K: u32 = 13;
pub const Q6_K: u32 = 14;
pub const BF16: u32 = 30;

/// xorshift values in [-1, 1).
pub fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

pub fn as_bytes<T>(v: &[T]) -> &[u8] {
    // SAFETY: plain data viewed as bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

#[derive(Default)]
pub struct FileBuilder {
    bytes: Vec<u8>,
    pub descs: Vec<Weight>,
}

impl FileBuilder {
    pub fn raw(&mut self, name: &str, ty: u32, shape: &[u64], data: &[u8]) -> WeightIdx {
        while !self.bytes.len().is_multiple_of(32) {
            self.bytes.push(0);
        }
        self.descs.push(Weight {
            name: name.to_string(),
            ggml_type: ty,
            shape: shape.to_vec(),
            offset: self.bytes.len() as u64,
        });
        self.bytes.extend_from_slice(data);
        (self.descs.len() - 1) as WeightIdx
    }

    pub fn f32(&mut self, name: &str, shape: &[u64], data: &[f32]) -> WeightIdx {
        assert_eq!(data.len() as u64, shape.iter().product::<u64>());
        self.raw(name, F32, shape, as_bytes(data))
    }

    /// Stores `data` ([n rows of k]) as T; returns the index and the dequantized values.
    pub fn quant<T: GgmlType>(&mut self, name: &str, ty: u32, k: usize, n: usize, data: &[f32]) -> (WeightIdx, Vec<f32>) {
        assert_eq!(data.len(), k * n);
        let mut blocks = vec![T::zeros(); k * n / T::BLCK_SIZE];
        T::from_float(data, &mut blocks);
        let mut deq = vec![0f32; k * n];
        T::to_float(&blocks, &mut deq);
        (self.raw(name, ty, &[k as u64, n as u64], as_bytes(&blocks)), deq)
    }

    pub fn finish(self) -> (Arc<Mmap>, Vec<Weight>) {
        let mut m = MmapMut::map_anon(self.bytes.len().max(1)).unwrap();
        m[..self.bytes.len()].copy_from_slice(&self.bytes);
        (Arc::new(m.make_read_only().unwrap()), self.descs)
    }
}

/// A single-sequence batch: tokens at positions 0.., cells 0.., every row a logit row.
pub fn batch(tokens: Vec<u32>, top_k: u32) -> Batch {
    Batch::whole_sequence(tokens, top_k)
}

/// Rebuilds full rows from candidates that cover the whole vocabulary.
pub fn full_rows(c: &[Candidates], vocab: usize) -> Vec<Vec<f32>> {
    c.iter()
        .map(|c| {
            assert_eq!(c.ids.len(), vocab, "ask for top_k = vocab");
            let mut row = vec![f32::NAN; vocab];
            for (&id, &l) in c.ids.iter().zip(&c.logits) {
                row[id as usize] = l;
            }
            row
        })
        .collect()
}

/// sqrt(Σ(a-b)² / Σb²).
pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt() as f32
}
