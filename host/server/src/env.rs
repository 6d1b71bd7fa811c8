//! Server-wide settings of Ollama's environment (`envconfig`), read where they are used:
//! values are trimmed of spaces and quotes as Ollama trims them, and an unparsable value
//! falls back to the default, as Ollama's does.

use std::time::Duration;

fn var(name: &str) -> Option<String> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn number(name: &str) -> Option<u64> {
    var(name).and_then(|v| v.parse().ok())
}

/// `OLLAMA_CONTEXT_LENGTH`: num_ctx when neither the request nor the Modelfile sets it.
pub fn context_length() -> Option<i64> {
    number("OLLAMA_CONTEXT_LENGTH").filter(|&n| n > 0).map(|n| n as i64)
}

/// `OLLAMA_MAX_LOADED_MODELS` (0 = Ollama's CPU default of 3).
pub fn max_loaded_models() -> usize {
    match number("OLLAMA_MAX_LOADED_MODELS") {
        Some(n) if n > 0 => n as usize,
        _ => 3,
    }
}

/// `OLLAMA_MAX_QUEUE`: requests that may wait for a busy model (default 512).
pub fn max_queue() -> usize {
    number("OLLAMA_MAX_QUEUE").map_or(512, |n| n as usize)
}

/// `OLLAMA_LOAD_TIMEOUT` (a Go duration or seconds; default 5m, 0 or negative = 5m too).
pub fn load_timeout() -> Duration {
    let default = Duration::from_secs(300);
    let Some(v) = var("OLLAMA_LOAD_TIMEOUT") else { return default };
    match v.parse::<i64>() {
        Ok(secs) if secs > 0 => Duration::from_secs(secs as u64),
        Ok(_) => default,
        Err(_) => match crate::keep_alive::parse_go_duration(&v) {
            Ok(Some(d)) if !d.is_zero() => d,
            _ => default,
        },
    }
}
