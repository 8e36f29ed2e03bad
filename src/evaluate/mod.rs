//! The rulebook: from what the sources saw to each metric's state and reason.
//!
//! Pure: no I/O, no clock (`now` is an input), no async. The previous states are an
//! input too, because a metric whose tests did not run keeps the state it had.
//! Every rule of the README's "The rules, in plain words" lives here, in that order.

mod cause;
pub mod incidents;
mod mesh;
mod phrases;
mod sheet;
pub mod shown;

/// The telling line of a dbt message, control characters dropped.
pub fn first_line(message: &str) -> String {
    phrases::cause(Some(message))
}

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::dbt::{FreshnessStatus, ModelInfo, ResultStatus};
use crate::facts::{AirflowView, DagFacts, DagRunFacts, DbtRun, DbtView, MaintenanceNotice, RunState, TaskLookup};
use crate::model::{Evidence, FailingTest, Judgment, Metric, Product, Refresh, State, Verdict};
use crate::timefmt;
pub use cause::Cause;
use cause::{Causes, Rank};
use sheet::{Fallback, Sheet};

/// How a metric blocked by its DAG's state begins its reason.
const BLOCKED_PREFIX: &str = "blocked: ";

/// Whether a verdict judged the data: not maintenance, not a monitor that could not see
/// (`unknown`), not a block by the DAG (which says nothing of the data once the DAG is
/// back). Only judgments are carried forward when a metric's tests do not run.
pub fn is_judgment(verdict: &Verdict) -> bool {
    !matches!(verdict.state, State::Maintenance | State::Unknown) && !verdict.reason.starts_with(BLOCKED_PREFIX)
}

/// Everything the rulebook looks at for one product.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub now: DateTime<Utc>,
    pub product: &'a Product,
    /// The active maintenance window covering this product, if any.
    pub maintenance: Option<&'a MaintenanceNotice>,
    pub airflow: &'a AirflowView<'a>,
    pub dbt: &'a DbtView,
    /// Each metric's last judgment from history ([`is_judgment`]), skipping polls that
    /// could not see, maintenance and DAG blocks.
    pub previous: &'a BTreeMap<Metric, Judgment>,
    /// The last successful refresh known from history (for `max_age`).
    pub last_refresh: Option<DateTime<Utc>>,
    /// The other dbt sources' runs this poll: a model built from another project's model
    /// that failed there names that failure (dbt mesh).
    pub upstream: &'a [Arc<crate::facts::DbtRun>],
}

/// What history knows about the products, handed to a poll: the rulebook's inputs from
/// the store.
#[derive(Debug, Default, Clone)]
pub struct Prior {
    /// Each product's last judgment per metric ([`is_judgment`]).
    pub previous: HashMap<String, BTreeMap<Metric, Judgment>>,
    pub last_refresh: HashMap<String, DateTime<Utc>>,
    pub maintenance: HashMap<String, MaintenanceNotice>,
}

/// One product after a poll: what the rulebook decided, and when to look again. The store
/// records it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Shared with the engine's product list: a poll copies no product.
    pub product: Arc<Product>,
    pub evaluation: Evaluation,
    pub checked_at: DateTime<Utc>,
    /// How long until this product is due again, from its DAG's schedule.
    pub interval: Duration,
}

/// The rulebook's answer for one product.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The worst of the metrics.
    pub state: State,
    /// One verdict per metric, in the product's order.
    pub metrics: Vec<(Metric, Verdict)>,
    pub evidence: Evidence,
    /// Said beside the states, e.g. "refresh in progress".
    pub note: Option<String>,
    /// The refresh the latest finished run made, if it rebuilt the table.
    pub refresh: Option<Refresh>,
    /// When the latest finished run ended: when its evidence came to be.
    pub run_finished_at: Option<DateTime<Utc>>,
    /// Why it is down, where a cause others may share was found (see [`Cause`]).
    pub cause: Option<Cause>,
}

