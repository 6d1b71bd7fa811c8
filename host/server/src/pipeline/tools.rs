//! Tool calls in the model's output, found as Ollama finds them when a model has no built-in
//! parser: after the tag the template puts before its tool calls (`<tool_call>` say; `{`
//! when it names none, i.e. JSON at the very start of the output), each JSON object with a
//! name and arguments is one call. While streaming, text that may be the start of a tag is
//! held back, and everything from the tag on is kept out of `content`.

use serde_json::{json, Value};
use wollama_runtime::Grammar;

/// `call_` + 8 random [a-z0-9], as Ollama's ids.
pub fn call_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = (0..8).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect();
    format!("call_{tail}")
}

/// Splits a generation into content and tool calls.
pub struct ToolCallParser {
    tag: String,
    /// Text not yet shown: a possible tag start, or everything from the tag on.
    held: String,
    /// Whether the tag was seen (the rest of the output is tool calls).
    in_calls: bool,
    /// Whether any content was shown (a `{` tag only counts at the start).
    shown: bool,
}

impl ToolCallParser {
    pub fn new(tag: &str) -> ToolCallParser {
        let tag = if tag.is_empty() { "{" } else { tag };
        ToolCallParser { tag: tag.to_string(), held: String::new(), in_calls: false, shown: false }
    }

    /// Adds generated text; returns the content that is safe to show now.
    pub fn push(&mut self, text: &str) -> String {
        self.held.push_str(text);
        if self.in_calls {
            return String::new();
        }
        if self.tag == "{" {
            // JSON tool calls only count at the start of the output.
            let start = self.held.trim_start();
            if !self.shown {
                if start.starts_with('{') || start.starts_with('[') {
                    self.in_calls = true;
                    return String::new();
                }
                if start.is_empty() {
                    return String::new();
                }
            }
            self.shown = true;
            return std::mem::take(&mut self.held);
        }
        if let Some(at) = self.held.find(&self.tag) {
            self.in_calls = true;
            let content: String = self.held[..at].to_string();
            self.held.drain(..at);
            self.shown |= !content.is_empty();
            return content;
        }
        // Hold back a suffix that may still grow into the tag.
        let keep = super::thinking::partial_suffix(&self.held, &self.tag);
        let cut = self.held.len() - keep;
        let out: String = self.held[..cut].to_string();
        self.held.drain(..cut);
        self.shown |= !out.is_empty();
        out
    }

    /// The end of the generation: the content still held and the calls found. Output that
    /// looked like a call but holds none is content after all.
    pub fn finish(self) -> (String, Vec<Value>) {
        if !self.in_calls {
            return (self.held, Vec::new());
        }
        let calls = parse_calls(&self.held);
        if calls.is_empty() {
            (self.held, calls)
        } else {
            (String::new(), calls)
        }
    }
}

/// Every JSON value in `text` that is a call (`{"name", "arguments"|"parameters"}`, or a list
/// of them), in order, in Ollama's native shape with fresh ids.
pub fn parse_calls(text: &str) -> Vec<Value> {
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['{', '[']) {
        let mut values = serde_json::Deserializer::from_str(&rest[at..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(v)) => {
                let items = match v {
                    Value::Array(a) => a,
                    v => vec![v],
                };
                for item in items {
                    if let Some(call) = as_call(&item, calls.len()) {
                        calls.push(call);
                    }
                }
                rest = &rest[at + values.byte_offset()..];
            }
            _ => rest = &rest[at + 1..],
        }
    }
    calls
}

