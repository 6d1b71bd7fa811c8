//! `POST /api/generate`: load/unload on an empty prompt, raw or templated prompts, options,
//! keep_alive, NDJSON streaming or one response. The pipeline renders the prompt (a request or
//! Modelfile Go TEMPLATE, else the GGUF's Jinja chat template) and cuts it to fit the context.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::request::{keep_alive_of, logprobs_of, options_of, think_of};
use super::request_checks;
use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use super::answer::{Answer, Chunks};
use crate::framing::{self, Framing};
use crate::go_time::now_rfc3339;
use crate::pipeline::prompt::{self, Completion, Run, Started, Templating};
use crate::pipeline::resolve::{load_or_unload, resolve};
use crate::pipeline::thinking::Split;
use crate::state::AppState;

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

/// Generate's chunks: the response text (and thinking), and at the end the reason and the
/// context (prompt and generated tokens) unless raw.
struct GenerateChunks {
    model: String,
    /// The prompt's tokens, or None for a raw request (no context).
    prompt: Option<Vec<u32>>,
}

impl GenerateChunks {
    fn chunk(&self, split: &Split, done: bool) -> Value {
        let mut v = json!({ "model": self.model, "created_at": now_rfc3339(), "response": split.content, "done": done });
        if !split.thinking.is_empty() {
            v["thinking"] = json!(split.thinking);
        }
        v
    }
}

impl Chunks for GenerateChunks {
    fn text(&self, split: &Split) -> Value {
        self.chunk(split, false)
    }

    fn last(&self, split: &Split, _calls: &[Value], reason: &str, tokens: &[u32]) -> Value {
        let mut v = self.chunk(split, true);
        v["done_reason"] = json!(reason);
        if let Some(prompt) = &self.prompt {
            let mut ctx = prompt.clone();
            ctx.extend_from_slice(tokens);
            v["context"] = json!(ctx);
        }
        v
    }
}

pub async fn generate(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
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
    let images = request_checks::generate_images(&req)?;
    let keep_alive = keep_alive_of(&req)?;
    let grammar = crate::format::native(&body, req.get("format"))?;
    let top_logprobs = logprobs_of(&req)?;
    let opts = options_of(&req)?;
    let resolved = resolve(&s, &model, &opts)?;
    resolved.require_completion(&model, "generate")?;
    request_checks::require(&resolved.spec.name, images, get_str(&req, "suffix"))?;
    let prompt_text = get_str(&req, "prompt").unwrap_or("");
    let stream = get_bool(&req, "stream").unwrap_or(true);

    if prompt_text.is_empty() {
        let reason = load_or_unload(&s, &resolved.spec, keep_alive).await?;
        let v = json!({ "model": model, "created_at": now_rfc3339(), "response": "", "done": true, "done_reason": reason });
        return Ok(Json(v).into_response());
    }

    let think = think_of(req.get("think"));
    let completion = Completion {
        prompt: prompt_text,
        templating: if raw { Templating::Raw { think } } else { Templating::Thinking { think } },
        system: get_str(&req, "system").map(str::to_string),
        template: get_str(&req, "template").map(str::to_string),
        context: req
            .get("context")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_u64).map(|t| t as u32).collect()),
    };
    let run = Run {
        grammar,
        top_logprobs,
        truncate: get_bool(&req, "truncate").unwrap_or(true),
        shift: get_bool(&req, "shift").unwrap_or(true),
        render_only: request_checks::debug_render_only(&req),
    };
    let generation = match prompt::complete(&s, &resolved, completion, keep_alive, run, started).await? {
        Started::Running(g) => *g,
        Started::Rendered(text) => return Ok(Json(request_checks::debug_answer(&model, &text, images, false)).into_response()),
    };
    let answer = Answer(GenerateChunks { model, prompt: (!raw).then(|| generation.prompt.clone()) });
    if stream {
        Ok(framing::stream(generation, answer, Framing::Ndjson))
    } else {
        Ok(Json(answer.whole(generation.gather().await?)).into_response())
    }
}
