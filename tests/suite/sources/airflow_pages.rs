//! The DAG list is read page by page, the pages after the first asked for together: every
//! DAG is listed once, in order, whatever page size the server caps `limit` at, and DAGs
//! added while listing are still found.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tablestat::config::Config;
use tablestat::sources::airflow::AirflowClient;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// An Airflow 2 DAG list of `total` DAGs (or `grown` after the first page is served),
/// honouring `limit` up to `cap`.
struct DagList {
    total: usize,
    grown: usize,
    cap: usize,
    served: AtomicUsize,
}

impl Respond for DagList {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: std::collections::HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let offset: usize = query["offset"].parse().unwrap();
        let limit = query["limit"].parse::<usize>().unwrap().min(self.cap);
        let total = if self.served.fetch_add(1, Ordering::SeqCst) == 0 { self.total } else { self.grown };
        let dags: Vec<_> = (offset..(offset + limit).min(total))
            .map(|i| json!({"dag_id": format!("dag_{i:04}"), "is_paused": false, "is_active": true}))
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"dags": dags, "total_entries": total}))
    }
}

async fn listed(total: usize, grown: usize, cap: usize) -> (Vec<String>, u64) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/dags"))
        .respond_with(DagList { total, grown, cap, served: AtomicUsize::new(0) })
        .mount(&server)
        .await;
    let text = format!(
        "[airflow]\nurl = \"{}\"\napi = \"v1\"\nauth = \"none\"\n[[product]]\nid = \"p\"\ndag = \"dag_0000\"\n",
        server.uri()
    );
    let config = Config::parse(Path::new("/tmp/pages.toml"), &text).unwrap();
    let client = AirflowClient::connect(config.airflow.first().unwrap(), Path::new("/tmp")).await.unwrap();
    let dags = client.list_dags(4).await.unwrap();
    (dags.into_iter().map(|d| d.dag_id).collect(), client.requests())
}

fn expected(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("dag_{i:04}")).collect()
}

#[tokio::test]
async fn every_dag_once_in_order_at_any_page_cap() {
    for (total, cap, requests) in [(0, 100, 1), (100, 100, 1), (250, 100, 3), (250, 40, 7), (2000, 100, 20)] {
        let (dags, made) = listed(total, total, cap).await;
        assert_eq!(dags, expected(total), "{total} DAGs, pages of {cap}");
        assert_eq!(made, requests, "{total} DAGs, pages of {cap}");
    }
}

#[tokio::test]
async fn dags_added_while_listing_are_found() {
    // 250 when the first page is served, 400 afterwards: the pages planned from the first
    // answer end at 300; the last hundred are asked for after them.
    let (dags, made) = listed(250, 400, 100).await;
    assert_eq!(dags, expected(400));
    assert_eq!(made, 4);
}

/// A server that lies: `total_entries` is whatever `total` says for the page at `offset`,
/// and every page holds `size` DAGs, whatever was asked.
struct Liar {
    size: usize,
    total: fn(usize) -> u64,
}

impl Respond for Liar {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: std::collections::HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let offset: usize = query.get("offset").map_or(0, |o| o.parse().unwrap());
        let dags: Vec<_> = (offset..offset + self.size)
            .map(|i| json!({"dag_id": format!("dag_{i:07}"), "is_paused": false, "is_active": true}))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"dags": dags, "total_entries": (self.total)(offset), "import_errors": []}))
    }
}

/// A POST batch list (runs or task instances) of full pages whose total always says there
/// is one more page.
struct EndlessBatch {
    key: &'static str,
}

impl Respond for EndlessBatch {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let offset = body["page_offset"].as_u64().unwrap();
        let limit = body["page_limit"].as_u64().unwrap();
        let items: Vec<_> = (offset..offset + limit)
            .map(|i| {
                json!({"dag_id": "d", "dag_run_id": format!("r{i}"), "task_id": "t", "state": "success", "map_index": -1})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({self.key: items, "total_entries": offset + 2 * limit}))
    }
}

async fn liar_client(server: &MockServer) -> AirflowClient {
    let text = format!(
        "[airflow]\nurl = \"{}\"\napi = \"v1\"\nauth = \"none\"\n[[product]]\nid = \"p\"\ndag = \"dag_0000\"\n",
        server.uri()
    );
    let config = Config::parse(Path::new("/tmp/pages.toml"), &text).unwrap();
    AirflowClient::connect(config.airflow.first().unwrap(), Path::new("/tmp")).await.unwrap()
}

/// Every number a server sends is bounded before use: a `total_entries` of 10¹² or
/// u64::MAX fails at once naming the bound (it once planned 10¹⁰ page offsets and aborted
/// on allocation), and pages without end end at the page or item cap.
#[tokio::test]
async fn lying_totals_and_endless_pages_end_with_an_error_naming_the_bound() {
    let cases: Vec<(&str, Liar, &str, u64)> = vec![
        ("10¹² DAGs", Liar { size: 100, total: |_| 1_000_000_000_000 }, "there are 1000000000000 DAGs", 1),
        ("u64::MAX DAGs", Liar { size: 100, total: |_| u64::MAX }, "there are 18446744073709551615 DAGs", 1),
        ("one DAG a page, one more each time", Liar { size: 1, total: |o| o as u64 + 2 }, "within 500 pages", 500),
        (
            "full pages, always one page more",
            Liar { size: 100, total: |o| o as u64 + 200 },
            "there are 50100 DAGs (total_entries), more than the 50000",
            500,
        ),
    ];
    for (name, liar, text, requests) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET")).and(path("/api/v1/dags")).respond_with(liar).mount(&server).await;
        let client = liar_client(&server).await;
        let error = client.list_dags(4).await.expect_err(name);
        let said = error.to_string();
        assert!(said.contains(text) && said.contains("tablestat reads"), "{name}: {said}");
        assert!(client.requests() <= requests + 1, "{name}: {} requests", client.requests());
    }
    for (endpoint, key) in
        [("/api/v1/dags/~/dagRuns/list", "dag_runs"), ("/api/v1/dags/~/dagRuns/~/taskInstances/list", "task_instances")]
    {
        let server = MockServer::start().await;
        Mock::given(method("POST")).and(path(endpoint)).respond_with(EndlessBatch { key }).mount(&server).await;
        let client = liar_client(&server).await;
        let ids = vec!["d".to_string()];
        let error = if key == "dag_runs" {
            client.runs_started_since(&ids, chrono::Utc::now()).await.map(drop).unwrap_err()
        } else {
            client.task_instances(&ids, &ids, &ids).await.map(drop).unwrap_err()
        };
        assert!(error.to_string().contains("more than the 50000 tablestat reads in one poll"), "{endpoint}: {error}");
        assert_eq!(client.requests(), 50, "{endpoint}: stopped at the cap");
    }
}
