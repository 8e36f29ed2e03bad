//! The rulebook on real dbt artifacts: for each scenario of `tests/fixtures/dbt`, the exact
//! state and reason of every metric of every table (see `tests/fixtures/README.md`).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::common::{MODELS, product, scenario_run};
use chrono::{DateTime, TimeZone, Utc};
use tablestat::evaluate::{Evaluation, Inputs, evaluate};
use tablestat::facts::{AirflowView, DagFacts, DagRunFacts, DbtView, RunState, TaskFacts, TaskLookup};
use tablestat::model::{Judgment, Metric, Product, State, Verdict};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap()
}

fn dag_with_task(task_state: &str) -> AirflowView<'_> {
    AirflowView::Dag(Box::new(DagFacts {
        dag_id: "shop_daily",
        is_paused: false,
        is_active: true,
        import_error: None,
        schedule: Default::default(),
        scheduler: None,
        latest_finished: Some(DagRunFacts {
            run_id: "scheduled__2026-11-23T00:00:00+00:00",
            state: if task_state == "success" { RunState::Success } else { RunState::Failed },
            data_interval_end: Some(Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()),
            start_date: Some(Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap()),
            end_date: Some(Utc.with_ymd_and_hms(2026, 11, 24, 1, 30, 0).unwrap()),
            task: TaskLookup::Found(TaskFacts {
                task_id: "dbt_build",
                state: Some(task_state),
                start_date: Some(Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap()),
                end_date: Some(Utc.with_ymd_and_hms(2026, 11, 24, 1, 30, 0).unwrap()),
                try_number: Some(1),
            }),
        }),
        in_progress: None,
    }))
}

fn run_scenario(
    scenario: &str,
    task_state: &str,
    previous: &BTreeMap<String, BTreeMap<Metric, Judgment>>,
) -> BTreeMap<String, Evaluation> {
    let dbt = DbtView::Run(Arc::new(scenario_run(scenario)));
    let airflow = dag_with_task(task_state);
    let empty = BTreeMap::new();
    MODELS
        .iter()
        .map(|model| {
            let product: Product = product(model);
            let inputs = Inputs {
                now: now(),
                product: &product,
                maintenance: None,
                airflow: &airflow,
                dbt: &dbt,
                previous: previous.get(*model).unwrap_or(&empty),
                last_refresh: None,
                upstream: &[],
            };
            (model.to_string(), evaluate(&inputs))
        })
        .collect()
}

/// The evaluations as history hands them back, without the time each was judged.
fn as_previous(evals: &BTreeMap<String, Evaluation>) -> BTreeMap<String, BTreeMap<Metric, Judgment>> {
    evals
        .iter()
        .map(|(id, e)| {
            (id.clone(), e.metrics.iter().map(|(m, v)| (m.clone(), Judgment::new(v.clone(), None))).collect())
        })
        .collect()
}

/// One line per metric: `table metric state: reason`.
fn render(evals: &BTreeMap<String, Evaluation>) -> String {
    let mut out = String::new();
    for model in MODELS {
        for (metric, verdict) in &evals[model].metrics {
            out.push_str(&format!("{model} {metric} {}: {}\n", verdict.state, verdict.reason));
        }
    }
    out
}

fn all_pass() -> BTreeMap<String, Evaluation> {
    run_scenario("all_pass", "success", &BTreeMap::new())
}

#[track_caller]
fn assert_lines(actual: &str, expected: &str) {
    let expected: String =
        expected.lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| format!("{l}\n")).collect();
    if actual != expected {
        let diff: Vec<String> = actual
            .lines()
            .zip(expected.lines())
            .filter(|(a, e)| a != e)
            .map(|(a, e)| format!("  actual:   {a}\n  expected: {e}"))
            .collect();
        panic!("rulebook output differs:\n{}\n--- full actual ---\n{actual}", diff.join("\n"));
    }
}

/// Everything built and passed: every metric of every table is up.
#[test]
fn scenario_all_pass() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("all_pass", "success", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness up: 2 tests passed
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100; 1 test passed
        stg_orders correctness up: 2 tests passed
        stg_orders uniqueness up: 1 test passed
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_payments correctness up: 2 tests passed
        stg_payments uniqueness up: 1 test passed
        stg_payments completeness up: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; 1 test passed
        fct_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        fct_orders correctness up: 2 tests passed
        fct_orders uniqueness up: 1 test passed
        fct_orders completeness up: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        dim_customers correctness up: 1 test passed
        dim_customers uniqueness up: 1 test passed
        dim_customers completeness up: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        fct_daily_revenue correctness up: 1 test passed
        fct_daily_revenue uniqueness up: 1 test passed
        fct_daily_revenue completeness up: 2 tests passed
        "#,
    );
}

