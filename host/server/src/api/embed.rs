//! `POST /api/embed` and the legacy `POST /api/embeddings`, for embedding models and chat
//! models alike (Ollama has no capability gate here), over the pipeline's embedding step; the
//! vectors are normalised here, as Ollama's server does.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::request::{keep_alive_of, options_of};
use crate::decode::{self, field, Kind};
use crate::error::{ApiError, ApiResult};
use crate::pipeline::embed::{embed_inputs, normalize, resolve_for_embed, widened};
use crate::state::AppState;

const EMBED: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("input", Kind::Any, "interface {}"),
    field("truncate", Kind::Bool, "bool"),
    field("dimensions", Kind::Int, "int"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("options", Kind::Object, "map[string]interface {}"),
];

/// Ollama's `EmbedRequest`, as `EMBED` has checked it (absent and null alike are the default).
#[derive(Deserialize, Default)]
#[serde(default)]
struct EmbedRequest {
    model: String,
    /// A string or a list of strings, checked by `inputs_of`.
    input: Option<Value>,
    truncate: Option<bool>,
    /// Beyond i64 it counts as unset, as it always has.
    dimensions: Option<Number>,
    keep_alive: Option<Value>,
    options: Option<Map<String, Value>>,
}

/// `/api/embed`'s answer (Ollama's EmbedResponse). Fields in name order: the host's
/// serde_json objects sort their keys, so that is the order the answers have always had.
#[derive(Serialize)]
struct EmbedResponse {
    embeddings: Vec<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    load_duration: Option<u64>,
    model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_eval_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_duration: Option<u64>,
}

/// `/api/embeddings`' answer (Ollama's EmbeddingResponse).
#[derive(Serialize)]
struct EmbeddingResponse {
    embedding: Vec<f64>,
}

const EMBEDDINGS: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("prompt", Kind::Str, "string"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("options", Kind::Object, "map[string]interface {}"),
];

/// Ollama's `EmbeddingRequest`, as `EMBEDDINGS` has checked it.
#[derive(Deserialize, Default)]
#[serde(default)]
struct EmbeddingRequest {
    model: String,
    prompt: String,
    keep_alive: Option<Value>,
    options: Option<Map<String, Value>>,
}

/// Ollama's `input`: a string (empty = none) or a list of strings.
fn inputs_of(v: Option<&Value>) -> ApiResult<Vec<String>> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| ApiError::bad_request("invalid input type")))
            .collect(),
        Some(_) => Err(ApiError::bad_request("invalid input type")),
    }
}

pub async fn embed(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req: EmbedRequest = decode::decode_as(&body, "EmbedRequest", EMBED)?;
    let model = req.model;
    if model.is_empty() {
        return Err(ApiError::model_not_found(""));
    }
    let inputs = inputs_of(req.input.as_ref())?;
    let keep_alive = keep_alive_of(req.keep_alive.as_ref())?;
    let resolved = resolve_for_embed(&s, &model, options_of(req.options.as_ref()))?;
    let truncate = req.truncate.unwrap_or(true);
    let dimensions = req.dimensions.as_ref().and_then(Number::as_i64);
    let e = embed_inputs(&s, &resolved, &inputs, truncate, keep_alive).await?;
    let embeddings = e.vectors.iter().map(|v| normalize(v, dimensions).map(|v| widened(&v))).collect::<ApiResult<_>>()?;
    // The counts only when something was embedded (no inputs only loads the model).
    let embedded = !inputs.is_empty();
    Ok(Json(EmbedResponse {
        model,
        embeddings,
        total_duration: embedded.then(|| started.elapsed().as_nanos() as u64),
        load_duration: embedded.then_some(e.load.as_nanos() as u64),
        prompt_eval_count: embedded.then_some(e.prompt_tokens),
    })
    .into_response())
}

pub async fn embeddings(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let req: EmbeddingRequest = decode::decode_as(&body, "EmbeddingRequest", EMBEDDINGS)?;
    let model = req.model;
    if model.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let keep_alive = keep_alive_of(req.keep_alive.as_ref())?;
    let resolved = resolve_for_embed(&s, &model, options_of(req.options.as_ref()))?;
    let inputs: Vec<String> = if req.prompt.is_empty() { Vec::new() } else { vec![req.prompt] };
    let e = embed_inputs(&s, &resolved, &inputs, true, keep_alive).await?;
    // Not normalised, and as float64, as Ollama's legacy endpoint returns it.
    let embedding = e.vectors.first().map(|v| widened(v)).unwrap_or_default();
    Ok(Json(EmbeddingResponse { embedding }).into_response())
}

#[cfg(test)]
mod tests {
    use super::EmbedResponse;

    /// The typed answer writes the bytes the shipped binary's `json!` object wrote: its
    /// serde_json sorts keys (no `preserve_order`), so the expected strings are literal rather
    /// than `json!(..).to_string()`, which keeps insertion order in the workspace build.
    #[test]
    fn the_answer_keeps_its_bytes() {
        let typed = EmbedResponse {
            embeddings: vec![vec![0.5]],
            load_duration: Some(2),
            model: "m".into(),
            prompt_eval_count: Some(3),
            total_duration: Some(1),
        };
        let want = r#"{"embeddings":[[0.5]],"load_duration":2,"model":"m","prompt_eval_count":3,"total_duration":1}"#;
        assert_eq!(serde_json::to_string(&typed).unwrap(), want);
        let empty = EmbedResponse { embeddings: vec![], load_duration: None, model: "m".into(), prompt_eval_count: None, total_duration: None };
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"embeddings":[],"model":"m"}"#);
    }
}
