//! Server-sent events for streamed `/v1` responses: one `data: {chunk}` event per engine
//! piece, a finish chunk, an optional usage chunk, then `data: [DONE]`. An engine failure
//! after the stream started ends it with an error event in OpenAI's shape and no `[DONE]`.

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::stream::{async_stream, Piece, Running};

/// How an endpoint turns pieces into chunks.
pub trait Chunks: Send + 'static {
    /// Chunks for a piece of generated text (none while nothing is ready to show).
    fn text(&mut self, text: &str) -> Vec<Value>;
    /// Chunks that close the choice, with the engine's done reason ("stop" / "length").
    fn finish(&mut self, reason: &str) -> Vec<Value>;
    /// The `choices: []` chunk carrying `usage`.
    fn usage(&mut self, prompt_tokens: u32, completion_tokens: u32) -> Value;
}

/// `Value::Null` on the channel stands for the `[DONE]` sentinel, which is not JSON.
pub fn stream(mut run: Running, mut chunks: impl Chunks, include_usage: bool) -> Response {
    let events = async_stream(move |tx: mpsc::Sender<Value>| async move {
        let mut logprobs = Vec::new();
        while let Some(piece) = run.rx.recv().await {
            let (out, last) = match piece {
                Piece::Logprobs(l) => {
                    logprobs.push(l);
                    continue;
                }
                Piece::Text { text, .. } => {
                    let mut out = chunks.text(&text);
                    // The tokens' log-probabilities ride on the chunk that shows them.
                    if let Some(c) = out.iter_mut().rev().find(|c| c["choices"][0].is_object()) {
                        if !logprobs.is_empty() {
                            c["choices"][0]["logprobs"] = json!({ "content": std::mem::take(&mut logprobs) });
                        }
                    }
                    (out, false)
                }
                Piece::Done { reason, prompt_tokens, eval_tokens } => {
                    let mut out = chunks.finish(&reason);
                    if include_usage {
                        out.push(chunks.usage(prompt_tokens, eval_tokens));
                    }
                    out.push(Value::Null);
                    (out, true)
                }
                Piece::Failed(m) => (vec![super::error::body(&ApiError::internal(m))], true),
            };
            for v in out {
                if tx.send(v).await.is_err() {
                    return; // client gone: dropping `run` cancels the generation
                }
            }
            if last {
                return;
            }
        }
    });
    let body = Body::from_stream(events.map(|v| {
        let data = if v.is_null() { "[DONE]".to_string() } else { v.to_string() };
        Ok::<_, std::convert::Infallible>(format!("data: {data}\n\n"))
    }));
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response()
}