/// stg_orders: uniqueness and correctness down; stg_customers: completeness down; the three marts were not rebuilt (freshness down) and their own tests did not run, so those metrics keep their previous (all_pass) state.
#[test]
fn scenario_test_failures() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("test_failures", "failed", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness down: not_null test on email failed: 4 rows with no value
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100; 1 test passed
        stg_orders correctness down: relationships test on customer_id failed: 2 rows with no matching parent
        stg_orders uniqueness down: unique test on order_id failed: 2 duplicated values
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_payments correctness up: 2 tests passed
        stg_payments uniqueness up: 1 test passed
        stg_payments completeness up: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; its tests were not checked in the latest run
        fct_orders freshness down: not rebuilt: upstream test unique_stg_orders_order_id failed (and 1 more)
        fct_orders correctness up: not checked in the latest run; last result: 2 tests passed
        fct_orders uniqueness up: not checked in the latest run; last result: 1 test passed
        fct_orders completeness up: not checked in the latest run; last result: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness down: not rebuilt: upstream test not_null_stg_customers_email failed (and 2 more)
        dim_customers correctness up: not checked in the latest run; last result: 1 test passed
        dim_customers uniqueness up: not checked in the latest run; last result: 1 test passed
        dim_customers completeness up: not checked in the latest run; last result: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness down: not rebuilt: upstream test unique_stg_orders_order_id failed (and 1 more)
        fct_daily_revenue correctness up: not checked in the latest run; last result: 1 test passed
        fct_daily_revenue uniqueness up: not checked in the latest run; last result: 1 test passed
        fct_daily_revenue completeness up: not checked in the latest run; last result: 2 tests passed
        "#,
    );
}

/// fct_orders: a severity-ERROR test that ends in `warn` by threshold degrades correctness; fct_daily_revenue: a singular test fails; dim_customers: its unit test fails, so it is not rebuilt and its logic is wrong.
#[test]
fn scenario_mart_test_failures() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("mart_test_failures", "failed", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness up: 2 tests passed
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100; 1 test passed
        stg_orders correctness up: 2 tests passed
        stg_orders uniqueness up: 1 test passed
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_payments correctness up: 2 tests passed
        stg_payments uniqueness up: 1 test passed
        stg_payments completeness up: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; 1 test passed
        fct_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        fct_orders correctness degraded: test fct_orders_amount_not_negative (expression_is_true) warned: 1 failing row
        fct_orders uniqueness up: 1 test passed
        fct_orders completeness up: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness down: not rebuilt: unit test dim_customers_ltv_counts_kept_orders_only failed
        dim_customers correctness down: unit test dim_customers_ltv_counts_kept_orders_only failed: the model's logic does not give the expected rows
        dim_customers uniqueness up: not checked in the latest run; last result: 1 test passed
        dim_customers completeness up: not checked in the latest run; last result: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        fct_daily_revenue correctness down: test assert_no_revenue_in_the_future failed: 1 failing row
        fct_daily_revenue uniqueness up: 1 test passed
        fct_daily_revenue completeness up: 2 tests passed
        "#,
    );
}

/// stg_payments fails to build; the three marts are skipped behind it.
#[test]
fn scenario_model_error() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("model_error", "failed", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness up: 2 tests passed
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100; 1 test passed
        stg_orders correctness up: 2 tests passed
        stg_orders uniqueness up: 1 test passed
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness down: not rebuilt: the model failed: Binder Error: Referenced column "amount_usd" not found in FROM clause!
        stg_payments correctness up: not checked in the latest run; last result: 2 tests passed
        stg_payments uniqueness up: not checked in the latest run; last result: 1 test passed
        stg_payments completeness up: not checked in the latest run; last result: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; its tests were not checked in the latest run
        fct_orders freshness down: not rebuilt: upstream model stg_payments failed
        fct_orders correctness up: not checked in the latest run; last result: 2 tests passed
        fct_orders uniqueness up: not checked in the latest run; last result: 1 test passed
        fct_orders completeness up: not checked in the latest run; last result: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness down: not rebuilt: upstream model stg_payments failed
        dim_customers correctness up: not checked in the latest run; last result: 1 test passed
        dim_customers uniqueness up: not checked in the latest run; last result: 1 test passed
        dim_customers completeness up: not checked in the latest run; last result: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness down: not rebuilt: upstream model stg_payments failed
        fct_daily_revenue correctness up: not checked in the latest run; last result: 1 test passed
        fct_daily_revenue uniqueness up: not checked in the latest run; last result: 1 test passed
        fct_daily_revenue completeness up: not checked in the latest run; last result: 2 tests passed
        "#,
    );
}

