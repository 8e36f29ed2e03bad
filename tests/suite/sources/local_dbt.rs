//! A dbt Core `target/` folder as evidence: read when it is from the task's run, refused
//! when it is older (dbt wrote nothing: a parse error leaves yesterday's files).

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use tablestat::sources::local_dbt::read_target;

fn target_from(scenario: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(crate::common::fixture(&format!("dbt/{scenario}"))).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[test]
fn a_target_from_the_tasks_run_is_read() {
    let dir = target_from("test_failures");
    // The build's run_results were generated at 01:21:30; the task started at 01:21.
    let started = Utc.with_ymd_and_hms(2026, 11, 24, 1, 21, 0).unwrap();
    let run = read_target(dir.path(), Some(started), &BTreeMap::new()).unwrap();
    assert_eq!(run.id.to_string(), "045bff4e-109f-4c0f-913b-c4ca76ca24a7");
    assert_eq!(run.index.resolve_model("stg_orders").unwrap().unique_id, "model.shop.stg_orders");
    assert!(run.freshness().is_some());
}

#[test]
fn files_older_than_the_task_are_refused() {
    let dir = target_from("test_failures");
    let started = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
    let err = read_target(dir.path(), Some(started), &BTreeMap::new()).unwrap_err();
    assert_eq!(
        err,
        "target/run_results.json was written at 2026-11-24 01:21 UTC, before the dbt task started at 2026-11-24 03:00 UTC: dbt wrote no results this time (a parse or connection error?)"
    );
}

#[test]
fn a_parse_error_leaves_no_artifacts_and_says_so() {
    let dir = target_from("parse_error");
    let err = read_target(dir.path(), None, &BTreeMap::new()).unwrap_err();
    let expected = format!("run_results.json does not exist: has dbt run in {}?", dir.path().display());
    assert!(err.ends_with(&expected), "{err}");
}

#[test]
fn a_broken_artifact_names_the_file_and_where_it_broke() {
    let dir = target_from("all_pass");
    std::fs::write(dir.path().join("run_results.json"), r#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v9.json"}, "results": [{"unique_id": 5}]}"#).unwrap();
    let err = read_target(dir.path(), None, &BTreeMap::new()).unwrap_err();
    assert!(
        err.starts_with(
            "cannot read dbt run_results.json (schema v9; this tablestat knows v4–v6): invalid type: integer `5`"
        ),
        "{err}"
    );
    assert!(err.contains("at `results[0].unique_id`"), "{err}");
}

/// A symlink loop where run_results.json should be is said as it is, not as "missing".
#[cfg(unix)]
#[test]
fn a_symlink_loop_is_not_called_missing() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("run_results.json");
    let b = dir.path().join("loop.json");
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    let err = read_target(dir.path(), None, &BTreeMap::new()).unwrap_err();
    assert!(err.contains("run_results.json cannot be read") && err.contains("symbolic links"), "{err}");
    assert!(!err.contains("does not exist"), "{err}");
}
