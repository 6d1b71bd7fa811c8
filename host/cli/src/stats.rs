//! `run --verbose`: the timings of a reply, printed to stderr as ollama prints them.

use serde_json::Value;

/// Go's `time.Duration.String` for a count of nanoseconds ("1.5s", "45.123ms", "812µs").
pub fn go_duration(ns: u64) -> String {
    fn trimmed(v: f64, unit: &str) -> String {
        let s = format!("{v:.9}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        format!("{s}{unit}")
    }
    match ns {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => trimmed(n as f64 / 1e3, "µs"),
        n if n < 1_000_000_000 => trimmed(n as f64 / 1e6, "ms"),
        n if n < 60_000_000_000 => trimmed(n as f64 / 1e9, "s"),
        n => {
            let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
            let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
            let secs = trimmed(rest as f64 / 1e9, "s");
            if h > 0 {
                format!("{h}h{m}m{secs}")
            } else {
                format!("{m}m{secs}")
            }
        }
    }
}

/// The lines ollama's `--verbose` prints for a final chunk.
pub fn lines(v: &Value) -> Vec<String> {
    let ns = |k: &str| v[k].as_u64().unwrap_or(0);
    let rate = |count: u64, d: u64| if d == 0 { 0.0 } else { count as f64 / (d as f64 / 1e9) };
    let (pc, pd, ec, ed) = (ns("prompt_eval_count"), ns("prompt_eval_duration"), ns("eval_count"), ns("eval_duration"));
    vec![
        format!("total duration:       {}", go_duration(ns("total_duration"))),
        format!("load duration:        {}", go_duration(ns("load_duration"))),
        format!("prompt eval count:    {pc} token(s)"),
        format!("prompt eval duration: {}", go_duration(pd)),
        format!("prompt eval rate:     {:.2} tokens/s", rate(pc, pd)),
        format!("eval count:           {ec} token(s)"),
        format!("eval duration:        {}", go_duration(ed)),
        format!("eval rate:            {:.2} tokens/s", rate(ec, ed)),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_as_go_prints_them() {
        let cases = [(0, "0s"), (812, "812ns"), (812_000, "812µs"), (45_123_000, "45.123ms"), (1_500_000_000, "1.5s"), (61_000_000_000, "1m1s"), (3_723_500_000_000, "1h2m3.5s")];
        for (ns, want) in cases {
            assert_eq!(super::go_duration(ns), want);
        }
    }
}
