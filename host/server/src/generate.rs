//! `POST /api/generate`: load/unload on an empty prompt, raw or templated prompts, options,
//! keep_alive, NDJSON streaming or one response. The prompt is rendered by the guest (a
//! request or Modelfile Go TEMPLATE, else the GGUF's Jinja chat template) and cut to fit the
//! context (`truncate`).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use wollama_runtime::{ChatMessage, PromptOptions, Request, Sampling};
use wollama_store::manifest::{MEDIA_TYPE_MESSAGES, MEDIA_TYPE_MODEL, MEDIA_TYPE_PARAMS, MEDIA_TYPE_SYSTEM, MEDIA_TYPE_TEMPLATE};
use wollama_store::{Digest, ModelName, Options};

use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::keep_alive;
use crate::output::OutputParser;
use crate::routes::Shared;
use crate::sched::LoadSpec;
use crate::stream::{self, now_rfc3339, Shape};
use crate::truncate;

const GENERATE: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("prompt", Kind::Str, "string"),
    field("suffix", Kind::Str, "string"),
    field("system", Kind::Str, "string"),
    field("template", Kind::Str, "string"),
    field("context", Kind::List(&Kind::Int), "[]int"),
    field("stream", Kind::Bool, "bool"),
    field("raw", Kind::Bool, "bool"),
    field("format", Kind::Any, "json.RawMessage"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("images", Kind::List(&Kind::Str), "[]api.ImageData"),
    field("options", Kind::Object, "map[string]interface {}"),
    field("think", Kind::Any, "api.ThinkValue"),
    field("truncate", Kind::Bool, "bool"),
    field("shift", Kind::Bool, "bool"),
    field("logprobs", Kind::Bool, "bool"),
    field("top_logprobs", Kind::Int, "int"),
    field("_debug_render_only", Kind::Bool, "bool"),
];

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
fn layer_bytes(s: &Shared, manifest: &wollama_store::Manifest, media: &str) -> ApiResult<Option<Vec<u8>>> {
    let Some(l) = manifest.layers_of(media).next() else { return Ok(None) };
    let d = Digest::parse(&l.digest).map_err(|e| ApiError::internal(e.to_string()))?;
    s.store.blobs().read(&d).map(Some).map_err(|e| ApiError::internal(e.to_string()))
}

/// `keep_alive` of a request: None when absent.
pub(crate) fn keep_alive_of(req: &Map<String, Value>) -> ApiResult<Option<keep_alive::KeepAlive>> {
    req.get("keep_alive").map(|v| keep_alive::from_json(v).map_err(ApiError::bad_request)).transpose().map(Option::flatten)
}

/// An empty prompt or message list loads the model, or unloads it with `keep_alive: 0`;
/// returns the `done_reason`.
pub(crate) async fn load_or_unload(
    s: &Shared,
    spec: &LoadSpec,
    keep_alive: Option<keep_alive::KeepAlive>,
) -> ApiResult<&'static str> {
    if keep_alive == Some(Some(std::time::Duration::ZERO)) {
        s.sched.unload(&spec.name);
        Ok("unload")
    } else {
        drop(s.sched.acquire(spec, keep_alive).await?);
        Ok("load")
    }
}

pub(crate) fn resolve(s: &Shared, text: &str, opts: &Options) -> ApiResult<Resolved> {
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
            embedding,
        },
        context_length: config.context_length.min(u32::MAX as u64) as u32,
        params: merged,
        system,
        template,
        messages,
    })
}

