//! The rulebook over 5,000 products, on real dbt artifacts (the test_failures run: failing,
//! warning, skipped and passing tests). Run: `cargo bench --bench rulebook`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults, SourcesFile};
use tablestat::evaluate::{Inputs, evaluate};
use tablestat::facts::{AirflowView, DagFacts, DagRunFacts, DbtRun, DbtView, RunState, TaskFacts, TaskLookup};
use tablestat::model::{DbtRunId, Metric, Product};

fn main() {
    divan::main();
}

const MODELS: [&str; 6] =
    ["stg_customers", "stg_orders", "stg_payments", "fct_orders", "dim_customers", "fct_daily_revenue"];

#[divan::bench(sample_count = 20)]
fn rulebook_5000_products(bencher: divan::Bencher) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt/test_failures");
    let manifest: Manifest = dbt::read_artifact(ArtifactKind::Manifest, &dir.join("manifest.json")).unwrap();
    let results: RunResults = dbt::read_artifact(ArtifactKind::RunResults, &dir.join("run_results.json")).unwrap();
    let sources: SourcesFile = dbt::read_artifact(ArtifactKind::Sources, &dir.join("sources.json")).unwrap();
    let index = Arc::new(ProjectIndex::new(manifest, &BTreeMap::new()));
    let dbt = DbtView::Run(Arc::new(DbtRun::new(DbtRunId::Cloud(1), index, vec![results], Some(sources), None)));
    let t = Utc.with_ymd_and_hms(2026, 11, 24, 1, 30, 0).unwrap();
    let airflow = AirflowView::Dag(Box::new(DagFacts {
        dag_id: "shop".into(),
        is_paused: false,
        is_active: true,
        import_error: None,
        latest_finished: Some(DagRunFacts {
            run_id: "scheduled__x".into(),
            state: RunState::Failed,
            data_interval_end: Some(t),
            start_date: Some(t),
            end_date: Some(t),
            task: TaskLookup::Found(TaskFacts {
                task_id: "dbt_build".into(),
                state: Some("failed".into()),
                start_date: Some(t),
                end_date: Some(t),
                try_number: Some(1),
            }),
        }),
        in_progress: None,
    }));
    let products: Vec<Product> = (0..5000)
        .map(|i| Product {
            id: format!("p{i}"),
            name: format!("p{i}"),
            description: None,
            owner: None,
            group: "g".into(),
            tags: vec![],
            dag_id: "shop".into(),
            task_id: Some("dbt_build".into()),
            model: Some(MODELS[i % MODELS.len()].into()),
            dbt_job: None,
            metrics: Metric::standard(),
            max_age: Some(std::time::Duration::from_secs(26 * 3600)),
            slo: None,
            interval: None,
        })
        .collect();
    let previous = BTreeMap::new();
    bencher.bench_local(|| {
        products
            .iter()
            .map(|product| {
                evaluate(&Inputs {
                    now: t,
                    product,
                    maintenance: None,
                    airflow: &airflow,
                    dbt: &dbt,
                    previous: &previous,
                    last_refresh: None,
                })
            })
            .filter(|e| e.state == tablestat::model::State::Down)
            .count()
    });
}
