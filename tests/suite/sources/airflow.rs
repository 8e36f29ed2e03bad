//! The Airflow client and one poll, against local fakes serving captured real responses
//! of Airflow 2.10.5 and 3.3.2: field differences, bulk requests, auth, and every error
//! class turned into an `unknown` state with the reason.

use std::path::Path;
use std::sync::Arc;

use crate::common::fake::{self, config_text};
use chrono::{TimeZone, Utc};
use tablestat::config::Config;
use tablestat::model::{Metric, State};
use tablestat::poller::{Engine, PollResult, Prior};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn config(text: &str) -> Arc<Config> {
    Arc::new(Config::parse(Path::new("/tmp/tablestat-test.toml"), text).unwrap())
}

async fn poll(engine: &mut Engine) -> PollResult {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 1, 20, 0).unwrap();
    engine.poll(&Prior::default(), now).await
}

/// `id: state | availability reason | freshness reason`
fn summary(result: &PollResult) -> Vec<String> {
    result
        .checked
        .iter()
        .map(|c| {
            let e = &c.evaluation;
            let reason = |m: Metric| e.verdict(&m).map(|v| format!("{} {}", v.state, v.reason)).unwrap_or_default();
            format!("{}: {} | {} | {}", c.product.id, e.state, reason(Metric::Availability), reason(Metric::Freshness))
        })
        .collect()
}

const V1_PRODUCTS: &[(&str, &str, Option<&str>)] = &[
    ("orders", "orders_daily", Some("dbt_build")),
    ("customers", "customers_hourly", Some("dbt_build")),
    ("finance", "finance_weekly", Some("dbt_build")),
    ("marketing", "marketing_daily", Some("dbt_build")),
    ("legacy", "legacy_daily", Some("dbt_build")),
    ("flaky", "flaky_loader", Some("dbt_build")),
    ("missing", "no_such_dag", Some("dbt_build")),
];

#[tokio::test]
async fn airflow2_poll_reads_every_dag_state_in_bulk() {
    let server = fake::airflow2().await;
    // Basic auth on every API call: admin:admin.
    let cfg = config(&config_text(&server.uri(), "v1", "basic", V1_PRODUCTS));
    let mut engine = Engine::new(cfg).unwrap();
    let result = poll(&mut engine).await;
    assert_eq!(result.airflow_error, None);
    assert_eq!(
        summary(&result),
        vec![
            // The rerun for an old interval was created last and started last: it is the latest.
            "orders: up | up DAG orders_daily is active | up refreshed at 2026-11-24 01:14 UTC: dbt_build succeeded in run rerun_2026_11_20",
            "customers: down | up DAG customers_hourly is active | down not refreshed: dbt_build failed in run manual__2026-11-24T01:12:24.476244+00:00",
            "finance: down | down DAG finance_weekly is paused | down blocked: DAG finance_weekly is paused",
            "marketing: down | down DAG marketing_daily cannot be loaded: import error: ModuleNotFoundError: No module named 'airflow.providers.dbt' | down blocked: DAG marketing_daily cannot be loaded: import error: ModuleNotFoundError: No module named 'airflow.providers.dbt'",
            "legacy: down | down DAG legacy_daily is no longer active in Airflow (its file is gone or broken) | down blocked: DAG legacy_daily is no longer active in Airflow (its file is gone or broken)",
            "flaky: unknown | unknown DAG flaky_loader has not finished a run yet | unknown DAG flaky_loader has not finished a run yet",
            "missing: down | down DAG no_such_dag does not exist in Airflow | down blocked: DAG no_such_dag does not exist in Airflow",
        ]
    );
    let flaky = &result.checked[5].evaluation;
    assert_eq!(
        flaky.note.as_deref(),
        Some("refresh in progress: run scheduled__2026-11-24T00:30:00+00:00 started 9 min ago")
    );
    // dags, the scheduler's health, importErrors, one runs batch, one task-instance batch,
    // and a first-poll lookup for each of the two DAGs with no finished run in the window.
    assert_eq!(result.airflow_requests, 7);
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().filter(|r| r.url.path().starts_with("/api/v1/dags")).all(|r| {
            r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Basic YWRtaW46YWRtaW4=")
        })
    );
    let dags_query = requests.iter().find(|r| r.url.path() == "/api/v1/dags").unwrap().url.query().unwrap().to_string();
    assert!(dags_query.contains("only_active=false") && dags_query.contains("limit=100"), "{dags_query}");

    // The next poll asks only for what changed: no more single-DAG lookups, no task
    // instances for finished runs already read (only the run still going).
    let again = poll(&mut engine).await;
    assert_eq!(again.airflow_requests, 5);
    assert_eq!(summary(&again), summary(&result));
}

