//! Chat templates: a GGUF's `tokenizer.chat_template` (Jinja) rendered with minijinja the way
//! Hugging Face transformers' `apply_chat_template` (and llama.cpp's `--jinja` path) render it.
//!
//! What HF provides and what this module mirrors:
//!
//! - environment: `trim_blocks` and `lstrip_blocks` on, `keep_trailing_newline` off, loop controls;
//! - context: `messages`, `add_generation_prompt`, `bos_token`, `eos_token`, plus any extra
//!   variables (`tools`, `documents`, `enable_thinking`, …). Like llama.cpp (minja), `tools` is
//!   left undefined when there are none, so templates testing `tools is defined` work; HF passes
//!   `tools=None` instead, which a caller can reproduce with `"tools": null` in the extras;
//! - `raise_exception(msg)`: rendering fails with exactly `msg` as the error;
//! - `strftime_now(fmt)`: the current UTC time formatted C-style;
//! - `tojson`: Python's `json.dumps` output (`", "` / `": "` separators, no HTML escaping,
//!   `ensure_ascii=False`, keys in insertion order; `indent`, `ensure_ascii`, `sort_keys`,
//!   `separators` keyword arguments);
//! - Python string/dict/list methods (`.strip()`, `.startswith()`, `.split()`, `.items()`,
//!   `.get()` …) through minijinja-contrib's pycompat layer;
//! - `{{ }}` prints like Python: `None`, `True`/`False`, lists and dicts as their `repr`;
//! - HF's `{% generation %}…{% endgeneration %}` marker blocks are accepted and render their body;
//! - string literals unescape like Python's: a backslash-newline is a line continuation (Mistral's
//!   templates rely on it) and `\/` stays two characters.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Output, State, Value};

use crate::message::ChatMessage;

const TEMPLATE_NAME: &str = "chat_template";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

/// The error `raise_exception` attaches as the source, so that `render` can hand back the
/// template's own message unchanged.
#[derive(Debug)]
struct RaisedException(String);

impl std::fmt::Display for RaisedException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedException {}

impl ChatTemplate {
    /// Compiles `source`. `bos_token` / `eos_token` are the text of the model's BOS/EOS tokens
    /// (available to the template as `bos_token` / `eos_token`).
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(python_formatter);
        env.add_filter("tojson", tojson_filter);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        let source = python_string_escapes(&strip_generation_tags(source));
        env.add_template_owned(TEMPLATE_NAME, source)
            .map_err(|e| format!("chat template does not compile: {e}"))?;
        Ok(ChatTemplate { env, bos_token: bos_token.to_string(), eos_token: eos_token.to_string() })
    }

    /// Renders a conversation with no extra variables (messages as `ChatMessage::to_jinja`).
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String, String> {
        let messages = serde_json::Value::Array(messages.iter().map(ChatMessage::to_jinja).collect());
        self.render_json(&messages, add_generation_prompt, &serde_json::Map::new())
    }

    /// Renders with `messages` given as JSON (a list of objects, which may carry more than role
    /// and content: `tool_calls`, a list `content`, …) and `extra` top-level variables (`tools`,
    /// `documents`, `enable_thinking`, …). `extra` may override `bos_token` and `eos_token`;
    /// `messages` and `add_generation_prompt` always come from the arguments.
    pub fn render_json(
        &self,
        messages: &serde_json::Value,
        add_generation_prompt: bool,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, String> {
        let mut ctx = serde_json::Map::new();
        ctx.insert("bos_token".into(), self.bos_token.clone().into());
        ctx.insert("eos_token".into(), self.eos_token.clone().into());
        for (k, v) in extra {
            ctx.insert(k.clone(), v.clone());
        }
        ctx.insert("messages".into(), messages.clone());
        ctx.insert("add_generation_prompt".into(), add_generation_prompt.into());
        let tmpl = self.env.get_template(TEMPLATE_NAME).map_err(|e| e.to_string())?;
        tmpl.render(Value::from_serialize(&ctx)).map_err(describe_error)
    }
}

