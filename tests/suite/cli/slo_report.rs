//! `tablestat report` on a prepared store, cross-checked against numbers computed by hand.
//! The history ends an hour before the command runs (no poll since), so the judged time is
//! exact whenever the test runs.

use assert_cmd::Command;
use tablestat::model::{Metric, Product, State};
use tablestat::store::{History, ImportedIncident, SpanRow, Store};

const H: i64 = 3600;
const D: i64 = 86_400;

fn product(id: &str, name: &str, metrics: Vec<Metric>, slo: Option<f64>) -> Product {
    Product { name: name.into(), group: "Sales".into(), metrics, slo, ..Product::new(id, "shop_daily") }
}

fn span(product: &str, metric: Option<Metric>, state: State, start: i64) -> SpanRow {
    SpanRow { product: product.into(), metric, state, reason: format!("{state}"), start }
}

/// Orders (SLO 99.5): down 2 h on day 5, with an incident (detected 10 min late, resolved
/// when it came back). Customers (no SLO: 99 %): 1 h of maintenance, then degraded.
/// Watched from 10 days ago to 1 h ago, except 6 h on day 8.
fn prepare(dir: &std::path::Path) -> std::path::PathBuf {
    let now = chrono::Utc::now().timestamp();
    let base = now - 10 * D;
    let end = now - H;
    let orders = product("fct_orders", "Orders", vec![Metric::Freshness, Metric::Uniqueness], Some(99.5));
    let customers = product("dim_customers", "Customers", vec![Metric::Freshness], None);
    let mut spans = Vec::new();
    for metric in [None, Some(Metric::Freshness)] {
        spans.push(span("fct_orders", metric.clone(), State::Up, base));
        spans.push(span("fct_orders", metric.clone(), State::Down, base + 5 * D));
        spans.push(span("fct_orders", metric, State::Up, base + 5 * D + 2 * H));
    }
    spans.push(span("fct_orders", Some(Metric::Uniqueness), State::Up, base));
    for metric in [None, Some(Metric::Freshness)] {
        spans.push(span("dim_customers", metric.clone(), State::Up, base));
        spans.push(span("dim_customers", metric.clone(), State::Maintenance, base + 9 * D));
        spans.push(span("dim_customers", metric, State::Degraded, base + 9 * D + H));
    }
    let history = History {
        spans,
        coverage: vec![(base, base + 8 * D), (base + 8 * D + 6 * H, end)],
        refreshes: Vec::new(),
        incidents: vec![ImportedIncident {
            product: "fct_orders".into(),
            title: "Orders is down: freshness".into(),
            severity: tablestat::model::Severity::Minor,
            metrics: vec!["freshness".into()],
            began_at: base + 5 * D - 600,
            opened_at: base + 5 * D,
            resolved_at: base + 5 * D + 2 * H,
            updates: Vec::new(),
        }],
    };
    let db = dir.join("history.db");
    Store::open(&db).unwrap().import(&[orders, customers], &history).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[airflow]\nurl = \"http://127.0.0.1:9\"\nauth = \"none\"\n[store]\npath = \"{}\"\n[[product]]\nid = \"fct_orders\"\ndag = \"shop_daily\"\n",
            db.display()
        ),
    )
    .unwrap();
    config
}

fn report(config: &std::path::Path, args: &[&str]) -> String {
    let out = Command::cargo_bin("tablestat").unwrap().arg("-c").arg(config).arg("report").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn report_numbers_match_the_hand_computed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = prepare(dir.path());
    let doc: serde_json::Value =
        serde_json::from_str(&report(&config, &["--since", "30d", "--format", "json"])).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    let row = |product: &str, metric: &str| {
        rows.iter()
            .find(|r| r["product"] == product && r["metric"] == metric)
            .unwrap_or_else(|| panic!("{product} {metric}"))
    };
    // Customers sorts before Orders (by group, then name); overall row first.
    let order: Vec<String> =
        rows.iter().map(|r| format!("{} {}", r["product"].as_str().unwrap(), r["metric"].as_str().unwrap())).collect();
    assert_eq!(
        order,
        [
            "dim_customers overall",
            "dim_customers freshness",
            "fct_orders overall",
            "fct_orders freshness",
            "fct_orders uniqueness"
        ]
    );

    // Watched: 10 days - 1 h (not yet) - 6 h (gap) = 233 h = 838,800 s.
    let watched = 10 * D - H - 6 * H;
    let orders = row("fct_orders", "freshness");
    assert_eq!(orders["judged_seconds"], watched);
    assert_eq!(orders["down_seconds"], 2 * H);
    // uptime = (838800 - 7200) / 838800 = 99.1416…% -> 99.14 (rounded down)
    assert_eq!(orders["uptime"], 99.14);
    // budget = 0.5 % of 838,800 s = 4,194 s; spent 7,200: left (4194 - 7200) / 4194 = -71.67 %
    assert_eq!(orders["budget_seconds"], 4194);
    assert_eq!(orders["budget_left"], -71.67);
    assert_eq!(orders["met"], false);
    assert_eq!((orders["incidents"].as_i64(), orders["mean_time_to_detect"].as_i64()), (Some(1), Some(600)));
    assert_eq!(orders["mean_time_to_resolve"], 2 * H);
    assert_eq!(row("fct_orders", "overall")["incidents"], 1);
    let unique = row("fct_orders", "uniqueness");
    assert_eq!((unique["uptime"].as_f64(), unique["budget_left"].as_f64()), (Some(100.0), Some(100.0)));
    assert_eq!((unique["incidents"].as_i64(), unique["mean_time_to_detect"].is_null()), (Some(0), true));

    // Customers: maintenance (1 h) is not judged; degraded counts as available.
    let customers = row("dim_customers", "freshness");
    assert_eq!(customers["judged_seconds"], watched - H);
    assert_eq!((customers["slo"].as_f64(), customers["slo_is_default"].as_bool()), (Some(99.0), Some(true)));
    assert_eq!(customers["budget_seconds"], (watched - H) / 100);
    assert_eq!((customers["uptime"].as_f64(), customers["met"].as_bool()), (Some(100.0), Some(true)));

    // The last day only: Orders was up all of it.
    let day: serde_json::Value =
        serde_json::from_str(&report(&config, &["--since", "1d", "--format", "json"])).unwrap();
    let orders_day = day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["product"] == "fct_orders" && r["metric"] == "overall")
        .unwrap();
    // The window starts a day before the command runs, a few seconds after `prepare`.
    let judged = orders_day["judged_seconds"].as_i64().unwrap();
    assert!((D - H - 30..=D - H).contains(&judged), "{judged}");
    assert_eq!((orders_day["uptime"].as_f64(), orders_day["incidents"].as_i64()), (Some(100.0), Some(0)));
}

