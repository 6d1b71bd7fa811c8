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

use std::borrow::Cow;

use super::parse::{Arg, ArgKind, Branch, Command, Node, Pipe};
use super::value::{Display, Field, Meta, Omit, Value};
use super::{ExecOptions, Template};
use crate::message::ChatMessage;

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

fn s(v: impl AsRef<str>) -> Value {
    Value::str(v)
}

fn json_field(name: &'static str, json: &'static str, omit: Omit, value: Value) -> Field {
    Field::json(name, json, omit, value)
}

fn string_list(v: Option<&serde_json::Value>, type_name: &'static str) -> Value {
    match v.and_then(|x| x.as_array()) {
        Some(a) => Value::list(a.iter().filter_map(|x| x.as_str()).map(s).collect(), Meta::new(type_name)),
        None => Value::list(Vec::new(), Meta::new(type_name).nil(true)),
    }
}

fn any_value(v: Option<&serde_json::Value>) -> Value {
    v.map(|x| Value::from_json(x, true)).unwrap_or(Value::Nil)
}

fn str_field(v: &serde_json::Value, key: &str) -> String {
    v.get(key).and_then(|x| x.as_str()).unwrap_or_default().to_string()
}

/// `api.ToolProperty` (printed as a Go struct; JSON with its `omitempty` rules).
fn tool_property(v: &serde_json::Value) -> Value {
    let any_of = match v.get("anyOf").and_then(|x| x.as_array()) {
        Some(a) => Value::list(a.iter().map(tool_property).collect(), Meta::new("[]api.ToolProperty")),
        None => Value::list(Vec::new(), Meta::new("[]api.ToolProperty").nil(true)),
    };
    let types: Option<Vec<Value>> = match v.get("type") {
        Some(serde_json::Value::String(t)) => Some(vec![s(t)]),
        Some(serde_json::Value::Array(a)) => Some(a.iter().filter_map(|x| x.as_str()).map(s).collect()),
        _ => None,
    };
    let mut type_meta = Meta::new("api.PropertyType").display(Display::PropertyType).nil(types.is_none());
    type_meta.json_property_type = true;
    let ty = Value::list(types.unwrap_or_default(), type_meta);
    let enum_ = match v.get("enum").and_then(|x| x.as_array()) {
        Some(a) => Value::list(a.iter().map(|x| Value::from_json(x, true)).collect(), Meta::new("[]interface {}")),
        None => Value::list(Vec::new(), Meta::new("[]interface {}").nil(true)),
    };
    let properties = match v.get("properties").and_then(|x| x.as_object()) {
        Some(o) => Value::map(
            o.iter().map(|(k, x)| (k.clone(), tool_property(x))).collect(),
            Meta::new("*api.ToolPropertiesMap").display(Display::Json),
            false,
        ),
        None => Value::Nil,
    };
    Value::structure(
        vec![
            json_field("AnyOf", "anyOf", Omit::IfEmpty, any_of),
            json_field("Type", "type", Omit::IfEmpty, ty),
            json_field("Items", "items", Omit::IfNil, any_value(v.get("items"))),
            json_field("Description", "description", Omit::IfEmpty, s(str_field(v, "description"))),
            json_field("Enum", "enum", Omit::IfEmpty, enum_),
            json_field("Properties", "properties", Omit::IfNil, properties),
            json_field("Required", "required", Omit::IfEmpty, string_list(v.get("required"), "[]string")),
        ],
        Meta::new("api.ToolProperty"),
    )
}

/// `templateTool` for one `api.Tool`.
fn tool_value(t: &serde_json::Value) -> Value {
    let f = t.get("function").cloned().unwrap_or(serde_json::Value::Null);
    let p = f.get("parameters").cloned().unwrap_or(serde_json::Value::Null);
    let properties = match p.get("properties").and_then(|x| x.as_object()) {
        Some(o) => Value::map(
            o.iter().map(|(k, x)| (k.clone(), tool_property(x))).collect(),
            Meta::new("template.templateProperties").display(Display::JsonOrEmptyObject),
            true,
        ),
        None => Value::map(
            Vec::new(),
            Meta::new("template.templateProperties").display(Display::JsonOrEmptyObject).nil(true),
            false,
        ),
    };
    let parameters = Value::structure(
        vec![
            json_field("Type", "type", Omit::Never, s(str_field(&p, "type"))),
            json_field("Defs", "$defs", Omit::IfNil, any_value(p.get("$defs"))),
            json_field("Items", "items", Omit::IfNil, any_value(p.get("items"))),
            json_field("Required", "required", Omit::IfEmpty, string_list(p.get("required"), "[]string")),
            json_field("Properties", "properties", Omit::Never, properties),
        ],
        Meta::new("template.templateToolFunctionParameters").display(Display::Json),
    );
    let function = Value::structure(
        vec![
            json_field("Name", "name", Omit::Never, s(str_field(&f, "name"))),
            json_field("Description", "description", Omit::Never, s(str_field(&f, "description"))),
            json_field("Parameters", "parameters", Omit::Never, parameters),
        ],
        Meta::new("template.templateToolFunction").display(Display::Json),
    );
    Value::structure(
        vec![
            json_field("Type", "type", Omit::Never, s(str_field(t, "type"))),
            json_field("Items", "items", Omit::IfNil, any_value(t.get("items"))),
            json_field("Function", "function", Omit::Never, function),
        ],
        Meta::new("template.templateTool").display(Display::Json),
    )
}

