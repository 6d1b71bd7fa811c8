//! `POST /api/chat`: messages rendered by the guest with the model's chat template, the
//! Modelfile SYSTEM prepended unless the conversation starts with one, load/unload on empty
//! messages, NDJSON streaming or one response.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wollama_runtime::Message;
use wollama_store::ModelName;

use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::generate::{engine_request, keep_alive_of, load_or_unload, num_keep, options_of, resolve};
use crate::routes::Shared;
use crate::stream::{self, now_rfc3339, Shape};
use crate::truncate;

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

struct ChatShape {
    model: String,
}

impl ChatShape {
    fn chunk(&self, content: &str, done: bool) -> Value {
        json!({ "model": self.model, "created_at": now_rfc3339(),
                "message": { "role": "assistant", "content": content }, "done": done })
    }
}

impl Shape for ChatShape {
    fn text_chunk(&mut self, text: &str) -> Value {
        self.chunk(text, false)
    }
    fn final_chunk(&mut self, reason: &str, _tokens: &[u32]) -> Value {
        let mut v = self.chunk("", true);
        v["done_reason"] = json!(reason);
        v
    }
    fn whole(&mut self, text: &str, reason: &str, _tokens: &[u32]) -> Value {
        let mut v = self.chunk(text, true);
        v["done_reason"] = json!(reason);
        v
    }
}

fn messages_of(v: &[Value]) -> ApiResult<Vec<Message>> {
    v.iter()
        .map(|m| {
            let role = match m.get("role") {
                Some(Value::String(r)) => r.to_lowercase(),
                None | Some(Value::Null) => String::new(),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "json: cannot unmarshal {} into Go struct field Message.messages.role of type string",
                        decode::json_kind(other)
                    )))
                }
            };
            let content = match m.get("content") {
                Some(Value::String(c)) => c.clone(),
                None | Some(Value::Null) => String::new(),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "json: cannot unmarshal {} into Go struct field Message.messages.content of type string",
                        decode::json_kind(other)
                    )))
                }
            };
            Ok(Message { role, content })
        })
        .collect()
}

pub async fn chat(State(s): State<Shared>, body: Bytes) -> ApiResult<Response> {
    let started = Instant::now();
    let req = decode::decode(&body, "ChatRequest", CHAT)?;
    let model = get_str(&req, "model").unwrap_or("").to_string();
    if model.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    ModelName::parse(&model).map_err(|_| ApiError::bad_request("invalid model name"))?;
    let raw_messages = req.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let images = crate::capability::chat_images(raw_messages)?;
    let keep_alive = keep_alive_of(&req)?;
    let opts = options_of(&req)?;
    let resolved = resolve(&s, &model, &opts)?;
    resolved.require_completion(&model, "chat")?;
    crate::capability::require(&resolved.spec.name, images, None)?;
    let mut messages = messages_of(raw_messages)?;
    let stream = get_bool(&req, "stream").unwrap_or(true);

    if messages.is_empty() {
        let reason = load_or_unload(&s, &resolved.spec, keep_alive).await?;
        let v = json!({ "model": model, "created_at": now_rfc3339(),
                        "message": { "role": "assistant", "content": "" }, "done": true, "done_reason": reason });
        return Ok(Json(v).into_response());
    }
    // Modelfile MESSAGEs precede the conversation; its SYSTEM goes first unless the
    // conversation brings its own.
    messages.splice(0..0, resolved.messages.iter().cloned());
    if let Some(sys) = &resolved.system {
        if messages.first().is_none_or(|m| m.role != "system") {
            messages.insert(0, Message { role: "system".into(), content: sys.clone() });
        }
    }

    let lease = s.sched.acquire(&resolved.spec, keep_alive).await?;
    let runner = &lease.model.runner;
    let template = resolved.template.clone();
    let render = |m: &[Message]| -> ApiResult<String> {
        match &template {
            Some(t) => runner.render_go_template(t.clone(), None, m.to_vec()).map_err(|e| ApiError::internal(e.to_string())),
            None => Ok(runner.render_chat(m.to_vec(), true)?),
        }
    };
    if crate::capability::debug_render_only(&req) {
        return Ok(Json(crate::capability::debug_answer(&model, &render(&messages)?, images, true)).into_response());
    }
    let truncate = get_bool(&req, "truncate").unwrap_or(true);
    let fitted = truncate::fit_chat(&messages, resolved.spec.num_ctx as usize, num_keep(&resolved.params), truncate, |m| {
        Ok(runner.tokenize(&render(m)?, true, true)?)
    })?;
    let run = stream::submit(lease, engine_request(fitted.tokens, &resolved.params), started, fitted.truncated)?;
    let shape = ChatShape { model };
    if stream {
        Ok(stream::ndjson(run, shape))
    } else {
        Ok(Json(stream::collect(run, shape).await?).into_response())
    }
}
