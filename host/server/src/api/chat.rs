//! `POST /api/chat`: messages rendered by the pipeline with the model's chat template, the
//! Modelfile SYSTEM prepended unless the conversation starts with one, load/unload on empty
//! messages, NDJSON streaming or one response.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wollama_runtime::ChatMessage;
use wollama_store::ModelName;

use super::request::{keep_alive_of, logprobs_of, options_of, think_of, Shared};
use super::request_checks;
use crate::decode::{self, field, Kind};
use crate::error::{ApiError, ApiResult};
use super::answer::{Answer, Chunks, Timings};
use crate::framing::{self, Framing};
use crate::go_time::now_rfc3339;
use crate::pipeline::generation::Done;
use crate::pipeline::prompt::{self, Conversation, Run, Started};
use crate::pipeline::resolve::{load_or_unload, resolve};
use crate::pipeline::thinking::Split;
use crate::state::AppState;

const CHAT: &[decode::Field] = &[
    field("model", Kind::Str, "string"),
    field("messages", Kind::List(&Kind::Object), "[]api.Message"),
    field("stream", Kind::Bool, "bool"),
    field("format", Kind::Any, "json.RawMessage"),
    field("keep_alive", Kind::Any, "api.Duration"),
    field("tools", Kind::Any, "api.Tools"),
    field("options", Kind::Object, "map[string]interface {}"),
    field("think", Kind::Any, "api.ThinkValue"),
    field("truncate", Kind::Bool, "bool"),
    field("shift", Kind::Bool, "bool"),
    field("logprobs", Kind::Bool, "bool"),
    field("top_logprobs", Kind::Int, "int"),
    field("_debug_render_only", Kind::Bool, "bool"),
];

/// Ollama's `ChatRequest`, as `CHAT` has checked it (absent and null alike are the default).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ChatRequest {
    model: String,
    /// Each message's fields are checked by `messages_of`, with Go's errors for `Message`.
    messages: Vec<Value>,
    tools: Option<Value>,
    #[serde(flatten)]
    shared: Shared,
}

/// One object of chat's answer (Ollama's `ChatResponse`), fields in name order.
#[derive(Serialize, Default)]
pub(crate) struct ChatResponse {
    created_at: String,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    done_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eval_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    load_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Vec<Value>>,
    message: Message,
    model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_eval_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_eval_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_duration: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<u32>,
}

/// The assistant's message in a chunk.
#[derive(Serialize, Default)]
pub(crate) struct Message {
    content: String,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<String>,
    /// Native tool calls, as the output parser made them.
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<Value>>,
}

impl ChatResponse {
    /// A chunk without metrics.
    fn new(model: &str, split: &Split, done: bool) -> ChatResponse {
        let thinking = (!split.thinking.is_empty()).then(|| split.thinking.clone());
        ChatResponse {
            created_at: now_rfc3339(),
            done,
            message: Message { content: split.content.clone(), role: "assistant", thinking, tool_calls: None },
            model: model.to_string(),
            ..ChatResponse::default()
        }
    }

    fn timed(self, t: Timings) -> ChatResponse {
        let Timings { eval_count, eval_duration, load_duration, prompt_eval_count, prompt_eval_duration, total_duration, truncated } = t;
        ChatResponse { eval_count, eval_duration, load_duration, prompt_eval_count, prompt_eval_duration, total_duration, truncated, ..self }
    }
}

/// Chat's chunks: the assistant message's content (and thinking); at the end its tool calls
/// and the reason.
struct ChatChunks {
    model: String,
}

impl Chunks for ChatChunks {
    type Chunk = ChatResponse;

    fn text(&self, split: &Split, logprobs: Option<Vec<Value>>) -> ChatResponse {
        ChatResponse { logprobs, ..ChatResponse::new(&self.model, split, false) }
    }

    fn last(&self, end: &Done, logprobs: Option<Vec<Value>>) -> ChatResponse {
        let mut chunk = ChatResponse::new(&self.model, &end.split, true).timed((&end.metrics).into());
        chunk.message.tool_calls = (!end.calls.is_empty()).then(|| end.calls.to_vec());
        ChatResponse { done_reason: Some(end.reason.to_string()), logprobs, ..chunk }
    }
}

fn go_type_error(field: &str, v: &Value, go_type: &str) -> ApiError {
    ApiError::bad_request(format!(
        "json: cannot unmarshal {} into Go struct field Message.messages.{field} of type {go_type}",
        decode::json_kind(v)
    ))
}

/// An optional string field of a message.
fn message_str(m: &Value, field: &str) -> ApiResult<Option<String>> {
    match m.get(field) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(other) => Err(go_type_error(field, other, "string")),
    }
}

