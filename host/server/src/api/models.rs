//! The read side of the native API and the store operations: `/`, `/api/version`,
//! `/api/tags` (with each model's capabilities), `/api/ps`, `/api/copy`, `/api/delete`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wollama_store::{ModelName, Store};

use crate::decode::{self, field, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::go_time::go_local_time as local_time;
use crate::state::AppState;

/// The Ollama API version wollama implements (clients gate features on it).
const OLLAMA_VERSION: &str = "0.33.0";

pub async fn root() -> &'static str {
    "Ollama is running"
}

pub async fn version() -> Json<Value> {
    Json(json!({ "version": OLLAMA_VERSION }))
}

fn store_error(e: wollama_store::Error) -> ApiError {
    if e.is_not_found() {
        ApiError::not_found(e.to_string())
    } else {
        ApiError::internal(e.to_string())
    }
}

/// `details` of /api/tags and /api/ps, from the model's config blob.
fn details(store: &Store, manifest: &wollama_store::Manifest) -> Value {
    let c = store.read_config(manifest).unwrap_or_default();
    let mut d = json!({
        "parent_model": "",
        "format": c.model_format,
        "family": c.model_family,
        "families": if c.model_families.is_empty() { Value::Null } else { json!(c.model_families) },
        "parameter_size": c.model_type,
        "quantization_level": c.file_type,
    });
    if c.context_length > 0 {
        d["context_length"] = json!(c.context_length);
    }
    if c.embedding_length > 0 {
        d["embedding_length"] = json!(c.embedding_length);
    }
    d
}

pub async fn tags(State(s): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let entries = s.store.list().map_err(store_error)?;
    let capabilities = s.capabilities.list(&s.store, &entries).await;
    let models: Vec<Value> = entries
        .iter()
        .zip(capabilities)
        .map(|(m, caps)| {
            let name = m.name.display_shortest();
            let mut v = json!({
                "name": name,
                "model": name,
                "modified_at": local_time(m.modified),
                "size": m.size,
                "digest": m.digest,
                "details": details(&s.store, &m.manifest),
            });
            // The list /api/show gives; left out (as Ollama's omitempty) when unreadable.
            if let Some(caps) = caps {
                v["capabilities"] = json!(caps);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "models": models })))
}

pub async fn ps(State(s): State<Arc<AppState>>) -> Json<Value> {
    let models: Vec<Value> = s
        .sched
        .list()
        .iter()
        .map(|m| {
            let expires = m.expires_at().unwrap_or(SystemTime::now() + std::time::Duration::from_secs(292 * 365 * 86400));
            let manifest = ModelName::parse(&m.spec.name).ok().and_then(|n| s.store.find(&n).ok().flatten()).map(|e| e.manifest);
            // A model on the GPU is there whole (Ollama's fully offloaded model: size == size_vram).
            let vram = m.runner.loaded.device_bytes;
            json!({
                "name": m.spec.display,
                "model": m.spec.display,
                "size": if vram > 0 { vram } else { m.size() },
                "digest": m.spec.digest,
                "details": manifest.map(|mf| details(&s.store, &mf)).unwrap_or_else(|| json!({"parent_model": ""})),
                "expires_at": local_time(expires),
                "size_vram": vram,
                "context_length": m.spec.num_ctx,
            })
        })
        .collect();
    Json(json!({ "models": models }))
}

const COPY: &[decode::Field] =
    &[field("source", Kind::Str, "string"), field("destination", Kind::Str, "string")];

pub async fn copy(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let req = decode::decode(&body, "CopyRequest", COPY)?;
    let src_text = get_str(&req, "source").unwrap_or("");
    let dst_text = get_str(&req, "destination").unwrap_or("");
    let src = ModelName::parse(src_text).map_err(|_| ApiError::bad_request(format!("source \"{src_text}\" is invalid")))?;
    let dst = ModelName::parse(dst_text)
        .map_err(|_| ApiError::bad_request(format!("destination \"{dst_text}\" is invalid")))?;
    match s.store.copy(&src, &dst) {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(e) if e.is_not_found() => Err(ApiError::not_found(format!("model \"{src_text}\" not found"))),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}

const DELETE: &[decode::Field] = &[field("model", Kind::Str, "string"), field("name", Kind::Str, "string")];

pub async fn remove(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let req = decode::decode(&body, "DeleteRequest", DELETE)?;
    let text = get_str(&req, "model").or_else(|| get_str(&req, "name")).unwrap_or("");
    let name = ModelName::parse(text).map_err(|_| ApiError::bad_request(format!("name \"{text}\" is invalid")))?;
    let name = s.store.canonical_name(&name);
    s.sched.unload(&name.display_long());
    match s.store.delete(&name) {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(e) if e.is_not_found() => Err(ApiError::model_not_found(text)),
        Err(e) => Err(ApiError::internal(e.to_string())),
    }
}
