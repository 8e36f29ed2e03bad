//! dbt Cloud Administrative API v2: the run behind a DAG run's dbt task, its steps, and the
//! artifacts of the steps that ran dbt build/run/test and source freshness.
//!
//! The artifact endpoint returns the *last* step's file by default, which is often
//! `docs generate` or `source freshness`; so each file is asked for with `?step=`.
//!
//! An account has 5,000 API requests a minute, shared with everything else that uses it;
//! tablestat keeps to 1 % of that ([`RequestBudget`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Deserializer};

use crate::config::{Secret, TlsConfig};
use crate::sources::http::{self, ErrorKind, Http, MAX_API_BODY, MAX_ARTIFACT_BODY, SourceError, SourceName};

pub struct DbtCloudClient {
    http: Http,
    account_id: i64,
    token: Secret,
    cache_dir: Option<PathBuf>,
    budget: Mutex<RequestBudget>,
}

/// Requests a minute tablestat allows itself: 1 % of an account's 5,000.
pub const REQUESTS_PER_MINUTE: usize = 50;
const MINUTE: Duration = Duration::from_secs(60);

/// A sliding window over the last minute's requests. A request beyond the budget is not
/// refused but given a later time to go, when the oldest leaves the window: when many jobs
/// finish together, their artifacts arrive over a few minutes instead of drawing 429s.
#[derive(Debug)]
pub struct RequestBudget {
    per_minute: usize,
    /// When each request of the window went (or will go), oldest first.
    sent: VecDeque<tokio::time::Instant>,
}

impl RequestBudget {
    pub fn new(per_minute: usize) -> RequestBudget {
        RequestBudget { per_minute: per_minute.max(1), sent: VecDeque::new() }
    }

    /// Takes a slot for a request asked for at `now`; returns when it may go.
    pub fn reserve(&mut self, now: tokio::time::Instant) -> tokio::time::Instant {
        while self.sent.front().is_some_and(|t| *t + MINUTE <= now) {
            self.sent.pop_front();
        }
        let at = match self.sent.len().checked_sub(self.per_minute) {
            Some(i) => (self.sent[i] + MINUTE).max(now),
            None => now,
        };
        self.sent.push_back(at);
        at
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Envelope<T> {
    data: T,
}

/// A run, as much of it as we read.
#[derive(Debug, Clone, Deserialize)]
pub struct CloudRun {
    pub id: i64,
    #[serde(default)]
    pub job_definition_id: Option<i64>,
    /// 1 queued, 2 starting, 3 running, 10 success, 20 error, 30 cancelled.
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub status_humanized: Option<String>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_time")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub run_steps: Vec<RunStep>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunStep {
    pub index: u32,
    pub name: String,
    #[serde(default)]
    pub status: Option<i64>,
}

/// What a step's dbt command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// build, run, test, seed, snapshot: run_results.json (and manifest.json).
    Results,
    /// source freshness: sources.json.
    Freshness,
    Other,
}

impl RunStep {
    /// `Invoke dbt with \`dbt build --select x\`` -> Results.
    pub fn kind(&self) -> StepKind {
        let command = self.name.split('`').nth(1).unwrap_or(&self.name);
        let mut words = command.split_whitespace().skip_while(|w| *w != "dbt").skip(1).filter(|w| !w.starts_with('-'));
        match words.next() {
            Some("build" | "run" | "test" | "seed" | "snapshot" | "retry") => StepKind::Results,
            Some("source") => match words.next() {
                Some("freshness" | "snapshot-freshness") => StepKind::Freshness,
                _ => StepKind::Other,
            },
            _ => StepKind::Other,
        }
    }
}

/// The raw artifact files of one run, as fetched (or read from the disk cache).
#[derive(Debug, Default)]
pub struct RunArtifacts {
    /// run_results.json of each results step, in step order.
    pub run_results: Vec<Vec<u8>>,
    pub manifest: Option<Vec<u8>>,
    pub sources: Option<Vec<u8>>,
}

/// dbt Cloud sometimes writes `2026-11-24 01:00:00.000000+00:00` (a space, not a `T`).
fn lenient_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let fixed = text.replacen(' ', "T", 1);
    let parsed = DateTime::parse_from_rfc3339(&fixed)
        .or_else(|_| DateTime::parse_from_rfc3339(&format!("{fixed}Z")))
        .map_err(serde::de::Error::custom)?;
    Ok(Some(parsed.with_timezone(&Utc)))
}

