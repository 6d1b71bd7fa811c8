//! The endpoints: the native API (`api`), the OpenAI-compatible one (`openai`), the registry
//! side (`registry`), and Gin's answers for unknown routes and methods.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;
use crate::{api, openai, registry};

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(api::models::root).head(api::models::root))
        .route("/api/version", get(api::models::version).head(api::models::version))
        .route("/api/tags", get(api::models::tags).head(api::models::tags))
        .route("/api/ps", get(api::models::ps))
        .route("/api/copy", post(api::models::copy))
        .route("/api/delete", delete(api::models::remove))
        .route("/api/generate", post(api::generate::generate))
        .route("/api/chat", post(api::chat::chat))
        .route("/api/create", post(api::create::create))
        .route("/api/show", post(api::show::show))
        .route("/api/embed", post(api::embed::embed))
        .route("/api/embeddings", post(api::embed::embeddings))
        .route("/v1/embeddings", post(openai::embeddings::embeddings))
        .route("/v1/chat/completions", post(openai::chat::completions))
        .route("/v1/completions", post(openai::completions::completions))
        .route("/v1/models", get(openai::models::list))
        .route("/v1/models/{*model}", get(openai::models::retrieve))
        .route(
            "/api/blobs/{digest}",
            post(api::create::post_blob).head(api::create::head_blob).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/pull", post(registry::pull::pull))
        .route("/api/push", post(registry::push::push))
        .merge(registry::serve::routes())
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

