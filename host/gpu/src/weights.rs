//! Weights on the device: a matrix is repacked (`layout`) and uploaded once, in chunks of
//! whole rows no larger than the device's binding limit; a vector (norm and bias weights)
//! becomes f32.

use wgpu::util::DeviceExt;
use wollama_plan::{GgmlType, Weight as WeightDesc};

use crate::layout::Layout;
use crate::{GpuDevice, GpuError, WeightSource};

/// Rows [n0, n0 + n) of a matrix in one buffer.
pub struct Chunk {
    pub buf: wgpu::Buffer,
    pub n0: usize,
    pub n: usize,
}

pub struct Matrix {
    pub layout: Layout,
    /// Row length (elements) and rows.
    pub k: usize,
    pub n: usize,
    pub row_words: usize,
    pub chunks: Vec<Chunk>,
}

fn type_name(id: u32) -> String {
    GgmlType::from_u32(id).map(|t| t.name.to_string()).unwrap_or_else(|| format!("type {id}"))
}

/// A weight's bounds and shape against the file, for the types this executor runs.
pub fn check_desc(file_len: u64, w: &WeightDesc) -> Result<(), GpuError> {
    let layout = Layout::of(w.ggml_type).expect("checked by the caller");
    let elems = w.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let k = w.shape.first().copied().unwrap_or(0);
    let Some(elems) = elems.filter(|&e| e > 0 && k > 0) else {
        return Err(GpuError::Invalid(format!("weight {} has shape {:?}", w.name, w.shape)));
    };
    if k % layout.block as u64 != 0 {
        return Err(GpuError::Invalid(format!(
            "weight {}: rows of {k} are not whole {}-element blocks of {}",
            w.name, layout.block, layout.ty.name
        )));
    }
    let bytes = elems / layout.block as u64 * layout.src_bytes as u64;
    if w.offset.checked_add(bytes).is_none_or(|end| end > file_len) {
        return Err(GpuError::Invalid(format!("weight {} lies outside the model file", w.name)));
    }
    Ok(())
}

impl Matrix {
    pub fn g4(&self) -> u32 {
        (self.layout.padded_len(self.k) / 4) as u32
    }

    pub fn bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.buf.size()).sum()
    }

    /// Uploads `w` as a matrix of rows of shape[0] elements (every further dimension is rows).
    pub fn upload(dev: &GpuDevice, file: &dyn WeightSource, w: &WeightDesc) -> Result<Matrix, GpuError> {
        let layout = Layout::of(w.ggml_type).ok_or_else(|| {
            GpuError::Unsupported(format!(
                "weight {} is {}, which the GPU executor does not run (it runs F32, F16, BF16, Q4_0, Q4_1, \
                 Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K)",
                w.name,
                type_name(w.ggml_type)
            ))
        })?;
        let k = w.shape[0] as usize;
        let n = w.shape[1..].iter().product::<u64>() as usize;
        let row_words = layout.row_words(k);
        let row_bytes = layout.row_bytes(k);
        let per_chunk = (dev.max_binding / (row_words as u64 * 4)) as usize;
        if per_chunk == 0 {
            return Err(GpuError::Unsupported(format!(
                "one row of weight {} is {} bytes; the adapter {} binds at most {} bytes",
                w.name,
                row_words * 4,
                dev.summary.name,
                dev.max_binding
            )));
        }
        let mut chunks = Vec::new();
        let mut words = Vec::new();
        let mut n0 = 0;
        while n0 < n {
            let rows = per_chunk.min(n - n0);
            let at = w.offset + (n0 * row_bytes) as u64;
            let src = file.read(at, rows * row_bytes).map_err(|e| GpuError::Io(format!("reading weight {}: {e}", w.name)))?;
            words.clear();
            layout.repack(&src, k, &mut words);
            let buf = dev.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&w.name),
                contents: bytemuck::cast_slice(&words),
                usage: wgpu::BufferUsages::STORAGE,
            });
            chunks.push(Chunk { buf, n0, n: rows });
            n0 += rows;
        }
        Ok(Matrix { layout, k, n, row_words, chunks })
    }
}

/// A vector weight as f32 values (F32, F16 and BF16; quantized vectors do not occur in GGUF).
pub fn vector_f32(file: &dyn WeightSource, w: &WeightDesc) -> Result<Vec<f32>, GpuError> {
    let len = w.shape.iter().product::<u64>() as usize;
    let size = match w.ggml_type {
        0 => 4,
        1 | 30 => 2,
        other => {
            return Err(GpuError::Unsupported(format!(
                "vector weight {} is {}; the GPU executor takes F32, F16 or BF16 vectors",
                w.name,
                type_name(other)
            )))
        }
    };
    let bytes = file.read(w.offset, len * size).map_err(|e| GpuError::Io(format!("reading weight {}: {e}", w.name)))?;
    Ok(match w.ggml_type {
        0 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        1 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        _ => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
    })
}