impl DbtCloudClient {
    pub fn new(
        base: url::Url,
        account_id: i64,
        token: Secret,
        timeout: std::time::Duration,
        cache_dir: Option<PathBuf>,
        tls: &TlsConfig,
    ) -> Result<DbtCloudClient, SourceError> {
        let http = Http::new(SourceName::DbtCloud, base, timeout, tls)?;
        http.add_secret(token.expose());
        Ok(DbtCloudClient {
            http,
            account_id,
            token,
            cache_dir,
            budget: Mutex::new(RequestBudget::new(REQUESTS_PER_MINUTE)),
        })
    }

    pub fn requests(&self) -> u64 {
        self.http.requests()
    }

    async fn get(&self, path: &str, query: &[(&str, &str)], max_body: usize) -> Result<http::Answer, SourceError> {
        let now = tokio::time::Instant::now();
        let at = self.budget.lock().expect("budget lock").reserve(now);
        if at > now {
            tokio::time::sleep_until(at).await;
        }
        let endpoint = Http::endpoint(&Method::GET, path);
        self.http
            .send(
                || self.http.request(Method::GET, path).query(query).bearer_auth(self.token.expose()),
                &endpoint,
                max_body,
            )
            .await
            .map_err(hint_wrong_host)
    }

    /// One run with its steps.
    pub async fn run(&self, run_id: i64) -> Result<CloudRun, SourceError> {
        let path = format!("/api/v2/accounts/{}/runs/{run_id}/", self.account_id);
        let answer = self.get(&path, &[("include_related", "[\"run_steps\"]")], MAX_API_BODY).await?;
        let endpoint = Http::endpoint(&Method::GET, &path);
        Ok(self.http.decode::<Envelope<CloudRun>>(&endpoint, &answer)?.data)
    }

    /// The newest runs of a job, newest first.
    pub async fn job_runs(&self, job_id: i64, limit: usize) -> Result<Vec<CloudRun>, SourceError> {
        let path = format!("/api/v2/accounts/{}/runs/", self.account_id);
        let job = job_id.to_string();
        let limit = limit.to_string();
        let answer = self
            .get(
                &path,
                &[("job_definition_id", job.as_str()), ("order_by", "-id"), ("limit", limit.as_str())],
                MAX_API_BODY,
            )
            .await?;
        let endpoint = Http::endpoint(&Method::GET, &path);
        Ok(self.http.decode::<Envelope<Vec<CloudRun>>>(&endpoint, &answer)?.data)
    }