impl Evaluation {
    pub fn verdict(&self, metric: &Metric) -> Option<&Verdict> {
        self.metrics.iter().find(|(m, _)| m == metric).map(|(_, v)| v)
    }
}

pub fn evaluate(inputs: &Inputs<'_>) -> Evaluation {
    let product = inputs.product;
    let mut evidence = Evidence { dag_id: Some(product.dag_id.clone()), ..Evidence::default() };

    // 1. Maintenance covers everything.
    if let Some(window) = inputs.maintenance {
        let reason = format!("planned maintenance until {}: {}", timefmt::stamp(window.ends_at), window.message);
        return uniform(product, State::Maintenance, &reason, evidence, None);
    }

    // 2. A monitor that cannot see never claims down or up.
    let dag = match inputs.airflow {
        AirflowView::Unreadable { reason, since } => {
            let reason = format!("Airflow could not be read since {}: {reason}", timefmt::stamp(*since));
            return uniform(product, State::Unknown, &reason, evidence, None);
        }
        AirflowView::Missing => {
            let cause = format!("DAG {} does not exist in Airflow", product.dag_id);
            return blocked(product, &cause, evidence);
        }
        AirflowView::Dag(dag) => dag,
    };

    // 3. A DAG that cannot run blocks every metric.
    let cause = if let Some(error) = &dag.import_error {
        Some(format!("DAG {} cannot be loaded: import error: {error}", dag.dag_id))
    } else if !dag.is_active {
        Some(format!("DAG {} is no longer active in Airflow (its file is gone or broken)", dag.dag_id))
    } else if dag.is_paused {
        Some(format!("DAG {} is paused", dag.dag_id))
    } else {
        None
    };
    if let Some(cause) = cause {
        return blocked(product, &cause, evidence);
    }

    let mut note = dag.in_progress.as_ref().map(|run| match run.start_date {
        Some(started) => {
            format!("refresh in progress: run {} started {}", run.run_id, timefmt::ago(started, inputs.now))
        }
        None => format!("refresh queued: run {}", run.run_id),
    });

    // 4. The latest finished run decides.
    let Some(run) = &dag.latest_finished else {
        let reason = format!("DAG {} has not finished a run yet", dag.dag_id);
        return uniform(product, State::Unknown, &reason, evidence, note);
    };
    evidence.dag_run_id = Some(run.run_id.to_string());

    let mut sheet = Sheet::new(&product.metrics);
    sheet.add(Metric::Availability, State::Up, format!("DAG {} is active", dag.dag_id));
    let task_label = product.task_id.as_deref().unwrap_or("the DAG run");

    let outcome: Cow<str> = match &run.task {
        TaskLookup::NotAsked => match &run.state {
            RunState::Success => "success".into(),
            RunState::Failed => "failed".into(),
            other => format!("{other:?}").to_lowercase().into(),
        },
        TaskLookup::NotFound => {
            let reason = format!(
                "task {task_label} is not in run {} of DAG {}: check `task` in the config",
                run.run_id, dag.dag_id
            );
            let metrics = sheet.finish(inputs, &Fallback::Unknown(reason));
            return finish(metrics, evidence, note, None, run.end_date);
        }
        TaskLookup::Found(task) => task.state.unwrap_or("none").into(),
    };

    let mut refreshed_at = None;
    let mut causes = Causes::default();
    let failed_run = |what: &str| {
        Cause::new(
            format!("run:{}/{}", dag.dag_id, run.run_id),
            format!("{what} in run {} of DAG {}", run.run_id, dag.dag_id),
        )
    };
    let fallback = match (outcome.as_ref(), inputs.dbt) {
        ("success", DbtView::Run(dbt)) => {
            apply_dbt_run(&mut sheet, &mut evidence, &mut refreshed_at, &mut causes, inputs, dbt, run, true)
        }
        ("success", dbt) => {
            if let DbtView::Unavailable(why) = dbt {
                // Up all the same; but say why the per-test details are missing.
                let detail = format!("dbt details unavailable: {why}");
                note = Some(match note.take() {
                    Some(n) => format!("{n}; {detail}"),
                    None => detail,
                });
            }
            let at = task_end(run);
            refreshed_at = at;
            let when = at.map(|t| format!(" at {}", timefmt::stamp(t))).unwrap_or_default();
            Fallback::Up(format!("refreshed{when}: {task_label} succeeded in run {}", run.run_id))
        }
        ("failed", DbtView::Run(dbt)) => {
            apply_dbt_run(&mut sheet, &mut evidence, &mut refreshed_at, &mut causes, inputs, dbt, run, false)
        }
        ("failed", DbtView::Unavailable(why)) => Fallback::Unknown(format!(
            "{task_label} failed in run {} and its dbt artifacts could not be read: {why}",
            run.run_id
        )),
        ("failed", DbtView::NotConfigured) => {
            sheet.add(
                Metric::Freshness,
                State::Down,
                format!("not refreshed: {task_label} failed in run {}", run.run_id),
            );
            causes.offer(Rank::Run, failed_run(&format!("{task_label} failed")));
            Fallback::Carry
        }
        ("upstream_failed", _) => {
            sheet.add(
                Metric::Freshness,
                State::Down,
                format!("not refreshed: a task before {task_label} failed in run {}", run.run_id),
            );
            causes.offer(Rank::Run, failed_run(&format!("a task before {task_label} failed")));
            Fallback::Carry
        }
        (other, _) => {
            sheet.note_all(format!("{task_label} ended {other} in run {}", run.run_id));
            Fallback::Carry
        }
    };

    // 6. Freshness SLO: a table can go stale with nothing failing. Without `max_age`, the
    // DAG's own schedule says when the next run is due.
    if product.max_age.is_none() && dag.in_progress.is_none() {
        if let Some(verdict) = overdue(dag, run, product, inputs.now) {
            if verdict.state == State::Down {
                let title = format!("DAG {} missed its scheduled run", dag.dag_id);
                causes.offer(Rank::Run, Cause::new(format!("schedule:{}", dag.dag_id), title));
            }
            sheet.add(Metric::Freshness, verdict.state, verdict.reason);
        }
    }
    if let Some(max_age) = product.max_age {
        let last = refreshed_at.or(inputs.last_refresh);
        if let Some(last) = last {
            let age = (inputs.now - last).num_seconds();
            if age > max_age.as_secs() as i64 {
                sheet.add(
                    Metric::Freshness,
                    State::Down,
                    format!(
                        "last refreshed {} ago, expected within {}",
                        timefmt::span(age),
                        timefmt::span(max_age.as_secs() as i64)
                    ),
                );
            }
        }
    }

    // 7. dbt mesh: built from another project's model that failed there.
    if let (DbtView::Run(dbt), Some(model)) = (inputs.dbt, product.model.as_deref()) {
        if let Some(model) = dbt.index.resolve_model(model) {
            if let Some((cause, root)) = mesh::upstream_failure(dbt, model, inputs.upstream) {
                sheet.add(Metric::Freshness, State::Down, format!("not rebuilt from fresh data: {cause}"));
                causes.offer(Rank::Upstream, root);
            }
        }
    }

    let metrics = sheet.finish(inputs, &fallback);
    // Who is affected: what reads the table outside dbt, said while it is down.
    if metrics.iter().any(|(_, v)| v.state == State::Down) {
        if let (DbtView::Run(dbt), Some(model)) = (inputs.dbt, product.model.as_deref()) {
            if let Some(model) = dbt.index.resolve_model(model) {
                evidence.exposures = dbt.index.exposures_below(&model.unique_id).cloned().collect();
            }
        }
    }
    let cause = causes.into_cause();
    let refresh = refreshed_at.map(|finished_at| Refresh {
        dag_run_id: run.run_id.to_string(),
        data_interval_end: run.data_interval_end,
        task_started: match &run.task {
            TaskLookup::Found(task) => task.start_date,
            _ => run.start_date,
        },
        finished_at,
    });
    Evaluation { cause, ..finish(metrics, evidence, note, refresh, run.end_date) }
}

