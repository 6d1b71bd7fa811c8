//! `logprobs`/`top_logprobs`: the request fields (0..=20 alternatives, Ollama's bound) and the
//! entries the guest computes, in the shape both Ollama and OpenAI use:
//! `{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}`.

use serde_json::{json, Value};
use wollama_runtime::{TokenLogprob, TokenLogprobs};

use crate::error::{ApiError, ApiResult};

/// How many alternatives a request wants per token; None when it wants no log-probabilities.
pub fn requested(logprobs: Option<bool>, top_logprobs: Option<i64>) -> ApiResult<Option<u32>> {
    let top = top_logprobs.unwrap_or(0);
    if !(0..=20).contains(&top) {
        return Err(ApiError::bad_request("top_logprobs must be between 0 and 20"));
    }
    Ok(logprobs.unwrap_or(false).then_some(top as u32))
}

fn entry(t: &TokenLogprob) -> Value {
    json!({ "token": String::from_utf8_lossy(&t.bytes), "logprob": t.logprob, "bytes": t.bytes })
}

pub fn to_json(l: &TokenLogprobs) -> Value {
    let mut v = entry(&l.chosen);
    v["top_logprobs"] = l.top.iter().map(entry).collect();
    v
}
