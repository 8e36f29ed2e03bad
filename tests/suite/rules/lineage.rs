//! What a run's tables inherit from upstream, worked out once over the whole graph (the
//! sources whose freshness did not pass, what failed), is exactly what a walk of each table's
//! ancestors finds: on every real fixture, on a generated project whose lineage is as deep as
//! a large one's; and the pass over the graph ends on a cycle.

#[path = "../../../examples/scale_artifacts/generate.rs"]
#[allow(dead_code)]
mod generate;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;
use tablestat::dbt::{self, ArtifactKind, FreshnessStatus, Manifest, ProjectIndex};
use tablestat::facts::DbtRun;
use tablestat::sources::local_dbt;

/// Every table's unhealthy upstream sources against a walk of its ancestors; returns the
/// tables with any.
fn check_unhealthy_sources(run: &DbtRun, what: &str) -> usize {
    let passed = |id: &str| run.freshness().and_then(|f| f.get(id)).is_some_and(|r| r.status == FreshnessStatus::Pass);
    let mut with_sources = 0;
    for model in run.index.models() {
        let walked: Vec<&str> = match run.freshness() {
            None => Vec::new(),
            Some(_) => {
                let mut found: Vec<&str> = crate::common::ancestors(&run.index, &model.unique_id)
                    .into_iter()
                    .filter(|id| run.index.source(id).is_some_and(|s| s.has_freshness) && !passed(id))
                    .collect();
                found.sort();
                found
            }
        };
        let kept: Vec<&str> = run.unhealthy_sources_upstream(model).map(|s| s.unique_id.as_str()).collect();
        assert_eq!(kept, walked, "{what}: {}", model.unique_id);
        with_sources += usize::from(!kept.is_empty());
    }
    with_sources
}

/// Every fixture's `target/` that reads as a run, and a generated project of 400 models.
fn runs() -> Vec<(String, DbtRun)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt");
    let mut runs: Vec<(String, DbtRun)> = std::fs::read_dir(&fixtures)
        .unwrap()
        .filter_map(|entry| {
            let dir = entry.unwrap().path();
            local_dbt::read_target(&dir, None, &BTreeMap::new()).ok().map(|run| (dir.display().to_string(), run))
        })
        .collect();
    assert!(runs.len() >= 5, "only {} fixture runs", runs.len());
    let dir = tempfile::tempdir().unwrap();
    generate::write(&generate::Scale { models: 400, tests: 400, seed: 7, template: None }, dir.path()).unwrap();
    runs.push(("generated".into(), local_dbt::read_target(dir.path(), None, &BTreeMap::new()).unwrap()));
    runs
}

#[test]
fn unhealthy_sources_upstream_equal_a_walk_of_the_ancestors() {
    let counts: Vec<(String, usize)> =
        runs().iter().map(|(what, run)| (what.clone(), check_unhealthy_sources(run, what))).collect();
    assert!(counts.iter().any(|(what, n)| what.ends_with("source_stale") && *n > 0), "{counts:?}");
    assert!(counts.iter().any(|(what, n)| what == "generated" && *n > 50), "{counts:?}");
}

#[test]
fn a_cycle_in_the_lineage_ends() {
    let model = |name: &str| json!({"resource_type": "model", "name": name, "package_name": "shop", "depends_on": {"nodes": []}});
    let manifest = json!({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "project_name": "shop"},
        "nodes": {"model.shop.a": model("a"), "model.shop.b": model("b")},
        "sources": {"source.shop.raw.orders": {"name": "orders", "source_name": "raw"}},
        "parent_map": {
            "model.shop.a": ["model.shop.b", "source.shop.raw.orders"],
            "model.shop.b": ["model.shop.a"],
            "source.shop.raw.orders": []
        }
    });
    let manifest: Manifest =
        dbt::parse_artifact(ArtifactKind::Manifest, manifest.to_string().as_bytes()).expect("a manifest");
    let index = ProjectIndex::new(manifest, &BTreeMap::new());
    let marked = index.gather_upstream(|parent, found| {
        if parent == "source.shop.raw.orders" {
            found.push(7);
        }
    });
    assert_eq!(marked.get("model.shop.a").map(Vec::as_slice), Some(&[7][..]));
    // b reaches the source only through a, whose own walk may still have been open.
    assert!(marked.get("model.shop.b").is_none_or(|m| m == &[7]));
}

/// Every table's failed ancestors and failed tests of ancestors against a walk; returns the
/// tables with any.
fn check_failures_upstream(run: &DbtRun, what: &str) -> usize {
    let failed = |id: &str| run.result(id).is_some_and(|r| r.status.is_failure());
    let mut with_failures = 0;
    for model in run.index.models() {
        let mut walked: Vec<&str> = Vec::new();
        for ancestor in crate::common::ancestors(&run.index, &model.unique_id) {
            walked.extend(Some(ancestor).filter(|id| failed(id)));
            walked.extend(run.index.tests_of(ancestor).map(|t| t.unique_id.as_str()).filter(|id| failed(id)));
        }
        walked.sort_by_key(|id| run.position(id));
        walked.dedup();
        let kept: Vec<&str> = run.failed_upstream(model).collect();
        assert_eq!(kept, walked, "{what}: {}", model.unique_id);
        with_failures += usize::from(!kept.is_empty());
    }
    with_failures
}

#[test]
fn failures_upstream_equal_a_walk_of_the_ancestors() {
    let counts: Vec<(String, usize)> =
        runs().iter().map(|(what, run)| (what.clone(), check_failures_upstream(run, what))).collect();
    assert!(counts.iter().filter(|(_, n)| *n > 0).count() >= 3, "{counts:?}");
    assert!(counts.iter().any(|(what, n)| what == "generated" && *n > 10), "{counts:?}");
}
