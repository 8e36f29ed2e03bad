//! A fleet of hourly DAGs whose latest run succeeded, answered as Airflow 2's `/api/v1` does
//! (the shapes of `../shared/reference/airflow2`): the fake behind the fleet test and the
//! poll-cycle benchmark (`examples/poll_cycle.rs` includes this file).

use serde_json::{Value, json};

pub fn dag_id(i: usize) -> String {
    format!("fleet_{i:05}")
}

pub const RUN_ID: &str = "scheduled__2026-11-24T00:00:00+00:00";

/// `GET /api/v1/dags?offset=&limit=` of a fleet of `total` DAGs (pages of at most 100).
pub fn dag_page(total: usize, offset: usize, limit: usize) -> Value {
    let dags: Vec<Value> = (offset..(offset + limit.min(100)).min(total))
        .map(|i| {
            json!({
                "dag_id": dag_id(i), "is_paused": false, "is_active": true, "has_import_errors": false,
                "fileloc": format!("/opt/airflow/dags/{}.py", dag_id(i)),
                "schedule_interval": {"__type": "CronExpression", "value": "@hourly"},
                "timetable_description": "Every hour", "tags": [{"name": "dbt"}], "owners": ["data-eng"]
            })
        })
        .collect();
    json!({"dags": dags, "total_entries": total})
}

/// The DAG ids a batch request asks about (`dag_ids` of its body).
pub fn asked_dag_ids(body: &Value) -> impl Iterator<Item = &str> {
    body["dag_ids"].as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// `POST /api/v1/dags/~/dagRuns/list`: each DAG's one successful run.
pub fn runs(body: &Value) -> Value {
    let runs: Vec<Value> = asked_dag_ids(body)
        .map(|d| {
            json!({
                "dag_id": d, "dag_run_id": RUN_ID, "state": "success",
                "execution_date": "2026-11-24T00:00:00+00:00", "logical_date": "2026-11-24T00:00:00+00:00",
                "data_interval_end": "2026-11-24T01:00:00+00:00", "run_type": "scheduled", "external_trigger": false,
                "start_date": "2026-11-24T01:00:33.083642+00:00", "end_date": "2026-11-24T01:05:38.208374+00:00"
            })
        })
        .collect();
    json!({"dag_runs": runs, "total_entries": runs.len()})
}

/// `POST /api/v1/dags/~/dagRuns/~/taskInstances/list`: each run's `dbt_build`, succeeded.
pub fn task_instances(body: &Value) -> Value {
    let tis: Vec<Value> = asked_dag_ids(body)
        .map(|d| {
            json!({
                "dag_id": d, "dag_run_id": RUN_ID, "task_id": "dbt_build", "state": "success", "try_number": 1,
                "map_index": -1, "start_date": "2026-11-24T01:01:00+00:00", "end_date": "2026-11-24T01:05:00+00:00"
            })
        })
        .collect();
    json!({"task_instances": tis, "total_entries": tis.len()})
}
