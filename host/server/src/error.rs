//! API errors: Ollama's `{"error": "..."}` shape with its status codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
    /// `model 'x' not found` (generate, chat, show, delete).
    pub fn model_not_found(name: &str) -> Self {
        Self::not_found(format!("model '{name}' not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

impl From<wollama_runtime::Error> for ApiError {
    fn from(e: wollama_runtime::Error) -> Self {
        use wollama_runtime::Error as E;
        match &e {
            E::Invalid(_) | E::OutOfMemory(_) => ApiError::bad_request(e.to_string()),
            E::Unsupported(_) | E::Io(_) | E::Engine(_) => ApiError::internal(e.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
