//! Webhooks through a scripted story: a local receiver sees the right payloads in the right
//! order (incidents opened, a human update, maintenance started and ended, incidents
//! resolved); a second receiver is down, which shows as undelivered on the board's
//! snapshot, and gets everything once it is back. Time is passed in.

use std::path::Path;
use std::sync::Arc;

use crate::common::pipeline::Pipeline;
use crate::common::story::{self, chapter};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde_json::Value;
use tablestat::config::Config;
use tablestat::notify::deliver::Deliverer;
use tablestat::poller::Engine;
use tablestat::store::worker::StoreHandle;
use tablestat::store::{IncidentStatus, NotifyHealth, Store};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap()
}

/// A port nothing listens on (yet).
fn closed_port() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

async fn received(server: &MockServer) -> Vec<Value> {
    server.received_requests().await.unwrap().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

async fn health(store: &StoreHandle, now: DateTime<Utc>) -> NotifyHealth {
    let ts = now.timestamp();
    store.call(move |s| s.snapshot(ts, FixedOffset::east_opt(0).unwrap())).await.unwrap().unwrap().notify
}

#[tokio::test]
async fn webhooks_hear_the_story_in_order_and_a_receiver_that_was_down_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let ops = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)).mount(&ops).await;
    let slack_listener = closed_port();
    let slack_port = slack_listener.local_addr().unwrap().port();
    drop(slack_listener);

    let text = format!(
        r#"{}
[[notify]]
name = "ops"
url = "{}/hook"

[[notify]]
name = "staging-slack"
format = "slack"
url = "http://127.0.0.1:{slack_port}/services/T000/B000/secretpart"
groups = ["Staging"]
events = ["incident_opened", "incident_resolved"]
"#,
        story::config(&server.uri(), &db),
        ops.uri()
    );
    let config = Arc::new(Config::parse(Path::new("/tmp/notify.toml"), &text).unwrap());
    let store = StoreHandle::spawn(Store::open(&db).unwrap()).unwrap();
    let deliverer = Deliverer::new(config.notify.clone(), config.base_dir(), None);
    let mut pipeline = Pipeline::new(Engine::new(config).unwrap(), store.clone());

    // Healthy: nothing to say.
    pipeline.poll(t(2, 0)).await;
    assert!(deliverer.round(&store, t(2, 0).timestamp()).await);
    assert!(received(&ops).await.is_empty());

    // A unique test fails: two incidents open (stg_orders in Staging, fct_orders in Sales).
    story.set(chapter(2, "failed", "test_failures"));
    pipeline.poll(t(4, 4)).await;
    deliverer.round(&store, t(4, 4).timestamp()).await;
    let got = received(&ops).await;
    let summary: Vec<(String, String)> = got
        .iter()
        .map(|e| (e["event"].as_str().unwrap().into(), e["product"]["id"].as_str().unwrap().into()))
        .collect();
    // One root cause: stg_orders opens the incident, fct_orders (not rebuilt) joins it.
    assert_eq!(
        summary,
        [("incident_opened".to_string(), "stg_orders".to_string()), ("incident_updated".into(), "fct_orders".into())]
    );
    let first = &got[0];
    assert_eq!(first["state"], "down");
    assert_eq!(first["incident"]["status"], "investigating");
    // The opening says how the poll left it: both tables, not "1 table affected".
    assert_eq!(first["incident"]["title"], "`unique_stg_orders_order_id` failed: 2 tables affected");
    assert_eq!(got[1]["incident"]["title"], "`unique_stg_orders_order_id` failed: 2 tables affected");
    assert_eq!(got[1]["incident"]["id"], first["incident"]["id"]);
    for event in &got[..2] {
        let affected: Vec<&str> =
            event["affected"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(affected, ["stg_orders", "fct_orders"]);
    }
    assert!(first["message"].as_str().unwrap().contains("uniqueness down"), "{first}");
    assert_eq!(first["at"], "2026-11-21T04:04:00Z");

    // The Slack receiver is down: its one matching delivery is owed, and the board says so.
    let owed = health(&store, t(4, 4)).await;
    assert_eq!(owed.undelivered, 1, "{owed:?}");
    let (target, error) = owed.last_failure.unwrap();
    assert_eq!(target, "staging-slack");
    assert!(error.starts_with("cannot connect"), "{error}");
    assert!(!error.contains("secretpart"), "the webhook URL is a secret: {error}");

    // A human update with an ETA.
    let id = store.call(|s| s.incidents(Some("stg_orders"), 1)).await.unwrap().unwrap()[0].id;
    let eta = t(6, 0).timestamp();
    let at = t(4, 30).timestamp();
    store
        .call(move |s| {
            s.update_incident(id, IncidentStatus::Identified, "Duplicate ids from the CRM", Some(eta), Some("ana"), at)
        })
        .await
        .unwrap()
        .unwrap();
    deliverer.round(&store, at).await;

    // Maintenance for everything, 05:04-06:04.
    story::announce_maintenance(&store, t(5, 4).timestamp(), t(6, 4).timestamp()).await;
    let started = t(5, 8).timestamp();
    assert_eq!(store.call(move |s| s.maintenance_events(started)).await.unwrap().unwrap(), 1);
    assert_eq!(store.call(move |s| s.maintenance_events(started)).await.unwrap().unwrap(), 0, "once only");
    deliverer.round(&store, started).await;

    // 06:04 the window ends and the fixed run is green: both incidents resolve.
    story.set(chapter(3, "success", "all_pass"));
    pipeline.poll(t(6, 4)).await;
    let ended = t(6, 5).timestamp();
    assert_eq!(store.call(move |s| s.maintenance_events(ended)).await.unwrap().unwrap(), 1);
    deliverer.round(&store, ended).await;

    let got = received(&ops).await;
    let order: Vec<String> = got
        .iter()
        .map(|e| {
            let who = e["product"]["id"].as_str().unwrap_or("all");
            format!("{} {who}", e["event"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        order,
        [
            "incident_opened stg_orders",
            "incident_updated fct_orders",
            "incident_updated stg_orders",
            "maintenance_started all",
            "incident_updated stg_orders",
            "incident_resolved fct_orders",
            "maintenance_ended all",
        ]
    );
    let update = &got[2];
    assert_eq!(update["incident"]["status"], "identified");
    assert_eq!(update["incident"]["eta"], "2026-11-21T06:00:00Z");
    assert_eq!(update["message"], "identified (ana): Duplicate ids from the CRM");
    assert_eq!(got[3]["maintenance"]["scope"], "all products");
    assert_eq!(got[3]["message"], "Reloading orders from the CRM");
    assert_eq!(got[4]["state"], "up");
    assert!(got[4]["message"].as_str().unwrap().ends_with("1 table still affected."), "{}", got[4]);
    assert!(got[5]["message"].as_str().unwrap().ends_with("Every table is back."), "{}", got[5]);

    // The Slack receiver comes back; after its backoff it gets what it was owed, in order.
    let slack =
        MockServer::builder().listener(std::net::TcpListener::bind(("127.0.0.1", slack_port)).unwrap()).start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/secretpart"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&slack)
        .await;
    let later = t(7, 0).timestamp();
    deliverer.round(&store, later).await;
    let got = received(&slack).await;
    let texts: Vec<&str> = got.iter().map(|b| b["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        [
            ":red_circle: Incident opened: `unique_stg_orders_order_id` failed: 2 tables affected",
            ":large_green_circle: Incident resolved: `unique_stg_orders_order_id` failed: 2 tables affected",
        ],
        "only Staging (the resolution names the mart, but the incident reached stg_orders), only opened and resolved"
    );
    assert_eq!(got[0]["blocks"][0]["type"], "header");
    assert_eq!(health(&store, t(7, 0)).await, NotifyHealth::default(), "the warning clears once delivered");

    // Nothing is sent twice.
    deliverer.round(&store, t(8, 0).timestamp()).await;
    assert_eq!(received(&ops).await.len(), 7);
    assert_eq!(received(&slack).await.len(), 2);
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_backoff_and_given_up_after_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let broken = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "120").set_body_string("busy <b>now</b>"))
        .mount(&broken)
        .await;
    let text = format!(
        "{}\n[[notify]]\nname = \"flaky\"\nurl = \"{}/hook\"\nproducts = [\"fct_orders\"]\nevents = [\"incident_opened\"]\n",
        story::config(&server.uri(), &db),
        broken.uri()
    );
    let config = Arc::new(Config::parse(Path::new("/tmp/notify.toml"), &text).unwrap());
    let store = StoreHandle::spawn(Store::open(&db).unwrap()).unwrap();
    let deliverer = Deliverer::new(config.notify.clone(), config.base_dir(), None);
    let mut pipeline = Pipeline::new(Engine::new(config).unwrap(), store.clone());
    story.set(chapter(2, "failed", "test_failures"));
    pipeline.poll(t(4, 4)).await;

    // Attempt 1 at 04:04 fails; Retry-After (120 s) beats the first backoff (30 s).
    let start = t(4, 4).timestamp();
    deliverer.round(&store, start).await;
    let error = health(&store, t(4, 4)).await.last_failure.unwrap().1;
    assert_eq!(error, "HTTP 503: busy <b>now</b>");
    for (offset, attempts) in [(60, 1), (120, 2), (120 + 60, 2), (120 + 240, 3)] {
        deliverer.round(&store, start + offset).await;
        assert_eq!(broken.received_requests().await.unwrap().len(), attempts, "at +{offset} s");
    }
    // A day later it is given up: still shown for a day, never sent again.
    deliverer.round(&store, start + 86_400).await;
    let sent = broken.received_requests().await.unwrap().len();
    let owed = health(&store, t(4, 5) + chrono::Duration::days(1)).await;
    assert_eq!(owed.undelivered, 1);
    assert!(owed.last_failure.unwrap().1.ends_with("(gave up after a day of retries)"));
    deliverer.round(&store, start + 2 * 86_400).await;
    assert_eq!(broken.received_requests().await.unwrap().len(), sent);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_poller_service_delivers_webhooks_and_refreshes_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let page = dir.path().join("public");
    let (server, _story) = story::start(chapter(2, "failed", "test_failures")).await;
    let hook = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&hook).await;
    let config = dir.path().join("tablestat.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[[notify]]\nname = \"ops\"\nurl_env = \"OPS_WEBHOOK\"\n\n[export]\ndir = \"{}\"\nurl = \"https://status.acme.test/\"\n",
            story::config(&server.uri(), &db),
            page.display()
        ),
    )
    .unwrap();
    let mut poller = crate::common::Reaped(Some(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
            .arg("--config")
            .arg(&config)
            .arg("poll")
            .env("OPS_WEBHOOK", format!("{}/hook", hook.uri()))
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let mut got = Vec::new();
    for _ in 0..100 {
        got = received(&hook).await;
        if got.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut events: Vec<(&str, &str)> =
        got.iter().map(|e| (e["event"].as_str().unwrap(), e["product"]["id"].as_str().unwrap())).collect();
    events.sort();
    assert_eq!(events, [("incident_opened", "stg_orders"), ("incident_updated", "fct_orders")]);
    // With a published page, notifications link to the product's entry on it.
    let staging = got.iter().find(|e| e["product"]["id"] == "stg_orders").unwrap();
    assert_eq!(staging["link"], "https://status.acme.test/#product-stg_orders");
    let html = std::fs::read_to_string(page.join("index.html")).unwrap();
    assert!(html.contains("`unique_stg_orders_order_id` failed: 2 tables affected"), "{html}");
    assert!(page.join("status.json").exists() && page.join("feed.atom").exists());

    let poller = poller.0.take().unwrap();
    let pid = poller.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = tokio::task::spawn_blocking(move || poller.wait_with_output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&hook.uri()), "the webhook URL is a secret");
}

/// `owners` routes only the tables a team owns; `digest = "1h"` sends what happened in each
/// clock hour as one message at its end, and nothing in between.
#[tokio::test]
async fn an_owners_digest_hears_only_its_tables_once_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let products = story::config(&server.uri(), &db)
        .replace("model = \"fct_orders\"\n", "model = \"fct_orders\"\nowner = \"Finance-Data, bi\"\n");
    let text = format!(
        "{products}\n[[notify]]\nname = \"finance\"\nurl = \"{0}/finance\"\nowners = [\"finance-data\"]\ndigest = \"1h\"\n\n[[notify]]\nname = \"all\"\nurl = \"{0}/all\"\n",
        receiver.uri()
    );
    let config = Arc::new(Config::parse(Path::new("/tmp/notify.toml"), &text).unwrap());
    let store = StoreHandle::spawn(Store::open(&db).unwrap()).unwrap();
    let deliverer = Deliverer::new(config.notify.clone(), config.base_dir(), None);
    let mut pipeline = Pipeline::new(Engine::new(config).unwrap(), store.clone());
    let sent_to = |hook: &'static str| {
        let receiver = &receiver;
        async move {
            receiver
                .received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|r| r.url.path() == hook)
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .collect::<Vec<_>>()
        }
    };

    pipeline.poll(t(2, 0)).await;
    story.set(chapter(2, "failed", "test_failures"));
    pipeline.poll(t(4, 4)).await;
    deliverer.round(&store, t(4, 4).timestamp()).await;
    assert_eq!(sent_to("/all").await.len(), 2, "stg_orders and fct_orders opened");
    let id = store.call(|s| s.incidents(Some("fct_orders"), 1)).await.unwrap().unwrap()[0].id;
    let at = t(4, 30).timestamp();
    store.call(move |s| s.acknowledge_incident(id, Some("ana"), "Rerunning", at)).await.unwrap().unwrap();
    deliverer.round(&store, at).await;
    deliverer.round(&store, t(4, 59).timestamp()).await;
    assert!(sent_to("/finance").await.is_empty(), "nothing before the hour ends");

    deliverer.round(&store, t(5, 0).timestamp()).await;
    deliverer.round(&store, t(5, 1).timestamp()).await;
    let digests = sent_to("/finance").await;
    assert_eq!(digests.len(), 1, "one message for the hour: {digests:#?}");
    let digest = &digests[0];
    assert_eq!((digest["event"].as_str(), digest["count"].as_u64()), (Some("digest"), Some(3)), "{digest:#}");
    assert_eq!(digest["until"], "2026-11-21T05:00:00Z");
    let events: Vec<(&str, &str)> = digest["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["product"]["id"].as_str().unwrap()))
        .collect();
    // stg_orders' incident opened with the mart in it (one cause), fct_orders joined, ana
    // took it: all reach the mart's owner, as the incident affects the mart.
    assert_eq!(
        events,
        [("incident_opened", "stg_orders"), ("incident_updated", "fct_orders"), ("incident_updated", "stg_orders")]
    );
    assert!(digest["events"][2]["message"].as_str().unwrap().contains("acknowledged (ana): Rerunning"), "{digest}");

    story.set(chapter(3, "success", "all_pass"));
    pipeline.poll(t(6, 4)).await;
    deliverer.round(&store, t(6, 4).timestamp()).await;
    assert_eq!(sent_to("/finance").await.len(), 1);
    deliverer.round(&store, t(7, 0).timestamp()).await;
    let digests = sent_to("/finance").await;
    assert_eq!(digests.len(), 2);
    let last = digests[1]["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["event"].as_str(), last["product"]["id"].as_str()),
        (Some("incident_resolved"), Some("fct_orders"))
    );
    assert_eq!(health(&store, t(7, 0)).await.undelivered, 0);
}
