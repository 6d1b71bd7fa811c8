//! The safetensors header: `u64` little-endian length n, then n bytes of JSON mapping each
//! tensor name to its dtype, shape and data offsets (relative to the end of the header).
//! Parsed here rather than with the `safetensors` crate, whose readers need the whole file in
//! memory; only the header crosses into the guest.

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct SafeTensor {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Absolute byte range in the file.
    pub start: u64,
    pub end: u64,
}

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

/// Bytes per element of the dtypes a conversion can read (others are reported by name).
pub fn dtype_size(dtype: &str) -> Option<u64> {
    match dtype {
        "F32" | "I32" | "U32" => Some(4),
        "F16" | "BF16" | "I16" | "U16" => Some(2),
        "F64" | "I64" | "U64" => Some(8),
        "I8" | "U8" | "BOOL" => Some(1),
        _ => None,
    }
}

/// The tensors of a file of `size` bytes whose header is `header` (at least 8 + n bytes),
/// in header order; every range is checked against the file and its dtype and shape.
pub fn parse(header: &[u8], size: u64) -> Result<Vec<SafeTensor>, String> {
    let n = header.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).ok_or("the safetensors file is shorter than its 8-byte header length")?;
    let data_start = n.checked_add(8).filter(|&e| e <= size && e <= header.len() as u64).ok_or_else(|| {
        format!("the safetensors header claims {n} bytes, more than the file or the bytes given")
    })?;
    let text = std::str::from_utf8(&header[8..data_start as usize]).map_err(|_| "the safetensors header is not UTF-8")?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("the safetensors header is not valid JSON: {e}"))?;
    let mut out = Vec::with_capacity(map.len());
    for (name, v) in map {
        if name == "__metadata__" {
            continue;
        }
        let e: Entry = serde_json::from_value(v).map_err(|e| format!("safetensors entry {name}: {e}"))?;
        let (start, end) = (data_start + e.data_offsets.0, data_start.saturating_add(e.data_offsets.1));
        if start > end || end > size {
            return Err(format!("safetensors tensor {name} lies outside the file"));
        }
        let elems: u64 = e.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).unwrap_or(u64::MAX);
        if let Some(sz) = dtype_size(&e.dtype) {
            if elems.checked_mul(sz) != Some(end - start) {
                return Err(format!("safetensors tensor {name} has {} bytes for shape {:?} of {}", end - start, e.shape, e.dtype));
            }
        }
        out.push(SafeTensor { name, dtype: e.dtype, shape: e.shape, start, end });
    }
    Ok(out)
}
