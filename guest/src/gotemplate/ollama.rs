//! Ollama's prompt construction on top of the Go template engine — a port of the semantics of
//! Ollama's `template/template.go` (`Parse`, `Vars`, `Execute`, `collate` and the template-facing
//! tool/message types), plus the two template-tree heuristics Ollama runs elsewhere: the
//! tool-call prefix (`tools/template.go` `parseTag`) and the thinking tags
//! (`thinking/template.go` `InferTags`).
//!
//! Data the template sees:
//!
//! - chat templates (those that reference `.Messages`): `.System` (all system messages joined by
//!   "\n\n"), `.Messages` (consecutive same-role messages merged with "\n\n", except `tool`; each
//!   has `.Role .Content .Thinking .Images .ToolCalls .ToolName .ToolCallID`, and each tool call
//!   `.ID .Function.Index .Function.Name .Function.Arguments`), `.Tools` (each has `.Type .Items
//!   .Function.Name .Function.Description .Function.Parameters.Type/.Required/.Properties`…),
//!   `.Response` (""), `.Think`, `.ThinkLevel`, `.IsThinkSet`;
//! - legacy templates: executed once per user/assistant turn with `.System .Prompt .Response`
//!   (and the think values), the last execution cut right after `.Response`;
//! - suffix (fill-in-the-middle) mode: `.Prompt .Suffix .Response .Think .ThinkLevel .IsThinkSet`.
//!
//! Printing follows Ollama's Go types: `.Tools`, a tool, `.Function.Arguments` and
//! `.Function.Parameters.Properties` print as JSON (their `String()` methods), a property's
//! `.Type` prints bare (`string`), and `json` encodes like `json.Marshal` (HTML-safe escapes,
//! sorted map keys, struct fields in declaration order with their `omitempty` rules — unknown
//! JSON-schema keywords in tool definitions are dropped, as Ollama's `api.Tool` decoding drops
//! them).
//!
//! One deliberate difference: Ollama (since v0.14) prints `{{ .Function }}` and
//! `{{ .Function.Parameters }}` of a tool in Go's struct syntax because those two types lost
//! their `String()` methods (ollama/ollama#14601, fix proposed in #18391); Qwen's templates use
//! `{{ .Function }}` and get broken tool definitions. Here they print as JSON, as before v0.14
//! and as the fix does.

use super::parse::{Arg, ArgKind, Branch, Command, Node, Pipe};
use super::value::{Meta, Value};
use super::{ExecOptions, Template};
use crate::message::ChatMessage;

/// The Go values the template sees (`.Messages`, `.Tools`).
mod data;
/// Tool-call and thinking tags read off a template's tree.
mod infer;

use data::{messages_value, tools_value};
pub use infer::{infer_thinking_tags, tool_call_tag};

/// Ollama's default template.
pub const DEFAULT_TEMPLATE: &str = "{{ .Prompt }}";

/// A request's `think` value (`api.ThinkValue`): a bool or a level string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ThinkValue {
    Bool(bool),
    Level(String),
}

impl From<bool> for ThinkValue {
    fn from(b: bool) -> Self {
        ThinkValue::Bool(b)
    }
}

impl ThinkValue {
    /// `.Think`: true for `true` and the levels "high", "medium", "low", "max".
    pub fn enabled(&self) -> bool {
        match self {
            ThinkValue::Bool(b) => *b,
            ThinkValue::Level(s) => matches!(s.as_str(), "high" | "medium" | "low" | "max"),
        }
    }

    /// `.ThinkLevel`: the level string, "medium" for `true`, "" for `false`.
    pub fn level(&self) -> String {
        match self {
            ThinkValue::Bool(true) => "medium".into(),
            ThinkValue::Bool(false) => String::new(),
            ThinkValue::Level(s) => s.clone(),
        }
    }
}

/// Everything `Template.Execute` takes (Ollama's `template.Values`).
#[derive(Clone, Debug, Default)]
pub struct Values<'a> {
    pub messages: &'a [ChatMessage],
    /// The request's `tools` (`api.Tool` JSON array). `None` is a nil list (`{{ json .Tools }}`
    /// prints `null`); `/api/generate` passes an empty list.
    pub tools: Option<&'a serde_json::Value>,
    /// With `suffix`, selects fill-in-the-middle mode (both must be non-empty).
    pub prompt: &'a str,
    pub suffix: &'a str,
    pub think: Option<ThinkValue>,
}