/// `raise_exception`'s message as is; anything else as minijinja describes it.
fn describe_error(e: Error) -> String {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = src {
        if let Some(r) = err.downcast_ref::<RaisedException>() {
            return r.0.clone();
        }
        src = err.source();
    }
    format!("chat template error: {e}")
}

/// HF's `AssistantTracker` extension adds `{% generation %}` … `{% endgeneration %}` blocks that
/// only mark text; minijinja has no such tag, so they become always-true `if` blocks (keeping any
/// whitespace-control markers).
fn strip_generation_tags(source: &str) -> String {
    if !source.contains("generation") {
        return source.to_string();
    }
    let re = fancy_regex::Regex::new(r"\{%([-+]?)\s*(end)?generation\s*([-+]?)%\}").expect("valid regex");
    re.replace_all(source, |c: &fancy_regex::Captures| {
        let (l, r) = (c.get(1).map_or("", |m| m.as_str()), c.get(3).map_or("", |m| m.as_str()));
        if c.get(2).is_some() {
            format!("{{%{l} endif {r}%}}")
        } else {
            format!("{{%{l} if true {r}%}}")
        }
    })
    .into_owned()
}

/// Where Jinja2's string literals (Python `unicode-escape`) and minijinja's differ, rewrites the
/// literals inside `{{ }}` / `{% %}` tags to minijinja spellings of Python's meaning: a
/// backslash-newline disappears (line continuation) and `\/` is kept as backslash + slash (minijinja
/// would drop the backslash). Text, comments and `{% raw %}` blocks are left alone.
fn python_string_escapes(src: &str) -> String {
    if !src.contains('\\') {
        return src.to_string();
    }
    enum St {
        Text,
        Tag(&'static [u8]),
        Str(&'static [u8], u8),
    }
    let b = src.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut st = St::Text;
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        match st {
            St::Text => {
                if rest.starts_with(b"{#") {
                    let end = find(rest, b"#}").map_or(rest.len(), |e| e + 2);
                    out.extend_from_slice(&rest[..end]);
                    i += end;
                    continue;
                }
                if rest.starts_with(b"{%") {
                    let tag_end = find(rest, b"%}").map_or(rest.len(), |e| e + 2);
                    let inner = String::from_utf8_lossy(&rest[2..tag_end.saturating_sub(2).max(2)]);
                    if inner.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace()) == "raw" {
                        // copy up to and including the matching endraw tag
                        let mut j = tag_end;
                        let mut end = rest.len();
                        while let Some(k) = find(&rest[j..], b"{%") {
                            let s = j + k + 2;
                            let t = String::from_utf8_lossy(&rest[s..(s + 32).min(rest.len())]);
                            if t.trim_start_matches(['-', '+']).trim_start().starts_with("endraw") {
                                end = find(&rest[s..], b"%}").map_or(rest.len(), |e| s + e + 2);
                                break;
                            }
                            j = s;
                        }
                        out.extend_from_slice(&rest[..end]);
                        i += end;
                        continue;
                    }
                    st = St::Tag(b"%}");
                    out.extend_from_slice(b"{%");
                    i += 2;
                    continue;
                }
                if rest.starts_with(b"{{") {
                    st = St::Tag(b"}}");
                    out.extend_from_slice(b"{{");
                    i += 2;
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            St::Tag(end) => {
                if rest.starts_with(end) {
                    out.extend_from_slice(end);
                    i += end.len();
                    st = St::Text;
                    continue;
                }
                if b[i] == b'"' || b[i] == b'\'' {
                    st = St::Str(end, b[i]);
                }
                out.push(b[i]);
                i += 1;
            }
            St::Str(end, q) => {
                if b[i] == b'\\' {
                    match rest.get(1) {
                        Some(b'\n') => i += 2,
                        Some(b'\r') if rest.get(2) == Some(&b'\n') => i += 3,
                        Some(b'/') => {
                            out.extend_from_slice(b"\\\\/");
                            i += 2;
                        }
                        Some(&c) => {
                            out.push(b'\\');
                            out.push(c);
                            i += 2;
                        }
                        None => {
                            out.push(b'\\');
                            i += 1;
                        }
                    }
                    continue;
                }
                if b[i] == q {
                    st = St::Tag(end);
                }
                out.push(b[i]);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were dropped or inserted, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| src.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Functions and filters

fn raise_exception(msg: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg.clone()).with_source(RaisedException(msg)))
}

fn strftime_now(fmt: String) -> Result<Value, Error> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    Ok(Value::from(format_time(&fmt, secs)))
}

/// C `strftime` over UTC `unix_secs`, for the common conversions: `%Y %y %m %d %e %j %H %I %M
/// %S %p %b %h %B %a %A %F %T %D %R %%`; anything else is copied as is.
pub fn format_time(fmt: &str, unix_secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
        "December",
    ];
    const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    let days = unix_secs.div_euclid(86_400);
    let sod = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let yday = days - days_from_civil(y, 1, 1) + 1;
    let month = MONTHS[(m - 1) as usize];
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let _ = match spec {
            'Y' => write!(out, "{y}"),
            'y' => write!(out, "{:02}", y.rem_euclid(100)),
            'm' => write!(out, "{m:02}"),
            'd' => write!(out, "{d:02}"),
            'e' => write!(out, "{d:>2}"),
            'j' => write!(out, "{yday:03}"),
            'H' => write!(out, "{hh:02}"),
            'I' => write!(out, "{:02}", if hh % 12 == 0 { 12 } else { hh % 12 }),
            'M' => write!(out, "{mm:02}"),
            'S' => write!(out, "{ss:02}"),
            'p' => write!(out, "{}", if hh < 12 { "AM" } else { "PM" }),
            'b' | 'h' => write!(out, "{}", &month[..3]),
            'B' => write!(out, "{month}"),
            'a' => write!(out, "{}", &DAYS[weekday][..3]),
            'A' => write!(out, "{}", DAYS[weekday]),
            'F' => write!(out, "{y}-{m:02}-{d:02}"),
            'T' => write!(out, "{hh:02}:{mm:02}:{ss:02}"),
            'R' => write!(out, "{hh:02}:{mm:02}"),
            'D' => write!(out, "{m:02}/{d:02}/{:02}", y.rem_euclid(100)),
            '%' => write!(out, "%"),
            other => write!(out, "%{other}"),
        };
    }
    out
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Python-compatible `tojson` (HF's `json.dumps(x, ensure_ascii=False, indent=…, separators=…,
/// sort_keys=…)`). One optional positional argument: an integer is `indent` (Jinja2's `tojson`),
/// a boolean `ensure_ascii` (HF's signature).
fn tojson_filter(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let mut opts = JsonOpts { indent: None, ensure_ascii: false, sort_keys: false, item_sep: ", ", key_sep: ": " };
    let mut indent_arg: Option<Value> = None;
    if args.0.len() > 1 {
        return Err(Error::new(ErrorKind::TooManyArguments, "tojson takes at most one positional argument"));
    }
    if let Some(a) = args.0.first() {
        match a.kind() {
            ValueKind::Bool => opts.ensure_ascii = a.is_true(),
            _ => indent_arg = Some(a.clone()),
        }
    }
    if let Some(v) = kwargs.get::<Option<Value>>("indent")? {
        indent_arg = Some(v);
    }
    if let Some(v) = kwargs.get::<Option<bool>>("ensure_ascii")? {
        opts.ensure_ascii = v;
    }
    if let Some(v) = kwargs.get::<Option<bool>>("sort_keys")? {
        opts.sort_keys = v;
    }
    let seps: Option<Vec<String>> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    if let Some(ind) = indent_arg.filter(|v| !v.is_none() && !v.is_undefined()) {
        opts.indent = Some(if let Some(s) = ind.as_str() {
            s.to_string()
        } else if let Some(n) = ind.as_i64() {
            " ".repeat(n.max(0) as usize)
        } else {
            return Err(Error::new(ErrorKind::InvalidOperation, "tojson: indent must be an integer or a string"));
        });
        opts.item_sep = ",";
    }
    let (mut item_sep, mut key_sep) = (opts.item_sep.to_string(), opts.key_sep.to_string());
    if let Some(s) = seps {
        if s.len() != 2 {
            return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators must be a pair of strings"));
        }
        item_sep = s[0].clone();
        key_sep = s[1].clone();
    }
    let mut out = String::new();
    write_json(&mut out, value, &opts, &item_sep, &key_sep, 0)?;
    Ok(Value::from_safe_string(out))
}

struct JsonOpts {
    indent: Option<String>,
    ensure_ascii: bool,
    sort_keys: bool,
    item_sep: &'static str,
    key_sep: &'static str,
}

fn write_json(out: &mut String, v: &Value, o: &JsonOpts, item_sep: &str, key_sep: &str, depth: usize) -> Result<(), Error> {
    if depth > 500 {
        return Err(Error::new(ErrorKind::InvalidOperation, "tojson: value nested too deeply"));
    }
    let newline = |out: &mut String, depth: usize| {
        if let Some(ind) = &o.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(ind);
            }
        }
    };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&json_number(v)),
        ValueKind::String => json_string(out, v.as_str().unwrap_or_default(), o.ensure_ascii),
        ValueKind::Bytes => json_string(out, &String::from_utf8_lossy(v.as_bytes().unwrap_or_default()), o.ensure_ascii),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(out, item, o, item_sep, key_sep, depth + 1)?;
            }
            newline(out, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, Value)> = Vec::new();
            for k in v.try_iter()? {
                let val = v.get_item(&k)?;
                let key = match k.kind() {
                    ValueKind::String => k.as_str().unwrap_or_default().to_string(),
                    ValueKind::None | ValueKind::Undefined => "null".to_string(),
                    ValueKind::Bool => (if k.is_true() { "true" } else { "false" }).to_string(),
                    ValueKind::Number => json_number(&k),
                    _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: keys must be strings")),
                };
                entries.push((key, val));
            }
            if o.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                json_string(out, k, o.ensure_ascii);
                out.push_str(key_sep);
                write_json(out, val, o, item_sep, key_sep, depth + 1)?;
            }
            newline(out, depth);
            out.push('}');
        }
        ValueKind::Plain | ValueKind::Invalid | _ => json_string(out, &v.to_string(), o.ensure_ascii),
    }
    Ok(())
}

