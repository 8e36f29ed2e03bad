//! Requests per poll grow with pages, not with products: a generated Airflow 2 fleet of
//! N DAGs (shaped like the captured responses) polled for N products.

use std::path::Path;
use std::sync::Arc;

use crate::common::fleet::{self, dag_id};
use chrono::{TimeZone, Utc};
use serde_json::Value;
use tablestat::config::Config;
use tablestat::model::State;
use tablestat::poller::{Engine, Prior};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

struct Fleet {
    dags: usize,
}

impl Respond for Fleet {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query: std::collections::HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let answer = match request.url.path() {
            "/api/v1/dags" => {
                fleet::dag_page(self.dags, query["offset"].parse().unwrap(), query["limit"].parse().unwrap())
            }
            "/api/v1/dags/~/dagRuns/list" => fleet::runs(&body),
            "/api/v1/dags/~/dagRuns/~/taskInstances/list" => fleet::task_instances(&body),
            other => return ResponseTemplate::new(404).set_body_string(format!("unexpected {other}")),
        };
        ResponseTemplate::new(200).set_body_json(answer)
    }
}

async fn requests_per_poll(dags: usize) -> (u64, u64) {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(Fleet { dags }).mount(&server).await;
    let mut text =
        format!("[airflow]\nurl = \"{}\"\napi = \"v1\"\nauth = \"none\"\n[poll]\nconcurrency = 4\n", server.uri());
    for i in 0..dags {
        text.push_str(&format!("[[product]]\nid = \"p{i}\"\ndag = \"{}\"\ntask = \"dbt_build\"\n", dag_id(i)));
    }
    let config = Arc::new(Config::parse(Path::new("/tmp/fleet.toml"), &text).unwrap());
    let mut engine = Engine::new(config).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 1, 20, 0).unwrap();
    let first = engine.poll(&Prior::default(), now).await;
    assert_eq!(first.airflow_error, None);
    assert_eq!(first.checked.len(), dags);
    assert!(first.checked.iter().all(|c| c.evaluation.state == State::Up));
    let second = engine.poll(&Prior::default(), now + chrono::Duration::minutes(5)).await;
    (first.airflow_requests, second.airflow_requests)
}

#[tokio::test]
async fn requests_grow_with_pages_not_products() {
    // Each poll also asks for the scheduler's health: one request.
    for (dags, first, then) in [(10, 4, 3), (1000, 31, 21)] {
        let (got_first, got_then) = requests_per_poll(dags).await;
        println!("{dags} DAGs: {got_first} requests on the first poll, {got_then} on the next");
        let pages = dags.div_ceil(100) as u64;
        // Target: <= 3 * ceil(DAGs / 100) + 5.
        assert!(got_first <= 3 * pages + 5);
        assert_eq!((got_first, got_then), (first, then), "{dags} DAGs");
    }
}

/// A product with no owner of its own is owned by its DAG's owner (`owners` in Airflow's
/// answer), for owner routing and the board's `owner:` filter; one with its own keeps it; a
/// fresh list is made only when an owner changes.
#[tokio::test]
async fn a_product_without_an_owner_is_owned_by_its_dag() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(Fleet { dags: 2 }).mount(&server).await;
    let text = format!(
        "[airflow]\nurl = \"{}\"\napi = \"v1\"\nauth = \"none\"\n\n[[product]]\nid = \"mine\"\ndag = \"{}\"\ntask = \"dbt_build\"\nowner = \"finance-data\"\n\n[[product]]\nid = \"theirs\"\ndag = \"{}\"\ntask = \"dbt_build\"\n",
        server.uri(),
        dag_id(0),
        dag_id(1)
    );
    let config = Arc::new(Config::parse(Path::new("/tmp/fleet.toml"), &text).unwrap());
    let mut engine = Engine::new(config).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 1, 20, 0).unwrap();
    let polled = engine.poll(&Prior::default(), now).await;
    let owner = |id: &str| polled.checked.iter().find(|c| c.product.id == id).unwrap().product.owner.clone();
    assert_eq!(owner("mine").as_deref(), Some("finance-data"), "its own first");
    assert_eq!(owner("theirs").as_deref(), Some("data-eng"), "its DAG's");
    let before = engine.products();
    engine.poll(&Prior::default(), now + chrono::Duration::minutes(5)).await;
    assert!(Arc::ptr_eq(&before, &engine.products()), "unchanged owners: the same list");
}
