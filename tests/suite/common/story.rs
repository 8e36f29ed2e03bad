//! A scripted pipeline for whole-pipeline tests: a fake Airflow 3 (captured response
//! shapes) and a fake dbt Cloud (real artifacts) whose answers follow a story step.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

use super::fake::body;

/// One chapter: the DAG run that is latest, its dbt task's state, the dbt Cloud run and
/// the artifacts scenario it serves.
#[derive(Debug, Clone)]
pub struct Chapter {
    pub run_id: String,
    pub started: String,
    pub task_state: &'static str,
    pub dbt_run: i64,
    pub scenario: &'static str,
    pub paused: bool,
}

pub fn chapter(n: u32, task_state: &'static str, scenario: &'static str) -> Chapter {
    Chapter {
        run_id: format!("scheduled__2026-11-2{n}T00:00:00+00:00"),
        started: format!("2026-11-2{n}T01:00:00Z"),
        task_state,
        dbt_run: 70_000 + n as i64,
        scenario,
        paused: false,
    }
}

/// The `n`th of an endless series of runs, ten minutes apart from 2026-11-21 01:00 UTC:
/// for stories longer than nine days' chapters.
pub fn nth_run(n: u32, task_state: &'static str, scenario: &'static str) -> Chapter {
    let started = chrono::DateTime::parse_from_rfc3339("2026-11-21T01:00:00Z").unwrap()
        + chrono::Duration::minutes(10 * i64::from(n));
    let logical = started - chrono::Duration::hours(1);
    Chapter {
        run_id: format!("scheduled__{}", logical.format("%Y-%m-%dT%H:%M:%S+00:00")),
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        task_state,
        dbt_run: 80_000 + i64::from(n),
        scenario,
        paused: false,
    }
}

#[derive(Clone)]
pub struct Story {
    pub now: Arc<Mutex<Chapter>>,
}

impl Story {
    pub fn set(&self, chapter: Chapter) {
        *self.now.lock().unwrap() = chapter;
    }
}

impl Respond for Story {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (status, body) = self.reply(request);
        ResponseTemplate::new(status).set_body_raw(body, "application/json")
    }
}

impl Story {
    /// The status and JSON body the story answers `request` with (for fakes that change it).
    pub fn reply(&self, request: &Request) -> (u16, String) {
        let c = self.now.lock().unwrap().clone();
        let p = request.url.path();
        let finished = (chrono::DateTime::parse_from_rfc3339(&c.started).unwrap() + chrono::Duration::minutes(5))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let ok = |v: Value| (200, v.to_string());
        match p {
            "/auth/token" => (201, body("airflow3/auth_token_201.json")),
            "/api/v2/version" => ok(json!({"version": "3.3.2", "git_version": null})),
            "/api/v2/dags" => ok(json!({"dags": [{
                "dag_id": "shop_daily", "is_paused": c.paused, "is_stale": false, "has_import_errors": false,
                "fileloc": "/opt/airflow/dags/shop_daily.py", "relative_fileloc": "shop_daily.py", "bundle_name": "dags-folder",
                "timetable_summary": "0 0 * * *", "timetable_description": "At 00:00", "tags": [], "owners": ["airflow"]
            }], "total_entries": 1})),
            "/api/v2/dags/~/dagRuns/list" => ok(json!({"dag_runs": [{
                "dag_run_id": c.run_id, "dag_id": "shop_daily", "logical_date": c.run_id[11..36], "run_after": c.started,
                "start_date": c.started, "end_date": finished, "data_interval_end": c.started, "state": if c.task_state == "success" { "success" } else { "failed" },
                "run_type": "scheduled", "triggered_by": "timetable", "conf": {}
            }], "total_entries": 1})),
            "/api/v2/dags/~/dagRuns/~/taskInstances/list" => ok(json!({"task_instances": [{
                "dag_id": "shop_daily", "dag_run_id": c.run_id, "task_id": "dbt_build", "state": c.task_state, "map_index": -1,
                "try_number": 1, "start_date": c.started, "end_date": finished
            }], "total_entries": 1})),
            p if p.ends_with("/xcomEntries/job_run_id") => ok(json!({"key": "job_run_id", "value": c.dbt_run})),
            p if p.starts_with("/api/v2/accounts/1/runs/") && p.contains("/artifacts/") => {
                let file = p.rsplit('/').next().unwrap();
                let step = request.url.query_pairs().find(|(k, _)| k == "step").map(|(_, v)| v.to_string());
                let path = super::fixture(&format!("dbt/{}/{file}", c.scenario));
                match (step.as_deref(), std::fs::read_to_string(path)) {
                    (Some("2") | Some("3"), Ok(text)) => (200, text),
                    _ => (404, json!({"status": {"code": 404}}).to_string()),
                }
            }
            p if p.starts_with("/api/v2/accounts/1/runs/") => {
                let id: i64 = p.trim_end_matches('/').rsplit('/').next().unwrap().parse().unwrap();
                ok(json!({"data": {"id": id, "status": 10, "job_definition_id": 42, "created_at": c.started,
                "href": format!("https://cloud.example/runs/{id}/"),
                "run_steps": [
                    {"index": 1, "name": "Clone git repository", "status": 10},
                    {"index": 2, "name": "Invoke dbt with `dbt build`", "status": 10},
                    {"index": 3, "name": "Invoke dbt with `dbt source freshness`", "status": 10}
                ]}}))
            }
            other => (404, json!({"detail": format!("no fake for {other}")}).to_string()),
        }
    }
}

