//! A dbt manifest.json as fetched from dbt Cloud or read from `target/`: parsed, then
//! indexed (models, tests, lineage) as the poller does. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex};

fuzz_target!(|data: &[u8]| {
    if let Ok(manifest) = dbt::parse_artifact::<Manifest>(ArtifactKind::Manifest, data) {
        let _ = ProjectIndex::new(manifest, &Default::default());
    }
});