#[tokio::test]
async fn airflow3_poll_with_jwt_and_null_logical_dates() {
    let server = fake::airflow3().await;
    let products = [
        ("orders", "orders_daily", Some("dbt_build")),
        ("customers", "customers_hourly", Some("dbt_build")),
        ("finance", "finance_weekly", Some("dbt_build")),
        ("marketing", "marketing_daily", Some("dbt_build")),
        ("events", "events_hourly", Some("dbt_build")),
    ];
    let mut engine = Engine::new(config(&config_text(&server.uri(), "auto", "password", &products))).unwrap();
    let result = poll(&mut engine).await;
    assert_eq!(result.airflow_error, None);
    assert_eq!(result.airflow_api, Some(tablestat::sources::airflow::Api::V2));
    assert_eq!(
        summary(&result),
        vec![
            // The manual run (null logical_date) started after the scheduled one: it decides.
            "orders: up | up DAG orders_daily is active | up refreshed at 2026-11-24 01:10 UTC: dbt_build succeeded in run manual__2026-11-24T01:10:46.762870+00:00",
            "customers: down | up DAG customers_hourly is active | down not refreshed: dbt_build failed in run manual__2026-11-24T01:10:46.822154+00:00",
            "finance: down | down DAG finance_weekly is paused | down blocked: DAG finance_weekly is paused",
            "marketing: down | down DAG marketing_daily cannot be loaded: import error: RuntimeError: marketing source config missing: MARKETING_API_KEY not set | down blocked: DAG marketing_daily cannot be loaded: import error: RuntimeError: marketing source config missing: MARKETING_API_KEY not set",
            "events: unknown | unknown DAG events_hourly has not finished a run yet | unknown DAG events_hourly has not finished a run yet",
        ]
    );
    let requests = server.received_requests().await.unwrap();
    let logins = requests.iter().filter(|r| r.url.path() == "/auth/token").count();
    assert_eq!(logins, 1, "one login for the whole poll");
    let login = requests.iter().find(|r| r.url.path() == "/auth/token").unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&login.body).unwrap(),
        serde_json::json!({"username": "admin", "password": "admin"})
    );
    let token = fake::body("airflow3/auth_token_201.json");
    let token: serde_json::Value = serde_json::from_str(&token).unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    assert!(
        requests
            .iter()
            .filter(|r| r.url.path() == "/api/v2/dags")
            .all(|r| r.headers.get("authorization").unwrap() == bearer.as_str())
    );
    let dags_query = requests.iter().find(|r| r.url.path() == "/api/v2/dags").unwrap().url.query().unwrap().to_string();
    assert!(dags_query.contains("exclude_stale=false"), "{dags_query}");
}

