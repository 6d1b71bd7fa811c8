//! `tojson` as Python's `json.dumps` writes it (HF's chat templates compare against that output):
//! `", "` / `": "` separators, no HTML escaping, keys in insertion order, floats as Python's `repr`.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, ErrorKind, Value};

use super::pyrepr::py_float_repr;

/// Python-compatible `tojson` (HF's `json.dumps(x, ensure_ascii=False, indent=…, separators=…,
/// sort_keys=…)`). One optional positional argument: an integer is `indent` (Jinja2's `tojson`),
/// a boolean `ensure_ascii` (HF's signature).
pub(super) fn tojson_filter(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
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
