//! One client for Airflow 2 (`/api/v1`) and Airflow 3 (`/api/v2`). Differences in paths,
//! auth and parameters are settled here; callers see one set of calls.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::wire::{
    DagList, ImportErrorList, RunList, TaskInstanceList, TokenAnswer, Version, WireDag, WireHealth, WireImportError,
    WireRun, WireTaskInstance, XcomEntry,
};
use crate::config::{AirflowAuth, AirflowConfig, ApiVersion, Secret};
use crate::sources::http::{self, ErrorKind, Http, MAX_API_BODY, SourceError, SourceName};

/// Which REST API the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Airflow 2.
    V1,
    /// Airflow 3.
    V2,
}

impl Api {
    fn prefix(self) -> &'static str {
        match self {
            Api::V1 => "/api/v1",
            Api::V2 => "/api/v2",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::V1 => "v1 (Airflow 2)",
            Api::V2 => "v2 (Airflow 3)",
        }
    }

    /// `v1` / `v2`, as the status document says it.
    pub fn label(self) -> &'static str {
        match self {
            Api::V1 => "v1",
            Api::V2 => "v2",
        }
    }
}

enum Auth {
    None,
    Basic {
        username: String,
        password: Secret,
    },
    Bearer(Secret),
    /// Airflow 3: a JWT from `POST /auth/token`, renewed when refused.
    Jwt {
        username: String,
        password: Secret,
        token: Mutex<Option<Secret>>,
    },
}

pub struct AirflowClient {
    http: Http,
    api: Api,
    auth: Auth,
}

/// Page size for GET lists: the most both majors accept (Airflow 3 defaults to 50).
const PAGE: usize = 100;
/// Batch POSTs have no server-side cap; this keeps one answer to a few MB.
const BATCH_PAGE: usize = 1000;
/// The most DAGs (and import errors) one poll reads: 25 times the 2,000-DAG fleet tested.
pub const MAX_DAGS: usize = 50_000;
/// The most runs, or task instances, one batch call reads (50 full pages).
pub const MAX_BATCH_ITEMS: usize = 50_000;
/// The most pages one list reads in a poll: endless pages must end.
pub const MAX_PAGES: usize = 500;

/// What one paged list may still hold. A server's `total_entries` and its pages are
/// checked against it before they are used; past a bound the call fails with a
/// [`ErrorKind::Bound`] that names it, and the poll's products turn `unknown` saying so.
struct Budget {
    endpoint: String,
    what: &'static str,
    max_items: usize,
    max_pages: usize,
    items: usize,
    pages: usize,
}

impl Budget {
    fn new(endpoint: String, what: &'static str, max_items: usize, max_pages: usize) -> Budget {
        Budget { endpoint, what, max_items, max_pages, items: 0, pages: 0 }
    }

    fn fail(&self, detail: String) -> SourceError {
        SourceError::new(SourceName::Airflow, self.endpoint.clone(), ErrorKind::Bound(detail))
    }

    /// The server's total, when it is one tablestat would read.
    fn total(&self, total: Option<u64>) -> Result<Option<u64>, SourceError> {
        match total {
            Some(t) if t > self.max_items as u64 => Err(self.fail(format!(
                "the server says there are {t} {} (total_entries), more than the {} tablestat reads in one poll",
                self.what, self.max_items
            ))),
            other => Ok(other),
        }
    }

    /// `count` more pages planned of `size` items each.
    fn planned(&self, count: usize, size: usize) -> Result<(), SourceError> {
        if self.pages + count > self.max_pages {
            return Err(self.fail(format!(
                "listing the {} would take {} pages of {size}, more than the {} tablestat reads in one poll",
                self.what,
                self.pages + count,
                self.max_pages
            )));
        }
        Ok(())
    }

    /// One page of `items` received.
    fn page(&mut self, items: usize) -> Result<(), SourceError> {
        self.pages += 1;
        self.items = self.items.saturating_add(items);
        if self.items > self.max_items {
            return Err(self.fail(format!(
                "the {} did not end within {} (tablestat reads at most that many in one poll)",
                self.what, self.max_items
            )));
        }
        if self.pages > self.max_pages {
            return Err(self.fail(format!(
                "the {} did not end within {} pages (tablestat reads at most that many in one poll)",
                self.what, self.max_pages
            )));
        }
        Ok(())
    }
}

