//! `POST /v1/chat/completions`: OpenAI messages become the native conversation and run
//! through the pipeline as `/api/chat` does; the reply is one `chat.completion` object or a
//! stream of `chat.completion.chunk` events.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use wollama_runtime::ChatMessage;

use super::envelope::{Envelope, Object};
use super::request::{self, get};
use super::tool_choice;
use crate::error::{ApiError, ApiResult};
use crate::framing::{self, Framing, Shape};
use crate::pipeline::generation::{Done, Whole};
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
    let Whole { done: d, logprobs } = generation.gather().await?;
    let message = Message {
        content: d.split.content,
        reasoning: (!d.split.thinking.is_empty()).then_some(d.split.thinking),
        role: "assistant",
        tool_calls: (!d.calls.is_empty()).then(|| openai_calls(&d.calls)),
    };
    let choice = Choice {
        finish_reason: finish_reason(&d.reason, !d.calls.is_empty()).to_string(),
        index: 0,
        // Null unless asked for; then every token's, even none.
        logprobs: top_logprobs.map(|_| Logprobs { content: logprobs }),
        message,
    };
    Ok(Json(envelope.answer(vec![choice], d.metrics.prompt_eval_count, d.metrics.eval_count)).into_response())
}

/// A `chat.completion` choice. Fields in name order (see `envelope`).
#[derive(Serialize)]
struct Choice {
    finish_reason: String,
    index: u32,
    logprobs: Option<Logprobs>,
    message: Message,
}

#[derive(Serialize)]
struct Message {
    content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<String>,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall>>,
}

/// Log-probabilities per token, in the shape `pipeline::logprobs` makes them.
#[derive(Serialize)]
struct Logprobs {
    content: Vec<Value>,
}

/// A tool call in OpenAI's shape. `id` and `name` are copied from the native call as they are
/// (null when it has none).
#[derive(Serialize)]
struct ToolCall {
    function: Function,
    id: Value,
    index: usize,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Function {
    /// The arguments object as a JSON string.
    arguments: String,
    name: Value,
}

/// A `chat.completion.chunk` choice.
#[derive(Serialize)]
struct ChunkChoice {
    delta: Delta,
    /// Null until the last chunk.
    finish_reason: Option<String>,
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Logprobs>,
}

/// What a chunk adds to the message; the first chunk names the role.
#[derive(Serialize, Default)]
struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCall>>,
}

fn finish_reason(reason: &str, called: bool) -> &str {
    if called && reason == "stop" {
        "tool_calls"
    } else {
        reason
    }
}

/// Native tool calls in OpenAI's shape: `type`, `index`, arguments as a JSON string.
fn openai_calls(calls: &[Value]) -> Vec<ToolCall> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            function: Function { arguments: c["function"]["arguments"].to_string(), name: c["function"]["name"].clone() },
            id: c["id"].clone(),
            index: i,
            kind: "function",
        })
        .collect()
}

struct ChatChunks {
    envelope: Envelope,
    /// Whether the first chunk (the one naming the role) went out.
    started: bool,
}

impl ChatChunks {
    fn delta(&mut self, delta: Delta, finish_reason: Option<String>) -> Object<ChunkChoice> {
        let role = (!self.started).then_some("assistant");
        self.started = true;
        self.envelope.wrap(vec![ChunkChoice { delta: Delta { role, ..delta }, finish_reason, index: 0, logprobs: None }])
    }

    /// Thinking and content go in separate chunks, thinking first.
    fn split(&mut self, split: &Split) -> Vec<Object<ChunkChoice>> {
        let mut out = Vec::new();
        if !split.thinking.is_empty() {
            out.push(self.delta(Delta { reasoning: Some(split.thinking.clone()), ..Delta::default() }, None));
        }
        if !split.content.is_empty() || !self.started {
            out.push(self.delta(Delta { content: Some(split.content.clone()), ..Delta::default() }, None));
        }
        out
    }
}

