//! A simulated day against dbt Cloud: ten hourly DAGs, each run's dbt task a dbt Cloud job
//! run (found by its `job_run_id` XCom), 100 products, a poll every five minutes (what the
//! auto interval gives an hourly DAG). Counted, not timed: dbt Cloud requests per simulated
//! minute stay within tablestat's budget (50 a minute, 1 % of an account's 5,000), the fake
//! answers no 429, and each run costs its requests once (run, results, manifest, sources).
//!
//! Tokio's clock is paused and moved by hand with the simulated one, so the client's
//! request budget (a window of tokio time) sees the day as it would pass. A blocking task
//! held for the whole test keeps the paused clock from jumping while requests wait on the
//! network (tokio does not auto-advance while one runs); it also ends the test if a poll
//! ever stops, waiting on a budget that frozen time would never free.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tablestat::config::Config;
use tablestat::model::State;
use tablestat::poller::{Engine, Prior};
use tablestat::sources::dbt_cloud::REQUESTS_PER_MINUTE;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const DAGS: i64 = 10;
const PRODUCTS_PER_DAG: usize = 10;

fn day_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
}

/// The simulated clock both fakes read, in seconds since the day started.
type Clock = Arc<AtomicI64>;

fn hours_done(clock: &Clock) -> i64 {
    // A run starts on the hour and finishes six minutes later.
    (clock.load(Ordering::SeqCst) - 6 * 60).div_euclid(3600)
}

fn run_id(hour: i64) -> String {
    format!("scheduled__h{hour:03}")
}

fn stamp(hour: i64, minute: i64) -> String {
    (day_start() + Duration::hours(hour) + Duration::minutes(minute)).to_rfc3339()
}

/// dbt Cloud run id of a DAG's run of an hour.
fn cloud_run(dag: i64, hour: i64) -> i64 {
    100_000 + dag * 1000 + hour
}

struct Airflow {
    clock: Clock,
}

