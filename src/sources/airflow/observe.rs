//! One poll of Airflow for all watched DAGs, in bulk: DAG pages, then a batch of runs and
//! a batch of task instances per 100 DAGs, plus import errors when a DAG has one.
//! Requests grow with pages, not with products.
//!
//! Runs are asked for by start date: since the previous poll (minus a margin, and back to
//! the oldest run still in progress), or, on the first poll, over twice each DAG's period.
//! The newest finished run per DAG is remembered between polls in [`RunMemory`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::client::{AirflowClient, Api};
use super::wire::{WireDag, WireRun, WireTaskInstance};
use crate::facts::{AirflowView, DagFacts, DagRunFacts, RunState, Schedule, SchedulerHealth, TaskFacts, TaskLookup};
use crate::model::Product;
use crate::sources::http::SourceError;
use crate::sources::schedule;

/// DAG ids per batch request: the batch endpoints take lists, and 100 keeps bodies small.
const CHUNK: usize = 100;
/// Overlap between poll windows, for clocks that disagree and runs that start late.
const MARGIN: chrono::Duration = chrono::Duration::minutes(10);
const MIN_LOOKBACK: Duration = Duration::from_secs(3 * 3600);
const MAX_LOOKBACK: Duration = Duration::from_secs(35 * 86_400);

/// (dag_id, dag_run_id): run ids are unique only within a DAG.
type RunKey = (String, String);

/// A run's task instances, shared between the memory and each poll's observation.
type Instances = Arc<[WireTaskInstance]>;

/// What is remembered between polls so each poll asks only for what changed. What an
/// observation also needs is shared with it, not copied: the observation is dropped before
/// the next poll, which then updates the memory in place.
#[derive(Debug, Default)]
pub struct RunMemory {
    last_poll: Option<DateTime<Utc>>,
    latest_finished: Arc<HashMap<String, WireRun>>,
    in_progress: HashMap<String, WireRun>,
    /// DAGs looked up one by one that had no finished run then.
    never_finished: HashSet<String>,
    /// Task instances of finished runs: (dag_id, run_id) -> (the run's end_date, TIs).
    finished_tasks: HashMap<RunKey, (Option<DateTime<Utc>>, Instances)>,
}

/// A DAG a product watches, and the tasks it reads in it.
#[derive(Debug, Clone)]
pub struct WatchedDag<'a> {
    pub dag_id: &'a str,
    pub task_ids: Vec<&'a str>,
}

/// Watched DAGs from the products, one entry per DAG.
pub fn watched_dags<'a>(products: impl IntoIterator<Item = &'a Product>) -> Vec<WatchedDag<'a>> {
    let mut by_dag: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in products {
        let tasks = by_dag.entry(p.dag_id.as_str()).or_default();
        if let Some(task) = p.task_id.as_deref() {
            if !tasks.contains(&task) {
                tasks.push(task);
            }
        }
    }
    let mut watched: Vec<WatchedDag> =
        by_dag.into_iter().map(|(dag_id, task_ids)| WatchedDag { dag_id, task_ids }).collect();
    watched.sort_by(|a, b| a.dag_id.cmp(b.dag_id));
    watched
}

/// What one poll of Airflow saw.
#[derive(Debug, Default)]
pub struct Observation {
    pub api: Option<Api>,
    /// The scheduler's health, when the health endpoint answered.
    pub scheduler: Option<SchedulerHealth>,
    dags: HashMap<String, WireDag>,
    import_errors: HashMap<String, String>,
    latest_finished: Arc<HashMap<String, WireRun>>,
    in_progress: HashMap<String, WireRun>,
    /// dag_id -> (run_id, its task instances) for the runs that decide: one or two per DAG,
    /// so a lookup by borrowed ids needs no key built.
    tasks: HashMap<String, Vec<(String, Instances)>>,
    /// Requests this poll made.
    pub requests: u64,
}

