//! Every rule of the README's "The rules, in plain words", one case each, so that
//! breaking a rule breaks a test. Real artifacts where dbt is involved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{fixture, product, scenario_run};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults};
use tablestat::evaluate::{Evaluation, Inputs, evaluate};
use tablestat::facts::{
    AirflowView, DagFacts, DagRunFacts, DbtRun, DbtView, MaintenanceNotice, RunState, Schedule, SchedulerHealth,
    TaskFacts, TaskLookup,
};
use tablestat::model::{DbtRunId, Judgment, Metric, Product, State, Verdict};

pub(super) fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap()
}

pub(super) fn run(task_state: Option<&'static str>) -> DagRunFacts<'static> {
    DagRunFacts {
        run_id: "scheduled__2026-11-23T00:00:00+00:00",
        state: if task_state == Some("success") { RunState::Success } else { RunState::Failed },
        data_interval_end: Some(t(0, 0)),
        start_date: Some(t(1, 0)),
        end_date: Some(t(1, 30)),
        task: TaskLookup::Found(TaskFacts {
            task_id: "dbt_build",
            state: task_state,
            start_date: Some(t(1, 0)),
            end_date: Some(t(1, 30)),
            try_number: Some(1),
        }),
    }
}

pub(super) fn dag(edit: impl FnOnce(&mut DagFacts<'static>)) -> AirflowView<'static> {
    let mut facts = DagFacts {
        dag_id: "shop_daily",
        is_paused: false,
        is_active: true,
        import_error: None,
        latest_finished: Some(run(Some("success"))),
        in_progress: None,
        schedule: Default::default(),
        scheduler: None,
    };
    edit(&mut facts);
    AirflowView::Dag(Box::new(facts))
}

struct Case {
    product: Product,
    airflow: AirflowView<'static>,
    dbt: DbtView,
    maintenance: Option<MaintenanceNotice>,
    previous: BTreeMap<Metric, Judgment>,
    last_refresh: Option<DateTime<Utc>>,
    /// Other projects' runs this poll (dbt mesh).
    upstream: Vec<std::sync::Arc<tablestat::facts::DbtRun>>,
    now: DateTime<Utc>,
}

impl Case {
    fn new(model: &str) -> Case {
        Case {
            product: product(model),
            airflow: dag(|_| {}),
            dbt: DbtView::NotConfigured,
            maintenance: None,
            previous: BTreeMap::new(),
            last_refresh: None,
            upstream: Vec::new(),
            now: t(2, 0),
        }
    }

    fn eval(&self) -> Evaluation {
        evaluate(&Inputs {
            now: self.now,
            product: &self.product,
            maintenance: self.maintenance.as_ref(),
            airflow: &self.airflow,
            dbt: &self.dbt,
            previous: &self.previous,
            last_refresh: self.last_refresh,
            upstream: &self.upstream,
        })
    }
}

fn dbt(scenario: &str) -> DbtView {
    DbtView::Run(Arc::new(scenario_run(scenario)))
}

#[track_caller]
fn assert_metric(e: &Evaluation, metric: Metric, state: State, reason: &str) {
    let v = e.verdict(&metric).unwrap_or_else(|| panic!("no {metric}"));
    assert_eq!((v.state, v.reason.as_str()), (state, reason), "{metric}");
}

#[test]
fn rule_1_maintenance_wins_over_everything() {
    let mut case = Case::new("stg_orders");
    case.airflow = AirflowView::Missing;
    case.maintenance =
        Some(MaintenanceNotice { id: 1, message: "Warehouse upgrade".into(), starts_at: t(1, 0), ends_at: t(4, 0) });
    let e = case.eval();
    assert_eq!(e.state, State::Maintenance);
    for (_, v) in &e.metrics {
        assert_eq!(v.reason, "planned maintenance until 2026-11-24 04:00 UTC: Warehouse upgrade");
    }
}

#[test]
fn rule_2_unreadable_airflow_is_unknown_never_down_or_up() {
    let mut case = Case::new("stg_orders");
    case.airflow = AirflowView::Unreadable { reason: "connection refused", since: t(1, 55) };
    case.dbt = dbt("test_failures");
    let e = case.eval();
    assert_eq!(e.state, State::Unknown);
    assert!(e.metrics.iter().all(|(_, v)| v.state == State::Unknown
        && v.reason == "Airflow could not be read since 2026-11-24 01:55 UTC: connection refused"));
}

#[test]
fn rule_3_a_dag_that_cannot_run_blocks_every_metric() {
    let cases: Vec<(AirflowView, &str)> = vec![
        (AirflowView::Missing, "DAG shop_daily does not exist in Airflow"),
        (dag(|d| d.is_paused = true), "DAG shop_daily is paused"),
        (dag(|d| d.is_active = false), "DAG shop_daily is no longer active in Airflow (its file is gone or broken)"),
        (
            dag(|d| d.import_error = Some("SyntaxError: invalid syntax")),
            "DAG shop_daily cannot be loaded: import error: SyntaxError: invalid syntax",
        ),
    ];
    for (airflow, cause) in cases {
        let mut case = Case::new("stg_orders");
        case.airflow = airflow;
        let e = case.eval();
        assert_eq!(e.state, State::Down, "{cause}");
        assert_metric(&e, Metric::Availability, State::Down, cause);
        assert_metric(&e, Metric::Uniqueness, State::Down, &format!("blocked: {cause}"));
    }
}

#[test]
fn rule_4_a_green_task_makes_every_metric_up_without_artifacts() {
    let mut case = Case::new("stg_orders");
    case.dbt = DbtView::Unavailable("dbt Cloud answered 503".into());
    let e = case.eval();
    assert_eq!(e.state, State::Up);
    assert_metric(&e, Metric::Availability, State::Up, "DAG shop_daily is active");
    assert_metric(
        &e,
        Metric::Correctness,
        State::Up,
        "refreshed at 2026-11-24 01:30 UTC: dbt_build succeeded in run scheduled__2026-11-23T00:00:00+00:00",
    );
    assert_eq!(e.refresh.as_ref().map(|r| r.finished_at), Some(t(1, 30)));
    assert_eq!(e.refresh.as_ref().map(|r| r.data_interval_end), Some(Some(t(0, 0))));
}

#[test]
fn rule_4_warnings_behind_a_green_task_degrade_their_metric() {
    // dbt exits 0 when tests only warn; source_stale's build has a recency warn... and
    // test_failures' accepted_values warn is the case where the warn alone decides.
    let mut case = Case::new("stg_orders");
    case.dbt = dbt("mart_test_failures");
    case.product = product("fct_orders");
    let e = case.eval();
    assert_metric(
        &e,
        Metric::Correctness,
        State::Degraded,
        "test fct_orders_amount_not_negative (expression_is_true) warned: 1 failing row",
    );
    assert_eq!(e.state, State::Degraded);
}

#[test]
fn rule_4_a_failure_elsewhere_leaves_this_table_up() {
    let mut case = Case::new("stg_payments");
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = dbt("test_failures");
    let e = case.eval();
    assert_eq!(e.state, State::Up);
    assert!(e.evidence.failing_tests.is_empty());
}

#[test]
fn rule_4_failing_tests_are_evidence_in_completion_order() {
    let mut case = Case::new("stg_orders");
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = dbt("test_failures");
    let e = case.eval();
    let ids: Vec<(&str, &str, Option<i64>)> =
        e.evidence.failing_tests.iter().map(|f| (f.unique_id.as_str(), f.status.as_str(), f.failures)).collect();
    assert_eq!(
        ids,
        vec![
            (
                "test.shop.accepted_values_stg_orders_status__placed__shipped__completed__returned__cancelled.cb8754312d",
                "warn",
                Some(1)
            ),
            ("test.shop.unique_stg_orders_order_id.e3b841c71a", "fail", Some(2)),
            (
                "test.shop.relationships_stg_orders_customer_id__customer_id__ref_stg_customers_.430bf21500",
                "fail",
                Some(2)
            ),
        ]
    );
    assert_eq!(e.evidence.dbt_run_id, Some(DbtRunId::Cloud(100)));
    assert_eq!(e.evidence.dag_run_id.as_deref(), Some("scheduled__2026-11-23T00:00:00+00:00"));
}

#[test]
fn rule_4_untested_metrics_without_history_are_unknown() {
    let mut case = Case::new("fct_orders");
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = dbt("test_failures");
    let e = case.eval();
    assert_metric(&e, Metric::Uniqueness, State::Unknown, "not checked in the latest run");
    assert_metric(
        &e,
        Metric::Freshness,
        State::Down,
        "not rebuilt: upstream test unique_stg_orders_order_id failed (and 1 more)",
    );
}

#[test]
fn rule_4_carried_states_do_not_grow_with_each_poll() {
    let mut case = Case::new("fct_orders");
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = dbt("test_failures");
    case.previous.insert(Metric::Uniqueness, Judgment::new(Verdict::new(State::Degraded, "1 test passed"), None));
    let first = case.eval();
    assert_metric(
        &first,
        Metric::Uniqueness,
        State::Degraded,
        "not checked in the latest run; last result: 1 test passed",
    );
    case.previous = first.metrics.iter().map(|(m, v)| (m.clone(), Judgment::new(v.clone(), Some(t(1, 30))))).collect();
    assert_eq!(case.eval().metrics, first.metrics);
}

#[test]
fn rule_4_a_failed_task_without_artifacts_is_unknown_never_a_guess() {
    let mut case = Case::new("stg_orders");
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = DbtView::Unavailable("run_results.json is older than the task (parse error?)".into());
    let e = case.eval();
    assert_metric(&e, Metric::Availability, State::Up, "DAG shop_daily is active");
    assert_metric(
        &e,
        Metric::Uniqueness,
        State::Unknown,
        "dbt_build failed in run scheduled__2026-11-23T00:00:00+00:00 and its dbt artifacts could not be read: run_results.json is older than the task (parse error?)",
    );
}

#[test]
fn rule_4_upstream_failed_means_not_refreshed() {
    let mut case = Case::new("stg_orders");
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("upstream_failed"))));
    case.previous.insert(Metric::Uniqueness, Judgment::new(Verdict::new(State::Up, "1 test passed"), None));
    let e = case.eval();
    assert_metric(
        &e,
        Metric::Freshness,
        State::Down,
        "not refreshed: a task before dbt_build failed in run scheduled__2026-11-23T00:00:00+00:00",
    );
    assert_metric(&e, Metric::Uniqueness, State::Up, "not checked in the latest run; last result: 1 test passed");
}

