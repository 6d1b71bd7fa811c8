//! Writes a GGUF v3 header: metadata, tensor infos with aligned data offsets, and the padding
//! up to the data section. The tensor data itself is streamed by the host.

/// Data offsets and the data section are aligned to this (GGUF's default `general.alignment`).
pub const ALIGNMENT: u64 = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(String),
    Strs(Vec<String>),
    I32s(Vec<i32>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    pub name: String,
    /// ggml order (contiguous dimension first).
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    pub n_bytes: u64,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &MetaValue) {
    const U32: u32 = 4;
    const I32: u32 = 5;
    const F32: u32 = 6;
    const BOOL: u32 = 7;
    const STRING: u32 = 8;
    const ARRAY: u32 = 9;
    match v {
        MetaValue::U32(x) => {
            out.extend(U32.to_le_bytes());
            out.extend(x.to_le_bytes());
        }
        MetaValue::F32(x) => {
            out.extend(F32.to_le_bytes());
            out.extend(x.to_le_bytes());
        }
        MetaValue::Bool(x) => {
            out.extend(BOOL.to_le_bytes());
            out.push(*x as u8);
        }
        MetaValue::Str(s) => {
            out.extend(STRING.to_le_bytes());
            put_str(out, s);
        }
        MetaValue::Strs(a) => {
            out.extend(ARRAY.to_le_bytes());
            out.extend(STRING.to_le_bytes());
            out.extend((a.len() as u64).to_le_bytes());
            for s in a {
                put_str(out, s);
            }
        }
        MetaValue::I32s(a) => {
            out.extend(ARRAY.to_le_bytes());
            out.extend(I32.to_le_bytes());
            out.extend((a.len() as u64).to_le_bytes());
            for x in a {
                out.extend(x.to_le_bytes());
            }
        }
    }
}

/// The padding that brings `n` to a multiple of the alignment.
pub fn padding(n: u64) -> u64 {
    (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT
}

/// The header bytes, padded so the first tensor starts right after them. Tensor i's data
/// goes at data offset sum(n_bytes + padding) of the tensors before it.
pub fn header(metadata: &[(String, MetaValue)], tensors: &[TensorEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 20);
    out.extend(b"GGUF");
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        put_value(&mut out, v);
    }
    let mut offset = 0u64;
    for t in tensors {
        put_str(&mut out, &t.name);
        out.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(t.ggml_type.to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += t.n_bytes + padding(t.n_bytes);
    }
    let pad = padding(out.len() as u64) as usize;
    out.resize(out.len() + pad, 0);
    out
}