/// Ollama's `template.Parse`: parses, rejects a `{{ template }}` call without a pipeline
/// ("undefined template specified", as Ollama's `Vars` does), and appends `{{ .Response }}` to
/// a template that references neither `.Messages` nor `.Response`.
pub fn parse(src: &str) -> Result<Template, String> {
    let mut t = Template::parse(src)?;
    let (vars, missing_pipe) = t.identifiers();
    if missing_pipe {
        return Err("undefined template specified".into());
    }
    if !vars.iter().any(|v| v == "messages" || v == "response") {
        let pos = src.len();
        t.root_mut().push(Node::Action {
            pipe: Pipe {
                decl: Vec::new(),
                is_assign: false,
                cmds: vec![Command { args: vec![Arg { kind: ArgKind::Field(vec!["Response".into()]), pos }], pos }],
                pos,
            },
            pos,
        });
    }
    Ok(t)
}

/// The default template, parsed.
pub fn default_template() -> Template {
    parse(DEFAULT_TEMPLATE).unwrap_or_else(|_| Template::parse("").unwrap_or_else(|_| unreachable_template()))
}

fn unreachable_template() -> Template {
    Template { name: String::new(), source: String::new(), root: Vec::new(), defs: Vec::new() }
}

/// Renders a chat prompt: `system`, when given and non-empty, is prepended as a system message
/// (the Modelfile `SYSTEM` or a generate request's `system`; for chat, Ollama adds the
/// Modelfile's only when the first message is not a system message — pass `None` otherwise).
pub fn render_prompt(
    tmpl: &Template,
    system: Option<&str>,
    messages: &[ChatMessage],
    tools: Option<&serde_json::Value>,
    think: Option<&ThinkValue>,
) -> Result<String, String> {
    let mut msgs: Vec<ChatMessage> = Vec::with_capacity(messages.len() + 1);
    if let Some(s) = system.filter(|s| !s.is_empty()) {
        msgs.push(ChatMessage::new("system", s));
    }
    msgs.extend_from_slice(messages);
    execute(tmpl, &Values { messages: &msgs, tools, think: think.cloned(), ..Default::default() })
}

/// Renders a fill-in-the-middle prompt (`/api/generate` with `suffix`).
pub fn render_suffix(
    tmpl: &Template,
    prompt: &str,
    suffix: &str,
    think: Option<&ThinkValue>,
) -> Result<String, String> {
    execute(tmpl, &Values { prompt, suffix, think: think.cloned(), ..Default::default() })
}

/// Ollama's `Template.Execute`.
pub fn execute(tmpl: &Template, v: &Values) -> Result<String, String> {
    execute_with(tmpl, v, &ExecOptions::default())
}

/// `execute` with execution options (the clock for `currentDate`, output limit).
pub fn execute_with(tmpl: &Template, v: &Values, opts: &ExecOptions) -> Result<String, String> {
    let (system, messages) = collate(v.messages);
    let think = v.think.as_ref().is_some_and(ThinkValue::enabled);
    let level = v.think.as_ref().map(ThinkValue::level).unwrap_or_default();
    let is_set = v.think.is_some();
    let think_entries = |e: &mut Vec<(String, Value)>| {
        e.push(("Think".into(), Value::Bool(think)));
        e.push(("ThinkLevel".into(), Value::from(level.clone())));
        e.push(("IsThinkSet".into(), Value::Bool(is_set)));
    };
    let data_map = |entries: Vec<(String, Value)>| Value::map(entries, Meta::new("map[string]interface {}"), true);

    if !v.prompt.is_empty() && !v.suffix.is_empty() {
        let mut e = vec![
            ("Prompt".into(), Value::from(v.prompt)),
            ("Suffix".into(), Value::from(v.suffix)),
            ("Response".into(), Value::from("")),
        ];
        think_entries(&mut e);
        return tmpl.execute_value(&data_map(e), opts);
    }
    let (vars, _) = tmpl.identifiers();
    if vars.iter().any(|x| x == "messages") {
        let mut e = vec![
            ("System".into(), Value::from(system)),
            ("Messages".into(), messages_value(&messages)),
            ("Tools".into(), tools_value(v.tools)),
            ("Response".into(), Value::from("")),
        ];
        think_entries(&mut e);
        return tmpl.execute_value(&data_map(e), opts);
    }

    // Legacy templates: one execution per exchange.
    let mut out = String::new();
    let (mut system, mut prompt, mut response) = (String::new(), String::new(), String::new());
    let legacy_data = |system: &str, prompt: &str, response: &str| {
        let mut e = vec![
            ("System".into(), Value::from(system)),
            ("Prompt".into(), Value::from(prompt)),
            ("Response".into(), Value::from(response)),
        ];
        think_entries(&mut e);
        data_map(e)
    };
    for m in &messages {
        let flush = match m.role.as_str() {
            "system" => !prompt.is_empty() || !response.is_empty(),
            "user" => !response.is_empty(),
            _ => false,
        };
        if flush {
            out.push_str(&tmpl.execute_value(&legacy_data(&system, &prompt, &response), opts)?);
            system.clear();
            prompt.clear();
            response.clear();
        }
        match m.role.as_str() {
            "system" => system = m.content.clone(),
            "user" => prompt = m.content.clone(),
            "assistant" => response = m.content.clone(),
            _ => {}
        }
    }
    let cut = tmpl.with_root(cut_after_response(tmpl.root()));
    out.push_str(&cut.execute_value(&legacy_data(&system, &prompt, &response), opts)?);
    Ok(out)
}

