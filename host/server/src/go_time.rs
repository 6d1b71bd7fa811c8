//! Times as Go's `time.Time` marshals them, which Ollama's clients parse.

pub fn now_rfc3339() -> String {
    go_time(&chrono::Utc::now())
}

/// A time as Go's `time.Time` marshals it (RFC 3339 with nanoseconds): the fraction without
/// trailing zeros (none when whole), `Z` for a zero offset.
pub fn go_time<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::{Offset, Timelike};
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let frac = format!("{:09}", t.nanosecond() % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        s.push('.');
        s.push_str(frac);
    }
    if t.offset().fix().local_minus_utc() == 0 {
        s.push('Z');
    } else {
        s.push_str(&t.format("%:z").to_string());
    }
    s
}

/// Local time with its offset, as Ollama marshals `modified_at`/`expires_at`.
pub fn go_local_time(t: std::time::SystemTime) -> String {
    go_time(&chrono::DateTime::<chrono::Local>::from(t))
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_as_go_marshals_them() {
        use chrono::TimeZone;
        let utc = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 58, 41).unwrap();
        assert_eq!(super::go_time(&(utc + chrono::Duration::nanoseconds(743_538_800))), "2026-12-01T09:58:41.7435388Z");
        assert_eq!(super::go_time(&utc), "2026-12-01T09:58:41Z");
        let pdt = chrono::FixedOffset::west_opt(7 * 3600).unwrap().with_ymd_and_hms(2025, 5, 10, 8, 6, 48).unwrap();
        assert_eq!(super::go_time(&(pdt + chrono::Duration::nanoseconds(639_712_648))), "2025-05-10T08:06:48.639712648-07:00");
    }
}
