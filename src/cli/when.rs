//! Times typed by people: `now`, `+30m` / `30m` (from now), RFC 3339, or `YYYY-MM-DD HH:MM`
//! in the display zone.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    // A while ago: `-3h`, `3h ago`.
    if let Some(ago) = text.strip_prefix('-').or_else(|| text.strip_suffix(" ago")) {
        if let Ok(d) = humantime::parse_duration(ago.trim()) {
            return Ok(now - chrono::Duration::from_std(d).map_err(|e| e.to_string())?);
        }
    }
    let relative = text.strip_prefix('+').unwrap_or(text);
    if let Ok(d) = humantime::parse_duration(relative) {
        return Ok(now + chrono::Duration::from_std(d).map_err(|e| e.to_string())?);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            if let Some(t) = crate::timefmt::display_zone().from_local_datetime(&naive).single() {
                return Ok(t.with_timezone(&Utc));
            }
        }
    }
    Err(format!(
        "`{text}` is not a time: write `now`, a duration from now (`+30m`, `2h`) or ago (`-3h`, `3h ago`), `2026-11-26 14:00` or `2026-11-26T14:00:00Z`"
    ))
}

/// `--at`: a moment of the past, as Unix time; the future is refused (history has none).
pub fn past_moment(text: &str, now: DateTime<Utc>) -> Result<i64, crate::failure::Failure> {
    let usage = |m: String| crate::failure::Failure::new(crate::failure::EXIT_USAGE, format!("--at {m}"));
    let at = parse_time(text, now).map_err(usage)?;
    if at > now {
        return Err(usage(format!(
            "{}: that is in the future; history goes up to now (`-3h`, `2026-11-20 06:00`)",
            crate::timefmt::stamp(at)
        )));
    }
    Ok(at.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_people_type() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("+30m", now).unwrap(), now + chrono::Duration::minutes(30));
        assert_eq!(parse_time("2h", now).unwrap(), now + chrono::Duration::hours(2));
        assert_eq!(
            parse_time("2026-11-27T08:00:00Z", now).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 27, 8, 0, 0).unwrap()
        );
        assert!(parse_time("tomorrow-ish", now).unwrap_err().contains("is not a time"));
        assert_eq!(parse_time("-3h", now).unwrap(), now - chrono::Duration::hours(3));
        assert_eq!(parse_time("90 min ago", now).unwrap(), now - chrono::Duration::minutes(90));
        assert!(past_moment("+1h", now).is_err());
        assert_eq!(past_moment("-1h", now).unwrap(), (now - chrono::Duration::hours(1)).timestamp());
    }
}
