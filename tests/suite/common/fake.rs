//! Local fake Airflow servers (wiremock) that serve captured real responses.

use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::fixture;

pub fn body(file: &str) -> String {
    std::fs::read_to_string(fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

pub fn json(file: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body(file), "application/json")
}

pub fn problem(status: u16, file: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body(file), "application/problem+json")
}

/// Airflow 2.10.5 as captured: 9 DAGs (paused, inactive, import error, running...).
pub async fn airflow2() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/version"))
        .respond_with(json("airflow2/version.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/version"))
        .respond_with(
            ResponseTemplate::new(404).set_body_raw("<!doctype html><title>404 Not Found</title>", "text/html"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/dags"))
        .respond_with(json("airflow2/dags_list_only_active_false.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/dags/~/dagRuns/list"))
        .respond_with(json("airflow2/dagruns_batch_list.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/dags/~/dagRuns/~/taskInstances/list"))
        .respond_with(json("airflow2/taskinstances_batch_list.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/importErrors"))
        .respond_with(json("airflow2/import_errors.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/health"))
        .respond_with(json("airflow2/health.json"))
        .mount(&server)
        .await;
    // A DAG with no run in the batch window: its newest runs, none finished.
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/dags/[^/]+/dagRuns$"))
        .respond_with(json("airflow2/dagruns_unknown_dag_200_empty.json"))
        .mount(&server)
        .await;
    server
}

/// Airflow 3.3.2 as captured: 5 DAGs, JWT auth.
pub async fn airflow3() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/version"))
        .respond_with(json("airflow3/version.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v1/.*"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_raw(body("airflow3/error_404_v1_path_on_airflow3.json"), "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/token"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(body("airflow3/auth_token_201.json"), "application/json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/dags"))
        .respond_with(json("airflow3/dags_list_exclude_stale_false.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/dags/~/dagRuns/list"))
        .respond_with(json("airflow3/dagruns_batch_list.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/dags/~/dagRuns/~/taskInstances/list"))
        .respond_with(json("airflow3/taskinstances_batch_list.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/importErrors"))
        .respond_with(json("airflow3/import_errors.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/monitor/health"))
        .respond_with(json("airflow3/health.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v2/dags/[^/]+/dagRuns$"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(r#"{"dag_runs": [], "total_entries": 0}"#, "application/json"),
        )
        .mount(&server)
        .await;
    server
}

/// A config for a fake server, with products `(id, dag, task)`.
pub fn config_text(url: &str, api: &str, auth: &str, products: &[(&str, &str, Option<&str>)]) -> String {
    let auth_lines = match auth {
        "basic" => "auth = \"basic\"\nusername = \"admin\"\npassword = \"admin\"\n",
        "password" => "auth = \"password\"\nusername = \"admin\"\npassword = \"admin\"\n",
        _ => "auth = \"none\"\n",
    };
    let mut text = format!("[airflow]\nurl = \"{url}\"\napi = \"{api}\"\n{auth_lines}timeout = \"2s\"\n");
    for (id, dag, task) in products {
        text.push_str(&format!("\n[[product]]\nid = \"{id}\"\ndag = \"{dag}\"\n"));
        if let Some(task) = task {
            text.push_str(&format!("task = \"{task}\"\n"));
        }
    }
    text
}
