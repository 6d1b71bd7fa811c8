//! `POST /api/embed` and the legacy `POST /api/embeddings`, for embedding models and chat
//! models alike (Ollama has no capability gate here), over the pipeline's embedding step; the
//! vectors are normalised here, as Ollama's server does.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::request::{keep_alive_of, options_of};
use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::pipeline::embed::{embed_inputs, normalize, resolve_for_embed};
use crate::state::AppState;

const EMBED: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("input", Kind::Any, "interface {}"),
    field("truncate", Kind::Bool, "bool"),
    field("dimensions", Kind::Int, "int"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("options", Kind::Object, "map[string]interface {}"),
];

const EMBEDDINGS: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("prompt", Kind::Str, "string"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("options", Kind::Object, "map[string]interface {}"),
];

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
    let req = decode::decode(&body, "EmbedRequest", EMBED)?;
    let model = get_str(&req, "model").unwrap_or("").to_string();
    if model.is_empty() {
        return Err(ApiError::model_not_found(""));
    }
    let inputs = inputs_of(req.get("input"))?;
    let keep_alive = keep_alive_of(&req)?;
    let resolved = resolve_for_embed(&s, &model, options_of(&req))?;
    let truncate = get_bool(&req, "truncate").unwrap_or(true);
    let dimensions = req.get("dimensions").and_then(Value::as_i64);
    let e = embed_inputs(&s, &resolved, &inputs, truncate, keep_alive).await?;
    let embeddings: Vec<Vec<f32>> = e.vectors.iter().map(|v| normalize(v, dimensions)).collect::<ApiResult<_>>()?;
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    out.insert("embeddings".into(), json!(embeddings));
    if !inputs.is_empty() {
        out.insert("total_duration".into(), json!(started.elapsed().as_nanos() as u64));
        out.insert("load_duration".into(), json!(e.load.as_nanos() as u64));
        out.insert("prompt_eval_count".into(), json!(e.prompt_tokens));
    }
    Ok(Json(Value::Object(out)).into_response())
}

pub async fn embeddings(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let req = decode::decode(&body, "EmbeddingRequest", EMBEDDINGS)?;
    let model = get_str(&req, "model").unwrap_or("").to_string();
    if model.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let keep_alive = keep_alive_of(&req)?;
    let resolved = resolve_for_embed(&s, &model, options_of(&req))?;
    let prompt = get_str(&req, "prompt").unwrap_or("");
    let inputs: Vec<String> = if prompt.is_empty() { Vec::new() } else { vec![prompt.to_string()] };
    let e = embed_inputs(&s, &resolved, &inputs, true, keep_alive).await?;
    // Not normalised, and as float64, as Ollama's legacy endpoint returns it.
    let embedding: Vec<f64> = e.vectors.first().map(|v| v.iter().map(|&x| x as f64).collect()).unwrap_or_default();
    Ok(Json(json!({ "embedding": embedding })).into_response())
}