#[test]
fn rule_4_a_run_in_progress_is_noted_and_the_finished_one_decides() {
    let mut case = Case::new("stg_orders");
    case.airflow = dag(|d| {
        let mut running = run(None);
        running.run_id = "manual__2026-11-24T01:50:00+00:00";
        running.state = RunState::Running;
        running.start_date = Some(t(1, 50));
        d.in_progress = Some(running);
    });
    let e = case.eval();
    assert_eq!(e.state, State::Up);
    assert_eq!(
        e.note.as_deref(),
        Some("refresh in progress: run manual__2026-11-24T01:50:00+00:00 started 10 min ago")
    );
}

#[test]
fn rule_4_no_finished_run_yet_is_unknown() {
    let mut case = Case::new("stg_orders");
    case.airflow = dag(|d| d.latest_finished = None);
    let e = case.eval();
    assert_eq!(e.state, State::Unknown);
    assert_metric(&e, Metric::Freshness, State::Unknown, "DAG shop_daily has not finished a run yet");
}

#[test]
fn rule_4_a_task_missing_from_the_run_is_unknown() {
    let mut case = Case::new("stg_orders");
    case.airflow = dag(|d| d.latest_finished.as_mut().unwrap().task = TaskLookup::NotFound);
    let e = case.eval();
    assert_metric(&e, Metric::Availability, State::Up, "DAG shop_daily is active");
    assert_metric(
        &e,
        Metric::Freshness,
        State::Unknown,
        "task dbt_build is not in run scheduled__2026-11-23T00:00:00+00:00 of DAG shop_daily: check `task` in the config",
    );
}

