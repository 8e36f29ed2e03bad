//! A dbt run_results.json. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tablestat::dbt::{self, ArtifactKind, RunResults};

fuzz_target!(|data: &[u8]| {
    let _ = dbt::parse_artifact::<RunResults>(ArtifactKind::RunResults, data);
});
