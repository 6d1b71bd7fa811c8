//! The read side of the native API and the store operations: `/`, `/api/version`,
//! `/api/tags` (with each model's capabilities), `/api/copy`, `/api/delete`, `/api/ps`.
//! Generation routes come next.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use wollama_store::{ModelName, Store};

use crate::decode::{self, field, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::sched::Scheduler;

/// The Ollama API version wollama implements (clients gate features on it).
pub const OLLAMA_VERSION: &str = "0.33.0";

pub struct AppState {
    pub store: Store,
    pub sched: Arc<Scheduler>,
    /// What each listed model can do, read once per manifest digest (`/api/tags`).
    pub capabilities: crate::capabilities::Cache,
}

pub type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(root).head(root))
        .route("/api/version", get(version).head(version))
        .route("/api/tags", get(tags).head(tags))
        .route("/api/ps", get(ps))
        .route("/api/copy", post(copy))
        .route("/api/delete", delete(remove))
        .route("/api/generate", post(crate::generate::generate))
        .route("/api/chat", post(crate::chat::chat))
        .route("/api/create", post(crate::create::create))
        .route("/api/show", post(crate::show::show))
        .route("/api/embed", post(crate::embed::embed))
        .route("/api/embeddings", post(crate::embed::embeddings))
        .route("/v1/embeddings", post(crate::openai_embed::embeddings))
        .route("/v1/chat/completions", post(crate::openai::chat::completions))
        .route("/v1/completions", post(crate::openai::completions::completions))
        .route("/v1/models", get(crate::openai::models::list))
        .route("/v1/models/{*model}", get(crate::openai::models::retrieve))
        .route(
            "/api/blobs/{digest}",
            post(crate::create::post_blob).head(crate::create::head_blob).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/pull", post(crate::registry::pull::pull))
        .route("/api/push", post(crate::registry::push::push))
        .merge(crate::registry::serve::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(axum::middleware::map_response(json_charset))
}

/// Gin's answers for an unknown route and a known one with another method.
async fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "404 page not found")
}

async fn method_not_allowed() -> (StatusCode, &'static str) {
    (StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed")
}

/// JSON goes out as Gin's `c.JSON` sends it: `application/json; charset=utf-8`.
async fn json_charset(mut r: Response) -> Response {
    use axum::http::{header::CONTENT_TYPE, HeaderValue};
    if r.headers().get(CONTENT_TYPE).is_some_and(|v| v == "application/json") {
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    }
    r
}

async fn root() -> &'static str {
    "Ollama is running"
}

async fn version() -> Json<Value> {
    Json(json!({ "version": OLLAMA_VERSION }))
}

use crate::stream::go_local_time as local_time;

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

async fn tags(State(s): State<Shared>) -> ApiResult<Json<Value>> {
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

async fn ps(State(s): State<Shared>) -> Json<Value> {
    let models: Vec<Value> = s
        .sched
        .list()
        .iter()
        .map(|m| {
            let expires = m.expires_at().unwrap_or(SystemTime::now() + std::time::Duration::from_secs(292 * 365 * 86400));
            let manifest = ModelName::parse(&m.spec.name).ok().and_then(|n| s.store.find(&n).ok().flatten()).map(|e| e.manifest);
            json!({
                "name": m.spec.display,
                "model": m.spec.display,
                "size": m.size(),
                "digest": m.spec.digest,
                "details": manifest.map(|mf| details(&s.store, &mf)).unwrap_or_else(|| json!({"parent_model": ""})),
                "expires_at": local_time(expires),
                "size_vram": 0,
                "context_length": m.spec.num_ctx,
            })
        })
        .collect();
    Json(json!({ "models": models }))
}

const COPY: &[decode::Field] =
    &[field("source", Kind::Str, "string"), field("destination", Kind::Str, "string")];

async fn copy(State(s): State<Shared>, body: Bytes) -> ApiResult<Response> {
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

async fn remove(State(s): State<Shared>, body: Bytes) -> ApiResult<Response> {
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
