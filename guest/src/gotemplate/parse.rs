//! The parse tree and parser: Go `text/template/parse`'s grammar and its parse-time checks
//! (undefined variables and functions, `break`/`continue` outside `range`, misplaced
//! `else`/`end`, non-executable pipeline stages, duplicate definitions).

use std::fmt;

use super::lex::{lex, unquote, Kw, Tok, Token};

/// A node of a template body.
#[derive(Clone, Debug)]
pub enum Node {
    /// Literal text (after whitespace trimming).
    Text {
        text: String,
        pos: usize,
    },
    /// `{{ pipeline }}`.
    Action {
        pipe: Pipe,
        pos: usize,
    },
    /// `{{ if pipeline }} list {{ else }} list {{ end }}` (`else if` nests an `If` in `else_list`).
    If(Branch),
    /// `{{ range pipeline }} list {{ else }} list {{ end }}`.
    Range(Branch),
    /// `{{ with pipeline }} list {{ else }} list {{ end }}`.
    With(Branch),
    /// `{{ template "name" pipeline }}` (also what `{{ block }}` leaves in place).
    Template {
        name: String,
        pipe: Option<Pipe>,
        pos: usize,
    },
    Break {
        pos: usize,
    },
    Continue {
        pos: usize,
    },
}

/// The common shape of `if`, `range` and `with`.
#[derive(Clone, Debug)]
pub struct Branch {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
    pub pos: usize,
}

/// A pipeline: optional variable declarations, then commands separated by `|`.
#[derive(Clone, Debug)]
pub struct Pipe {
    /// Declared (`:=`) or assigned (`=`) variable names, with their `$`.
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Command>,
    pub pos: usize,
}

/// One command: a function or operand followed by arguments.
#[derive(Clone, Debug)]
pub struct Command {
    pub args: Vec<Arg>,
    pub pos: usize,
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub kind: ArgKind,
    pub pos: usize,
}

#[derive(Clone, Debug)]
pub enum ArgKind {
    /// `.A.B` (names without dots).
    Field(Vec<String>),
    /// `$x.A.B`: the variable name (with `$`) then field names.
    Variable(Vec<String>),
    Dot,
    Nil,
    Bool(bool),
    Number {
        text: String,
        value: Number,
    },
    /// A string literal: as written, and its value.
    Str {
        quoted: String,
        value: String,
    },
    /// A function name.
    Identifier(String),
    /// A parenthesised pipeline.
    Pipe(Box<Pipe>),
    /// `(pipeline).A.B` and other field accesses on a non-field term.
    Chain(Box<Arg>, Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{} {} ", self.decl.join(", "), if self.is_assign { "=" } else { ":=" })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let ArgKind::Pipe(p) = &a.kind {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ArgKind::Field(idents) => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            ArgKind::Variable(idents) => f.write_str(&idents.join(".")),
            ArgKind::Dot => f.write_str("."),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Bool(b) => write!(f, "{b}"),
            ArgKind::Number { text, .. } => f.write_str(text),
            ArgKind::Str { quoted, .. } => f.write_str(quoted),
            ArgKind::Identifier(name) => f.write_str(name),
            ArgKind::Pipe(p) => write!(f, "{p}"),
            ArgKind::Chain(node, fields) => {
                if let ArgKind::Pipe(p) = &node.kind {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
        }
    }
}

/// The functions a template may call (checked at parse time, like Go).
pub(crate) const FUNCTIONS: &[&str] = &[
    "and",
    "call",
    "html",
    "index",
    "slice",
    "js",
    "len",
    "not",
    "or",
    "print",
    "printf",
    "println",
    "urlquery",
    "eq",
    "ge",
    "gt",
    "le",
    "lt",
    "ne",
    // Ollama's additions.
    "json",
    "currentDate",
    "yesterdayDate",
    "toTypeScriptType",
];

/// How deeply control structures and parentheses may nest (a guard for the call stack).
const MAX_NESTING: usize = 100;

/// A parsed template set: the main body and the `define`d / `block` templates.
pub(crate) struct Parsed {
    pub root: Vec<Node>,
    pub defs: Vec<(String, Vec<Node>)>,
}

enum Item {
    Node(Node),
    End,
    Else,
}

struct Parser<'a> {
    name: &'a str,
    toks: Vec<Token>,
    idx: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    defs: Vec<(String, Vec<Node>)>,
}

type PResult<T> = Result<T, String>;

