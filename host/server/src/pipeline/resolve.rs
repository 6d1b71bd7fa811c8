//! Step one: a model name to what a request runs on: the model's load spec (file, `num_ctx`,
//! `num_batch`), its Modelfile SYSTEM, TEMPLATE and MESSAGEs, and the options of the model
//! merged under the request's. Also what the merged options mean to the engine request.

use wollama_runtime::{ChatMessage, Request, Sampling};
use wollama_store::manifest::{MEDIA_TYPE_MESSAGES, MEDIA_TYPE_MODEL, MEDIA_TYPE_PARAMS, MEDIA_TYPE_SYSTEM, MEDIA_TYPE_TEMPLATE};
use wollama_store::{Digest, ModelName, Options, Store};

use crate::error::{ApiError, ApiResult};
use crate::keep_alive::KeepAlive;
use crate::sched::LoadSpec;
use crate::state::AppState;

/// What a model in the store brings to a request.
pub(crate) struct Resolved {
    pub spec: LoadSpec,
    pub params: Options,
    pub system: Option<String>,
    /// The Modelfile TEMPLATE (Go text/template), if the model has one.
    pub template: Option<String>,
    /// The Modelfile MESSAGEs, prepended to every conversation.
    pub messages: Vec<ChatMessage>,
    /// The model's trained context length (0 when its config does not say).
    pub context_length: u32,
}

impl Resolved {
    /// Ollama's 400 for a generate or chat request (`verb`) on an embedding-only model.
    pub(crate) fn require_completion(&self, model: &str, verb: &str) -> ApiResult<()> {
        if self.spec.embedding {
            return Err(ApiError::bad_request(format!("\"{model}\" does not support {verb}")));
        }
        Ok(())
    }
}

/// The bytes of a model's (first) layer of one media type.
fn layer_bytes(s: &AppState, manifest: &wollama_store::Manifest, media: &str) -> ApiResult<Option<Vec<u8>>> {
    let Some(l) = manifest.layers_of(media).next() else { return Ok(None) };
    let d = Digest::parse(&l.digest).map_err(|e| ApiError::internal(e.to_string()))?;
    s.store.blobs().read(&d).map(Some).map_err(|e| ApiError::internal(e.to_string()))
}

/// The text of every layer of one media type (unreadable ones left out).
pub(crate) fn layer_text(store: &Store, manifest: &wollama_store::Manifest, media: &str) -> Vec<String> {
    manifest
        .layers_of(media)
        .filter_map(|l| Digest::parse(&l.digest).ok())
        .filter_map(|d| store.read_blob_string(&d).ok())
        .collect()
}