/// Rules 4 and 5 with the dbt run at hand: per test, per table.
#[allow(clippy::too_many_arguments)]
fn apply_dbt_run(
    sheet: &mut Sheet,
    evidence: &mut Evidence,
    refreshed_at: &mut Option<DateTime<Utc>>,
    causes: &mut Causes,
    inputs: &Inputs<'_>,
    dbt: &DbtRun,
    run: &DagRunFacts,
    task_succeeded: bool,
) -> Fallback {
    evidence.dbt_run_id = Some(dbt.id.clone());
    evidence.dbt_run_url = dbt.url.clone();
    let Some(model_ref) = inputs.product.model.as_deref() else {
        // A DAG-only product: the task's outcome is all there is.
        return if task_succeeded {
            *refreshed_at = task_end(run);
            Fallback::Up(format!("refreshed in run {}", run.run_id))
        } else {
            sheet.add(
                Metric::Freshness,
                State::Down,
                format!("not refreshed: the dbt task failed in run {}", run.run_id),
            );
            let title = format!("the dbt task failed in run {} of DAG {}", run.run_id, run_dag(evidence));
            causes.offer(Rank::Run, Cause::new(format!("run:{}/{}", run_dag(evidence), run.run_id), title));
            Fallback::Carry
        };
    };
    let Some(model) = dbt.index.resolve_model(model_ref) else {
        return Fallback::Unknown(format!(
            "model {model_ref} is not in the dbt project of run {}: check `model` in the config",
            dbt.id
        ));
    };

    let mut any_result = false;
    // Failing tests, with their place in completion order: the first to fail is listed first.
    let mut failing: Vec<(usize, FailingTest)> = Vec::new();
    // The first critical test to fail (in completion order) is the table's own cause.
    let mut first_down: Option<(usize, Cause)> = None;
    for test in dbt.index.tests_of_model(model) {
        sheet.has_tests(&test.metric);
        let Some((order, result)) = dbt.result_of_test(test) else {
            continue;
        };
        any_result = true;
        let verdict = match &result.status {
            ResultStatus::Pass => {
                sheet.passed(&test.metric);
                continue;
            }
            ResultStatus::Skipped => continue,
            ResultStatus::Fail => {
                let state = if test.critical { State::Down } else { State::Degraded };
                Verdict::new(state, phrases::failed(test, result, "failed"))
            }
            ResultStatus::Warn => Verdict::new(State::Degraded, phrases::failed(test, result, "warned")),
            ResultStatus::Error | ResultStatus::RuntimeError => Verdict::new(
                State::Unknown,
                format!("{} could not run: {}", test.describe(), phrases::cause(result.message.as_deref())),
            ),
            other => Verdict::new(
                State::Unknown,
                format!("{} ended with unexpected status `{}`", test.describe(), other.as_str()),
            ),
        };
        sheet.judged(&test.metric);
        if verdict.state == State::Down && first_down.as_ref().is_none_or(|(at, _)| order < *at) {
            first_down =
                Some((order, Cause::new(format!("test:{}", test.unique_id), format!("`{}` failed", test.name))));
        }
        failing.push((
            order,
            FailingTest {
                unique_id: test.unique_id.clone(),
                status: result.status.as_str().to_string(),
                failures: result.failures,
                message: result.message.clone(),
                metric: test.metric.clone(),
            },
        ));
        sheet.add(test.metric.clone(), verdict.state, verdict.reason);
    }
    failing.sort_by_key(|(order, _)| *order);
    evidence.failing_tests.extend(failing.into_iter().map(|(_, test)| test));
    if let Some((_, cause)) = first_down {
        causes.offer(Rank::Own, cause);
    }

    let rebuilt = match dbt.result_of_model(model).map(|r| (&r.status, r)) {
        Some((ResultStatus::Success | ResultStatus::PartialSuccess | ResultStatus::NoOp, result)) => {
            let at = result.completed_at().or_else(|| task_end(run));
            *refreshed_at = at;
            let when = at.map(|t| format!(" at {}", timefmt::stamp(t))).unwrap_or_default();
            sheet.add(Metric::Freshness, State::Up, format!("refreshed{when} by dbt run {}", dbt.id));
            true
        }
        Some((ResultStatus::Reused, result)) => {
            // Nothing it depends on changed: the table is as current as the run.
            let at = result.completed_at().or_else(|| task_end(run));
            *refreshed_at = at;
            let when = at.map(|t| format!(" as of {}", timefmt::stamp(t))).unwrap_or_default();
            sheet.add(
                Metric::Freshness,
                State::Up,
                format!("current{when}: dbt run {} reused it, nothing it depends on changed", dbt.id),
            );
            true
        }
        Some((ResultStatus::Error, result)) => {
            sheet.add(
                Metric::Freshness,
                State::Down,
                format!("not rebuilt: the model failed: {}", phrases::cause(result.message.as_deref())),
            );
            causes.offer(
                Rank::Own,
                Cause::new(format!("model:{}", model.unique_id), format!("model {} failed", model.name)),
            );
            false
        }
        Some((ResultStatus::Skipped, _)) => {
            let (why, root) = skip_cause(dbt, model);
            sheet.add(Metric::Freshness, State::Down, format!("not rebuilt: {why}"));
            if let Some(root) = root {
                causes.offer(Rank::Upstream, root);
            }
            false
        }
        Some((other, _)) => {
            sheet.add(
                Metric::Freshness,
                State::Unknown,
                format!("model ended with unexpected status `{}`", other.as_str()),
            );
            false
        }
        None => {
            if !any_result {
                sheet.note_all(format!("{} was not in dbt run {}", model.name, dbt.id));
            }
            false
        }
    };

    apply_source_freshness(sheet, causes, dbt, model);
    if rebuilt {
        Fallback::UpWhenUntested(format!("no tests check this; current as of dbt run {}", dbt.id))
    } else {
        Fallback::Carry
    }
}

