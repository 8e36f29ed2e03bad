//! One ingest of a dbt `target/` folder in a fresh process, the way the poller reads it
//! (`local_dbt::read_target`: run_results, manifest, sources, then the index), printing the
//! time it took and the process's peak memory, so the memory target can be checked against
//! the file size. Generate a folder first with the `scale_artifacts` example.
//!
//! `cargo run --release --example ingest_once -- DIR`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: ingest_once DIR"));
    let started = Instant::now();
    let run = tablestat::sources::local_dbt::read_target(&dir, None, &BTreeMap::new()).expect("readable artifacts");
    let elapsed = started.elapsed();
    let manifest = std::fs::metadata(dir.join("manifest.json")).map_or(0, |m| m.len());
    let results = std::fs::metadata(dir.join("run_results.json")).map_or(0, |m| m.len());
    let peak = peak_rss_bytes();
    println!(
        "{} models, {} tests, {} results; manifest {:.1} MB, run_results {:.1} MB; ingest {:.3} s; peak RSS {:.1} MB ({:.2}x the manifest, {:.2}x both files)",
        run.index.model_count(),
        run.index.test_count(),
        run.results().len(),
        manifest as f64 / 1e6,
        results as f64 / 1e6,
        elapsed.as_secs_f64(),
        peak as f64 / 1e6,
        peak as f64 / manifest as f64,
        peak as f64 / (manifest + results) as f64,
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