    /// One artifact file of one step; `None` when that step wrote no such file (404).
    /// Counted against the run's `budget`: what is left of it bounds the body.
    async fn artifact(
        &self,
        run_id: i64,
        file: &str,
        step: Option<u32>,
        budget: &mut RunBudget,
    ) -> Result<Option<Vec<u8>>, SourceError> {
        let path = format!("/api/v2/accounts/{}/runs/{run_id}/artifacts/{file}", self.account_id);
        let bytes = match self.cached(run_id, file, step) {
            Some(bytes) => bytes,
            None => {
                let step_text = step.map(|s| s.to_string());
                let query: Vec<(&str, &str)> = step_text.iter().map(|s| ("step", s.as_str())).collect();
                match self.get(&path, &query, budget.left().min(MAX_ARTIFACT_BODY)).await {
                    Ok(answer) => {
                        budget.spend(answer.body.len(), &path)?;
                        self.store(run_id, file, step, &answer.body);
                        return Ok(Some(answer.body));
                    }
                    Err(e) if matches!(e.kind, ErrorKind::NotFound(_)) => return Ok(None),
                    Err(e) if matches!(e.kind, ErrorKind::BadBody(_)) && budget.left() < MAX_ARTIFACT_BODY => {
                        return Err(budget.exceeded(&path));
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        budget.spend(bytes.len(), &path)?;
        Ok(Some(bytes))
    }

    /// The artifacts of a finished run, from the steps that wrote them, within
    /// [`MAX_RUN_BYTES`] and [`MAX_RUN_STEPS`]: 20 steps of 200 MB once took 4 GB of
    /// memory, and a run of 5,000 steps an hour and a half of one poll.
    pub async fn run_artifacts(&self, run: &CloudRun) -> Result<RunArtifacts, SourceError> {
        let mut steps: Vec<&RunStep> = run.run_steps.iter().collect();
        steps.sort_by_key(|s| s.index);
        let mut budget = RunBudget { run: run.id, left: MAX_RUN_BYTES };
        let endpoint = || format!("GET /api/v2/accounts/{}/runs/{}/", self.account_id, run.id);
        if steps.len() > MAX_RUN_STEPS {
            return Err(SourceError::new(
                SourceName::DbtCloud,
                endpoint(),
                ErrorKind::Bound(format!(
                    "dbt Cloud run {} has {} steps, more than the {MAX_RUN_STEPS} tablestat reads for one run",
                    run.id,
                    steps.len()
                )),
            ));
        }
        let results_steps: Vec<u32> = steps.iter().filter(|s| s.kind() == StepKind::Results).map(|s| s.index).collect();
        let freshness_step = steps.iter().rev().find(|s| s.kind() == StepKind::Freshness).map(|s| s.index);
        let mut artifacts = RunArtifacts::default();
        if results_steps.is_empty() && freshness_step.is_none() {
            // No steps listed: the run's default (last step) artifacts are all there is.
            artifacts.run_results.extend(self.artifact(run.id, "run_results.json", None, &mut budget).await?);
            artifacts.manifest = self.artifact(run.id, "manifest.json", None, &mut budget).await?;
            return Ok(artifacts);
        }
        for &step in &results_steps {
            artifacts.run_results.extend(self.artifact(run.id, "run_results.json", Some(step), &mut budget).await?);
        }
        for &step in results_steps.iter().rev().chain(freshness_step.iter()) {
            if let Some(manifest) = self.artifact(run.id, "manifest.json", Some(step), &mut budget).await? {
                artifacts.manifest = Some(manifest);
                break;
            }
        }
        if let Some(step) = freshness_step {
            artifacts.sources = self.artifact(run.id, "sources.json", Some(step), &mut budget).await?;
        }
        Ok(artifacts)
    }

    fn cache_path(&self, run_id: i64, file: &str, step: Option<u32>) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let step = step.map_or("last".to_string(), |s| s.to_string());
        Some(dir.join(run_id.to_string()).join(format!("step-{step}-{file}")))
    }

    fn cached(&self, run_id: i64, file: &str, step: Option<u32>) -> Option<Vec<u8>> {
        std::fs::read(self.cache_path(run_id, file, step)?).ok()
    }

    /// Keeps an artifact on disk so a restart does not fetch it again. Best effort.
    fn store(&self, run_id: i64, file: &str, step: Option<u32>, bytes: &[u8]) {
        let Some(path) = self.cache_path(run_id, file, step) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            let mut folder = std::fs::DirBuilder::new();
            folder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
            folder.create(path.parent().expect("has a parent"))?;
            let tmp = path.with_extension("partial");
            // Private (0600): an artifact holds the project's SQL, names and test results.
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
            }
            std::io::Write::write_all(&mut options.open(&tmp)?, bytes)?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            tracing::warn!("cannot cache dbt Cloud artifact at {}: {e}", path.display());
        }
        if let Some(dir) = &self.cache_dir {
            prune_cache(dir, CACHED_RUNS);
        }
    }
}

/// Runs kept in the disk cache.
const CACHED_RUNS: usize = 32;
/// Bytes the disk cache keeps at most: the newest runs that fit (a run alone may be up to
/// [`MAX_RUN_BYTES`]).
const CACHE_BYTES: u64 = 3 * 1024 * 1024 * 1024;
/// The artifacts of one run tablestat reads at most, every step together: a manifest at its
/// largest and room for the results.
pub const MAX_RUN_BYTES: usize = MAX_ARTIFACT_BODY + MAX_ARTIFACT_BODY / 4;
/// The steps of one run tablestat reads at most.
pub const MAX_RUN_STEPS: usize = 100;

/// What is left of [`MAX_RUN_BYTES`] while a run's artifacts are read.
struct RunBudget {
    run: i64,
    left: usize,
}

impl RunBudget {
    fn left(&self) -> usize {
        self.left
    }

    fn spend(&mut self, bytes: usize, path: &str) -> Result<(), SourceError> {
        self.left = self.left.checked_sub(bytes).ok_or_else(|| self.exceeded(path))?;
        Ok(())
    }

