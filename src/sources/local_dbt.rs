//! A dbt Core project's `target/` folder (the BashOperator setup): the same evidence as
//! dbt Cloud, read from files.
//!
//! Each dbt invocation overwrites `target/`, and a parse error writes nothing, leaving the
//! previous invocation's files. So files older than the dbt task's start are not evidence
//! of that task: they are refused, never reused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults, SourcesFile};
use crate::facts::DbtRun;
use crate::model::DbtRunId;

/// Tolerance for clocks: the task's start as Airflow saw it vs the file's `generated_at`.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// Reads `target/` as one dbt run. `task_started` is when the dbt task of the DAG run
/// started; `None` skips the staleness check.
pub fn read_target(
    dir: &Path,
    task_started: Option<DateTime<Utc>>,
    test_metrics: &std::collections::BTreeMap<String, crate::model::Metric>,
) -> Result<DbtRun, String> {
    let run_results_path = dir.join("run_results.json");
    match std::fs::metadata(&run_results_path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("{} does not exist: has dbt run in {}?", run_results_path.display(), dir.display()));
        }
        // A symlink loop, a folder that cannot be entered: said as it is, not as "missing".
        Err(e) => return Err(format!("{} cannot be read: {e}", run_results_path.display())),
    }
    let results: RunResults =
        dbt::read_artifact(ArtifactKind::RunResults, &run_results_path).map_err(|e| e.to_string())?;
    if let (Some(started), Some(generated)) = (task_started, results.metadata.generated_at) {
        if generated + CLOCK_SKEW < started {
            return Err(format!(
                "target/run_results.json was written at {}, before the dbt task started at {}: dbt wrote no results this time (a parse or connection error?)",
                crate::timefmt::stamp(generated),
                crate::timefmt::stamp(started)
            ));
        }
    }
    let manifest: Manifest =
        dbt::read_artifact(ArtifactKind::Manifest, &dir.join("manifest.json")).map_err(|e| e.to_string())?;
    let sources_path = dir.join("sources.json");
    let sources = if sources_path.exists() {
        let sources: SourcesFile =
            dbt::read_artifact(ArtifactKind::Sources, &sources_path).map_err(|e| e.to_string())?;
        let fresh_enough = match (task_started, sources.metadata.generated_at) {
            (Some(started), Some(generated)) => generated + CLOCK_SKEW >= started,
            _ => true,
        };
        fresh_enough.then_some(sources)
    } else {
        None
    };
    let id = DbtRunId::Invocation(results.metadata.invocation_id.clone().unwrap_or_else(|| "unknown".into()));
    let index = Arc::new(ProjectIndex::new(manifest, test_metrics));
    Ok(DbtRun::new(id, index, vec![results], sources, None))
}

/// Each artifact's path, size and modification time.
pub type Fingerprint = Vec<(PathBuf, u64, Option<std::time::SystemTime>)>;

/// A cheap fingerprint of `target/`: the files' sizes and modification times, so an
/// unchanged folder is not parsed again.
pub fn fingerprint(dir: &Path) -> Fingerprint {
    ["run_results.json", "manifest.json", "sources.json"]
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let meta = std::fs::metadata(&path).ok();
            (path, meta.as_ref().map_or(0, |m| m.len()), meta.and_then(|m| m.modified().ok()))
        })
        .collect()
}
