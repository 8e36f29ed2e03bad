//! Real dbt artifacts from real dbt runs (dbt-core 1.11, the reference project), built into
//! the binary so the demo needs nothing on disk.

macro_rules! scenario {
    ($name:literal, $file:expr) => {
        match $file {
            "run_results.json" => {
                Some(&include_bytes!(concat!("../../tests/fixtures/dbt/", $name, "/run_results.json"))[..])
            }
            "manifest.json" => Some(&include_bytes!(concat!("../../tests/fixtures/dbt/", $name, "/manifest.json"))[..]),
            _ => None,
        }
    };
}

/// One artifact of one scenario, if that run wrote it.
pub fn file(scenario: &str, name: &str) -> Option<&'static [u8]> {
    let sources = |s: &str| match s {
        "all_pass" => Some(&include_bytes!("../../tests/fixtures/dbt/all_pass/sources.json")[..]),
        "test_failures" => Some(&include_bytes!("../../tests/fixtures/dbt/test_failures/sources.json")[..]),
        "source_stale" => Some(&include_bytes!("../../tests/fixtures/dbt/source_stale/sources.json")[..]),
        _ => None,
    };
    if name == "sources.json" {
        return sources(scenario);
    }
    match scenario {
        "all_pass" => scenario!("all_pass", name),
        "test_failures" => scenario!("test_failures", name),
        "source_stale" => scenario!("source_stale", name),
        "model_error" => scenario!("model_error", name),
        _ => None,
    }
}

/// A run_results.json with its times moved so that the run ended at `at`: the artifacts
/// were written by a real dbt run on another day, and the demo's reasons say when a table
/// was refreshed.
pub fn moved_to(bytes: &[u8], at: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    use chrono::{DateTime, Utc};
    use serde_json::Value;
    let Ok(mut doc) = serde_json::from_slice::<Value>(bytes) else { return bytes.to_vec() };
    let generated = doc["metadata"]["generated_at"].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
    let Some(shift) = generated.map(|g| at - g) else { return bytes.to_vec() };
    fn shift_times(value: &mut Value, shift: chrono::Duration) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    let time = inner.as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
                    match time {
                        Some(t) if key.ends_with("_at") => {
                            *inner = Value::String((t + shift).to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                        }
                        _ => shift_times(inner, shift),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| shift_times(item, shift)),
            _ => {}
        }
    }
    shift_times(&mut doc, shift);
    serde_json::to_vec(&doc).unwrap_or_else(|_| bytes.to_vec())
}
