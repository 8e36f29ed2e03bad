//! Times as people read them: "31 h ago", "2026-11-23 06:05 UTC".

use chrono::{DateTime, Utc};

/// A compact duration: `45 s`, `12 min`, `31 h`, `3 d`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        // Under 10 h the minutes still matter ("1 h 40 min" late is not "1 h" late).
        3600..36_000 if s % 3600 >= 60 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        3600..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// `12 min ago`, or `just now` under 5 s.
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    if secs < 5 { "just now".to_string() } else { format!("{} ago", span(secs)) }
}

/// `2026-11-23 06:05 UTC`
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// RFC 3339 with a `Z`, seconds precision: the JSON contract's time format.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_pick_a_readable_unit() {
        let cases = [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min"),
            (3599, "59 min"),
            (3600, "1 h"),
            (31 * 3600, "31 h"),
            (47 * 3600, "47 h"),
            (48 * 3600, "2 d"),
            (-5, "0 s"),
        ];
        for (secs, text) in cases {
            assert_eq!(span(secs), text, "{secs}");
        }
    }
}
