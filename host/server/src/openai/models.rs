//! `GET /v1/models` and `GET /v1/models/{model}`: the store's models in OpenAI's shape
//! (owned_by = the name's namespace, created = the manifest's modification time), plus the
//! context length the model was created with, which Ollama's layer leaves out.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wollama_store::ModelName;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn entry(s: &AppState, id: &str, m: &wollama_store::ModelEntry) -> Value {
    let created = m.modified.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut v = json!({ "id": id, "object": "model", "created": created, "owned_by": m.name.namespace });
    let config = s.store.read_config(&m.manifest).unwrap_or_default();
    if config.context_length > 0 {
        v["context_length"] = json!(config.context_length);
    }
    v
}

pub async fn list(State(s): State<Arc<AppState>>) -> Response {
    super::error::respond((|| -> ApiResult<Response> {
        let entries = s.store.list().map_err(|e| ApiError::internal(e.to_string()))?;
        let data: Vec<Value> = entries.iter().map(|m| entry(&s, &m.name.display_shortest(), m)).collect();
        Ok(Json(json!({ "object": "list", "data": data })).into_response())
    })())
}

pub async fn retrieve(State(s): State<Arc<AppState>>, Path(model): Path<String>) -> Response {
    super::error::respond((|| -> ApiResult<Response> {
        let name = ModelName::parse(&model).map_err(|_| ApiError::model_not_found(&model))?;
        let name = s.store.canonical_name(&name);
        let m = s.store.get(&name).map_err(|_| ApiError::model_not_found(&model))?;
        Ok(Json(entry(&s, &model, &m)).into_response())
    })())
}
