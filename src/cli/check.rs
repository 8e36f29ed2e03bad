//! `tablestat config check`: is the file right, and can each source be reached?

use std::path::Path;

use super::{EXIT_CONFIG, EXIT_UNAVAILABLE, Failure, load_config};
use crate::config::{Config, DbtConfig};
use crate::sources::airflow::{self, AirflowClient, RunMemory};
use crate::sources::local_dbt;
use crate::text::inert;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Only check the file; do not contact Airflow or dbt.
    #[arg(long)]
    pub offline: bool,
}

pub async fn run(flag: Option<&Path>, args: CheckArgs) -> Result<u8, Failure> {
    let config = load_config(flag)?;
    let unreadable = config.unreadable_references();
    for failure in &unreadable {
        crate::output::line(format!("FAILED {}", inert(failure)))?;
    }
    if !unreadable.is_empty() {
        return Err(Failure::new(
            EXIT_CONFIG,
            format!(
                "{} secret(s) or CA file(s) in {} cannot be read (see above)",
                unreadable.len(),
                config.path.display()
            ),
        ));
    }
    // Valid only once every secret and CA file it names can be read.
    crate::output::line(format!(
        "{}: valid ({} product{}{})",
        config.path.display(),
        config.products.len(),
        if config.products.len() == 1 { "" } else { "s" },
        if config.discover.is_some() { ", plus products discovered from the dbt manifest" } else { "" }
    ))?;
    if args.offline {
        return Ok(0);
    }
    let mut failures = Vec::new();
    match check_airflow(&config).await {
        Ok(()) => {}
        Err(CheckError::Output(e)) => return Err(e),
        Err(CheckError::Source(e)) => {
            let url = config.airflow.as_ref().map(|a| a.url.to_string()).unwrap_or_default();
            failures.push(format!("Airflow at {url}: {e}"));
        }
    }
    match check_dbt(&config).await {
        Ok(()) => {}
        Err(CheckError::Output(e)) => return Err(e),
        Err(CheckError::Source(e)) => failures.push(format!("dbt: {e}")),
    }
    failures.extend(check_reach(&config)?);
    for failure in &failures {
        crate::output::line(format!("FAILED {}", inert(failure)))?;
    }
    if failures.is_empty() {
        Ok(0)
    } else {
        Err(Failure::new(EXIT_UNAVAILABLE, format!("{} source check(s) failed (see above)", failures.len())))
    }
}

/// Why a source check stopped: the source (shown as FAILED, the check goes on), or our own
/// output (the command ends).
enum CheckError {
    Source(String),
    Output(Failure),
}

impl From<String> for CheckError {
    fn from(e: String) -> CheckError {
        CheckError::Source(e)
    }
}

impl From<Failure> for CheckError {
    fn from(e: Failure) -> CheckError {
        CheckError::Output(e)
    }
}

/// What each webhook hears (nothing is posted), and whether the status page folder is
/// writable; the failures found.
fn check_reach(config: &Config) -> Result<Vec<String>, Failure> {
    let mut failures = Vec::new();
    for target in &config.notify {
        let route = &target.route;
        let mut scope = Vec::new();
        if !route.products.is_empty() {
            scope.push(format!("products {}", route.products.join(", ")));
        }
        if !route.groups.is_empty() {
            scope.push(format!("groups {}", route.groups.join(", ")));
        }
        let events = if route.events.is_empty() {
            "every event".to_string()
        } else {
            route.events.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
        };
        let scope = if scope.is_empty() { "all products".to_string() } else { scope.join(" and ") };
        // Its URL and ca_file were read with every other reference before the sources were reached.
        let trust = if target.ca_file.is_some() { " and ca_file" } else { "" };
        crate::output::line(format!(
            "webhook {}: {:?} payload, {events}, {scope} (URL{trust} readable; nothing sent)",
            target.name, target.format
        ))?;
    }
    if let Some(export) = &config.export {
        let writable = std::fs::create_dir_all(&export.dir).and_then(|()| {
            let probe = export.dir.join(".tablestat-check");
            std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe))
        });
        match writable {
            Ok(()) => {
                crate::output::line(format!("status page: {} (rewritten after every poll)", export.dir.display()))?
            }
            Err(e) => failures.push(format!("status page folder {}: {e}", export.dir.display())),
        }
    }
    Ok(failures)
}

