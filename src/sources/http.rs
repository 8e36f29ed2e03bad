//! HTTP plumbing shared by the clients: timeouts, bounded bodies, retries with backoff
//! and jitter, `Retry-After`, and errors that say which source, which endpoint, what.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::TlsConfig;

/// Which source an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceName {
    Airflow,
    DbtCloud,
    LocalDbt,
}

impl fmt::Display for SourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceName::Airflow => "Airflow",
            SourceName::DbtCloud => "dbt Cloud",
            SourceName::LocalDbt => "local dbt",
        })
    }
}

/// What went wrong, classified so the poller knows whether a retry may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// Nothing listens there (connection refused).
    Refused,
    Timeout(Duration),
    Dns(String),
    Tls(String),
    Connect(String),
    /// 401: the credentials were refused.
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    Forbidden(String),
    NotFound(String),
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// 5xx.
    Server {
        status: u16,
        detail: String,
    },
    /// Any other unexpected status.
    Status {
        status: u16,
        detail: String,
    },
    /// The answer is not what the API promises (HTML, truncated or mistyped JSON, too big).
    BadBody(String),
    /// The answer asks for more than a poll reads (a `total_entries` of 10¹², pages
    /// without end): which bound, in words.
    Bound(String),
    /// A redirect to another origin, not followed: credentials go only to the configured URL.
    Redirect(String),
    Io(String),
}

/// A failed call to a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub source: SourceName,
    /// `GET /api/v1/dags` (no query string: it may carry ids, never secrets, but it is long).
    pub endpoint: String,
    pub kind: ErrorKind,
}

impl ErrorKind {
    /// A short stable name, for metrics labels (`tablestat_source_errors_total{kind=…}`).
    pub fn label(&self) -> &'static str {
        match self {
            ErrorKind::Refused => "refused",
            ErrorKind::Timeout(_) => "timeout",
            ErrorKind::Dns(_) => "dns",
            ErrorKind::Tls(_) => "tls",
            ErrorKind::Connect(_) => "connect",
            ErrorKind::Unauthorized(_) => "unauthorized",
            ErrorKind::Forbidden(_) => "forbidden",
            ErrorKind::NotFound(_) => "not_found",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Server { .. } => "server_error",
            ErrorKind::Status { .. } => "unexpected_status",
            ErrorKind::BadBody(_) => "bad_body",
            ErrorKind::Bound(_) => "too_big",
            ErrorKind::Redirect(_) => "redirect",
            ErrorKind::Io(_) => "io",
        }
    }
}

impl SourceError {
    pub fn new(source: SourceName, endpoint: impl Into<String>, kind: ErrorKind) -> SourceError {
        SourceError { source, endpoint: endpoint.into(), kind }
    }

    /// Whether the same call may succeed if tried again soon.
    pub fn is_retryable(&self) -> bool {
        match &self.kind {
            ErrorKind::Refused | ErrorKind::Timeout(_) | ErrorKind::Connect(_) | ErrorKind::Io(_) => true,
            ErrorKind::RateLimited { .. } => true,
            ErrorKind::Server { status, .. } => matches!(status, 500 | 502 | 503 | 504),
            _ => false,
        }
    }

    /// The cause alone, for a reason on screen: "timed out after 30 s".
    pub fn cause(&self) -> String {
        match &self.kind {
            ErrorKind::Refused => "connection refused (is the server running at that URL?)".into(),
            ErrorKind::Timeout(after) => {
                format!("no answer within {}", humantime::format_duration(*after))
            }
            ErrorKind::Dns(d) => format!("host name not found ({d})"),
            ErrorKind::Tls(d) => format!("TLS: {d}"),
            ErrorKind::Connect(d) => format!("could not connect: {d}"),
            ErrorKind::Unauthorized(d) => {
                format!("401 unauthorized{}: check the credentials", paren(d))
            }
            ErrorKind::Forbidden(d) => {
                format!("403 forbidden{}: the user lacks permission", paren(d))
            }
            ErrorKind::NotFound(d) => format!("404 not found{}", paren(d)),
            ErrorKind::RateLimited { retry_after: Some(after) } => {
                format!("429 rate limited, retry after {} s", after.as_secs())
            }
            ErrorKind::RateLimited { retry_after: None } => "429 rate limited".into(),
            ErrorKind::Server { status, detail } => {
                format!("server error {status}{}", paren(detail))
            }
            ErrorKind::Status { status, detail } => {
                format!("unexpected status {status}{}", paren(detail))
            }
            ErrorKind::BadBody(d) => format!("unreadable answer: {d}"),
            ErrorKind::Bound(d) => format!("too much to read: {d}"),
            ErrorKind::Redirect(to) => format!(
                "redirected to another origin ({to}), not followed: credentials are sent only to the configured \
                 URL; if the server moved, set `url` to it"
            ),
            ErrorKind::Io(d) => d.clone(),
        }
    }
}

