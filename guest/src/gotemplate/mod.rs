//! Go `text/template`, for Ollama's Modelfile `TEMPLATE`s.
//!
//! A small lexer/parser/executor that follows Go's `text/template` semantics (see
//! <https://pkg.go.dev/text/template>) over [`Value`] data (plain JSON converts with
//! `Value::from(&serde_json::Value)`), plus Ollama's template functions and prompt construction
//! ([`ollama`]).
//!
//! Supported: text and actions with `{{-`/`-}}` trimming; comments `{{/* */}}`; fields `.A.B`,
//! `$`, `$x.A`, `(pipeline).A`; variables `$x :=` / `$x =`; pipelines with `|`;
//! parenthesised pipelines; string (with Go escapes), raw-string, char, number (decimal, hex,
//! octal, binary, underscores, floats), `true`/`false`/`nil` literals; `if`/`else if`/`else`,
//! `with`/`else with`/`else`, `range` over slices, maps (sorted keys), integers and nil, with
//! `$v :=` / `$i, $v :=` / `=` and `else`, `break`/`continue`; `define`, `template`, `block`.
//! Functions: `and`/`or` (short-circuit), `not`, `eq` (several operands), `ne`, `lt`, `le`,
//! `gt`, `ge`, `len`, `index`, `slice`, `print`, `printf`, `println`, `html`, `js`, `urlquery`,
//! `call` (always an error: data holds no functions) and Ollama's `json`, `currentDate`,
//! `yesterdayDate`, `toTypeScriptType`. Missing map keys yield nil, printed `<no value>` (Go's
//! behaviour for `map[string]any` data even with `missingkey=zero`, which Ollama sets).
//!
//! Not supported: methods on data (there are none), custom function maps, complex numbers and
//! hexadecimal floats, `%#v` Go-syntax output beyond strings, the `html/template` contextual
//! escaping.

mod exec;
mod fmt;
mod lex;
pub mod ollama;
mod parse;
pub mod value;

#[cfg(test)]
mod tests;

pub use exec::ExecOptions;
pub use parse::{Arg, ArgKind, Branch, Command, Node, Number, Pipe};
pub use value::Value;

/// A parsed template: its main body plus the templates it `define`s.
#[derive(Clone, Debug)]
pub struct Template {
    name: String,
    source: String,
    root: Vec<Node>,
    defs: Vec<(String, Vec<Node>)>,
}

impl Template {
    /// Parses a template named "" (as Ollama names its templates).
    pub fn parse(src: &str) -> Result<Template, String> {
        Template::parse_named("", src)
    }

    /// Parses a template; `name` appears in error messages and is what `{{ template }}` can
    /// call the main body by.
    pub fn parse_named(name: &str, src: &str) -> Result<Template, String> {
        let p = parse::parse(name, src)?;
        Ok(Template { name: name.to_string(), source: src.to_string(), root: p.root, defs: p.defs })
    }

    /// Renders with JSON data (objects are Go maps: sorted keys; integers are `int`).
    pub fn execute(&self, data: &serde_json::Value) -> Result<String, String> {
        self.execute_value(&Value::from(data), &ExecOptions::default())
    }

    /// Renders with prepared data.
    pub fn execute_value(&self, data: &Value, opts: &ExecOptions) -> Result<String, String> {
        exec::execute(self, &self.root, data, opts)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the source text contains `s` (Ollama's `Template.Contains`).
    pub fn contains(&self, s: &str) -> bool {
        self.source.contains(s)
    }

    /// The main body's parse tree.
    pub fn root(&self) -> &[Node] {
        &self.root
    }

    /// The `define`d and `block` templates, by name.
    pub fn definitions(&self) -> impl Iterator<Item = (&str, &[Node])> {
        self.defs.iter().map(|(n, b)| (n.as_str(), b.as_slice()))
    }

    /// The body `{{ template name }}` runs.
    pub fn lookup(&self, name: &str) -> Option<&[Node]> {
        if let Some((_, b)) = self.defs.iter().find(|(n, _)| n == name) {
            return Some(b);
        }
        (name == self.name).then_some(self.root.as_slice())
    }

    /// A copy with another main body (and the same definitions).
    pub(crate) fn with_root(&self, root: Vec<Node>) -> Template {
        Template { name: self.name.clone(), source: self.source.clone(), root, defs: self.defs.clone() }
    }

    pub(crate) fn root_mut(&mut self) -> &mut Vec<Node> {
        &mut self.root
    }

    /// The identifiers the template references, lower-cased, sorted and de-duplicated: every
    /// field name (`.Messages.Content` gives `messages` and `content`) and variable name
    /// (`$.Tools` gives `$` and `tools`), in all templates of the set — Ollama's
    /// `Template.Vars`, which derives capabilities (`tools` ⇒ tools, `suffix` ⇒ insert) and
    /// chooses between the `.Messages` and legacy prompt paths.
    pub fn vars(&self) -> Vec<String> {
        self.identifiers().0
    }

    /// `vars()`, and whether some `{{ template }}` lacks a pipeline (Ollama rejects such
    /// templates: "undefined template specified").
    pub(crate) fn identifiers(&self) -> (Vec<String>, bool) {
        let mut names = Vec::new();
        let mut missing_pipe = false;
        let bodies = std::iter::once(self.root.as_slice()).chain(self.defs.iter().map(|(_, b)| b.as_slice()));
        for body in bodies {
            for n in body {
                node_identifiers(n, &mut names, &mut missing_pipe);
            }
        }
        let mut set: Vec<String> = names.into_iter().map(|s| s.to_lowercase()).collect();
        set.sort();
        set.dedup();
        (set, missing_pipe)
    }
}

fn node_identifiers(n: &Node, out: &mut Vec<String>, missing_pipe: &mut bool) {
    match n {
        Node::Action { pipe, .. } => pipe_identifiers(pipe, out),
        Node::Template { pipe, .. } => match pipe {
            Some(p) => pipe_identifiers(p, out),
            None => *missing_pipe = true,
        },
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            pipe_identifiers(&b.pipe, out);
            for n in b.list.iter().chain(b.else_list.iter().flatten()) {
                node_identifiers(n, out, missing_pipe);
            }
        }
        Node::Text { .. } | Node::Break { .. } | Node::Continue { .. } => {}
    }
}

fn pipe_identifiers(p: &Pipe, out: &mut Vec<String>) {
    for c in &p.cmds {
        for a in &c.args {
            match &a.kind {
                ArgKind::Field(idents) | ArgKind::Variable(idents) => out.extend(idents.iter().cloned()),
                ArgKind::Pipe(p) => pipe_identifiers(p, out),
                _ => {}
            }
        }
    }
}