async fn check_airflow(config: &Config) -> Result<(), CheckError> {
    let Some(airflow_config) = &config.airflow else {
        return Ok(());
    };
    let client = AirflowClient::connect(airflow_config, config.base_dir()).await.map_err(|e| e.to_string())?;
    let version = client.version().await.map_err(|e| e.to_string())?;
    let version = inert(&version);
    let watched = airflow::watched_dags(&config.products);
    let mut memory = RunMemory::default();
    let observation = airflow::observe(&client, &watched, &mut memory, chrono::Utc::now(), config.poll.concurrency)
        .await
        .map_err(|e| e.to_string())?;
    let missing: Vec<&str> = watched.iter().filter(|w| !observation.has_dag(w.dag_id)).map(|w| w.dag_id).collect();
    crate::output::line(format!(
        "Airflow {}: reached, API {}, version {version}; {} DAGs, {} of {} watched DAGs found{}; {} requests",
        airflow_config.url,
        client.api().name(),
        observation.dag_count(),
        watched.len() - missing.len(),
        watched.len(),
        if missing.is_empty() { String::new() } else { format!(" (missing: {})", missing.join(", ")) },
        observation.requests
    ))?;
    Ok(())
}

async fn check_dbt(config: &Config) -> Result<(), CheckError> {
    match &config.dbt {
        None => Ok(()),
        Some(DbtConfig::Local { target_dir }) => {
            let dir = target_dir.clone();
            let metrics = config.test_metrics.clone();
            let run = tokio::task::spawn_blocking(move || local_dbt::read_target(&dir, None, &metrics))
                .await
                .map_err(|e| e.to_string())??;
            let matched = config
                .products
                .iter()
                .filter_map(|p| p.model.as_deref())
                .filter(|m| run.index.resolve_model(m).is_some())
                .count();
            let wanted = config.products.iter().filter(|p| p.model.is_some()).count();
            crate::output::line(format!(
                "dbt target {}: invocation {}, {} results, {} tables, {} tests; {matched} of {wanted} product models found",
                target_dir.display(),
                inert(&run.id.to_string()),
                run.results().len(),
                run.index.model_count(),
                run.index.test_count()
            ))?;
            if matched < wanted {
                let lost: Vec<&str> = config
                    .products
                    .iter()
                    .filter_map(|p| p.model.as_deref())
                    .filter(|m| run.index.resolve_model(m).is_none())
                    .collect();
                return Err(format!("models not in the dbt project: {}", lost.join(", ")).into());
            }
            Ok(())
        }
        Some(DbtConfig::Cloud { url, account_id, token, timeout, tls, .. }) => {
            let token = token.resolve(config.base_dir())?;
            let client =
                crate::sources::dbt_cloud::DbtCloudClient::new(url.clone(), *account_id, token, *timeout, None, tls)
                    .map_err(|e| e.to_string())?;
            let jobs: Vec<i64> = {
                let mut jobs: Vec<i64> = config.products.iter().filter_map(|p| p.dbt_job).collect();
                jobs.sort();
                jobs.dedup();
                jobs
            };
            if jobs.is_empty() {
                crate::output::line(format!(
                    "dbt Cloud {url}: account {account_id}; no product names a dbt_job, runs are found through XCom"
                ))?;
                return Ok(());
            }
            for job in jobs {
                let runs = client.job_runs(job, 5).await.map_err(|e| e.to_string())?;
                match runs.first() {
                    Some(run) => crate::output::line(format!(
                        "dbt Cloud {url}: job {job}: latest run {} ({})",
                        run.id,
                        inert(run.status_humanized.as_deref().unwrap_or("status unknown"))
                    ))?,
                    None => crate::output::line(format!("dbt Cloud {url}: job {job}: no runs yet"))?,
                }
            }
            Ok(())
        }
    }
}
