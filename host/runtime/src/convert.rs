//! The host half of a safetensors import: the guest plans the GGUF (header bytes, and which
//! source bytes become which tensor of which type); this streams the file, retyping each
//! tensor's elements. It knows nothing of what the tensors mean.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use half::{bf16, f16};
use wasmtime::component::ResourceTable;
use wasmtime::Store;
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::exports::wollama::engine::runtime::{Conversion, TensorCopy};
use crate::host::HostState;
use crate::{Error, Result, Runtime};

const F32: u32 = 0;
const F16: u32 = 1;
const BF16: u32 = 30;

/// How many bytes of a safetensors file hold its header (8 + the length it declares).
pub fn safetensors_header(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|e| Error::Io(format!("opening {}: {e}", path.display())))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| Error::Invalid("the safetensors file is shorter than 8 bytes".into()))?;
    let n = u64::from_le_bytes(len);
    // Real headers are kilobytes; 100 MB is safetensors' own limit.
    if n > 100 << 20 {
        return Err(Error::Invalid(format!("the safetensors header claims {n} bytes")));
    }
    let mut header = len.to_vec();
    header.resize(8 + n as usize, 0);
    f.read_exact(&mut header[8..]).map_err(|_| Error::Invalid("the safetensors header is truncated".into()))?;
    Ok(header)
}

impl Runtime {
    /// Asks a fresh guest instance to plan the GGUF for a safetensors model: `files` are its
    /// small text files by relative path, `weights` the safetensors file, `target` "f16"/"f32".
    pub fn plan_conversion(&self, files: &[(String, String)], weights: &Path, target: &str) -> Result<Conversion> {
        let header = safetensors_header(weights)?;
        let size = std::fs::metadata(weights).map_err(|e| Error::Io(e.to_string()))?.len();
        let state = HostState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            executor: crate::executor::Executor::new(&crate::Device::Cpu { threads: 1 }),
            plans: Vec::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let guest = self.instantiate(&mut store)?;
        Ok(guest.wollama_engine_runtime().call_convert_safetensors(&mut store, files, &header, size, target)??)
    }
}

/// Reads as the GGUF file a conversion describes: the header, then each tensor retyped from
/// the source file and padded. Feed it to the blob store, which hashes while it writes.
pub struct ConversionReader {
    source: File,
    header: Vec<u8>,
    tensors: std::vec::IntoIter<TensorCopy>,
    /// The bytes ready to hand out, and how many of them have been.
    buf: Vec<u8>,
    at: usize,
}

impl ConversionReader {
    pub fn new(conversion: Conversion, source: &Path) -> Result<ConversionReader> {
        let source = File::open(source).map_err(|e| Error::Io(format!("opening {}: {e}", source.display())))?;
        for t in &conversion.tensors {
            let whole = elem_size(t.source_type).is_some_and(|s| t.source_len % s == 0);
            if !whole || !matches!(t.target_type, F32 | F16) {
                return Err(Error::Invalid(format!(
                    "cannot convert tensor data of type {} to type {} ({} bytes)",
                    t.source_type, t.target_type, t.source_len
                )));
            }
        }
        Ok(ConversionReader { source, header: conversion.header, tensors: conversion.tensors.into_iter(), buf: Vec::new(), at: 0 })
    }

    /// Loads the next piece (the header first, then one tensor) into `buf`; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        self.at = 0;
        if !self.header.is_empty() {
            self.buf = std::mem::take(&mut self.header);
            return Ok(true);
        }
        let Some(t) = self.tensors.next() else { return Ok(false) };
        let mut raw = vec![0u8; t.source_len as usize];
        self.source.seek(SeekFrom::Start(t.source_offset))?;
        self.source.read_exact(&mut raw)?;
        self.buf = retype(&raw, t.source_type, t.target_type);
        self.buf.resize(self.buf.len() + t.padding as usize, 0);
        Ok(true)
    }
}

impl Read for ConversionReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn elem_size(t: u32) -> Option<u64> {
    match t {
        F32 => Some(4),
        F16 | BF16 => Some(2),
        _ => None,
    }
}

/// Little-endian elements of type `from` rewritten as `to` (round to nearest even).
pub fn retype(raw: &[u8], from: u32, to: u32) -> Vec<u8> {
    if from == to {
        return raw.to_vec();
    }
    let values: Vec<f32> = match from {
        F32 => raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect(),
        F16 => raw.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        _ => raw.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
    };
    match to {
        F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        _ => values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retypes_with_rounding_and_round_trips() {
        let vals = [1.0f32, -2.5, 65504.0, 1.0e-8, 0.1];
        let raw: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let h = retype(&raw, F32, F16);
        let back = retype(&h, F16, F32);
        let got: Vec<f32> = back.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        for (g, v) in got.iter().zip(vals) {
            assert_eq!(*g, f16::from_f32(v).to_f32());
        }
        let b: Vec<u8> = vals.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect();
        let f = retype(&b, BF16, F32);
        assert_eq!(f32::from_le_bytes(f[4..8].try_into().unwrap()), -2.5);
    }
}
