//! Several pipelines on one page: two Airflows and two dbt Cloud accounts in one config,
//! each its own failure domain. One going away makes only its own products `unknown`.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use tablestat::config::Config;
use tablestat::model::State;
use tablestat::poller::Engine;
use tablestat::store::Store;
use tablestat::store::worker::StoreHandle;

use crate::common::pipeline::Pipeline;
use crate::common::proxy::FaultProxy;
use crate::common::story::{self, chapter};

/// Two Airflows (`core` and `marketing`) and a dbt Cloud account behind each, both serving
/// the reference project: `stg_orders` read from core, `fct_orders` from marketing.
fn config(dir: &std::path::Path, core: &str, marketing: &str) -> Config {
    Config::load(&write_config(dir, core, marketing)).unwrap()
}

/// The text of [`config`], written to `dir/tablestat.toml`.
fn write_config(dir: &std::path::Path, core: &str, marketing: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[[airflow]]
name = "core"
url = "{core}"
api = "v2"
auth = "password"
username = "admin"
password = "admin"
timeout = "2s"

[[airflow]]
name = "marketing"
url = "{marketing}"
api = "v2"
auth = "password"
username = "admin"
password = "admin"
timeout = "2s"

[[dbt]]
name = "core-cloud"
source = "cloud"
url = "{core}"
account_id = 1
token = "dbt-token"
cache_dir = "core-cache"

[[dbt]]
name = "marketing-cloud"
source = "cloud"
url = "{marketing}"
account_id = 1
token = "dbt-token"
cache_dir = "marketing-cache"

[[product]]
id = "stg_orders"
name = "Orders (staging)"
dag = "shop_daily"
task = "dbt_build"
model = "stg_orders"
airflow = "core"
dbt = "core-cloud"

[[product]]
id = "fct_orders"
name = "Orders"
dag = "shop_daily"
task = "dbt_build"
model = "fct_orders"
airflow = "marketing"
dbt = "marketing-cloud"
"#
    );
    let path = dir.join("tablestat.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn each_pipeline_is_its_own_failure_domain() {
    let dir = tempfile::tempdir().unwrap();
    // Core's unique test fails; marketing's run is all green.
    let (core, _core_story) = story::start(chapter(2, "failed", "test_failures")).await;
    let (marketing_server, _marketing_story) = story::start(chapter(2, "success", "all_pass")).await;
    // Marketing behind a proxy that can stop listening: a deployment that goes away.
    let mut marketing = FaultProxy::start(&marketing_server.uri()).await;
    let config = Arc::new(config(dir.path(), &core.uri(), &marketing.uri()));
    let engine = Engine::new(config).unwrap();
    let store = StoreHandle::spawn(Store::open(&dir.path().join("history.db")).unwrap()).unwrap();
    let mut pipeline = Pipeline::new(engine, store);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0).unwrap();
    let state = |doc: &tablestat::status_doc::StatusDocument, id: &str| {
        doc.products.iter().find(|p| p.id == id).map(|p| (p.state, p.metrics.clone())).unwrap()
    };

    let doc = pipeline.poll(t0).await;
    assert_eq!(state(&doc, "stg_orders").0, State::Down, "core's failure is core's");
    assert_eq!(state(&doc, "fct_orders").0, State::Up, "marketing reads its own green run");
    let names: Vec<(&str, &str, bool)> =
        doc.sources.iter().map(|s| (s.name.as_str(), s.kind.as_str(), s.reachable)).collect();
    assert_eq!(
        names,
        [
            ("core", "airflow", true),
            ("core-cloud", "dbt_cloud", true),
            ("marketing", "airflow", true),
            ("marketing-cloud", "dbt_cloud", true)
        ]
    );

    // Marketing's Airflow and dbt Cloud go away: only its product turns unknown, saying why;
    // core's keeps its judgment.
    marketing.stop().await;
    let doc = pipeline.poll(t0 + chrono::Duration::minutes(5)).await;
    let (fct, metrics) = state(&doc, "fct_orders");
    assert_eq!(fct, State::Unknown);
    let reason = &metrics.0.iter().find(|(m, _)| *m == tablestat::model::Metric::Availability).unwrap().1.reason;
    assert!(reason.starts_with("Airflow could not be read since ") && reason.contains(": marketing: "), "{reason}");
    assert_eq!(state(&doc, "stg_orders").0, State::Down);
    let marketing_health = doc.sources.iter().find(|s| s.name == "marketing").unwrap();
    assert!(!marketing_health.reachable && marketing_health.error.is_some());
    let failing_since = marketing_health.failing_since.clone().expect("since when it fails");
    assert!(doc.sources.iter().find(|s| s.name == "core").unwrap().reachable);
    assert!(pipeline.airflow_error.as_deref().unwrap().starts_with("marketing: "), "{:?}", pipeline.airflow_error);

    // Still down a poll later: since when is kept, not moved.
    let doc = pipeline.poll(t0 + chrono::Duration::minutes(10)).await;
    let marketing_health = doc.sources.iter().find(|s| s.name == "marketing").unwrap();
    assert_eq!(marketing_health.failing_since.as_ref(), Some(&failing_since));
}

/// `[[discover]]` per dbt source: each rule reads its own source's manifest through its own
/// Airflow; a model both find keeps one product (the first rule's), so ids stay unique.
#[tokio::test]
async fn discovery_runs_per_source_and_ids_stay_unique() {
    let dir = tempfile::tempdir().unwrap();
    let (core, _core_story) = story::start(chapter(1, "success", "all_pass")).await;
    let (marketing, _marketing_story) = story::start(chapter(1, "success", "all_pass")).await;
    let mut text = std::fs::read_to_string(write_config(dir.path(), &core.uri(), &marketing.uri())).unwrap();
    text.push_str(
        "\n[[discover]]\ndbt = \"core-cloud\"\nairflow = \"core\"\ndag = \"shop_daily\"\ntask = \"dbt_build\"\n\
         \n[[discover]]\ndbt = \"marketing-cloud\"\nairflow = \"marketing\"\ndag = \"shop_daily\"\ntask = \"dbt_build\"\n",
    );
    let path = dir.path().join("discover.toml");
    std::fs::write(&path, text).unwrap();
    let config = Arc::new(Config::load(&path).unwrap());
    assert_eq!(config.discover.len(), 2);
    let store = StoreHandle::spawn(Store::open(&dir.path().join("history.db")).unwrap()).unwrap();
    let mut pipeline = Pipeline::new(Engine::new(config).unwrap(), store);
    let doc = pipeline.poll(Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap()).await;
    let mut ids: Vec<&str> = doc.products.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "one product per id: {ids:?}");
    assert!(ids.contains(&"dim_customers") && ids.contains(&"stg_payments"), "{ids:?}");
    // Found first through core: read from core.
    let products = pipeline.engine.products();
    let dim = products.iter().find(|p| p.id == "dim_customers").unwrap();
    assert_eq!((dim.airflow.as_deref(), dim.dbt.as_deref()), (Some("core"), Some("core-cloud")));
}
