//! The dbt evidence behind a DAG run's dbt task, from dbt Cloud or a local `target/`,
//! fetched once per dbt run and shared by every product it built.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{DbtConfig, SecretRef};
use crate::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults, SourcesFile};
use crate::facts::{DagRunFacts, DbtRun, DbtView, TaskLookup};
use crate::model::{DbtRunId, Metric, Product};
use crate::sources::airflow::AirflowClient;
use crate::sources::dbt_cloud::{CloudRun, DbtCloudClient, run_id_from_xcom};
use crate::sources::http::{ErrorKind, SourceError, SourceName};
use crate::sources::local_dbt;

/// Parsed runs kept in memory: enough for every DAG a board watches to share its run.
const RUNS_KEPT: usize = 64;
/// The longest a local `target/` read (files up to 1 GB, parsed) may take.
const LOCAL_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// DAG run -> dbt Cloud run links kept in memory.
const LINKS_KEPT: usize = 20_000;

pub enum DbtSource {
    Cloud(Box<DbtCloudClient>),
    Local(PathBuf),
}

pub struct DbtEvidence {
    source: Option<DbtSource>,
    test_metrics: BTreeMap<String, Metric>,
    /// dbt Cloud runs by id, newest last.
    runs: VecDeque<(i64, Arc<DbtRun>)>,
    /// (dag_id, dag_run_id, task_id) -> dbt Cloud run id, once found.
    links: HashMap<(String, String, String), i64>,
    /// dbt Cloud runs whose artifacts will never be read (past a bound, or not parseable),
    /// and why: a finished run does not change, so they are not fetched again every poll.
    refused: HashMap<i64, String>,
    local: Option<LocalRead>,
}

/// The last read of a local `target/`, reused while its files and the task are unchanged.
struct LocalRead {
    fingerprint: local_dbt::Fingerprint,
    task_started: Option<chrono::DateTime<chrono::Utc>>,
    run: Arc<DbtRun>,
}

impl DbtEvidence {
    pub fn new(
        config: Option<&DbtConfig>,
        base_dir: &std::path::Path,
        test_metrics: BTreeMap<String, Metric>,
    ) -> Result<DbtEvidence, SourceError> {
        let source = match config {
            None => None,
            Some(DbtConfig::Local { target_dir }) => Some(DbtSource::Local(target_dir.clone())),
            Some(DbtConfig::Cloud { url, account_id, token, timeout, cache_dir, tls }) => {
                let token = resolve(token, base_dir)?;
                // By account: two accounts' run ids may meet.
                let cache = cache_dir
                    .clone()
                    .or_else(|| Some(crate::config::state_dir().join("dbt-cloud-cache").join(account_id.to_string())));
                let client = DbtCloudClient::new(url.clone(), *account_id, token, *timeout, cache, tls)?;
                Some(DbtSource::Cloud(Box::new(client)))
            }
        };
        Ok(DbtEvidence {
            source,
            test_metrics,
            runs: VecDeque::new(),
            links: HashMap::new(),
            refused: HashMap::new(),
            local: None,
        })
    }

    pub fn requests(&self) -> u64 {
        match &self.source {
            Some(DbtSource::Cloud(c)) => c.requests(),
            _ => 0,
        }
    }

    /// The dbt evidence for a product's task in this run.
    pub async fn for_run(
        &mut self,
        airflow: Option<&AirflowClient>,
        product: &Product,
        dag_id: &str,
        run: &DagRunFacts<'_>,
    ) -> DbtView {
        if product.model.is_none() {
            return DbtView::NotConfigured;
        }
        let task = match &run.task {
            TaskLookup::Found(task) => task.clone(),
            _ => return DbtView::NotConfigured,
        };
        match &self.source {
            None => DbtView::NotConfigured,
            Some(DbtSource::Local(dir)) => {
                let dir = dir.clone();
                self.local_run(dir, task.start_date).await
            }
            Some(DbtSource::Cloud(_)) => {
                let key = (dag_id.to_string(), run.run_id.to_string(), task.task_id.to_string());
                let run_id = match self.links.get(&key) {
                    Some(id) => *id,
                    None => match self.find_cloud_run(airflow, product, &key, &task).await {
                        Ok(Some(id)) => {
                            // One link per DAG run: a poller that runs for months must not
                            // keep them all; a forgotten link costs one XCom read.
                            if self.links.len() >= LINKS_KEPT {
                                self.links.clear();
                            }
                            self.links.insert(key, id);
                            id
                        }
                        Ok(None) => {
                            return DbtView::Unavailable(format!(
                                "no dbt Cloud run found for task {} in run {}: the task pushed no `job_run_id` XCom{}",
                                task.task_id,
                                run.run_id,
                                if product.dbt_job.is_none() {
                                    " and the product names no `dbt_job`"
                                } else {
                                    " and no run of its dbt_job fits the task's time"
                                }
                            ));
                        }
                        Err(e) => return DbtView::Unavailable(e.to_string()),
                    },
                };
                match self.cloud_run(run_id).await {
                    Ok(run) => DbtView::Run(run),
                    Err(reason) => DbtView::Unavailable(reason),
                }
            }
        }
    }

