//! The data a template runs on: a small model of the Go values `text/template` sees.
//!
//! Go's templates run on reflected Go values, whose behaviour depends on their static type: a map
//! ranges in sorted key order and yields a zero value for a missing key, a struct errors on an
//! unknown field, a type with a `String()` method prints through it, `json.Marshal` follows struct
//! tags. [`Value`] keeps just enough of that to render the way Go does: plain JSON data converts to
//! Go's `map[string]interface{}` / `[]interface{}` shapes, and the Ollama layer builds struct
//! values with field names, JSON tags and `String()` behaviour of Ollama's own template types.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::rc::Rc;

/// A value as a Go template sees it.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// A nil interface (also what a missing map key yields): prints `<no value>` from an action,
    /// `<nil>` through `print`/`printf`, JSON `null`; false.
    #[default]
    Nil,
    Bool(bool),
    /// Go `int`.
    Int(i64),
    /// Go `float64`.
    Float(f64),
    Str(Rc<str>),
    /// A slice.
    List(Rc<List>),
    /// A map with string keys. `entries` are in iteration order (sorted for a Go map).
    Map(Rc<Map>),
    /// A struct (or pointer to one): named fields in declaration order.
    Struct(Rc<Struct>),
}

/// How a composite value prints (`{{ . }}`, `%v`, `%s`): Go's default formatting, or a `String()`
/// method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// Go's `fmt` default: `[a b]`, `map[k:v]`, `{f1 f2}`.
    Go,
    /// `String()` returns the value's JSON encoding (Ollama's `templateTools`, `templateTool`,
    /// `ToolFunction`…).
    Json,
    /// Like `Json`, but a nil value prints `{}` (Ollama's `templateArgs`, `templateProperties`).
    JsonOrEmptyObject,
    /// Ollama's `api.PropertyType` (`[]string`): one element prints bare, several as `[a b]`.
    PropertyType,
}

/// Type information shared by the composite kinds.
#[derive(Clone, Debug)]
pub struct Meta {
    /// Go type name, used in error messages and `%T`.
    pub type_name: Cow<'static, str>,
    /// A nil slice/map: JSON `null` (still empty, still false).
    pub nil: bool,
    pub display: Display,
    /// `api.PropertyType` marshals a single element as a bare string.
    pub json_property_type: bool,
}

impl Meta {
    pub fn new(type_name: impl Into<Cow<'static, str>>) -> Meta {
        Meta { type_name: type_name.into(), nil: false, display: Display::Go, json_property_type: false }
    }
    pub fn display(mut self, d: Display) -> Meta {
        self.display = d;
        self
    }
    pub fn nil(mut self, nil: bool) -> Meta {
        self.nil = nil;
        self
    }
}

#[derive(Clone, Debug)]
pub struct List {
    pub items: Vec<Value>,
    pub meta: Meta,
}

#[derive(Clone, Debug)]
pub struct Map {
    pub entries: Vec<(String, Value)>,
    pub meta: Meta,
}

/// When `json.Marshal` leaves a field out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Omit {
    Never,
    /// `omitempty` on an interface or pointer field: only when nil.
    IfNil,
    /// `omitempty` on a string/number/bool/slice/map field: when empty or zero.
    IfEmpty,
    /// `json:"-"`.
    Always,
}

#[derive(Clone, Debug)]
pub struct Field {
    /// Go field name (what `.Name` selects).
    pub name: Cow<'static, str>,
    /// JSON key (`None`: the Go name).
    pub json: Option<Cow<'static, str>>,
    pub omit: Omit,
    pub value: Value,
}

impl Field {
    pub fn new(name: &'static str, value: Value) -> Field {
        Field { name: Cow::Borrowed(name), json: None, omit: Omit::Never, value }
    }
    pub fn json(name: &'static str, json: &'static str, omit: Omit, value: Value) -> Field {
        Field { name: Cow::Borrowed(name), json: Some(Cow::Borrowed(json)), omit, value }
    }
}

#[derive(Clone, Debug)]
pub struct Struct {
    pub fields: Vec<Field>,
    pub meta: Meta,
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Rc::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Rc::from(s))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<&serde_json::Value> for Value {
    /// JSON objects become `map[string]interface {}` (sorted keys), arrays `[]interface {}`,
    /// integers `int`, other numbers `float64`.
    fn from(v: &serde_json::Value) -> Self {
        Value::from_json(v, false)
    }
}

