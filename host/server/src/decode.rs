//! Request bodies decoded with Go's encoding/json semantics, because clients and tests match
//! Ollama's exact error texts: unknown fields ignored, keys matched case-insensitively, `null`
//! = absent, and type errors worded as Go words them.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The JSON shape a field accepts, with its Go type name for error messages.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Str,
    Bool,
    Int,
    /// A list of the inner kind.
    List(&'static Kind),
    Object,
    /// Anything (json.RawMessage and custom unmarshalers that check themselves).
    Any,
}

pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub go_type: &'static str,
}

pub const fn field(name: &'static str, kind: Kind, go_type: &'static str) -> Field {
    Field { name, kind, go_type }
}

/// Parses a body into an object whose keys are the schema's canonical names.
pub fn decode(body: &[u8], go_struct: &str, schema: &[Field]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("missing request body"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(go_syntax_error(body, &e)))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go value of type api.{go_struct}",
            json_kind(&value)
        )));
    };
    let mut out = Map::new();
    for (k, v) in obj {
        let Some(f) = schema.iter().find(|f| f.name.eq_ignore_ascii_case(&k)) else { continue };
        if v.is_null() {
            continue;
        }
        check(&v, f.kind, &format!("{go_struct}.{}", f.name), f.go_type)?;
        out.insert(f.name.to_string(), v);
    }
    Ok(out)
}

/// Parses a body into its typed request. `decode` checks every field's Go type first (its
/// errors are Go's), so the conversion only fails if `T` and the schema disagree. Integer
/// fields are best typed `serde_json::Number`: Go-type checking lets one above i64::MAX
/// through, and the handler reads it as leniently as it always has.
pub fn decode_as<T: DeserializeOwned>(body: &[u8], go_struct: &str, schema: &[Field]) -> Result<T, ApiError> {
    let checked = decode(body, go_struct, schema)?;
    serde_json::from_value(Value::Object(checked)).map_err(|e| ApiError::internal(format!("{go_struct}: {e}")))
}

fn check(v: &Value, kind: Kind, path: &str, go_type: &str) -> Result<(), ApiError> {
    let ok = match kind {
        Kind::Any => true,
        Kind::Str => v.is_string(),
        Kind::Bool => v.is_boolean(),
        Kind::Int => {
            if let Some(n) = v.as_number() {
                if n.is_f64() {
                    return Err(ApiError::bad_request(format!(
                        "json: cannot unmarshal number {n} into Go struct field {path} of type {go_type}"
                    )));
                }
                true
            } else {
                false
            }
        }
        Kind::Object => v.is_object(),
        Kind::List(inner) => match v.as_array() {
            Some(items) => {
                let elem = go_type.trim_start_matches("[]");
                for item in items {
                    check(item, *inner, path, elem)?;
                }
                true
            }
            None => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {} into Go struct field {path} of type {go_type}",
            json_kind(v)
        )))
    }
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's wording for a JSON syntax error at serde's error position.
fn go_syntax_error(body: &[u8], e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected EOF".into();
    }
    let text = String::from_utf8_lossy(body);
    let line = e.line().saturating_sub(1);
    let col = e.column().saturating_sub(1);
    let c = text.lines().nth(line).and_then(|l| l.chars().nth(col));
    match c {
        Some(c) if e.classify() == serde_json::error::Category::Syntax => {
            let ctx = if text.trim_start().starts_with(c) { "looking for beginning of value" } else { "after object key" };
            format!("invalid character '{c}' {ctx}")
        }
        _ => e.to_string(),
    }
}

pub fn get_str<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

pub fn get_bool(m: &Map<String, Value>, k: &str) -> Option<bool> {
    m.get(k).and_then(Value::as_bool)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &[Field] = &[
        field("model", Kind::Str, "string"),
        field("stream", Kind::Bool, "bool"),
        field("context", Kind::List(&Kind::Int), "[]int"),
        field("top_logprobs", Kind::Int, "int"),
    ];

    #[test]
    fn go_semantics() {
        let m = decode(br#"{"MODEL":"x","unknown":1,"stream":null}"#, "GenerateRequest", SCHEMA).unwrap();
        assert_eq!(get_str(&m, "model"), Some("x"));
        assert!(!m.contains_key("stream"));
        let e = decode(br#"{"model":5}"#, "GenerateRequest", SCHEMA).unwrap_err();
        assert_eq!(e.message, "json: cannot unmarshal number into Go struct field GenerateRequest.model of type string");
        let e = decode(br#"{"context":["a"]}"#, "GenerateRequest", SCHEMA).unwrap_err();
        assert_eq!(e.message, "json: cannot unmarshal string into Go struct field GenerateRequest.context of type int");
        let e = decode(br#"{"top_logprobs":1.5}"#, "GenerateRequest", SCHEMA).unwrap_err();
        assert_eq!(e.message, "json: cannot unmarshal number 1.5 into Go struct field GenerateRequest.top_logprobs of type int");
        assert_eq!(decode(b"", "X", SCHEMA).unwrap_err().message, "missing request body");
        assert_eq!(
            decode(b"x", "X", SCHEMA).unwrap_err().message,
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(decode(b"{\"model\":", "X", SCHEMA).unwrap_err().message, "unexpected EOF");
    }
}