/// Rule 5: sources upstream of the model, from sources.json.
fn apply_source_freshness(sheet: &mut Sheet, causes: &mut Causes, dbt: &DbtRun, model: &ModelInfo) {
    let Some(freshness) = dbt.freshness() else {
        return;
    };
    // Sources that passed say nothing: only the others are looked at.
    for source in dbt.unhealthy_sources_upstream(model) {
        let name = &source.display_name;
        let age = |r: &crate::dbt::FreshnessResult| {
            r.max_loaded_at_time_ago_in_s
                .map(|s| format!(": data {} old when checked", timefmt::span(s as i64)))
                .unwrap_or_default()
        };
        match freshness.get(&source.unique_id) {
            Some(r) => match &r.status {
                FreshnessStatus::Pass => {}
                FreshnessStatus::Error => {
                    sheet.add(Metric::Freshness, State::Down, format!("source {name} is stale{}", age(r)));
                    let stale = Cause::new(format!("source:{}", source.unique_id), format!("source {name} is stale"));
                    causes.offer(Rank::Source, stale);
                }
                FreshnessStatus::Warn => {
                    sheet.add(Metric::Freshness, State::Degraded, format!("source {name} is getting stale{}", age(r)))
                }
                FreshnessStatus::RuntimeError | FreshnessStatus::Other(_) => sheet.add(
                    Metric::Freshness,
                    State::Unknown,
                    format!("freshness of source {name} could not be checked"),
                ),
            },
            // dbt leaves out a source whose freshness query failed.
            None => sheet.add(
                Metric::Freshness,
                State::Unknown,
                format!("freshness of source {name} could not be checked (missing from sources.json)"),
            ),
        }
    }
}

