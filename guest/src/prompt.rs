//! Prompts with tools and thinking, and what a model's template says about its output: the
//! request's `tools` reach the Go TEMPLATE as `.Tools` and the GGUF's Jinja template as
//! `tools` (as HF transformers passes them), earlier assistant tool calls and tool results
//! ride on the messages, and the template tells whether the model can call tools or think and
//! which tags mark those parts of its output (Ollama's heuristics, `gotemplate::ollama`).

use serde_json::{json, Map, Value};

use crate::gotemplate::ollama::{self, TemplateMessage, ThinkValue};
use crate::loaded::{LoadedModel, ModelError};

/// A message with everything a template may show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptMessage {
    pub role: String,
    pub content: String,
    pub thinking: Option<String>,
    /// `[{"id"?, "function": {"index"?, "name", "arguments": {…}}}]`.
    pub tool_calls: Option<Value>,
    /// For a `tool` message: the tool whose result it is.
    pub tool_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptOptions {
    /// A Modelfile TEMPLATE (Go) to use instead of the GGUF's Jinja template.
    pub template: Option<String>,
    /// The request's tools (`[{"type": "function", "function": {...}}]`).
    pub tools: Option<Value>,
    pub think: Option<ThinkValue>,
}

/// What the template says about the model's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    pub tools: bool,
    pub thinking: bool,
    /// The text a tool call starts with; `{` when the template names none.
    pub tool_call_tag: String,
    /// The tags around thinking; empty when the template has none.
    pub think_open: String,
    pub think_close: String,
}

pub fn render(model: &LoadedModel, messages: &[PromptMessage], o: &PromptOptions) -> Result<String, ModelError> {
    match &o.template {
        Some(src) => {
            let t = ollama::parse(src).map_err(|e| ModelError::Invalid(format!("template error: {e}")))?;
            let msgs: Vec<TemplateMessage> = messages
                .iter()
                .map(|m| TemplateMessage {
                    role: m.role.clone(),
                    content: m.content.clone(),
                    thinking: m.thinking.clone(),
                    tool_calls: m.tool_calls.clone(),
                    tool_name: m.tool_name.clone(),
                })
                .collect();
            ollama::render_prompt(&t, None, &msgs, o.tools.as_ref(), o.think.as_ref()).map_err(ModelError::Invalid)
        }
        None => {
            let t = model
                .template
                .as_ref()
                .ok_or_else(|| ModelError::Unsupported("the model has no chat template".into()))?;
            let msgs: Vec<Value> = messages.iter().map(jinja_message).collect();
            let mut extra = Map::new();
            if let Some(tools) = &o.tools {
                extra.insert("tools".into(), tools.clone());
            }
            if let Some(think) = &o.think {
                extra.insert("enable_thinking".into(), think.enabled().into());
            }
            t.render_json(&Value::Array(msgs), true, &extra).map_err(ModelError::Invalid)
        }
    }
}

/// A message as HF chat templates read it: `tool_calls` with `type`, `function.name` and
/// `function.arguments` (an object), a tool result's `name`, the reasoning in `reasoning_content`.
fn jinja_message(m: &PromptMessage) -> Value {
    let mut v = json!({ "role": m.role, "content": m.content });
    if let Some(calls) = m.tool_calls.as_ref().and_then(Value::as_array) {
        let calls: Vec<Value> = calls
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c["type"] = json!("function");
                c
            })
            .collect();
        v["tool_calls"] = Value::Array(calls);
    }
    if let Some(name) = &m.tool_name {
        v["name"] = json!(name);
    }
    if let Some(t) = &m.thinking {
        v["reasoning_content"] = json!(t);
    }
    v
}

/// The template's features: a Go TEMPLATE's by Ollama's rules (`.Tools` used; thinking tags
/// around `.Thinking`), a Jinja template's by its text (mentions `tools`; has `<think>` and
/// `</think>`), as Ollama decides capabilities.
pub fn features(model: &LoadedModel, go_template: Option<&str>) -> Result<Features, ModelError> {
    match go_template {
        Some(src) => {
            let t = ollama::parse(src).map_err(|e| ModelError::Invalid(format!("template error: {e}")))?;
            let (open, close) = ollama::infer_thinking_tags(&t);
            Ok(Features {
                tools: t.identifiers().0.iter().any(|v| v == "tools"),
                thinking: !open.is_empty() && !close.is_empty(),
                tool_call_tag: ollama::tool_call_tag(&t),
                think_open: open,
                think_close: close,
            })
        }
        None => {
            let src = model.info().chat_template.unwrap_or_default();
            let thinking = src.contains("<think>") && src.contains("</think>");
            Ok(Features {
                tools: src.contains("tools"),
                thinking,
                tool_call_tag: if src.contains("<tool_call>") { "<tool_call>".into() } else { "{".into() },
                think_open: if thinking { "<think>".into() } else { String::new() },
                think_close: if thinking { "</think>".into() } else { String::new() },
            })
        }
    }
}
