//! A dbt run is parsed once: the next poll of an unchanged local `target/` reuses the
//! parsed run (the same allocation, so nothing was read or parsed again), and a new dbt
//! invocation, which rewrites the files, is read afresh. (dbt Cloud runs are kept by run
//! id: `sources::dbt_cloud` shows the next poll makes no request, and parsing only follows
//! a fetch.)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use tablestat::config::DbtConfig;
use tablestat::facts::{DagRunFacts, DbtRun, DbtView, RunState, TaskFacts, TaskLookup};
use tablestat::sources::dbt_evidence::DbtEvidence;

fn run() -> DagRunFacts<'static> {
    let t = Utc.with_ymd_and_hms(2026, 11, 24, 1, 21, 0).unwrap();
    DagRunFacts {
        run_id: "scheduled__2026-11-24T01:00:00+00:00",
        state: RunState::Success,
        data_interval_end: Some(t),
        start_date: Some(t),
        end_date: Some(t),
        task: TaskLookup::Found(TaskFacts {
            task_id: "dbt_build",
            state: Some("success"),
            start_date: Some(t),
            end_date: Some(t),
            try_number: Some(1),
        }),
    }
}

async fn read(evidence: &mut DbtEvidence) -> Arc<DbtRun> {
    match evidence.for_run(None, &crate::common::product("stg_orders"), "shop_daily", &run()).await {
        DbtView::Run(run) => run,
        other => panic!("no run: {other:?}"),
    }
}

#[tokio::test]
async fn an_unchanged_target_is_not_parsed_again() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["manifest.json", "run_results.json", "sources.json"] {
        std::fs::copy(crate::common::fixture(&format!("dbt/test_failures/{file}")), dir.path().join(file)).unwrap();
    }
    let config = DbtConfig::Local { target_dir: dir.path().to_path_buf() };
    let mut evidence = DbtEvidence::new(Some(&config), Path::new("/"), BTreeMap::new()).unwrap();

    let first = read(&mut evidence).await;
    let second = read(&mut evidence).await;
    assert!(Arc::ptr_eq(&first, &second), "the second poll parsed the same files again");

    // The next dbt invocation writes new files: they are read.
    let results = std::fs::read_to_string(dir.path().join("run_results.json")).unwrap();
    let next = results.replace("045bff4e-109f-4c0f-913b-c4ca76ca24a7", "045bff4e-109f-4c0f-913b-c4ca76ca24a8-next");
    assert_ne!(results, next);
    std::fs::write(dir.path().join("run_results.json"), next).unwrap();
    let third = read(&mut evidence).await;
    assert!(!Arc::ptr_eq(&second, &third));
    assert_eq!(third.id.to_string(), "045bff4e-109f-4c0f-913b-c4ca76ca24a8-next");
    let fourth = read(&mut evidence).await;
    assert!(Arc::ptr_eq(&third, &fourth));
}
