//! A dbt sources.json (source freshness). Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tablestat::dbt::{self, ArtifactKind, SourcesFile};

fuzz_target!(|data: &[u8]| {
    let _ = dbt::parse_artifact::<SourcesFile>(ArtifactKind::Sources, data);
});
