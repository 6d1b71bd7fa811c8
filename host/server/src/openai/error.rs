//! Errors in OpenAI's shape: `{"error":{"message","type","param","code"}}`, the type named
//! by the status (400 invalid_request_error, 404 not_found_error, else api_error) as
//! Ollama's compatibility layer does, the message the native API's.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;

pub fn error_type(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "invalid_request_error",
        StatusCode::NOT_FOUND => "not_found_error",
        _ => "api_error",
    }
}

pub fn body(e: &ApiError) -> Value {
    json!({ "error": { "message": e.message, "type": error_type(e.status), "param": null, "code": null } })
}

/// A handler's result with its error turned into the OpenAI shape.
pub fn respond(r: Result<Response, ApiError>) -> Response {
    match r {
        Ok(resp) => resp,
        Err(e) => (e.status, Json(body(&e))).into_response(),
    }
}
