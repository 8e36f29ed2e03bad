//! Ingest of a dbt `target/` at scale (issue 7): a generated ~100 MB manifest.json
//! (5,000 models, 20,000 tests, with the fixture's real shape, see
//! `examples/scale_artifacts`) and its run_results.json, read, parsed and indexed through
//! the same calls the poller makes. The phases are measured apart to show where time goes.
//! The artifacts are generated once into Cargo's bench temp dir and reused.
//! Run: `cargo bench --bench ingest`. Peak memory: `examples/ingest_once.rs`.

mod scale;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use scale::target;
use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults};
use tablestat::sources::local_dbt;

fn main() {
    divan::main();
}

fn manifest_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(target().join("manifest.json")).unwrap())
}

/// What the poller does for a new run: run_results, manifest, sources.json, the index.
#[divan::bench(sample_count = 10)]
fn read_target_100mb() -> usize {
    local_dbt::read_target(target(), None, &BTreeMap::new()).unwrap().index.test_count()
}

/// The target's figure: read + parse + index of the manifest alone.
#[divan::bench(sample_count = 10)]
fn manifest_read_parse_index_100mb() -> usize {
    let manifest: Manifest = dbt::read_artifact(ArtifactKind::Manifest, &target().join("manifest.json")).unwrap();
    ProjectIndex::new(manifest, &BTreeMap::new()).test_count()
}

#[divan::bench(sample_count = 10)]
fn manifest_read_only_100mb() -> usize {
    std::fs::read(target().join("manifest.json")).unwrap().len()
}

#[divan::bench(sample_count = 10)]
fn manifest_parse_only_100mb(bencher: divan::Bencher) {
    let bytes = manifest_bytes();
    bencher.bench(|| dbt::parse_artifact::<Manifest>(ArtifactKind::Manifest, bytes).unwrap().nodes.len());
}

#[divan::bench(sample_count = 10)]
fn manifest_index_only_100mb(bencher: divan::Bencher) {
    let bytes = manifest_bytes();
    bencher
        .with_inputs(|| dbt::parse_artifact::<Manifest>(ArtifactKind::Manifest, bytes).unwrap())
        .bench_values(|manifest| ProjectIndex::new(manifest, &BTreeMap::new()).test_count());
}

#[divan::bench(sample_count = 10)]
fn run_results_read_parse() -> usize {
    dbt::read_artifact::<RunResults>(ArtifactKind::RunResults, &target().join("run_results.json"))
        .unwrap()
        .results
        .len()
}