#[test]
fn csv_and_table_carry_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    let config = prepare(dir.path());
    let csv = report(&config, &["--format", "csv", "fct_orders"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "header and three rows for one product: {csv}");
    assert!(lines[0].starts_with("product,name,group,metric,slo,"));
    assert_eq!(
        lines[2],
        "fct_orders,Orders,Sales,freshness,99.5,false,99.14,838800,7200,4194,-71.67,false,1,600,7200,"
    );
    let table = report(&config, &["fct_orders"]);
    assert!(table.contains("✖ 99.14"), "{table}");
    assert!(table.contains("-71.7%"), "{table}");
    assert!(table.contains("10 min"), "MTTD in words: {table}");

    let out =
        Command::cargo_bin("tablestat").unwrap().arg("-c").arg(&config).args(["report", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no product `nope`"));
    // By the name people see, in any case.
    let by_name = report(&config, &["orders"]);
    assert!(by_name.contains("✖ 99.14"), "{by_name}");
}

/// Alice closes Orders' incident as a false positive: from its break to its resolution
/// (2 h 10 min) leaves the figures, the incident leaves the counts, and the report says who
/// and why, in JSON and in the table.
#[test]
fn a_false_positive_leaves_the_report_with_an_audit_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = prepare(dir.path());
    let tablestat = |args: &[&str]| {
        let out = Command::cargo_bin("tablestat").unwrap().arg("-c").arg(&config).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = tablestat(&["incident", "ack", "1", "--author", "bob"]);
    assert_eq!(code, Some(64), "a resolved incident cannot be taken: {err}");
    assert!(err.contains("was resolved at"), "{err}");
    let (code, out, err) = tablestat(&["incident", "resolve", "1", "--reason", "nonsense"]);
    assert_eq!(code, Some(64), "{out}");
    assert!(err.contains("use fixed, expected, false-positive, upstream"), "{err}");
    let (code, out, err) = tablestat(&[
        "incident",
        "resolve",
        "1",
        "--reason",
        "false-positive",
        "-m",
        "the test read yesterday's partition",
        "--author",
        "alice",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("Incident #1: closed as a false positive. Its time is left out"), "{out}");

    let doc: serde_json::Value =
        serde_json::from_str(&report(&config, &["--since", "30d", "--format", "json"])).unwrap();
    let orders = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["product"] == "fct_orders" && r["metric"] == "freshness")
        .unwrap();
    let watched = 10 * D - H - 6 * H;
    assert_eq!(orders["judged_seconds"], watched - (2 * H + 600));
    assert_eq!((orders["down_seconds"].as_i64(), orders["uptime"].as_f64()), (Some(0), Some(100.0)));
    assert_eq!(orders["incidents"], 0);
    let excluded = doc["excluded"].as_array().unwrap();
    assert_eq!(excluded.len(), 1);
    assert_eq!(
        (
            excluded[0]["incident"].as_i64(),
            excluded[0]["resolution"].as_str(),
            excluded[0]["by"].as_str(),
            excluded[0]["seconds"].as_i64()
        ),
        (Some(1), Some("false-positive"), Some("alice"), Some(2 * H + 600))
    );
    assert_eq!(excluded[0]["note"], "the test read yesterday's partition");
    let table = report(&config, &["fct_orders"]);
    assert!(table.contains("Left out of the figures"), "{table}");
    assert!(
        table.contains("#1 Orders")
            && table.contains("(2 h 10 min)  a false positive by alice: \"the test read yesterday's partition\""),
        "{table}"
    );
    let (_, shown, _) = tablestat(&["incident", "show", "1"]);
    assert!(shown.contains("closed as a false positive (alice)"), "{shown}");
}
