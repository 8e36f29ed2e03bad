//! The generated dbt project the benchmarks share (see `examples/scale_artifacts`): 5,000
//! models and 20,000 tests, a ~100 MB manifest with the fixtures' real shape. Written once
//! into Cargo's bench temp dir and reused.

#[path = "../../examples/scale_artifacts/generate.rs"]
#[allow(dead_code)]
mod generate;

use std::path::PathBuf;
use std::sync::OnceLock;

pub const MODELS: usize = 5000;
const SCALE: generate::Scale = generate::Scale { models: MODELS, tests: 20_000, seed: 1, template: None };

/// The generated `target/` folder, written on first use.
pub fn target() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("scale-{}-{}-{}", SCALE.models, SCALE.tests, SCALE.seed));
        if !dir.join("sources.json").exists() {
            generate::write(&SCALE, &dir).expect("writing the scale artifacts");
        }
        dir
    })
}
