//! What the engine remembers between polls of Airflow: task instances of a finished run are
//! read once, read again when the run is cleared and ends anew, forgotten when a newer run
//! finishes; a run in progress is read every poll. A scripted Airflow 2 whose one DAG moves
//! between polls, counting the task-instance requests.

use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tablestat::config::Config;
use tablestat::model::{Metric, State};
use tablestat::poller::{Engine, Prior};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

/// A run as the script has it now: (run id, state, end, the dbt task's state).
#[derive(Clone)]
struct Run {
    id: &'static str,
    state: &'static str,
    end: Option<&'static str>,
    task: &'static str,
}

#[derive(Default)]
struct Script {
    runs: Vec<Run>,
    /// Runs whose task instances were asked for, request by request.
    asked: Vec<Vec<String>>,
}

#[derive(Clone)]
struct Airflow(Arc<Mutex<Script>>);

fn time(end: Option<&str>) -> Value {
    end.map_or(Value::Null, |t| json!(t))
}

impl Respond for Airflow {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut script = self.0.lock().unwrap();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let answer = match request.url.path() {
            "/api/v1/dags" => json!({"total_entries": 1, "dags": [{
                "dag_id": "shop", "is_paused": false, "is_active": true, "has_import_errors": false,
                "fileloc": "/opt/airflow/dags/shop.py",
                "schedule_interval": {"__type": "CronExpression", "value": "@hourly"}
            }]}),
            "/api/v1/dags/~/dagRuns/list" => {
                let runs: Vec<Value> = script
                    .runs
                    .iter()
                    .map(|r| {
                        json!({
                            "dag_id": "shop", "dag_run_id": r.id, "state": r.state,
                            "data_interval_end": "2026-11-24T01:00:00+00:00",
                            "start_date": "2026-11-24T01:00:00+00:00", "end_date": time(r.end)
                        })
                    })
                    .collect();
                json!({"total_entries": runs.len(), "dag_runs": runs})
            }
            "/api/v1/dags/~/dagRuns/~/taskInstances/list" => {
                let wanted: Vec<String> = body["dag_run_ids"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let tis: Vec<Value> = script
                    .runs
                    .iter()
                    .filter(|r| wanted.iter().any(|w| w == r.id))
                    .map(|r| {
                        json!({
                            "dag_id": "shop", "dag_run_id": r.id, "task_id": "dbt_build", "state": r.task,
                            "try_number": 1, "map_index": -1,
                            "start_date": "2026-11-24T01:01:00+00:00", "end_date": time(r.end)
                        })
                    })
                    .collect();
                script.asked.push(wanted);
                json!({"total_entries": tis.len(), "task_instances": tis})
            }
            other => return ResponseTemplate::new(404).set_body_string(format!("unexpected {other}")),
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

#[tokio::test]
async fn task_instances_are_read_again_only_when_the_run_that_decides_changes() {
    let script = Arc::new(Mutex::new(Script::default()));
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(Airflow(script.clone())).mount(&server).await;
    let text = format!(
        "[airflow]\nurl = \"{}\"\napi = \"v1\"\nauth = \"none\"\n[[product]]\nid = \"orders\"\ndag = \"shop\"\ntask = \"dbt_build\"\n",
        server.uri()
    );
    let mut engine = Engine::new(Arc::new(Config::parse(Path::new("/tmp/memory.toml"), &text).unwrap())).unwrap();
    let start: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 24, 1, 20, 0).unwrap();

    let first = Run { id: "scheduled_1", state: "success", end: Some("2026-11-24T01:05:00+00:00"), task: "success" };
    let cleared = Run { state: "failed", end: Some("2026-11-24T01:40:00+00:00"), task: "failed", ..first.clone() };
    let running = Run { id: "scheduled_2", state: "running", end: None, task: "running" };
    let second = Run { state: "success", end: Some("2026-11-24T02:10:00+00:00"), task: "success", ..running.clone() };
    // (the runs Airflow has, the runs whose instances must be asked for, freshness, its reason)
    let steps: [(Vec<Run>, Vec<&str>, State, &str); 6] = [
        (vec![first.clone()], vec!["scheduled_1"], State::Up, "dbt_build succeeded in run scheduled_1"),
        (vec![first.clone()], vec![], State::Up, "dbt_build succeeded in run scheduled_1"),
        (vec![cleared.clone()], vec!["scheduled_1"], State::Down, "dbt_build failed in run scheduled_1"),
        (vec![cleared.clone(), running.clone()], vec!["scheduled_2"], State::Down, "failed in run scheduled_1"),
        (vec![cleared.clone(), running], vec!["scheduled_2"], State::Down, "failed in run scheduled_1"),
        (vec![cleared, second], vec!["scheduled_2"], State::Up, "dbt_build succeeded in run scheduled_2"),
    ];
    for (i, (runs, asked, state, reason)) in steps.into_iter().enumerate() {
        script.lock().unwrap().runs = runs;
        let result = engine.poll(&Prior::default(), start + Duration::minutes(30 * i as i64)).await;
        assert_eq!(result.airflow_error, None, "poll {i}");
        let evaluation = &result.checked[0].evaluation;
        let freshness = evaluation.verdict(&Metric::Freshness).expect("freshness");
        assert_eq!(freshness.state, state, "poll {i}: {}", freshness.reason);
        assert!(freshness.reason.contains(reason), "poll {i}: {}", freshness.reason);
        let in_progress = evaluation.note.as_deref().is_some_and(|n| n.contains("run scheduled_2 started"));
        assert_eq!(in_progress, i == 3 || i == 4, "poll {i}: {:?}", evaluation.note);
        let mut asked_now: Vec<String> = std::mem::take(&mut script.lock().unwrap().asked).concat();
        asked_now.sort();
        assert_eq!(asked_now, asked, "poll {i}: task instances asked for");
    }
}
