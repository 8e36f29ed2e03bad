//! Writes dbt artifacts at scale, deterministic by seed, for the ingest benchmarks (issue 7):
//! `manifest.json`, `run_results.json` and `sources.json` of a synthetic project (see
//! `generate.rs` for how they keep dbt's own shape).
//!
//! `cargo run --release --example scale_artifacts -- --out DIR --models 5000 --tests 50000 --seed 1`
//! (`--template TARGET_DIR`: clone another real build of the shop project, e.g. dbt 1.10's)

mod generate;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Writes a synthetic dbt project's manifest.json, run_results.json and sources.json")]
struct Args {
    /// Folder to write the three files into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Models (tables).
    #[arg(long, default_value_t = 5000)]
    models: usize,
    /// Data tests, spread over the models round-robin.
    #[arg(long, default_value_t = 50_000)]
    tests: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A `target/` of the shop project (tests/e2e/dbt_project) built by another dbt version,
    /// cloned instead of tests/fixtures/dbt/all_pass.
    #[arg(long)]
    template: Option<PathBuf>,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let scale =
        generate::Scale { models: args.models, tests: args.tests, seed: args.seed, template: args.template.as_deref() };
    generate::write(&scale, &args.out)?;
    for name in ["manifest.json", "run_results.json", "sources.json"] {
        let size = std::fs::metadata(args.out.join(name))?.len();
        println!("{name}: {:.1} MB", size as f64 / 1e6);
    }
    Ok(())
}
