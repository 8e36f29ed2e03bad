//! Root causes on real dbt runs and DAG runs: which products share a cause, so that one
//! failure upstream is one incident (see `store::pipeline` for the incident itself).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::each_rule::{dag, run, t};
use crate::common::{product, scenario_run};
use tablestat::evaluate::{Inputs, evaluate};
use tablestat::facts::{AirflowView, DbtView};

const MODELS: [&str; 6] =
    ["stg_orders", "stg_customers", "stg_payments", "fct_orders", "dim_customers", "fct_daily_revenue"];

/// Each model's cause key (`-` when it has none: up, or not down).
fn causes(airflow: &AirflowView<'_>, dbt: &DbtView) -> BTreeMap<&'static str, String> {
    MODELS
        .iter()
        .map(|model| {
            let p = product(model);
            let e = evaluate(&Inputs {
                now: t(2, 0),
                product: &p,
                maintenance: None,
                airflow,
                dbt,
                previous: &BTreeMap::new(),
                last_refresh: None,
                upstream: &[],
            });
            (*model, e.cause.map_or_else(|| "-".to_string(), |c| c.key))
        })
        .collect()
}

/// Groups the models by cause, in the order of [`MODELS`]: what would be one incident each.
fn groups(causes: &BTreeMap<&'static str, String>) -> Vec<(String, Vec<&'static str>)> {
    let mut groups: Vec<(String, Vec<&'static str>)> = Vec::new();
    for model in MODELS {
        let key = &causes[model];
        if key == "-" {
            continue;
        }
        match groups.iter_mut().find(|(k, _)| k == key) {
            Some((_, members)) => members.push(model),
            None => groups.push((key.clone(), vec![model])),
        }
    }
    groups
}

#[test]
fn one_failure_upstream_is_one_cause_for_every_table_below_it() {
    type Expected = Vec<(&'static str, Vec<&'static str>)>;
    let cases: Vec<(&str, Expected)> = vec![
        (
            // A duplicated order id: stg_orders fails its unique test; the marts built from it
            // are not rebuilt. A null email: stg_customers and the dimension below it.
            "test_failures",
            vec![
                (
                    "test:test.shop.unique_stg_orders_order_id.e3b841c71a",
                    vec!["stg_orders", "fct_orders", "fct_daily_revenue"],
                ),
                ("test:test.shop.not_null_stg_customers_email.d7cf761533", vec!["stg_customers", "dim_customers"]),
            ],
        ),
        (
            // A stale source under four tables (stg_customers reads another source, which only warns).
            "source_stale",
            vec![(
                "source:source.shop.raw.orders",
                vec!["stg_orders", "fct_orders", "dim_customers", "fct_daily_revenue"],
            )],
        ),
        (
            // A model that failed to build: it and every model dbt then skipped.
            "model_error",
            vec![(
                "model:model.shop.stg_payments",
                vec!["stg_payments", "fct_orders", "dim_customers", "fct_daily_revenue"],
            )],
        ),
        (
            // Failures on two marts, unrelated: two causes.
            "mart_test_failures",
            vec![
                ("test:unit_test.shop.dim_customers.dim_customers_ltv_counts_kept_orders_only", vec!["dim_customers"]),
                ("test:test.shop.assert_no_revenue_in_the_future", vec!["fct_daily_revenue"]),
            ],
        ),
    ];
    for (scenario, expected) in cases {
        let dbt = DbtView::Run(Arc::new(scenario_run(scenario)));
        let got = groups(&causes(&dag(|_| {}), &dbt));
        let expected: Vec<(String, Vec<&str>)> = expected.into_iter().map(|(k, m)| (k.to_string(), m)).collect();
        assert_eq!(got, expected, "{scenario}");
    }
}

#[test]
fn a_dag_that_failed_before_dbt_or_cannot_run_is_one_cause_for_all_its_tables() {
    let run_id = "scheduled__2026-11-23T00:00:00+00:00";
    let cases = [
        (
            dag(|d| d.latest_finished = Some(run(Some("upstream_failed")))),
            DbtView::NotConfigured,
            format!("run:shop_daily/{run_id}"),
        ),
        (
            dag(|d| d.latest_finished = Some(run(Some("failed")))),
            DbtView::NotConfigured,
            format!("run:shop_daily/{run_id}"),
        ),
        (dag(|d| d.is_paused = true), DbtView::NotConfigured, "dag:shop_daily".to_string()),
        (AirflowView::Missing, DbtView::NotConfigured, "dag:shop_daily".to_string()),
    ];
    for (airflow, dbt, key) in cases {
        let got = causes(&airflow, &dbt);
        assert!(got.values().all(|k| *k == key), "{key}: {got:?}");
    }
    // Unreadable Airflow is not a cause: nothing is down.
    let blind = AirflowView::Unreadable { reason: "connection refused", since: t(1, 0) };
    assert!(causes(&blind, &DbtView::NotConfigured).values().all(|k| k == "-"));
}
