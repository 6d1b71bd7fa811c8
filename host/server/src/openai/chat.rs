//! `POST /v1/chat/completions`: OpenAI messages become the native conversation and run
//! through the pipeline as `/api/chat` does; the reply is one `chat.completion` object or a
//! stream of `chat.completion.chunk` events.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use wollama_runtime::ChatMessage;

use super::envelope::{usage, Envelope};
use super::request::{self, get};
use super::tool_choice;
use crate::error::{ApiError, ApiResult};
use crate::framing::{self, Framing, Shape};
use crate::pipeline::generation::Done;
use crate::pipeline::prompt::{self, Conversation, Run};
use crate::pipeline::resolve::resolve;
use crate::pipeline::thinking::Split;
use crate::state::AppState;

pub async fn completions(State(s): State<Arc<AppState>>, body: Bytes) -> Response {
    super::error::respond(run(s, body).await)
}

/// The text of a message's `content`: a string, null, or a list of parts of which only
/// text parts are understood (one native message each, as Ollama splits them).
fn contents(role: &str, content: Option<&Value>) -> ApiResult<Vec<String>> {
    match content {
        None => Ok(vec![String::new()]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match (p.get("type").and_then(Value::as_str), p.get("text").and_then(Value::as_str)) {
                (Some("text"), Some(t)) => Ok(t.to_string()),
                (Some("image_url") | Some("input_audio"), _) => {
                    Err(ApiError::bad_request("image and audio input are not supported by this model"))
                }
                _ => Err(ApiError::bad_request(format!("invalid content part in a {role} message"))),
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request("invalid message content: expected a string or a list of parts")),
    }
}

/// OpenAI's assistant tool calls (`arguments` a JSON string) in the native shape.
fn native_calls(calls: &[Value]) -> ApiResult<Value> {
    let mut out = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        let f = c.get("function").ok_or_else(|| ApiError::bad_request("invalid tool call: no function"))?;
        let args = match f.get("arguments") {
            Some(Value::String(a)) => serde_json::from_str::<Value>(a)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| ApiError::bad_request("invalid tool call arguments"))?,
            Some(a @ Value::Object(_)) => a.clone(),
            None | Some(Value::Null) => json!({}),
            Some(_) => return Err(ApiError::bad_request("invalid tool call arguments")),
        };
        let mut call = json!({ "function": { "index": i, "name": f.get("name").cloned().unwrap_or(json!("")), "arguments": args } });
        if let Some(id) = c.get("id").filter(|v| v.is_string()) {
            call["id"] = id.clone();
        }
        out.push(call);
    }
    Ok(Value::Array(out))
}

fn messages_of(req: &Map<String, Value>) -> ApiResult<Vec<ChatMessage>> {
    let list = match get(req, "messages") {
        Some(Value::Array(l)) => l,
        None => return Err(ApiError::bad_request("messages is required")),
        Some(_) => return Err(ApiError::bad_request("invalid type for 'messages': expected a list of messages")),
    };
    if list.is_empty() {
        return Err(ApiError::bad_request("[] is too short - 'messages'"));
    }
    let mut out: Vec<ChatMessage> = Vec::new();
    // Tool call ids seen so far, to name the tool a `tool` message answers.
    let mut call_names: Vec<(String, String)> = Vec::new();
    for m in list {
        let Some(obj) = m.as_object() else {
            return Err(ApiError::bad_request("invalid message: expected an object"));
        };
        let role = match get(obj, "role") {
            Some(Value::String(r)) => r.to_lowercase(),
            _ => return Err(ApiError::bad_request("every message needs a role")),
        };
        // OpenAI's newer name for the system role.
        let role = if role == "developer" { "system".to_string() } else { role };
        let tool_calls = match get(obj, "tool_calls") {
            Some(Value::Array(calls)) if !calls.is_empty() => {
                for c in calls {
                    if let (Some(id), Some(name)) = (c["id"].as_str(), c["function"]["name"].as_str()) {
                        call_names.push((id.to_string(), name.to_string()));
                    }
                }
                Some(native_calls(calls)?.to_string())
            }
            _ => None,
        };
        let tool_name = match (get(obj, "name").and_then(Value::as_str), get(obj, "tool_call_id").and_then(Value::as_str)) {
            _ if role != "tool" => None,
            (Some(n), _) => Some(n.to_string()),
            (None, Some(id)) => call_names.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()),
            (None, None) => None,
        };
        let thinking = get(obj, "reasoning").and_then(Value::as_str).map(str::to_string);
        for content in contents(&role, get(obj, "content"))? {
            out.push(ChatMessage {
                role: role.clone(),
                content,
                thinking: thinking.clone(),
                tool_calls: tool_calls.clone(),
                tool_name: tool_name.clone(),
            });
        }
    }
    Ok(out)
}

