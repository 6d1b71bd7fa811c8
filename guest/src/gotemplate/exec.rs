//! Execution: Go `text/template/exec.go`'s semantics over [`Value`] data, with the builtin
//! functions and Ollama's additions.

use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::fmt::{go_quote, html_escape, js_escape, sprint, sprintf, sprintln, url_query_escape};
use super::parse::{Arg, ArgKind, Branch, Command, Node, Number, Pipe};
use super::value::{format_v, to_json, write_v, List, Meta, Value};
use super::Template;
use crate::template::dates::civil_from_days;

/// Knobs for one execution.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// The time `currentDate` / `yesterdayDate` see, in seconds since the Unix epoch (default:
    /// the system clock).
    pub now_unix_secs: Option<i64>,
    /// The local zone's offset from UTC in seconds (Go formats the server's local date; the
    /// guest has no zone database, so the default is UTC).
    pub utc_offset_secs: i64,
    /// Output beyond this many bytes is an error (a guard against runaway loops).
    pub max_output_bytes: usize,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions { now_unix_secs: None, utc_offset_secs: 0, max_output_bytes: 64 << 20 }
    }
}

/// How deeply `{{ template }}` calls and the `if`/`with`/`range` blocks they run may nest,
/// together (a guard for the call stack; Go allows 100000 template calls).
const MAX_EXEC_DEPTH: usize = 150;

enum Flow {
    Normal,
    Break,
    Continue,
}

type EResult<T> = Result<T, String>;

pub(crate) struct State<'t> {
    tmpl: &'t Template,
    name: &'t str,
    out: String,
    vars: Vec<(&'t str, Value)>,
    depth: usize,
    opts: &'t ExecOptions,
}

/// The kind of a builtin's parameter, which decides how an argument is checked.
#[derive(Clone, Copy, PartialEq)]
enum Param {
    /// `reflect.Value`: anything but the literal `nil`.
    Value,
    /// `any`: anything.
    Any,
    /// `string`.
    Str,
}

pub(crate) fn execute(tmpl: &Template, root: &[Node], data: &Value, opts: &ExecOptions) -> Result<String, String> {
    let mut s = State { tmpl, name: tmpl.name(), out: String::new(), vars: vec![("$", data.clone())], depth: 0, opts };
    s.walk_list(data, root)?;
    Ok(s.out)
}

impl<'t> State<'t> {
    fn location(&self, pos: usize) -> (usize, usize) {
        let src = self.tmpl.source();
        let pos = pos.min(src.len());
        let before = &src.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = match before.iter().rposition(|&b| b == b'\n') {
            Some(i) => pos - i - 1,
            None => pos,
        };
        (line, col)
    }

    /// Go's execution error format: `template: NAME:LINE:COL: executing "NAME" at <NODE>: MSG`.
    fn error_at(&self, pos: usize, context: &str, msg: impl std::fmt::Display) -> String {
        let (line, col) = self.location(pos);
        let context: String = if context.chars().count() > 20 {
            format!("{}...", context.chars().take(20).collect::<String>())
        } else {
            context.to_string()
        };
        format!(
            "template: {}:{}:{}: executing {} at <{}>: {}",
            self.tmpl.name(),
            line,
            col,
            go_quote(self.name, false),
            context,
            msg
        )
    }