pub(crate) fn resolve(s: &AppState, text: &str, opts: &Options) -> ApiResult<Resolved> {
    let name = ModelName::parse(text).map_err(|_| ApiError::bad_request("invalid model name"))?;
    let name = s.store.canonical_name(&name);
    let entry = s.store.get(&name).map_err(|_| ApiError::model_not_found(text))?;
    let layer = entry
        .manifest
        .layers_of(MEDIA_TYPE_MODEL)
        .next()
        .ok_or_else(|| ApiError::internal(format!("{text} has no model layer")))?;
    let digest = Digest::parse(&layer.digest).map_err(|e| ApiError::internal(e.to_string()))?;
    let read = |media| layer_bytes(s, &entry.manifest, media);
    let text_of = |b: Vec<u8>| String::from_utf8(b).map_err(|e| ApiError::internal(e.to_string()));
    let params = match read(MEDIA_TYPE_PARAMS)? {
        Some(b) => Options::from_params_json(&b).map_err(|e| ApiError::internal(e.to_string()))?.options,
        None => Options::default(),
    };
    let system = read(MEDIA_TYPE_SYSTEM)?.map(text_of).transpose()?;
    let template = read(MEDIA_TYPE_TEMPLATE)?.map(text_of).transpose()?;
    let messages: Vec<ChatMessage> = match read(MEDIA_TYPE_MESSAGES)? {
        Some(b) => serde_json::from_slice::<Vec<wollama_store::Message>>(&b)
            .map_err(|e| ApiError::internal(e.to_string()))?
            .into_iter()
            .map(|m| ChatMessage::new(m.role, m.content))
            .collect(),
        None => Vec::new(),
    };
    let mut defaults = Options::defaults();
    if let Some(n) = crate::env::context_length() {
        defaults.num_ctx = Some(n);
    }
    let merged = defaults.merge(&params).merge(opts);
    let config = s.store.read_config(&entry.manifest).unwrap_or_default();
    let embedding = config.capabilities.iter().any(|c| c == "embedding");
    let num_ctx = merged.num_ctx.unwrap_or(4096).clamp(4, 1 << 20) as u32;
    // Embedding models batch whole inputs: Ollama's default num_batch for them is
    // min(2048, num_ctx).
    let default_batch = if embedding { 2048.min(num_ctx as i64) } else { 512 };
    Ok(Resolved {
        spec: LoadSpec {
            name: name.display_long(),
            display: name.display_shortest(),
            digest: entry.digest.clone(),
            gguf: s.store.blob_path(&digest),
            file_size: layer.size,
            num_ctx,
            num_batch: merged.num_batch.unwrap_or(default_batch).clamp(1, 4096) as u32,
            // Ollama's num_gpu is a layer count; wollama offloads all or nothing: 0 is the CPU.
            gpu: s.sched.has_gpu() && merged.num_gpu != Some(0),
            embedding,
        },
        context_length: config.context_length.min(u32::MAX as u64) as u32,
        params: merged,
        system,
        template,
        messages,
    })
}

/// An empty prompt or message list loads the model, or unloads it with `keep_alive: 0`;
/// returns the `done_reason`.
pub(crate) async fn load_or_unload(s: &AppState, spec: &LoadSpec, keep_alive: Option<KeepAlive>) -> ApiResult<&'static str> {
    if keep_alive == Some(Some(std::time::Duration::ZERO)) {
        s.sched.unload(&spec.name);
        Ok("unload")
    } else {
        drop(s.sched.acquire(spec, keep_alive).await?);
        Ok("load")
    }
}

fn sampling(o: &Options) -> Sampling {
    Sampling {
        temperature: o.temperature.unwrap_or(0.8),
        top_k: o.top_k.unwrap_or(40).max(0) as u32,
        top_p: o.top_p.unwrap_or(0.9),
        min_p: o.min_p.unwrap_or(0.0),
        typical_p: o.typical_p.unwrap_or(1.0),
        repeat_penalty: o.repeat_penalty.unwrap_or(1.0),
        repeat_last_n: o.repeat_last_n.unwrap_or(64) as i32,
        presence_penalty: o.presence_penalty.unwrap_or(0.0),
        frequency_penalty: o.frequency_penalty.unwrap_or(0.0),
        seed: o.seed.filter(|&s| s >= 0).map(|s| s as u64),
    }
}

/// Tokens kept at the front when a prompt is cut to fit (Ollama's default 4; -1 keeps all).
pub(crate) fn num_keep(o: &Options) -> i64 {
    o.num_keep.unwrap_or(4)
}

/// The context shift of a request (on unless `shift` is false, as Ollama): the leading tokens
/// kept when generation fills the context, `num_keep` of them (-1: the whole prompt).
pub(crate) fn shift_keep(shift: bool, o: &Options, prompt_len: usize) -> Option<u32> {
    let keep = match num_keep(o) {
        k if k < 0 => prompt_len,
        k => k as usize,
    };
    shift.then(|| keep.min(u32::MAX as usize) as u32)
}

pub(crate) fn engine_request(prompt: Vec<u32>, o: &Options) -> Request {
    Request {
        prompt,
        sampling: sampling(o),
        num_predict: o.num_predict.unwrap_or(-1).clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        stop: o.stop.clone().unwrap_or_default(),
        stop_at_eog: true,
        grammar: None,
        top_logprobs: None,
        shift_keep: None,
    }
}
