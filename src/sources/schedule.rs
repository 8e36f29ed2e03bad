//! A DAG's schedule -> how often to poll it: period / 12, clamped to [1 min, 1 h].
//!
//! Airflow 2 sends `schedule_interval` as `{"__type": "CronExpression", "value": "@daily"}`
//! or `{"__type": "TimeDelta", "days", "seconds", "microseconds"}` (or `null`); Airflow 3 sends
//! `timetable_summary`, a cron string even for presets (`"0 0 * * *"`), `"Asset"`, or `null`.

use std::time::Duration;

use serde_json::Value;

use crate::sources::airflow::ScheduleV1;

const MIN_INTERVAL: Duration = Duration::from_secs(60);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// For DAGs run by triggers or datasets: they can run at any time.
pub const UNSCHEDULED_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// How often a DAG with this period should be polled.
pub fn poll_interval(period: Option<Duration>) -> Duration {
    match period {
        Some(p) => (p / 12).clamp(MIN_INTERVAL, MAX_INTERVAL),
        None => UNSCHEDULED_INTERVAL,
    }
}

/// The period of an Airflow 2 `schedule_interval` value.
pub fn period_v1(schedule: &ScheduleV1) -> Option<Duration> {
    let count = |field: &Option<Value>| field.as_ref().and_then(Value::as_u64).unwrap_or(0);
    let total = match schedule.kind.as_ref()?.as_str()? {
        "CronExpression" => return cron_period(schedule.value.as_ref()?.as_str()?),
        "TimeDelta" => count(&schedule.days) * 86_400 + count(&schedule.seconds),
        "RelativeDelta" => {
            count(&schedule.months) * 30 * 86_400
                + count(&schedule.days) * 86_400
                + count(&schedule.hours) * 3600
                + count(&schedule.minutes) * 60
        }
        _ => return None,
    };
    Some(Duration::from_secs(total)).filter(|d| !d.is_zero())
}

/// The period of an Airflow 3 `timetable_summary`.
pub fn period_v2(summary: &str) -> Option<Duration> {
    if let Some(period) = cron_period(summary) {
        return Some(period);
    }
    // A timedelta schedule reads like Python's str(timedelta): "0:30:00", "1 day, 0:00:00".
    let (days, clock) = match summary.split_once(", ") {
        Some((d, c)) => (d.split_whitespace().next()?.parse::<u64>().ok()?, c),
        None => (0, summary),
    };
    let parts: Vec<u64> =
        clock.split(':').map(|p| p.split('.').next().unwrap_or(p).parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = parts[..] else { return None };
    Some(Duration::from_secs(days * 86_400 + h * 3600 + m * 60 + s)).filter(|d| !d.is_zero())
}

/// A rough period for a cron expression or preset: enough to pick a poll interval.
pub fn cron_period(expr: &str) -> Option<Duration> {
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86_400;
    let secs = match expr.trim() {
        "@hourly" => HOUR,
        "@daily" | "@midnight" => DAY,
        "@weekly" => 7 * DAY,
        "@monthly" => 30 * DAY,
        "@quarterly" => 91 * DAY,
        "@yearly" | "@annually" => 365 * DAY,
        other => {
            let fields: Vec<&str> = other.split_whitespace().collect();
            let [minute, hour, dom, month, dow] = fields[..] else {
                return None;
            };
            let every = |field: &str, unit: u64| -> Option<u64> {
                if field == "*" {
                    Some(unit)
                } else if let Some(step) = field.strip_prefix("*/") {
                    step.parse::<u64>().ok().map(|s| s * unit)
                } else {
                    None
                }
            };
            let count = |field: &str| field.split(',').count() as u64;
            if let Some(step) = every(minute, MIN) {
                step
            } else if let Some(step) = every(hour, HOUR) {
                step / count(minute).max(1)
            } else if dom == "*" && dow == "*" && month == "*" {
                DAY / count(hour).max(1)
            } else if dom == "*" && dow != "*" {
                7 * DAY / count(dow).max(1)
            } else if month == "*" {
                30 * DAY / count(dom).max(1)
            } else {
                365 * DAY / count(month).max(1)
            }
        }
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: u64 = 3600;

    #[test]
    fn periods_from_both_majors() {
        let v1 = |schedule: Value| period_v1(&serde_json::from_value(schedule).expect("a schedule"));
        let cases: [(Option<Duration>, Option<u64>); 10] = [
            (v1(json!({"__type": "CronExpression", "value": "@daily"})), Some(24 * H)),
            (v1(json!({"__type": "CronExpression", "value": "@hourly"})), Some(H)),
            (v1(json!({"__type": "CronExpression", "value": "0 6 * * *"})), Some(24 * H)),
            (v1(json!({"__type": "CronExpression", "value": "Dataset"})), None),
            (v1(json!({"__type": "TimeDelta", "days": 0, "seconds": 1800, "microseconds": 0})), Some(1800)),
            (v1(json!({"__type": "RelativeDelta", "months": 1, "days": 0, "hours": 0, "minutes": 0})), Some(720 * H)),
            (v1(json!({"__type": "TimeDelta", "days": 0, "seconds": 0})), None),
            (period_v2("0 0 * * 0"), Some(7 * 24 * H)),
            (period_v2("Asset"), None),
            (period_v2("0:30:00"), Some(1800)),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got.map(|d| d.as_secs()), want, "case {i}");
        }
        assert_eq!(cron_period("*/15 * * * *"), Some(Duration::from_secs(900)));
        assert_eq!(cron_period("0,30 * * * *"), Some(Duration::from_secs(1800)));
        assert_eq!(period_v2("1 day, 0:00:00"), Some(Duration::from_secs(24 * H)));
    }

    #[test]
    fn intervals_follow_the_schedule_within_bounds() {
        let cases = [(Some(H), 300), (Some(24 * H), 3600), (Some(7 * 24 * H), 3600), (Some(300), 60), (None, 900)];
        for (period, interval) in cases {
            assert_eq!(poll_interval(period.map(Duration::from_secs)).as_secs(), interval, "{period:?}");
        }
    }
}
