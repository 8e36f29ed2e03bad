//! Requests per poll grow with pages, not with products: a generated Airflow 2 fleet of
//! N DAGs (shaped like the captured responses) polled for N products.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tablestat::config::Config;
use tablestat::model::State;
use tablestat::poller::{Engine, Prior};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

struct Fleet {
    dags: usize,
}

fn dag_id(i: usize) -> String {
    format!("fleet_{i:05}")
}

impl Respond for Fleet {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path();
        let query: std::collections::HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let ids = |key: &str| -> Vec<String> {
            body[key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let answer = match path {
            "/api/v1/dags" => {
                let offset: usize = query["offset"].parse().unwrap();
                let limit: usize = query["limit"].parse::<usize>().unwrap().min(100);
                let dags: Vec<Value> = (offset..(offset + limit).min(self.dags))
                    .map(|i| {
                        json!({
                            "dag_id": dag_id(i), "is_paused": false, "is_active": true, "has_import_errors": false,
                            "fileloc": format!("/opt/airflow/dags/{}.py", dag_id(i)),
                            "schedule_interval": {"__type": "CronExpression", "value": "@hourly"},
                            "timetable_description": "Every hour", "tags": [{"name": "dbt"}], "owners": ["data-eng"]
                        })
                    })
                    .collect();
                json!({"dags": dags, "total_entries": self.dags})
            }
            "/api/v1/dags/~/dagRuns/list" => {
                let runs: Vec<Value> = ids("dag_ids")
                    .iter()
                    .map(|d| json!({
                        "dag_id": d, "dag_run_id": "scheduled__2026-11-24T00:00:00+00:00", "state": "success",
                        "execution_date": "2026-11-24T00:00:00+00:00", "logical_date": "2026-11-24T00:00:00+00:00",
                        "data_interval_end": "2026-11-24T01:00:00+00:00", "run_type": "scheduled", "external_trigger": false,
                        "start_date": "2026-11-24T01:00:33.083642+00:00", "end_date": "2026-11-24T01:05:38.208374+00:00"
                    }))
                    .collect();
                json!({"dag_runs": runs, "total_entries": runs.len()})
            }
            "/api/v1/dags/~/dagRuns/~/taskInstances/list" => {
                let tis: Vec<Value> = ids("dag_ids")
                    .iter()
                    .map(|d| {
                        json!({
                            "dag_id": d, "dag_run_id": "scheduled__2026-11-24T00:00:00+00:00", "task_id": "dbt_build",
                            "state": "success", "try_number": 1, "map_index": -1,
                            "start_date": "2026-11-24T01:01:00+00:00", "end_date": "2026-11-24T01:05:00+00:00"
                        })
                    })
                    .collect();
                json!({"task_instances": tis, "total_entries": tis.len()})
            }
            other => {
                return ResponseTemplate::new(404).set_body_string(format!("unexpected {other}"));
            }
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

async fn requests_per_poll(dags: usize) -> (u64, u64) {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(Fleet { dags }).mount(&server).await;
    let mut text =
        format!("[airflow]\nurl = \"{}\"\napi = \"v1\"\nauth = \"none\"\n[poll]\nconcurrency = 4\n", server.uri());
    for i in 0..dags {
        text.push_str(&format!("[[product]]\nid = \"p{i}\"\ndag = \"{}\"\ntask = \"dbt_build\"\n", dag_id(i)));
    }
    let config = Arc::new(Config::parse(Path::new("/tmp/fleet.toml"), &text).unwrap());
    let mut engine = Engine::new(config).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 1, 20, 0).unwrap();
    let first = engine.poll(&Prior::default(), now).await;
    assert_eq!(first.airflow_error, None);
    assert_eq!(first.checked.len(), dags);
    assert!(first.checked.iter().all(|c| c.evaluation.state == State::Up));
    let second = engine.poll(&Prior::default(), now + chrono::Duration::minutes(5)).await;
    (first.airflow_requests, second.airflow_requests)
}

#[tokio::test]
async fn requests_grow_with_pages_not_products() {
    for (dags, first, then) in [(10, 3, 2), (1000, 30, 20)] {
        let (got_first, got_then) = requests_per_poll(dags).await;
        println!("{dags} DAGs: {got_first} requests on the first poll, {got_then} on the next");
        let pages = dags.div_ceil(100) as u64;
        // Target: <= 3 * ceil(DAGs / 100) + 5.
        assert!(got_first <= 3 * pages + 5);
        assert_eq!((got_first, got_then), (first, then), "{dags} DAGs");
    }
}
