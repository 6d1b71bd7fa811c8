//! BERT (sentence-transformers layout): config.json hyperparameters, the WordPiece vocabulary
//! of tokenizer.json in llama.cpp's phantom-space form, the pooling modules.json declares, and
//! Hugging Face tensor names mapped to llama.cpp's.

use serde_json::Value;

use super::gguf_writer::MetaValue;
use super::safetensors::SafeTensor;
use super::{Files, Planned};

type Meta = Vec<(String, MetaValue)>;

fn hp(config: &Value, key: &str) -> Result<u32, String> {
    config[key]
        .as_u64()
        .filter(|&v| v > 0 && v <= u32::MAX as u64)
        .map(|v| v as u32)
        .ok_or_else(|| format!("config.json has no valid {key}"))
}

/// llama.cpp's pooling type: 1 = mean, 2 = CLS, from sentence-transformers' Pooling module.
fn pooling(files: &Files) -> Result<u32, String> {
    let Some(modules) = files.json("modules.json")? else { return Ok(1) };
    let Some(path) = modules
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["type"].as_str() == Some("sentence_transformers.models.Pooling"))
        .and_then(|m| m["path"].as_str())
    else {
        return Ok(1);
    };
    let cfg = files.require_json(&format!("{path}/config.json"))?;
    let on = |k: &str| cfg[k].as_bool().unwrap_or(false);
    if on("pooling_mode_mean_tokens") {
        Ok(1)
    } else if on("pooling_mode_cls_token") {
        Ok(2)
    } else {
        Err(format!("{path}/config.json asks for a pooling other than mean or CLS, which is not supported"))
    }
}

fn normalizes(files: &Files) -> Result<bool, String> {
    Ok(files.json("modules.json")?.is_some_and(|m| {
        m.as_array().into_iter().flatten().any(|m| m["type"].as_str() == Some("sentence_transformers.models.Normalize"))
    }))
}

/// (pieces, token types, added specials by text).
type Vocab = (Vec<String>, Vec<i32>, Vec<(String, u32)>);

/// The vocabulary by id, in llama.cpp's form: word-initial pieces get '▁', "##" continuations
/// lose their prefix, bracketed specials stay as they are. Added special tokens are control
/// tokens (type 3), the rest normal (1).
fn vocab(files: &Files) -> Result<Vocab, String> {
    let tok = files.require_json("tokenizer.json")?;
    let model = &tok["model"];
    if model["type"].as_str() != Some("WordPiece") {
        return Err(format!("tokenizer.json has a {:?} model; BERT conversion needs WordPiece", model["type"]));
    }
    if tok["normalizer"]["type"].as_str() == Some("BertNormalizer") && tok["normalizer"]["lowercase"] == Value::Bool(false) {
        return Err("cased WordPiece vocabularies are not supported (the tokenizer lower-cases)".into());
    }
    let prefix = model["continuing_subword_prefix"].as_str().unwrap_or("##");
    let map = model["vocab"].as_object().ok_or("tokenizer.json has no WordPiece vocab")?;
    let mut tokens = vec![None; map.len()];
    for (text, id) in map {
        let id = id.as_u64().filter(|&i| (i as usize) < tokens.len()).ok_or_else(|| {
            format!("tokenizer.json token {text:?} has an id outside 0..{}", map.len())
        })?;
        tokens[id as usize] = Some(text.clone());
    }
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| format!("tokenizer.json has no token with id {i}")))
        .collect::<Result<_, _>>()?;
    let mut types = vec![1i32; tokens.len()];
    let mut specials = Vec::new();
    for a in tok["added_tokens"].as_array().into_iter().flatten() {
        let (Some(id), Some(content)) = (a["id"].as_u64(), a["content"].as_str()) else { continue };
        if a["special"].as_bool() == Some(true) && (id as usize) < types.len() {
            types[id as usize] = 3;
            specials.push((content.to_string(), id as u32));
        }
    }
    let phantom = tokens
        .iter()
        .map(|t| {
            if t.starts_with('[') && t.ends_with(']') {
                t.clone()
            } else if let Some(rest) = t.strip_prefix(prefix) {
                rest.to_string()
            } else {
                format!("▁{t}")
            }
        })
        .collect();
    Ok((phantom, types, specials))
}

