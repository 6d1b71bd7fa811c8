//! What Ollama infers from a template's tree rather than from the model: the text tool calls
//! start with (`tools/template.go` `parseTag`) and the tags around thinking traces
//! (`thinking/template.go` `InferTags`).

use crate::gotemplate::{ArgKind, Branch, Node, Pipe, Template};

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
