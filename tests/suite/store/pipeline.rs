//! The whole pipeline in one process: fake Airflow + fake dbt Cloud -> poller engine ->
//! store -> status document, through a scripted story: healthy, a test fails (an incident
//! opens), maintenance, recovery (it resolves). Time is passed in, so uptime is exact.

use std::path::Path;
use std::sync::Arc;

use crate::common::backend::Place;

use crate::common::pipeline::Pipeline;
use crate::common::story::{self, chapter};
use chrono::{DateTime, TimeZone, Utc};
use tablestat::config::Config;
use tablestat::model::State;
use tablestat::poller::Engine;
use tablestat::status_doc::StatusDocument;
use tablestat::store::worker::StoreHandle;

/// One poll that must read Airflow.
async fn poll(pipeline: &mut Pipeline, now: DateTime<Utc>) -> StatusDocument {
    let doc = pipeline.poll(now).await;
    assert_eq!(pipeline.airflow_error, None);
    doc
}

fn states(doc: &StatusDocument) -> Vec<(String, State)> {
    doc.products.iter().map(|p| (p.id.clone(), p.state)).collect()
}

/// The story's fake pipeline, a history database in a temporary folder, and the engine
/// polling one into the other (the folder and the server live as long as the tuple).
async fn story_pipeline(
    place: &Place,
) -> (tempfile::TempDir, wiremock::MockServer, story::Story, StoreHandle, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let config =
        Arc::new(Config::parse(Path::new("/tmp/story.toml"), &story::config(&server.uri(), &beside(&dir))).unwrap());
    let store = StoreHandle::spawn(place.open()).unwrap();
    let pipeline = Pipeline::new(Engine::new(config).unwrap(), store.clone());
    (dir, server, story, store, pipeline)
}

/// The config's `[store] path`, in `dir`: the pipeline is handed its store and never opens
/// this, but the dbt cache is kept beside it.
fn beside(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("history.db")
}

crate::on_both_backends!(async:
    a_day_in_the_life_of_three_tables,
    discovered_models_become_products_and_stay_put_while_the_project_is_unchanged,
    the_board_and_the_status_document_agree_on_every_scenario,
);

