//! `POST /v1/completions`: a prompt through the pipeline as `/api/generate` runs it (the
//! model's template applied, as Ollama's layer does, without thinking); one `text_completion`
//! object or a stream.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::envelope::{Envelope, Object};
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
    let d = generation.gather().await?.done;
    let choice = Choice::new(d.split.content, Some(d.reason));
    Ok(Json(envelope.answer(vec![choice], d.metrics.prompt_eval_count, d.metrics.eval_count)).into_response())
}

/// A `text_completion` choice, fields in name order.
#[derive(Serialize)]
struct Choice {
    /// Null until the last chunk.
    finish_reason: Option<String>,
    index: u32,
    /// Always null: this route computes no log-probabilities.
    logprobs: Option<Value>,
    text: String,
}

impl Choice {
    fn new(text: String, finish_reason: Option<String>) -> Choice {
        Choice { finish_reason, index: 0, logprobs: None, text }
    }
}

struct CompletionChunks {
    envelope: Envelope,
}

impl Shape for CompletionChunks {
    type Object = Object<Choice>;
    fn text(&mut self, split: Split, _logprobs: &mut Vec<Value>) -> Vec<Object<Choice>> {
        if split.content.is_empty() {
            return Vec::new();
        }
        vec![self.envelope.wrap(vec![Choice::new(split.content, None)])]
    }
    fn done(&mut self, d: &Done) -> Vec<Object<Choice>> {
        vec![self.envelope.wrap(vec![Choice::new(String::new(), Some(d.reason.clone()))])]
    }
    fn usage(&mut self, d: &Done) -> Option<Object<Choice>> {
        Some(self.envelope.usage_chunk(d.metrics.prompt_eval_count, d.metrics.eval_count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes the shipped binary's `json!` objects wrote (keys sorted), written literally.
    #[test]
    fn the_answer_keeps_its_bytes() {
        let envelope = Envelope { id: "cmpl-1".into(), object: "text_completion", created: 2, model: "m".into() };
        let tail = r#""created":2,"id":"cmpl-1","model":"m","object":"text_completion","system_fingerprint":"fp_ollama""#;
        let answer = envelope.answer(vec![Choice::new("c".into(), Some("stop".into()))], 3, 4);
        let want = format!(
            r#"{{"choices":[{{"finish_reason":"stop","index":0,"logprobs":null,"text":"c"}}],{tail},"usage":{{"completion_tokens":4,"prompt_tokens":3,"total_tokens":7}}}}"#
        );
        assert_eq!(serde_json::to_string(&answer).unwrap(), want);
        let chunk = envelope.wrap(vec![Choice::new("c".into(), None)]);
        let want = format!(r#"{{"choices":[{{"finish_reason":null,"index":0,"logprobs":null,"text":"c"}}],{tail}}}"#);
        assert_eq!(serde_json::to_string(&chunk).unwrap(), want);
    }
}
