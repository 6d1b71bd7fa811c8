//! `POST /v1/completions`: a prompt through the pipeline as `/api/generate` runs it (the
//! model's template applied, as Ollama's layer does, without thinking); one `text_completion`
//! object or a stream.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::envelope::{usage, Envelope};
use super::request::{self, get};
use crate::error::{ApiError, ApiResult};
use crate::framing::{self, Framing, Shape};
use crate::pipeline::generation::Done;
use crate::pipeline::prompt::{self, Completion, Run, Templating};
use crate::pipeline::resolve::resolve;
use crate::pipeline::thinking::Split;
use crate::state::AppState;

pub async fn completions(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    super::error::respond(run(s, body).await)
}

async fn run(s: Arc<AppState>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req = request::object(&body)?;
    let common = request::common(&req)?;
    let prompt_text = match get(&req, "prompt") {
        Some(Value::String(p)) if !p.is_empty() => p.clone(),
        Some(Value::String(_)) | None => return Err(ApiError::bad_request("prompt is required")),
        Some(Value::Array(_)) => return Err(ApiError::bad_request("only a single prompt string is supported")),
        Some(_) => return Err(ApiError::bad_request("invalid type for 'prompt': expected a string")),
    };
    let grammar = crate::format::openai(&body, get(&req, "response_format"))?;
    let resolved = resolve(&s, &common.model, &common.options)?;
    let completion = Completion { prompt: &prompt_text, templating: Templating::Plain, system: None, template: None, context: None };
    let run = Run { grammar, top_logprobs: None, truncate: true, shift: true, render_only: false };
    let generation = prompt::complete(&s, &resolved, completion, common.keep_alive, run, started).await?.running();
    let envelope = Envelope::new("cmpl", "text_completion", common.model);
    if common.stream {
        let framing = Framing::Sse { include_usage: common.include_usage };
        return Ok(framing::stream(generation, CompletionChunks { envelope }, framing));
    }
    let w = generation.gather().await?;
    let mut v = envelope.wrap(json!([{ "text": w.split.content, "index": 0, "logprobs": null, "finish_reason": w.reason }]));
    v["usage"] = usage(w.metrics.prompt_eval_count, w.metrics.eval_count);
    Ok(Json(v).into_response())
}

struct CompletionChunks {
    envelope: Envelope,
}

impl Shape for CompletionChunks {
    fn text(&mut self, split: Split, _logprobs: &mut Vec<Value>) -> Vec<Value> {
        if split.content.is_empty() {
            return Vec::new();
        }
        vec![self.envelope.wrap(json!([{ "text": split.content, "index": 0, "logprobs": null, "finish_reason": null }]))]
    }
    fn done(&mut self, d: &Done) -> Vec<Value> {
        vec![self.envelope.wrap(json!([{ "text": "", "index": 0, "logprobs": null, "finish_reason": d.reason }]))]
    }
    fn usage(&mut self, d: &Done) -> Option<Value> {
        Some(self.envelope.usage_chunk(d.metrics.prompt_eval_count, d.metrics.eval_count))
    }
}
