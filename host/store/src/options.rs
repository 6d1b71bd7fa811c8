//! Ollama's `options` (api.Options): typed values, Go's decoding rules, the
//! Modelfile `PARAMETER` conversion and the `params` layer JSON.
//!
//! Precedence at request time is request `options` > params layer >
//! defaults; [`Options::merge`] implements one step of it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// Errors from decoding options; texts are Ollama's verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// JSON value of the wrong type (`option "temperature" must be of type float32`).
    #[error("option {key:?} must be of {what}")]
    WrongType { key: String, what: &'static str },
    /// Modelfile `PARAMETER` with a name that is not an option.
    #[error("unknown parameter '{0}'")]
    UnknownParameter(String),
    /// Modelfile `PARAMETER` value that does not parse (`invalid float value [abc]`).
    #[error("invalid {kind} value [{value}]")]
    InvalidValue { kind: &'static str, value: String },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Int,
    Float,
    Bool,
    StringList,
}

/// Every option Ollama knows, with its Go type.
const KNOWN: &[(&str, Kind)] = &[
    ("num_ctx", Kind::Int),
    ("num_batch", Kind::Int),
    ("num_gpu", Kind::Int),
    ("main_gpu", Kind::Int),
    ("use_mmap", Kind::Bool),
    ("num_thread", Kind::Int),
    ("draft_num_predict", Kind::Int),
    ("num_keep", Kind::Int),
    ("seed", Kind::Int),
    ("num_predict", Kind::Int),
    ("top_k", Kind::Int),
    ("top_p", Kind::Float),
    ("min_p", Kind::Float),
    ("typical_p", Kind::Float),
    ("repeat_last_n", Kind::Int),
    ("temperature", Kind::Float),
    ("repeat_penalty", Kind::Float),
    ("presence_penalty", Kind::Float),
    ("frequency_penalty", Kind::Float),
    ("stop", Kind::StringList),
];

/// Options Ollama removed; a Modelfile using them gets a warning and the
/// parameter is dropped (JSON requests simply ignore them as unknown).
pub const DEPRECATED_PARAMETERS: &[&str] = &[
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "logits_all",
    "vocab_only",
    "use_mlock",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
];

/// Runner options: changing one between requests reloads the model.
pub const RUNNER_OPTIONS: &[&str] = &[
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "use_mmap",
    "num_thread",
    "draft_num_predict",
];

fn kind_of(key: &str) -> Option<Kind> {
    KNOWN.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
}

/// Typed options; `None` means "not set at this level".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    // Runner (load-time) options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_batch: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_gpu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main_gpu: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_mmap: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_thread: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_num_predict: Option<i64>,
    // Per-request sampling/prediction options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_keep: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_predict: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typical_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_last_n: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
}

/// Result of [`Options::from_map`]: the options plus the keys that were
/// ignored (unknown or deprecated), for a log warning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub options: Options,
    pub ignored: Vec<String>,
}

impl Options {
    /// Ollama's `DefaultOptions()` (num_ctx is the <23 GiB VRAM tier; the
    /// server substitutes its own tiering/`OLLAMA_CONTEXT_LENGTH`).
    pub fn defaults() -> Options {
        Options {
            num_ctx: Some(4096),
            num_batch: Some(512),
            num_gpu: Some(-1),
            main_gpu: None,
            use_mmap: None,
            num_thread: Some(0),
            draft_num_predict: Some(4),
            num_keep: Some(4),
            seed: Some(-1),
            num_predict: Some(-1),
            top_k: Some(40),
            top_p: Some(0.9),
            min_p: Some(0.0),
            typical_p: Some(1.0),
            repeat_last_n: Some(64),
            temperature: Some(0.8),
            repeat_penalty: Some(1.0),
            presence_penalty: Some(0.0),
            frequency_penalty: Some(0.0),
            stop: None,
        }
    }