#[test]
fn rule_4_a_model_the_project_does_not_have_is_unknown() {
    let mut case = Case::new("stg_orders");
    case.product.model = Some("fct_order".into());
    case.dbt = dbt("all_pass");
    let e = case.eval();
    assert_metric(
        &e,
        Metric::Uniqueness,
        State::Unknown,
        "model fct_order is not in the dbt project of run 100: check `model` in the config",
    );
}

#[test]
fn rule_4_a_model_may_be_named_by_unique_id() {
    let mut case = Case::new("stg_orders");
    case.product.model = Some("model.shop.stg_orders".into());
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = dbt("test_failures");
    assert_eq!(case.eval().state, State::Down);
}

#[test]
fn rule_5_source_freshness_reaches_every_table_downstream() {
    let mut case = Case::new("fct_daily_revenue");
    case.dbt = dbt("source_stale");
    let e = case.eval();
    assert_metric(&e, Metric::Freshness, State::Down, "source raw.orders is stale: data 30 h old when checked");
}

#[test]
fn rule_6_max_age_catches_a_dag_that_silently_stopped() {
    let mut case = Case::new("stg_orders");
    case.product.max_age = Some(Duration::from_secs(24 * 3600));
    case.now = t(1, 30) + chrono::Duration::hours(31);
    let e = case.eval();
    assert_metric(&e, Metric::Freshness, State::Down, "last refreshed 31 h ago, expected within 24 h");
    assert_metric(
        &e,
        Metric::Uniqueness,
        State::Up,
        "refreshed at 2026-11-24 01:30 UTC: dbt_build succeeded in run scheduled__2026-11-23T00:00:00+00:00",
    );

    // With the last refresh from history, a failing run cannot hide staleness either.
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("upstream_failed"))));
    case.last_refresh = Some(t(1, 30));
    assert_metric(
        &case.eval(),
        Metric::Freshness,
        State::Down,
        "not refreshed: a task before dbt_build failed in run scheduled__2026-11-23T00:00:00+00:00; last refreshed 31 h ago, expected within 24 h",
    );
}