    fn write(&mut self, s: &str, pos: usize) -> EResult<()> {
        if self.out.len() + s.len() > self.opts.max_output_bytes {
            return Err(self.error_at(pos, "", format!("output exceeds {} bytes", self.opts.max_output_bytes)));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'t [Node]) -> EResult<Flow> {
        for n in list {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> EResult<Flow> {
        match node {
            Node::Text { text, pos } => self.write(text, *pos)?,
            Node::Action { pipe, pos } => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let mut s = String::new();
                    match &v {
                        Value::Nil => s.push_str("<no value>"),
                        v => write_v(&mut s, v, false, 0),
                    }
                    self.write(&s, *pos)?;
                }
            }
            Node::If(b) => return self.walk_if_or_with(dot, b, false),
            Node::With(b) => return self.walk_if_or_with(dot, b, true),
            Node::Range(b) => return self.walk_range(dot, b),
            Node::Template { name, pipe, pos } => {
                let Some(body) = self.tmpl.lookup(name) else {
                    return Err(self.error_at(
                        *pos,
                        &format!("{{{{template {}}}}}", go_quote(name, false)),
                        format!("no such template {}", go_quote(name, false)),
                    ));
                };
                let v = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                self.enter(*pos)?;
                let saved_vars = std::mem::replace(&mut self.vars, vec![("$", v.clone())]);
                let saved_name = std::mem::replace(&mut self.name, name.as_str());
                let r = self.walk_list(&v, body);
                self.vars = saved_vars;
                self.name = saved_name;
                self.depth -= 1;
                r?;
            }
            Node::Break { .. } => return Ok(Flow::Break),
            Node::Continue { .. } => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn enter(&mut self, pos: usize) -> EResult<()> {
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(self.error_at(pos, "", format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})")));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_if_or_with(&mut self, dot: &Value, b: &'t Branch, with: bool) -> EResult<Flow> {
        self.enter(b.pos)?;
        let r = self.walk_if_or_with_inner(dot, b, with);
        self.depth -= 1;
        r
    }

    fn walk_if_or_with_inner(&mut self, dot: &Value, b: &'t Branch, with: bool) -> EResult<Flow> {
        let mark = self.vars.len();
        let r = (|| {
            let v = self.eval_pipeline(dot, &b.pipe)?;
            if v.truth() {
                if with {
                    self.walk_list(&v, &b.list)
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(Flow::Normal)
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Value, b: &'t Branch) -> EResult<Flow> {
        self.enter(b.pos)?;
        let outer = self.vars.len();
        let r = self.walk_range_inner(dot, b);
        self.vars.truncate(outer);
        self.depth -= 1;
        r.map(|_| Flow::Normal)
    }

    fn range_iteration(&mut self, b: &'t Branch, mark: usize, index: Value, elem: Value) -> EResult<Flow> {
        let decl = &b.pipe.decl;
        if !decl.is_empty() {
            if b.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0], index.clone(), b.pipe.pos)?;
                    self.set_var(&decl[1], elem.clone(), b.pipe.pos)?;
                } else {
                    self.set_var(&decl[0], elem.clone(), b.pipe.pos)?;
                }
            } else {
                let n = self.vars.len();
                if decl.len() > 1 {
                    self.vars[n - 1].1 = elem.clone();
                    self.vars[n - 2].1 = index;
                } else {
                    self.vars[n - 1].1 = elem.clone();
                }
            }
        }
        let r = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        r
    }

    fn walk_range_inner(&mut self, dot: &Value, b: &'t Branch) -> EResult<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let mut ran = false;
        match &val {
            Value::List(l) => {
                for (i, it) in l.items.iter().enumerate() {
                    ran = true;
                    if let Flow::Break = self.range_iteration(b, mark, Value::Int(i as i64), it.clone())? {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                for (k, it) in m.entries.iter() {
                    ran = true;
                    if let Flow::Break = self.range_iteration(b, mark, Value::str(k), it.clone())? {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.error_at(
                        b.pipe.pos,
                        &b.pipe.to_string(),
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                for i in 0..(*n).max(0) {
                    ran = true;
                    if let Flow::Break = self.range_iteration(b, mark, Value::Int(i), Value::Int(i))? {
                        break;
                    }
                }
            }
            Value::Nil => {}
            other => {
                return Err(self.error_at(
                    b.pipe.pos,
                    &b.pipe.to_string(),
                    format!("range can't iterate over {}", format_v(other)),
                ));
            }
        }
        if !ran {
            if let Some(e) = &b.else_list {
                self.walk_list(dot, e)?;
            }
        }
        Ok(())
    }

    fn push_var(&mut self, name: &'t str, v: Value) {
        self.vars.push((name, v));
    }

    fn set_var(&mut self, name: &str, v: Value, pos: usize) -> EResult<()> {
        for slot in self.vars.iter_mut().rev() {
            if slot.0 == name {
                slot.1 = v;
                return Ok(());
            }
        }
        Err(self.error_at(pos, name, format!("undefined variable: {name}")))
    }

    fn var_value(&self, name: &str, pos: usize) -> EResult<Value> {
        for slot in self.vars.iter().rev() {
            if slot.0 == name {
                return Ok(slot.1.clone());
            }
        }
        Err(self.error_at(pos, name, format!("undefined variable: {name}")))
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> EResult<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value.take())?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), pipe.pos)?;
            } else {
                self.push_var(name, value.clone());
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, cmd: &Command, final_: &Option<Value>) -> EResult<()> {
        if cmd.args.len() > 1 || final_.is_some() {
            let first = &cmd.args[0];
            return Err(self.error_at(
                first.pos,
                &first.to_string(),
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t Command, final_: Option<Value>) -> EResult<Value> {
        let first = &cmd.args[0];
        match &first.kind {
            ArgKind::Field(idents) => self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, final_),
            ArgKind::Chain(node, fields) => {
                let recv = self.eval_chain_receiver(dot, node)?;
                self.eval_field_chain(dot, recv, first, fields, &cmd.args, final_)
            }
            ArgKind::Identifier(name) => {
                self.eval_function(dot, name, cmd.pos, &cmd.to_string(), &cmd.args[1..], final_)
            }
            ArgKind::Pipe(p) => {
                self.not_a_function(cmd, &final_)?;
                self.eval_pipeline(dot, p)
            }
            ArgKind::Variable(idents) => self.eval_variable(dot, first, idents, &cmd.args, final_),
            _ => {
                self.not_a_function(cmd, &final_)?;
                match &first.kind {
                    ArgKind::Nil => Err(self.error_at(first.pos, "nil", "nil is not a command")),
                    _ => self.eval_literal(dot, first),
                }
            }
        }
    }

    fn eval_literal(&self, dot: &Value, arg: &Arg) -> EResult<Value> {
        Ok(match &arg.kind {
            ArgKind::Bool(b) => Value::Bool(*b),
            ArgKind::Dot => dot.clone(),
            ArgKind::Nil => Value::Nil,
            ArgKind::Number { value: Number::Int(i), .. } => Value::Int(*i),
            ArgKind::Number { value: Number::Float(f), .. } => Value::Float(*f),
            ArgKind::Str { value, .. } => Value::str(value),
            _ => {
                return Err(self.error_at(
                    arg.pos,
                    &arg.to_string(),
                    format!("can't evaluate command {}", go_quote(&arg.to_string(), false)),
                ))
            }
        })
    }

    fn eval_chain_receiver(&mut self, dot: &Value, node: &'t Arg) -> EResult<Value> {
        if let ArgKind::Nil = node.kind {
            return Err(self.error_at(
                node.pos,
                &node.to_string(),
                format!("indirection through explicit nil in {node}"),
            ));
        }
        self.eval_arg(dot, node)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        arg: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        let v = self.var_value(&idents[0], arg.pos)?;
        if idents.len() == 1 {
            if args.len() > 1 || final_.is_some() {
                return Err(self.error_at(
                    arg.pos,
                    &arg.to_string(),
                    format!("can't give argument to non-function {arg}"),
                ));
            }
            return Ok(v);
        }
        self.eval_field_chain(dot, v, arg, &idents[1..], args, final_)
    }

    /// `.A.B.C` on `receiver`. `args` is the whole command (its first element is the field
    /// itself); fields cannot take arguments since the data has no methods.
    fn eval_field_chain(
        &mut self,
        _dot: &Value,
        receiver: Value,
        node: &Arg,
        idents: &[String],
        args: &[Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        // Go distinguishes an invalid value (nil data, a nil variable: field access yields
        // nothing) from a nil interface found in a map or struct (field access is an error).
        let mut invalid = matches!(receiver, Value::Nil);
        let mut recv = receiver;
        for (i, name) in idents.iter().enumerate() {
            let last = i + 1 == idents.len();
            let has_args = last && (args.len() > 1 || final_.is_some());
            if invalid {
                recv = Value::Nil;
                continue;
            }
            recv = match &recv {
                Value::Nil => {
                    return Err(self.error_at(
                        node.pos,
                        &node.to_string(),
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                Value::Map(m) => {
                    if has_args {
                        return Err(self.error_at(
                            node.pos,
                            &node.to_string(),
                            format!("{name} is not a method but has arguments"),
                        ));
                    }
                    m.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or(Value::Nil)
                }
                Value::Struct(s) => match s.fields.iter().find(|f| f.name == name.as_str()) {
                    Some(f) => {
                        if has_args {
                            return Err(self.error_at(
                                node.pos,
                                &node.to_string(),
                                format!("{name} has arguments but cannot be invoked as function"),
                            ));
                        }
                        f.value.clone()
                    }
                    None => {
                        return Err(self.error_at(
                            node.pos,
                            &node.to_string(),
                            format!("can't evaluate field {name} in type {}", s.meta.type_name),
                        ));
                    }
                },
                other => {
                    return Err(self.error_at(
                        node.pos,
                        &node.to_string(),
                        format!("can't evaluate field {name} in type {}", other.type_name()),
                    ));
                }
            };
            invalid = false;
        }
        Ok(recv)
    }

    /// Evaluates an argument as Go does for an `interface{}` parameter.
    fn eval_arg(&mut self, dot: &Value, arg: &'t Arg) -> EResult<Value> {
        match &arg.kind {
            ArgKind::Field(idents) => {
                self.eval_field_chain(dot, dot.clone(), arg, idents, std::slice::from_ref(arg), None)
            }
            ArgKind::Variable(idents) => self.eval_variable(dot, arg, idents, std::slice::from_ref(arg), None),
            ArgKind::Pipe(p) => self.eval_pipeline(dot, p),
            ArgKind::Identifier(name) => self.eval_function(dot, name, arg.pos, name, &[], None),
            ArgKind::Chain(node, fields) => {
                let recv = self.eval_chain_receiver(dot, node)?;
                self.eval_field_chain(dot, recv, arg, fields, std::slice::from_ref(arg), None)
            }
            _ => self.eval_literal(dot, arg),
        }
    }

    fn eval_typed_arg(&mut self, dot: &Value, arg: &'t Arg, param: Param) -> EResult<Value> {
        if let ArgKind::Nil = arg.kind {
            return match param {
                Param::Any => Ok(Value::Nil),
                Param::Value => Err(self.error_at(arg.pos, "nil", "cannot assign nil to reflect.Value")),
                Param::Str => Err(self.error_at(arg.pos, "nil", "cannot assign nil to string")),
            };
        }
        let v = self.eval_arg(dot, arg)?;
        self.check_param(v, param, arg.pos, &arg.to_string())
    }

    fn check_param(&self, v: Value, param: Param, pos: usize, ctx: &str) -> EResult<Value> {
        if param == Param::Str {
            match &v {
                Value::Str(_) => {}
                Value::Nil => return Err(self.error_at(pos, ctx, "invalid value; expected string")),
                other => {
                    return Err(self.error_at(
                        pos,
                        ctx,
                        format!("wrong type for value; expected string; got {}", other.type_name()),
                    ))
                }
            }
        }
        Ok(v)
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        pos: usize,
        ctx: &str,
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> EResult<Value> {
        let n_in = args.len() + usize::from(final_.is_some());
        // (fixed parameters, variadic?)
        let (fixed, variadic): (usize, bool) = match name {
            "and" | "or" | "index" | "slice" | "eq" | "call" | "printf" => (1, true),
            "not" | "len" | "json" | "toTypeScriptType" => (1, false),
            "ne" | "lt" | "le" | "gt" | "ge" => (2, false),
            _ => (0, true),
        };
        if variadic && n_in < fixed {
            return Err(self.error_at(
                pos,
                ctx,
                format!("wrong number of args for {name}: want at least {fixed} got {}", args.len()),
            ));
        }
        if !variadic && n_in != fixed {
            return Err(self.error_at(pos, ctx, format!("wrong number of args for {name}: want {fixed} got {n_in}")));
        }
        if name == "and" || name == "or" {
            let is_or = name == "or";
            let mut v = Value::Nil;
            for a in args {
                v = self.eval_typed_arg(dot, a, Param::Value)?;
                if v.truth() == is_or {
                    return Ok(v);
                }
            }
            if let Some(f) = final_ {
                v = f;
            }
            return Ok(v);
        }
        let param_of = |i: usize| -> Param {
            match name {
                "printf" if i == 0 => Param::Str,
                "print" | "printf" | "println" | "html" | "js" | "urlquery" | "json" | "toTypeScriptType" => Param::Any,
                "currentDate" | "yesterdayDate" => Param::Str,
                _ => Param::Value,
            }
        };
        let mut vals = Vec::with_capacity(n_in);
        for (i, a) in args.iter().enumerate() {
            vals.push(self.eval_typed_arg(dot, a, param_of(i))?);
        }
        if let Some(f) = final_ {
            let f = self.check_param(f, param_of(vals.len()), pos, ctx)?;
            vals.push(f);
        }
        self.call_builtin(name, &vals).map_err(|e| self.error_at(pos, ctx, format!("error calling {name}: {e}")))
    }

    fn call_builtin(&self, name: &str, a: &[Value]) -> Result<Value, String> {
        Ok(match name {
            "not" => Value::Bool(!a[0].truth()),
            "len" => Value::Int(length(&a[0])? as i64),
            "index" => index(&a[0], &a[1..])?,
            "slice" => slice(&a[0], &a[1..])?,
            "eq" => Value::Bool(eq(&a[0], &a[1..])?),
            "ne" => Value::Bool(!eq(&a[0], &a[1..])?),
            "lt" => Value::Bool(lt(&a[0], &a[1])?),
            "le" => Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?),
            "gt" => Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1..])?)),
            "ge" => Value::Bool(!lt(&a[0], &a[1])?),
            "call" => {
                return Err(match &a[0] {
                    Value::Nil => "call of nil".to_string(),
                    other => format!("non-function of type {}", other.type_name()),
                })
            }
            "print" => Value::from(sprint(a)),
            "println" => Value::from(sprintln(a)),
            "printf" => Value::from(sprintf(a[0].as_str().unwrap_or(""), &a[1..])),
            "html" => Value::from(html_escape(&escaper_args(a))),
            "js" => Value::from(js_escape(&escaper_args(a))),
            "urlquery" => Value::from(url_query_escape(&escaper_args(a))),
            "json" => Value::from(to_json(&a[0]).unwrap_or_default()),
            "currentDate" => Value::from(self.date(0)),
            "yesterdayDate" => Value::from(self.date(-1)),
            "toTypeScriptType" => Value::from(to_typescript_type(&a[0])),
            _ => return Err(format!("function {} not defined", go_quote(name, false))),
        })
    }

    /// Today's (or another day's) date as "2006-01-02".
    fn date(&self, day_offset: i64) -> String {
        let now = self
            .opts
            .now_unix_secs
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0));
        let local = now.saturating_add(self.opts.utc_offset_secs);
        let days = local.div_euclid(86_400).saturating_add(day_offset);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// The text the escaping functions work on: a lone string argument as is, otherwise `fmt.Sprint`
/// of the arguments, nil ones shown as `<no value>`.
fn escaper_args(a: &[Value]) -> String {
    if let [Value::Str(s)] = a {
        return s.to_string();
    }
    let conv: Vec<Value> =
        a.iter().map(|v| if let Value::Nil = v { Value::from("<no value>") } else { v.clone() }).collect();
    sprint(&conv)
}

fn length(v: &Value) -> Result<usize, String> {
    Ok(match v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.items.len(),
        Value::Map(m) => m.entries.len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    })
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => return Err(format!("cannot index slice/array with type {}", other.type_name())),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if let Value::Nil = item {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for ix in indexes {
        item = match &item {
            Value::Nil => return Err("index of nil pointer".into()),
            Value::List(l) => {
                let x = index_arg(ix, l.items.len())?;
                l.items.get(x).cloned().ok_or_else(|| format!("index out of range: {x}"))?
            }
            Value::Str(s) => {
                let x = index_arg(ix, s.len())?;
                Value::Int(*s.as_bytes().get(x).ok_or_else(|| format!("index out of range: {x}"))? as i64)
            }
            Value::Map(m) => {
                let key = match ix {
                    Value::Str(k) => k,
                    Value::Nil => return Err("value is nil; should be of type string".into()),
                    other => return Err(format!("value has type {}; should be string", other.type_name())),
                };
                m.entries.iter().find(|(k, _)| k.as_str() == &**key).map(|(_, v)| v.clone()).unwrap_or(Value::Nil)
            }
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if let Value::Nil = item {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::Str(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.items.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0usize, len, len];
    for (i, ix) in indexes.iter().enumerate() {
        idx[i] = index_arg(ix, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::Str(s) => Value::from(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned()),
        Value::List(l) => {
            let meta = Meta { nil: false, ..l.meta.clone() };
            Value::List(Rc::new(List { items: l.items[idx[0]..idx[1]].to_vec(), meta }))
        }
        _ => unreachable_value(),
    })
}

fn unreachable_value() -> Value {
    Value::Nil
}

#[derive(PartialEq)]
enum Kind {
    Nil,
    Bool,
    Num,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Nil,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Float(_) => Kind::Num,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn num_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::Float(x), Value::Float(y)) => x == y,
        _ => false,
    }
}

/// `eq arg1 arg2…`: whether arg1 equals any of the others.
fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if k1 == Kind::Nil || k2 == Kind::Nil {
                false
            } else {
                return Err("incompatible types for comparison".into());
            }
        } else {
            match (a, b) {
                (Value::Nil, Value::Nil) => true,
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Struct(x), Value::Struct(y)) => Rc::ptr_eq(x, y),
                (Value::List(_), _) | (Value::Map(_), _) => {
                    return Err(format!("non-comparable type {}: {}", format_v(a), a.type_name()));
                }
                (_, Value::List(_)) | (_, Value::Map(_)) => {
                    return Err(format!("non-comparable type {}: {}", format_v(b), b.type_name()));
                }
                _ if k1 == Kind::Num => num_eq(a, b),
                _ => return Err("incompatible types for comparison".into()),
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if matches!(k1, Kind::Nil | Kind::Other) || matches!(k2, Kind::Nil | Kind::Other) {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Int(x), Value::Float(y)) => (*x as f64) < *y,
        (Value::Float(x), Value::Int(y)) => *x < (*y as f64),
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => return Err("invalid type for comparison".into()),
    })
}

/// Ollama's `toTypeScriptType`: the TypeScript type of an `api.ToolProperty`, else `any`.
fn to_typescript_type(v: &Value) -> String {
    let Value::Struct(s) = v else { return "any".into() };
    if s.meta.type_name != "api.ToolProperty" {
        return "any".into();
    }
    fn map_type(t: &str) -> &'static str {
        match t {
            "string" => "string",
            "number" | "integer" => "number",
            "boolean" => "boolean",
            "array" => "any[]",
            "object" => "Record<string, any>",
            "null" => "null",
            _ => "any",
        }
    }
    if let Some(Value::List(any_of)) = v.get("AnyOf") {
        if !any_of.items.is_empty() {
            return any_of.items.iter().map(to_typescript_type).collect::<Vec<_>>().join(" | ");
        }
    }
    let types: Vec<&str> = match v.get("Type") {
        Some(Value::List(l)) => l.items.iter().filter_map(|t| t.as_str()).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return "any".into();
    }
    types.iter().map(|t| map_type(t)).collect::<Vec<_>>().join(" | ")
}