    /// Decodes a JSON options object with Go's `Options.FromMap` rules:
    /// `null` skips a key, ints accept JSON floats (truncated toward zero),
    /// floats accept any number, unknown and deprecated keys are ignored and
    /// reported in [`Parsed::ignored`], and a wrong type is an error. Keys
    /// are checked in sorted order so the reported error is deterministic
    /// (Go's map order is random).
    pub fn from_map(map: &Map<String, Value>) -> Result<Parsed, OptionError> {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        let mut parsed = Parsed::default();
        for key in keys {
            let val = &map[key];
            let Some(kind) = kind_of(key) else {
                parsed.ignored.push(key.clone());
                continue;
            };
            if val.is_null() {
                continue;
            }
            let wrong = |what| OptionError::WrongType {
                key: key.clone(),
                what,
            };
            let o = &mut parsed.options;
            match kind {
                Kind::Int => {
                    let n = json_int(val).ok_or_else(|| wrong("type integer"))?;
                    *o.int_slot(key) = Some(n);
                }
                Kind::Float => {
                    let f = val.as_f64().ok_or_else(|| wrong("type float32"))?;
                    *o.float_slot(key) = Some(f as f32);
                }
                Kind::Bool => {
                    let b = val.as_bool().ok_or_else(|| wrong("type boolean"))?;
                    o.use_mmap = Some(b);
                }
                Kind::StringList => {
                    let arr = val.as_array().ok_or_else(|| wrong("type array"))?;
                    let list = arr
                        .iter()
                        .map(|v| v.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| wrong("an array of strings"))?;
                    o.stop = Some(list);
                }
            }
        }
        Ok(parsed)
    }

    /// Decodes the params layer JSON (same rules as request options).
    pub fn from_params_json(bytes: &[u8]) -> Result<Parsed, OptionsLayerError> {
        let map: Map<String, Value> = serde_json::from_slice(bytes)?;
        Ok(Self::from_map(&map)?)
    }

    /// The set options as a JSON map, the shape of the params layer: floats
    /// written with their shortest `float32` spelling (0.7, not
    /// 0.699999988079071) and `stop` as a list.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (key, kind) in KNOWN {
            let v = match kind {
                Kind::Int => self.int(key).map(Value::from),
                Kind::Float => self.float(key).map(f32_value),
                Kind::Bool => self.use_mmap.map(Value::Bool),
                Kind::StringList => self.stop.clone().map(Value::from),
            };
            if let Some(v) = v {
                m.insert(key.to_string(), v);
            }
        }
        m
    }

    /// Field-wise `over` wins where set, else `self`.
    pub fn merge(&self, over: &Options) -> Options {
        let mut out = self.clone();
        for (key, kind) in KNOWN {
            match kind {
                Kind::Int => {
                    if let Some(v) = over.int(key) {
                        *out.int_slot(key) = Some(v);
                    }
                }
                Kind::Float => {
                    if let Some(v) = over.float(key) {
                        *out.float_slot(key) = Some(v);
                    }
                }
                Kind::Bool => out.use_mmap = over.use_mmap.or(out.use_mmap),
                Kind::StringList => {
                    if over.stop.is_some() {
                        out.stop = over.stop.clone();
                    }
                }
            }
        }
        out
    }

    /// Names of runner options whose values differ (a reload is needed).
    pub fn runner_changes(&self, other: &Options) -> Vec<&'static str> {
        RUNNER_OPTIONS
            .iter()
            .copied()
            .filter(|k| match *k {
                "use_mmap" => self.use_mmap != other.use_mmap,
                k => self.int(k) != other.int(k),
            })
            .collect()
    }

    fn int(&self, key: &str) -> Option<i64> {
        match key {
            "num_ctx" => self.num_ctx,
            "num_batch" => self.num_batch,
            "num_gpu" => self.num_gpu,
            "main_gpu" => self.main_gpu,
            "num_thread" => self.num_thread,
            "draft_num_predict" => self.draft_num_predict,
            "num_keep" => self.num_keep,
            "seed" => self.seed,
            "num_predict" => self.num_predict,
            "top_k" => self.top_k,
            "repeat_last_n" => self.repeat_last_n,
            _ => None,
        }
    }

    fn int_slot(&mut self, key: &str) -> &mut Option<i64> {
        match key {
            "num_ctx" => &mut self.num_ctx,
            "num_batch" => &mut self.num_batch,
            "num_gpu" => &mut self.num_gpu,
            "main_gpu" => &mut self.main_gpu,
            "num_thread" => &mut self.num_thread,
            "draft_num_predict" => &mut self.draft_num_predict,
            "num_keep" => &mut self.num_keep,
            "seed" => &mut self.seed,
            "num_predict" => &mut self.num_predict,
            "top_k" => &mut self.top_k,
            "repeat_last_n" => &mut self.repeat_last_n,
            // Only reachable with a key KNOWN lists as Int.
            _ => unreachable!("not an integer option: {key}"),
        }
    }

    fn float(&self, key: &str) -> Option<f32> {
        match key {
            "top_p" => self.top_p,
            "min_p" => self.min_p,
            "typical_p" => self.typical_p,
            "temperature" => self.temperature,
            "repeat_penalty" => self.repeat_penalty,
            "presence_penalty" => self.presence_penalty,
            "frequency_penalty" => self.frequency_penalty,
            _ => None,
        }
    }

    fn float_slot(&mut self, key: &str) -> &mut Option<f32> {
        match key {
            "top_p" => &mut self.top_p,
            "min_p" => &mut self.min_p,
            "typical_p" => &mut self.typical_p,
            "temperature" => &mut self.temperature,
            "repeat_penalty" => &mut self.repeat_penalty,
            "presence_penalty" => &mut self.presence_penalty,
            "frequency_penalty" => &mut self.frequency_penalty,
            _ => unreachable!("not a float option: {key}"),
        }
    }
}

