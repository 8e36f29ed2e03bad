//! dbt Cloud: from a DAG run's dbt task to its dbt Cloud run (XCom, else the job's runs),
//! its steps, and the artifacts of the right step; fetched once per run. Real artifacts
//! from real dbt runs are served by a local fake.

use std::path::Path;
use std::sync::Arc;

use crate::common::fake;
use chrono::{TimeZone, Utc};
use serde_json::json;
use tablestat::config::Config;
use tablestat::model::{DbtRunId, Metric, State};
use tablestat::poller::{Engine, PollResult, Prior};
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RUN: i64 = 70_001;

fn artifact(scenario: &str, file: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fake::body(&format!("dbt/{scenario}/{file}")), "application/json")
}

/// A dbt Cloud account whose run 70001 has five steps: clone, deps, build (3), source
/// freshness (4) and docs generate (5, the default for artifact requests).
async fn dbt_cloud(scenario: &str) -> MockServer {
    let server = MockServer::start().await;
    let steps = json!([
        {"run_id": RUN, "account_id": 1, "index": 1, "name": "Clone git repository", "status": 10},
        {"run_id": RUN, "account_id": 1, "index": 2, "name": "Invoke dbt with `dbt deps`", "status": 10},
        {"run_id": RUN, "account_id": 1, "index": 3, "name": "Invoke dbt with `dbt build`", "status": 20},
        {"run_id": RUN, "account_id": 1, "index": 4, "name": "Invoke dbt with `dbt source freshness`", "status": 10},
        {"run_id": RUN, "account_id": 1, "index": 5, "name": "Invoke dbt with `dbt docs generate`", "status": 10}
    ]);
    let run = json!({"status": {"code": 200, "is_success": true, "user_message": "Success!", "developer_message": ""},
        "data": {"id": RUN, "job_definition_id": 42, "status": 20, "status_humanized": "Error", "is_complete": true,
                 "created_at": "2026-11-24 01:00:05.000000+00:00", "finished_at": "2026-11-24T01:01:50.000000Z",
                 "href": "https://ab123.us1.dbt.com/deploy/1/projects/7/runs/70001/", "run_steps": steps}});
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/accounts/1/runs/{RUN}/")))
        .and(header("authorization", "Bearer dbt-cloud-test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run))
        .mount(&server)
        .await;
    let files = format!("/api/v2/accounts/1/runs/{RUN}/artifacts/");
    Mock::given(method("GET"))
        .and(path(format!("{files}run_results.json")))
        .and(query_param("step", "3"))
        .respond_with(artifact(scenario, "run_results.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{files}manifest.json")))
        .and(query_param("step", "3"))
        .respond_with(artifact(scenario, "manifest.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{files}sources.json")))
        .and(query_param("step", "4"))
        .respond_with(artifact(scenario, "sources.json"))
        .mount(&server)
        .await;
    // Anything else (the default step, docs) is not what a board should read.
    Mock::given(method("GET"))
        .and(path_regex(r"/artifacts/"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({"status": {"code": 404, "user_message": "Not found"}})),
        )
        .mount(&server)
        .await;
    server
}

/// Airflow 3 where orders_daily's dbt_build task pushed `job_run_id` (a number, as 3.x returns).
async fn airflow_with_xcom(xcom: Option<serde_json::Value>) -> MockServer {
    let server = fake::airflow3().await;
    let xcom_path = "/api/v2/dags/orders_daily/dagRuns/manual__2026-11-24T01%3A10%3A46.762870%2B00%3A00/taskInstances/dbt_build/xcomEntries/job_run_id";
    let response = match xcom {
        Some(value) => {
            ResponseTemplate::new(200).set_body_json(json!({"key": "job_run_id", "value": value, "map_index": -1}))
        }
        None => {
            ResponseTemplate::new(404).set_body_json(json!({"detail": "XCom entry with key: `job_run_id` not found"}))
        }
    };
    Mock::given(method("GET")).and(path(xcom_path)).respond_with(response).mount(&server).await;
    Mock::given(method("GET"))
        .and(path_regex(r"/xcomEntries/return_value$"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"detail": "not found"})))
        .mount(&server)
        .await;
    server
}

