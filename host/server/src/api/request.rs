//! Fields several native requests share, decoded with Ollama's semantics and errors.

use serde::Deserialize;
use serde_json::{Map, Number, Value};
use wollama_store::Options;

use crate::decode;
use crate::error::{ApiError, ApiResult};
use crate::keep_alive::{self, KeepAlive};

/// The fields Ollama's `GenerateRequest` and `ChatRequest` share, flattened into both (absent
/// and null alike are the default).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Shared {
    pub stream: Option<bool>,
    pub format: Option<Value>,
    pub keep_alive: Option<Value>,
    pub options: Option<Map<String, Value>>,
    pub think: Option<Value>,
    pub truncate: Option<bool>,
    pub shift: Option<bool>,
    pub logprobs: Option<bool>,
    /// Beyond i64 it counts as unset, as it always has (see `logprobs_of`).
    pub top_logprobs: Option<Number>,
    #[serde(rename = "_debug_render_only")]
    pub debug_render_only: bool,
}

/// `keep_alive` of a request: None when absent.
pub(crate) fn keep_alive_of(v: Option<&Value>) -> ApiResult<Option<KeepAlive>> {
    v.map(|v| keep_alive::from_json(v).map_err(ApiError::bad_request)).transpose().map(Option::flatten)
}

/// `options`: Ollama's options by name.
pub(crate) fn options_of(options: Option<&Map<String, Value>>) -> ApiResult<Options> {
    match options {
        Some(m) => Options::from_map(m).map(|p| p.options).map_err(|e| ApiError::internal(e.to_string())),
        None => Ok(Options::default()),
    }
}

/// `think`: a bool or a level; None when unset.
pub(crate) fn think_of(v: Option<&Value>) -> ApiResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::String(s)) if matches!(s.as_str(), "high" | "medium" | "low" | "max") => Ok(Some(s.clone())),
        Some(Value::String(s)) => Err(ApiError::bad_request(format!(
            "invalid think value: \"{s}\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "think must be a boolean or string (\"high\", \"medium\", \"low\", \"max\", true, or false), got {}",
            decode::json_kind(other)
        ))),
    }
}

/// `logprobs` and `top_logprobs`: how many alternatives per token, None for no log-probabilities.
/// A `top_logprobs` beyond i64 counts as unset, as it always has.
pub(crate) fn logprobs_of(logprobs: Option<bool>, top_logprobs: Option<&Number>) -> ApiResult<Option<u32>> {
    crate::pipeline::logprobs::requested(logprobs, top_logprobs.and_then(Number::as_i64))
}
