//! `keep_alive` as Ollama reads it: a JSON number is seconds (negative = forever), a string
//! is a Go duration ("5m", "1h30m", "-1m", "0"); a bare number in a string is an error in the
//! API but accepted by `OLLAMA_KEEP_ALIVE`.

use std::time::Duration;

use serde_json::Value;

/// None = forever.
pub type KeepAlive = Option<Duration>;

pub fn from_json(v: &Value) -> Result<Option<KeepAlive>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            let secs = n.as_f64().unwrap_or(0.0);
            Ok(Some(if secs < 0.0 { None } else { Some(Duration::from_secs_f64(secs)) }))
        }
        Value::String(s) => parse_go_duration(s).map(Some),
        Value::Bool(_) => Err("Unsupported type: 'bool'".into()),
        Value::Array(_) => Err("Unsupported type: 'slice'".into()),
        Value::Object(_) => Err("Unsupported type: 'map'".into()),
    }
}

/// `OLLAMA_KEEP_ALIVE`: a Go duration or plain seconds.
pub fn from_env(s: &str) -> KeepAlive {
    let s = s.trim().trim_matches(|c| c == '"' || c == '\'');
    if let Ok(secs) = s.parse::<i64>() {
        return if secs < 0 { None } else { Some(Duration::from_secs(secs as u64)) };
    }
    parse_go_duration(s).unwrap_or(Some(Duration::from_secs(300)))
}

/// Go's time.ParseDuration, with negative meaning forever.
pub fn parse_go_duration(s: &str) -> Result<KeepAlive, String> {
    let err = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(Some(Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{s}\""));
        }
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\"")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if neg {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(total)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_numbers_are_seconds_and_negative_is_forever() {
        assert_eq!(from_json(&json!(10)).unwrap(), Some(Some(Duration::from_secs(10))));
        assert_eq!(from_json(&json!(1.5)).unwrap(), Some(Some(Duration::from_millis(1500))));
        assert_eq!(from_json(&json!(-1)).unwrap(), Some(None));
        assert_eq!(from_json(&json!(0)).unwrap(), Some(Some(Duration::ZERO)));
        assert_eq!(from_json(&Value::Null).unwrap(), None);
    }

    #[test]
    fn go_duration_strings() {
        let cases = [
            ("5m", Some(Duration::from_secs(300))),
            ("1h30m", Some(Duration::from_secs(5400))),
            ("0", Some(Duration::ZERO)),
            ("-1m", None),
            ("1.5s", Some(Duration::from_millis(1500))),
            ("250ms", Some(Duration::from_millis(250))),
        ];
        for (s, want) in cases {
            assert_eq!(parse_go_duration(s).unwrap(), want, "{s}");
        }
        assert_eq!(from_json(&json!("abc")).unwrap_err(), "time: invalid duration \"abc\"");
        assert_eq!(from_json(&json!("300")).unwrap_err(), "time: missing unit in duration \"300\"");
        assert_eq!(from_json(&json!(true)).unwrap_err(), "Unsupported type: 'bool'");
    }

    #[test]
    fn env_accepts_plain_seconds() {
        assert_eq!(from_env("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(from_env("10m"), Some(Duration::from_secs(600)));
        assert_eq!(from_env("-1"), None);
    }
}
