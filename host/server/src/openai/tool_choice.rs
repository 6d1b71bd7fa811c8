//! `tools` and `tool_choice` of `/v1/chat/completions`: `none` leaves the tools out, `auto`
//! (the default) lets the model choose, `required` and a named function force a call, which
//! constrained decoding then guarantees (Ollama's layer accepts `tool_choice` and ignores it).

use serde_json::{Map, Value};

use super::request::get;
use crate::error::{ApiError, ApiResult};
use crate::pipeline::tools::ForcedCall;

pub struct ToolChoice {
    /// The tools to render and parse (a non-empty list).
    pub tools: Option<Value>,
    pub forced: Option<ForcedCall>,
}

pub fn parse(req: &Map<String, Value>) -> ApiResult<ToolChoice> {
    let tools = match get(req, "tools") {
        None => None,
        Some(Value::Array(t)) if t.is_empty() => None,
        Some(t @ Value::Array(_)) => Some(t.clone()),
        Some(_) => return Err(ApiError::bad_request("invalid type for 'tools': expected a list of tools")),
    };
    let names: Vec<&str> = tools
        .as_ref()
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(|t| t["function"]["name"].as_str()).collect())
        .unwrap_or_default();
    let forced = match get(req, "tool_choice") {
        None => None,
        Some(Value::String(c)) => match c.as_str() {
            "none" => return Ok(ToolChoice { tools: None, forced: None }),
            "auto" => None,
            "required" => Some(ForcedCall::Any),
            other => return Err(ApiError::bad_request(format!("invalid tool_choice: {other:?}"))),
        },
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(name) if names.contains(&name) => Some(ForcedCall::Named(name.to_string())),
            Some(name) => return Err(ApiError::bad_request(format!("tool_choice names {name:?}, which is not among the tools"))),
            None => return Err(ApiError::bad_request("tool_choice must name a function: {\"type\": \"function\", \"function\": {\"name\": ...}}")),
        },
        Some(_) => return Err(ApiError::bad_request("invalid type for 'tool_choice'")),
    };
    if forced.is_some() && tools.is_none() {
        return Err(ApiError::bad_request("tool_choice requires tools"));
    }
    Ok(ToolChoice { tools, forced })
}
