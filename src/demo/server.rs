//! The simulated Airflow 3 (`/api/v2`, JWT included) and dbt Cloud (API v2, serving real
//! artifacts of real dbt runs), over real HTTP on 127.0.0.1. Shapes follow the captured
//! responses of the real servers; only what tablestat asks for is served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::world::{SimDag, SimRun, World};

/// How long a demo JWT lives: short, so the board shows renewal working.
const TOKEN_LIFETIME: chrono::Duration = chrono::Duration::minutes(2);

#[derive(Clone)]
pub struct Shared {
    pub world: Arc<Mutex<World>>,
    tokens: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

impl Shared {
    pub fn new(world: World) -> Shared {
        Shared { world: Arc::new(Mutex::new(world)), tokens: Arc::new(Mutex::new(HashMap::new())) }
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"detail": text}))).into_response()
}

/// Airflow 3 answers 401 "Token Expired" for an old token.
/// `Some(answer)` when the request must be refused.
fn refused(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let Some(token) =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    else {
        return Some(detail(StatusCode::UNAUTHORIZED, "Not authenticated"));
    };
    match shared.tokens.lock().expect("tokens").get(token) {
        Some(expires) if *expires > Utc::now() => None,
        Some(_) => Some(detail(StatusCode::UNAUTHORIZED, "Token Expired")),
        None => Some(detail(StatusCode::FORBIDDEN, "Invalid JWT token")),
    }
}

pub fn airflow(shared: Shared) -> Router {
    Router::new()
        .route("/api/v2/version", get(|| async { Json(json!({"version": "3.3.2", "git_version": null})) }))
        .route("/auth/token", post(login))
        .route("/api/v2/dags", get(dags))
        .route("/api/v2/dags/{dag}/dagRuns", get(dag_runs))
        .route("/api/v2/dags/~/dagRuns/list", post(runs_batch))
        .route("/api/v2/dags/~/dagRuns/~/taskInstances/list", post(task_batch))
        .route("/api/v2/importErrors", get(|| async { Json(json!({"import_errors": [], "total_entries": 0})) }))
        .route("/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/xcomEntries/{key}", get(xcom))
        .with_state(shared)
}

async fn login(State(shared): State<Shared>, Json(body): Json<Value>) -> Response {
    if body.get("username").and_then(Value::as_str) != Some("demo")
        || body.get("password").and_then(Value::as_str) != Some("demo")
    {
        return detail(StatusCode::UNAUTHORIZED, "Invalid credentials");
    }
    let token = format!("demo.{:016x}", fastrand::u64(..));
    shared.tokens.lock().expect("tokens").insert(token.clone(), Utc::now() + TOKEN_LIFETIME);
    (StatusCode::CREATED, Json(json!({"access_token": token}))).into_response()
}

fn dag_json(dag: &SimDag) -> Value {
    json!({
        "dag_id": dag.dag_id, "dag_display_name": dag.dag_id, "is_paused": dag.paused, "is_stale": false,
        "has_import_errors": false, "fileloc": format!("/opt/airflow/dags/{}.py", dag.dag_id),
        "relative_fileloc": format!("{}.py", dag.dag_id), "bundle_name": "dags-folder",
        "timetable_summary": dag.schedule, "timetable_description": dag.schedule,
        "tags": [], "owners": ["airflow"], "max_active_runs": 16
    })
}

fn run_json(dag: &SimDag, run: &SimRun) -> Value {
    json!({
        "dag_run_id": run.run_id, "dag_id": dag.dag_id, "logical_date": stamp(run.started), "run_after": stamp(run.started),
        "queued_at": stamp(run.started), "start_date": stamp(run.started), "end_date": stamp(run.ended),
        "data_interval_start": stamp(run.started), "data_interval_end": stamp(run.started),
        "state": if run.success { "success" } else { "failed" }, "run_type": "scheduled", "triggered_by": "timetable", "conf": {}
    })
}

async fn dags(State(shared): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let world = shared.world.lock().expect("world");
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(50).min(100);
    let page: Vec<Value> = world.dags.iter().skip(offset).take(limit).map(dag_json).collect();
    Json(json!({"dags": page, "total_entries": world.dags.len()})).into_response()
}

async fn dag_runs(State(shared): State<Shared>, headers: HeaderMap, Path(dag): Path<String>) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let world = shared.world.lock().expect("world");
    match world.dag(&dag) {
        Some(d) => Json(json!({"dag_runs": d.runs.iter().rev().take(10).map(|r| run_json(d, r)).collect::<Vec<_>>(), "total_entries": d.runs.len()})).into_response(),
        None => detail(StatusCode::NOT_FOUND, &format!("The Dag with ID: `{dag}` was not found")),
    }
}