/// A test that could not run makes its metric unknown, not down.
#[test]
fn scenario_test_error() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("test_error", "failed", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness unknown: not_null test on email could not run: Binder Error: Referenced column "email" not found in FROM clause!
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100; 1 test passed
        stg_orders correctness up: 2 tests passed
        stg_orders uniqueness up: 1 test passed
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_payments correctness up: 2 tests passed
        stg_payments uniqueness up: 1 test passed
        stg_payments completeness up: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; 1 test passed
        fct_orders freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        fct_orders correctness up: 2 tests passed
        fct_orders uniqueness up: 1 test passed
        fct_orders completeness up: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness down: not rebuilt: upstream test not_null_stg_customers_email failed
        dim_customers correctness up: not checked in the latest run; last result: 1 test passed
        dim_customers uniqueness up: not checked in the latest run; last result: 1 test passed
        dim_customers completeness up: not checked in the latest run; last result: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness up: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        fct_daily_revenue correctness up: 1 test passed
        fct_daily_revenue uniqueness up: 1 test passed
        fct_daily_revenue completeness up: 2 tests passed
        "#,
    );
}

/// sources.json: raw.orders error (down downstream), raw.customers warn (degraded).
#[test]
fn scenario_source_stale() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("source_stale", "success", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness degraded: source raw.customers is getting stale: data 15 h old when checked
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness up: 2 tests passed
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness down: source raw.orders is stale: data 30 h old when checked
        stg_orders correctness up: 2 tests passed
        stg_orders uniqueness up: 1 test passed
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100
        stg_payments correctness up: 2 tests passed
        stg_payments uniqueness up: 1 test passed
        stg_payments completeness up: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; 1 test passed
        fct_orders freshness down: source raw.orders is stale: data 30 h old when checked
        fct_orders correctness up: 2 tests passed
        fct_orders uniqueness up: 1 test passed
        fct_orders completeness up: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness down: source raw.orders is stale: data 30 h old when checked
        dim_customers correctness up: 1 test passed
        dim_customers uniqueness up: 1 test passed
        dim_customers completeness up: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness down: source raw.orders is stale: data 30 h old when checked
        fct_daily_revenue correctness up: 1 test passed
        fct_daily_revenue uniqueness up: 1 test passed
        fct_daily_revenue completeness up: 2 tests passed
        "#,
    );
}

/// raw.payments has freshness configured but is missing from sources.json: unknown downstream.
#[test]
fn scenario_source_runtime_error() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("source_runtime_error", "success", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness degraded: source raw.customers is getting stale: data 15 h old when checked
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness up: 2 tests passed
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness down: source raw.orders is stale: data 30 h old when checked
        stg_orders correctness up: 2 tests passed
        stg_orders uniqueness up: 1 test passed
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness unknown: freshness of source raw.payments could not be checked (missing from sources.json)
        stg_payments correctness up: 2 tests passed
        stg_payments uniqueness up: 1 test passed
        stg_payments completeness up: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; 1 test passed
        fct_orders freshness down: source raw.orders is stale: data 30 h old when checked
        fct_orders correctness up: 2 tests passed
        fct_orders uniqueness up: 1 test passed
        fct_orders completeness up: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness down: source raw.orders is stale: data 30 h old when checked
        dim_customers correctness up: 1 test passed
        dim_customers uniqueness up: 1 test passed
        dim_customers completeness up: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness down: source raw.orders is stale: data 30 h old when checked
        fct_daily_revenue correctness up: 1 test passed
        fct_daily_revenue uniqueness up: 1 test passed
        fct_daily_revenue completeness up: 2 tests passed
        "#,
    );
}