/// Why dbt skipped a model: the nearest failures upstream (or its own unit tests), and the
/// first of them as the cause it shares with every table below it.
fn skip_cause(dbt: &DbtRun, model: &ModelInfo) -> (String, Option<Cause>) {
    let own: Vec<(usize, &crate::dbt::TestInfo)> = dbt
        .index
        .tests_of_model(model)
        .filter(|test| matches!(test.kind, crate::dbt::TestKind::Unit))
        .filter_map(|test| dbt.result_of_test(test).filter(|(_, r)| r.status.is_failure()).map(|(at, _)| (at, test)))
        .collect();
    let mut upstream = dbt.failed_upstream(model);
    // Both come in completion order and never share a node: the first to fail is named, the
    // rest counted (a table below a broken staging layer has hundreds).
    let count = own.len() + upstream.len();
    let first_own = own.iter().min_by_key(|(at, _)| *at);
    let first_upstream = upstream.next();
    let first = match (first_own, first_upstream) {
        (Some((at, _)), Some(id)) if dbt.position(id).unwrap_or(usize::MAX) < *at => Err(id),
        (Some((_, test)), _) => Ok(test),
        (None, Some(id)) => Err(id),
        (None, None) => return ("dbt skipped it because an earlier step failed".to_string(), None),
    };
    let (cause, root) = match first {
        Ok(own) => (
            format!("unit test {} failed", own.name),
            Cause::new(format!("test:{}", own.unique_id), format!("unit test `{}` failed", own.name)),
        ),
        Err(id) => match (dbt.index.test(id), dbt.index.model(id)) {
            (Some(test), _) => {
                let what = if matches!(test.kind, crate::dbt::TestKind::Unit) { "unit test" } else { "test" };
                (
                    format!("upstream {what} {} failed", test.name),
                    Cause::new(format!("test:{id}"), format!("`{}` failed", test.name)),
                )
            }
            (None, model) => {
                let name = model.map_or(id, |m| m.name.as_str());
                (
                    format!("upstream model {name} failed"),
                    Cause::new(format!("model:{id}"), format!("model {name} failed")),
                )
            }
        },
    };
    let said = if count == 1 { cause } else { format!("{cause} (and {} more)", count - 1) };
    (said, Some(root))
}

