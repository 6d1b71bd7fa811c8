//! Architectures: each turns GGUF hyperparameters and tensor names into a forward graph.

pub mod gemma3;
pub mod bert;
pub mod llama;

use wollama_plan::{NodeId, PlanSpec, Weight, WeightIdx};

use crate::gguf::{Gguf, TensorInfo};
use crate::graph::GraphBuilder;

/// Hyperparameters every decoder shares, read from `<arch>.*` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    pub arch: String,
    pub n_layer: u32,
    pub n_embd: u32,
    pub n_ff: u32,
    pub n_head: u32,
    pub n_head_kv: u32,
    pub head_dim: u32,
    pub n_rot: u32,
    pub rope_base: f32,
    pub rope_scale: f32,
    pub norm_eps: f32,
    pub n_ctx_train: u32,
    pub n_vocab: u32,
}

impl HParams {
    pub fn from_gguf(g: &Gguf) -> Result<HParams, String> {
        let arch = g.architecture().map_err(|e| e.to_string())?.to_string();
        let key = |k: &str| format!("{arch}.{k}");
        let req = |k: &str| -> Result<u32, String> {
            g.u64(&key(k))
                .filter(|&v| v > 0 && v <= u32::MAX as u64)
                .map(|v| v as u32)
                .ok_or_else(|| format!("model metadata {} is missing or invalid", key(k)))
        };
        let n_embd = req("embedding_length")?;
        let n_head = req("attention.head_count")?;
        let n_head_kv = g.u64(&key("attention.head_count_kv")).map(|v| v as u32).unwrap_or(n_head);
        if n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(format!("{n_head} attention heads cannot be grouped over {n_head_kv} KV heads"));
        }
        let head_dim = g
            .u64(&key("attention.key_length"))
            .map(|v| v as u32)
            .unwrap_or(n_embd / n_head);
        let n_rot = g.u64(&key("rope.dimension_count")).map(|v| v as u32).unwrap_or(head_dim);
        if head_dim == 0 || n_rot > head_dim || !n_rot.is_multiple_of(2) {
            return Err(format!("rope dimension {n_rot} does not fit head size {head_dim}"));
        }
        let rope_scale = match g.str(&key("rope.scaling.type")) {
            Some("linear") => g.f64(&key("rope.scaling.factor")).filter(|f| *f > 0.0).map(|f| 1.0 / f as f32).unwrap_or(1.0),
            Some("none") | None => 1.0,
            Some(other) => return Err(format!("rope scaling {other:?} is not supported yet")),
        };
        let n_vocab = g
            .u64(&key("vocab_size"))
            .or_else(|| g.strs("tokenizer.ggml.tokens").map(|t| t.len() as u64))
            .ok_or("the vocabulary size is unknown")? as u32;
        Ok(HParams {
            n_layer: req("block_count")?,
            n_embd,
            n_ff: req("feed_forward_length")?,
            n_head,
            n_head_kv,
            head_dim,
            n_rot,
            rope_base: g.f64(&key("rope.freq_base")).unwrap_or(10000.0) as f32,
            rope_scale,
            norm_eps: g
                .f64(&key("attention.layer_norm_rms_epsilon"))
                .unwrap_or(1e-5) as f32,
            n_ctx_train: g.u64(&key("context_length")).unwrap_or(2048) as u32,
            n_vocab,
            arch,
        })
    }
}

/// Binds GGUF tensors into a graph by name, checking shapes as it goes.
pub struct Binder<'a> {
    pub gguf: &'a Gguf,
    pub b: GraphBuilder,
}

impl<'a> Binder<'a> {
    pub fn new(gguf: &'a Gguf) -> Self {
        Binder { gguf, b: GraphBuilder::default() }
    }

    fn info(&self, name: &str) -> Option<&'a TensorInfo> {
        self.gguf.tensor(name)
    }

    fn bind(&mut self, t: &TensorInfo) -> WeightIdx {
        self.b.weight(Weight {
            name: t.name.clone(),
            ggml_type: t.ggml_type,
            shape: t.dims.clone(),
            offset: t.offset,
        })
    }

    /// A required tensor whose ggml shape must equal `shape`.
    pub fn tensor(&mut self, name: &str, shape: &[u64]) -> Result<WeightIdx, String> {
        let t = self.info(name).ok_or_else(|| format!("tensor {name} is missing from the model"))?;
        if t.dims != shape {
            return Err(format!("tensor {name} has shape {:?}, expected {shape:?}", t.dims));
        }
        Ok(self.bind(t))
    }

    /// Row 0 of a [n, rows] matrix, bound as an n-vector (a view at the tensor's offset).
    pub fn first_row(&mut self, name: &str, n: u64) -> Result<Option<WeightIdx>, String> {
        let Some(t) = self.info(name) else { return Ok(None) };
        if t.dims.len() != 2 || t.dims[0] != n || t.dims[1] == 0 {
            return Err(format!("tensor {name} has shape {:?}, expected [{n}, rows]", t.dims));
        }
        Ok(Some(self.b.weight(Weight {
            name: format!("{name}[0]"),
            ggml_type: t.ggml_type,
            shape: vec![n],
            offset: t.offset,
        })))
    }

    pub fn optional(&mut self, name: &str, shape: &[u64]) -> Result<Option<WeightIdx>, String> {
        if self.info(name).is_none() {
            return Ok(None);
        }
        self.tensor(name, shape).map(Some)
    }

    pub fn finish(self, logits: NodeId) -> PlanSpec {
        self.b.finish(logits)
    }
}

const SUPPORTED: &[&str] = &["llama", "qwen2", "gemma3", "bert"];

pub fn is_supported(arch: &str) -> bool {
    SUPPORTED.contains(&arch)
}

/// Builds the forward graph for the file's architecture.
pub fn build_graph(g: &Gguf) -> Result<(HParams, PlanSpec), String> {
    let hp = HParams::from_gguf(g)?;
    let graph = match hp.arch.as_str() {
        "llama" | "qwen2" => llama::build(g, &hp)?,
        "gemma3" => gemma3::build(g, &hp)?,
        "bert" => bert::build(g, &hp)?,
        other => return Err(format!("architecture {other:?} is not supported")),
    };
    Ok((hp, graph))
}