pub fn sampling(o: &Options) -> Sampling {
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

struct GenerateShape {
    model: String,
    prompt: Vec<u32>,
    raw: bool,
    /// Splits thinking from the response when the request thinks.
    output: OutputParser,
}

impl GenerateShape {
    fn base(&mut self, text: &str, done: bool) -> Value {
        let mut split = self.output.push(text);
        if done {
            let (rest, _) = self.output.finish();
            split.thinking += &rest.thinking;
            split.content += &rest.content;
        }
        let mut v = json!({ "model": self.model, "created_at": now_rfc3339(), "response": split.content, "done": done });
        if !split.thinking.is_empty() {
            v["thinking"] = json!(split.thinking);
        }
        v
    }
    fn finish(&self, mut v: Value, reason: &str, tokens: &[u32]) -> Value {
        v["done_reason"] = json!(reason);
        if !self.raw {
            let mut ctx = self.prompt.clone();
            ctx.extend_from_slice(tokens);
            v["context"] = json!(ctx);
        }
        v
    }
}

impl Shape for GenerateShape {
    fn text_chunk(&mut self, text: &str) -> Value {
        self.base(text, false)
    }
    fn final_chunk(&mut self, reason: &str, tokens: &[u32]) -> Value {
        let v = self.base("", true);
        self.finish(v, reason, tokens)
    }
    fn whole(&mut self, text: &str, reason: &str, tokens: &[u32]) -> Value {
        let v = self.base(text, true);
        self.finish(v, reason, tokens)
    }
}

pub(crate) fn options_of(req: &Map<String, Value>) -> ApiResult<Options> {
    match req.get("options").and_then(Value::as_object) {
        Some(m) => Options::from_map(m).map(|p| p.options).map_err(|e| ApiError::internal(e.to_string())),
        None => Ok(Options::default()),
    }
}

/// A generate prompt through the model's template: the Go `template` when there is one,
/// else the GGUF's Jinja chat template with the system, history and prompt as messages, else
/// the prompt as it is; `think` as the template should see it. Shared by `/api/generate` and
/// `/v1/completions`.
pub(crate) fn render_prompt(
    runner: &wollama_runtime::Runner,
    prompt_text: &str,
    system: Option<String>,
    template: Option<String>,
    history: Vec<ChatMessage>,
    think: Option<String>,
) -> ApiResult<String> {
    let message = |role: &str, content: &str| ChatMessage::new(role, content);
    let mut msgs = Vec::new();
    if let Some(sys) = system.filter(|s| !s.is_empty()) {
        msgs.push(message("system", &sys));
    }
    msgs.extend(history.iter().map(|m| message(&m.role, &m.content)));
    msgs.push(message("user", prompt_text));
    let is_go = template.is_some();
    match runner.render_prompt(msgs, PromptOptions { template, think, ..PromptOptions::default() }) {
        Ok(t) => Ok(t),
        // A model without a chat template takes the prompt as it is ({{ .Prompt }}).
        Err(wollama_runtime::Error::Unsupported(_)) if !is_go => Ok(prompt_text.to_string()),
        Err(e) if is_go => Err(ApiError::internal(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

pub async fn generate(State(s): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req = decode::decode(&body, "GenerateRequest", GENERATE)?;
    let model = get_str(&req, "model").unwrap_or("").to_string();
    if model.is_empty() {
        return Err(ApiError::model_not_found(""));
    }
    let raw = get_bool(&req, "raw").unwrap_or(false);
    if raw && (req.contains_key("template") || req.contains_key("system") || req.contains_key("context")) {
        return Err(ApiError::bad_request("raw mode does not support template, system, or context"));
    }
    let images = crate::capability::generate_images(&req)?;
    let keep_alive = keep_alive_of(&req)?;
    let grammar = crate::format::native(&body, req.get("format"))?;
    let top_logprobs = crate::logprobs::requested(get_bool(&req, "logprobs"), req.get("top_logprobs").and_then(Value::as_i64))?;
    let opts = options_of(&req)?;
    let resolved = resolve(&s, &model, &opts)?;
    resolved.require_completion(&model, "generate")?;
    crate::capability::require(&resolved.spec.name, images, get_str(&req, "suffix"))?;
    let prompt_text = get_str(&req, "prompt").unwrap_or("");
    let stream = get_bool(&req, "stream").unwrap_or(true);

    if prompt_text.is_empty() {
        let reason = load_or_unload(&s, &resolved.spec, keep_alive).await?;
        let v = json!({ "model": model, "created_at": now_rfc3339(), "response": "", "done": true, "done_reason": reason });
        return Ok(Json(v).into_response());
    }

    let lease = s.sched.acquire(&resolved.spec, keep_alive).await?;
    let runner = &lease.model.runner;
    let think = crate::chat::think_of(req.get("think"))?;
    let mut output = OutputParser::plain();
    let text = if raw {
        prompt_text.to_string()
    } else {
        let system = get_str(&req, "system").map(str::to_string).or(resolved.system.clone());
        // Modelfile MESSAGEs come first, unless the client continues its own context.
        let history: Vec<ChatMessage> = if req.contains_key("context") { Vec::new() } else { resolved.messages.clone() };
        // A request or Modelfile TEMPLATE (Go) wins over the GGUF's Jinja chat template.
        let template = get_str(&req, "template").map(str::to_string).or(resolved.template.clone());
        let features = runner.template_features(template.clone()).map_err(|e| ApiError::internal(e.to_string()))?;
        let (think_value, thinks) = crate::chat::think_mode(think, &features, &resolved.spec.display)?;
        let text = render_prompt(runner, prompt_text, system, template, history, think_value)?;
        output = OutputParser::new(&features, thinks, false, &text);
        text
    };
    if crate::capability::debug_render_only(&req) {
        return Ok(Json(crate::capability::debug_answer(&model, &text, images, false)).into_response());
    }
    let mut prompt: Vec<u32> = req
        .get("context")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).map(|t| t as u32).collect())
        .unwrap_or_default();
    prompt.extend(runner.tokenize(&text, prompt.is_empty(), true)?);
    tracing::debug!(model = %resolved.spec.name, images, prompt = %text, tokens = prompt.len(), "generate request");
    let truncate = get_bool(&req, "truncate").unwrap_or(true);
    let fitted = truncate::cut_tokens(prompt, resolved.spec.num_ctx as usize, num_keep(&resolved.params), truncate)?;
    let shift = shift_keep(get_bool(&req, "shift").unwrap_or(true), &resolved.params, fitted.tokens.len());
    let engine_req = Request { grammar, top_logprobs, shift_keep: shift, ..engine_request(fitted.tokens.clone(), &resolved.params) };
    let run = stream::submit(lease, engine_req, started, fitted.truncated)?;
    let shape = GenerateShape { model, prompt: fitted.tokens, raw, output };
    if stream {
        Ok(stream::ndjson(run, shape))
    } else {
        Ok(Json(stream::collect(run, shape).await?).into_response())
    }
}