/// `reasoning_effort` (or `reasoning.effort`) as a native `think` value.
fn think_of(req: &Map<String, Value>) -> ApiResult<Option<String>> {
    let effort = get(req, "reasoning_effort").or_else(|| get(req, "reasoning").and_then(|r| r.get("effort")));
    match effort {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(e)) => match e.as_str() {
            "none" => Ok(Some("false".into())),
            "minimal" => Ok(Some("low".into())),
            "low" | "medium" | "high" | "max" => Ok(Some(e.clone())),
            "xhigh" | "ultra" => Ok(Some("max".into())),
            _ => Err(ApiError::bad_request(format!("invalid reasoning value: {e:?}"))),
        },
        Some(other) => Err(ApiError::bad_request(format!("invalid reasoning value: {other}"))),
    }
}

async fn run(s: Arc<AppState>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req = request::object(&body)?;
    let common = request::common(&req)?;
    let messages = messages_of(&req)?;
    let grammar = crate::format::openai(&body, get(&req, "response_format"))?;
    let think = think_of(&req)?;
    let choice = tool_choice::parse(&req)?;
    let resolved = resolve(&s, &common.model, &common.options)?;
    let top_logprobs = crate::pipeline::logprobs::requested(request::boolean(&req, "logprobs")?, request::integer(&req, "top_logprobs")?)?;
    let run = Run { grammar, top_logprobs, truncate: true, shift: true, render_only: false };
    let conversation = Conversation { messages, tools: choice.tools, think, forced_call: choice.forced };
    let generation = prompt::converse(&s, &resolved, conversation, common.keep_alive, run, started).await?.running();
    let envelope = Envelope::new("chatcmpl", "chat.completion", common.model);
    if common.stream {
        let envelope = Envelope { object: "chat.completion.chunk", ..envelope };
        let chunks = ChatChunks { envelope, started: false };
        return Ok(framing::stream(generation, chunks, Framing::Sse { include_usage: common.include_usage }));
    }
    let w = generation.gather().await?;
    let mut message = json!({ "role": "assistant", "content": w.split.content });
    if !w.split.thinking.is_empty() {
        message["reasoning"] = json!(w.split.thinking);
    }
    if !w.calls.is_empty() {
        message["tool_calls"] = openai_calls(&w.calls);
    }
    let logprobs = if top_logprobs.is_some() { json!({ "content": w.logprobs }) } else { Value::Null };
    let mut v = envelope.wrap(json!([{
        "index": 0,
        "message": message,
        "logprobs": logprobs,
        "finish_reason": finish_reason(&w.reason, !w.calls.is_empty()),
    }]));
    v["usage"] = usage(w.metrics.prompt_eval_count, w.metrics.eval_count);
    Ok(Json(v).into_response())
}

fn finish_reason(reason: &str, called: bool) -> &str {
    if called && reason == "stop" {
        "tool_calls"
    } else {
        reason
    }
}

/// Native tool calls in OpenAI's shape: `type`, `index`, arguments as a JSON string.
fn openai_calls(calls: &[Value]) -> Value {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "id": c["id"],
                "index": i,
                "type": "function",
                "function": { "name": c["function"]["name"], "arguments": c["function"]["arguments"].to_string() },
            })
        })
        .collect()
}

struct ChatChunks {
    envelope: Envelope,
    /// Whether the first chunk (the one naming the role) went out.
    started: bool,
}

impl ChatChunks {
    fn delta(&mut self, mut delta: Value, finish: Value) -> Value {
        if !self.started {
            delta["role"] = json!("assistant");
            self.started = true;
        }
        self.envelope.wrap(json!([{ "index": 0, "delta": delta, "finish_reason": finish }]))
    }

    /// Thinking and content go in separate chunks, thinking first.
    fn split(&mut self, split: &Split) -> Vec<Value> {
        let mut out = Vec::new();
        if !split.thinking.is_empty() {
            out.push(self.delta(json!({ "reasoning": split.thinking }), Value::Null));
        }
        if !split.content.is_empty() || !self.started {
            out.push(self.delta(json!({ "content": split.content }), Value::Null));
        }
        out
    }
}

impl Shape for ChatChunks {
    fn text(&mut self, split: Split, logprobs: &mut Vec<Value>) -> Vec<Value> {
        let mut out = self.split(&split);
        // The tokens' log-probabilities ride on the chunk that shows them.
        if let Some(c) = out.last_mut() {
            if !logprobs.is_empty() {
                c["choices"][0]["logprobs"] = json!({ "content": std::mem::take(logprobs) });
            }
        }
        out
    }
    fn done(&mut self, d: &Done) -> Vec<Value> {
        let mut out = if d.rest.thinking.is_empty() && d.rest.content.is_empty() { Vec::new() } else { self.split(&d.rest) };
        if !d.calls.is_empty() {
            out.push(self.delta(json!({ "tool_calls": openai_calls(&d.calls) }), Value::Null));
        }
        out.push(self.delta(json!({}), json!(finish_reason(&d.reason, !d.calls.is_empty()))));
        out
    }
    fn usage(&mut self, d: &Done) -> Option<Value> {
        Some(self.envelope.usage_chunk(d.metrics.prompt_eval_count, d.metrics.eval_count))
    }
}
