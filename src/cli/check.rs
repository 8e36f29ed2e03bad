//! `tablestat config check`: is the file right, and can each source be reached?

use std::path::Path;

use super::{EXIT_CONFIG, EXIT_UNAVAILABLE, Failure, load_config};
use crate::config::{AirflowConfig, Config, DbtConfig, DbtSourceConfig};
use crate::sources::airflow::{self, AirflowClient, RunMemory};
use crate::sources::local_dbt;
use crate::text::inert;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Only check the file; do not contact Airflow or dbt.
    #[arg(long)]
    pub offline: bool,
    /// Reach only this source (an `[[airflow]]` or `[[dbt]]` name).
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,
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
        if config.discover.is_empty() { "" } else { ", plus products discovered from the dbt manifest" }
    ))?;
    if let Some(name) = &args.source {
        let names: Vec<&str> =
            config.airflow.iter().map(|a| a.name.as_str()).chain(config.dbt.iter().map(|d| d.name.as_str())).collect();
        if !names.contains(&name.as_str()) {
            let hint = crate::spelling::nearest(name, &names)
                .map_or_else(|| format!("the sources are {}", names.join(", ")), |b| format!("did you mean {b}?"));
            return Err(Failure::new(super::EXIT_USAGE, format!("--source {name}: no such source: {hint}")));
        }
    }
    if args.offline {
        return Ok(0);
    }
    let wanted = |name: &str| args.source.as_deref().is_none_or(|s| s == name);
    let mut failures = Vec::new();
    // One line per source, each reached on its own: one that fails does not hide the others.
    for airflow_config in config.airflow.iter().filter(|a| wanted(&a.name)) {
        match check_airflow(&config, airflow_config).await {
            Ok(()) => {}
            Err(CheckError::Output(e)) => return Err(e),
            Err(CheckError::Source(e)) => {
                failures.push(format!("Airflow `{}` at {}: {e}", airflow_config.name, airflow_config.url))
            }
        }
    }
    for dbt in config.dbt.iter().filter(|d| wanted(&d.name)) {
        match check_dbt(&config, dbt).await {
            Ok(()) => {}
            Err(CheckError::Output(e)) => return Err(e),
            Err(CheckError::Source(e)) => failures.push(format!("dbt `{}`: {e}", dbt.name)),
        }
    }
    if args.source.is_none() {
        failures.extend(check_reach(&config)?);
    }
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

async fn check_airflow(config: &Config, airflow_config: &AirflowConfig) -> Result<(), CheckError> {
    let client = AirflowClient::connect(airflow_config, config.base_dir()).await.map_err(|e| e.to_string())?;
    let version = client.version().await.map_err(|e| e.to_string())?;
    let version = inert(&version);
    let products: Vec<&crate::model::Product> = config
        .products
        .iter()
        .filter(|p| config.airflow_of(p).is_some_and(|a| a.name == airflow_config.name))
        .collect();
    let watched = airflow::watched_dags(products.iter().copied());
    let mut memory = RunMemory::default();
    let concurrency = airflow_config.concurrency.unwrap_or(config.poll.concurrency);
    let observation = airflow::observe(&client, &watched, &mut memory, chrono::Utc::now(), concurrency)
        .await
        .map_err(|e| e.to_string())?;
    let missing: Vec<&str> = watched.iter().filter(|w| !observation.has_dag(w.dag_id)).map(|w| w.dag_id).collect();
    crate::output::line(format!(
        "Airflow `{}` {}: reached, API {}, version {version}; {} DAGs, {} of {} watched DAGs found{}; {} requests",
        airflow_config.name,
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

async fn check_dbt(config: &Config, dbt: &DbtSourceConfig) -> Result<(), CheckError> {
    // The products that read this dbt source.
    let products: Vec<&crate::model::Product> =
        config.products.iter().filter(|p| p.dbt.as_deref().is_none_or(|d| d == dbt.name)).collect();
    let name = &dbt.name;
    match &dbt.source {
        DbtConfig::Local { target_dir } => {
            let dir = target_dir.clone();
            let metrics = config.test_metrics.clone();
            let run = tokio::task::spawn_blocking(move || local_dbt::read_target(&dir, None, &metrics))
                .await
                .map_err(|e| e.to_string())??;
            let matched = products
                .iter()
                .filter_map(|p| p.model.as_deref())
                .filter(|m| run.index.resolve_model(m).is_some())
                .count();
            let wanted = products.iter().filter(|p| p.model.is_some()).count();
            crate::output::line(format!(
                "dbt `{name}` target {}: invocation {}, {} results, {} tables, {} tests; {matched} of {wanted} product models found",
                target_dir.display(),
                inert(&run.id.to_string()),
                run.results().len(),
                run.index.model_count(),
                run.index.test_count()
            ))?;
            if matched < wanted {
                let lost: Vec<&str> = products
                    .iter()
                    .filter_map(|p| p.model.as_deref())
                    .filter(|m| run.index.resolve_model(m).is_none())
                    .collect();
                return Err(format!("models not in the dbt project: {}", lost.join(", ")).into());
            }
            Ok(())
        }
        DbtConfig::Cloud { url, account_id, token, timeout, tls, .. } => {
            let token = token.resolve(config.base_dir())?;
            let client =
                crate::sources::dbt_cloud::DbtCloudClient::new(url.clone(), *account_id, token, *timeout, None, tls)
                    .map_err(|e| e.to_string())?;
            let jobs: Vec<i64> = {
                let mut jobs: Vec<i64> = products.iter().filter_map(|p| p.dbt_job).collect();
                jobs.sort();
                jobs.dedup();
                jobs
            };
            if jobs.is_empty() {
                crate::output::line(format!(
                    "dbt `{name}` Cloud {url}: account {account_id}; no product names a dbt_job, runs are found through XCom"
                ))?;
                return Ok(());
            }
            for job in jobs {
                let runs = client.job_runs(job, 5).await.map_err(|e| e.to_string())?;
                match runs.first() {
                    Some(run) => crate::output::line(format!(
                        "dbt `{name}` Cloud {url}: job {job}: latest run {} ({})",
                        run.id,
                        inert(run.status_humanized.as_deref().unwrap_or("status unknown"))
                    ))?,
                    None => crate::output::line(format!("dbt `{name}` Cloud {url}: job {job}: no runs yet"))?,
                }
            }
            Ok(())
        }
    }
}
