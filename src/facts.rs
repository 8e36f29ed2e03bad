//! What the sources observed, normalized: the rulebook's inputs.
//!
//! Airflow 2 and 3 differ in field names and shapes; by the time facts reach this module
//! those differences are gone. dbt evidence is the parsed artifacts of one dbt run.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::dbt::{
    FreshnessResult, FreshnessStatus, ModelInfo, NodeResult, ProjectIndex, RunResults, SourceInfo, SourcesFile,
    TestInfo,
};
use crate::model::DbtRunId;

/// What Airflow said about one product's DAG at this poll. Borrowed from the poll's
/// observation: a view is built per product per poll and read once by the rulebook, so it
/// copies no ids (2,000 products made ~14,000 allocations a poll when it did).
#[derive(Debug, Clone)]
pub enum AirflowView<'a> {
    /// Airflow could not be read (network, auth, 5xx, timeout, garbage).
    Unreadable {
        reason: &'a str,
        since: DateTime<Utc>,
    },
    /// The DAG is not known to Airflow at all.
    Missing,
    Dag(Box<DagFacts<'a>>),
}

#[derive(Debug, Clone)]
pub struct DagFacts<'a> {
    pub dag_id: &'a str,
    pub is_paused: bool,
    /// False when Airflow marks the DAG stale/inactive (its file is gone or broken).
    pub is_active: bool,
    /// The import error of the DAG's file, if any (first line).
    pub import_error: Option<&'a str>,
    pub latest_finished: Option<DagRunFacts<'a>>,
    pub in_progress: Option<DagRunFacts<'a>>,
    /// When the schedule expects the next run, and how often; both `None` for a DAG with
    /// no schedule (manual, asset-triggered).
    pub schedule: Schedule,
    /// The Airflow scheduler's own health, when its health endpoint answered.
    pub scheduler: Option<&'a SchedulerHealth>,
}

/// What Airflow says of a DAG's schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// When the scheduler is to start the next run (`next_dagrun_create_after` in Airflow 2,
    /// `next_dagrun_run_after` in 3): past it with no new run, the run is late.
    pub next_due: Option<DateTime<Utc>>,
    /// The period between runs, when the timetable has one.
    pub period: Option<std::time::Duration>,
}

#[derive(Debug, Clone)]
pub struct DagRunFacts<'a> {
    pub run_id: &'a str,
    pub state: RunState<'a>,
    pub data_interval_end: Option<DateTime<Utc>>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub task: TaskLookup<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState<'a> {
    Queued,
    Running,
    Success,
    Failed,
    Other(&'a str),
}

impl<'a> RunState<'a> {
    pub fn parse(text: &'a str) -> RunState<'a> {
        match text {
            "queued" => RunState::Queued,
            "running" => RunState::Running,
            "success" => RunState::Success,
            "failed" => RunState::Failed,
            other => RunState::Other(other),
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self, RunState::Success | RunState::Failed)
    }
}

/// The product's dbt task within a DAG run.
#[derive(Debug, Clone)]
pub enum TaskLookup<'a> {
    /// The product names no task: the DAG run's own state decides.
    NotAsked,
    /// The run has no task by that id.
    NotFound,
    Found(TaskFacts<'a>),
}

#[derive(Debug, Clone)]
pub struct TaskFacts<'a> {
    pub task_id: &'a str,
    /// Airflow's task state; `None` when it never started.
    pub state: Option<&'a str>,
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
    /// Each table's and each test's result (a position in `results`), by its place in the
    /// index: found once per run, so evaluating a table hashes no unique id.
    model_results: Vec<Option<u32>>,
    test_results: Vec<Option<u32>>,
    /// `None` when no `dbt source freshness` step ran.
    freshness: Option<HashMap<String, FreshnessResult>>,
    /// A link to the run, where the source has one.
    pub url: Option<String>,
    /// What the rulebook asks of each table's ancestors, worked out once per run over the
    /// whole graph: a walk of a table's ancestors cost 0.17 ms in a project of 5,000 models,
    /// and was made for every table of every poll (5,000 products: 0.87 s).
    failed_upstream: OnceLock<Upstream>,
    unhealthy_sources: OnceLock<Upstream>,
    /// Other projects' models upstream of each table (dbt mesh), found the same way.
    cross_project: OnceLock<Upstream>,
}

/// Some nodes, in the order they are to be named, and for each table (by its place in the
/// index) the ones upstream of it, as positions in that order.
#[derive(Debug, Default)]
struct Upstream {
    ids: Vec<String>,
    of: Vec<Vec<u32>>,
}