/// Error decoding a params layer blob.
#[derive(Debug, thiserror::Error)]
pub enum OptionsLayerError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Option(#[from] OptionError),
}

fn json_int(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    // Go decodes every JSON number to float64 and converts with int64(f);
    // integers are taken exactly here, floats truncated (saturating).
    n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))
}

/// JSON number for an f32 using its shortest decimal spelling, written as an
/// integer when integral (Go's encoder prints `1`, not `1.0`).
pub(crate) fn f32_value(f: f32) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        return Value::from(f as i64);
    }
    let shortest: f64 = f.to_string().parse().unwrap_or(f as f64);
    Number::from_f64(shortest).map_or(Value::Null, Value::Number)
}

/// Converts Modelfile `PARAMETER name value` pairs to the typed JSON map that
/// `/api/create` receives as `parameters` (Go's `api.FormatParams`). `stop`
/// accumulates across repeats; other keys: last one wins.
pub fn params_from_modelfile<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Map<String, Value>, OptionError> {
    let mut out = Map::new();
    for (key, raw) in pairs {
        let kind = kind_of(key).ok_or_else(|| OptionError::UnknownParameter(key.to_string()))?;
        let invalid = |kind| OptionError::InvalidValue {
            kind,
            value: raw.to_string(),
        };
        let v = match kind {
            Kind::Float => f32_value(parse_go_float(raw).ok_or_else(|| invalid("float"))?),
            Kind::Int => Value::from(raw.parse::<i64>().map_err(|_| invalid("int"))?),
            Kind::Bool => Value::Bool(parse_go_bool(raw).ok_or_else(|| invalid("bool"))?),
            Kind::StringList => {
                let mut list = match out.remove(key) {
                    Some(Value::Array(a)) => a,
                    _ => Vec::new(),
                };
                list.push(Value::from(raw));
                Value::Array(list)
            }
        };
        out.insert(key.to_string(), v);
    }
    Ok(out)
}

