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

/// The log level `OLLAMA_DEBUG` asks for, as Ollama's `LogLevel`: a true boolean (`1`, `t`,
/// `true`, …) is debug; another non-zero integer n is slog level -4n (2 = trace, -1 = warn,
/// -2 = error); anything else, or nothing, is info.
pub fn log_level() -> tracing::Level {
    log_level_of(var("OLLAMA_DEBUG").as_deref())
}

pub fn log_level_of(v: Option<&str>) -> tracing::Level {
    use tracing::Level;
    let Some(v) = v else { return Level::INFO };
    if matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True") {
        return Level::DEBUG;
    }
    match v.parse::<i64>().map(|n| n.saturating_mul(-4)) {
        Ok(l) if l <= -8 => Level::TRACE,
        Ok(l) if l < 0 => Level::DEBUG,
        Ok(l) if l >= 8 => Level::ERROR,
        Ok(l) if l >= 4 => Level::WARN,
        _ => Level::INFO,
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    #[test]
    fn ollama_debug_levels() {
        // (OLLAMA_DEBUG, level)
        let cases = [
            (None, Level::INFO),
            (Some("1"), Level::DEBUG),
            (Some("true"), Level::DEBUG),
            (Some("T"), Level::DEBUG),
            (Some("2"), Level::TRACE),
            (Some("0"), Level::INFO),
            (Some("false"), Level::INFO),
            (Some("-1"), Level::WARN),
            (Some("-2"), Level::ERROR),
            (Some("yes"), Level::INFO),
        ];
        for (v, want) in cases {
            assert_eq!(super::log_level_of(v), want, "{v:?}");
        }
    }
}
