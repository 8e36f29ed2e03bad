//! The rulebook over 5,000 products: on real dbt artifacts (the test_failures run: failing,
//! warning, skipped and passing tests, six models), and on the generated project of 5,000
//! models whose lineage is as deep as a real one's (500, 5,000 and 20,000 products). Run:
//! `cargo bench --bench rulebook`.

mod scale;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults, SourcesFile};
use tablestat::evaluate::{Inputs, evaluate};
use tablestat::facts::{AirflowView, DagFacts, DagRunFacts, DbtRun, DbtView, RunState, TaskFacts, TaskLookup};
use tablestat::model::{DbtRunId, Product};
use tablestat::sources::local_dbt;

fn main() {
    divan::main();
}

const MODELS: [&str; 6] =
    ["stg_customers", "stg_orders", "stg_payments", "fct_orders", "dim_customers", "fct_daily_revenue"];

fn airflow(task_state: &str) -> AirflowView<'_> {
    let t = at();
    AirflowView::Dag(Box::new(DagFacts {
        dag_id: "shop",
        is_paused: false,
        is_active: true,
        import_error: None,
        schedule: Default::default(),
        scheduler: None,
        latest_finished: Some(DagRunFacts {
            run_id: "scheduled__x",
            state: if task_state == "success" { RunState::Success } else { RunState::Failed },
            data_interval_end: Some(t),
            start_date: Some(t),
            end_date: Some(t),
            task: TaskLookup::Found(TaskFacts {
                task_id: "dbt_build",
                state: Some(task_state),
                start_date: Some(t),
                end_date: Some(t),
                try_number: Some(1),
            }),
        }),
        in_progress: None,
    }))
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 1, 30, 0).unwrap()
}

fn product(i: usize, model: &str) -> Product {
    Product {
        group: "g".into(),
        task_id: Some("dbt_build".into()),
        model: Some(model.into()),
        max_age: Some(std::time::Duration::from_secs(26 * 3600)),
        ..Product::new(&format!("p{i}"), "shop")
    }
}

/// Every product evaluated once, as a poll does.
fn evaluate_all(bencher: divan::Bencher, products: &[Product], airflow: &AirflowView, dbt: &DbtView) {
    let previous = BTreeMap::new();
    bencher.bench_local(|| {
        products
            .iter()
            .map(|product| {
                evaluate(&Inputs {
                    now: at(),
                    product,
                    maintenance: None,
                    airflow,
                    dbt,
                    previous: &previous,
                    last_refresh: None,
                    upstream: &[],
                })
            })
            .filter(|e| e.state == tablestat::model::State::Down)
            .count()
    });
}

#[divan::bench(sample_count = 20)]
fn rulebook_5000_products(bencher: divan::Bencher) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt/test_failures");
    let manifest: Manifest = dbt::read_artifact(ArtifactKind::Manifest, &dir.join("manifest.json")).unwrap();
    let results: RunResults = dbt::read_artifact(ArtifactKind::RunResults, &dir.join("run_results.json")).unwrap();
    let sources: SourcesFile = dbt::read_artifact(ArtifactKind::Sources, &dir.join("sources.json")).unwrap();
    let index = Arc::new(ProjectIndex::new(manifest, &BTreeMap::new()));
    let dbt = DbtView::Run(Arc::new(DbtRun::new(DbtRunId::Cloud(1), index, vec![results], Some(sources), None)));
    let products: Vec<Product> = (0..5000).map(|i| product(i, MODELS[i % MODELS.len()])).collect();
    evaluate_all(bencher, &products, &airflow("failed"), &dbt);
}

/// Products over the models of the generated project (a different model each up to 5,000,
/// then round again), its run green, its sources' freshness checked: what a large project's
/// poll evaluates, and how that grows from 500 to 5,000 to 20,000 products.
#[divan::bench(sample_count = 20, args = [500, 5000, 20_000])]
fn rulebook_generated_project(bencher: divan::Bencher, products: usize) {
    let run = local_dbt::read_target(scale::target(), None, &BTreeMap::new()).unwrap();
    let mut models: Vec<String> = run.index.models().map(|m| m.name.clone()).collect();
    models.sort();
    models.truncate(scale::MODELS);
    let products: Vec<Product> = models.iter().cycle().take(products).enumerate().map(|(i, m)| product(i, m)).collect();
    evaluate_all(bencher, &products, &airflow("success"), &DbtView::Run(Arc::new(run)));
}