impl Respond for Airflow {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let hour = hours_done(&self.clock);
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let ids = |key: &str| -> Vec<String> {
            body[key].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect()
        };
        let path = request.url.path();
        let answer = match path {
            "/api/v1/dags" => json!({"total_entries": DAGS, "dags": (0..DAGS).map(|d| json!({
                "dag_id": format!("dag_{d}"), "is_paused": false, "is_active": true, "has_import_errors": false,
                "schedule_interval": {"__type": "CronExpression", "value": "0 * * * *"}
            })).collect::<Vec<_>>()}),
            "/api/v1/dags/~/dagRuns/list" => {
                json!({"total_entries": DAGS, "dag_runs": ids("dag_ids").iter().map(|d| json!({
                "dag_id": d, "dag_run_id": run_id(hour), "state": "success", "run_type": "scheduled",
                "start_date": stamp(hour, 0), "end_date": stamp(hour, 6), "data_interval_end": stamp(hour, 0)
            })).collect::<Vec<_>>()})
            }
            "/api/v1/dags/~/dagRuns/~/taskInstances/list" => {
                let runs = ids("dag_run_ids");
                json!({"total_entries": DAGS, "task_instances": ids("dag_ids").iter().flat_map(|d| runs.iter().map(move |r| json!({
                    "dag_id": d, "dag_run_id": r, "task_id": "dbt_build", "state": "success", "try_number": 1,
                    "start_date": stamp(hour, 0), "end_date": stamp(hour, 6)
                }))).collect::<Vec<_>>()})
            }
            xcom if xcom.ends_with("/taskInstances/dbt_build/xcomEntries/job_run_id") => {
                // /api/v1/dags/dag_3/dagRuns/scheduled__h007/...: Airflow 2 returns str().
                let parts: Vec<&str> = xcom.split('/').collect();
                let dag: i64 = parts[4].trim_start_matches("dag_").parse().unwrap();
                let hour: i64 = parts[6].trim_start_matches("scheduled__h").parse().unwrap();
                json!({"key": "job_run_id", "value": cloud_run(dag, hour).to_string()})
            }
            other => return ResponseTemplate::new(404).set_body_json(json!({"detail": format!("no {other}")})),
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

/// dbt Cloud with the account's limit set to tablestat's budget: a 51st request in a
/// simulated minute is answered 429, and counted.
struct DbtCloud {
    clock: Clock,
    per_minute: Arc<Mutex<BTreeMap<i64, usize>>>,
    refused: Arc<AtomicI64>,
    manifest: String,
    run_results: String,
    sources: String,
}

impl Respond for DbtCloud {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let minute = self.clock.load(Ordering::SeqCst) / 60;
        let mut counts = self.per_minute.lock().unwrap();
        let count = counts.entry(minute).or_default();
        *count += 1;
        if *count > REQUESTS_PER_MINUTE {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(429).set_body_json(json!({"status": {"code": 429}}));
        }
        let path = request.url.path();
        let file = |text: &str| ResponseTemplate::new(200).set_body_raw(text.to_string(), "application/json");
        if path.ends_with("/artifacts/manifest.json") {
            return file(&self.manifest);
        }
        if path.ends_with("/artifacts/run_results.json") {
            return file(&self.run_results);
        }
        if path.ends_with("/artifacts/sources.json") {
            return file(&self.sources);
        }
        let id: i64 = path.trim_end_matches('/').rsplit('/').next().unwrap().parse().unwrap();
        ResponseTemplate::new(200).set_body_json(json!({"data": {
            "id": id, "job_definition_id": 42, "status": 10, "status_humanized": "Success",
            "created_at": stamp(hours_done(&self.clock), 0), "finished_at": stamp(hours_done(&self.clock), 6),
            "run_steps": [
                {"index": 1, "name": "Invoke dbt with `dbt build`", "status": 10},
                {"index": 2, "name": "Invoke dbt with `dbt source freshness`", "status": 10}
            ]
        }}))
    }
}

#[tokio::test(start_paused = true)]
async fn a_day_of_polling_stays_within_the_dbt_cloud_budget() {
    let (finished, wait) = std::sync::mpsc::channel::<()>();
    let mut watchdog =
        tokio::task::spawn_blocking(move || wait.recv_timeout(std::time::Duration::from_secs(300)).is_err());
    let clock: Clock = Arc::new(AtomicI64::new(0));
    let airflow = MockServer::start().await;
    Mock::given(any()).respond_with(Airflow { clock: clock.clone() }).mount(&airflow).await;
    let per_minute = Arc::new(Mutex::new(BTreeMap::new()));
    let refused = Arc::new(AtomicI64::new(0));
    let dbt = MockServer::start().await;
    let fixture = |file: &str| crate::common::fake::body(&format!("dbt/all_pass/{file}"));
    Mock::given(any())
        .respond_with(DbtCloud {
            clock: clock.clone(),
            per_minute: per_minute.clone(),
            refused: refused.clone(),
            manifest: fixture("manifest.json"),
            run_results: fixture("run_results.json"),
            sources: fixture("sources.json"),
        })
        .mount(&dbt)
        .await;

    let cache = tempfile::tempdir().unwrap();
    let mut text = format!(
        "[airflow]\nurl = \"{}\"\napi = \"v1\"\nauth = \"none\"\n[dbt]\nsource = \"cloud\"\nurl = \"{}\"\naccount_id = 1\ntoken = \"t0ken-for-tests\"\ncache_dir = \"{}\"\n",
        airflow.uri(),
        dbt.uri(),
        cache.path().display()
    );
    for dag in 0..DAGS {
        for i in 0..PRODUCTS_PER_DAG {
            let model = crate::common::MODELS[i % crate::common::MODELS.len()];
            text.push_str(&format!(
                "[[product]]\nid = \"d{dag}_{i}\"\ndag = \"dag_{dag}\"\ntask = \"dbt_build\"\nmodel = \"{model}\"\n"
            ));
        }
    }
    let config = Arc::new(Config::parse(Path::new("/tmp/budget.toml"), &text).unwrap());
    let mut engine = Engine::new(config).unwrap();

    let prior = Prior::default();
    let mut requests = 0;
    for poll in 0..(24 * 12) {
        let seconds = 10 * 60 + poll * 5 * 60;
        if poll > 0 {
            tokio::time::advance(std::time::Duration::from_secs(5 * 60)).await;
        }
        clock.store(seconds, Ordering::SeqCst);
        let result = tokio::select! {
            result = engine.poll(&prior, day_start() + Duration::seconds(seconds)) => result,
            _ = &mut watchdog => panic!("poll {poll} never finished"),
        };
        assert_eq!(result.airflow_error, None);
        assert!(result.checked.iter().all(|c| c.evaluation.state == State::Up), "poll {poll}");
        requests += result.dbt_requests;
    }

    drop(finished);
    assert_eq!(refused.load(Ordering::SeqCst), 0, "429s from dbt Cloud");
    let busiest = per_minute.lock().unwrap().values().copied().max().unwrap();
    assert!(busiest <= REQUESTS_PER_MINUTE, "{busiest} requests in one minute");
    // Each run once: the run, its build step's run_results and manifest, its freshness
    // step's sources.json. 24 runs a day for each of the 10 DAGs.
    assert_eq!(requests, 24 * DAGS as u64 * 4);
    println!("a day: {requests} dbt Cloud requests, at most {busiest} in one minute");
}