/// Ollama's `collate`: all system contents joined by "\n\n", and the messages with consecutive
/// same-role messages merged (contents joined by "\n\n"; the first message's other fields kept),
/// except `tool` messages.
pub fn collate(msgs: &[ChatMessage]) -> (String, Vec<ChatMessage>) {
    let mut system: Vec<&str> = Vec::new();
    let mut out: Vec<ChatMessage> = Vec::new();
    for m in msgs {
        if m.role == "system" {
            system.push(&m.content);
        }
        match out.last_mut() {
            Some(last) if last.role == m.role && m.role != "tool" => {
                last.content.push_str("\n\n");
                last.content.push_str(&m.content);
            }
            _ => out.push(m.clone()),
        }
    }
    (system.join("\n\n"), out)
}

/// Removes everything after the first `.Response` field (in tree order), as Ollama does for the
/// last legacy execution so the prompt ends where the model's answer begins.
fn cut_after_response(root: &[Node]) -> Vec<Node> {
    let mut c = Cutter { cut: false };
    c.list(root)
}

struct Cutter {
    cut: bool,
}

impl Cutter {
    fn list(&mut self, list: &[Node]) -> Vec<Node> {
        let mut out = Vec::new();
        for n in list {
            if let Some(n) = self.node(n) {
                out.push(n);
            }
        }
        out
    }

    fn branch(&mut self, b: &Branch) -> Branch {
        // The condition is not inspected; a cut inside `list` empties `else_list`.
        let list = if self.cut { Vec::new() } else { self.list(&b.list) };
        let else_list = b.else_list.as_ref().map(|e| if self.cut { Vec::new() } else { self.list(e) });
        Branch { pipe: b.pipe.clone(), list, else_list, pos: b.pos }
    }

    fn node(&mut self, n: &Node) -> Option<Node> {
        if self.cut {
            return None;
        }
        Some(match n {
            Node::If(b) => Node::If(self.branch(b)),
            Node::With(b) => Node::With(self.branch(b)),
            Node::Range(b) => Node::Range(self.branch(b)),
            Node::Action { pipe, pos } => Node::Action { pipe: self.pipe(pipe)?, pos: *pos },
            other => other.clone(),
        })
    }

    fn pipe(&mut self, p: &Pipe) -> Option<Pipe> {
        if self.cut {
            return None;
        }
        let mut cmds = Vec::new();
        for c in &p.cmds {
            let mut args = Vec::new();
            for a in &c.args {
                if let Some(a) = self.arg(a) {
                    args.push(a);
                }
            }
            if args.is_empty() {
                return None;
            }
            cmds.push(Command { args, pos: c.pos });
        }
        if cmds.is_empty() {
            return None;
        }
        Some(Pipe { decl: p.decl.clone(), is_assign: p.is_assign, cmds, pos: p.pos })
    }

    fn arg(&mut self, a: &Arg) -> Option<Arg> {
        if let ArgKind::Field(idents) = &a.kind {
            if idents.iter().any(|i| i == "Response") {
                self.cut = true;
                return Some(a.clone());
            }
        }
        if self.cut {
            return None;
        }
        if let ArgKind::Pipe(p) = &a.kind {
            return Some(Arg { kind: ArgKind::Pipe(Box::new(self.pipe(p)?)), pos: a.pos });
        }
        Some(a.clone())
    }
}
