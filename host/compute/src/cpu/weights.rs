//! Weights as typed views into the mapped model file: one variant per ggml type, each a
//! slice of candle's block type, so kernels are chosen once at compile time of the plan.

use std::sync::Arc;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use half::{bf16, f16};
use memmap2::Mmap;

use super::kernels::q4_1::{self, BlockQ4_1};
use super::ComputeError;
use crate::plan::WeightDesc;

/// ggml type ids and names, for error messages.
pub fn type_name(t: u32) -> String {
    let name = match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        other => return format!("type {other}"),
    };
    name.to_string()
}

/// A weight the CPU executor can run, as rows of blocks.
#[derive(Clone)]
pub enum Weight {
    F32(View<f32>),
    F16(View<f16>),
    Bf16(View<bf16>),
    Q4_0(View<BlockQ4_0>),
    Q4_1(View<BlockQ4_1>),
    Q5_0(View<BlockQ5_0>),
    Q5_1(View<BlockQ5_1>),
    Q8_0(View<BlockQ8_0>),
    Q2K(View<BlockQ2K>),
    Q3K(View<BlockQ3K>),
    Q4K(View<BlockQ4K>),
    Q5K(View<BlockQ5K>),
    Q6K(View<BlockQ6K>),
}

/// `rows` rows of `k` elements, stored as blocks of T in the mapped file (no copy).
pub struct View<T> {
    map: Arc<Mmap>,
    offset: usize,
    pub rows: usize,
    pub k: usize,
    /// Elements per block of T.
    block: usize,
    _t: std::marker::PhantomData<T>,
}

impl<T> Clone for View<T> {
    fn clone(&self) -> Self {
        View { map: Arc::clone(&self.map), offset: self.offset, rows: self.rows, k: self.k, block: self.block, _t: Default::default() }
    }
}

impl<T> View<T> {
    fn new(map: &Arc<Mmap>, w: &WeightDesc) -> Result<Self, ComputeError>
    where
        T: GgmlType,
    {
        Self::with_block(map, w, T::BLCK_SIZE)
    }

    fn with_block(map: &Arc<Mmap>, w: &WeightDesc, block: usize) -> Result<Self, ComputeError> {
        let k = w.shape[0] as usize;
        let rows = w.shape[1..].iter().product::<u64>() as usize;
        if k % block != 0 {
            return Err(ComputeError::Invalid(format!(
                "tensor {}: row length {k} is not a multiple of the {} block size {}",
                w.name,
                type_name(w.ggml_type),
                block
            )));
        }
        let bytes = rows * (k / block) * std::mem::size_of::<T>();
        let offset = w.offset as usize;
        if offset.checked_add(bytes).is_none_or(|end| end > map.len()) {
            return Err(ComputeError::Invalid(format!(
                "tensor {} ({bytes} bytes at offset {offset}) lies past the end of the file",
                w.name
            )));
        }
        if (map.as_ptr() as usize + offset) % std::mem::align_of::<T>() != 0 {
            return Err(ComputeError::Invalid(format!("tensor {} is misaligned in the file", w.name)));
        }
        Ok(View { map: Arc::clone(map), offset, rows, k, block, _t: Default::default() })
    }

    pub fn blocks_per_row(&self) -> usize {
        self.k / self.block
    }

    /// All blocks. SAFETY of the cast: bounds and alignment were checked in `new`, the map
    /// is read-only and lives as long as `self`, and every block type is plain data.
    pub fn blocks(&self) -> &[T] {
        let n = self.rows * self.blocks_per_row();
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(self.offset) as *const T, n) }
    }

    pub fn row(&self, r: usize) -> &[T] {
        let b = self.blocks_per_row();
        &self.blocks()[r * b..(r + 1) * b]
    }
}

impl Weight {
    pub fn bind(map: &Arc<Mmap>, w: &WeightDesc) -> Result<Weight, ComputeError> {
        if w.shape.is_empty() || w.shape.iter().any(|&d| d == 0) {
            return Err(ComputeError::Invalid(format!("tensor {} has an empty shape {:?}", w.name, w.shape)));
        }
        Ok(match w.ggml_type {
            0 => Weight::F32(View::new(map, w)?),
            1 => Weight::F16(View::new(map, w)?),
            30 => Weight::Bf16(View::new(map, w)?),
            2 => Weight::Q4_0(View::new(map, w)?),
            3 => Weight::Q4_1(View::with_block(map, w, q4_1::QK)?),
            6 => Weight::Q5_0(View::new(map, w)?),
            7 => Weight::Q5_1(View::new(map, w)?),
            8 => Weight::Q8_0(View::new(map, w)?),
            10 => Weight::Q2K(View::new(map, w)?),
            11 => Weight::Q3K(View::new(map, w)?),
            12 => Weight::Q4K(View::new(map, w)?),
            13 => Weight::Q5K(View::new(map, w)?),
            14 => Weight::Q6K(View::new(map, w)?),
            t => {
                return Err(ComputeError::Unsupported(format!(
                    "tensor {} has type {}, which the CPU executor cannot run",
                    w.name,
                    type_name(t)
                )))
            }
        })
    }

    /// (row length k, number of rows).
    pub fn dims(&self) -> (usize, usize) {
        macro_rules! d {
            ($v:expr) => {
                ($v.k, $v.rows)
            };
        }
        match self {
            Weight::F32(v) => d!(v),
            Weight::F16(v) => d!(v),
            Weight::Bf16(v) => d!(v),
            Weight::Q4_0(v) => d!(v),
            Weight::Q4_1(v) => d!(v),
            Weight::Q5_0(v) => d!(v),
            Weight::Q5_1(v) => d!(v),
            Weight::Q8_0(v) => d!(v),
            Weight::Q2K(v) => d!(v),
            Weight::Q3K(v) => d!(v),
            Weight::Q4K(v) => d!(v),
            Weight::Q5K(v) => d!(v),
            Weight::Q6K(v) => d!(v),
        }
    }

    /// Dequantizes row `r` into `out` (length k).
    pub fn row_to_f32(&self, r: usize, out: &mut [f32]) {
        macro_rules! deq {
            ($v:expr, $t:ty) => {
                <$t as GgmlType>::to_float($v.row(r), out)
            };
        }
        match self {
            Weight::F32(v) => out.copy_from_slice(v.row(r)),
            Weight::F16(v) => out.iter_mut().zip(v.row(r)).for_each(|(o, x)| *o = x.to_f32()),
            Weight::Bf16(v) => out.iter_mut().zip(v.row(r)).for_each(|(o, x)| *o = x.to_f32()),
            Weight::Q4_0(v) => deq!(v, BlockQ4_0),
            Weight::Q4_1(v) => q4_1::dequantize_q4_1(v.row(r), out),
            Weight::Q5_0(v) => deq!(v, BlockQ5_0),
            Weight::Q5_1(v) => deq!(v, BlockQ5_1),
            Weight::Q8_0(v) => deq!(v, BlockQ8_0),
            Weight::Q2K(v) => deq!(v, BlockQ2K),
            Weight::Q3K(v) => deq!(v, BlockQ3K),
            Weight::Q4K(v) => deq!(v, BlockQ4K),
            Weight::Q5K(v) => deq!(v, BlockQ5K),
            Weight::Q6K(v) => deq!(v, BlockQ6K),
        }
    }

    /// The whole tensor as f32 (small vectors: norms, biases).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let (k, rows) = self.dims();
        let mut out = vec![0f32; k * rows];
        for r in 0..rows {
            self.row_to_f32(r, &mut out[r * k..(r + 1) * k]);
        }
        out
    }
}