impl Shape for ChatChunks {
    type Object = Object<ChunkChoice>;
    fn text(&mut self, split: Split, logprobs: &mut Vec<Value>) -> Vec<Object<ChunkChoice>> {
        let mut out = self.split(&split);
        // The tokens' log-probabilities ride on the chunk that shows them.
        if let Some(c) = out.last_mut() {
            if !logprobs.is_empty() {
                c.choices[0].logprobs = Some(Logprobs { content: std::mem::take(logprobs) });
            }
        }
        out
    }
    fn done(&mut self, d: &Done) -> Vec<Object<ChunkChoice>> {
        let mut out = if d.split.thinking.is_empty() && d.split.content.is_empty() { Vec::new() } else { self.split(&d.split) };
        if !d.calls.is_empty() {
            out.push(self.delta(Delta { tool_calls: Some(openai_calls(&d.calls)), ..Delta::default() }, None));
        }
        let reason = finish_reason(&d.reason, !d.calls.is_empty()).to_string();
        out.push(self.delta(Delta::default(), Some(reason)));
        out
    }
    fn usage(&mut self, d: &Done) -> Option<Object<ChunkChoice>> {
        Some(self.envelope.usage_chunk(d.metrics.prompt_eval_count, d.metrics.eval_count))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn envelope(object: &'static str) -> Envelope {
        Envelope { id: "chatcmpl-1".into(), object, created: 2, model: "m".into() }
    }

    /// The bytes the shipped binary's `json!` objects wrote (keys sorted), written literally.
    #[test]
    fn the_answer_keeps_its_bytes() {
        let calls = [json!({"function": {"arguments": {"a": 1}, "index": 0, "name": "f"}, "id": "call_1"})];
        let message = Message { content: "c".into(), reasoning: Some("r".into()), role: "assistant", tool_calls: Some(openai_calls(&calls)) };
        let choice = Choice { finish_reason: "tool_calls".into(), index: 0, logprobs: None, message };
        let answer = envelope("chat.completion").answer(vec![choice], 3, 4);
        let want = concat!(
            r#"{"choices":[{"finish_reason":"tool_calls","index":0,"logprobs":null,"message":{"content":"c","reasoning":"r","#,
            r#""role":"assistant","tool_calls":[{"function":{"arguments":"{\"a\":1}","name":"f"},"id":"call_1","index":0,"type":"function"}]}}],"#,
            r#""created":2,"id":"chatcmpl-1","model":"m","object":"chat.completion","system_fingerprint":"fp_ollama","#,
            r#""usage":{"completion_tokens":4,"prompt_tokens":3,"total_tokens":7}}"#
        );
        assert_eq!(serde_json::to_string(&answer).unwrap(), want);
        let message = Message { content: "c".into(), reasoning: None, role: "assistant", tool_calls: None };
        let choice = Choice { finish_reason: "stop".into(), index: 0, logprobs: Some(Logprobs { content: vec![] }), message };
        let answer = serde_json::to_string(&envelope("chat.completion").answer(vec![choice], 0, 0)).unwrap();
        assert!(answer.starts_with(r#"{"choices":[{"finish_reason":"stop","index":0,"logprobs":{"content":[]},"message":{"content":"c","role":"assistant"}}],"#), "{answer}");

        let mut chunks = ChatChunks { envelope: envelope("chat.completion.chunk"), started: false };
        let head = r#"{"choices":["#;
        let tail = r#"],"created":2,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","system_fingerprint":"fp_ollama"}"#;
        let mut logprobs = vec![json!(1)];
        let texts: Vec<String> = chunks
            .text(Split { thinking: "t".into(), content: "c".into() }, &mut logprobs)
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        assert_eq!(texts, [
            format!(r#"{head}{{"delta":{{"reasoning":"t","role":"assistant"}},"finish_reason":null,"index":0}}{tail}"#),
            format!(r#"{head}{{"delta":{{"content":"c"}},"finish_reason":null,"index":0,"logprobs":{{"content":[1]}}}}{tail}"#),
        ]);
        let last = chunks.delta(Delta::default(), Some("stop".into()));
        assert_eq!(serde_json::to_string(&last).unwrap(), format!(r#"{head}{{"delta":{{}},"finish_reason":"stop","index":0}}{tail}"#));
        let usage = chunks.envelope.usage_chunk::<ChunkChoice>(3, 4);
        let want = concat!(
            r#"{"choices":[],"created":2,"id":"chatcmpl-1","model":"m","object":"chat.completion.chunk","#,
            r#""system_fingerprint":"fp_ollama","usage":{"completion_tokens":4,"prompt_tokens":3,"total_tokens":7}}"#
        );
        assert_eq!(serde_json::to_string(&usage).unwrap(), want);
    }
}
