//! Root causes on real dbt runs and DAG runs (which products share a cause, so that one
//! failure upstream is one incident; `store::pipeline` has the incident itself), who is
//! affected (exposures), and who owns a table.

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

/// A dashboard on `fct_daily_revenue` (an exposure, shaped as dbt 1.10 writes it into the
/// manifest): the tables it reads through — the mart and every staging table below it —
/// say so while they are down; tables it does not read say nothing.
#[test]
fn a_table_down_says_which_exposures_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = crate::common::fixture("dbt/test_failures");
    for file in ["run_results.json", "sources.json"] {
        if fixture.join(file).exists() {
            std::fs::copy(fixture.join(file), dir.path().join(file)).unwrap();
        }
    }
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("manifest.json")).unwrap()).unwrap();
    manifest["exposures"]["exposure.shop.weekly_revenue"] = serde_json::json!({
        "name": "weekly_revenue", "resource_type": "exposure", "package_name": "shop",
        "path": "exposures.yml", "original_file_path": "models/exposures.yml",
        "unique_id": "exposure.shop.weekly_revenue", "fqn": ["shop", "weekly_revenue"],
        "type": "dashboard", "owner": {"email": "finance@example.com", "name": "Finance"},
        "description": "", "label": "Weekly revenue", "maturity": "high", "meta": {}, "tags": [],
        "config": {"enabled": true, "tags": [], "meta": {}}, "unrendered_config": {},
        "url": "https://bi.example.com/weekly", "depends_on": {"macros": [], "nodes": ["model.shop.fct_daily_revenue"]},
        "refs": [{"name": "fct_daily_revenue", "package": null, "version": null}], "sources": [], "metrics": [],
        "created_at": 1764000000.0
    });
    manifest["parent_map"]["exposure.shop.weekly_revenue"] = serde_json::json!(["model.shop.fct_daily_revenue"]);
    std::fs::write(dir.path().join("manifest.json"), manifest.to_string()).unwrap();
    let dbt = DbtView::Run(Arc::new(crate::common::run_in(dir.path())));
    let airflow = dag(|_| {});
    let reads = |model: &str| {
        let p = product(model);
        let e = evaluate(&Inputs {
            now: t(2, 0),
            product: &p,
            maintenance: None,
            airflow: &airflow,
            dbt: &dbt,
            previous: &BTreeMap::new(),
            last_refresh: None,
            upstream: &[],
        });
        e.evidence.exposures.iter().map(|x| x.describe()).collect::<Vec<_>>()
    };
    let dashboard = vec!["the dashboard *Weekly revenue*".to_string()];
    assert_eq!(reads("fct_daily_revenue"), dashboard);
    assert_eq!(reads("stg_orders"), dashboard, "read through the mart");
    assert!(reads("dim_customers").is_empty(), "down, but the dashboard does not read it");
    assert!(reads("stg_payments").is_empty(), "up: nothing to say");
}

/// Who owns a table, for routing its alerts: the model's `meta.owner`, else the owner of the
/// dbt group it belongs to (as dbt 1.10 writes groups into the manifest).
#[test]
fn a_model_without_its_own_owner_is_owned_by_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = crate::common::fixture("dbt/test_failures/manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    manifest["groups"]["group.shop.finance"] = serde_json::json!({
        "name": "finance", "resource_type": "group", "package_name": "shop", "path": "_groups.yml",
        "original_file_path": "models/_groups.yml", "unique_id": "group.shop.finance",
        "owner": {"email": "finance@example.com", "name": "finance-data"}, "description": null, "config": {"meta": {}}
    });
    // stg_payments has no owner of its own; fct_orders has one (`sales-analytics`).
    manifest["nodes"]["model.shop.stg_payments"]["group"] = serde_json::json!("finance");
    manifest["nodes"]["model.shop.fct_orders"]["group"] = serde_json::json!("finance");
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, manifest.to_string()).unwrap();
    let manifest: tablestat::dbt::Manifest =
        tablestat::dbt::read_artifact(tablestat::dbt::ArtifactKind::Manifest, &path).unwrap();
    let index = tablestat::dbt::ProjectIndex::new(manifest, &BTreeMap::new());
    let owner = |model: &str| index.resolve_model(model).unwrap().owner();
    assert_eq!(owner("stg_payments").as_deref(), Some("finance-data"), "the group's");
    assert_eq!(owner("fct_orders").as_deref(), Some("sales-analytics"), "its own first");
    assert_eq!(owner("stg_orders"), None);
}