impl Upstream {
    /// Marks `ids` on every table downstream of them; `carried` names what else a parent
    /// brings along (the tests attached to it).
    fn gather<'i>(index: &'i ProjectIndex, ids: Vec<String>, carried: impl Fn(&str) -> Vec<&'i str>) -> Upstream {
        let position: HashMap<&str, u32> = ids.iter().enumerate().map(|(at, id)| (id.as_str(), at as u32)).collect();
        let mut of = vec![Vec::new(); index.model_count()];
        for (id, upstream) in index.gather_upstream(|parent, found| {
            found.extend(position.get(parent));
            found.extend(carried(parent).into_iter().filter_map(|id| position.get(id)));
        }) {
            if let Some(model) = index.model(&id) {
                of[model.at as usize] = upstream;
            }
        }
        Upstream { ids, of }
    }

    fn of(&self, model: &ModelInfo) -> impl ExactSizeIterator<Item = &str> {
        self.of.get(model.at as usize).map_or(&[][..], Vec::as_slice).iter().map(|&at| self.ids[at as usize].as_str())
    }
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
        let mut model_results = vec![None; index.model_count()];
        let mut test_results = vec![None; index.test_count()];
        for (at, result) in results.iter().enumerate() {
            if let Some(test) = index.test(&result.unique_id) {
                test_results[test.at as usize] = Some(at as u32);
            } else if let Some(model) = index.model(&result.unique_id) {
                model_results[model.at as usize] = Some(at as u32);
            }
        }
        let freshness = sources.map(|s| s.results.into_iter().map(|r| (r.unique_id.clone(), r)).collect());
        DbtRun {
            id,
            index,
            results,
            by_id,
            model_results,
            test_results,
            freshness,
            url,
            failed_upstream: OnceLock::new(),
            unhealthy_sources: OnceLock::new(),
            cross_project: OnceLock::new(),
        }
    }

    pub fn result(&self, unique_id: &str) -> Option<&NodeResult> {
        self.by_id.get(unique_id).map(|&i| &self.results[i])
    }

    /// A table's result in this run.
    pub fn result_of_model(&self, model: &ModelInfo) -> Option<&NodeResult> {
        let at = (*self.model_results.get(model.at as usize)?)?;
        Some(&self.results[at as usize])
    }

    /// A test's result in this run, with its place in completion order.
    pub fn result_of_test(&self, test: &TestInfo) -> Option<(usize, &NodeResult)> {
        let at = (*self.test_results.get(test.at as usize)?)? as usize;
        Some((at, &self.results[at]))
    }

    /// What failed upstream of a table, first to fail first: its ancestors that failed and
    /// their tests that failed (not the table's own tests).
    pub fn failed_upstream(&self, model: &ModelInfo) -> impl ExactSizeIterator<Item = &str> {
        self.failed_upstream
            .get_or_init(|| {
                let failed = self.results.iter().filter(|r| r.status.is_failure()).map(|r| r.unique_id.clone());
                Upstream::gather(&self.index, failed.collect(), |parent| {
                    self.index.tests_of(parent).map(|t| t.unique_id.as_str()).collect()
                })
            })
            .of(model)
    }

    /// The sources upstream of a table whose freshness is checked and did not pass (stale,
    /// getting stale, not checkable, or missing from sources.json), by unique_id; none when
    /// no freshness step ran.
    pub fn unhealthy_sources_upstream(&self, model: &ModelInfo) -> impl Iterator<Item = &SourceInfo> {
        self.unhealthy_sources
            .get_or_init(|| {
                let Some(freshness) = &self.freshness else { return Upstream::default() };
                let passed = |id: &str| freshness.get(id).is_some_and(|r| r.status == FreshnessStatus::Pass);
                let mut unhealthy: Vec<String> = self
                    .index
                    .sources()
                    .filter(|s| s.has_freshness && !passed(&s.unique_id))
                    .map(|s| s.unique_id.clone())
                    .collect();
                unhealthy.sort();
                Upstream::gather(&self.index, unhealthy, |_| Vec::new())
            })
            .of(model)
            .filter_map(|id| self.index.source(id))
    }

    /// Other projects' models upstream of a table (a cross-project `ref` lists
    /// `model.<project>.<name>` as a parent), by unique_id, sorted.
    pub fn cross_project_upstream(&self, model: &ModelInfo) -> impl ExactSizeIterator<Item = &str> {
        self.cross_project
            .get_or_init(|| {
                let own = self.index.project_name.as_deref();
                let mut other: Vec<String> = self
                    .index
                    .models()
                    .filter(|m| own.is_some() && m.package_name.is_some() && m.package_name.as_deref() != own)
                    .map(|m| m.unique_id.clone())
                    .collect();
                other.sort();
                Upstream::gather(&self.index, other, |_| Vec::new())
            })
            .of(model)
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

/// What one source said at a poll, for the board's header and the status document's
/// `sources` list: whether it answered, which API, and (Airflow) the scheduler's health.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceHealth {
    pub name: String,
    /// `airflow`, `dbt_cloud` or `dbt_local`.
    pub kind: String,
    pub reachable: bool,
    /// `v1` / `v2` for Airflow.
    pub api: Option<String>,
    pub scheduler: Option<SchedulerHealth>,
    pub error: Option<String>,
    /// What kind of failure `error` is ([`crate::sources::ErrorKind::label`]; a dbt source's
    /// runs that could not be had: `unavailable`). Known to the poller only, not stored.
    pub error_kind: Option<&'static str>,
    /// Requests this poll made to the source. Known to the poller only, not stored.
    pub requests: u64,
}

/// Airflow's health endpoint on its scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerHealth {
    /// `healthy`, `unhealthy`, or whatever Airflow says.
    pub status: Option<String>,
    pub heartbeat_at: Option<DateTime<Utc>>,
}