/// Starts the fake (both APIs on one server) at `first`.
pub async fn start(first: Chapter) -> (MockServer, Story) {
    let server = MockServer::start().await;
    let story = Story { now: Arc::new(Mutex::new(first)) };
    Mock::given(any()).respond_with(story.clone()).mount(&server).await;
    (server, story)
}

/// A config for the story's server: three products of the reference dbt project.
pub fn config(url: &str, store: &std::path::Path) -> String {
    config_split(url, url, store)
}

/// The same config with the history elsewhere: `[store]` as `section` says
/// (`url = "postgres://…"`); the dbt cache stays beside `store`.
pub fn with_store(config: &str, store: &std::path::Path, section: &str) -> String {
    let path = format!("[store]\npath = \"{}\"", store.display());
    assert!(config.contains(&path), "the story's config names its store");
    config.replace(&path, &format!("[store]\n{section}"))
}

/// The same config with Airflow and dbt Cloud at their own URLs (each behind a proxy).
pub fn config_split(airflow_url: &str, dbt_url: &str, store: &std::path::Path) -> String {
    format!(
        r#"
[airflow]
url = "{airflow_url}"
api = "v2"
auth = "password"
username = "admin"
password = "admin"
timeout = "5s"

[dbt]
source = "cloud"
url = "{dbt_url}"
account_id = 1
token = "dbt-token"
cache_dir = "{cache}"

[store]
path = "{db}"

[[product]]
id = "stg_orders"
name = "Orders (staging)"
group = "Staging"
dag = "shop_daily"
task = "dbt_build"
model = "stg_orders"

[[product]]
id = "stg_payments"
name = "Payments (staging)"
group = "Staging"
dag = "shop_daily"
task = "dbt_build"
model = "stg_payments"

[[product]]
id = "fct_orders"
name = "Orders"
group = "Sales"
dag = "shop_daily"
task = "dbt_build"
model = "fct_orders"
"#,
        cache = store.with_extension("cache").display(),
        db = store.display()
    )
}

/// The story's maintenance: everything, from `start` to `end`, "Reloading orders from the CRM".
pub async fn announce_maintenance(store: &tablestat::store::worker::StoreHandle, start: i64, end: i64) {
    store
        .call(move |s| {
            s.add_maintenance(
                &tablestat::store::Scope::All,
                start,
                end,
                "Reloading orders from the CRM",
                Some("ana"),
                start,
            )
        })
        .await
        .unwrap()
        .unwrap();
}