/// Python's `json.dumps` of a number: integers as such, floats as `repr` (`1.0`, `1e+16`), and
/// `NaN` / `Infinity` / `-Infinity`.
fn json_number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(x) if x.is_nan() => "NaN".into(),
        Ok(x) if x.is_infinite() => (if x > 0.0 { "Infinity" } else { "-Infinity" }).into(),
        Ok(x) => py_float_repr(x),
        Err(_) => v.to_string(),
    }
}

/// Python's `repr(float)`: the shortest round-tripping digits, positional for decimal exponents
/// in `-4..16`, scientific (`1e+16`, `1.5e-05`) otherwise.
fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return (if x > 0.0 { "inf" } else { "-inf" }).into();
    }
    let sci = format!("{:e}", x); // shortest digits, e.g. "-1.2345e-5", "1e16", "0e0"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mant) = match mant.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mant),
    };
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                s.push_str(&digits);
                s.push_str(&"0".repeat(int_len - digits.len()));
                s.push_str(".0");
            } else {
                s.push_str(&digits[..int_len]);
                s.push('.');
                s.push_str(&digits[int_len..]);
            }
        } else {
            s.push_str("0.");
            s.push_str(&"0".repeat((-exp - 1) as usize));
            s.push_str(&digits);
        }
    } else {
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        let _ = write!(s, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    s
}

/// A JSON string literal as Python's `json.dumps` writes it.
fn json_string(out: &mut String, s: &str, ensure_ascii: bool) {
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
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `{{ … }}` output as Jinja2 under Python prints it: `None`, `True`/`False`, floats and
/// containers as their `repr`; undefined prints nothing; strings as they are (no autoescape).
fn python_formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    let s = match value.kind() {
        ValueKind::Undefined => return Ok(()),
        ValueKind::None | ValueKind::Bool | ValueKind::Seq | ValueKind::Map => py_repr(value, 0)?,
        ValueKind::Number if !value.is_integer() => json_number_repr(value),
        _ => return minijinja::escape_formatter(out, state, value),
    };
    out.write_str(&s).map_err(|_| Error::new(ErrorKind::WriteFailure, "formatter write failed"))
}

fn json_number_repr(v: &Value) -> String {
    match f64::try_from(v.clone()) {
        Ok(x) => py_float_repr(x),
        Err(_) => v.to_string(),
    }
}

/// Python's `repr` of a value, for printing containers.
fn py_repr(v: &Value, depth: usize) -> Result<String, Error> {
    if depth > 500 {
        return Err(Error::new(ErrorKind::InvalidOperation, "value nested too deeply to print"));
    }
    Ok(match v.kind() {
        ValueKind::Undefined | ValueKind::None => "None".into(),
        ValueKind::Bool => (if v.is_true() { "True" } else { "False" }).into(),
        ValueKind::Number if v.is_integer() => v.to_string(),
        ValueKind::Number => json_number_repr(v),
        ValueKind::String => py_str_repr(v.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            let items: Result<Vec<String>, Error> = v.try_iter()?.map(|x| py_repr(&x, depth + 1)).collect();
            format!("[{}]", items?.join(", "))
        }
        ValueKind::Map => {
            let mut parts = Vec::new();
            for k in v.try_iter()? {
                let val = v.get_item(&k)?;
                parts.push(format!("{}: {}", py_repr(&k, depth + 1)?, py_repr(&val, depth + 1)?));
            }
            format!("{{{}}}", parts.join(", "))
        }
        _ => v.to_string(),
    })
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`.
fn py_str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::new();
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(pairs: &[(&str, &str)]) -> Vec<ChatMessage> {
        pairs.iter().map(|(r, c)| ChatMessage::new(*r, *c)).collect()
    }

    fn conversation() -> Vec<ChatMessage> {
        msgs(&[("user", "Hi"), ("assistant", "Hello!"), ("user", "How are you?")])
    }

    fn golden(name: &str) -> serde_json::Value {
        let path = format!("{}/../tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    }

    #[test]
    fn smollm2_golden_prompts() {
        let g = golden("smollm2.json");
        let src = g["chat_template"].as_str().unwrap();
        let t = ChatTemplate::new(src, "<|im_start|>", "<|im_end|>").unwrap();
        let mut checked = 0;
        for entry in g["greedy"].as_array().unwrap() {
            let Some(messages) = entry["messages"].as_array() else { continue };
            let messages: Vec<ChatMessage> = messages
                .iter()
                .map(|m| ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
                .collect();
            let want = entry["prompt_text"].as_str().unwrap();
            assert_eq!(t.render(&messages, true).unwrap(), want, "{}", entry["name"]);
            // the JSON path gives the same
            let json = serde_json::to_value(&messages).unwrap();
            assert_eq!(t.render_json(&json, true, &serde_json::Map::new()).unwrap(), want);
            checked += 1;
        }
        assert!(checked >= 2, "golden entries with messages: {checked}");
    }

    #[test]
    fn smollm2_system_message_and_no_generation_prompt() {
        let g = golden("smollm2.json");
        let t = ChatTemplate::new(g["chat_template"].as_str().unwrap(), "", "").unwrap();
        let m = msgs(&[("system", "You are a pirate."), ("user", "Hi"), ("assistant", "Arr!")]);
        assert_eq!(
            t.render(&m, false).unwrap(),
            "<|im_start|>system\nYou are a pirate.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\nArr!<|im_end|>\n"
        );
        let m = msgs(&[("user", "Hi")]);
        assert_eq!(
            t.render(&m, true).unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = \
        '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}\
        {% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}\
        {% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

    #[test]
    fn llama3_template() {
        let t = ChatTemplate::new(LLAMA3, "<|begin_of_text|>", "<|eot_id|>").unwrap();
        let mut c = conversation();
        c[0].content = "  Hi\n".into(); // trimmed by the template
        assert_eq!(
            t.render(&c, true).unwrap(),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        );
    }

    const GEMMA: &str = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}\
        {% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}\
        {% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}\
        {{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}\
        {% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

    #[test]
    fn gemma_template_and_raise_exception() {
        let t = ChatTemplate::new(GEMMA, "<bos>", "<eos>").unwrap();
        assert_eq!(
            t.render(&conversation(), true).unwrap(),
            "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n\
             <start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n"
        );
        let err = t.render(&msgs(&[("system", "x"), ("user", "Hi")]), true).unwrap_err();
        assert_eq!(err, "System role not supported");
        let err = t.render(&msgs(&[("user", "a"), ("user", "b")]), true).unwrap_err();
        assert_eq!(err, "Conversation roles must alternate user/assistant/user/assistant/...");
    }

    #[test]
    fn trim_and_lstrip_blocks_like_hf() {
        let src = "{% for message in messages %}\n    {% if message.role == 'user' %}\nU: {{ message.content }}\n    \
                   {% else %}\nA: {{ message.content }}\n    {% endif %}\n{% endfor %}\n";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&conversation(), false).unwrap(), "U: Hi\nA: Hello!\nU: How are you?\n");
        // a single trailing newline of the source is dropped (keep_trailing_newline off)
        let t = ChatTemplate::new("x\n", "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "x");
    }

    #[test]
    fn python_methods_and_tojson() {
        let src = "{{ messages[0].content.strip() }}|{{ messages[0].content.strip().lower().startswith('hi') }}|\
                   {{ 'a,b,c'.split(',') | join('-') }}|{{ messages | tojson }}|\
                   {% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %}|\
                   {{ {'a': [1, 2.5, none, true], 'b': 'é\"<'} | tojson }}|{{ messages[0].get('name', 'anon') }}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        let out = t.render(&msgs(&[("user", "  Hi There \n")]), false).unwrap();
        assert_eq!(
            out,
            "Hi There|True|a-b-c|[{\"role\": \"user\", \"content\": \"  Hi There \\n\"}]|x=1;y=2;|\
             {\"a\": [1, 2.5, null, true], \"b\": \"é\\\"<\"}|anon"
        );
    }

    #[test]
    fn tojson_options() {
        let t = ChatTemplate::new(
            "{{ tools | tojson(indent=2) }}\n{{ tools | tojson(ensure_ascii=true, sort_keys=true) }}\n\
             {{ tools | tojson(separators=(',', ':')) }}\n{{ [] | tojson(indent=4) }}{{ {} | tojson }}",
            "",
            "",
        )
        .unwrap();
        let mut extra = serde_json::Map::new();
        extra.insert("tools".into(), serde_json::json!([{"name": "f", "a": {"é": 1.0, "n": 1e20}}]));
        let out = t.render_json(&serde_json::json!([]), false, &extra).unwrap();
        assert_eq!(
            out,
            "[\n  {\n    \"name\": \"f\",\n    \"a\": {\n      \"é\": 1.0,\n      \"n\": 1e+20\n    }\n  }\n]\n\
             [{\"a\": {\"n\": 1e+20, \"\\u00e9\": 1.0}, \"name\": \"f\"}]\n\
             [{\"name\":\"f\",\"a\":{\"é\":1.0,\"n\":1e+20}}]\n[]{}"
        );
    }

    #[test]
    fn python_printing() {
        let t = ChatTemplate::new("{{ none }}|{{ true }}|{{ [1, 'a', none] }}|{{ {'k': false} }}|{{ 0.5 }}|{{ nope }}|", "", "")
            .unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "None|True|[1, 'a', None]|{'k': False}|0.5||");
    }

    #[test]
    fn extra_variables_and_defaults() {
        let src = "{% if enable_thinking is defined and not enable_thinking %}<think></think>{% endif %}\
                   {{ tools is defined }}{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}";
        let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
        assert_eq!(t.render(&[], true).unwrap(), "False<s></s>True");
        let mut extra = serde_json::Map::new();
        extra.insert("enable_thinking".into(), false.into());
        extra.insert("bos_token".into(), "[BOS]".into());
        extra.insert("add_generation_prompt".into(), true.into()); // cannot override the argument
        assert_eq!(t.render_json(&serde_json::json!([]), false, &extra).unwrap(), "<think></think>False[BOS]</s>False");
    }

    #[test]
    fn json_messages_with_more_fields() {
        let src = "{% for m in messages %}{{ m.role }}:{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments | tojson }}\
                   {% else %}{{ m.content }}{% endif %};{% endfor %}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        let messages = serde_json::json!([
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "w", "arguments": {"city": "Paris", "days": 2}}}]}
        ]);
        assert_eq!(
            t.render_json(&messages, false, &serde_json::Map::new()).unwrap(),
            "user:weather?;assistant:{\"city\": \"Paris\", \"days\": 2};"
        );
    }

    #[test]
    fn generation_tags_are_accepted() {
        let src = "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{%- endgeneration %}\
                   {% else %}[{{ m.content }}]{% endif %}{% endfor %}";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&conversation(), false).unwrap(), "[Hi]Hello![How are you?]");
    }

    #[test]
    fn string_literals_unescape_like_python() {
        let src = "{{ \"a\\\nb\" }}|{{ 'x\\/y' }}|{{ \"q\\\\\nz\" }}|{% raw %}{{ \"a\\\nb\" }}{% endraw %}{# \"\\\n #}|a\\\nb";
        let t = ChatTemplate::new(src, "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap(), "ab|x\\/y|q\\\nz|{{ \"a\\\nb\" }}|a\\\nb");
        // Mistral's templates continue long system prompts over lines inside a literal
        let src = "{%- set msg = \"one.\\\ntwo.\\\n\\\nthree.\" %}{{ msg }}";
        assert_eq!(ChatTemplate::new(src, "", "").unwrap().render(&[], false).unwrap(), "one.two.three.");
    }

    #[test]
    fn errors_are_messages() {
        let e = ChatTemplate::new("{% for x in %}", "", "").unwrap_err();
        assert!(e.contains("does not compile"), "{e}");
        let t = ChatTemplate::new("{{ undefined_fn() }}", "", "").unwrap();
        assert!(t.render(&[], false).unwrap_err().starts_with("chat template error"));
        let t = ChatTemplate::new("{{ messages[0].content.nosuchmethod() }}", "", "").unwrap();
        assert!(t.render(&msgs(&[("user", "x")]), false).is_err());
        let t = ChatTemplate::new("{{ raise_exception('boom: ' ~ messages | length) }}", "", "").unwrap();
        assert_eq!(t.render(&[], false).unwrap_err(), "boom: 0");
    }

    #[test]
    fn strftime() {
        // 2024-07-23 14:05:09 UTC, a Tuesday
        let t = 1_721_743_509;
        assert_eq!(format_time("%d %b %Y", t), "23 Jul 2024");
        assert_eq!(format_time("%B %d, %Y %H:%M:%S %A %a %j %y %I%p %e %%", t), "July 23, 2024 14:05:09 Tuesday Tue 205 24 02PM 23 %");
        assert_eq!(format_time("%F %T %Q", 0), "1970-01-01 00:00:00 %Q");
        assert_eq!(format_time("%Y-%m-%d", 951_782_400), "2000-02-29");
        assert_eq!(format_time("%Y-%m-%d %j", -86_400), "1969-12-31 365");
        let tmpl = ChatTemplate::new("{{ strftime_now('%Y') }}", "", "").unwrap();
        let year: i64 = tmpl.render(&[], false).unwrap().parse().unwrap();
        assert!(year >= 2024);
    }

    #[test]
    fn float_repr_like_python() {
        for (x, want) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
            (-2.5e20, "-2.5e+20"),
            (0.0, "0.0"),
            (1e15, "1000000000000000.0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(py_float_repr(x), want);
        }
    }
}
