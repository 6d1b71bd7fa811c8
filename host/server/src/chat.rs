//! `POST /api/chat`: messages rendered by the guest with the model's chat template, the
//! Modelfile SYSTEM prepended unless the conversation starts with one, load/unload on empty
//! messages, NDJSON streaming or one response.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use wollama_runtime::{ChatMessage, Grammar, PromptOptions, Request, TemplateFeatures};
use wollama_store::ModelName;

use crate::decode::{self, field, get_bool, get_str, Kind};
use crate::error::{ApiError, ApiResult};
use crate::generate::{engine_request, keep_alive_of, load_or_unload, num_keep, options_of, resolve, Resolved};
use crate::output::OutputParser;
use crate::thinking::Split;
use crate::tools::{call_grammar, ForcedCall};
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
    output: OutputParser,
}

impl ChatShape {
    fn chunk(&self, split: &Split, done: bool) -> Value {
        let mut message = json!({ "role": "assistant", "content": split.content });
        if !split.thinking.is_empty() {
            message["thinking"] = json!(split.thinking);
        }
        json!({ "model": self.model, "created_at": now_rfc3339(), "message": message, "done": done })
    }

    /// The final chunk: what the parser still held, the tool calls, the reason.
    fn last(&mut self, mut split: Split, reason: &str) -> Value {
        let (rest, calls) = self.output.finish();
        split.thinking += &rest.thinking;
        split.content += &rest.content;
        let mut v = self.chunk(&split, true);
        if !calls.is_empty() {
            v["message"]["tool_calls"] = json!(calls);
        }
        v["done_reason"] = json!(reason);
        v
    }
}

impl Shape for ChatShape {
    fn text_chunk(&mut self, text: &str) -> Value {
        let split = self.output.push(text);
        self.chunk(&split, false)
    }
    fn final_chunk(&mut self, reason: &str, _tokens: &[u32]) -> Value {
        self.last(Split::default(), reason)
    }
    fn whole(&mut self, text: &str, reason: &str, _tokens: &[u32]) -> Value {
        let split = self.output.push(text);
        self.last(split, reason)
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

/// `think`: a bool or a level; None when unset.
pub(crate) fn think_of(v: Option<&Value>) -> ApiResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::String(s)) if matches!(s.as_str(), "high" | "medium" | "low" | "max") => Ok(Some(s.clone())),
        Some(Value::String(s)) => Err(ApiError::bad_request(format!(
            "invalid think value: \"{s}\" (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "think must be a boolean or string (\"high\", \"medium\", \"low\", \"max\", true, or false), got {}",
            decode::json_kind(other)
        ))),
    }
}

/// The `think` value the template gets and whether the output is split into thinking: unset
/// on a model that can think means thinking, as Ollama does; asked of one that cannot, a 400.
pub(crate) fn think_mode(
    requested: Option<String>,
    features: &TemplateFeatures,
    display: &str,
) -> ApiResult<(Option<String>, bool)> {
    let value = match requested {
        None if features.thinking => Some("true".to_string()),
        t => t,
    };
    let on = match value.as_deref() {
        Some("false") | None => false,
        Some(_) if !features.thinking => return Err(ApiError::bad_request(format!("\"{display}\" does not support thinking"))),
        Some(_) => true,
    };
    Ok((value, on))
}

/// What a conversation brings besides its messages.
pub(crate) struct ChatOptions {
    /// The request's tools (a non-empty list), as JSON.
    pub tools: Option<Value>,
    pub think: Option<String>,
    pub grammar: Option<Grammar>,
    /// A tool call the output must be, enforced by a grammar in the template's call format.
    pub forced_call: Option<ForcedCall>,
    /// Cut the oldest turns (and then tokens) to fit the context, or refuse with a 400.
    pub truncate: bool,
    /// Only render the prompt (`_debug_render_only`).
    pub render_only: bool,
    /// Context shift when generation fills the context (else stop with `length`).
    pub shift: bool,
    /// Log-probabilities per token with this many alternatives; None = off.
    pub top_logprobs: Option<u32>,
}

/// A conversation running on the engine, with how to read its output.
pub(crate) struct StartedChat {
    pub run: stream::Running,
    pub output: OutputParser,
}

/// What `start_chat` did: started the generation, or (`render_only`) only rendered the prompt.
pub(crate) enum ChatStart {
    Running(StartedChat),
    Rendered(String),
}

impl ChatStart {
    /// The running conversation of a request that cannot ask for `render_only`.
    pub fn running(self) -> StartedChat {
        match self {
            ChatStart::Running(c) => c,
            ChatStart::Rendered(_) => unreachable!("render_only was not asked for"),
        }
    }
}

