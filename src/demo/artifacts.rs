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