impl AirflowClient {
    /// Builds the client, reads secrets, and settles the API version (probing on `auto`).
    pub async fn connect(config: &AirflowConfig, base_dir: &std::path::Path) -> Result<AirflowClient, SourceError> {
        let http = Http::new(SourceName::Airflow, config.url.clone(), config.timeout, &config.tls)?;
        let secret = |r: &crate::config::SecretRef| {
            r.resolve(base_dir).map_err(|e| SourceError::new(SourceName::Airflow, "credentials", ErrorKind::Io(e)))
        };
        let auth = match &config.auth {
            AirflowAuth::None => Auth::None,
            AirflowAuth::Basic { username, password } => {
                Auth::Basic { username: username.clone(), password: secret(password)? }
            }
            AirflowAuth::Bearer { token } => Auth::Bearer(secret(token)?),
            AirflowAuth::Password { username, password } => {
                Auth::Jwt { username: username.clone(), password: secret(password)?, token: Mutex::new(None) }
            }
        };
        for secret in [&auth_secret(&auth)].into_iter().flatten() {
            http.add_secret(secret.expose());
        }
        // Basic auth travels as base64 of `username:password`: a server that echoes the
        // request's headers echoes that (and a login's user and password, should it).
        if let Auth::Basic { username, password } | Auth::Jwt { username, password, .. } = &auth {
            http.add_secret(&crate::config::basic_auth_form(username, password.expose()));
        }
        let api = match config.api {
            ApiVersion::V1 => Api::V1,
            ApiVersion::V2 => Api::V2,
            ApiVersion::Auto => probe(&http).await?,
        };
        Ok(AirflowClient { http, api, auth })
    }

    pub fn api(&self) -> Api {
        self.api
    }

