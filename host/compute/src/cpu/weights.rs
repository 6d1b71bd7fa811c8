//! Weights as typed views into the model file's bytes, one variant per supported ggml type:
//! each is a slice of candle's block type over those bytes, so the kernel is chosen once,
//! when the plan is compiled. The bytes are the file mapping's, or its huge-page copy's once
//! a row has been copied (`backing`).

use std::marker::PhantomData;
use std::sync::Arc;

use candle_core::quantized::k_quants::{
    BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8_0, GgmlType,
};
use half::{bf16, f16};
use super::backing::Backing;
use super::ComputeError;
use wollama_plan::Weight as WeightDesc;

/// The ggml name of a type id, for error messages.
fn type_name(t: u32) -> String {
    wollama_plan::GgmlType::from_u32(t).map(|t| t.name.to_string()).unwrap_or_else(|| format!("unknown type {t}"))
}

/// The typed view inside `w` when its block type is T.
pub fn typed<T: 'static>(w: &Weight) -> Option<&View<T>> {
    with_view!(w, v, U => (v as &dyn std::any::Any).downcast_ref::<View<T>>())
}

/// A weight the CPU executor can run.
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

/// Runs `$body` with `$v` bound to the weight's typed view and `$t` to its block type.
macro_rules! with_view {
    ($w:expr, $v:ident, $t:ident => $body:expr) => {
        match $w {
            Weight::F32($v) => {
                #[allow(dead_code)]
                type $t = f32;
                $body
            }
            Weight::F16($v) => {
                #[allow(dead_code)]
                type $t = half::f16;
                $body
            }
            Weight::Bf16($v) => {
                #[allow(dead_code)]
                type $t = half::bf16;
                $body
            }
            Weight::Q4_0($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ4_0;
                $body
            }
            Weight::Q4_1($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ4_1;
                $body
            }
            Weight::Q5_0($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ5_0;
                $body
            }
            Weight::Q5_1($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ5_1;
                $body
            }
            Weight::Q8_0($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ8_0;
                $body
            }
            Weight::Q2K($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ2K;
                $body
            }
            Weight::Q3K($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ3K;
                $body
            }
            Weight::Q4K($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ4K;
                $body
            }
            Weight::Q5K($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ5K;
                $body
            }
            Weight::Q6K($v) => {
                #[allow(dead_code)]
                type $t = candle_core::quantized::k_quants::BlockQ6K;
                $body
            }
        }
    };
}
pub(crate) use with_view;

/// `rows` rows of `k` elements stored as blocks of `T` in the model file.
pub struct View<T> {
    src: Arc<Backing>,
    offset: usize,
    pub rows: usize,
    pub k: usize,
    _t: PhantomData<T>,
}

impl<T> Clone for View<T> {
    fn clone(&self) -> Self {
        View {
            src: Arc::clone(&self.src),
            offset: self.offset,
            rows: self.rows,
            k: self.k,
            _t: PhantomData,
        }
    }
}

impl<T: GgmlType> View<T> {
    fn new(src: &Arc<Backing>, w: &WeightDesc, k: usize, rows: usize) -> Result<Self, ComputeError> {
        debug_assert_eq!(k % T::BLCK_SIZE, 0, "checked by the caller");
        // The copy has the file's offsets and is page aligned, so one check covers both.
        let ptr = src.file().as_ptr() as usize + w.offset as usize;
        if !ptr.is_multiple_of(std::mem::align_of::<T>()) {
            return Err(ComputeError::Invalid(format!(
                "tensor {} at offset {} is not aligned for {}",
                w.name,
                w.offset,
                type_name(w.ggml_type)
            )));
        }
        Ok(View {
            src: Arc::clone(src),
            offset: w.offset as usize,
            rows,
            k,
            _t: PhantomData,
        })
    }

    pub fn blocks_per_row(&self) -> usize {
        self.k / T::BLCK_SIZE
    }

    /// `n` blocks from block `first` on, from wherever they are all to be found.
    #[inline]
    fn span(&self, first: usize, n: usize) -> &[T] {
        let size = std::mem::size_of::<T>();
        let ptr = self.src.bytes_at(self.offset + first * size, n * size);
        // SAFETY: `bind` checked that the tensor's bytes lie inside the file and that the
        // pointer is aligned for T (the copy has the same offsets and page alignment); callers
        // stay inside the tensor; the bytes never change while readable (see `backing`) and
        // outlive `self` (we hold an Arc); every block type is plain old data for which any
        // bit pattern is a value.
        unsafe { std::slice::from_raw_parts(ptr as *const T, n) }
    }

    /// Rows r0..r1's blocks as one slice from where they will stay read from (see
    /// `Backing::settled_bytes_at`); None while the huge-page copy is under way and has not
    /// taken them all, when the caller reads them row by row (`row`).
    #[inline]
    pub fn settled_rows(&self, r0: usize, r1: usize) -> Option<&[T]> {
        assert!(r0 <= r1 && r1 <= self.rows, "rows {r0}..{r1} of a {}-row weight", self.rows);
        let size = std::mem::size_of::<T>();
        let (first, n) = (r0 * self.blocks_per_row(), (r1 - r0) * self.blocks_per_row());
        let ptr = self.src.settled_bytes_at(self.offset + first * size, n * size)?;
        // SAFETY: as in `span`.
        Some(unsafe { std::slice::from_raw_parts(ptr as *const T, n) })
    }

