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
    let client = AirflowClient::connect(config.airflow.as_ref().unwrap(), Path::new("/tmp")).await.unwrap();
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
