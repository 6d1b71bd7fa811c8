//! Safetensors (Hugging Face layout) to GGUF: what the config keys and tensor names mean, as
//! llama.cpp's converter names them. The guest plans the file (header bytes and which source
//! bytes become which tensor); the host only copies and retypes bytes.

mod bert;
pub mod gguf_writer;
pub mod safetensors;

use gguf_writer::{MetaValue, TensorEntry};

/// ggml type ids the conversion reads and writes.
pub const F32: u32 = 0;
pub const F16: u32 = 1;
pub const BF16: u32 = 30;

/// One tensor: `source_len` bytes at `source_offset` of type `source_type`, written as
/// `target_type`, then `padding` zero bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorCopy {
    pub source_offset: u64,
    pub source_len: u64,
    pub source_type: u32,
    pub target_type: u32,
    pub padding: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub header: Vec<u8>,
    pub tensors: Vec<TensorCopy>,
}

/// The model's small text files, by relative path.
pub struct Files<'a>(pub &'a [(String, String)]);

impl Files<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str())
    }

    pub fn json(&self, name: &str) -> Result<Option<serde_json::Value>, String> {
        self.get(name)
            .map(|t| serde_json::from_str(t).map_err(|e| format!("{name} is not valid JSON: {e}")))
            .transpose()
    }

    pub fn require_json(&self, name: &str) -> Result<serde_json::Value, String> {
        self.json(name)?.ok_or_else(|| format!("{name} is missing from the model directory"))
    }
}

/// A tensor to write: its GGUF name and ggml dims, and the source tensor it comes from.
pub struct Planned {
    pub name: String,
    pub dims: Vec<u64>,
    pub source: safetensors::SafeTensor,
}

fn source_type(dtype: &str, name: &str) -> Result<u32, String> {
    match dtype {
        "F32" => Ok(F32),
        "F16" => Ok(F16),
        "BF16" => Ok(BF16),
        other => Err(format!("tensor {name} has dtype {other}; only F32, F16 and BF16 weights convert")),
    }
}

/// Plans the conversion of a safetensors model. `target` is "f32" or "f16" (matrices become
/// F16, vectors stay F32, as llama.cpp's converter does).
pub fn plan(files: &[(String, String)], header: &[u8], size: u64, target: &str) -> Result<Conversion, String> {
    let files = Files(files);
    let wide = match target.to_ascii_lowercase().as_str() {
        "f32" => F32,
        "f16" | "" => F16,
        other => return Err(format!("cannot convert to {other:?}; f32 and f16 are supported")),
    };
    let config = files.require_json("config.json")?;
    let tensors = safetensors::parse(header, size)?;
    let arch = config["architectures"].get(0).and_then(|a| a.as_str()).unwrap_or("");
    let model_type = config["model_type"].as_str().unwrap_or("");
    let (mut metadata, planned) = match (arch, model_type) {
        ("BertModel" | "BertForMaskedLM" | "BertForSequenceClassification", _) | (_, "bert") => {
            bert::plan(&files, &config, tensors)?
        }
        _ => return Err(format!("safetensors models of architecture {arch:?} ({model_type:?}) cannot be converted yet; BERT can")),
    };
    metadata.insert(1, ("general.file_type".into(), MetaValue::U32(if wide == F16 { 1 } else { 0 })));
    let mut entries = Vec::with_capacity(planned.len());
    let mut copies = Vec::with_capacity(planned.len());
    for p in planned {
        let src = source_type(&p.source.dtype, &p.source.name)?;
        let target_type = if p.dims.len() >= 2 { wide } else { F32 };
        let elems: u64 = p.dims.iter().product();
        let n_bytes = elems * if target_type == F32 { 4 } else { 2 };
        copies.push(TensorCopy {
            source_offset: p.source.start,
            source_len: p.source.end - p.source.start,
            source_type: src,
            target_type,
            padding: gguf_writer::padding(n_bytes) as u32,
        });
        entries.push(TensorEntry { name: p.name, dims: p.dims, ggml_type: target_type, n_bytes });
    }
    Ok(Conversion { header: gguf_writer::header(&metadata, &entries), tensors: copies })
}