pub async fn observe(
    client: &AirflowClient,
    watched: &[WatchedDag<'_>],
    memory: &mut RunMemory,
    now: DateTime<Utc>,
    concurrency: usize,
) -> Result<Observation, SourceError> {
    let before = client.requests();
    let concurrency = concurrency.max(1);
    let dags: HashMap<String, WireDag> =
        client.list_dags(concurrency).await?.into_iter().map(|d| (d.dag_id.clone(), d)).collect();
    // After the DAGs, not beside them: the first request of a poll may log in (Airflow 3).
    let health = client.health().await;
    // A health endpoint that fails (a proxy that hides it) says nothing of the DAGs.
    let scheduler = match health {
        Ok(health) => {
            health.scheduler.map(|s| SchedulerHealth { status: s.status, heartbeat_at: s.latest_scheduler_heartbeat })
        }
        Err(error) => {
            tracing::debug!(%error, "Airflow's health endpoint did not answer");
            None
        }
    };
    let present: Vec<&WatchedDag> = watched.iter().filter(|w| dags.contains_key(w.dag_id)).collect();

    let import_errors = if present.iter().any(|w| dags[w.dag_id].has_import_errors == Some(true)) {
        map_import_errors(client.api(), &dags, client.import_errors().await?)
    } else {
        HashMap::new()
    };

    // Runs, one batch per chunk of DAGs.
    let chunks: Vec<Vec<String>> =
        present.chunks(CHUNK).map(|c| c.iter().map(|w| w.dag_id.to_string()).collect()).collect();
    let windows: Vec<(Vec<String>, DateTime<Utc>)> = chunks
        .into_iter()
        .map(|ids| {
            let since = window_start(memory, &dags, &ids, now);
            (ids, since)
        })
        .collect();
    let batches: Vec<Vec<WireRun>> = futures::stream::iter(windows.iter())
        .map(|(ids, since)| client.runs_started_since(ids, *since))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut in_progress: HashMap<String, WireRun> = HashMap::new();
    let latest_finished = Arc::make_mut(&mut memory.latest_finished);
    for run in batches.into_iter().flatten() {
        match RunState::parse(run.state.as_deref().unwrap_or("")) {
            state if state.is_finished() => keep_newest(latest_finished, run),
            RunState::Running | RunState::Queued => keep_newest(&mut in_progress, run),
            _ => {}
        }
    }

    // DAGs with no finished run in any window so far: ask each once.
    let unknown: Vec<&str> = present
        .iter()
        .map(|w| w.dag_id)
        .filter(|id| !latest_finished.contains_key(*id) && !memory.never_finished.contains(*id))
        .collect();
    let lookups: Vec<(String, Vec<WireRun>)> = futures::stream::iter(unknown)
        .map(|id| async move { client.latest_runs(id, 10).await.map(|runs| (id.to_string(), runs)) })
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    for (dag_id, runs) in lookups {
        let finished: Vec<WireRun> =
            runs.into_iter().filter(|r| RunState::parse(r.state.as_deref().unwrap_or("")).is_finished()).collect();
        if finished.is_empty() {
            memory.never_finished.insert(dag_id);
        }
        for run in finished {
            keep_newest(latest_finished, run);
        }
    }
    // Forget the task instances of runs that no longer decide.
    memory.finished_tasks.retain(|(dag_id, run_id), (end, _)| {
        latest_finished.get(dag_id).is_some_and(|run| run.dag_run_id == *run_id && run.end_date == *end)
    });
    let latest_finished = &memory.latest_finished;

    // Task instances of the runs that decide, skipping finished runs already read.
    let mut tasks: HashMap<String, Vec<(String, Instances)>> = HashMap::new();
    let mut to_fetch: Vec<(&WatchedDag, &WireRun)> = Vec::new();
    for w in present.iter().filter(|w| !w.task_ids.is_empty()) {
        if let Some(run) = latest_finished.get(w.dag_id) {
            let key = (w.dag_id.to_string(), run.dag_run_id.clone());
            match memory.finished_tasks.get(&key) {
                Some((_, tis)) => {
                    let (dag_id, run_id) = key;
                    tasks.entry(dag_id).or_default().push((run_id, tis.clone()));
                }
                None => to_fetch.push((w, run)),
            }
        }
        if let Some(run) = in_progress.get(w.dag_id) {
            to_fetch.push((w, run));
        }
    }
    let requests: Vec<(Vec<String>, Vec<String>, Vec<String>)> = to_fetch
        .chunks(CHUNK)
        .map(|chunk| {
            let mut dag_ids: Vec<String> = chunk.iter().map(|(w, _)| w.dag_id.to_string()).collect();
            let mut run_ids: Vec<String> = chunk.iter().map(|(_, r)| r.dag_run_id.clone()).collect();
            let mut task_ids: Vec<String> =
                chunk.iter().flat_map(|(w, _)| w.task_ids.iter().map(|t| t.to_string())).collect();
            for list in [&mut dag_ids, &mut run_ids, &mut task_ids] {
                list.sort();
                list.dedup();
            }
            (dag_ids, run_ids, task_ids)
        })
        .collect();
    let fetched: Vec<Vec<WireTaskInstance>> = futures::stream::iter(requests.iter())
        .map(|(d, r, t)| client.task_instances(d, r, t))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut wanted: HashMap<RunKey, Vec<WireTaskInstance>> =
        to_fetch.iter().map(|(w, r)| ((w.dag_id.to_string(), r.dag_run_id.clone()), Vec::new())).collect();
    for ti in fetched.into_iter().flatten() {
        if let Some(instances) = wanted.get_mut(&(ti.dag_id.clone(), ti.dag_run_id.clone())) {
            instances.push(ti);
        }
    }
    for ((dag_id, run_id), instances) in wanted {
        let instances: Instances = instances.into();
        // Remember a finished run's instances: they will not change.
        if let Some(run) = latest_finished.get(&dag_id).filter(|run| run.dag_run_id == run_id) {
            let key = (dag_id.clone(), run_id.clone());
            memory.finished_tasks.insert(key, (run.end_date, instances.clone()));
        }
        tasks.entry(dag_id).or_default().push((run_id, instances));
    }
    memory.in_progress = in_progress.clone();
    memory.last_poll = Some(now);

    Ok(Observation {
        api: Some(client.api()),
        scheduler,
        dags,
        import_errors,
        latest_finished: Arc::clone(latest_finished),
        in_progress,
        tasks,
        requests: client.requests() - before,
    })
}

/// Where a chunk's run window starts.
fn window_start(
    memory: &RunMemory,
    dags: &HashMap<String, WireDag>,
    ids: &[String],
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let oldest_running = ids.iter().filter_map(|id| memory.in_progress.get(id)).filter_map(|r| r.start_date).min();
    let cold = ids.iter().any(|id| !memory.latest_finished.contains_key(id) && !memory.never_finished.contains(id));
    let since = match memory.last_poll {
        Some(last) if !cold => last - MARGIN,
        _ => {
            let longest = ids
                .iter()
                .map(|id| dags.get(id).and_then(dag_period).unwrap_or(MAX_LOOKBACK))
                .max()
                .unwrap_or(MIN_LOOKBACK);
            let lookback = (longest * 2).clamp(MIN_LOOKBACK, MAX_LOOKBACK);
            now - chrono::Duration::from_std(lookback).unwrap_or(MARGIN)
        }
    };
    oldest_running.map_or(since, |r| since.min(r))
}

/// The newest run per DAG: by start date (a run triggered later for an old interval still
/// starts later), then end date.
fn keep_newest(map: &mut HashMap<String, WireRun>, run: WireRun) {
    let key = |r: &WireRun| (r.start_date.or(r.run_after).or(r.queued_at), r.end_date);
    match map.get(&run.dag_id) {
        Some(existing) if key(existing) >= key(&run) => {}
        _ => {
            map.insert(run.dag_id.clone(), run);
        }
    }
}

/// The schedule's period, from either major's fields.
pub fn dag_period(dag: &WireDag) -> Option<Duration> {
    match (&dag.schedule_interval, &dag.timetable_summary) {
        (Some(v1), _) => schedule::period_v1(v1),
        (_, Some(v2)) => schedule::period_v2(v2),
        _ => None,
    }
}

/// Import errors carry no dag_id: Airflow 2 names the absolute file (`fileloc`),
/// Airflow 3 the file relative to its bundle.
fn map_import_errors(
    api: Api,
    dags: &HashMap<String, WireDag>,
    errors: Vec<super::wire::WireImportError>,
) -> HashMap<String, String> {
    let mut mapped = HashMap::new();
    for error in errors {
        for dag in dags.values() {
            let same_file = match api {
                Api::V1 => error.filename.is_some() && error.filename == dag.fileloc,
                Api::V2 => {
                    error.filename.is_some()
                        && error.filename == dag.relative_fileloc
                        && (error.bundle_name.is_none() || error.bundle_name == dag.bundle_name)
                }
            };
            if same_file {
                mapped.insert(dag.dag_id.clone(), error.summary());
            }
        }
    }
    mapped
}

impl Observation {
    /// Who owns a DAG, when it names someone other than Airflow's default (`airflow`).
    pub fn dag_owner(&self, dag_id: &str) -> Option<String> {
        let owners: Vec<&str> = self
            .dags
            .get(dag_id)?
            .owners
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty() && !o.eq_ignore_ascii_case("airflow"))
            .collect();
        (!owners.is_empty()).then(|| owners.join(", "))
    }

    /// The normalized facts for one product's DAG and task, borrowed from this observation.
    pub fn view<'a>(&'a self, product: &'a Product) -> AirflowView<'a> {
        let Some(dag) = self.dags.get(&product.dag_id) else {
            return AirflowView::Missing;
        };
        let is_active = dag.is_active.unwrap_or(true) && !dag.is_stale.unwrap_or(false);
        let run_facts = |run: &'a WireRun| DagRunFacts {
            run_id: &run.dag_run_id,
            state: RunState::parse(run.state.as_deref().unwrap_or("")),
            data_interval_end: run.data_interval_end,
            start_date: run.start_date,
            end_date: run.end_date,
            task: match &product.task_id {
                None => TaskLookup::NotAsked,
                Some(task_id) => self.task(&product.dag_id, &run.dag_run_id, task_id),
            },
        };
        AirflowView::Dag(Box::new(DagFacts {
            dag_id: &dag.dag_id,
            is_paused: dag.is_paused.unwrap_or(false),
            is_active,
            import_error: self.import_errors.get(&dag.dag_id).map(String::as_str),
            latest_finished: self.latest_finished.get(&dag.dag_id).map(run_facts),
            in_progress: self.in_progress.get(&dag.dag_id).map(run_facts),
            schedule: Schedule {
                next_due: dag.next_dagrun_create_after.or(dag.next_dagrun_run_after),
                period: dag_period(dag),
            },
            scheduler: self.scheduler.as_ref(),
        }))
    }

    /// A task in a run; mapped tasks (several instances) are summed up by their worst state.
    fn task<'a>(&'a self, dag_id: &str, run_id: &str, task_id: &'a str) -> TaskLookup<'a> {
        let Some((_, instances)) = self.tasks.get(dag_id).and_then(|runs| runs.iter().find(|(run, _)| run == run_id))
        else {
            return TaskLookup::NotFound;
        };
        let rank = |s: Option<&str>| match s {
            Some("failed") => 0,
            Some("upstream_failed") => 1,
            Some("success") => 9,
            Some("skipped") => 8,
            _ => 5,
        };
        let mine = || instances.iter().filter(|t| t.task_id == task_id);
        let Some(worst) = mine().min_by_key(|t| rank(t.state.as_deref())) else {
            return TaskLookup::NotFound;
        };
        TaskLookup::Found(TaskFacts {
            task_id,
            state: worst.state.as_deref(),
            start_date: mine().filter_map(|t| t.start_date).min(),
            end_date: mine().filter_map(|t| t.end_date).max(),
            try_number: worst.try_number,
        })
    }

    /// The poll interval for a DAG, from its schedule.
    pub fn poll_interval(&self, dag_id: &str) -> Duration {
        schedule::poll_interval(self.dags.get(dag_id).and_then(dag_period))
    }

    pub fn dag_count(&self) -> usize {
        self.dags.len()
    }

    pub fn has_dag(&self, dag_id: &str) -> bool {
        self.dags.contains_key(dag_id)
    }
}
