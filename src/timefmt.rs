//! Times as people read them: "31 h ago", "2026-11-23 06:05 UTC".

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The zone day bars and typed times use: the machine's local offset (`TZ` honoured).
pub fn display_zone() -> chrono::FixedOffset {
    *chrono::Local::now().offset()
}

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

/// `2026-11-23 06:05 UTC`. Written field by field: chrono's `format` parses its pattern on
/// every call, and every reason of every product of every poll carries a stamp.
pub fn stamp(t: DateTime<Utc>) -> String {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format("%Y-%m-%d %H:%M UTC").to_string();
    }
    let mut text = String::with_capacity(20);
    push_digits(&mut text, year as u32, 4);
    text.push('-');
    push_month_day_time(&mut text, &t);
    text.push_str(" UTC");
    text
}

/// `11-24 14:05`, the board's short time, in whatever zone `t` is in.
pub fn month_day_time<T: Datelike + Timelike>(t: &T) -> String {
    let mut text = String::with_capacity(11);
    push_month_day_time(&mut text, t);
    text
}

fn push_month_day_time<T: Datelike + Timelike>(text: &mut String, t: &T) {
    for (n, then) in [(t.month(), '-'), (t.day(), ' '), (t.hour(), ':')] {
        push_digits(text, n, 2);
        text.push(then);
    }
    push_digits(text, t.minute(), 2);
}

/// `n` with `width` digits, zeros in front.
fn push_digits(text: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        text.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
    }
}

/// RFC 3339 with a `Z`, seconds precision: the JSON contract's time format.
/// Seconds since the epoch as [`stamp`] does it.
pub fn stamp_at(ts: i64) -> String {
    stamp(DateTime::from_timestamp(ts, 0).unwrap_or_default())
}

/// Seconds since the epoch as RFC 3339; empty for a time chrono cannot hold.
pub fn rfc3339_at(ts: i64) -> String {
    DateTime::from_timestamp(ts, 0).map(rfc3339).unwrap_or_default()
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Unix times written as RFC 3339 in JSON, as the status document writes them
/// (`#[serde(serialize_with = "crate::timefmt::json::at")]`).
pub mod json {
    pub fn at<S: serde::Serializer>(ts: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339_at(*ts))
    }

    pub fn maybe_at<S: serde::Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => at(ts, s),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_as_chrono_would_write_them() {
        let times =
            ["2026-11-23T06:05:59Z", "1999-01-02T00:00:00Z", "2026-02-28T23:59:59.999Z", "0900-12-31T09:09:00Z"];
        for text in times {
            let t: DateTime<Utc> = text.parse().expect("a time");
            assert_eq!(stamp(t), t.format("%Y-%m-%d %H:%M UTC").to_string(), "{text}");
            let zone = chrono::FixedOffset::east_opt(-(5 * 3600 + 30 * 60)).unwrap();
            let local = t.with_timezone(&zone);
            assert_eq!(month_day_time(&local), local.format("%m-%d %H:%M").to_string(), "{text}");
        }
    }

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