fn paren(detail: &str) -> String {
    if detail.is_empty() { String::new() } else { format!(" ({detail})") }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.source, self.endpoint, self.cause())
    }
}

impl std::error::Error for SourceError {}

/// How hard to try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for inside a poll: the error is
    /// reported and the next poll tries again.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter: uniform in [0, min(max, base * 2^n)].
    fn delay(&self, attempt: u32) -> Duration {
        let cap = self.base_delay.saturating_mul(2u32.saturating_pow(attempt)).min(self.max_delay);
        cap.mul_f64(fastrand::f64())
    }
}

/// The longest text from a server kept in an error (a reason on screen is one line).
pub const MAX_DETAIL: usize = 200;

/// Bodies larger than this are refused: no answer of these APIs is legitimately bigger,
/// and a runaway body must not eat the jump host's memory.
pub const MAX_API_BODY: usize = 64 * 1024 * 1024;
/// dbt artifacts (manifests) can be hundreds of MB: the same cap as for a `target/` file.
pub const MAX_ARTIFACT_BODY: usize = crate::dbt::MAX_ARTIFACT_BYTES;

/// One base URL, one reqwest client (connections reused), a request counter.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: Url,
    source: SourceName,
    timeout: Duration,
    pub retry: RetryPolicy,
    requests: Arc<AtomicU64>,
    /// Values that must never leave this process in an error: a server may echo the request
    /// (credentials included) in its error body.
    secrets: Arc<std::sync::Mutex<Vec<String>>>,
}

/// An answer, read in full.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Answer {
    /// A 200 answer with a JSON body, as a server sends it (for fuzz targets and tests).
    pub fn json(body: Vec<u8>) -> Answer {
        Answer { status: StatusCode::OK, content_type: "application/json".into(), retry_after: None, body }
    }
}

