//! One ingest of a dbt `target/` folder in a fresh process, printing the time it took and
//! the process's peak memory, so the memory target can be checked against the file size.
//! By default the whole folder, the way the poller reads it (`local_dbt::read_target`:
//! run_results, manifest, sources, then the index); with `--manifest-only`, the manifest
//! read, parsed and indexed, the figure compared with dbt-artifacts-parser. Generate a
//! folder first with the `scale_artifacts` example.
//!
//! `cargo run --release --example ingest_once -- DIR [--manifest-only]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: ingest_once DIR [--manifest-only]"));
    let manifest_only = args.next().as_deref() == Some("--manifest-only");
    let started = Instant::now();
    let (index, results) = if manifest_only {
        let manifest: Manifest =
            dbt::read_artifact(ArtifactKind::Manifest, &dir.join("manifest.json")).expect("a readable manifest");
        (Arc::new(ProjectIndex::new(manifest, &BTreeMap::new())), 0)
    } else {
        let run = tablestat::sources::local_dbt::read_target(&dir, None, &BTreeMap::new()).expect("readable artifacts");
        (run.index.clone(), run.results().len())
    };
    let elapsed = started.elapsed();
    let manifest = std::fs::metadata(dir.join("manifest.json")).map_or(0, |m| m.len());
    let peak = peak_rss_bytes();
    println!(
        "{}: {} models, {} tests, {results} results; manifest {:.1} MB; {:.3} s; peak RSS {:.1} MB ({:.2}x the manifest)",
        if manifest_only { "manifest" } else { "target/" },
        index.model_count(),
        index.test_count(),
        manifest as f64 / 1e6,
        elapsed.as_secs_f64(),
        peak as f64 / 1e6,
        peak as f64 / manifest as f64,
    );
}

/// `VmHWM` from /proc/self/status: the most resident memory this process has had.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
