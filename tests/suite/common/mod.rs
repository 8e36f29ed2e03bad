//! Helpers shared by the integration tests: real dbt artifacts from `tests/fixtures/dbt`.

pub mod backend;
pub mod board;
pub mod fake;
pub mod fleet;
pub mod pipeline;
pub mod postgres;
pub mod proxy;
pub mod story;
pub mod tmux;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults, SourcesFile};
use tablestat::facts::DbtRun;
use tablestat::model::{DbtRunId, Product};

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// A dbt run read from one scenario folder: its manifest, its run_results (every
/// `run_results*.json`, `dbt_run` before the final one) and sources.json when present.
/// A freshness-only scenario (no run_results) is paired with the `all_pass` build, as a
/// dbt Cloud job with a build step, then a `source freshness` step.
pub fn scenario_run(scenario: &str) -> DbtRun {
    run_in(&fixture(&format!("dbt/{scenario}")))
}

/// The run whose artifacts are in `dir` (as a scenario's folder holds them).
pub fn run_in(dir: &std::path::Path) -> DbtRun {
    let manifest: Manifest = dbt::read_artifact(ArtifactKind::Manifest, &dir.join("manifest.json")).unwrap();
    let index = Arc::new(ProjectIndex::new(manifest, &BTreeMap::new()));
    let mut steps = Vec::new();
    for name in ["run_results.dbt_run.json", "run_results.json"] {
        let path = dir.join(name);
        if path.exists() {
            steps.push(dbt::read_artifact::<RunResults>(ArtifactKind::RunResults, &path).unwrap());
        }
    }
    if steps.is_empty() {
        let build = fixture("dbt/all_pass/run_results.json");
        steps.push(dbt::read_artifact::<RunResults>(ArtifactKind::RunResults, &build).unwrap());
    }
    let sources_path = dir.join("sources.json");
    let sources =
        sources_path.exists().then(|| dbt::read_artifact::<SourcesFile>(ArtifactKind::Sources, &sources_path).unwrap());
    DbtRun::new(DbtRunId::Cloud(100), index, steps, sources, None)
}

/// The six tables of the reference project.
pub const MODELS: [&str; 6] =
    ["stg_customers", "stg_orders", "stg_payments", "fct_orders", "dim_customers", "fct_daily_revenue"];

pub fn product(model: &str) -> Product {
    Product {
        group: "Shop".to_string(),
        task_id: Some("dbt_build".to_string()),
        model: Some(model.to_string()),
        dbt_job: Some(42),
        ..Product::new(model, "shop_daily")
    }
}

/// A child process killed when the test ends early (a failed assertion must not leave a
/// poller running).
pub struct Reaped(pub Option<std::process::Child>);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every node upstream of `unique_id`, nearest first: the plain walk the rulebook's
/// once-per-run pass over the graph is checked against.
pub fn ancestors<'i>(index: &'i ProjectIndex, unique_id: &str) -> Vec<&'i str> {
    let mut seen = std::collections::HashSet::new();
    let mut order: Vec<&str> = Vec::new();
    let mut queue = std::collections::VecDeque::from([unique_id.to_string()]);
    while let Some(id) = queue.pop_front() {
        for parent in index.parents(&id) {
            if seen.insert(parent.as_str()) {
                order.push(parent.as_str());
                queue.push_back(parent.clone());
            }
        }
    }
    order
}

/// A poll at `ts` that read every source, as the poller records it (no lease checked).
pub fn poll_at<'a>(
    ts: i64,
    checked: &'a [tablestat::poller::Checked],
    products: &'a [std::sync::Arc<Product>],
    open_incident_after: u32,
) -> tablestat::store::PollRecord<'a> {
    tablestat::store::PollRecord {
        started: ts,
        finished: ts,
        error: None,
        airflow_requests: 3,
        dbt_requests: 0,
        checked,
        products,
        open_incident_after,
        critical_maturities: &[],
        sources: &[],
        holder: None,
    }
}