impl Http {
    pub fn new(source: SourceName, base: Url, timeout: Duration, tls: &TlsConfig) -> Result<Http, SourceError> {
        let setup = |detail: String| SourceError::new(source, "client setup", ErrorKind::Tls(detail));
        let builder = super::tls::client_builder(tls.ca_file.as_deref(), tls.insecure_skip_verify)
            .map_err(setup)?
            .user_agent(concat!("tablestat/", env!("CARGO_PKG_VERSION")))
            .redirect(super::redirect::same_origin_redirects())
            .referer(false)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90));
        if tls.insecure_skip_verify {
            tracing::warn!(source = %source, "insecure_skip_verify = true: TLS certificates are NOT checked");
        }
        let client = builder.build().map_err(|e| setup(error_chain(&e)))?;
        Ok(Http {
            client,
            base,
            source,
            timeout,
            retry: RetryPolicy::default(),
            requests: Arc::new(AtomicU64::new(0)),
            secrets: Arc::new(std::sync::Mutex::new(Vec::new())),
        })
    }

    pub fn source(&self) -> SourceName {
        self.source
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The base URL joined with `path` (which starts with `/`), keeping any base path prefix.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{prefix}{path}"));
        url
    }

    pub fn endpoint(method: &Method, path: &str) -> String {
        format!("{method} {path}")
    }

    /// Sends once, reads the whole body (bounded). No retry, no status check.
    pub async fn send_once(
        &self,
        request: reqwest::RequestBuilder,
        endpoint: &str,
        max_body: usize,
    ) -> Result<Answer, SourceError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let err = |kind| SourceError::new(self.source, endpoint, kind);
        let mut response = request.send().await.map_err(|e| err(self.classify(&e)))?;
        let status = response.status();
        let headers = response.headers();
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let retry_after = headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let announced = response.content_length().map_or(0, |len| len as usize);
        if announced > max_body {
            return Err(err(ErrorKind::BadBody(format!(
                "answer of {announced} bytes is larger than the {max_body}-byte limit"
            ))));
        }
        // Kept as the chunks that came and joined once, into a buffer of the exact size: a
        // buffer grown by doubling holds the old copies too (the allocator keeps freed
        // blocks a while), three times the body at its peak.
        let mut chunks = Vec::new();
        let mut read = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if read > max_body {
                        return Err(err(ErrorKind::BadBody(format!("answer larger than the {max_body}-byte limit"))));
                    }
                    chunks.push(chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(err(self.classify(&e))),
            }
        }
        let body = match <[_; 1]>::try_from(chunks) {
            Ok([only]) => Vec::from(only),
            Err(chunks) => {
                let mut body = Vec::with_capacity(read.max(announced));
                chunks.iter().for_each(|c| body.extend_from_slice(c));
                body
            }
        };
        Ok(Answer { status, content_type, retry_after, body })
    }

    /// Sends with retries for retryable failures; `build` makes a fresh request each try.
    pub async fn send(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        endpoint: &str,
        max_body: usize,
    ) -> Result<Answer, SourceError> {
        // Scrubbed at once: the retry loop logs each failure.
        with_retries(&self.retry, || async {
            let answer = self.send_once(build(), endpoint, max_body).await.map_err(|e| self.scrub(e))?;
            match status_error(self.source, endpoint, &answer) {
                None => Ok(answer),
                Some(e) => Err(self.scrub(e)),
            }
        })
        .await
    }

    /// Registers a secret (a password, a token) to be blanked out of every error, in each
    /// form a server may echo it in ([`crate::config::echo_forms`]).
    pub fn add_secret(&self, secret: &str) {
        if secret.len() >= 4 {
            let mut secrets = self.secrets.lock().expect("secrets lock");
            for form in crate::config::echo_forms(secret) {
                if !secrets.contains(&form) {
                    secrets.push(form);
                }
            }
        }
    }

    /// Blanks registered secrets out of an error's text, then bounds each text to
    /// [`MAX_DETAIL`] characters: cut after blanking, so no secret is cut in half and missed.
    pub fn scrub(&self, mut error: SourceError) -> SourceError {
        let secrets = self.secrets.lock().expect("secrets lock").clone();
        let clean = |text: &mut String| *text = crate::config::blank_secrets(text, &secrets, MAX_DETAIL);
        clean(&mut error.endpoint);
        match &mut error.kind {
            ErrorKind::Dns(t)
            | ErrorKind::Tls(t)
            | ErrorKind::Connect(t)
            | ErrorKind::Unauthorized(t)
            | ErrorKind::Forbidden(t)
            | ErrorKind::NotFound(t)
            | ErrorKind::BadBody(t)
            | ErrorKind::Bound(t)
            | ErrorKind::Redirect(t)
            | ErrorKind::Io(t)
            | ErrorKind::Server { detail: t, .. }
            | ErrorKind::Status { detail: t, .. } => clean(t),
            ErrorKind::Refused | ErrorKind::Timeout(_) | ErrorKind::RateLimited { .. } => {}
        }
        error
    }

    /// Decodes an answer, blanking secrets out of a decoding error.
    pub fn decode<T: DeserializeOwned>(&self, endpoint: &str, answer: &Answer) -> Result<T, SourceError> {
        decode(self.source, endpoint, answer).map_err(|e| self.scrub(e))
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).header(header::ACCEPT, "application/json")
    }

    /// Says plainly what a TLS failure means and what to do about it.
    fn tls_detail(&self, chain: &str) -> String {
        let section = match self.source {
            SourceName::Airflow => "[airflow]",
            SourceName::DbtCloud | SourceName::LocalDbt => "[dbt]",
        };
        let cause = chain.split(": ").skip_while(|part| !part.contains("certificate")).collect::<Vec<_>>().join(": ");
        let cause = if cause.is_empty() { last_cause(chain) } else { cause };
        let lower = chain.to_lowercase();
        if lower.contains("unknownissuer") || lower.contains("unknown issuer") || lower.contains("self-signed") {
            format!(
                "certificate not trusted ({cause}): set ca_file in {section} to the PEM bundle of the CA that signed it"
            )
        } else if lower.contains("certificate") {
            format!("certificate rejected ({cause})")
        } else {
            format!("handshake failed ({cause})")
        }
    }

    fn classify(&self, error: &reqwest::Error) -> ErrorKind {
        if error.is_timeout() {
            return ErrorKind::Timeout(self.timeout);
        }
        if let Some(super::redirect::CrossOrigin(to)) = super::redirect::cross_origin(error) {
            return ErrorKind::Redirect(to.clone());
        }
        let chain = error_chain(error);
        let lower = chain.to_lowercase();
        if lower.contains("connection refused") {
            ErrorKind::Refused
        } else if lower.contains("dns error")
            || lower.contains("failed to lookup")
            || lower.contains("name or service not known")
        {
            ErrorKind::Dns(last_cause(&chain))
        } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            ErrorKind::Tls(self.tls_detail(&chain))
        } else if lower.contains("corrupt message") {
            ErrorKind::Tls(format!("the server does not speak TLS ({}): is the URL http://?", last_cause(&chain)))
        } else if error.is_connect() {
            ErrorKind::Connect(last_cause(&chain))
        } else if error.is_body() || error.is_decode() {
            ErrorKind::BadBody(format!("the answer broke off: {}", last_cause(&chain)))
        } else {
            ErrorKind::Io(last_cause(&chain))
        }
    }
}

