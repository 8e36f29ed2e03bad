//! Airflow's JSON as it arrives, for both majors in one set of lenient structs.
//! Unknown fields are ignored (3.3 adds many); fields one major lacks are optional.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct DagList {
    pub dags: Vec<WireDag>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireDag {
    pub dag_id: String,
    /// Who the DAG says owns it (`default_args={"owner": …}`); Airflow's default is `airflow`.
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub is_paused: Option<bool>,
    /// Airflow 2.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// Airflow 3 (the inverse of `is_active`).
    #[serde(default)]
    pub is_stale: Option<bool>,
    #[serde(default)]
    pub has_import_errors: Option<bool>,
    #[serde(default)]
    pub fileloc: Option<String>,
    #[serde(default)]
    pub relative_fileloc: Option<String>,
    #[serde(default)]
    pub bundle_name: Option<String>,
    /// Airflow 2.
    #[serde(default, deserialize_with = "schedule_v1")]
    pub schedule_interval: Option<ScheduleV1>,
    /// Airflow 3.
    #[serde(default)]
    pub timetable_summary: Option<String>,
    /// When the scheduler will create the next run (Airflow 2); `null` for DAGs with no
    /// schedule. A time in the past with no new run means the run is late.
    #[serde(default, deserialize_with = "time")]
    pub next_dagrun_create_after: Option<DateTime<Utc>>,
    /// The same for Airflow 3.
    #[serde(default, deserialize_with = "time")]
    pub next_dagrun_run_after: Option<DateTime<Utc>>,
}

/// Airflow's health endpoint (`/api/v1/health`, `/api/v2/monitor/health`); only the
/// scheduler is read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WireHealth {
    #[serde(default)]
    pub scheduler: Option<WireSchedulerHealth>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct WireSchedulerHealth {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "time")]
    pub latest_scheduler_heartbeat: Option<DateTime<Utc>>,
}

/// Airflow 2's `schedule_interval`: `{"__type": "CronExpression", "value": "@daily"}`,
/// `{"__type": "TimeDelta", "days", "seconds", ...}` or `{"__type": "RelativeDelta", ...}`.
/// Read into fields rather than a `serde_json::Value` map, which cost a tree and its keys per
/// DAG per poll; the fields stay values so an odd type in one DAG cannot fail its page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScheduleV1 {
    #[serde(rename = "__type", default)]
    pub kind: Option<Value>,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub months: Option<Value>,
    #[serde(default)]
    pub days: Option<Value>,
    #[serde(default)]
    pub hours: Option<Value>,
    #[serde(default)]
    pub minutes: Option<Value>,
    #[serde(default)]
    pub seconds: Option<Value>,
}

/// A `schedule_interval` that is not an object (never seen, but one DAG must not fail a page
/// of a hundred) reads as no schedule.
fn schedule_v1<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ScheduleV1>, D::Error> {
    struct Lenient;
    impl<'de> Visitor<'de> for Lenient {
        type Value = Option<ScheduleV1>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a schedule object or null")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            ScheduleV1::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_option(Lenient)
}

/// An Airflow timestamp or null: `2026-11-24T01:00:33.083642+00:00` (Airflow 2) or
/// `2026-11-24T01:00:33.083642Z` (Airflow 3), read in place. chrono's general parser took a
/// tenth of a poll's CPU (six timestamps per run and per task instance).
fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    struct Time;
    impl<'de> Visitor<'de> for Time {
        type Value = Option<DateTime<Utc>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 time or null")
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(self)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            parse_time(text).map(Some).ok_or_else(|| E::custom("a time that is not RFC 3339"))
        }
    }
    deserializer.deserialize_option(Time)
}

/// The common shapes by hand; anything else (a leap second, a space for the `T`) as chrono
/// reads it, so whatever was accepted before still is.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    parse_plain_time(text).or_else(|| text.parse().ok())
}