async fn a_day_in_the_life_of_three_tables(place: &Place) {
    let (_dir, _server, story, store, mut pipeline) = story_pipeline(place).await;
    let t = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap();

    // 02:00 healthy; polled every 4 minutes until 04:00.
    let mut now = t(2, 0);
    while now < t(4, 0) {
        let doc = poll(&mut pipeline, now).await;
        assert_eq!(doc.overall, State::Up);
        now += chrono::Duration::minutes(4);
    }
    let doc = poll(&mut pipeline, t(4, 0)).await;
    assert_eq!(doc.exit_code(), 0);
    assert_eq!(doc.products[0].uptime.as_ref().unwrap().day, Some(100.0));

    // 04:00 the next run's dbt build fails its unique test on stg_orders.
    story.set(chapter(2, "failed", "test_failures"));
    let doc = poll(&mut pipeline, t(4, 4)).await;
    assert_eq!(
        states(&doc),
        vec![
            ("fct_orders".to_string(), State::Down),
            ("stg_orders".to_string(), State::Down),
            ("stg_payments".to_string(), State::Up),
        ]
    );
    assert_eq!(doc.exit_code(), 2);
    let stg_orders = doc.products.iter().find(|p| p.id == "stg_orders").unwrap();
    let incident = stg_orders.incident.as_ref().expect("an incident opened by itself");
    assert_eq!(incident.status, "investigating");
    // One root cause, one incident: the failing unique test on stg_orders, which also kept
    // fct_orders from being rebuilt.
    assert_eq!(incident.title, "`unique_stg_orders_order_id` failed: 2 tables affected");
    let fct_orders = doc.products.iter().find(|p| p.id == "fct_orders").unwrap();
    assert_eq!(fct_orders.incident.as_ref().map(|i| i.id), Some(incident.id), "the mart is in the same incident");
    assert_eq!(stg_orders.evidence.failing_tests.len(), 3);
    assert_eq!(serde_json::to_value(&stg_orders.evidence.dbt_run_id).unwrap(), serde_json::json!(70002));
    let uniqueness = &stg_orders.metrics.0.iter().find(|(m, _)| m.as_str() == "uniqueness").unwrap().1;
    assert_eq!(uniqueness.since.as_deref(), Some("2026-11-21T04:04:00Z"));

    // Down for 1 h: polled every 4 min until 05:04.
    let mut now = t(4, 8);
    while now <= t(5, 4) {
        poll(&mut pipeline, now).await;
        now += chrono::Duration::minutes(4);
    }

    // 05:04 a maintenance window for everything, 1 h.
    story::announce_maintenance(&store, t(5, 4).timestamp(), t(6, 4).timestamp()).await;
    let doc = poll(&mut pipeline, t(5, 8)).await;
    assert!(doc.products.iter().all(|p| p.state == State::Maintenance), "{:?}", states(&doc));
    assert_eq!(doc.exit_code(), 0);
    assert_eq!(doc.products[0].maintenance.as_ref().unwrap().message, "Reloading orders from the CRM");
    let mut now = t(5, 12);
    while now < t(6, 4) {
        poll(&mut pipeline, now).await;
        now += chrono::Duration::minutes(4);
    }

    // 06:04 the window ends and a fixed run is green again: recovery, the incident resolves.
    story.set(chapter(3, "success", "all_pass"));
    let doc = poll(&mut pipeline, t(6, 4)).await;
    assert_eq!(doc.overall, State::Up, "{:?}", states(&doc));
    assert!(doc.products.iter().all(|p| p.incident.is_none()));
    let incidents = store.call(|s| s.incidents(None, 10)).await.unwrap().unwrap();
    assert_eq!(incidents.len(), 1, "one for stg_orders and fct_orders");
    let incident = &incidents[0];
    assert_eq!(incident.resolved_at, Some(t(6, 4).timestamp()));
    assert_eq!(incident.cause.as_deref(), Some("test:test.shop.unique_stg_orders_order_id.e3b841c71a"));
    let members: Vec<(&str, i64, Option<i64>)> =
        incident.members.iter().map(|m| (m.product.as_str(), m.joined_at, m.left_at)).collect();
    let (down, back) = (t(4, 4).timestamp(), Some(t(6, 4).timestamp()));
    assert_eq!(members, [("stg_orders", down, back), ("fct_orders", down, back)]);
    let incident = store.call(move |s| s.incident(1)).await.unwrap().unwrap();
    let said: Vec<&str> = incident.updates.iter().map(|u| u.message.as_str()).collect();
    assert!(said[1].starts_with("Orders joined. Detected. freshness down: not rebuilt: upstream test"), "{said:#?}");
    assert!(said.iter().any(|m| m.contains("still affected")), "{said:#?}");
    assert!(said.last().unwrap().ends_with("Every table is back."), "{said:#?}");

    // Uptime over the last 24 h of stg_orders: up 02:00-04:04 (2 h 4 min), down 04:04-05:08
    // (64 min; maintenance from 05:08 is left out), up again from 06:04 (0 s yet).
    let doc = pipeline.status(t(6, 4)).await;
    let uptime = doc.products.iter().find(|p| p.id == "stg_orders").unwrap().uptime.clone().unwrap();
    let expected: f64 = 124.0 / (124.0 + 64.0) * 100.0;
    assert_eq!(uptime.day, Some((expected * 100.0).floor() / 100.0), "rounded down");
    // stg_payments was never down: 100 %.
    assert_eq!(doc.products.iter().find(|p| p.id == "stg_payments").unwrap().uptime.as_ref().unwrap().day, Some(100.0));
}

/// Discovery through the engine: the project's models with a `meta.tablestat` block become
/// products at the first poll (the listed ones keep their config), are checked and stored
/// like the listed ones, and an unchanged project leaves the product list as it was (the
/// same shared list, not merged again).
async fn discovered_models_become_products_and_stay_put_while_the_project_is_unchanged(place: &Place) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _story) = story::start(chapter(1, "success", "all_pass")).await;
    let text =
        story::config(&server.uri(), &beside(&dir)) + "\n[discover]\ndag = \"shop_daily\"\ntask = \"dbt_build\"\n";
    let config = Arc::new(Config::parse(Path::new("/tmp/story.toml"), &text).unwrap());
    let store = StoreHandle::spawn(place.open()).unwrap();
    let mut pipeline = Pipeline::new(Engine::new(config).unwrap(), store);
    assert_eq!(pipeline.engine.products().len(), 3, "only the listed products before the first poll");
    let t = Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap();

    let doc = poll(&mut pipeline, t).await;
    let mut ids: Vec<&str> = doc.products.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["dim_customers", "fct_daily_revenue", "fct_orders", "stg_customers", "stg_orders", "stg_payments"]
    );
    assert!(doc.products.iter().all(|p| p.state == State::Up), "{:?}", states(&doc));
    let listed = doc.products.iter().find(|p| p.id == "stg_orders").unwrap();
    assert_eq!(listed.name, "Orders (staging)");

    let before = pipeline.engine.products();
    poll(&mut pipeline, t + chrono::Duration::minutes(5)).await;
    assert!(Arc::ptr_eq(&before, &pipeline.engine.products()), "an unchanged project is not merged again");
}

