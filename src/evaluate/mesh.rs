//! dbt mesh: a model built from another project's model (a cross-project `ref`, which the
//! consumer's manifest lists as a parent `model.<project>.<name>`). When that project is
//! also a source and its latest run failed the model (or a test on it), the consumer's own
//! green run was built from what that project could not refresh: the failure there is the
//! cause here.

use std::sync::Arc;

use super::Cause;
use crate::dbt::ModelInfo;
use crate::facts::DbtRun;

/// The failure in another project that `model` (in `dbt`'s project) is built from, said
/// for a reason: "upstream `core.stg_orders` failed in project core (dbt run 70002)". Only
/// projects among `upstream` (the other dbt sources' runs this poll) count; with none,
/// nothing is looked up.
pub fn upstream_failure(dbt: &DbtRun, model: &ModelInfo, upstream: &[Arc<DbtRun>]) -> Option<(String, Cause)> {
    let own = dbt.index.project_name.as_deref()?;
    let others: Vec<&DbtRun> =
        upstream.iter().map(|r| &**r).filter(|r| r.index.project_name.as_deref().is_some_and(|p| p != own)).collect();
    if others.is_empty() {
        return None;
    }
    // Found once per run over the whole graph, as the run's other inheritances are.
    let mut crossing: Vec<(&str, &str, &str)> = dbt
        .cross_project_upstream(model)
        .filter_map(|id| project_of(id).map(|(project, name)| (id, project, name)))
        .collect();
    crossing.sort_unstable();
    crossing.into_iter().find_map(|(id, project, name)| {
        let run = others.iter().find(|r| r.index.project_name.as_deref() == Some(project))?;
        let model_cause = || Cause::new(format!("model:{id}"), format!("model `{project}.{name}` failed"));
        let (what, root) = match run.result(id) {
            Some(result) if result.status.is_failure() => ("failed".to_string(), model_cause()),
            Some(result) if matches!(result.status, crate::dbt::ResultStatus::Skipped) => {
                ("was skipped".to_string(), model_cause())
            }
            _ => {
                // The first of its critical tests to fail, as a run's own reasons name it.
                let mut failed: Vec<(usize, &str, &str)> = run
                    .index
                    .tests_of(id)
                    .filter(|t| t.critical)
                    .filter_map(|t| {
                        let (at, result) = run.result_of_test(t)?;
                        result.status.is_failure().then_some((at, t.name.as_str(), t.unique_id.as_str()))
                    })
                    .collect();
                failed.sort_unstable();
                let (_, first, test_id) = *failed.first()?;
                let more = if failed.len() > 1 { format!(" (and {} more)", failed.len() - 1) } else { String::new() };
                (
                    format!("failed its test {first}{more}"),
                    Cause::new(format!("test:{test_id}"), format!("`{first}` failed")),
                )
            }
        };
        Some((format!("upstream `{project}.{name}` {what} in project {project} (dbt run {})", run.id), root))
    })
}

/// `model.core.stg_orders` -> (`core`, `stg_orders`).
fn project_of(unique_id: &str) -> Option<(&str, &str)> {
    let rest = unique_id.strip_prefix("model.")?;
    let (project, name) = rest.split_once('.')?;
    Some((project, name))
}
