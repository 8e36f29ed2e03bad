//! Airflow's JSON as it arrives, for both majors in one set of lenient structs.
//! Unknown fields are ignored (3.3 adds many); fields one major lacks are optional.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct DagList {
    pub dags: Vec<WireDag>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireDag {
    pub dag_id: String,
    #[serde(default)]
    pub is_paused: Option<bool>,
    /// Airflow 2.
    #[serde(default)]
    pub is_active: Option<bool>,
    /// Airflow 3 (the inverse of `is_active`).
    #[serde(default)]
    pub is_stale: Option<bool>,
    #[serde(default)]
    pub has_import_errors: Option<bool>,
    #[serde(default)]
    pub fileloc: Option<String>,
    #[serde(default)]
    pub relative_fileloc: Option<String>,
    #[serde(default)]
    pub bundle_name: Option<String>,
    /// Airflow 2.
    #[serde(default)]
    pub schedule_interval: Option<Value>,
    /// Airflow 3.
    #[serde(default)]
    pub timetable_summary: Option<String>,
    #[serde(default)]
    pub timetable_description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RunList {
    pub dag_runs: Vec<WireRun>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireRun {
    pub dag_id: String,
    pub dag_run_id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub data_interval_end: Option<DateTime<Utc>>,
    /// Airflow 3 only; never null there.
    #[serde(default)]
    pub run_after: Option<DateTime<Utc>>,
    #[serde(default)]
    pub queued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
pub struct TaskInstanceList {
    pub task_instances: Vec<WireTaskInstance>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireTaskInstance {
    pub dag_id: String,
    pub dag_run_id: String,
    pub task_id: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub try_number: Option<i64>,
    #[serde(default)]
    pub map_index: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct ImportErrorList {
    pub import_errors: Vec<WireImportError>,
    #[serde(default)]
    pub total_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WireImportError {
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub bundle_name: Option<String>,
    #[serde(default)]
    pub stack_trace: Option<String>,
}

impl WireImportError {
    /// The exception line: the last non-empty line of the trace.
    pub fn summary(&self) -> String {
        let trace = self.stack_trace.as_deref().unwrap_or("");
        let line = trace.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("import failed");
        line.chars().filter(|c| !c.is_control()).take(200).collect()
    }
}

#[derive(Debug, Deserialize)]
pub struct XcomEntry {
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct Version {
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
}
