//! Shorthands for the prompt records, so that callers rendering a plain conversation need not
//! spell out every optional field.

use crate::{ChatMessage, PromptOptions};

impl ChatMessage {
    /// A plain `{role, content}` message: no thinking, tool calls or tool name.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: role.into(), content: content.into(), thinking: None, tool_calls: None, tool_name: None }
    }
}

impl Default for PromptOptions {
    /// The GGUF's chat template, no tools, thinking unset, ending with the generation prompt:
    /// what a chat request renders.
    fn default() -> Self {
        PromptOptions { template: None, tools: None, think: None, add_generation_prompt: true }
    }
}