/// The llama.cpp name of a Hugging Face BERT tensor; None for tensors an encoder does not use.
fn gguf_name(hf: &str) -> Result<Option<String>, String> {
    let name = hf.strip_prefix("bert.").unwrap_or(hf);
    let fixed = match name {
        "embeddings.word_embeddings.weight" => Some("token_embd.weight"),
        "embeddings.position_embeddings.weight" => Some("position_embd.weight"),
        "embeddings.token_type_embeddings.weight" => Some("token_types.weight"),
        "embeddings.LayerNorm.weight" => Some("token_embd_norm.weight"),
        "embeddings.LayerNorm.bias" => Some("token_embd_norm.bias"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Ok(Some(f.to_string()));
    }
    if name == "embeddings.position_ids" || name.starts_with("pooler.") || name.starts_with("cls.") {
        return Ok(None);
    }
    let unknown = || format!("tensor {hf} is not part of a BERT encoder");
    let rest = name.strip_prefix("encoder.layer.").ok_or_else(unknown)?;
    let (layer, part) = rest.split_once('.').ok_or_else(unknown)?;
    let layer: u32 = layer.parse().map_err(|_| unknown())?;
    let (module, kind) = part.rsplit_once('.').ok_or_else(unknown)?;
    let target = match module {
        "attention.self.query" => "attn_q",
        "attention.self.key" => "attn_k",
        "attention.self.value" => "attn_v",
        "attention.output.dense" => "attn_output",
        "attention.output.LayerNorm" => "attn_output_norm",
        "intermediate.dense" => "ffn_up",
        "output.dense" => "ffn_down",
        "output.LayerNorm" => "layer_output_norm",
        _ => return Err(unknown()),
    };
    if kind != "weight" && kind != "bias" {
        return Err(unknown());
    }
    Ok(Some(format!("blk.{layer}.{target}.{kind}")))
}

pub fn plan(files: &Files, config: &Value, tensors: Vec<SafeTensor>) -> Result<(Meta, Vec<Planned>), String> {
    let act = config["hidden_act"].as_str().unwrap_or("gelu");
    if act != "gelu" {
        return Err(format!("BERT with hidden_act {act:?} is not supported (gelu is)"));
    }
    if let Some(p) = config["position_embedding_type"].as_str().filter(|p| *p != "absolute") {
        return Err(format!("BERT with {p} position embeddings is not supported (absolute is)"));
    }
    let n_embd = hp(config, "hidden_size")?;
    let n_head = hp(config, "num_attention_heads")?;
    if n_embd % n_head != 0 {
        return Err(format!("hidden_size {n_embd} does not divide into {n_head} heads"));
    }
    let (tokens, types, specials) = vocab(files)?;
    let n_vocab = hp(config, "vocab_size")?;
    if tokens.len() != n_vocab as usize {
        return Err(format!("tokenizer.json has {} tokens but config.json says vocab_size {n_vocab}", tokens.len()));
    }
    let name = config["_name_or_path"].as_str().and_then(|p| p.rsplit('/').next()).filter(|n| !n.is_empty()).unwrap_or("bert");
    let mut meta: Meta = vec![
        ("general.architecture".into(), MetaValue::Str("bert".into())),
        ("general.name".into(), MetaValue::Str(name.into())),
        ("bert.context_length".into(), MetaValue::U32(hp(config, "max_position_embeddings")?)),
        ("bert.embedding_length".into(), MetaValue::U32(n_embd)),
        ("bert.feed_forward_length".into(), MetaValue::U32(hp(config, "intermediate_size")?)),
        ("bert.block_count".into(), MetaValue::U32(hp(config, "num_hidden_layers")?)),
        ("bert.attention.head_count".into(), MetaValue::U32(n_head)),
        (
            "bert.attention.layer_norm_epsilon".into(),
            MetaValue::F32(config["layer_norm_eps"].as_f64().unwrap_or(1e-12) as f32),
        ),
        ("bert.attention.causal".into(), MetaValue::Bool(false)),
        ("bert.pooling_type".into(), MetaValue::U32(pooling(files)?)),
        ("bert.normalize_embeddings".into(), MetaValue::Bool(normalizes(files)?)),
        ("tokenizer.ggml.model".into(), MetaValue::Str("bert".into())),
        ("tokenizer.ggml.pre".into(), MetaValue::Str("default".into())),
        ("tokenizer.ggml.tokens".into(), MetaValue::Strs(tokens)),
        ("tokenizer.ggml.token_type".into(), MetaValue::I32s(types)),
        ("tokenizer.ggml.token_type_count".into(), MetaValue::U32(config["type_vocab_size"].as_u64().unwrap_or(2) as u32)),
    ];
    for (text, key) in [
        ("[UNK]", "unknown_token_id"),
        ("[SEP]", "seperator_token_id"),
        ("[PAD]", "padding_token_id"),
        ("[CLS]", "cls_token_id"),
        ("[MASK]", "mask_token_id"),
    ] {
        if let Some((_, id)) = specials.iter().find(|(t, _)| t == text) {
            meta.push((format!("tokenizer.ggml.{key}"), MetaValue::U32(*id)));
        }
    }
    let mut planned = Vec::with_capacity(tensors.len());
    for t in tensors {
        if let Some(name) = gguf_name(&t.name)? {
            planned.push(Planned { name, dims: t.shape.iter().rev().copied().collect(), source: t });
        }
    }
    if !planned.iter().any(|p| p.name == "token_embd.weight") {
        return Err("the safetensors file has no embeddings.word_embeddings.weight".into());
    }
    Ok((meta, planned))
}
