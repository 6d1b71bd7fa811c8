//! Fields several native requests share, decoded with Ollama's semantics and errors.

use serde_json::{Map, Value};
use wollama_store::Options;

use crate::decode;
use crate::error::{ApiError, ApiResult};
use crate::keep_alive::{self, KeepAlive};

/// `keep_alive` of a request: None when absent.
pub(crate) fn keep_alive_of(req: &Map<String, Value>) -> ApiResult<Option<KeepAlive>> {
    req.get("keep_alive").map(|v| keep_alive::from_json(v).map_err(ApiError::bad_request)).transpose().map(Option::flatten)
}

/// `options`: Ollama's options by name.
pub(crate) fn options_of(req: &Map<String, Value>) -> ApiResult<Options> {
    match req.get("options").and_then(Value::as_object) {
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
pub(crate) fn logprobs_of(req: &Map<String, Value>) -> ApiResult<Option<u32>> {
    crate::pipeline::logprobs::requested(decode::get_bool(req, "logprobs"), req.get("top_logprobs").and_then(Value::as_i64))
}