fn strings(body: &Value, key: &str) -> Vec<String> {
    body.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

async fn runs_batch(State(shared): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let ids = strings(&body, "dag_ids");
    let since = body.get("start_date_gte").and_then(Value::as_str).and_then(|s| DateTime::parse_from_rfc3339(s).ok());
    let world = shared.world.lock().expect("world");
    let runs: Vec<Value> = world
        .dags
        .iter()
        .filter(|d| ids.is_empty() || ids.contains(&d.dag_id))
        .flat_map(|d| d.runs.iter().filter(move |r| since.is_none_or(|s| r.started >= s)).map(move |r| run_json(d, r)))
        .collect();
    Json(json!({"dag_runs": runs, "total_entries": runs.len(), "total_entries_limit": null, "next_cursor": null, "previous_cursor": null})).into_response()
}

async fn task_batch(State(shared): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let (ids, runs) = (strings(&body, "dag_ids"), strings(&body, "dag_run_ids"));
    let world = shared.world.lock().expect("world");
    let mut found = Vec::new();
    for d in world.dags.iter().filter(|d| ids.contains(&d.dag_id)) {
        for r in d.runs.iter().filter(|r| runs.contains(&r.run_id)) {
            let task = if d.dag_id == super::world::SHOP_DAG { "dbt_build" } else { "load" };
            found.push(json!({
                "dag_id": d.dag_id, "dag_run_id": r.run_id, "task_id": task, "map_index": -1, "state": r.task_state,
                "try_number": 1, "start_date": stamp(r.started + chrono::Duration::seconds(2)), "end_date": stamp(r.ended),
                "operator": if task == "dbt_build" { "DbtCloudRunJobOperator" } else { "BashOperator" }
            }));
        }
    }
    Json(json!({"task_instances": found, "total_entries": found.len()})).into_response()
}

async fn xcom(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((dag, run, _task, key)): Path<(String, String, String, String)>,
) -> Response {
    if let Some(refusal) = refused(&shared, &headers) {
        return refusal;
    }
    let world = shared.world.lock().expect("world");
    let dbt_run = world.dag(&dag).and_then(|d| d.runs.iter().find(|r| r.run_id == run)).and_then(|r| r.dbt_run);
    match (key.as_str(), dbt_run) {
        ("job_run_id", Some(id)) => {
            Json(json!({"key": "job_run_id", "value": id, "map_index": -1, "dag_id": dag, "run_id": run}))
                .into_response()
        }
        _ => detail(StatusCode::NOT_FOUND, &format!("XCom entry with key: `{key}` not found")),
    }
}

pub fn dbt_cloud(shared: Shared) -> Router {
    Router::new()
        .route("/api/v2/accounts/1/runs/", get(cloud_runs))
        .route("/api/v2/accounts/1/runs/{run}/", get(cloud_run))
        .route("/api/v2/accounts/1/runs/{run}/artifacts/{file}", get(artifact))
        .with_state(shared)
}

fn token_ok(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer demo-dbt-cloud-token")
}

async fn cloud_run(State(shared): State<Shared>, headers: HeaderMap, Path(run): Path<i64>) -> Response {
    if !token_ok(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": {"code": 401, "user_message": "Invalid token."}, "data": null})),
        )
            .into_response();
    }
    let scenario = shared.world.lock().expect("world").dbt_runs.get(&run).copied();
    let Some((scenario, _)) = scenario else {
        return (StatusCode::NOT_FOUND, Json(json!({"status": {"code": 404, "user_message": "Run not found"}})))
            .into_response();
    };
    Json(json!({"status": {"code": 200, "is_success": true, "user_message": "Success!", "developer_message": ""},
    "data": cloud_run_json(run, scenario)}))
    .into_response()
}

/// The job's runs, newest first (`?job_definition_id=42&order_by=-id&limit=N`).
async fn cloud_runs(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !token_ok(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"status": {"code": 401, "user_message": "Invalid token."}})))
            .into_response();
    }
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let mut runs: Vec<(i64, &'static str)> =
        shared.world.lock().expect("world").dbt_runs.iter().map(|(id, (scenario, _))| (*id, *scenario)).collect();
    runs.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
    let data: Vec<Value> = runs.into_iter().take(limit).map(|(id, scenario)| cloud_run_json(id, scenario)).collect();
    Json(json!({"status": {"code": 200, "is_success": true, "user_message": "Success!", "developer_message": ""},
        "data": data, "extra": {"pagination": {"count": data.len(), "total_count": data.len()}}}))
    .into_response()
}

/// A run as dbt Cloud's API v2 describes it: a `dbt build` step, then `dbt source freshness`.
fn cloud_run_json(run: i64, scenario: &str) -> Value {
    let failed = matches!(scenario, "test_failures" | "model_error");
    json!({"id": run, "job_definition_id": 42, "status": if failed { 20 } else { 10 },
    "status_humanized": if failed { "Error" } else { "Success" }, "is_complete": true,
    "href": format!("https://cloud.getdbt.example/deploy/1/projects/7/runs/{run}/"),
    "run_steps": [
        {"index": 1, "name": "Clone git repository", "status": 10},
        {"index": 2, "name": "Invoke dbt with `dbt build`", "status": if failed { 20 } else { 10 }},
        {"index": 3, "name": "Invoke dbt with `dbt source freshness`", "status": 10}
    ]})
}

async fn artifact(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Path((run, file)): Path<(i64, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if !token_ok(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"status": {"code": 401, "user_message": "Invalid token."}})))
            .into_response();
    }
    let scenario = shared.world.lock().expect("world").dbt_runs.get(&run).copied();
    let step = q.get("step").map(String::as_str);
    let bytes = match (scenario, step, file.as_str()) {
        (Some((s, at)), Some("2"), "run_results.json") => {
            super::artifacts::file(s, &file).map(|b| super::artifacts::moved_to(b, at))
        }
        (Some((s, _)), Some("2"), "manifest.json") => super::artifacts::file(s, &file).map(<[u8]>::to_vec),
        (Some((s, _)), Some("3"), "sources.json") => super::artifacts::file(s, &file).map(<[u8]>::to_vec),
        _ => None,
    };
    match bytes {
        Some(bytes) => ([("content-type", "application/json")], bytes).into_response(),
        None => {
            (StatusCode::NOT_FOUND, Json(json!({"status": {"code": 404, "user_message": "Not found"}}))).into_response()
        }
    }
}