/// Rule 6 without `max_age`: the DAG's schedule says when the next run is due. The daily
/// run of the 23rd's interval is due at 00:00 on the 25th; grace is 10 % of a day (2 h 24 min).
#[test]
fn rule_6_a_run_the_schedule_expected_that_has_not_started_is_late_then_missed() {
    let day = Duration::from_secs(86_400);
    let due = t(0, 0) + chrono::Duration::days(1);
    let healthy = SchedulerHealth { status: Some("healthy".into()), heartbeat_at: None };
    let silent =
        SchedulerHealth { status: Some("unhealthy".into()), heartbeat_at: Some(due - chrono::Duration::minutes(3)) };
    let after = |h: i64, m: i64| due + chrono::Duration::hours(h) + chrono::Duration::minutes(m);
    // Every 15 minutes: the run after the latest (its interval ended 00:00) is due 00:15.
    let quarter = t(0, 15);
    let up = "refreshed at 2026-11-24 01:30 UTC: dbt_build succeeded in run scheduled__2026-11-23T00:00:00+00:00";
    // (case, next due, period, late_after, a run in progress, scheduler, now) -> freshness
    type Row<'a> = (
        &'a str,
        Option<DateTime<Utc>>,
        Option<Duration>,
        Option<Duration>,
        bool,
        Option<&'a SchedulerHealth>,
        DateTime<Utc>,
        State,
        &'a str,
    );
    let rows: Vec<Row> = vec![
        (
            "not due yet",
            Some(due),
            Some(day),
            None,
            false,
            Some(&healthy),
            due - chrono::Duration::hours(1),
            State::Up,
            up,
        ),
        ("due, within the grace", Some(due), Some(day), None, false, Some(&healthy), after(2, 23), State::Up, up),
        (
            "past the grace",
            Some(due),
            Some(day),
            None,
            false,
            Some(&healthy),
            after(2, 24),
            State::Degraded,
            "late: the daily run due 2026-11-25 00:00 UTC has not started (2 h 24 min)",
        ),
        (
            "the scheduler stopped: named",
            Some(due),
            Some(day),
            None,
            false,
            Some(&silent),
            after(3, 0),
            State::Degraded,
            "late: the daily run due 2026-11-25 00:00 UTC has not started (3 h); the Airflow scheduler has not sent a heartbeat since 2026-11-24 23:57 UTC",
        ),
        (
            "a whole period more: missed",
            Some(due),
            Some(day),
            None,
            false,
            Some(&healthy),
            after(26, 24),
            State::Down,
            "missed: no run since 2026-11-24 01:00 UTC, expected daily",
        ),
        ("a run in progress is not late", Some(due), Some(day), None, true, Some(&healthy), after(5, 0), State::Up, up),
        ("no schedule (manual, assets): never late", None, None, None, false, None, after(100, 0), State::Up, up),
        (
            "late_after set: 10 minutes",
            Some(due),
            Some(day),
            Some(Duration::from_secs(600)),
            false,
            None,
            after(0, 10),
            State::Degraded,
            "late: the daily run due 2026-11-25 00:00 UTC has not started (10 min)",
        ),
        (
            "an unnamed period; the 2 min floor",
            Some(quarter),
            Some(Duration::from_secs(900)),
            None,
            false,
            None,
            quarter + chrono::Duration::minutes(2),
            State::Degraded,
            "late: the run (every 15 min) due 2026-11-24 00:15 UTC has not started (2 min)",
        ),
        (
            "an unnamed period, missed",
            Some(quarter),
            Some(Duration::from_secs(900)),
            None,
            false,
            None,
            quarter + chrono::Duration::minutes(17),
            State::Down,
            "missed: no run since 2026-11-24 01:00 UTC, expected every 15 min",
        ),
        (
            "the scheduler stopped; Airflow moved its next run to the latest tick (catchup off)",
            Some(after(24, 0)),
            Some(day),
            None,
            false,
            Some(&silent),
            after(26, 30),
            State::Down,
            "missed: no run since 2026-11-24 01:00 UTC, expected daily; the Airflow scheduler has not sent a heartbeat since 2026-11-24 23:57 UTC",
        ),
        (
            "a next run in the future (a weekday schedule over the weekend) is never late",
            Some(after(48, 0)),
            Some(day),
            None,
            false,
            Some(&healthy),
            after(30, 0),
            State::Up,
            up,
        ),
    ];
    for (case_name, next_due, period, late_after, running, scheduler, now, state, reason) in rows {
        let mut case = Case::new("stg_orders");
        case.product.late_after = late_after;
        case.now = now;
        case.airflow = dag(|d| {
            d.schedule = Schedule { next_due, period };
            d.scheduler = scheduler.cloned().map(|s| &*Box::leak(Box::new(s)));
            if running {
                d.in_progress = Some(DagRunFacts { state: RunState::Running, end_date: None, ..run(None) });
            }
        });
        let e = case.eval();
        let v = e.verdict(&Metric::Freshness).unwrap();
        assert_eq!((v.state, v.reason.as_str()), (state, reason), "{case_name}");
    }

    // With max_age, the SLO decides instead: never both.
    let mut case = Case::new("stg_orders");
    case.product.max_age = Some(Duration::from_secs(48 * 3600));
    case.now = after(3, 0);
    case.airflow = dag(|d| d.schedule = Schedule { next_due: Some(due), period: Some(day) });
    assert_metric(&case.eval(), Metric::Freshness, State::Up, up);
}