/// The DAG a run's evidence names (every evaluation that reaches a run has one).
fn run_dag(evidence: &Evidence) -> &str {
    evidence.dag_id.as_deref().unwrap_or_default()
}

/// How Airflow names the runs its scheduler creates (manual runs start `manual__`).
const SCHEDULED_RUN_PREFIX: &str = "scheduled__";

/// The smallest grace a due run gets before it is late.
const MIN_LATE_AFTER: i64 = 120;

/// A scheduler whose heartbeat is older than this is named in late reasons.
const SCHEDULER_SILENT_AFTER: i64 = 120;

/// Rule 6 without `max_age`: the run the schedule expected has not started. Late after a
/// grace (`late_after`, default max(2 min, 10 % of the period)): `degraded`; a whole period
/// more without a run, missed: `down`. A DAG with no schedule is never late.
///
/// Airflow's own next run time is due only once it has passed: a future one (a weekday-only
/// schedule over the weekend) is never late. Once passed, the run after the latest scheduled
/// one is due if it is earlier, because with `catchup=False` Airflow 3's DAG processor moves
/// the next run time forward to the latest tick while the scheduler is stopped (seen on
/// 3.3.2): it alone would never say more than "late by under a period".
fn overdue(dag: &DagFacts<'_>, run: &DagRunFacts<'_>, product: &Product, now: DateTime<Utc>) -> Option<Verdict> {
    let next = dag.schedule.next_due.filter(|next| *next <= now)?;
    let period = dag.schedule.period.map(|p| p.as_secs() as i64).filter(|p| *p > 0);
    let after_latest = match (period, run.data_interval_end) {
        (Some(period), Some(end)) if run.run_id.starts_with(SCHEDULED_RUN_PREFIX) => {
            Some(end + chrono::Duration::seconds(period))
        }
        _ => None,
    };
    let due = after_latest.filter(|at| *at < next).unwrap_or(next);
    let grace = product
        .late_after
        .map(|d| d.as_secs() as i64)
        .unwrap_or_else(|| period.map_or(MIN_LATE_AFTER, |p| (p / 10).max(MIN_LATE_AFTER)));
    let overdue = (now - due).num_seconds();
    if overdue < grace {
        return None;
    }
    let scheduler = scheduler_silence(dag, now).map(|s| format!("; {s}")).unwrap_or_default();
    if let Some(period) = period.filter(|p| overdue >= p + grace) {
        let last = match run.start_date.or(run.end_date) {
            Some(t) => format!("no run since {}", timefmt::stamp(t)),
            None => "no run".to_string(),
        };
        let expected = match cadence(period) {
            Some(word) => format!("expected {word}"),
            None => format!("expected every {}", timefmt::span(period)),
        };
        return Some(Verdict::new(State::Down, format!("missed: {last}, {expected}{scheduler}")));
    }
    let which = match period.map(|p| (p, cadence(p))) {
        Some((_, Some(word))) => format!("the {word} run"),
        Some((p, None)) => format!("the run (every {})", timefmt::span(p)),
        None => "the scheduled run".to_string(),
    };
    Some(Verdict::new(
        State::Degraded,
        format!("late: {which} due {} has not started ({}){scheduler}", timefmt::stamp(due), timefmt::span(overdue)),
    ))
}