fn parse_plain_time(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let digits = |part: &[u8]| -> Option<u32> {
        part.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (head, rest) = bytes.split_at_checked(19)?;
    if [head[4], head[7], head[10], head[13], head[16]] != *b"--T::" {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(digits(&head[0..4])? as i32, digits(&head[5..7])?, digits(&head[8..10])?)?;
    let (nanos, zone) = match rest.split_first() {
        Some((b'.', fraction)) => {
            let count = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if count == 0 || count > 9 {
                return None;
            }
            (digits(&fraction[..count])? * 10u32.pow(9 - count as u32), &fraction[count..])
        }
        _ => (0, rest),
    };
    let offset_seconds = match zone {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let seconds = i64::from(digits(&[*h1, *h2])? * 3600 + digits(&[*m1, *m2])? * 60);
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let time =
        NaiveTime::from_hms_nano_opt(digits(&head[11..13])?, digits(&head[14..16])?, digits(&head[17..19])?, nanos)?;
    let local = date.and_time(time);
    Some(Utc.from_utc_datetime(&(local - chrono::Duration::seconds(offset_seconds))))
}

#[derive(Debug, Deserialize)]
pub struct RunList {
    pub dag_runs: Vec<WireRun>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireRun {
    pub dag_id: String,
    pub dag_run_id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "time")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// Airflow 3 only; never null there.
    #[serde(default, deserialize_with = "time")]
    pub run_after: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub queued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
pub struct TaskInstanceList {
    pub task_instances: Vec<WireTaskInstance>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireTaskInstance {
    pub dag_id: String,
    pub dag_run_id: String,
    pub task_id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "time")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub try_number: Option<i64>,
    #[serde(default)]
    pub map_index: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct ImportErrorList {
    pub import_errors: Vec<WireImportError>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireImportError {
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub bundle_name: Option<String>,
    #[serde(default)]
    pub stack_trace: Option<String>,
}

impl WireImportError {
    /// The exception line: the last non-empty line of the trace.
    pub fn summary(&self) -> String {
        let trace = self.stack_trace.as_deref().unwrap_or("");
        let line = trace.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("import failed");
        line.chars().filter(|c| !c.is_control()).take(200).collect()
    }
}

#[derive(Debug, Deserialize)]
pub struct XcomEntry {
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Version {
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_read_by_hand_equal_what_chrono_reads() {
        let texts = [
            "2026-11-24T01:00:33.083642+00:00",
            "2026-11-24T01:00:33.083642Z",
            "2026-11-24T01:00:33+02:00",
            "2026-11-24T01:00:33-05:30",
            "2026-11-24T01:00:33.1Z",
            "2026-11-24T01:00:33.123456789Z",
            "2024-02-29T23:59:59.999999+00:00",
            "2026-12-31T23:30:00-01:00",
        ];
        for text in texts {
            let chrono: DateTime<Utc> = text.parse().expect("chrono reads it");
            assert_eq!(parse_plain_time(text), Some(chrono), "{text}");
        }
    }

    #[test]
    fn times_the_hand_reader_declines_go_to_chrono_or_fail() {
        let cases = [
            ("2026-11-24 01:00:33+00:00", true), // a space for the T: chrono's relaxed reading
            ("2016-12-31T23:59:60Z", true),      // a leap second
            ("2026-11-24T01:00:33", false),      // no zone
            ("2026-02-30T01:00:33Z", false),
            ("2026-11-24T01:00:33.Z", false),
            ("2026-11-24T01:00:33.1234567890Z", true), // chrono drops digits past the ninth
            ("2026-11-24T01:00:33+0000", true),
            ("24/11/2026", false),
            ("", false),
            ("2026-11-24T0१:00:33Z", false),
        ];
        for (text, accepted) in cases {
            assert_eq!(parse_plain_time(text), None, "{text}: not one of the plain shapes");
            assert_eq!(parse_time(text), text.parse::<DateTime<Utc>>().ok(), "{text}: as chrono reads it");
            assert_eq!(parse_time(text).is_some(), accepted, "{text}");
        }
    }

    #[test]
    fn a_run_with_null_and_missing_times_decodes_and_a_bad_time_is_an_error() {
        let run: WireRun = serde_json::from_value(json!({
            "dag_id": "d", "dag_run_id": "r", "start_date": null, "end_date": "2026-11-24T01:05:38.208374+00:00"
        }))
        .expect("decodes");
        assert_eq!(run.start_date, None);
        assert_eq!(run.end_date, "2026-11-24T01:05:38.208374Z".parse().ok());
        let bad = serde_json::from_value::<WireRun>(json!({"dag_id": "d", "dag_run_id": "r", "end_date": "soon"}));
        assert!(bad.expect_err("refused").to_string().contains("RFC 3339"));
    }

    #[test]
    fn a_schedule_of_any_shape_never_fails_its_dag() {
        let cases = [
            (json!({"__type": "CronExpression", "value": "@daily"}), Some("CronExpression")),
            (json!({"__type": "TimeDelta", "days": 1, "seconds": 0, "microseconds": 0}), Some("TimeDelta")),
            (json!({"__type": 7, "value": ["odd"]}), None),
            (json!(null), None),
            (json!("@daily"), None),
            (json!([1, {"a": 2}]), None),
            (json!(3.5), None),
            (json!(true), None),
        ];
        for (schedule, kind) in cases {
            let dag: WireDag = serde_json::from_value(json!({"dag_id": "d", "schedule_interval": schedule.clone()}))
                .unwrap_or_else(|e| panic!("{schedule}: {e}"));
            let got = dag.schedule_interval.and_then(|s| s.kind).and_then(|k| k.as_str().map(str::to_string));
            assert_eq!(got.as_deref(), kind, "{schedule}");
        }
    }
}