/// dbt 1.12's state-aware runs: a reused model counts as current, and its tests that did
/// not run keep their last judgment.
#[test]
fn rule_4_a_reused_model_is_current_and_keeps_its_judgments() {
    use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults};
    let dir = crate::common::fixture("dbt/all_pass");
    let manifest: Manifest = dbt::read_artifact(ArtifactKind::Manifest, &dir.join("manifest.json")).unwrap();
    let index = Arc::new(ProjectIndex::new(manifest, &BTreeMap::new()));
    let mut results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run_results.json")).unwrap()).unwrap();
    // fct_orders reused; its tests not run (state-aware runs skip what did not change).
    let list = results["results"].as_array_mut().unwrap();
    list.retain(|r| {
        let id = r["unique_id"].as_str().unwrap();
        !(id.starts_with("test.") && id.contains("fct_orders"))
    });
    for r in list.iter_mut().filter(|r| r["unique_id"] == "model.shop.fct_orders") {
        r["status"] = "reused".into();
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), results.to_string()).unwrap();
    let steps = vec![dbt::read_artifact::<RunResults>(ArtifactKind::RunResults, file.path()).unwrap()];
    let mut case = Case::new("fct_orders");
    case.dbt = DbtView::Run(Arc::new(tablestat::facts::DbtRun::new(DbtRunId::Cloud(7), index, steps, None, None)));
    case.previous.insert(
        Metric::Uniqueness,
        Judgment::new(Verdict::new(State::Down, "unique test on order_id failed"), Some(t(0, 30))),
    );
    let e = case.eval();
    let freshness = e.verdict(&Metric::Freshness).unwrap();
    assert_eq!(freshness.state, State::Up, "{}", freshness.reason);
    assert!(freshness.reason.contains("dbt run 7 reused it, nothing it depends on changed"), "{}", freshness.reason);
    assert_metric(
        &e,
        Metric::Uniqueness,
        State::Down,
        "not checked in the latest run; last tested 2026-11-24 00:30 UTC: unique test on order_id failed",
    );
    // Never judged: unknown, never up.
    assert_eq!(e.verdict(&Metric::Completeness).unwrap().state, State::Unknown);
}