impl Value {
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Str(Rc::from(s.as_ref()))
    }

    pub fn list(items: Vec<Value>, meta: Meta) -> Value {
        Value::List(Rc::new(List { items, meta }))
    }

    /// A map; `sort` orders the entries by key as Go's map iteration does.
    pub fn map(mut entries: Vec<(String, Value)>, meta: Meta, sort: bool) -> Value {
        if sort {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Value::Map(Rc::new(Map { entries, meta }))
    }

    pub fn structure(fields: Vec<Field>, meta: Meta) -> Value {
        Value::Struct(Rc::new(Struct { fields, meta }))
    }

    /// Converts JSON data. `all_float`: numbers become `float64` as Go's `encoding/json` decodes
    /// them into `interface{}`; otherwise integers stay `int`.
    pub fn from_json(v: &serde_json::Value, all_float: bool) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if !all_float {
                    if let Some(i) = n.as_i64() {
                        return Value::Int(i);
                    }
                }
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => {
                Value::list(a.iter().map(|x| Value::from_json(x, all_float)).collect(), Meta::new("[]interface {}"))
            }
            serde_json::Value::Object(o) => Value::map(
                o.iter().map(|(k, x)| (k.clone(), Value::from_json(x, all_float))).collect(),
                Meta::new("map[string]interface {}"),
                true,
            ),
        }
    }

    /// Go type name (for `%T` and error messages).
    pub fn type_name(&self) -> Cow<'static, str> {
        match self {
            Value::Nil => Cow::Borrowed("<nil>"),
            Value::Bool(_) => Cow::Borrowed("bool"),
            Value::Int(_) => Cow::Borrowed("int"),
            Value::Float(_) => Cow::Borrowed("float64"),
            Value::Str(_) => Cow::Borrowed("string"),
            Value::List(l) => l.meta.type_name.clone(),
            Value::Map(m) => m.meta.type_name.clone(),
            Value::Struct(s) => s.meta.type_name.clone(),
        }
    }

    /// Go's template truth: false, 0, nil, and empty strings, slices and maps are false; structs
    /// are always true.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.items.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
            Value::Struct(_) => true,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A struct field or map entry by name.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Value::Struct(s) => s.fields.iter().find(|f| f.name == key).map(|f| &f.value),
            _ => None,
        }
    }

    fn display_mode(&self) -> Display {
        match self {
            Value::List(l) => l.meta.display,
            Value::Map(m) => m.meta.display,
            Value::Struct(s) => s.meta.display,
            _ => Display::Go,
        }
    }

    /// The result of the value's `String()` method, if its type has one.
    pub fn stringer(&self) -> Option<String> {
        match self.display_mode() {
            Display::Go => None,
            Display::Json => Some(to_json(self).unwrap_or_default()),
            Display::JsonOrEmptyObject => {
                let nil = matches!(self, Value::Map(m) if m.meta.nil);
                if nil {
                    Some("{}".to_string())
                } else {
                    Some(to_json(self).unwrap_or_default())
                }
            }
            Display::PropertyType => match self {
                Value::List(l) if l.items.is_empty() => Some(String::new()),
                Value::List(l) if l.items.len() == 1 => Some(format_v(&l.items[0])),
                Value::List(l) => {
                    let mut s = String::from("[");
                    for (i, it) in l.items.iter().enumerate() {
                        if i > 0 {
                            s.push(' ');
                        }
                        s.push_str(&format_v(it));
                    }
                    s.push(']');
                    Some(s)
                }
                _ => None,
            },
        }
    }
}

/// Go `%v` formatting (`fmt.Sprint` of one operand): `<nil>` for nil.
pub fn format_v(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v, false, 0);
    s
}

/// Go `%+v`: struct fields are named.
pub fn format_plus_v(v: &Value) -> String {
    let mut s = String::new();
    write_v(&mut s, v, true, 0);
    s
}

const MAX_FORMAT_DEPTH: usize = 200;

pub(crate) fn write_v(out: &mut String, v: &Value, plus: bool, depth: usize) {
    if depth > MAX_FORMAT_DEPTH {
        out.push_str("<...>");
        return;
    }
    if let Some(s) = v.stringer() {
        out.push_str(&s);
        return;
    }
    match v {
        Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float_g(*f, None, false)),
        Value::Str(s) => out.push_str(s),
        Value::List(l) => {
            out.push('[');
            for (i, it) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, it, plus, depth + 1);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, it)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, it, plus, depth + 1);
            }
            out.push(']');
        }
        Value::Struct(s) => {
            out.push('{');
            for (i, f) in s.fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if plus {
                    out.push_str(&f.name);
                    out.push(':');
                }
                write_v(out, &f.value, plus, depth + 1);
            }
            out.push('}');
        }
    }
}

/// Splits a finite, non-zero `f` into its shortest round-trip decimal digits and the decimal
/// exponent `e` such that `f = 0.d1d2d3… × 10^e` ("dp" in Go's strconv).
fn shortest_digits(f: f64, prec: Option<usize>) -> (String, i32) {
    // Rust's `{:e}` prints the shortest round-trip mantissa (or `prec` digits after the point).
    let s = match prec {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p, f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp + 1)
}

