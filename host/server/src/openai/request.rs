//! The request fields `/v1/chat/completions` and `/v1/completions` share, translated into
//! Ollama options: sampling fields, `max_completion_tokens`/`max_tokens`, `stop`, `seed`,
//! `stream`/`stream_options`, and an `options` object of Ollama options (num_ctx, top_k...)
//! that Ollama's own /v1 ignores. Explicit OpenAI fields win over `options`, which wins over
//! OpenAI's defaults (temperature 1, top_p 1).

use serde_json::{Map, Value};
use wollama_store::Options;

use crate::error::{ApiError, ApiResult};
use crate::keep_alive::{self, KeepAlive};

pub struct Common {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub options: Options,
    pub keep_alive: Option<KeepAlive>,
}

/// The body as a JSON object.
pub fn object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("missing request body"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("the request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("invalid JSON: {e}"))),
    }
}

/// A present, non-null field.
pub fn get<'a>(req: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    req.get(key).filter(|v| !v.is_null())
}

fn wrong(key: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!("invalid type for '{key}': expected {expected}"))
}

pub fn number(req: &Map<String, Value>, key: &str) -> ApiResult<Option<f64>> {
    get(req, key).map(|v| v.as_f64().ok_or_else(|| wrong(key, "a number"))).transpose()
}

pub fn integer(req: &Map<String, Value>, key: &str) -> ApiResult<Option<i64>> {
    get(req, key).map(|v| v.as_i64().ok_or_else(|| wrong(key, "an integer"))).transpose()
}

pub fn boolean(req: &Map<String, Value>, key: &str) -> ApiResult<Option<bool>> {
    get(req, key).map(|v| v.as_bool().ok_or_else(|| wrong(key, "a boolean"))).transpose()
}

/// `stop`: a string or a list of strings.
fn stop(req: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    match get(req, "stop") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| wrong("stop", "a string or a list of strings")))
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(wrong("stop", "a string or a list of strings")),
    }
}

pub fn common(req: &Map<String, Value>) -> ApiResult<Common> {
    let model = match get(req, "model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) | None => return Err(ApiError::bad_request("model is required")),
        Some(_) => return Err(wrong("model", "a string")),
    };
    let stream = boolean(req, "stream")?.unwrap_or(false);
    let include_usage = match get(req, "stream_options") {
        None => false,
        Some(Value::Object(o)) => boolean(o, "include_usage")?.unwrap_or(false),
        Some(_) => return Err(wrong("stream_options", "an object")),
    };
    let mut options = match get(req, "options") {
        None => Options::default(),
        Some(Value::Object(m)) => Options::from_map(m).map_err(|e| ApiError::bad_request(e.to_string()))?.options,
        Some(_) => return Err(wrong("options", "an object of Ollama options")),
    };
    options.temperature = number(req, "temperature")?.map(|t| t as f32).or(options.temperature).or(Some(1.0));
    options.top_p = number(req, "top_p")?.map(|t| t as f32).or(options.top_p).or(Some(1.0));
    if let Some(p) = number(req, "frequency_penalty")? {
        options.frequency_penalty = Some(p as f32);
    }
    if let Some(p) = number(req, "presence_penalty")? {
        options.presence_penalty = Some(p as f32);
    }
    if let Some(seed) = integer(req, "seed")? {
        options.seed = Some(seed);
    }
    // The newer name wins; both bound the generated tokens.
    if let Some(n) = integer(req, "max_completion_tokens")?.or(integer(req, "max_tokens")?) {
        if n < 0 {
            return Err(ApiError::bad_request("max_tokens must be at least 0"));
        }
        options.num_predict = Some(n);
    }
    if let Some(stop) = stop(req)? {
        options.stop = Some(stop);
    }
    let keep_alive = get(req, "keep_alive")
        .map(|v| keep_alive::from_json(v).map_err(ApiError::bad_request))
        .transpose()?
        .flatten();
    Ok(Common { model, stream, include_usage, options, keep_alive })
}
