//! The one chat message type of the guest: what the WIT `chat-message` record becomes, what
//! the Go TEMPLATE sees as `.Messages` and what the GGUF's Jinja template sees as `messages`.

use serde_json::{json, Value};

/// A chat message with everything a template may show.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    pub thinking: Option<String>,
    /// `api.ToolCall` JSON: `[{"id"?, "function": {"index"?, "name", "arguments": {…}}}]`.
    pub tool_calls: Option<Value>,
    /// For a `tool` message: the tool whose result it is.
    pub tool_name: Option<String>,
}

impl ChatMessage {
    /// A plain `{role, content}` message.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into(), ..Default::default() }
    }

    /// The message as HF chat templates read it: `tool_calls` with `type`, `function.name`
    /// and `function.arguments` (an object), a tool result's `name`, the reasoning in
    /// `reasoning_content`. A plain message is just `{"role", "content"}`.
    pub fn to_jinja(&self) -> Value {
        let mut v = json!({ "role": self.role, "content": self.content });
        if let Some(calls) = self.tool_calls.as_ref().and_then(Value::as_array) {
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
        if let Some(name) = &self.tool_name {
            v["name"] = json!(name);
        }
        if let Some(t) = &self.thinking {
            v["reasoning_content"] = json!(t);
        }
        v
    }
}