fn config(airflow: &MockServer, dbt: &MockServer, dbt_job: bool, cache: &Path) -> Arc<Config> {
    let mut text = fake::config_text(&airflow.uri(), "v2", "password", &[]);
    text.push_str(&format!(
        "[dbt]\nsource = \"cloud\"\nurl = \"{}\"\naccount_id = 1\ntoken = \"dbt-cloud-test-token\"\ncache_dir = \"{}\"\n",
        dbt.uri(),
        cache.display()
    ));
    for model in ["stg_orders", "stg_payments", "fct_orders", "stg_customers"] {
        text.push_str(&format!(
            "[[product]]\nid = \"{model}\"\ndag = \"orders_daily\"\ntask = \"dbt_build\"\nmodel = \"{model}\"\n"
        ));
        if dbt_job {
            text.push_str("dbt_job = 42\n");
        }
    }
    Arc::new(Config::parse(Path::new("/tmp/tablestat-test.toml"), &text).unwrap())
}

async fn poll(engine: &mut Engine) -> PollResult {
    engine.poll(&Prior::default(), Utc.with_ymd_and_hms(2026, 11, 24, 1, 20, 0).unwrap()).await
}

fn state(result: &PollResult, id: &str, metric: Metric) -> (State, String) {
    let checked = result.checked.iter().find(|c| c.product.id == id).unwrap();
    let v = checked.evaluation.verdict(&metric).unwrap();
    (v.state, v.reason.clone())
}

#[tokio::test]
async fn the_run_behind_the_task_is_found_by_xcom_and_read_from_the_right_steps() {
    let cache = tempfile::tempdir().unwrap();
    let dbt = dbt_cloud("test_failures").await;
    let airflow = airflow_with_xcom(Some(json!(RUN))).await;
    let mut engine = Engine::new(config(&airflow, &dbt, false, cache.path())).unwrap();
    let result = poll(&mut engine).await;

    // orders_daily's task succeeded in Airflow here, yet the build had failures: warnings
    // and failures behind a green task still count, per table.
    assert_eq!(
        state(&result, "stg_orders", Metric::Uniqueness),
        (State::Down, "unique test on order_id failed: 2 duplicated values".into())
    );
    assert_eq!(state(&result, "stg_payments", Metric::Uniqueness).0, State::Up);
    assert_eq!(
        state(&result, "fct_orders", Metric::Freshness),
        (State::Down, "not rebuilt: upstream test unique_stg_orders_order_id failed (and 1 more)".into())
    );
    let evidence = &result.checked[0].evaluation.evidence;
    assert_eq!(evidence.dbt_run_id, Some(DbtRunId::Cloud(RUN)));
    // One run, one manifest, one run_results, one sources.json: 4 requests for 4 products.
    assert_eq!(result.dbt_requests, 4);
    let requests = dbt.received_requests().await.unwrap();
    let steps: Vec<String> =
        requests.iter().filter(|r| r.url.path().contains("/artifacts/")).map(|r| r.url.to_string()).collect();
    assert!(steps.iter().all(|u| u.contains("step=3") || u.contains("sources.json?step=4")), "{steps:?}");

    // The cached artifacts hold the project's names and results: readable by their owner alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = Vec::new();
        let mut dirs = vec![cache.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() { dirs.push(path) } else { files.push(path) }
            }
        }
        assert_eq!(files.len(), 3, "{files:?}");
        for file in files {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }

    // The next poll reads the same run: nothing is fetched again.
    let again = poll(&mut engine).await;
    assert_eq!(again.dbt_requests, 0);

    // A new process (a restart) finds the artifacts in the disk cache: only the run is asked for.
    let mut restarted = Engine::new(config(&airflow, &dbt, false, cache.path())).unwrap();
    assert_eq!(poll(&mut restarted).await.dbt_requests, 1);
}

#[tokio::test]
async fn without_an_xcom_the_jobs_runs_in_the_tasks_time_window_are_used() {
    let cache = tempfile::tempdir().unwrap();
    let dbt = dbt_cloud("all_pass").await;
    let runs = json!({"status": {"code": 200}, "data": [
        {"id": RUN + 5, "job_definition_id": 42, "status": 10, "created_at": "2026-11-25T01:00:00Z"},
        {"id": RUN, "job_definition_id": 42, "status": 10, "created_at": "2026-11-24T01:10:48Z"},
        {"id": RUN - 5, "job_definition_id": 42, "status": 10, "created_at": "2026-11-23T01:00:00Z"}
    ]});
    Mock::given(method("GET"))
        .and(path("/api/v2/accounts/1/runs/"))
        .and(query_param("job_definition_id", "42"))
        .respond_with(ResponseTemplate::new(200).set_body_json(runs))
        .mount(&dbt)
        .await;
    let airflow = airflow_with_xcom(None).await;
    let mut engine = Engine::new(config(&airflow, &dbt, true, cache.path())).unwrap();
    let result = poll(&mut engine).await;
    assert_eq!(result.checked[0].evaluation.evidence.dbt_run_id, Some(DbtRunId::Cloud(RUN)));
    assert!(result.checked.iter().all(|c| c.evaluation.state == State::Up), "{:?}", result.checked[0].evaluation);
}