pub(crate) fn parse(name: &str, src: &str) -> Result<Parsed, String> {
    let mut p =
        Parser { name, toks: lex(src), idx: 0, vars: vec!["$".into()], range_depth: 0, depth: 0, defs: Vec::new() };
    let root = p.parse_root()?;
    Ok(Parsed { root, defs: p.defs })
}

/// Go's `parse.IsEmptyTree`: only whitespace text.
pub(crate) fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| matches!(n, Node::Text { text, .. } if text.trim().is_empty()))
}

impl<'a> Parser<'a> {
    fn err<T>(&self, msg: impl fmt::Display) -> PResult<T> {
        let line = self
            .toks
            .get(self.idx.saturating_sub(1).min(self.toks.len().saturating_sub(1)))
            .map(|t| t.line)
            .unwrap_or(1);
        Err(format!("template: {}:{}: {}", self.name, line, msg))
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.idx.min(self.toks.len() - 1)].clone();
        if self.idx < self.toks.len() - 1 {
            self.idx += 1;
        } else {
            // Stay on the final Eof/Error token, but count the step so `backup` is symmetric.
            self.idx = self.toks.len();
        }
        t
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&self) -> &Token {
        &self.toks[self.idx.min(self.toks.len() - 1)]
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.tok != Tok::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn unexpected<T>(&self, t: &Token, context: &str) -> PResult<T> {
        if let Tok::Error(e) = &t.tok {
            return Err(format!("template: {}:{}: {}", self.name, t.line, e));
        }
        self.err(format!("unexpected {} in {}", t.describe(), context))
    }

    fn expect(&mut self, want: &Tok, context: &str) -> PResult<Token> {
        let t = self.next_non_space();
        if &t.tok != want {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return self.err(format!("template nested too deeply (more than {MAX_NESTING} levels)"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::Eof => break,
                Tok::Error(e) => return Err(format!("template: {}:{}: {}", self.name, t.line, e)),
                _ => {}
            }
            if t.tok == Tok::LeftDelim {
                let save = self.idx;
                self.next();
                if self.next_non_space().tok == Tok::Kw(Kw::Define) {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = save;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                Item::End => return self.err("unexpected {{end}}"),
                Item::Else => return self.err("unexpected {{else}}"),
            }
        }
        Ok(root)
    }

    fn add_definition(&mut self, name: String, body: Vec<Node>) -> PResult<()> {
        if let Some(existing) = self.defs.iter_mut().find(|(n, _)| *n == name) {
            if is_empty_tree(&existing.1) {
                existing.1 = body;
            } else if !is_empty_tree(&body) {
                return Err(format!(
                    "template: multiple definition of template {}",
                    super::fmt::go_quote(&name, false)
                ));
            }
            return Ok(());
        }
        self.defs.push((name, body));
        Ok(())
    }

    /// A body parsed with fresh variables and no enclosing `range` (a `define` or `block`).
    fn with_fresh_scope<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let r = f(self);
        self.vars = vars;
        self.range_depth = range_depth;
        r
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        let name = match &t.tok {
            Tok::Str(s) | Tok::RawStr(s) => unquote(s).or_else(|e| self.err(e))?,
            _ => return self.unexpected(&t, CONTEXT),
        };
        self.expect(&Tok::RightDelim, CONTEXT)?;
        let body = self.with_fresh_scope(|p| {
            let (list, end) = p.item_list()?;
            if !matches!(end, Item::End) {
                return p.err(format!("unexpected {{{{else}}}} in {CONTEXT}"));
            }
            Ok(list)
        })?;
        self.add_definition(name, body)
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Text(text) => Ok(Item::Node(Node::Text { text, pos: t.pos })),
            Tok::LeftDelim => self.action(),
            _ => self.unexpected(&t, "input"),
        }
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        loop {
            let t = self.peek_non_space();
            match &t.tok {
                Tok::Eof => return self.err("unexpected EOF"),
                Tok::Error(e) => return Err(format!("template: {}:{}: {}", self.name, t.line, e)),
                _ => {}
            }
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Kw(Kw::Block) => return self.block_control(t.pos).map(Item::Node),
            Tok::Kw(Kw::Break) => return self.break_control(t.pos, "break").map(Item::Node),
            Tok::Kw(Kw::Continue) => return self.break_control(t.pos, "continue").map(Item::Node),
            Tok::Kw(Kw::Else) => return self.else_control(),
            Tok::Kw(Kw::End) => {
                self.expect(&Tok::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Tok::Kw(Kw::If) => return self.control("if", t.pos).map(|b| Item::Node(Node::If(b))),
            Tok::Kw(Kw::Range) => return self.control("range", t.pos).map(|b| Item::Node(Node::Range(b))),
            Tok::Kw(Kw::With) => return self.control("with", t.pos).map(|b| Item::Node(Node::With(b))),
            Tok::Kw(Kw::Template) => return self.template_control(t.pos).map(Item::Node),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", &Tok::RightDelim)?;
        Ok(Item::Node(Node::Action { pipe, pos }))
    }

    fn else_control(&mut self) -> PResult<Item> {
        // `{{else if …}}` / `{{else with …}}` leave the keyword pending.
        let t = self.peek_non_space();
        if matches!(t.tok, Tok::Kw(Kw::If) | Tok::Kw(Kw::With)) {
            // Consume the spaces before it.
            while self.peek().tok == Tok::Space {
                self.next();
            }
            return Ok(Item::Else);
        }
        self.expect(&Tok::RightDelim, "else")?;
        Ok(Item::Else)
    }

    fn break_control(&mut self, pos: usize, word: &str) -> PResult<Node> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.unexpected(&t, &format!("{{{{{word}}}}}"));
        }
        if self.range_depth == 0 {
            return self.err(format!("{{{{{word}}}}} outside {{{{range}}}}"));
        }
        Ok(if word == "break" { Node::Break { pos } } else { Node::Continue { pos } })
    }

    fn control(&mut self, context: &'static str, pos: usize) -> PResult<Branch> {
        self.enter()?;
        let mark = self.vars.len();
        let r = self.control_inner(context, pos);
        self.vars.truncate(mark);
        self.leave();
        r
    }

    fn control_inner(&mut self, context: &'static str, pos: usize) -> PResult<Branch> {
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let Item::Else = next {
            let t = self.peek().clone();
            if context == "if" && t.tok == Tok::Kw(Kw::If) {
                self.next();
                let b = self.control("if", t.pos)?;
                else_list = Some(vec![Node::If(b)]);
            } else if context == "with" && t.tok == Tok::Kw(Kw::With) {
                self.next();
                let b = self.control("with", t.pos)?;
                else_list = Some(vec![Node::With(b)]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Item::End) {
                    return self.err("expected end; found {{else}}");
                }
                else_list = Some(list);
            }
        }
        Ok(Branch { pipe, list, else_list, pos })
    }

    fn template_name(&mut self, context: &str) -> PResult<String> {
        let t = self.next_non_space();
        match &t.tok {
            Tok::Str(s) | Tok::RawStr(s) => unquote(s).or_else(|e| self.err(e)),
            _ => self.unexpected(&t, context),
        }
    }

    fn template_control(&mut self, pos: usize) -> PResult<Node> {
        const CONTEXT: &str = "template clause";
        let name = self.template_name(CONTEXT)?;
        let pipe = if self.next_non_space().tok != Tok::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, &Tok::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template { name, pipe, pos })
    }

    fn block_control(&mut self, pos: usize) -> PResult<Node> {
        const CONTEXT: &str = "block clause";
        self.enter()?;
        let r = (|| {
            let name = self.template_name(CONTEXT)?;
            let pipe = self.pipeline(CONTEXT, &Tok::RightDelim)?;
            let body = self.with_fresh_scope(|p| {
                let (list, end) = p.item_list()?;
                if !matches!(end, Item::End) {
                    return p.err(format!("unexpected {{{{else}}}} in {CONTEXT}"));
                }
                Ok(list)
            })?;
            self.add_definition(name.clone(), body)?;
            Ok(Node::Template { name, pipe: Some(pipe), pos })
        })();
        self.leave();
        r
    }

    fn pipeline(&mut self, context: &str, end: &Tok) -> PResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe { decl: Vec::new(), is_assign: false, cmds: Vec::new(), pos };
        // Declarations: `$x :=`, `$x =`, `$i, $v :=` (range only).
        loop {
            let v = self.peek_non_space();
            let Tok::Variable(name) = &v.tok else { break };
            let save = self.idx;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.tok {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.tok == Tok::Assign;
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    break;
                }
                Tok::Comma => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen => continue,
                            _ => return self.err("range can only initialize variables"),
                        }
                    }
                    return self.err(format!("too many declarations in {context}"));
                }
                _ => {
                    self.idx = save;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            if &t.tok == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match t.tok {
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.err(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first().map(|a| &a.kind),
                Some(ArgKind::Bool(_) | ArgKind::Dot | ArgKind::Nil | ArgKind::Number { .. } | ArgKind::Str { .. })
            ) {
                return self.err(format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { args: Vec::new(), pos };
        loop {
            self.peek_non_space();
            if let Some(a) = self.operand()? {
                cmd.args.push(a);
            }
            let t = self.next();
            match t.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else { return Ok(None) };
        if !matches!(self.peek().tok, Tok::Field(_)) {
            return Ok(Some(node));
        }
        let mut fields = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            fields.push(f.clone());
            self.next();
        }
        let pos = node.pos;
        Ok(Some(match node.kind {
            ArgKind::Field(mut idents) => {
                idents.extend(fields);
                Arg { kind: ArgKind::Field(idents), pos }
            }
            ArgKind::Variable(mut idents) => {
                idents.extend(fields);
                Arg { kind: ArgKind::Variable(idents), pos }
            }
            ArgKind::Bool(_) | ArgKind::Str { .. } | ArgKind::Number { .. } | ArgKind::Nil | ArgKind::Dot => {
                return self.err(format!("unexpected . after term {}", super::fmt::go_quote(&node.to_string(), false)));
            }
            _ => Arg { kind: ArgKind::Chain(Box::new(node), fields), pos },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.pos;
        let kind = match t.tok {
            Tok::Ident(name) => {
                if !FUNCTIONS.contains(&name.as_str()) {
                    return self.err(format!("function {} not defined", super::fmt::go_quote(&name, false)));
                }
                ArgKind::Identifier(name)
            }
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.err(format!("undefined variable {}", super::fmt::go_quote(&name, false)));
                }
                ArgKind::Variable(vec![name])
            }
            Tok::Field(f) => ArgKind::Field(vec![f]),
            Tok::Bool(b) => ArgKind::Bool(b),
            Tok::Number(text) | Tok::CharConst(text) => {
                let value = parse_number(&text).or_else(|e| self.err(e))?;
                ArgKind::Number { text, value }
            }
            Tok::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", &Tok::RightParen);
                self.leave();
                ArgKind::Pipe(Box::new(p?))
            }
            Tok::Str(quoted) | Tok::RawStr(quoted) => {
                let value = unquote(&quoted).or_else(|e| self.err(e))?;
                ArgKind::Str { quoted, value }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(Arg { kind, pos }))
    }
}

/// A number literal as Go's template evaluates it into an `interface{}`: `int` unless it is
/// written as a float (`.`, `e`), characters are their code point.
fn parse_number(text: &str) -> Result<Number, String> {
    let illegal = || format!("illegal number syntax: {}", super::fmt::go_quote(text, false));
    if text.starts_with('\'') {
        let s = unquote(text)?;
        let c = s.chars().next().ok_or_else(illegal)?;
        return Ok(Number::Int(c as i64));
    }
    if text.ends_with('i') {
        return Err(format!("complex number {} is not supported", super::fmt::go_quote(text, false)));
    }
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else {
        (10, lower.as_str())
    };
    if digits.starts_with('_') && radix == 10 || digits.ends_with('_') || digits.contains("__") {
        return Err(illegal());
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return Err(illegal());
    }
    if radix == 16 && (clean.contains('.') || clean.contains('p')) {
        return Err(format!("hexadecimal float {} is not supported", super::fmt::go_quote(text, false)));
    }
    if radix == 10 && (clean.contains('.') || clean.contains('e')) {
        let f: f64 = clean.parse().map_err(|_| illegal())?;
        return Ok(Number::Float(if neg { -f } else { f }));
    }
    // Go's base-0 integers: a leading 0 means octal.
    let (radix, clean) = if radix == 10 && clean.len() > 1 && clean.starts_with('0') {
        (8, clean[1..].to_string())
    } else {
        (radix, clean)
    };
    let mag = u64::from_str_radix(&clean, radix).map_err(|_| {
        if clean.chars().all(|c| c.is_digit(radix)) {
            format!("{text} overflows int")
        } else {
            illegal()
        }
    })?;
    let v = if neg {
        if mag > i64::MAX as u64 + 1 {
            return Err(format!("{text} overflows int"));
        }
        (mag as i128).wrapping_neg() as i64
    } else {
        i64::try_from(mag).map_err(|_| format!("{text} overflows int"))?
    };
    Ok(Number::Int(v))
}