    pub fn requests(&self) -> u64 {
        self.http.requests()
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The server's version string (no auth needed).
    pub async fn version(&self) -> Result<String, SourceError> {
        let path = format!("{}/version", self.api.prefix());
        let endpoint = Http::endpoint(&Method::GET, &path);
        let answer = self.http.send(|| self.http.request(Method::GET, &path), &endpoint, MAX_API_BODY).await?;
        Ok(self.http.decode::<Version>(&endpoint, &answer)?.version)
    }

    /// The scheduler's health: one request a poll, read after the DAGs.
    pub async fn health(&self) -> Result<WireHealth, SourceError> {
        let path = match self.api {
            Api::V1 => "/api/v1/health",
            Api::V2 => "/api/v2/monitor/health",
        };
        self.get(path, &[]).await
    }

    /// Every DAG, stale and inactive ones included, so a DAG whose file broke reads as
    /// down rather than vanishing. Pages of 100, following `total_entries`: the first page
    /// says how many there are, and the rest are asked for `concurrency` at a time (2,000
    /// DAGs one page after another at 20 ms each would be 0.4 s of waiting alone).
    ///
    /// `total_entries` is the server's word, not a fact: the pages are planned from the
    /// page size it actually sent, and a total or a page count past [`MAX_DAGS`] /
    /// [`MAX_PAGES`] fails the poll naming the bound (10¹² planned pages once aborted the
    /// process on allocation).
    pub async fn list_dags(&self, concurrency: usize) -> Result<Vec<WireDag>, SourceError> {
        let mut budget = Budget::new(format!("GET {}/dags", self.api.prefix()), "DAGs", MAX_DAGS, MAX_PAGES);
        let first = self.dag_page(0).await?;
        let step = first.dags.len();
        let mut total = budget.total(first.total_entries)?;
        budget.page(step)?;
        let mut dags = first.dags;
        if let Some(planned) = total.filter(|_| step > 0) {
            // `planned` is at most MAX_DAGS here, so the offsets are few.
            let offsets: Vec<usize> = (step..planned as usize).step_by(step).collect();
            budget.planned(offsets.len(), step)?;
            let pages: Vec<DagList> = futures::stream::iter(offsets)
                .map(|offset| self.dag_page(offset))
                .buffered(concurrency.max(1))
                .try_collect()
                .await?;
            for page in pages {
                total = budget.total(page.total_entries)?.or(total);
                budget.page(page.dags.len())?;
                dags.extend(page.dags);
            }
        }
        // DAGs added while listing: on, page by page, to the newest total.
        while step > 0 && total.is_some_and(|t| (dags.len() as u64) < t) {
            let page = self.dag_page(dags.len()).await?;
            if page.dags.is_empty() {
                break;
            }
            total = budget.total(page.total_entries)?;
            budget.page(page.dags.len())?;
            dags.extend(page.dags);
        }
        Ok(dags)
    }

    async fn dag_page(&self, offset: usize) -> Result<DagList, SourceError> {
        let path = format!("{}/dags", self.api.prefix());
        let include_gone = match self.api {
            Api::V1 => ("only_active", "false"),
            Api::V2 => ("exclude_stale", "false"),
        };
        let (offset, limit) = (offset.to_string(), PAGE.to_string());
        let query = [("limit", limit.as_str()), ("offset", offset.as_str()), ("order_by", "dag_id"), include_gone];
        self.get(&path, &query).await
    }

    /// Runs of these DAGs that started at or after `started_since`, across all of them in
    /// one batch call per page.
    pub async fn runs_started_since(
        &self,
        dag_ids: &[String],
        started_since: DateTime<Utc>,
    ) -> Result<Vec<WireRun>, SourceError> {
        let path = format!("{}/dags/~/dagRuns/list", self.api.prefix());
        let mut budget = Budget::new(format!("POST {path}"), "DAG runs", MAX_BATCH_ITEMS, MAX_PAGES);
        let mut runs: Vec<WireRun> = Vec::new();
        loop {
            let body = json!({
                "dag_ids": dag_ids,
                "start_date_gte": since_text(started_since),
                "order_by": "id",
                "page_offset": runs.len(),
                "page_limit": BATCH_PAGE,
            });
            let page: RunList = self.post(&path, &body).await?;
            budget.total(page.total_entries)?;
            let got = page.dag_runs.len();
            budget.page(got)?;
            runs.extend(page.dag_runs);
            if got < BATCH_PAGE || page.total_entries.is_none_or(|t| runs.len() as u64 >= t) {
                return Ok(runs);
            }
        }
    }

    /// The newest runs of one DAG: for a DAG with no run in the batch window.
    /// Airflow 2 orders by `-id` (a run triggered with a past date does not sort first by
    /// date); Airflow 3 by `-run_after` (manual runs may have a null logical date).
    pub async fn latest_runs(&self, dag_id: &str, limit: usize) -> Result<Vec<WireRun>, SourceError> {
        let path = format!("{}/dags/{}/dagRuns", self.api.prefix(), segment(dag_id));
        let order = match self.api {
            Api::V1 => "-id",
            Api::V2 => "-run_after",
        };
        let limit_n = limit;
        let limit = limit.to_string();
        match self.get::<RunList>(&path, &[("order_by", order), ("limit", &limit)]).await {
            // Asked for `limit`; a server that sends more is not believed beyond it.
            Ok(mut list) => {
                list.dag_runs.truncate(limit_n);
                Ok(list.dag_runs)
            }
            // Airflow 3 answers 404 for the runs of a DAG it does not know.
            Err(e) if matches!(e.kind, ErrorKind::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Task instances of these runs and tasks, in one batch call per page. Run ids are not
    /// unique across DAGs: callers match on (dag_id, run_id).
    pub async fn task_instances(
        &self,
        dag_ids: &[String],
        run_ids: &[String],
        task_ids: &[String],
    ) -> Result<Vec<WireTaskInstance>, SourceError> {
        let path = format!("{}/dags/~/dagRuns/~/taskInstances/list", self.api.prefix());
        let mut budget = Budget::new(format!("POST {path}"), "task instances", MAX_BATCH_ITEMS, MAX_PAGES);
        let mut found: Vec<WireTaskInstance> = Vec::new();
        loop {
            let body = json!({
                "dag_ids": dag_ids,
                "dag_run_ids": run_ids,
                "task_ids": task_ids,
                "page_offset": found.len(),
                "page_limit": BATCH_PAGE,
            });
            let page: TaskInstanceList = self.post(&path, &body).await?;
            budget.total(page.total_entries)?;
            let got = page.task_instances.len();
            budget.page(got)?;
            found.extend(page.task_instances);
            if got < BATCH_PAGE || page.total_entries.is_none_or(|t| found.len() as u64 >= t) {
                return Ok(found);
            }
        }
    }

    pub async fn import_errors(&self) -> Result<Vec<WireImportError>, SourceError> {
        let path = format!("{}/importErrors", self.api.prefix());
        let mut budget = Budget::new(format!("GET {path}"), "import errors", MAX_DAGS, MAX_PAGES);
        let mut errors = Vec::new();
        loop {
            let offset = errors.len().to_string();
            let limit = PAGE.to_string();
            let page: ImportErrorList =
                self.get(&path, &[("limit", limit.as_str()), ("offset", offset.as_str())]).await?;
            budget.total(page.total_entries)?;
            let got = page.import_errors.len();
            budget.page(got)?;
            errors.extend(page.import_errors);
            if got == 0 || page.total_entries.is_none_or(|t| errors.len() as u64 >= t) {
                return Ok(errors);
            }
        }
    }

    /// One XCom value, `None` when the task pushed no such key.
    pub async fn xcom(
        &self,
        dag_id: &str,
        run_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<Value>, SourceError> {
        let path = format!(
            "{}/dags/{}/dagRuns/{}/taskInstances/{}/xcomEntries/{}",
            self.api.prefix(),
            segment(dag_id),
            segment(run_id),
            segment(task_id),
            segment(key)
        );
        match self.get::<XcomEntry>(&path, &[]).await {
            Ok(entry) => Ok(entry.value),
            Err(e) if matches!(e.kind, ErrorKind::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, SourceError> {
        self.call(Method::GET, path, query, None).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, SourceError> {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    /// Sends with auth; an Airflow 3 token that is refused (401 "Token Expired", or 403
    /// "Invalid JWT token" when revoked or signed with an old key) is renewed once.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<T, SourceError> {
        let endpoint = Http::endpoint(&method, path);
        let mut renewed = false;
        loop {
            let token = self.token(&endpoint).await?;
            let build = || {
                let mut request = self.http.request(method.clone(), path).query(query);
                if let Some(body) = body {
                    request = request.json(body);
                }
                match (&self.auth, &token) {
                    (Auth::Basic { username, password }, _) => request.basic_auth(username, Some(password.expose())),
                    (_, Some(token)) => request.bearer_auth(token.expose()),
                    _ => request,
                }
            };
            match self.http.send(build, &endpoint, MAX_API_BODY).await {
                Ok(answer) => return self.http.decode(&endpoint, &answer),
                Err(e) if !renewed && self.jwt_refused(&e) => {
                    tracing::info!("Airflow token refused ({}); logging in again", e.cause());
                    if let Auth::Jwt { token, .. } = &self.auth {
                        *token.lock().expect("token lock") = None;
                    }
                    renewed = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn jwt_refused(&self, error: &SourceError) -> bool {
        matches!(self.auth, Auth::Jwt { .. })
            && match &error.kind {
                ErrorKind::Unauthorized(_) => true,
                ErrorKind::Forbidden(detail) => detail.contains("Invalid JWT"),
                _ => false,
            }
    }

    /// The bearer token to send, logging in first when there is none.
    async fn token(&self, endpoint: &str) -> Result<Option<Secret>, SourceError> {
        match &self.auth {
            Auth::Bearer(token) => Ok(Some(token.clone())),
            Auth::Jwt { username, password, token } => {
                if let Some(current) = token.lock().expect("token lock").clone() {
                    return Ok(Some(current));
                }
                let fresh = self.login(username, password).await.map_err(|mut e| {
                    e.endpoint = format!("{} (login for {endpoint})", e.endpoint);
                    e
                })?;
                *token.lock().expect("token lock") = Some(fresh.clone());
                Ok(Some(fresh))
            }
            _ => Ok(None),
        }
    }

    async fn login(&self, username: &str, password: &Secret) -> Result<Secret, SourceError> {
        let endpoint = "POST /auth/token";
        let body = json!({"username": username, "password": password.expose()});
        let answer = self
            .http
            .send(|| self.http.request(Method::POST, "/auth/token").json(&body), endpoint, MAX_API_BODY)
            .await?;
        let token: TokenAnswer = self.http.decode(endpoint, &answer)?;
        self.http.add_secret(&token.access_token);
        Ok(Secret::new(token.access_token))
    }
}

fn auth_secret(auth: &Auth) -> Option<Secret> {
    match auth {
        Auth::None => None,
        Auth::Basic { password, .. } | Auth::Jwt { password, .. } => Some(password.clone()),
        Auth::Bearer(token) => Some(token.clone()),
    }
}

/// `auto`: Airflow 3 answers `/api/v2/version`; Airflow 2 answers that with a 404 HTML
/// page and `/api/v1/version` with JSON.
async fn probe(http: &Http) -> Result<Api, SourceError> {
    let mut tried = Vec::new();
    for api in [Api::V2, Api::V1] {
        let path = format!("{}/version", api.prefix());
        let endpoint = Http::endpoint(&Method::GET, &path);
        match http.send(|| http.request(Method::GET, &path), &endpoint, MAX_API_BODY).await {
            Ok(answer) if http::decode::<Version>(SourceName::Airflow, &endpoint, &answer).is_ok() => {
                return Ok(api);
            }
            Ok(_) => tried.push(format!("{path}: not an Airflow version answer")),
            Err(e) if matches!(e.kind, ErrorKind::NotFound(_) | ErrorKind::Status { .. }) => {
                tried.push(format!("{path}: {}", e.cause()))
            }
            Err(e) => return Err(e),
        }
    }
    Err(SourceError::new(
        SourceName::Airflow,
        "GET /api/v2/version, /api/v1/version",
        ErrorKind::BadBody(format!("no Airflow API at this URL ({}): check `url` in [airflow]", tried.join("; "))),
    ))
}

/// A path segment, percent-encoded: run ids hold `:` and `+`.
fn segment(text: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    utf8_percent_encode(text, KEEP).to_string()
}

/// Dates in request bodies: with an explicit zone (a naive one is a 500 on Airflow 3).
fn since_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_encoded_in_paths() {
        assert_eq!(segment("scheduled__2026-11-24T00:00:00+00:00"), "scheduled__2026-11-24T00%3A00%3A00%2B00%3A00");
        assert_eq!(segment("dbt_build"), "dbt_build");
    }
}