/// Runs a conversation on the engine: Modelfile MESSAGEs precede it, its SYSTEM goes first
/// unless the conversation brings its own, and the model's template (Modelfile Go TEMPLATE,
/// else the GGUF's Jinja template) renders the prompt with the tools and thinking asked for.
/// Shared by `/api/chat` and `/v1/chat/completions`.
pub(crate) async fn start_chat(
    s: &Shared,
    resolved: &Resolved,
    mut messages: Vec<ChatMessage>,
    keep_alive: Option<crate::keep_alive::KeepAlive>,
    opts: ChatOptions,
    started: Instant,
) -> ApiResult<ChatStart> {
    messages.splice(0..0, resolved.messages.iter().cloned());
    if let Some(sys) = &resolved.system {
        if messages.first().is_none_or(|m| m.role != "system") {
            messages.insert(0, ChatMessage::new("system", sys.clone()));
        }
    }

    let lease = s.sched.acquire(&resolved.spec, keep_alive).await?;
    let runner = &lease.model.runner;
    let features = runner.template_features(resolved.template.clone()).map_err(template_error)?;
    if opts.tools.is_some() && !features.tools {
        return Err(ApiError::bad_request(format!("{} does not support tools", resolved.spec.name)));
    }
    let (think_value, think) = think_mode(opts.think, &features, &resolved.spec.display)?;
    let options = PromptOptions {
        template: resolved.template.clone(),
        tools: opts.tools.as_ref().map(Value::to_string),
        think: think_value,
        add_generation_prompt: true,
    };
    let render = |m: &[ChatMessage]| runner.render_prompt(m.to_vec(), options.clone()).map_err(template_error);
    let text = render(&messages)?;
    if opts.render_only {
        return Ok(ChatStart::Rendered(text));
    }
    // The whole conversation is rendered already; only shortened ones are rendered again (a
    // shortened one as long as the whole drops only system messages it keeps, so is the same).
    let fitted = truncate::fit_chat(&messages, resolved.spec.num_ctx as usize, num_keep(&resolved.params), opts.truncate, |m| {
        let shortened;
        let t = if m.len() == messages.len() { &text } else { shortened = render(m)?; &shortened };
        Ok(runner.tokenize(t, true, true)?)
    })?;
    tracing::debug!(model = %resolved.spec.name, messages = messages.len(), prompt = %text, tokens = fitted.tokens.len(), "chat request");
    if fitted.truncated > 0 {
        tracing::debug!(dropped_tokens = fitted.truncated, "truncating input messages which exceed context length");
    }
    // The parser reads the prompt's ending (an open think tag), which truncation keeps.
    let output = OutputParser::new(&features, think, opts.tools.is_some(), &text);
    let grammar = match (&opts.forced_call, &opts.tools) {
        (Some(forced), Some(tools)) => Some(call_grammar(tools, forced, &features.tool_call_tag)),
        _ => opts.grammar,
    };
    let shift_keep = crate::generate::shift_keep(opts.shift, &resolved.params, fitted.tokens.len());
    let req = Request { grammar, top_logprobs: opts.top_logprobs, shift_keep, ..engine_request(fitted.tokens, &resolved.params) };
    let run = stream::submit(lease, req, started, fitted.truncated)?;
    Ok(ChatStart::Running(StartedChat { run, output }))
}

/// A template that fails to parse or run is the model's fault (500, as Ollama), a missing
/// chat template an unsupported request.
fn template_error(e: wollama_runtime::Error) -> ApiError {
    match e {
        wollama_runtime::Error::Invalid(m) => ApiError::internal(m),
        e => e.into(),
    }
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
    let grammar = crate::format::native(&body, req.get("format"))?;
    let opts = options_of(&req)?;
    let resolved = resolve(&s, &model, &opts)?;
    resolved.require_completion(&model, "chat")?;
    crate::capability::require(&resolved.spec.name, images, None)?;
    let messages = messages_of(raw_messages)?;
    let stream = get_bool(&req, "stream").unwrap_or(true);

    if messages.is_empty() {
        let reason = load_or_unload(&s, &resolved.spec, keep_alive).await?;
        let v = json!({ "model": model, "created_at": now_rfc3339(),
                        "message": { "role": "assistant", "content": "" }, "done": true, "done_reason": reason });
        return Ok(Json(v).into_response());
    }
    let tools = match req.get("tools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(t)) if t.is_empty() => None,
        Some(t @ Value::Array(_)) => Some(t.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go struct field ChatRequest.tools of type api.Tools",
                decode::json_kind(other)
            )))
        }
    };
    let think = think_of(req.get("think"))?;
    let top_logprobs = crate::logprobs::requested(get_bool(&req, "logprobs"), req.get("top_logprobs").and_then(Value::as_i64))?;
    let opts = ChatOptions {
        tools,
        think,
        grammar,
        forced_call: None,
        truncate: get_bool(&req, "truncate").unwrap_or(true),
        render_only: crate::capability::debug_render_only(&req),
        shift: get_bool(&req, "shift").unwrap_or(true),
        top_logprobs,
    };
    let chat = match start_chat(&s, &resolved, messages, keep_alive, opts, started).await? {
        ChatStart::Running(chat) => chat,
        ChatStart::Rendered(text) => {
            return Ok(Json(crate::capability::debug_answer(&model, &text, images, true)).into_response())
        }
    };
    let (run, shape) = (chat.run, ChatShape { model, output: chat.output });
    if stream {
        Ok(stream::ndjson(run, shape))
    } else {
        Ok(Json(stream::collect(run, shape).await?).into_response())
    }
}