/// `.Tools` (`templateTools`, printed as JSON).
fn tools_value(tools: Option<&serde_json::Value>) -> Value {
    let meta = Meta::new("template.templateTools").display(Display::Json);
    match tools.and_then(|t| t.as_array()) {
        Some(a) => Value::list(a.iter().map(tool_value).collect(), meta),
        None => Value::list(Vec::new(), meta.nil(true)),
    }
}

/// `templateToolCall`s of a message (nil when there are none).
fn tool_calls_value(tc: Option<&serde_json::Value>) -> Value {
    let meta = Meta::new("[]template.templateToolCall");
    let calls: Vec<&serde_json::Value> = tc.and_then(|x| x.as_array()).map(|a| a.iter().collect()).unwrap_or_default();
    if calls.is_empty() {
        return Value::list(Vec::new(), meta.nil(true));
    }
    let items = calls
        .into_iter()
        .map(|c| {
            let f = c.get("function").cloned().unwrap_or(serde_json::Value::Null);
            let parsed_args;
            let args_json = match f.get("arguments") {
                Some(serde_json::Value::String(text)) => {
                    parsed_args = serde_json::from_str::<serde_json::Value>(text).ok();
                    parsed_args.as_ref()
                }
                other => other,
            };
            let args_meta = Meta::new("template.templateArgs").display(Display::JsonOrEmptyObject);
            let arguments = match args_json.and_then(|x| x.as_object()) {
                Some(o) => {
                    Value::map(o.iter().map(|(k, x)| (k.clone(), Value::from_json(x, true))).collect(), args_meta, true)
                }
                None => Value::map(Vec::new(), args_meta.nil(true), false),
            };
            let index = f.get("index").and_then(|x| x.as_i64()).unwrap_or(0);
            let function = Value::structure(
                vec![
                    Field::new("Index", Value::Int(index)),
                    Field::new("Name", s(str_field(&f, "name"))),
                    Field::new("Arguments", arguments),
                ],
                Meta::new("template.templateToolCallFunction"),
            );
            Value::structure(
                vec![Field::new("ID", s(str_field(c, "id"))), Field::new("Function", function)],
                Meta::new("template.templateToolCall"),
            )
        })
        .collect();
    Value::list(items, meta)
}

/// `.Messages` (`[]*templateMessage`).
fn messages_value(msgs: &[ChatMessage]) -> Value {
    let meta = Meta::new("[]*template.templateMessage");
    if msgs.is_empty() {
        return Value::list(Vec::new(), meta.nil(true));
    }
    let items = msgs
        .iter()
        .map(|m| {
            Value::structure(
                vec![
                    Field::new("Role", s(&m.role)),
                    Field::new("Content", s(&m.content)),
                    Field::new("Thinking", s(m.thinking.as_deref().unwrap_or(""))),
                    Field::new("Images", Value::list(Vec::new(), Meta::new("[]api.ImageData").nil(true))),
                    Field::new("ToolCalls", tool_calls_value(m.tool_calls.as_ref())),
                    Field::new("ToolName", s(m.tool_name.as_deref().unwrap_or(""))),
                    Field::new("ToolCallID", s("")),
                ],
                Meta { type_name: Cow::Borrowed("*template.templateMessage"), ..Meta::new("") },
            )
        })
        .collect();
    Value::list(items, meta)
}

/// The text a model's tool calls start with, inferred from the template (Ollama's
/// `tools.parseTag`): the first non-blank text inside `{{ if .ToolCalls }}`, up to any `{`,
/// trimmed; `{` when there is none (JSON objects are then parsed as calls).
pub fn tool_call_tag(tmpl: &Template) -> String {
    let Some(b) = find_tool_call_node(tmpl.root()) else { return "{".into() };
    let Some(text) = find_text_node(&b.list) else { return "{".into() };
    let tag = text.replace("\r\n", "\n");
    let tag = tag.split('{').next().unwrap_or("").trim();
    if tag.is_empty() {
        "{".into()
    } else {
        tag.to_string()
    }
}