/// Runs `op` until it succeeds, fails for good, or runs out of attempts. Waits between
/// tries: `Retry-After` when the server gave one (unless longer than `max_wait`: then the
/// error is returned and the next poll tries again), else backoff with full jitter.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T, SourceError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, SourceError>>,
{
    let mut attempt = 0;
    loop {
        let error = match op().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        attempt += 1;
        if !error.is_retryable() || attempt >= policy.attempts {
            return Err(error);
        }
        let wait = match &error.kind {
            ErrorKind::RateLimited { retry_after: Some(after) } if *after > policy.max_wait => return Err(error),
            ErrorKind::RateLimited { retry_after: Some(after) } => *after,
            _ => policy.delay(attempt),
        };
        tracing::debug!(%error, ?wait, attempt, "retrying");
        tokio::time::sleep(wait).await;
    }
}

/// An error for a non-2xx answer, with the server's own words where it gave some.
fn status_error(source: SourceName, endpoint: &str, answer: &Answer) -> Option<SourceError> {
    let status = answer.status;
    if status.is_success() {
        return None;
    }
    let detail = error_detail(&answer.body);
    let kind = match status.as_u16() {
        401 => ErrorKind::Unauthorized(detail),
        403 => ErrorKind::Forbidden(detail),
        404 => ErrorKind::NotFound(detail),
        429 => ErrorKind::RateLimited { retry_after: answer.retry_after },
        s @ 500..=599 => ErrorKind::Server { status: s, detail },
        s => ErrorKind::Status { status: s, detail },
    };
    Some(SourceError::new(source, endpoint, kind))
}

/// The message of an error body: Airflow 2's problem+json `detail`/`title`, Airflow 3's
/// `detail` (string, list or object) or `error`, dbt Cloud's `status.user_message`.
pub fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let text = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(items) => {
                items.first().and_then(|i| i.get("msg")).and_then(|m| m.as_str()).map(String::from)
            }
            serde_json::Value::Object(o) => o.get("message").and_then(|m| m.as_str()).map(String::from),
            _ => None,
        }
    };
    let found = value
        .get("detail")
        .and_then(text)
        .or_else(|| value.get("error").and_then(text))
        .or_else(|| value.pointer("/status/user_message").and_then(text))
        .or_else(|| value.get("title").and_then(text))
        .unwrap_or_default();
    // Not cut to length here: `Http::scrub` blanks secrets first, then cuts.
    let line: String = found.lines().next().unwrap_or("").chars().filter(|c| !c.is_control()).collect();
    line
}