/// The board and the status document are made from one snapshot and show the same states:
/// for every dbt scenario of the fixtures, then with nobody polling for a day, and with a
/// maintenance window begun since the last poll. The board is drawn on a `TestBackend` and
/// read back: its verdict line and each product's symbol match the document.
async fn the_board_and_the_status_document_agree_on_every_scenario(place: &Place) {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use tablestat::tui::app::App;
    use tablestat::tui::theme::Theme;
    use tablestat::tui::views::{self, Board};

    let (_dir, _server, story, store, mut pipeline) = story_pipeline(place).await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap();
    let theme = Theme::new(false, true, false);

    let compare = |moment: &str, now: DateTime<Utc>| {
        let store = store.clone();
        let moment = moment.to_string();
        async move {
            let ts = now.timestamp();
            let zone = chrono::FixedOffset::east_opt(0).unwrap();
            let snapshot = Arc::new(store.call(move |s| s.snapshot(ts, zone)).await.unwrap().unwrap());
            let doc = tablestat::status_doc::from_snapshot(&snapshot, &[]);
            let mut app = App::new(snapshot, ts);
            assert_eq!((app.overall, &app.summary), (doc.overall, &doc.summary), "{moment}");
            let area = ratatui::layout::Rect::new(0, 0, 120, 30);
            app.set_page(views::list_page(area, &app));
            let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
            terminal.draw(|f| f.render_widget(&Board { app: &app, theme: &theme }, f.area())).unwrap();
            let buffer = terminal.backend().buffer().clone();
            let lines: Vec<String> =
                (0..30).map(|y| (0..120).map(|x| buffer[(x, y)].symbol()).collect::<String>()).collect();
            // The header counts what the document counts, state by state.
            if doc.summary.nonzero().len() == 1 && doc.summary.up > 0 {
                assert!(lines[0].contains(&doc.verdict()), "{moment}: {}", lines[0]);
            }
            for (state, n) in doc.summary.nonzero() {
                let count = format!("{} {n} {state}", tablestat::theme::symbol(state, true));
                assert!(lines[0].contains(&count), "{moment}: {count} not in {}", lines[0]);
            }
            for product in &doc.products {
                let row = lines
                    .iter()
                    .find(|l| l.contains(&format!(" {} ", product.name)))
                    .unwrap_or_else(|| panic!("{moment}: {} not on the board:\n{}", product.name, lines.join("\n")));
                let symbol = tablestat::theme::symbol(product.state, true);
                assert!(
                    row.trim_start().starts_with(symbol),
                    "{moment}: {} is {} on the page: {row}",
                    product.name,
                    product.state
                );
            }
            doc
        }
    };

    let scenarios = [
        ("all_pass", "success"),
        ("test_failures", "failed"),
        ("mart_test_failures", "failed"),
        ("model_error", "failed"),
        ("test_error", "failed"),
        ("source_stale", "success"),
        ("source_runtime_error", "success"),
        ("partial_selection", "success"),
        ("run_then_test", "failed"),
        ("parse_error", "failed"),
    ];
    let mut now = t0;
    let mut seen = std::collections::BTreeSet::new();
    for (n, (scenario, task)) in scenarios.into_iter().enumerate() {
        story.set(chapter(1 + (n as u32 % 9), task, scenario));
        pipeline.poll(now).await;
        let doc = compare(scenario, now + chrono::Duration::minutes(1)).await;
        seen.extend(doc.products.iter().map(|p| p.state));
        now += chrono::Duration::minutes(5);
    }
    assert!(seen.len() >= 3, "the scenarios reach several states: {seen:?}");

    // Nobody polls for a day: every product unknown, on the board as in the document.
    let doc = compare("a day without a poll", now + chrono::Duration::days(1)).await;
    assert!(doc.products.iter().all(|p| p.state == State::Unknown), "{:?}", states(&doc));

    // A maintenance window begun since the last poll.
    pipeline.poll(now).await;
    let ts = now.timestamp();
    store
        .call(move |s| s.add_maintenance(&tablestat::store::Scope::All, ts + 60, ts + 3600, "Reload", None, ts))
        .await
        .unwrap()
        .unwrap();
    let doc = compare("maintenance begun between polls", now + chrono::Duration::minutes(2)).await;
    assert!(doc.products.iter().all(|p| p.state == State::Maintenance), "{:?}", states(&doc));
}