/// Only fct_orders was selected: the other tables keep their previous state.
#[test]
fn scenario_partial_selection() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("partial_selection", "success", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness up: not checked in the latest run; last result: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_customers correctness up: not checked in the latest run; last result: 1 test passed
        stg_customers uniqueness up: not checked in the latest run; last result: 1 test passed
        stg_customers completeness up: not checked in the latest run; last result: 2 tests passed
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness up: not checked in the latest run; last result: refreshed at 2026-11-24 01:21 UTC by dbt run 100; 1 test passed
        stg_orders correctness up: not checked in the latest run; last result: 2 tests passed
        stg_orders uniqueness up: not checked in the latest run; last result: 1 test passed
        stg_orders completeness up: not checked in the latest run; last result: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness up: not checked in the latest run; last result: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        stg_payments correctness up: not checked in the latest run; last result: 2 tests passed
        stg_payments uniqueness up: not checked in the latest run; last result: 1 test passed
        stg_payments completeness up: not checked in the latest run; last result: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; 1 test passed
        fct_orders freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100
        fct_orders correctness up: 2 tests passed
        fct_orders uniqueness up: 1 test passed
        fct_orders completeness up: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness up: not checked in the latest run; last result: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        dim_customers correctness up: not checked in the latest run; last result: 1 test passed
        dim_customers uniqueness up: not checked in the latest run; last result: 1 test passed
        dim_customers completeness up: not checked in the latest run; last result: 2 tests passed
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness up: not checked in the latest run; last result: refreshed at 2026-11-24 01:21 UTC by dbt run 100
        fct_daily_revenue correctness up: not checked in the latest run; last result: 1 test passed
        fct_daily_revenue uniqueness up: not checked in the latest run; last result: 1 test passed
        fct_daily_revenue completeness up: not checked in the latest run; last result: 2 tests passed
        "#,
    );
}

/// `dbt run` then `dbt test`: the second step's results override the first; bad rows reached the marts.
#[test]
fn scenario_run_then_test() {
    let previous = as_previous(&all_pass());
    let actual = render(&run_scenario("run_then_test", "failed", &previous));
    assert_lines(
        &actual,
        r#"
        stg_customers availability up: DAG shop_daily is active
        stg_customers freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100
        stg_customers correctness up: 1 test passed
        stg_customers uniqueness up: 1 test passed
        stg_customers completeness down: not_null test on email failed: 4 rows with no value
        stg_orders availability up: DAG shop_daily is active
        stg_orders freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100; 1 test passed
        stg_orders correctness down: relationships test on customer_id failed: 2 rows with no matching parent
        stg_orders uniqueness down: unique test on order_id failed: 2 duplicated values
        stg_orders completeness up: 2 tests passed
        stg_payments availability up: DAG shop_daily is active
        stg_payments freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100
        stg_payments correctness up: 2 tests passed
        stg_payments uniqueness up: 1 test passed
        stg_payments completeness up: 2 tests passed
        fct_orders availability up: DAG shop_daily is active; 1 test passed
        fct_orders freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100
        fct_orders correctness up: 2 tests passed
        fct_orders uniqueness down: unique test on order_id failed: 2 duplicated values
        fct_orders completeness up: 2 tests passed
        dim_customers availability up: DAG shop_daily is active
        dim_customers freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100
        dim_customers correctness up: 1 test passed
        dim_customers uniqueness up: 1 test passed
        dim_customers completeness degraded: not_null test on email warned: 4 rows with no value
        fct_daily_revenue availability up: DAG shop_daily is active
        fct_daily_revenue freshness up: refreshed at 2026-11-24 01:22 UTC by dbt run 100
        fct_daily_revenue correctness up: 1 test passed
        fct_daily_revenue uniqueness up: 1 test passed
        fct_daily_revenue completeness up: 2 tests passed
        "#,
    );
}

/// A metric blocked by its DAG (paused, missing) or unreadable is no judgment of the data:
/// once the DAG runs again, an untested metric is unknown, not still down for a DAG
/// that came back (found by resilience::faults).
#[test]
fn a_block_or_a_blind_spot_is_not_carried_as_a_test_result() {
    let previous: BTreeMap<String, BTreeMap<Metric, Judgment>> = MODELS
        .iter()
        .map(|model| {
            let verdicts = Metric::standard()
                .into_iter()
                .enumerate()
                .map(|(i, m)| {
                    let verdict = if i % 2 == 0 {
                        Verdict::new(State::Down, "blocked: DAG shop_daily does not exist in Airflow")
                    } else {
                        Verdict::new(State::Unknown, "Airflow could not be read since 2026-11-24 01:00 UTC: 503")
                    };
                    (m, Judgment::new(verdict, None))
                })
                .collect();
            (model.to_string(), verdicts)
        })
        .collect();
    let evals = run_scenario("test_failures", "failed", &previous);
    for (metric, verdict) in &evals["fct_orders"].metrics {
        if *metric != Metric::Freshness && *metric != Metric::Availability {
            assert_eq!(verdict.state, State::Unknown, "{metric}: {}", verdict.reason);
            assert!(verdict.reason.starts_with("not checked in the latest run"), "{metric}: {}", verdict.reason);
        }
    }
}
