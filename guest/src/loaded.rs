//! A model as the guest understands it: GGUF metadata, tokenizer, chat template, and the
//! hyperparameters its architecture needs.

use std::rc::Rc;

use crate::gguf::{self, Array, ByteSource, Gguf, Value};
use crate::model::{self, HParams};
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    Io(String),
    Invalid(String),
    Unsupported(String),
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Io(m) | ModelError::Invalid(m) | ModelError::Unsupported(m) => f.write_str(m),
        }
    }
}

impl From<gguf::GgufError> for ModelError {
    fn from(e: gguf::GgufError) -> Self {
        match e {
            gguf::GgufError::Io(_) => ModelError::Io(e.to_string()),
            gguf::GgufError::Invalid(_) => ModelError::Invalid(e.to_string()),
        }
    }
}

pub struct Info {
    pub architecture: String,
    pub name: String,
    pub parameter_count: u64,
    pub file_type: String,
    pub context_length: u32,
    pub embedding_length: u32,
    pub vocab_size: u32,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub chat_template: Option<String>,
}

pub struct LoadedModel {
    pub gguf: Gguf,
    pub hparams: HParams,
    pub tokenizer: Rc<Tokenizer>,
    pub template: Option<ChatTemplate>,
}

impl LoadedModel {
    pub fn open<S: ByteSource + ?Sized>(src: &S) -> Result<LoadedModel, ModelError> {
        let gguf = Gguf::parse(src)?;
        let arch = gguf.architecture()?.to_string();
        if !model::is_supported(&arch) {
            return Err(ModelError::Unsupported(format!("architecture {arch:?} is not supported")));
        }
        let hparams = HParams::from_gguf(&gguf).map_err(ModelError::Invalid)?;
        let tokenizer = Tokenizer::from_gguf(&gguf).map_err(ModelError::Invalid)?;
        let text = |id: Option<u32>| id.and_then(|i| tokenizer.token_text(i)).unwrap_or("").to_string();
        let template = match gguf.str("tokenizer.chat_template") {
            Some(src) => Some(
                ChatTemplate::new(src, &text(tokenizer.bos()), &text(tokenizer.eos()))
                    .map_err(|e| ModelError::Invalid(format!("the chat template does not parse: {e}")))?,
            ),
            None => None,
        };
        Ok(LoadedModel { gguf, hparams, tokenizer: Rc::new(tokenizer), template })
    }

    pub fn info(&self) -> Info {
        let g = &self.gguf;
        Info {
            architecture: self.hparams.arch.clone(),
            name: g.str("general.name").unwrap_or("").to_string(),
            parameter_count: g.tensors.iter().map(|t| t.n_elements()).sum(),
            file_type: g.u64("general.file_type").map(file_type_name).unwrap_or_else(|| self.dominant_type()),
            context_length: self.hparams.n_ctx_train,
            embedding_length: self.hparams.n_embd,
            vocab_size: self.tokenizer.vocab_size(),
            bos: self.tokenizer.bos(),
            eos: self.tokenizer.eos(),
            chat_template: g.str("tokenizer.chat_template").map(str::to_string),
        }
    }

    /// The type holding most weight bytes, for files without general.file_type.
    fn dominant_type(&self) -> String {
        let mut by_type = std::collections::BTreeMap::<u32, u64>::new();
        for t in &self.gguf.tensors {
            *by_type.entry(t.ggml_type).or_default() += t.n_bytes;
        }
        by_type.into_iter().max_by_key(|&(_, b)| b).map(|(t, _)| gguf::type_name(t)).unwrap_or_default()
    }

    /// Metadata as flat key/values; arrays as (element kind, length).
    pub fn metadata(&self) -> Vec<(String, MetaValue)> {
        self.gguf
            .metadata
            .iter()
            .map(|(k, v)| {
                let mv = match v {
                    Value::U64(x) => MetaValue::Uint(*x),
                    Value::I64(x) => MetaValue::Int(*x),
                    Value::F64(x) => MetaValue::Float(*x),
                    Value::Bool(x) => MetaValue::Bool(*x),
                    Value::Str(x) => MetaValue::Text(x.clone()),
                    Value::Array(a) => MetaValue::Array(array_kind(a).to_string(), a.len()),
                };
                (k.clone(), mv)
            })
            .collect()
    }
}

impl LoadedModel {
    /// Every metadata key with its whole value as one JSON object.
    pub fn metadata_json(&self) -> String {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.gguf.metadata {
            let j = match v {
                Value::U64(x) => serde_json::json!(x),
                Value::I64(x) => serde_json::json!(x),
                Value::F64(x) => serde_json::json!(x),
                Value::Bool(x) => serde_json::json!(x),
                Value::Str(x) => serde_json::json!(x),
                Value::Array(Array::Ints(a)) => serde_json::json!(a),
                Value::Array(Array::Floats(a)) => serde_json::json!(a),
                Value::Array(Array::Bools(a)) => serde_json::json!(a),
                Value::Array(Array::Strs(a)) => serde_json::json!(a),
                Value::Array(Array::Nested(_)) => serde_json::json!([]),
            };
            m.insert(k.clone(), j);
        }
        serde_json::Value::Object(m).to_string()
    }

    /// (name, ggml type name, dims) of every tensor, in file order.
    pub fn tensors(&self) -> Vec<(String, String, Vec<u64>)> {
        self.gguf
            .tensors
            .iter()
            .map(|t| (t.name.clone(), crate::gguf::type_name(t.ggml_type), t.dims.clone()))
            .collect()
    }
}

fn array_kind(a: &Array) -> &'static str {
    a.kind()
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    Uint(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Array(String, u64),
}

/// llama.cpp's `general.file_type` (llama_ftype) names.
pub fn file_type_name(ftype: u64) -> String {
    match ftype {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        32 => "BF16",
        other => return format!("ftype {other}"),
    }
    .to_string()
}
