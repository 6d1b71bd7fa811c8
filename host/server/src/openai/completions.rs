//! `POST /v1/completions`: a prompt through the same path as `/api/generate` (the model's
//! template applied, as Ollama's layer does); one `text_completion` object or a stream.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wollama_runtime::Request;

use super::envelope::{usage, Envelope};
use super::request::{self, get};
use super::sse::{self, Chunks};
use crate::error::{ApiError, ApiResult};
use crate::generate::{engine_request, render_prompt, resolve};
use crate::routes::Shared;
use crate::stream;

pub async fn completions(State(s): State<Shared>, body: Bytes) -> Response {
    super::error::respond(run(s, body).await)
}

async fn run(s: Shared, body: Bytes) -> ApiResult<Response> {
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
    let lease = s.sched.acquire(&resolved.spec, common.keep_alive).await?;
    let runner = &lease.model.runner;
    let text = render_prompt(
        runner,
        &prompt_text,
        resolved.system.clone(),
        resolved.template.clone(),
        resolved.messages.clone(),
        None,
    )?;
    let prompt = runner.tokenize(&text, true, true)?;
    let num_keep = crate::generate::num_keep(&resolved.params);
    let fitted = crate::truncate::cut_tokens(prompt, resolved.spec.num_ctx as usize, num_keep, true)?;
    let shift = crate::generate::shift_keep(true, &resolved.params, fitted.tokens.len());
    let req = Request { grammar, shift_keep: shift, ..engine_request(fitted.tokens, &resolved.params) };
    let running = stream::submit(lease, req, started, fitted.truncated)?;
    let envelope = Envelope::new("cmpl", "text_completion", common.model);
    if common.stream {
        return Ok(sse::stream(running, CompletionChunks { envelope }, common.include_usage));
    }
    let g = stream::gather(running).await?;
    let mut v = envelope.wrap(json!([{ "text": g.text, "index": 0, "logprobs": null, "finish_reason": g.reason }]));
    v["usage"] = usage(g.metrics.prompt_eval_count, g.metrics.eval_count);
    Ok(Json(v).into_response())
}

struct CompletionChunks {
    envelope: Envelope,
}

impl Chunks for CompletionChunks {
    fn text(&mut self, text: &str) -> Vec<Value> {
        if text.is_empty() {
            return Vec::new();
        }
        vec![self.envelope.wrap(json!([{ "text": text, "index": 0, "logprobs": null, "finish_reason": null }]))]
    }
    fn finish(&mut self, reason: &str) -> Vec<Value> {
        vec![self.envelope.wrap(json!([{ "text": "", "index": 0, "logprobs": null, "finish_reason": reason }]))]
    }
    fn usage(&mut self, prompt_tokens: u32, completion_tokens: u32) -> Value {
        let mut v = self.envelope.wrap(json!([]));
        v["usage"] = usage(prompt_tokens, completion_tokens);
        v
    }
}