    async fn local_run(&mut self, dir: PathBuf, task_started: Option<chrono::DateTime<chrono::Utc>>) -> DbtView {
        let fingerprint = local_dbt::fingerprint(&dir);
        if let Some(last) = &self.local {
            if last.fingerprint == fingerprint && last.task_started == task_started {
                return DbtView::Run(last.run.clone());
            }
        }
        let metrics = self.test_metrics.clone();
        let read = tokio::task::spawn_blocking(move || local_dbt::read_target(&dir, task_started, &metrics));
        // A hung mount blocks the reading thread, never the poll.
        let read = match tokio::time::timeout(LOCAL_READ_TIMEOUT, read).await {
            Ok(read) => read,
            Err(_) => {
                return DbtView::Unavailable(format!(
                    "reading the dbt artifacts took longer than {} s (a hung network mount?)",
                    LOCAL_READ_TIMEOUT.as_secs()
                ));
            }
        };
        match read {
            Ok(Ok(run)) => {
                let run = Arc::new(run);
                self.local = Some(LocalRead { fingerprint, task_started, run: run.clone() });
                DbtView::Run(run)
            }
            Ok(Err(reason)) => DbtView::Unavailable(reason),
            Err(e) => DbtView::Unavailable(format!("reading dbt artifacts failed: {e}")),
        }
    }

    /// XCom `job_run_id` (provider >= 4.4.3), then `return_value` (set on success only),
    /// then the product's dbt job's runs created while the task ran.
    async fn find_cloud_run(
        &self,
        airflow: Option<&AirflowClient>,
        product: &Product,
        (dag_id, run_id, task_id): &(String, String, String),
        task: &crate::facts::TaskFacts<'_>,
    ) -> Result<Option<i64>, SourceError> {
        if let Some(airflow) = airflow {
            for key in ["job_run_id", "return_value"] {
                if let Some(value) = airflow.xcom(dag_id, run_id, task_id, key).await? {
                    if let Some(id) = run_id_from_xcom(&value) {
                        return Ok(Some(id));
                    }
                }
            }
        }
        let (Some(job), Some(DbtSource::Cloud(client))) = (product.dbt_job, &self.source) else {
            return Ok(None);
        };
        let (Some(start), end) = (task.start_date, task.end_date) else {
            return Ok(None);
        };
        let slack = chrono::Duration::minutes(2);
        let runs = client.job_runs(job, 20).await?;
        Ok(runs
            .iter()
            .filter(|r| r.created_at.is_some_and(|c| c + slack >= start && end.is_none_or(|e| c <= e + slack)))
            .map(|r| r.id)
            .max())
    }

    async fn cloud_run(&mut self, run_id: i64) -> Result<Arc<DbtRun>, String> {
        if let Some((_, run)) = self.runs.iter().find(|(id, _)| *id == run_id) {
            return Ok(run.clone());
        }
        let Some(DbtSource::Cloud(client)) = &self.source else {
            return Err("no dbt Cloud source".into());
        };
        if let Some(reason) = self.refused.get(&run_id) {
            return Err(reason.clone());
        }
        let cloud_run: CloudRun = client.run(run_id).await.map_err(|e| e.to_string())?;
        if cloud_run.status.is_some_and(|s| s < 10) {
            return Err(format!("dbt Cloud run {run_id} has not finished yet"));
        }
        let artifacts = match client.run_artifacts(&cloud_run).await {
            Ok(artifacts) => artifacts,
            Err(e) if matches!(e.kind, ErrorKind::Bound(_)) => return Err(self.refuse(run_id, e.to_string())),
            Err(e) => return Err(e.to_string()),
        };
        let metrics = self.test_metrics.clone();
        let href = cloud_run.href.clone();
        let parsed = tokio::task::spawn_blocking(move || -> Result<DbtRun, String> {
            let Some(manifest) = artifacts.manifest else {
                return Err(format!(
                    "dbt Cloud run {run_id} has no manifest.json: its dbt steps did not get far enough"
                ));
            };
            if artifacts.run_results.is_empty() {
                return Err(format!(
                    "dbt Cloud run {run_id} has no run_results.json: its dbt steps did not get far enough"
                ));
            }
            let manifest: Manifest =
                dbt::parse_artifact(ArtifactKind::Manifest, &manifest).map_err(|e| e.to_string())?;
            let steps = artifacts
                .run_results
                .iter()
                .map(|bytes| dbt::parse_artifact::<RunResults>(ArtifactKind::RunResults, bytes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            let sources = artifacts
                .sources
                .map(|bytes| dbt::parse_artifact::<SourcesFile>(ArtifactKind::Sources, &bytes))
                .transpose()
                .map_err(|e| e.to_string())?;
            let index = Arc::new(ProjectIndex::new(manifest, &metrics));
            Ok(DbtRun::new(DbtRunId::Cloud(run_id), index, steps, sources, href))
        })
        .await
        .map_err(|e| format!("parsing dbt Cloud run {run_id} failed: {e}"))?;
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => return Err(self.refuse(run_id, reason)),
        };
        let run = Arc::new(parsed);
        self.runs.push_back((run_id, run.clone()));
        while self.runs.len() > RUNS_KEPT {
            self.runs.pop_front();
        }
        Ok(run)
    }
}

impl DbtEvidence {
    /// Remembers that a finished run's artifacts will not be read, and says why.
    fn refuse(&mut self, run_id: i64, reason: String) -> String {
        if self.refused.len() >= RUNS_KEPT {
            self.refused.clear();
        }
        self.refused.insert(run_id, reason.clone());
        reason
    }
}

fn resolve(secret: &SecretRef, base_dir: &std::path::Path) -> Result<crate::config::Secret, SourceError> {
    secret.resolve(base_dir).map_err(|e| SourceError::new(SourceName::DbtCloud, "credentials", ErrorKind::Io(e)))
}