fn messages_of(v: &[Value]) -> ApiResult<Vec<ChatMessage>> {
    v.iter()
        .map(|m| {
            let role = message_str(m, "role")?.unwrap_or_default().to_lowercase();
            let content = message_str(m, "content")?.unwrap_or_default();
            let tool_calls = match m.get("tool_calls") {
                None | Some(Value::Null) => None,
                Some(Value::Array(calls)) => Some(Value::Array(calls.clone()).to_string()),
                Some(other) => return Err(go_type_error("tool_calls", other, "[]api.ToolCall")),
            };
            Ok(ChatMessage {
                role,
                content,
                thinking: message_str(m, "thinking")?.filter(|t| !t.is_empty()),
                tool_calls,
                tool_name: message_str(m, "tool_name")?.filter(|t| !t.is_empty()),
            })
        })
        .collect()
}

pub async fn chat(State(s): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req: ChatRequest = decode::decode_as(&body, "ChatRequest", CHAT)?;
    let model = req.model;
    if model.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    ModelName::parse(&model).map_err(|_| ApiError::bad_request("invalid model name"))?;
    let images = request_checks::chat_images(&req.messages)?;
    let keep_alive = keep_alive_of(req.shared.keep_alive.as_ref())?;
    let grammar = crate::format::native(&body, req.shared.format.as_ref())?;
    let opts = options_of(req.shared.options.as_ref())?;
    let resolved = resolve(&s, &model, &opts)?;
    resolved.require_completion(&model, "chat")?;
    request_checks::require(&resolved.spec.name, images, None)?;
    let messages = messages_of(&req.messages)?;
    let stream = req.shared.stream.unwrap_or(true);

    if messages.is_empty() {
        let reason = load_or_unload(&s, &resolved.spec, keep_alive).await?;
        let v = ChatResponse { done_reason: Some(reason.to_string()), ..ChatResponse::new(&model, &Split::default(), true) };
        return Ok(Json(v).into_response());
    }
    let tools = match req.tools {
        None | Some(Value::Null) => None,
        Some(Value::Array(t)) if t.is_empty() => None,
        Some(t @ Value::Array(_)) => Some(t),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go struct field ChatRequest.tools of type api.Tools",
                decode::json_kind(&other)
            )))
        }
    };
    let think = think_of(req.shared.think.as_ref())?;
    let run = Run {
        grammar,
        top_logprobs: logprobs_of(req.shared.logprobs, req.shared.top_logprobs.as_ref())?,
        truncate: req.shared.truncate.unwrap_or(true),
        shift: req.shared.shift.unwrap_or(true),
        render_only: req.shared.debug_render_only,
    };
    let conversation = Conversation { messages, tools, think, forced_call: None };
    let generation = match prompt::converse(&s, &resolved, conversation, keep_alive, run, started).await? {
        Started::Running(g) => *g,
        Started::Rendered(text) => return Ok(Json(request_checks::debug_answer(&model, &text, images, true)).into_response()),
    };
    let answer = Answer(ChatChunks { model });
    if stream {
        Ok(framing::stream(generation, answer, Framing::Ndjson))
    } else {
        Ok(Json(answer.whole(generation.gather().await?)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::answer::testing::{bytes, metrics};

    /// The bytes the shipped binary's `json!` objects wrote (keys sorted), written literally.
    #[test]
    fn the_answer_keeps_its_bytes() {
        let chunks = ChatChunks { model: "m".into() };
        let split = Split { thinking: "t".into(), content: "c".into() };
        let want = r#"{"created_at":"T","done":false,"message":{"content":"c","role":"assistant","thinking":"t"},"model":"m"}"#;
        assert_eq!(bytes(&chunks.text(&split, None)), want);
        let plain = chunks.text(&Split { thinking: String::new(), content: "c".into() }, Some(vec![json!(1)]));
        let want = r#"{"created_at":"T","done":false,"logprobs":[1],"message":{"content":"c","role":"assistant"},"model":"m"}"#;
        assert_eq!(bytes(&plain), want);

        let metrics = metrics();
        // An open value: written in its own key order (sorted here, so both builds agree).
        let calls = vec![json!({"function": {"arguments": {}, "index": 0, "name": "f"}})];
        let end = Done { split: Split::default(), calls, reason: "stop".into(), tokens: vec![], metrics };
        let want = concat!(
            r#"{"created_at":"T","done":true,"done_reason":"stop","eval_count":3,"eval_duration":2,"load_duration":6,"#,
            r#""message":{"content":"","role":"assistant","tool_calls":[{"function":{"arguments":{},"index":0,"name":"f"}}]},"#,
            r#""model":"m","prompt_eval_count":5,"prompt_eval_duration":4,"total_duration":7,"truncated":1}"#
        );
        assert_eq!(bytes(&chunks.last(&end, None)), want);
    }
}
