//! `POST /v1/embeddings`, OpenAI's shape over the native embedding path: `input` a string or
//! a list of strings, `encoding_format` float or base64 (little-endian f32 bytes),
//! `dimensions`, and `usage`. Errors take OpenAI's `{"error": {...}}` shape.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::decode::{self, field, Kind};
use crate::error::ApiError;
use crate::pipeline::embed::{embed_inputs, normalize, resolve_for_embed, widened};
use crate::state::AppState;

const REQUEST: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("input", Kind::Any, "interface {}"),
    field("encoding_format", Kind::Str, "string"),
    field("dimensions", Kind::Int, "int"),
];

/// The request, as `REQUEST` has checked it (Ollama's layer reads it into its `EmbedRequest`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct EmbedRequest {
    model: String,
    /// A string or a list of strings, checked by `inputs_of`.
    input: Option<Value>,
    encoding_format: Option<String>,
    /// Beyond i64 it counts as unset, as it always has.
    dimensions: Option<Number>,
}

/// `input` as OpenAI clients send it; token arrays are refused as Ollama refuses them.
fn inputs_of(v: Option<&Value>) -> Result<Vec<String>, ApiError> {
    match v {
        None => Err(ApiError::bad_request("invalid input")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if a.is_empty() => Err(ApiError::bad_request("invalid input")),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(|| ApiError::bad_request("invalid input type")))
            .collect(),
        Some(_) => Err(ApiError::bad_request("invalid input type")),
    }
}

/// OpenAI's `list` of embeddings. Fields in name order, in this struct and those below: the
/// host's serde_json objects sort their keys, so that is the order the answers have had.
#[derive(Serialize)]
struct EmbeddingList {
    data: Vec<EmbeddingData>,
    model: String,
    object: &'static str,
    usage: Usage,
}

#[derive(Serialize)]
struct EmbeddingData {
    embedding: Encoded,
    index: usize,
    object: &'static str,
}

/// `encoding_format`: the floats, or their little-endian f32 bytes in base64.
#[derive(Serialize)]
#[serde(untagged)]
enum Encoded {
    Float(Vec<f64>),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u32,
    total_tokens: u32,
}

pub async fn embeddings(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    super::error::respond(run(&s, &body).await.map(|v| Json(v).into_response()))
}

async fn run(s: &AppState, body: &[u8]) -> Result<EmbeddingList, ApiError> {
    let req: EmbedRequest = decode::decode_as(body, "EmbedRequest", REQUEST)?;
    let model = req.model;
    let inputs = inputs_of(req.input.as_ref())?;
    let format = req.encoding_format.as_deref().unwrap_or("float");
    if format != "float" && format != "base64" {
        return Err(ApiError::bad_request(format!(
            "Invalid value for 'encoding_format' = {format}. Supported values: ['float', 'base64']."
        )));
    }
    if model.is_empty() {
        return Err(ApiError::model_not_found(""));
    }
    let resolved = resolve_for_embed(s, &model, Ok(wollama_store::Options::default()))?;
    let dimensions = req.dimensions.as_ref().and_then(Number::as_i64);
    let e = embed_inputs(s, &resolved, &inputs, true, None).await?;
    let mut data = Vec::with_capacity(e.vectors.len());
    for (index, v) in e.vectors.iter().enumerate() {
        let v = normalize(v, dimensions)?;
        let embedding = if format == "base64" {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Encoded::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            Encoded::Float(widened(&v))
        };
        data.push(EmbeddingData { object: "embedding", embedding, index });
    }
    let usage = Usage { prompt_tokens: e.prompt_tokens, total_tokens: e.prompt_tokens };
    Ok(EmbeddingList { object: "list", data, model, usage })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed answer writes the bytes the shipped binary's `json!` object wrote (keys
    /// sorted: that build's serde_json has no `preserve_order`); literal, as `json!` keeps
    /// insertion order in the workspace build.
    #[test]
    fn the_answer_keeps_its_bytes() {
        let data = vec![
            EmbeddingData { embedding: Encoded::Float(vec![0.25]), index: 0, object: "embedding" },
            EmbeddingData { embedding: Encoded::Base64("AACAPg==".into()), index: 1, object: "embedding" },
        ];
        let typed = EmbeddingList { data, model: "m".into(), object: "list", usage: Usage { prompt_tokens: 4, total_tokens: 4 } };
        let want = concat!(
            r#"{"data":[{"embedding":[0.25],"index":0,"object":"embedding"},"#,
            r#"{"embedding":"AACAPg==","index":1,"object":"embedding"}],"#,
            r#""model":"m","object":"list","usage":{"prompt_tokens":4,"total_tokens":4}}"#
        );
        assert_eq!(serde_json::to_string(&typed).unwrap(), want);
    }
}