#[test]
fn a_product_shows_only_its_metrics_in_its_order() {
    let mut case = Case::new("stg_orders");
    case.product.metrics = vec![Metric::Uniqueness, Metric::Availability];
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = dbt("test_failures");
    let e = case.eval();
    let names: Vec<&str> = e.metrics.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["uniqueness", "availability"]);
    assert_eq!(e.state, State::Down);
}

#[test]
fn overall_state_is_the_worst_metric() {
    let order = [State::Down, State::Degraded, State::Unknown, State::Maintenance, State::Up];
    for (i, a) in order.iter().enumerate() {
        for b in &order[i..] {
            assert_eq!(a.worst(*b), *a);
            assert_eq!(b.worst(*a), *a);
        }
    }
}

#[test]
fn exit_codes_follow_the_monitoring_plugin_convention() {
    use tablestat::model::exit_code_for;
    let cases = [
        (vec![State::Up, State::Maintenance], 0),
        (vec![State::Up, State::Degraded], 1),
        (vec![State::Unknown, State::Degraded], 1),
        (vec![State::Down, State::Unknown, State::Degraded], 2),
        (vec![State::Unknown, State::Up], 3),
        (vec![], 0),
    ];
    for (states, code) in cases {
        assert_eq!(exit_code_for(states.clone()), code, "{states:?}");
    }
}

#[test]
fn test_metric_comes_from_meta_then_config_then_defaults() {
    use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex};
    let manifest: Manifest =
        dbt::read_artifact(ArtifactKind::Manifest, &crate::common::fixture("dbt/all_pass/manifest.json")).unwrap();
    let map: BTreeMap<String, Metric> = [
        ("shop_checks.recency".to_string(), Metric::Correctness), // meta says freshness: meta wins
        ("not_null".to_string(), Metric::Custom("nulls".into())), // beats the default
        ("assert_no_revenue_in_the_future".to_string(), Metric::Uniqueness), // meta wins again
    ]
    .into();
    let index = ProjectIndex::new(manifest, &map);
    let metric = |id: &str| index.test(id).unwrap().metric.clone();
    let critical = |id: &str| index.test(id).unwrap().critical;
    assert_eq!(metric("test.shop.shop_checks_recency_stg_orders_loaded_at__24.5da060e506"), Metric::Freshness);
    assert_eq!(metric("test.shop.not_null_stg_orders_order_id.81cfe2fe64"), Metric::Custom("nulls".into()));
    assert_eq!(metric("test.shop.not_null_stg_customers_email.d7cf761533"), Metric::Completeness); // meta
    assert_eq!(metric("test.shop.unique_fct_orders_order_id.523ddb6ce5"), Metric::Uniqueness); // default
    assert_eq!(metric("test.shop.assert_no_revenue_in_the_future"), Metric::Correctness);
    assert_eq!(metric("unit_test.shop.dim_customers.dim_customers_ltv_counts_kept_orders_only"), Metric::Correctness);
    // Critical: meta first, then severity (case-insensitive): `warn` is not critical.
    assert!(critical("test.shop.unique_fct_orders_order_id.523ddb6ce5")); // severity ERROR
    assert!(!critical("test.shop.not_null_dim_customers_email.ed68b54d1a")); // severity warn
    assert!(!critical("test.shop.shop_checks_recency_stg_orders_loaded_at__24.5da060e506")); // warn, meta silent
    // Singular tests speak for every table they read; unit tests for their model.
    let of = |model: &str| index.tests_of(model).map(|t| t.name.clone()).collect::<Vec<_>>();
    assert!(of("model.shop.fct_daily_revenue").contains(&"assert_no_revenue_in_the_future".to_string()));
    assert!(of("model.shop.dim_customers").contains(&"dim_customers_ltv_counts_kept_orders_only".to_string()));
    // A relationships test speaks for the table it is attached to, not the one it points at.
    assert!(!of("model.shop.stg_customers").iter().any(|n| n.starts_with("relationships_stg_orders")));
    let mut sources: Vec<&str> = crate::common::ancestors(&index, "model.shop.fct_orders")
        .into_iter()
        .filter_map(|id| index.source(id))
        .map(|s| s.display_name.as_str())
        .collect();
    sources.sort();
    assert_eq!(sources, ["raw.orders", "raw.payments"]);
}