    /// Row `r`'s blocks.
    #[inline]
    pub fn row(&self, r: usize) -> &[T] {
        assert!(r < self.rows, "row {r} of a {}-row weight", self.rows);
        let b = self.blocks_per_row();
        self.span(r * b, b)
    }
}

/// (row length, rows, bytes) of a described tensor after checking its shape against the
/// type's block size and its bytes against the file; None for a type we know nothing about.
pub fn check_desc(file_len: usize, w: &WeightDesc) -> Result<(usize, usize), ComputeError> {
    let invalid = |m: String| Err(ComputeError::Invalid(format!("tensor {}: {m}", w.name)));
    let Some(wollama_plan::GgmlType { name, block_size: blck, block_bytes: bytes, .. }) =
        wollama_plan::GgmlType::from_u32(w.ggml_type)
    else {
        return Err(ComputeError::Unsupported(format!(
            "tensor {} has unknown ggml type {}, which the CPU executor cannot run",
            w.name, w.ggml_type
        )));
    };
    if w.shape.is_empty() || w.shape.len() > 4 || w.shape.contains(&0) {
        return invalid(format!("shape {:?} is empty or has more than 4 dimensions", w.shape));
    }
    let k = w.shape[0];
    if !k.is_multiple_of(blck) {
        return invalid(format!(
            "row length {k} is not a multiple of the {name} block size {blck}"
        ));
    }
    let rows = w.shape[1..].iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let size = rows
        .and_then(|r| r.checked_mul(k / blck))
        .and_then(|b| b.checked_mul(bytes));
    let (Some(rows), Some(size)) = (rows, size) else {
        return invalid(format!("shape {:?} is too large", w.shape));
    };
    match w.offset.checked_add(size) {
        Some(end) if end <= file_len as u64 => {}
        _ => {
            return invalid(format!(
                "{size} bytes at offset {} run past the end of the file ({file_len} bytes)",
                w.offset
            ))
        }
    }
    if rows > usize::MAX as u64 / 2 || k > u32::MAX as u64 {
        return invalid(format!("shape {:?} is too large", w.shape));
    }
    Ok((k as usize, rows as usize))
}

/// Types the executor runs (as matrices; vectors are F32, F16 or BF16).
pub fn supported(t: u32) -> bool {
    matches!(t, 0 | 1 | 2 | 3 | 6 | 7 | 8 | 10..=14 | 30)
}

/// What a weight is used for; decides which types are acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Matmul or Embed: every type with a dot product and a dequantizer.
    Matrix,
    /// MulWeight / AddWeight: a float vector.
    Vector,
}

impl Weight {
    /// Binds a described tensor for `use_`, after `check_desc`.
    pub fn bind(map: &Arc<Backing>, w: &WeightDesc, use_: Use) -> Result<Weight, ComputeError> {
        let unsupported = || {
            let what = match use_ {
                Use::Matrix => "",
                Use::Vector => " as a norm/bias vector",
            };
            Err(ComputeError::Unsupported(format!(
                "tensor {} has type {}, which the CPU executor cannot run{what}",
                w.name,
                type_name(w.ggml_type)
            )))
        };
        if !supported(w.ggml_type) || (use_ == Use::Vector && !matches!(w.ggml_type, 0 | 1 | 30)) {
            return unsupported();
        }
        let (k, rows) = check_desc(map.len(), w)?;
        Ok(match w.ggml_type {
            0 => Weight::F32(View::new(map, w, k, rows)?),
            1 => Weight::F16(View::new(map, w, k, rows)?),
            30 => Weight::Bf16(View::new(map, w, k, rows)?),
            2 => Weight::Q4_0(View::new(map, w, k, rows)?),
            3 => Weight::Q4_1(View::new(map, w, k, rows)?),
            6 => Weight::Q5_0(View::new(map, w, k, rows)?),
            7 => Weight::Q5_1(View::new(map, w, k, rows)?),
            8 => Weight::Q8_0(View::new(map, w, k, rows)?),
            10 => Weight::Q2K(View::new(map, w, k, rows)?),
            11 => Weight::Q3K(View::new(map, w, k, rows)?),
            12 => Weight::Q4K(View::new(map, w, k, rows)?),
            13 => Weight::Q5K(View::new(map, w, k, rows)?),
            14 => Weight::Q6K(View::new(map, w, k, rows)?),
            _ => return unsupported(),
        })
    }

    /// (row length k, number of rows).
    pub fn dims(&self) -> (usize, usize) {
        with_view!(self, v, T => (v.k, v.rows))
    }

    /// Dequantizes row `r` into `out` (length k), as ggml's get_rows does.
    pub fn row_to_f32(&self, r: usize, out: &mut [f32]) {
        with_view!(self, v, T => <T as GgmlType>::to_float(v.row(r), out))
    }

    /// The whole tensor as f32 (small vectors: norms, biases).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        let (k, rows) = self.dims();
        let mut out = vec![0f32; k * rows];
        for (r, o) in out.chunks_exact_mut(k).enumerate() {
            self.row_to_f32(r, o);
        }
        out
    }
}