/// Go's `strconv.ParseFloat(s, 32)` for the forms people write: decimal,
/// exponent, `inf`/`nan`. Out-of-range values are an error in Go (ErrRange)
/// where Rust would give infinity.
fn parse_go_float(s: &str) -> Option<f32> {
    let f = s.parse::<f32>().ok()?;
    let spelled_inf = s
        .trim_start_matches(['+', '-'])
        .to_ascii_lowercase()
        .starts_with("inf");
    (!f.is_infinite() || spelled_inf).then_some(f)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The params layer bytes for a parameters map exactly as Go's encoder
/// writes them: keys sorted, compact, HTML characters escaped, newline.
pub fn params_layer_bytes(map: &Map<String, Value>) -> Vec<u8> {
    let sorted: BTreeMap<&String, &Value> = map.iter().collect();
    // Serialising string keys and JSON values cannot fail.
    let raw = serde_json::to_vec(&sorted).unwrap_or_else(|_| b"{}".to_vec());
    crate::manifest::go_escape(&raw)
}

/// Go's `%v` (and `%#v` for numbers/bools) rendering of a JSON value, used by
/// `/api/show`'s `parameters` and `PARAMETER` lines. Numbers follow Go's
/// float64 `%v`: shortest digits, exponent form from 1e+06 / below 1e-04.
pub fn go_format_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        // Go decodes every JSON number to float64, so integers print the
        // float way too (num_ctx 1048576 shows as 1.048576e+06).
        Value::Number(n) => go_format_float(n.as_f64().unwrap_or(0.0)),
        Value::Bool(b) => b.to_string(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// Go's `%#v`: like [`go_format_value`] but strings Go-quoted.
pub fn go_format_value_sharp(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        other => go_format_value(other),
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` as `%v` prints a float64.
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // `{:e}` yields the shortest round-trip digits: "d.ddde<exp>".
    let sci = format!("{:e}", f);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    // 'g' with shortest precision switches to exponent form when
    // exp < -4 || exp >= 6 (strconv uses eprec = 6 for shortest).
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let s = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{s}")
}

/// Go's `strconv.Quote` for the characters that matter in stop strings.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `/api/show`'s `parameters` text: one `"%-30s %#v"` line per value (one
/// per stop string), keys sorted.
pub fn show_parameters(params: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = params.keys().collect();
    keys.sort();
    let mut lines = Vec::new();
    for k in keys {
        match &params[k] {
            Value::Array(items) => {
                for item in items {
                    lines.push(format!("{:<30} {}", k, go_format_value_sharp(item)));
                }
            }
            v => lines.push(format!("{:<30} {}", k, go_format_value_sharp(v))),
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn from_map_types_and_truncation() {
        let p = Options::from_map(&map(json!({
            "num_ctx": 2048.9, "num_predict": -1, "temperature": 1, "top_p": 0.5,
            "use_mmap": false, "stop": ["a", "b"], "main_gpu": 1.0, "seed": null,
            "mirostat": 2, "bogus": "x"
        })))
        .unwrap();
        let o = p.options;
        assert_eq!(o.num_ctx, Some(2048));
        assert_eq!(o.num_predict, Some(-1));
        assert_eq!(o.temperature, Some(1.0));
        assert_eq!(o.top_p, Some(0.5));
        assert_eq!(o.use_mmap, Some(false));
        assert_eq!(o.main_gpu, Some(1));
        assert_eq!(o.seed, None);
        assert_eq!(o.stop, Some(vec!["a".into(), "b".into()]));
        assert_eq!(p.ignored, vec!["bogus".to_string(), "mirostat".to_string()]);
        let neg = Options::from_map(&map(json!({"num_keep": -3.7}))).unwrap();
        assert_eq!(neg.options.num_keep, Some(-3));
    }

    #[test]
    fn from_map_errors_match_ollama() {
        for (v, want) in [
            (
                json!({"temperature": "hot"}),
                r#"option "temperature" must be of type float32"#,
            ),
            (
                json!({"num_ctx": "4096"}),
                r#"option "num_ctx" must be of type integer"#,
            ),
            (
                json!({"main_gpu": true}),
                r#"option "main_gpu" must be of type integer"#,
            ),
            (
                json!({"use_mmap": 1}),
                r#"option "use_mmap" must be of type boolean"#,
            ),
            (
                json!({"stop": "x"}),
                r#"option "stop" must be of type array"#,
            ),
            (
                json!({"stop": ["x", 1]}),
                r#"option "stop" must be of an array of strings"#,
            ),
        ] {
            assert_eq!(Options::from_map(&map(v)).unwrap_err().to_string(), want);
        }
    }

    #[test]
    fn params_from_modelfile_rules() {
        let m = params_from_modelfile([
            ("temperature", "0.7"),
            ("num_ctx", "8192"),
            ("use_mmap", "T"),
            ("stop", "<|eot_id|>"),
            ("stop", "</s>"),
            ("main_gpu", "1"),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(m.clone()),
            json!({"temperature": 0.7, "num_ctx": 8192, "use_mmap": true,
                   "stop": ["<|eot_id|>", "</s>"], "main_gpu": 1})
        );
        assert_eq!(
            String::from_utf8(params_layer_bytes(&m)).unwrap(),
            "{\"main_gpu\":1,\"num_ctx\":8192,\"stop\":[\"\\u003c|eot_id|\\u003e\",\"\\u003c/s\\u003e\"],\"temperature\":0.7,\"use_mmap\":true}\n"
        );
        for (k, v, want) in [
            ("temperature", "hot", "invalid float value [hot]"),
            ("top_k", "1.5", "invalid int value [1.5]"),
            ("use_mmap", "yes", "invalid bool value [yes]"),
            ("mirostat", "1", "unknown parameter 'mirostat'"),
            ("numa", "true", "unknown parameter 'numa'"),
        ] {
            assert_eq!(
                params_from_modelfile([(k, v)]).unwrap_err().to_string(),
                want
            );
        }
    }

    #[test]
    fn params_roundtrip_and_merge() {
        let base = Options::from_map(&map(
            json!({"temperature": 0.7, "stop": ["a"], "top_k": 20}),
        ))
        .unwrap()
        .options;
        let layer = params_layer_bytes(&base.to_map());
        assert_eq!(
            String::from_utf8(layer.clone()).unwrap(),
            "{\"stop\":[\"a\"],\"temperature\":0.7,\"top_k\":20}\n"
        );
        assert_eq!(Options::from_params_json(&layer).unwrap().options, base);

        let req = Options {
            temperature: Some(0.1),
            ..Default::default()
        };
        let merged = Options::defaults().merge(&base).merge(&req);
        assert_eq!(merged.temperature, Some(0.1));
        assert_eq!(merged.top_k, Some(20));
        assert_eq!(merged.stop, Some(vec!["a".to_string()]));
        assert_eq!(merged.top_p, Some(0.9));
        assert_eq!(merged.num_ctx, Some(4096));
        assert_eq!(
            Options::defaults().runner_changes(&merged),
            Vec::<&str>::new()
        );
        let more = merged.merge(&Options {
            num_ctx: Some(8192),
            ..Default::default()
        });
        assert_eq!(merged.runner_changes(&more), vec!["num_ctx"]);
    }

    #[test]
    fn defaults_are_current_ollama() {
        let d = Options::defaults();
        assert_eq!(d.temperature, Some(0.8));
        assert_eq!(
            (d.top_k, d.top_p, d.min_p, d.typical_p),
            (Some(40), Some(0.9), Some(0.0), Some(1.0))
        );
        assert_eq!((d.repeat_penalty, d.repeat_last_n), (Some(1.0), Some(64)));
        assert_eq!(
            (d.num_keep, d.seed, d.num_predict, d.num_ctx),
            (Some(4), Some(-1), Some(-1), Some(4096))
        );
    }

    #[test]
    fn go_formatting() {
        assert_eq!(go_format_float(0.7), "0.7");
        assert_eq!(go_format_float(1.0), "1");
        assert_eq!(go_format_float(1048576.0), "1.048576e+06");
        assert_eq!(go_format_float(123456.0), "123456");
        assert_eq!(go_format_float(1e6), "1e+06");
        assert_eq!(go_format_float(1e21), "1e+21");
        assert_eq!(go_format_float(0.0001), "0.0001");
        assert_eq!(go_format_float(0.00001), "1e-05");
        assert_eq!(go_format_float(-2.5), "-2.5");
        assert_eq!(go_format_value(&json!(40)), "40");
        assert_eq!(go_format_value(&json!(131072)), "131072");
        assert_eq!(go_format_value(&json!(1048576)), "1.048576e+06");
        assert_eq!(
            go_format_value_sharp(&json!("<|eot_id|>")),
            "\"<|eot_id|>\""
        );
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        let text = show_parameters(&map(
            json!({"stop": ["<|start_header_id|>", "<|eot_id|>"], "temperature": 0.6}),
        ));
        assert_eq!(
            text,
            "stop                           \"<|start_header_id|>\"\n\
             stop                           \"<|eot_id|>\"\n\
             temperature                    0.6"
        );
    }
}