#[test]
fn a_non_critical_failure_only_degrades() {
    use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults};
    use tablestat::facts::DbtRun;
    // The real test_failures artifacts, with meta `critical: false` on the failing unique test.
    let dir = crate::common::fixture("dbt/test_failures");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    doc["nodes"]["test.shop.unique_stg_orders_order_id.e3b841c71a"]["meta"]["tablestat"]["critical"] = false.into();
    let manifest: Manifest = dbt::parse_artifact(ArtifactKind::Manifest, &serde_json::to_vec(&doc).unwrap()).unwrap();
    let results: RunResults = dbt::read_artifact(ArtifactKind::RunResults, &dir.join("run_results.json")).unwrap();
    let edited = DbtRun::new(
        DbtRunId::Cloud(7),
        Arc::new(ProjectIndex::new(manifest, &BTreeMap::new())),
        vec![results],
        None,
        None,
    );
    let mut case = Case::new("stg_orders");
    case.airflow = dag(|d| d.latest_finished = Some(run(Some("failed"))));
    case.dbt = DbtView::Run(Arc::new(edited));
    let e = case.eval();
    assert_metric(&e, Metric::Uniqueness, State::Degraded, "unique test on order_id failed: 2 duplicated values");
    assert_metric(
        &e,
        Metric::Correctness,
        State::Down,
        "relationships test on customer_id failed: 2 rows with no matching parent",
    );
}

#[test]
fn discovery_finds_tagged_models_and_meta_blocks() {
    use tablestat::config::DiscoverRule;
    use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex};
    let manifest: Manifest =
        dbt::read_artifact(ArtifactKind::Manifest, &crate::common::fixture("dbt/all_pass/manifest.json")).unwrap();
    let index = ProjectIndex::new(manifest, &BTreeMap::new());
    let rule = DiscoverRule {
        airflow: None,
        dbt: None,
        tag: Some("finance".into()),
        dag: "shop_daily".into(),
        task: Some("dbt_build".into()),
        group: Some("Warehouse".into()),
        metrics: Metric::standard(),
        max_age: None,
        late_after: None,
    };
    let found = tablestat::discover::discover(&rule, &index);
    let summary: Vec<(String, String, String, Option<String>)> =
        found.iter().map(|p| (p.id.clone(), p.name.clone(), p.group.clone(), p.owner.clone())).collect();
    // Every model of the project carries a meta.tablestat block (product, group).
    assert_eq!(
        summary,
        vec![
            ("dim_customers".into(), "Customers".into(), "Sales".into(), Some("crm".into())),
            ("fct_daily_revenue".into(), "Daily revenue".into(), "Finance".into(), Some("finance".into())),
            ("fct_orders".into(), "Orders".into(), "Sales".into(), Some("sales-analytics".into())),
            ("stg_customers".into(), "Customers (staging)".into(), "Staging".into(), None),
            ("stg_orders".into(), "Orders (staging)".into(), "Staging".into(), None),
            ("stg_payments".into(), "Payments (staging)".into(), "Staging".into(), None),
        ]
    );
    assert!(found.iter().all(|p| p.dag_id == "shop_daily" && p.task_id.as_deref() == Some("dbt_build")));
    assert_eq!(found[2].model.as_deref(), Some("model.shop.fct_orders"));
    let listed = vec![product("fct_orders")];
    let merged = tablestat::discover::merge(&listed, found);
    assert_eq!(merged.len(), 6);
    assert_eq!(merged[0].group, "Shop", "the listed product wins");
}