/// Decodes a JSON body into `T`; errors name the JSON path that failed.
pub fn decode<T: DeserializeOwned>(source: SourceName, endpoint: &str, answer: &Answer) -> Result<T, SourceError> {
    let looks_html =
        answer.content_type.contains("html") || answer.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    if looks_html {
        return Err(SourceError::new(
            source,
            endpoint,
            ErrorKind::BadBody("got an HTML page instead of JSON: is the URL the API's base URL?".into()),
        ));
    }
    // Tracking the path costs an allocation per map key (2,000 DAGs: ~60,000 per poll), so
    // it is done only to explain a failure.
    if let Ok(value) = serde_json::from_slice::<T>(&answer.body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(&answer.body);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let path = error.path().to_string();
    let at = if path.is_empty() || path == "." { String::new() } else { format!(" at `{path}`") };
    // A proxy or gateway answering for the API says so in its content type.
    let media = answer.content_type.split(';').next().unwrap_or("").trim();
    let what = if media.is_empty() || media.contains("json") {
        format!("{}{at}", error.inner())
    } else {
        format!("got {media} instead of JSON ({}{at})", error.inner())
    };
    Err(SourceError::new(source, endpoint, ErrorKind::BadBody(what)))
}

/// `Retry-After: 120` or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    let secs = (when.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds().max(0);
    Some(Duration::from_secs(secs as u64))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn last_cause(chain: &str) -> String {
    chain.rsplit(": ").next().unwrap_or(chain).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details_from_each_api() {
        let cases: [(&str, &str); 6] = [
            (r#"{"detail": null, "status": 401, "title": "Unauthorized", "type": "x"}"#, "Unauthorized"),
            (r#"{"detail": "Token Expired"}"#, "Token Expired"),
            (
                r#"{"detail": [{"type": "extra_forbidden", "loc": ["body","state"], "msg": "Extra inputs are not permitted"}]}"#,
                "Extra inputs are not permitted",
            ),
            (r#"{"error": "/api/v1 has been removed in Airflow 3"}"#, "/api/v1 has been removed in Airflow 3"),
            (r#"{"status": {"code": 401, "user_message": "Invalid token."}, "data": null}"#, "Invalid token."),
            ("<html>nope</html>", ""),
        ];
        for (body, detail) in cases {
            assert_eq!(error_detail(body.as_bytes()), detail, "{body}");
        }
    }

    #[test]
    fn retry_after_in_seconds_or_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
    }

    fn failing(kind: ErrorKind) -> SourceError {
        SourceError::new(SourceName::Airflow, "GET /x", kind)
    }

    /// Counts calls; fails with `kinds` in order, then succeeds.
    async fn run_with(kinds: Vec<ErrorKind>, policy: RetryPolicy) -> (Result<u32, SourceError>, u32, Duration) {
        let calls = std::cell::Cell::new(0u32);
        let start = tokio::time::Instant::now();
        let result = with_retries(&policy, || {
            let n = calls.get();
            calls.set(n + 1);
            let outcome = kinds.get(n as usize).cloned();
            async move {
                match outcome {
                    Some(kind) => Err(failing(kind)),
                    None => Ok(n),
                }
            }
        })
        .await;
        (result, calls.get(), start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_failures_are_retried_with_bounded_backoff() {
        let policy = RetryPolicy::default();
        let (result, calls, waited) =
            run_with(vec![ErrorKind::Refused, ErrorKind::Server { status: 503, detail: String::new() }], policy).await;
        assert_eq!(result.unwrap(), 2);
        assert_eq!(calls, 3);
        assert!(waited <= policy.max_delay * 2, "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let (result, calls, waited) = run_with(
            vec![ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(7)) }],
            RetryPolicy::default(),
        )
        .await;
        assert!(result.is_ok());
        assert_eq!(calls, 2);
        assert_eq!(waited, Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_retry_after_is_left_to_the_next_poll() {
        let (result, calls, waited) = run_with(
            vec![ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(300)) }],
            RetryPolicy::default(),
        )
        .await;
        assert!(matches!(result.unwrap_err().kind, ErrorKind::RateLimited { .. }));
        assert_eq!((calls, waited), (1, Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried_and_attempts_are_bounded() {
        let (result, calls, _) = run_with(vec![ErrorKind::Unauthorized(String::new())], RetryPolicy::default()).await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
        let (result, calls, _) = run_with(vec![ErrorKind::Refused; 10], RetryPolicy::default()).await;
        assert!(result.is_err());
        assert_eq!(calls, 3);
    }

    /// A long token echoed late in an error body: blanked whole, then the text is cut
    /// (cutting first left half a token that no longer matched).
    #[test]
    fn secrets_are_blanked_before_the_text_is_cut() {
        let base = Url::parse("http://airflow.example").unwrap();
        let http = Http::new(SourceName::Airflow, base, Duration::from_secs(1), &TlsConfig::default()).unwrap();
        let token = format!("eyJ{}", "k".repeat(250));
        http.add_secret(&token);
        let body = serde_json::json!({ "detail": format!("{} Bearer {token}", "refused ".repeat(20)) });
        let answer = Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            content_type: "application/json".into(),
            retry_after: None,
            body: body.to_string().into_bytes(),
        };
        let error = http.scrub(status_error(SourceName::Airflow, "GET /x", &answer).unwrap());
        let ErrorKind::Server { detail, .. } = &error.kind else { panic!("{error:?}") };
        assert!(detail.ends_with("Bearer ***"), "{detail}");
        assert!(!detail.contains("eyJ"), "{detail}");
        let long = error_detail(format!(r#"{{"detail": "{}"}}"#, "x".repeat(500)).as_bytes());
        let cut = http.scrub(failing(ErrorKind::Server { status: 500, detail: long }));
        assert_eq!(cut.cause().len(), "server error 500 ()".len() + MAX_DETAIL);
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        let policy = RetryPolicy::default();
        for attempt in 0..20 {
            assert!(policy.delay(attempt) <= policy.max_delay);
        }
    }
}