#[tokio::test]
async fn no_way_to_find_the_run_is_said_plainly() {
    let cache = tempfile::tempdir().unwrap();
    let dbt = dbt_cloud("all_pass").await;
    let airflow = airflow_with_xcom(None).await;
    let mut engine = Engine::new(config(&airflow, &dbt, false, cache.path())).unwrap();
    let result = poll(&mut engine).await;
    // The task succeeded, so the table is up; why the details are missing is said beside it.
    let evaluation = &result.checked[0].evaluation;
    assert_eq!(evaluation.state, State::Up);
    assert_eq!(
        evaluation.note.as_deref(),
        Some(
            "dbt details unavailable: no dbt Cloud run found for task dbt_build in run manual__2026-11-24T01:10:46.762870+00:00: the task pushed no `job_run_id` XCom and the product names no `dbt_job`"
        )
    );
}

#[tokio::test]
async fn a_wrong_token_or_host_is_unknown_with_a_hint() {
    let cache = tempfile::tempdir().unwrap();
    let dbt = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_raw(fake::body("dbt_cloud/error_401_invalid_token_2024.json"), "application/json"),
        )
        .mount(&dbt)
        .await;
    // Make the Airflow task fail, so the artifacts are needed.
    let airflow = airflow_with_xcom(Some(json!("70001"))).await;
    Mock::given(method("POST")).and(path("/api/v2/dags/~/dagRuns/~/taskInstances/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"task_instances": [{
            "dag_id": "orders_daily", "dag_run_id": "manual__2026-11-24T01:10:46.762870+00:00", "task_id": "dbt_build",
            "state": "failed", "start_date": "2026-11-24T01:10:47Z", "end_date": "2026-11-24T01:10:50Z", "try_number": 1}],
            "total_entries": 1})))
        .with_priority(1)
        .mount(&airflow)
        .await;
    let mut engine = Engine::new(config(&airflow, &dbt, false, cache.path())).unwrap();
    let result = poll(&mut engine).await;
    let (state, reason) = state(&result, "stg_orders", Metric::Uniqueness);
    assert_eq!(state, State::Unknown);
    assert!(
        reason
            .contains("401 unauthorized (Invalid token.; check the token, and that `url` is your account's access URL"),
        "{reason}"
    );
    assert!(!reason.contains("dbt-cloud-test-token"));
}

/// Per-run bounds: a run of more steps than tablestat reads (a 5,000-step run once made one
/// poll last an hour and a half) is refused naming the bound, and remembered: the next poll
/// asks dbt Cloud nothing for it.
#[tokio::test]
async fn a_run_past_the_bounds_is_refused_and_not_fetched_again() {
    use tablestat::sources::dbt_cloud::MAX_RUN_STEPS;
    let cache = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    let steps: Vec<serde_json::Value> = (1..=MAX_RUN_STEPS + 1)
        .map(|i| json!({"run_id": RUN, "account_id": 1, "index": i, "name": "Invoke dbt with `dbt build`", "status": 10}))
        .collect();
    let run = json!({"status": {"code": 200, "is_success": true},
        "data": {"id": RUN, "job_definition_id": 42, "status": 10, "is_complete": true, "run_steps": steps}});
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/accounts/1/runs/{RUN}/")))
        .respond_with(ResponseTemplate::new(200).set_body_json(run))
        .mount(&server)
        .await;
    let airflow = airflow_with_xcom(Some(json!(RUN))).await;
    let mut engine = Engine::new(config(&airflow, &server, false, cache.path())).unwrap();
    let result = poll(&mut engine).await;
    // The task succeeded: up all the same, with the reason the details are missing.
    let note = |result: &PollResult| {
        result
            .checked
            .iter()
            .find(|c| c.product.id == "stg_orders")
            .unwrap()
            .evaluation
            .note
            .clone()
            .unwrap_or_default()
    };
    let reason = note(&result);
    assert!(
        reason.contains(&format!(
            "has {} steps, more than the {MAX_RUN_STEPS} tablestat reads for one run",
            MAX_RUN_STEPS + 1
        )),
        "{reason}"
    );
    let asked = server.received_requests().await.unwrap().len();
    assert_eq!(asked, 1, "the run only: no artifact of it");
    let again = poll(&mut engine).await;
    assert_eq!(note(&again), reason);
    assert_eq!(server.received_requests().await.unwrap().len(), asked, "remembered: nothing asked again");
}
