//! The model's output split the way the API reports it: thinking, content and tool calls,
//! by the tags the model's template uses (asked of the guest), for whichever of thinking and
//! tools the request turned on.

use serde_json::Value;
use wollama_runtime::TemplateFeatures;

use super::thinking::{Split, ThinkingParser};
use super::tools::ToolCallParser;

pub struct OutputParser {
    thinking: Option<ThinkingParser>,
    tools: Option<ToolCallParser>,
}

impl OutputParser {
    /// `prompt` is the rendered prompt: one ending in the opening tag starts inside thinking.
    pub fn new(features: &TemplateFeatures, think: bool, tools: bool, prompt: &str) -> OutputParser {
        let thinking = (think && !features.think_open.is_empty()).then(|| {
            let inside = prompt.trim_end().ends_with(features.think_open.as_str());
            ThinkingParser::new(&features.think_open, &features.think_close, inside)
        });
        OutputParser { thinking, tools: tools.then(|| ToolCallParser::new(&features.tool_call_tag)) }
    }

    /// A parser that passes everything through as content.
    pub fn plain() -> OutputParser {
        OutputParser { thinking: None, tools: None }
    }

    pub fn push(&mut self, text: &str) -> Split {
        let mut s = match &mut self.thinking {
            Some(t) => t.push(text),
            None => Split { thinking: String::new(), content: text.to_string() },
        };
        if let Some(tools) = &mut self.tools {
            s.content = tools.push(&s.content);
        }
        s
    }

    /// What is still held at the end, and the tool calls found.
    pub fn finish(&mut self) -> (Split, Vec<Value>) {
        let mut s = match &mut self.thinking {
            Some(t) => t.finish(),
            None => Split::default(),
        };
        let mut calls = Vec::new();
        if let Some(mut tools) = self.tools.take() {
            let pushed = tools.push(&s.content);
            let (rest, found) = tools.finish();
            s.content = pushed + &rest;
            calls = found;
        }
        (s, calls)
    }
}