fn is_tool_calls_if(b: &Branch) -> bool {
    b.pipe
        .cmds
        .iter()
        .flat_map(|c| &c.args)
        .any(|a| matches!(&a.kind, ArgKind::Field(i) if i.iter().any(|x| x == "ToolCalls")))
}

fn find_tool_call_node(nodes: &[Node]) -> Option<&Branch> {
    for n in nodes {
        match n {
            Node::If(b) => {
                if is_tool_calls_if(b) {
                    return Some(b);
                }
                if let Some(r) = find_tool_call_node(&b.list) {
                    return Some(r);
                }
                if let Some(r) = b.else_list.as_deref().and_then(find_tool_call_node) {
                    return Some(r);
                }
            }
            Node::Range(b) | Node::With(b) => {
                if let Some(r) = find_tool_call_node(&b.list) {
                    return Some(r);
                }
                if let Some(r) = b.else_list.as_deref().and_then(find_tool_call_node) {
                    return Some(r);
                }
            }
            _ => {}
        }
    }
    None
}

fn find_text_node(nodes: &[Node]) -> Option<&str> {
    for n in nodes {
        match n {
            Node::Text { text, .. } => {
                if text.trim().is_empty() {
                    continue;
                }
                return Some(text);
            }
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                if let Some(t) = find_text_node(&b.list) {
                    return Some(t);
                }
                if let Some(t) = b.else_list.as_deref().and_then(find_text_node) {
                    return Some(t);
                }
                return None;
            }
            Node::Action { .. } => return None,
            _ => {}
        }
    }
    None
}

/// The tags around thinking traces, inferred from the template (Ollama's
/// `thinking.InferTags`): for a `.Thinking` field inside a `range` over `.Messages`, the first
/// and last text of the nearest enclosing list, trimmed. ("", "") when not found.
pub fn infer_thinking_tags(tmpl: &Template) -> (String, String) {
    let mut v = ThinkVisitor { stack: Vec::new(), open: String::new(), close: String::new() };
    v.list(tmpl.root());
    (v.open, v.close)
}

enum Anc<'a> {
    List(&'a [Node]),
    Range(&'a Branch),
}

struct ThinkVisitor<'a> {
    stack: Vec<Anc<'a>>,
    open: String,
    close: String,
}

impl<'a> ThinkVisitor<'a> {
    fn list(&mut self, l: &'a [Node]) {
        self.stack.push(Anc::List(l));
        for n in l {
            self.node(n);
        }
        self.stack.pop();
    }

    fn node(&mut self, n: &'a Node) {
        match n {
            Node::Action { pipe, .. } => self.pipe(pipe),
            Node::Template { pipe: Some(p), .. } => self.pipe(p),
            Node::If(b) | Node::With(b) => self.branch(b),
            Node::Range(b) => {
                self.stack.push(Anc::Range(b));
                self.branch(b);
                self.stack.pop();
            }
            _ => {}
        }
    }

    fn branch(&mut self, b: &'a Branch) {
        self.pipe(&b.pipe);
        self.list(&b.list);
        if let Some(e) = &b.else_list {
            self.list(e);
        }
    }

    fn pipe(&mut self, p: &'a Pipe) {
        for c in &p.cmds {
            for a in &c.args {
                match &a.kind {
                    ArgKind::Field(idents) if idents.first().map(String::as_str) == Some("Thinking") => {
                        self.thinking_field()
                    }
                    ArgKind::Pipe(p) => self.pipe(p),
                    _ => {}
                }
            }
        }
    }

    fn thinking_field(&mut self) {
        let range = self.stack.iter().rev().find_map(|a| match a {
            Anc::Range(b) => Some(*b),
            _ => None,
        });
        let Some(range) = range else { return };
        if !pipe_uses_field(&range.pipe, "Messages") {
            return;
        }
        let list = self.stack.iter().rev().find_map(|a| match a {
            Anc::List(l) => Some(*l),
            _ => None,
        });
        if let Some(l) = list {
            if let Some(Node::Text { text, .. }) = l.first() {
                self.open = text.trim().to_string();
            }
            if let Some(Node::Text { text, .. }) = l.last() {
                self.close = text.trim().to_string();
            }
        }
    }
}

fn pipe_uses_field(p: &Pipe, field: &str) -> bool {
    p.cmds.iter().flat_map(|c| &c.args).any(|a| match &a.kind {
        ArgKind::Field(idents) => idents.first().map(String::as_str) == Some(field),
        ArgKind::Pipe(p) => pipe_uses_field(p, field),
        _ => false,
    })
}