fn exp_suffix(out: &mut String, exp: i32, upper: bool, min_digits: usize) {
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs().to_string();
    for _ in a.len()..min_digits {
        out.push('0');
    }
    out.push_str(&a);
}

fn special_float(f: f64, plus_inf: bool) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(
            if f > 0.0 {
                if plus_inf {
                    "+Inf"
                } else {
                    "Inf"
                }
            } else {
                "-Inf"
            }
            .into(),
        )
    } else {
        None
    }
}

/// Go's `strconv.FormatFloat(f, 'g', prec, 64)` (prec `None` = shortest) as `%v`/`%g` print it;
/// `sharp` keeps trailing zeros (`%#g`).
pub fn format_float_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    if let Some(s) = special_float(f, true) {
        return s;
    }
    let neg = f.is_sign_negative();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if f == 0.0 {
        out.push('0');
        return out;
    }
    let (mut digits, dp) = match prec {
        None => shortest_digits(f, None),
        Some(p) => shortest_digits(f, Some(p.max(1) - 1)),
    };
    // %g drops trailing zeros (unless '#').
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let eprec: i32 = match prec {
        None => 6,
        Some(p) => {
            let p = p.max(1) as i32;
            if p > digits.len() as i32 && digits.len() as i32 >= dp {
                digits.len() as i32
            } else {
                p
            }
        }
    };
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        exp_suffix(&mut out, exp, upper, 2);
    } else {
        push_fixed(&mut out, &digits, dp);
    }
    out
}

/// Writes digits with the decimal point `dp` places from the left (no trailing zero padding past
/// the digits).
fn push_fixed(out: &mut String, digits: &str, dp: i32) {
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(digits);
    } else if dp as usize >= digits.len() {
        out.push_str(digits);
        for _ in digits.len()..dp as usize {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
}

/// `%e` with a precision (default 6).
pub fn format_float_e(f: f64, prec: usize, upper: bool) -> String {
    if let Some(s) = special_float(f, true) {
        return s;
    }
    let s = format!("{:.*e}", prec, f);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut out = mant.to_string();
    exp_suffix(&mut out, exp, upper, 2);
    out
}

/// `%f` with a precision (default 6).
pub fn format_float_f(f: f64, prec: usize) -> String {
    if let Some(s) = special_float(f, true) {
        return s;
    }
    format!("{:.*}", prec, f)
}

/// Go's `encoding/json` float encoding.
fn json_float(out: &mut String, f: f64) -> Result<(), String> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {}", format_float_g(f, None, false)));
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        if f.is_sign_negative() {
            out.push('-');
        }
        let (digits, dp) = shortest_digits(f, None);
        let digits = digits.trim_end_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        exp_suffix(out, dp - 1, false, 1);
    } else {
        // Rust's Display is the shortest round-trip representation without an exponent.
        let _ = write!(out, "{f}");
    }
    Ok(())
}

/// Go's `encoding/json` string encoding (HTML-safe: `<`, `>`, `&`, U+2028, U+2029 escaped).
pub fn json_quote(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `json.Marshal` of the value, as Go would encode the Go value it models.
pub fn to_json(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_json(&mut out, v, 0)?;
    Ok(out)
}

fn omitted(f: &Field) -> bool {
    match f.omit {
        Omit::Never => false,
        Omit::Always => true,
        Omit::IfNil => matches!(f.value, Value::Nil),
        Omit::IfEmpty => match &f.value {
            Value::Nil => true,
            Value::Bool(b) => !b,
            Value::Int(i) => *i == 0,
            Value::Float(x) => *x == 0.0,
            Value::Str(s) => s.is_empty(),
            Value::List(l) => l.items.is_empty(),
            Value::Map(m) => m.entries.is_empty(),
            Value::Struct(_) => false,
        },
    }
}

fn write_json(out: &mut String, v: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_FORMAT_DEPTH {
        return Err("json: value nested too deeply".into());
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => json_float(out, *f)?,
        Value::Str(s) => json_quote(out, s),
        Value::List(l) => {
            if l.meta.nil {
                out.push_str("null");
            } else if l.meta.json_property_type && l.items.len() == 1 {
                write_json(out, &l.items[0], depth + 1)?;
            } else {
                out.push('[');
                for (i, it) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json(out, it, depth + 1)?;
                }
                out.push(']');
            }
        }
        Value::Map(m) => {
            if m.meta.nil {
                out.push_str("null");
            } else {
                out.push('{');
                for (i, (k, it)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_quote(out, k);
                    out.push(':');
                    write_json(out, it, depth + 1)?;
                }
                out.push('}');
            }
        }
        Value::Struct(s) => {
            out.push('{');
            let mut first = true;
            for f in &s.fields {
                if omitted(f) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                json_quote(out, f.json.as_deref().unwrap_or(&f.name));
                out.push(':');
                write_json(out, &f.value, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}
