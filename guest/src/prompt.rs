//! Prompts with tools and thinking, and what a model's template says about its output: the
//! request's `tools` reach the Go TEMPLATE as `.Tools` and the GGUF's Jinja template as
//! `tools` (as HF transformers passes them), earlier assistant tool calls and tool results
//! ride on the messages, and the template tells whether the model can call tools or think and
//! which tags mark those parts of its output (Ollama's heuristics, `gotemplate::ollama`).

use serde_json::{Map, Value};

use crate::gotemplate::ollama::{self, ThinkValue};
use crate::loaded::{LoadedModel, ModelError};
use crate::message::ChatMessage;

#[derive(Debug, Clone, PartialEq)]
pub struct PromptOptions {
    /// A Modelfile TEMPLATE (Go) to use instead of the GGUF's Jinja template.
    pub template: Option<String>,
    /// The request's tools (`[{"type": "function", "function": {...}}]`).
    pub tools: Option<Value>,
    pub think: Option<ThinkValue>,
    /// The Jinja template's `add_generation_prompt`: end with the assistant turn's opening.
    /// A Go TEMPLATE decides that itself and ignores it.
    pub add_generation_prompt: bool,
}

impl Default for PromptOptions {
    /// The GGUF's template with no tools, thinking unset, and the generation prompt: what a
    /// chat request renders.
    fn default() -> Self {
        PromptOptions { template: None, tools: None, think: None, add_generation_prompt: true }
    }
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

/// The prompt for `messages`: through the Go TEMPLATE when `o` names one, else through the
/// GGUF's Jinja template.
pub fn render(model: &LoadedModel, messages: &[ChatMessage], o: &PromptOptions) -> Result<String, ModelError> {
    match &o.template {
        Some(src) => {
            let t = ollama::parse(src).map_err(|e| ModelError::Invalid(format!("template error: {e}")))?;
            ollama::render_prompt(&t, None, messages, o.tools.as_ref(), o.think.as_ref()).map_err(ModelError::Invalid)
        }
        None => {
            let t = model
                .template
                .as_ref()
                .ok_or_else(|| ModelError::Unsupported("the model has no chat template".into()))?;
            let msgs: Vec<Value> = messages.iter().map(ChatMessage::to_jinja).collect();
            let mut extra = Map::new();
            if let Some(tools) = &o.tools {
                extra.insert("tools".into(), tools.clone());
            }
            if let Some(think) = &o.think {
                extra.insert("enable_thinking".into(), think.enabled().into());
            }
            t.render_json(&Value::Array(msgs), o.add_generation_prompt, &extra).map_err(ModelError::Invalid)
        }
    }
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