/// Airflow 3 refuses an expired token with 401 "Token Expired" and a revoked or
/// malformed one with 403 "Invalid JWT token": log in again once, then carry on.
#[tokio::test]
async fn an_expired_or_revoked_token_is_renewed_once() {
    for (status, file) in
        [(401, "airflow3/error_401_expired_token.json"), (403, "airflow3/error_403_garbage_token.json")]
    {
        let server = fake::airflow3().await;
        Mock::given(method("GET"))
            .and(path("/api/v2/dags"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(fake::body(file), "application/json"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        let products = [("orders", "orders_daily", Some("dbt_build"))];
        let mut engine = Engine::new(config(&config_text(&server.uri(), "v2", "password", &products))).unwrap();
        let result = poll(&mut engine).await;
        assert_eq!(result.airflow_error, None, "{file}");
        assert_eq!(result.checked[0].evaluation.state, State::Up);
        let logins = server.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/auth/token").count();
        assert_eq!(logins, 2, "{file}: logged in again once");
    }
}

#[tokio::test]
async fn a_permission_error_is_not_mistaken_for_an_expired_token() {
    let server = fake::airflow3().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/dags"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(r#"{"detail": "Forbidden"}"#, "application/json"))
        .with_priority(1)
        .mount(&server)
        .await;
    let products = [("orders", "orders_daily", Some("dbt_build"))];
    let mut engine = Engine::new(config(&config_text(&server.uri(), "v2", "password", &products))).unwrap();
    let result = poll(&mut engine).await;
    let verdict = result.checked[0].evaluation.verdict(&Metric::Availability).unwrap().clone();
    assert_eq!(verdict.state, State::Unknown);
    assert_eq!(
        verdict.reason,
        "Airflow could not be read since 2026-11-24 01:20 UTC: 403 forbidden (Forbidden): the user lacks permission"
    );
}

#[tokio::test]
async fn api_auto_picks_airflow_2_when_v2_is_an_html_404() {
    let server = fake::airflow2().await;
    let products = [("orders", "orders_daily", Some("dbt_build"))];
    let mut engine = Engine::new(config(&config_text(&server.uri(), "auto", "basic", &products))).unwrap();
    let result = poll(&mut engine).await;
    assert_eq!(result.airflow_api, Some(tablestat::sources::airflow::Api::V1));
    assert_eq!(result.checked[0].evaluation.state, State::Up);
}

/// Every fault a poll can meet, and the reason it shows: never a panic, never down.
#[tokio::test]
async fn each_error_class_becomes_unknown_with_its_reason() {
    let cases: Vec<(&str, ResponseTemplate, &str)> = vec![
        (
            "500",
            ResponseTemplate::new(500).set_body_raw(r#"{"detail": "boom"}"#, "application/json"),
            "server error 500 (boom)",
        ),
        (
            "502 html",
            ResponseTemplate::new(502).set_body_raw("<html>Bad Gateway</html>", "text/html"),
            "server error 502",
        ),
        (
            "html with 200",
            ResponseTemplate::new(200).set_body_raw("<html><body>Login</body></html>", "text/html"),
            "unreadable answer: got an HTML page instead of JSON: is the URL the API's base URL?",
        ),
        (
            "truncated json",
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"dags": [{"dag_id": "orders_daily", "is_paus"#, "application/json"),
            "unreadable answer: EOF while parsing",
        ),
        (
            "wrong type",
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"dags": [{"dag_id": 5}], "total_entries": 1}"#, "application/json"),
            "unreadable answer: invalid type: integer `5`, expected a string at line 1 column 22 at `dags[0].dag_id`",
        ),
        (
            "401",
            fake::problem(401, "airflow2/error_401_bad_password.json"),
            "401 unauthorized (Unauthorized): check the credentials",
        ),
        (
            "429 long",
            ResponseTemplate::new(429).insert_header("Retry-After", "120"),
            "429 rate limited, retry after 120 s",
        ),
        ("slow", ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(5)), "no answer within 2s"),
    ];
    for (name, response, expected) in cases {
        let server = fake::airflow2().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/dags"))
            .respond_with(response)
            .with_priority(1)
            .mount(&server)
            .await;
        let products =
            [("orders", "orders_daily", Some("dbt_build")), ("customers", "customers_hourly", Some("dbt_build"))];
        let mut engine = Engine::new(config(&config_text(&server.uri(), "v1", "basic", &products))).unwrap();
        let result = poll(&mut engine).await;
        for checked in &result.checked {
            assert_eq!(checked.evaluation.state, State::Unknown, "{name}");
            for (_, verdict) in &checked.evaluation.metrics {
                assert!(
                    verdict.reason.starts_with("Airflow could not be read since 2026-11-24 01:20 UTC: ")
                        && verdict.reason.contains(expected),
                    "{name}: {:?} lacks {expected:?}",
                    verdict.reason
                );
            }
        }
        assert!(result.airflow_error.unwrap().contains(expected), "{name}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_unknown_and_the_next_good_poll_recovers() {
    // Find a free port, then let nothing listen on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let products = [("orders", "orders_daily", Some("dbt_build"))];
    let mut engine =
        Engine::new(config(&config_text(&format!("http://127.0.0.1:{port}"), "v1", "basic", &products))).unwrap();
    let result = poll(&mut engine).await;
    let reason = &result.checked[0].evaluation.verdict(&Metric::Freshness).unwrap().reason;
    assert!(reason.contains("connection refused (is the server running at that URL?)"), "{reason}");

    // A server that first fails with 503 three times (every retry), then recovers.
    let server = fake::airflow2().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/dags"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    let mut engine = Engine::new(config(&config_text(&server.uri(), "v1", "basic", &products))).unwrap();
    assert_eq!(poll(&mut engine).await.checked[0].evaluation.state, State::Unknown);
    assert_eq!(poll(&mut engine).await.checked[0].evaluation.state, State::Up);
}

#[tokio::test]
async fn basic_credentials_are_sent_and_never_printed() {
    let server = fake::airflow2().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/dags"))
        .and(header("authorization", "Basic YWRtaW46YWRtaW4="))
        .respond_with(fake::problem(401, "airflow2/error_401_bad_password.json"))
        .with_priority(1)
        .mount(&server)
        .await;
    let products = [("orders", "orders_daily", Some("dbt_build"))];
    let mut engine = Engine::new(config(&config_text(&server.uri(), "v1", "basic", &products))).unwrap();
    let result = poll(&mut engine).await;
    let text = format!("{result:?}");
    assert!(text.contains("401 unauthorized"));
    assert!(!text.contains("YWRtaW46YWRtaW4=") && !text.contains("admin:admin"));
}

/// A server may echo the request, credentials included, in its error: they never reach a
/// reason, the history or a log.
#[tokio::test]
async fn secrets_echoed_by_a_server_are_blanked_out() {
    let server = fake::airflow3().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/dags"))
        .respond_with(ResponseTemplate::new(500).set_body_raw(
            r#"{"detail": "boom for {\"password\": \"admin\"} with Authorization: Bearer eyJ-ECHOED"}"#,
            "application/json",
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    let products = [("orders", "orders_daily", Some("dbt_build"))];
    let mut engine = Engine::new(config(&config_text(&server.uri(), "v2", "password", &products))).unwrap();
    let result = poll(&mut engine).await;
    let reason = &result.checked[0].evaluation.verdict(&Metric::Availability).unwrap().reason;
    assert!(reason.contains("server error 500 (boom for {\"password\": \"***\"}"), "{reason}");
    let token: serde_json::Value = serde_json::from_str(&fake::body("airflow3/auth_token_201.json")).unwrap();
    let jwt = token["access_token"].as_str().unwrap();
    assert!(!format!("{result:?}").contains(jwt) && !format!("{result:?}").contains("\"admin\""));
}