    fn exceeded(&self, path: &str) -> SourceError {
        SourceError::new(
            SourceName::DbtCloud,
            format!("GET {path}"),
            ErrorKind::Bound(format!(
                "the artifacts of dbt Cloud run {} are larger than the {} MB tablestat reads for one run",
                self.run,
                MAX_RUN_BYTES / (1024 * 1024)
            )),
        )
    }
}

/// Keeps the newest `keep` run folders, and of those the newest that fit in [`CACHE_BYTES`].
fn prune_cache(dir: &std::path::Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut runs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    runs.sort_by(|a, b| b.cmp(a));
    let size = |path: &PathBuf| -> u64 {
        std::fs::read_dir(path)
            .map(|files| files.filter_map(Result::ok).filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    };
    let mut kept_bytes = 0u64;
    for (at, (_, path)) in runs.iter().enumerate() {
        kept_bytes += size(path);
        // The newest run stays whatever its size: it is the one being read.
        if at > 0 && (at >= keep || kept_bytes > CACHE_BYTES) {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// A valid token sent to the wrong regional host is refused as "Invalid token.".
fn hint_wrong_host(mut error: SourceError) -> SourceError {
    if let ErrorKind::Unauthorized(detail) = &error.kind {
        error.kind = ErrorKind::Unauthorized(format!(
            "{detail}{}check the token, and that `url` is your account's access URL (e.g. https://ab123.us1.dbt.com)",
            if detail.is_empty() { "" } else { "; " }
        ));
    }
    error
}

/// A dbt Cloud run id out of an XCom value: Airflow 2 returns `"12345"` (Python `str()`),
/// Airflow 3 native JSON `12345`.
pub fn run_id_from_xcom(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().trim_matches(['"', '\'']).parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_kinds_from_their_names() {
        let step = |name: &str| RunStep { index: 1, name: name.into(), status: Some(10) };
        let cases = [
            ("Clone git repository", StepKind::Other),
            ("Invoke dbt with `dbt deps`", StepKind::Other),
            ("Invoke dbt with `dbt build`", StepKind::Results),
            ("Invoke dbt with `dbt --no-use-colors build --select fct_orders`", StepKind::Results),
            ("Invoke dbt with `dbt test`", StepKind::Results),
            ("Invoke dbt with `dbt source freshness`", StepKind::Freshness),
            ("Invoke dbt with `dbt docs generate`", StepKind::Other),
        ];
        for (name, kind) in cases {
            assert_eq!(step(name).kind(), kind, "{name}");
        }
    }

    #[test]
    fn xcom_run_ids_from_both_majors() {
        assert_eq!(run_id_from_xcom(&serde_json::json!(12345)), Some(12345));
        assert_eq!(run_id_from_xcom(&serde_json::json!("12345")), Some(12345));
        assert_eq!(run_id_from_xcom(&serde_json::json!("'12345'")), Some(12345));
        assert_eq!(run_id_from_xcom(&serde_json::json!({"a": 1})), None);
    }

    #[test]
    fn a_burst_is_spread_so_no_minute_holds_more_than_the_budget() {
        let mut budget = RequestBudget::new(50);
        let start = tokio::time::Instant::now();
        // 180 requests asked for at once, then 20 more two minutes later.
        let mut times: Vec<_> = (0..180).map(|_| budget.reserve(start)).collect();
        times.extend((0..20).map(|_| budget.reserve(start + 2 * MINUTE)));
        assert_eq!(times[49], start);
        assert_eq!(times[50], start + MINUTE);
        assert_eq!(times[179], start + 3 * MINUTE);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        for (i, t) in times.iter().enumerate() {
            let in_the_minute = times[i..].iter().filter(|u| **u < *t + MINUTE).count();
            assert!(in_the_minute <= 50, "{in_the_minute} requests in the minute from request {i}");
        }
        // A quiet minute later the whole budget is there again, at once.
        let later = start + 10 * MINUTE;
        assert!((0..50).all(|_| budget.reserve(later) == later));
    }

    #[test]
    fn times_with_a_space_parse() {
        let run: CloudRun = serde_json::from_str(
            r#"{"id": 1, "created_at": "2026-11-24 01:00:00.000000+00:00", "finished_at": "2026-11-24T01:01:50Z"}"#,
        )
        .unwrap();
        assert_eq!(run.created_at.unwrap().to_rfc3339(), "2026-11-24T01:00:00+00:00");
    }
}