/// "hourly", "daily": the periods with a word.
fn cadence(period: i64) -> Option<&'static str> {
    match period {
        3600 => Some("hourly"),
        86_400 => Some("daily"),
        604_800 => Some("weekly"),
        _ => None,
    }
}

/// "the Airflow scheduler has not sent a heartbeat since 06:02", when it has stopped.
fn scheduler_silence(dag: &DagFacts<'_>, now: DateTime<Utc>) -> Option<String> {
    let health = dag.scheduler?;
    let silent = health.heartbeat_at.is_some_and(|t| (now - t).num_seconds() > SCHEDULER_SILENT_AFTER);
    let unhealthy = health.status.as_deref() != Some("healthy");
    if !silent && !unhealthy {
        return None;
    }
    Some(match health.heartbeat_at {
        Some(t) => format!("the Airflow scheduler has not sent a heartbeat since {}", timefmt::stamp(t)),
        None => "the Airflow scheduler reports no heartbeat".to_string(),
    })
}

fn task_end(run: &DagRunFacts) -> Option<DateTime<Utc>> {
    match &run.task {
        TaskLookup::Found(task) => task.end_date.or(run.end_date),
        _ => run.end_date,
    }
}

/// Every metric the same state and reason.
fn uniform(product: &Product, state: State, reason: &str, evidence: Evidence, note: Option<String>) -> Evaluation {
    let metrics = product.metrics.iter().map(|m| (m.clone(), Verdict::new(state, reason))).collect();
    finish(metrics, evidence, note, None, None)
}

/// Rule 3: availability names the cause, the others say they are blocked by it; every
/// product of the DAG shares it.
fn blocked(product: &Product, cause: &str, evidence: Evidence) -> Evaluation {
    let metrics = product
        .metrics
        .iter()
        .map(|m| {
            let reason =
                if *m == Metric::Availability { cause.to_string() } else { format!("{BLOCKED_PREFIX}{cause}") };
            (m.clone(), Verdict::new(State::Down, reason))
        })
        .collect();
    Evaluation {
        cause: Some(Cause::new(format!("dag:{}", product.dag_id), cause)),
        ..finish(metrics, evidence, None, None, None)
    }
}

fn finish(
    metrics: Vec<(Metric, Verdict)>,
    evidence: Evidence,
    note: Option<String>,
    refresh: Option<Refresh>,
    run_finished_at: Option<DateTime<Utc>>,
) -> Evaluation {
    let state = State::worst_of(metrics.iter().map(|(_, v)| v.state)).unwrap_or(State::Unknown);
    Evaluation { state, metrics, evidence, note, refresh, run_finished_at, cause: None }
}
