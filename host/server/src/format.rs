//! Structured-output requests, translated into the guest's grammar: `format` of
//! `/api/generate` and `/api/chat` ("json" or a JSON Schema object) and `response_format` of
//! `/v1` (text, json_object, json_schema). The guest enforces it by constrained decoding.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use wollama_runtime::Grammar;

use crate::error::{ApiError, ApiResult};

/// A schema's JSON text as the client wrote it: property order is meaning to a generator
/// (the model writes keys in that order) but `serde_json::Map` sorts keys, so the raw text
/// is taken from the body when it can be found there.
fn schema_text(raw: Option<&RawValue>, parsed: &Value) -> String {
    raw.map(|r| r.get().to_string()).unwrap_or_else(|| parsed.to_string())
}

#[derive(Deserialize)]
struct NativeBody<'a> {
    #[serde(borrow, default)]
    format: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OpenAiBody<'a> {
    #[serde(borrow, default)]
    response_format: Option<ResponseFormat<'a>>,
}

#[derive(Deserialize)]
struct ResponseFormat<'a> {
    #[serde(borrow, default)]
    json_schema: Option<JsonSchema<'a>>,
}

#[derive(Deserialize)]
struct JsonSchema<'a> {
    #[serde(borrow, default)]
    schema: Option<&'a RawValue>,
}

/// Native `format`: `"json"`, a schema object, or `""`/null for none. Anything else is
/// refused with Ollama's text and status (500: Ollama's runner refuses it).
pub fn native(body: &[u8], v: Option<&Value>) -> ApiResult<Option<Grammar>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(Grammar::Json)),
        Some(parsed @ Value::Object(_)) => {
            let raw = serde_json::from_slice::<NativeBody>(body).ok().and_then(|b| b.format);
            Ok(Some(Grammar::JsonSchema(schema_text(raw, parsed))))
        }
        Some(other) => Err(ApiError::internal(format!(
            "invalid format: {}; expected \"json\" or a valid JSON Schema object",
            other
        ))),
    }
}

/// OpenAI `response_format`: `{"type":"text"}`, `{"type":"json_object"}` or
/// `{"type":"json_schema","json_schema":{"name",...,"schema":{...}}}`.
pub fn openai(body: &[u8], v: Option<&Value>) -> ApiResult<Option<Grammar>> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(None) };
    let kind = v.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Grammar::Json)),
        Some("json_schema") => match v.get("json_schema").and_then(|j| j.get("schema")) {
            Some(parsed @ Value::Object(_)) => {
                let raw = serde_json::from_slice::<OpenAiBody>(body)
                    .ok()
                    .and_then(|b| b.response_format?.json_schema?.schema);
                Ok(Some(Grammar::JsonSchema(schema_text(raw, parsed))))
            }
            Some(_) => Err(ApiError::bad_request("response_format.json_schema.schema must be a JSON Schema object")),
            None => Err(ApiError::bad_request("response_format.json_schema.schema is required")),
        },
        _ => Err(ApiError::bad_request(format!(
            "invalid response_format type: {}; expected \"text\", \"json_object\" or \"json_schema\"",
            v.get("type").map(Value::to_string).unwrap_or_else(|| "none".into())
        ))),
    }
}