fn as_call(v: &Value, index: usize) -> Option<Value> {
    let obj = v.as_object()?;
    let inner = obj.get("function").filter(|f| f.is_object()).and_then(Value::as_object).unwrap_or(obj);
    let name = inner.get("name").and_then(Value::as_str)?;
    let args = match inner.get("arguments").or_else(|| inner.get("parameters")) {
        Some(Value::Object(m)) => Value::Object(m.clone()),
        // Some models write the arguments as a JSON string.
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).ok().filter(Value::is_object)?,
        None | Some(Value::Null) => json!({}),
        Some(_) => return None,
    };
    Some(json!({ "id": call_id(), "function": { "index": index, "name": name, "arguments": args } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tag: &str, pieces: &[&str]) -> (String, Vec<Value>) {
        let mut p = ToolCallParser::new(tag);
        let mut shown: String = pieces.iter().map(|t| p.push(t)).collect();
        let (rest, calls) = p.finish();
        shown += &rest;
        (shown, calls)
    }

    #[test]
    fn calls_after_a_tag_leave_the_content_and_split_tags_are_held() {
        let (content, calls) = run(
            "<tool_call>",
            &["Let me check.", "<tool", "_call>\n{\"name\": \"get_weather\", ", "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"],
        );
        assert_eq!(content, "Let me check.");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0]["function"]["name"], "get_weather");
        assert_eq!(calls[0]["function"]["arguments"], json!({"city": "Paris"}));
        assert_eq!(calls[0]["function"]["index"], 0);
        let id = calls[0]["id"].as_str().unwrap();
        assert!(id.len() == 13 && id.starts_with("call_"));
        assert!(id[5..].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{id}");
    }

    #[test]
    fn a_brace_tag_counts_only_at_the_start_and_lists_and_string_arguments_parse() {
        let (content, calls) = run("{", &[" [{\"name\": \"a\", \"parameters\": {}}, ", "{\"name\": \"b\", \"arguments\": \"{\\\"x\\\": 1}\"}]"]);
        assert_eq!(content, "");
        assert_eq!(calls.iter().map(|c| c["function"]["name"].clone()).collect::<Vec<_>>(), vec![json!("a"), json!("b")]);
        assert_eq!(calls[1]["function"]["arguments"], json!({"x": 1}));
        assert_eq!(calls[1]["function"]["index"], 1);
        assert_eq!(run("{", &["Use {\"name\": \"a\"} later"]), ("Use {\"name\": \"a\"} later".into(), vec![]));
    }

    #[test]
    fn text_that_only_looks_like_a_call_is_content() {
        assert_eq!(run("<tool_call>", &["a <tool", "box> b"]), ("a <toolbox> b".into(), vec![]));
        assert_eq!(run("<tool_call>", &["x<tool_call>not json"]).0, "x<tool_call>not json");
    }
}

/// A tool call the output must be (`tool_choice` required or named).
#[derive(Debug, Clone, PartialEq)]
pub enum ForcedCall {
    Any,
    Named(String),
}

/// The grammar of a forced call in the template's format: the tag, then one JSON object
/// `{"name": <a tool>, "arguments": <its parameters schema>}`, then the closing tag that
/// mirrors an XML-like opening one (`<tool_call>` … `</tool_call>`).
pub fn call_grammar(tools: &Value, forced: &ForcedCall, tag: &str) -> Grammar {
    let calls: Vec<Value> = tools
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let name = t["function"]["name"].as_str()?;
            if let ForcedCall::Named(n) = forced {
                if n != name {
                    return None;
                }
            }
            let params = match &t["function"]["parameters"] {
                p @ Value::Object(_) => p.clone(),
                _ => json!({ "type": "object" }),
            };
            Some(json!({
                "type": "object",
                "properties": { "name": { "const": name }, "arguments": params },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            }))
        })
        .collect();
    let schema = json!({ "anyOf": calls, "x-guidance": { "whitespace_flexible": false, "item_separator": ", ", "key_separator": ": " } });
    if tag.is_empty() || tag == "{" {
        return Grammar::JsonSchema(schema.to_string());
    }
    let close = match tag.strip_prefix('<') {
        Some(rest) if tag.ends_with('>') => format!("\n</{rest}"),
        _ => String::new(),
    };
    let lit = |s: &str| serde_json::to_string(s).expect("a string");
    Grammar::Lark(format!("start: {} call {}\ncall: %json {schema}\n", lit(&format!("{tag}\n")), lit(&close)))
}
