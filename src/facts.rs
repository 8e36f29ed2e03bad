//! What the sources observed, normalized: the rulebook's inputs.
//!
//! Airflow 2 and 3 differ in field names and shapes; by the time facts reach this module
//! those differences are gone. dbt evidence is the parsed artifacts of one dbt run.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::dbt::{FreshnessResult, NodeResult, ProjectIndex, RunResults, SourcesFile};
use crate::model::DbtRunId;

/// What Airflow said about one product's DAG at this poll.
#[derive(Debug, Clone)]
pub enum AirflowView {
    /// Airflow could not be read (network, auth, 5xx, timeout, garbage).
    Unreadable {
        reason: String,
        since: DateTime<Utc>,
    },
    /// The DAG is not known to Airflow at all.
    Missing,
    Dag(Box<DagFacts>),
}

#[derive(Debug, Clone)]
pub struct DagFacts {
    pub dag_id: String,
    pub is_paused: bool,
    /// False when Airflow marks the DAG stale/inactive (its file is gone or broken).
    pub is_active: bool,
    /// The import error of the DAG's file, if any (first line).
    pub import_error: Option<String>,
    pub latest_finished: Option<DagRunFacts>,
    pub in_progress: Option<DagRunFacts>,
}

#[derive(Debug, Clone)]
pub struct DagRunFacts {
    pub run_id: String,
    pub state: RunState,
    pub data_interval_end: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub task: TaskLookup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Queued,
    Running,
    Success,
    Failed,
    Other(String),
}

impl RunState {
    pub fn parse(text: &str) -> RunState {
        match text {
            "queued" => RunState::Queued,
            "running" => RunState::Running,
            "success" => RunState::Success,
            "failed" => RunState::Failed,
            other => RunState::Other(other.to_string()),
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, RunState::Success | RunState::Failed)
    }
}

/// The product's dbt task within a DAG run.
#[derive(Debug, Clone)]
pub enum TaskLookup {
    /// The product names no task: the DAG run's own state decides.
    NotAsked,
    /// The run has no task by that id.
    NotFound,
    Found(TaskFacts),
}

#[derive(Debug, Clone)]
pub struct TaskFacts {
    pub task_id: String,
    /// Airflow's task state; `None` when it never started.
    pub state: Option<String>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub try_number: Option<i64>,
}

/// dbt evidence for the run behind a product's task.
#[derive(Debug, Clone)]
pub enum DbtView {
    /// The product has no model, or no dbt source is configured.
    NotConfigured,
    /// The artifacts could not be had; the reason says why.
    Unavailable(String),
    Run(Arc<DbtRun>),
}

/// One dbt run's artifacts, merged across its steps and indexed for lookup.
#[derive(Debug)]
pub struct DbtRun {
    pub id: DbtRunId,
    pub index: Arc<ProjectIndex>,
    /// Every node result, in completion order; a later step's result for the same node wins.
    results: Vec<NodeResult>,
    by_id: HashMap<String, usize>,
    /// `None` when no `dbt source freshness` step ran.
    freshness: Option<HashMap<String, FreshnessResult>>,
    /// A link to the run, where the source has one.
    pub url: Option<String>,
}

impl DbtRun {
    /// Merges the run_results of each step (in order) and the optional sources.json.
    pub fn new(
        id: DbtRunId,
        index: Arc<ProjectIndex>,
        steps: Vec<RunResults>,
        sources: Option<SourcesFile>,
        url: Option<String>,
    ) -> DbtRun {
        let mut results: Vec<NodeResult> = Vec::new();
        let mut by_id = HashMap::new();
        for step in steps {
            for result in step.results {
                match by_id.get(&result.unique_id) {
                    Some(&at) => results[at] = result,
                    None => {
                        by_id.insert(result.unique_id.clone(), results.len());
                        results.push(result);
                    }
                }
            }
        }
        let freshness = sources.map(|s| s.results.into_iter().map(|r| (r.unique_id.clone(), r)).collect());
        DbtRun { id, index, results, by_id, freshness, url }
    }

    pub fn result(&self, unique_id: &str) -> Option<&NodeResult> {
        self.by_id.get(unique_id).map(|&i| &self.results[i])
    }

    /// Position in completion order, to name the first cause of a failure first.
    pub fn position(&self, unique_id: &str) -> Option<usize> {
        self.by_id.get(unique_id).copied()
    }

    pub fn results(&self) -> &[NodeResult] {
        &self.results
    }

    /// The source freshness results, when a freshness step ran.
    pub fn freshness(&self) -> Option<&HashMap<String, FreshnessResult>> {
        self.freshness.as_ref()
    }
}

/// An active maintenance window covering a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceNotice {
    pub id: i64,
    pub message: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}