// dbt mesh: a project `mart` built from the reference project `shop` (its manifest lists
// `model.shop.stg_orders` as a parent, as a cross-project `ref` does). When shop is another
// source and its run of this poll failed the model or a test on it, mart's table names that
// failure; when shop's run is green, or shop is not watched, nothing changes.

/// `mart`'s run: the reference manifest seen from a consumer project (shop's models are
/// another package's), plus `orders_mart` built from `model.shop.<parent>`, which succeeded.
fn mart_run(parent: &str) -> DbtRun {
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(fixture("dbt/all_pass/manifest.json")).unwrap()).unwrap();
    manifest["metadata"]["project_name"] = json!("mart");
    let mut node = manifest["nodes"]["model.shop.fct_orders"].clone();
    node["unique_id"] = json!("model.mart.orders_mart");
    node["name"] = json!("orders_mart");
    node["package_name"] = json!("mart");
    node["depends_on"]["nodes"] = json!([format!("model.shop.{parent}")]);
    manifest["nodes"]["model.mart.orders_mart"] = node;
    manifest["parent_map"]["model.mart.orders_mart"] = json!([format!("model.shop.{parent}")]);
    let manifest: Manifest =
        dbt::parse_artifact(ArtifactKind::Manifest, &serde_json::to_vec(&manifest).unwrap()).unwrap();
    let mut results: Value =
        serde_json::from_slice(&std::fs::read(fixture("dbt/all_pass/run_results.json")).unwrap()).unwrap();
    let mut built = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "model.shop.fct_orders")
        .unwrap()
        .clone();
    built["unique_id"] = json!("model.mart.orders_mart");
    results["results"] = json!([built]);
    let results: RunResults =
        dbt::parse_artifact(ArtifactKind::RunResults, &serde_json::to_vec(&results).unwrap()).unwrap();
    DbtRun::new(
        DbtRunId::Cloud(900),
        Arc::new(ProjectIndex::new(manifest, &BTreeMap::new())),
        vec![results],
        None,
        None,
    )
}

fn mesh_freshness(parent: &str, upstream: &[Arc<DbtRun>]) -> (State, String) {
    let mut case = Case::new("orders_mart");
    case.dbt = DbtView::Run(Arc::new(mart_run(parent)));
    case.upstream = upstream.to_vec();
    case.now = t(1, 40);
    let evaluation = case.eval();
    let verdict = evaluation.metrics.iter().find(|(m, _)| *m == Metric::Freshness).unwrap().1.clone();
    (verdict.state, verdict.reason)
}

#[test]
fn a_failure_in_the_upstream_project_is_named_downstream() {
    let shop = |scenario: &str| vec![Arc::new(scenario_run(scenario))];
    let cases: [(&str, &str, State, &str); 5] = [
        // shop's unique test on stg_orders failed: mart's table was built from that.
        (
            "stg_orders",
            "test_failures",
            State::Down,
            "not rebuilt from fresh data: upstream `shop.stg_orders` failed its test unique_stg_orders_order_id (and 1 more) in project shop (dbt run 100)",
        ),
        // shop's stg_payments errored.
        (
            "stg_payments",
            "model_error",
            State::Down,
            "not rebuilt from fresh data: upstream `shop.stg_payments` failed in project shop (dbt run 100)",
        ),
        // and fct_orders, below it, was skipped.
        (
            "fct_orders",
            "model_error",
            State::Down,
            "not rebuilt from fresh data: upstream `shop.fct_orders` was skipped in project shop (dbt run 100)",
        ),
        // shop green: nothing to say.
        ("stg_orders", "all_pass", State::Up, ""),
        // a parent whose model and tests passed in shop's failing run: nothing to say.
        ("stg_payments", "test_failures", State::Up, ""),
    ];
    for (parent, scenario, state, reason) in cases {
        let (got, why) = mesh_freshness(parent, &shop(scenario));
        assert_eq!(got, state, "{parent} in {scenario}: {why}");
        if !reason.is_empty() {
            assert_eq!(why, reason, "{parent} in {scenario}");
        }
    }
    // shop not watched (no other project's run this poll): the consumer is judged alone.
    assert_eq!(mesh_freshness("stg_orders", &[]).0, State::Up);
}
