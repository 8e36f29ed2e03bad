//! The binary end to end on a fake pipeline: `poll --once --json`, `status`, `incident`,
//! `maintenance`, with the documented JSON shape and exit codes.

use crate::common::story::{self, chapter};
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn tablestat(config: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("tablestat").unwrap();
    cmd.env("NO_COLOR", "1").env("TZ", "UTC").arg("--config").arg(config);
    cmd
}

fn json_of(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The story's fake pipeline and a config for it (`tablestat.toml`, `history.db`) in a
/// temporary folder.
async fn story_config() -> (tempfile::TempDir, wiremock::MockServer, story::Story) {
    let dir = tempfile::tempdir().unwrap();
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let db = dir.path().join("history.db");
    std::fs::write(dir.path().join("tablestat.toml"), story::config(&server.uri(), &db)).unwrap();
    (dir, server, story)
}

/// Runs the binary off the runtime, on which the fake server lives.
fn run_off_runtime(mut cmd: Command, args: &[&str]) -> impl std::future::Future<Output = std::process::Output> + use<> {
    cmd.args(args);
    async move { tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap() }
}

#[tokio::test(flavor = "multi_thread")]
async fn poll_status_incident_and_maintenance_from_the_command_line() {
    let (dir, _server, story) = story_config().await;
    let config = dir.path().join("tablestat.toml");
    let run = |args: &[&str]| run_off_runtime(tablestat(&config), args);

    // No history yet: status says what to do.
    let out = run(&["status"]).await;
    assert_eq!(out.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `tablestat poll`"));

    // Healthy.
    let out = run(&["poll", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["overall"], "up");
    assert_eq!(doc["summary"], serde_json::json!({"up": 3, "degraded": 0, "down": 0, "maintenance": 0, "unknown": 0}));
    let product = &doc["products"][0];
    for key in
        ["id", "name", "group", "state", "metrics", "uptime", "incident", "maintenance", "checked_at", "evidence"]
    {
        assert!(product.get(key).is_some(), "the contract's `{key}` is missing");
    }
    assert_eq!(product["metrics"]["availability"]["state"], "up");
    assert!(product["metrics"]["availability"]["since"].is_string());
    assert_eq!(product["evidence"]["dag_id"], "shop_daily");

    // A test fails: exit 2, an incident.
    story.set(chapter(2, "failed", "test_failures"));
    let out = run(&["poll", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(2));
    let doc = json_of(&out);
    let stg = doc["products"].as_array().unwrap().iter().find(|p| p["id"] == "stg_orders").unwrap().clone();
    assert_eq!(stg["metrics"]["uniqueness"]["reason"], "unique test on order_id failed: 2 duplicated values");
    assert_eq!(stg["evidence"]["failing_tests"][1]["failures"], 2);
    let incident_id = stg["incident"]["id"].as_i64().unwrap();

    // The same moment read back from history: `as_of` says it is not now.
    let out = run(&["status", "--json", "--at", "now"]).await;
    let then = json_of(&out);
    assert!(then["as_of"].is_string(), "{then}");
    let state_of = |doc: &serde_json::Value| {
        doc["products"].as_array().unwrap().iter().find(|p| p["id"] == "stg_orders").unwrap()["state"].clone()
    };
    assert_eq!(state_of(&then), "down");
    let out = run(&["status", "--at", "now"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("As of "), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["status", "--at", "-30d"]).await;
    assert_eq!(out.status.code(), Some(66), "nothing known then is not all up");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no history at "));
    let out = run(&["status", "--at", "+1h"]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("that is in the future"));

    // status of one product, as text and JSON.
    let out = run(&["status", "stg_payments"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("✔ All data products operational"));
    let out = run(&["status", "no_such_table"]).await;
    assert_eq!(out.status.code(), Some(64));
    // By the names people see, in any case; ids shown beside them; did-you-mean for a typo.
    let out = run(&["status", "payments (STAGING)"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Payments (staging) (stg_payments)"), "{text}");
    let out = run(&["status", "Orders", "--json"]).await;
    assert_eq!(json_of(&out)["products"][0]["id"], "fct_orders", "the exact name wins over a near one");
    let out = run(&["status", "stg_paymnets"]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `stg_payments`?"));

    // The data team speaks.
    let id = incident_id.to_string();
    let out = run(&[
        "incident",
        "update",
        &id,
        "--status",
        "identified",
        "-m",
        "A duplicate CRM load.",
        "--eta",
        "+2h",
        "--author",
        "ana",
    ])
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["incident", "show", &id]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status    identified"), "{text}");
    assert!(text.contains("ana: [identified] A duplicate CRM load. (ETA "), "{text}");
    assert!(text.contains("tablestat: [investigating] Detected. "), "{text}");
    // Newest first, as on the board and the page.
    assert!(text.find("[identified]").unwrap() < text.find("[investigating]").unwrap(), "{text}");
    let out = run(&["incident", "update", "9999", "--status", "identified", "-m", "x"]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no incident #9999: `tablestat incident list` shows them"));
    let out = run(&["incident", "update", "1", "--status", "fixed", "-m", "x"]).await;
    assert_eq!(out.status.code(), Some(64));
    // Words that would show as a blank line, and an ETA already past, are refused.
    let out = run(&["incident", "update", &id, "--status", "identified", "-m", "  "]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the message is empty"));
    let out = run(&["incident", "update", &id, "--status", "monitoring", "-m", "x", "--eta", "2020-01-01 10:00"]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has already passed: give a time ahead"));
    // A product that is not there is named, not answered with an empty list.
    let out = run(&["incident", "list", "--product", "no_such_table"]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no product `no_such_table`: `tablestat status` lists them"));
    // Numbers as they are printed: `#61` works wherever an incident's number does.
    let out = run(&["incident", "show", &format!("#{id}")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Resolving by hand while the table is still down says what will happen next.
    let out = run(&["incident", "resolve", &id, "-m", "Fixed by hand."]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("stg_orders is still down, so the next poll opens a new incident")
    );

    // Maintenance for everything: every product in maintenance, exit 0.
    let out = run(&["maintenance", "add", "all", "-m", "Reloading from the CRM", "--duration", "1h"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["poll", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["summary"]["maintenance"], 3);
    let out = run(&["maintenance", "list"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("active"));
    let out = run(&["maintenance", "end", "#1"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A group in any case, a product by its name; an empty message and an unknown group refused.
    let out = run(&["maintenance", "add", "group:staging", "-m", "Reload", "--start", "+1h", "--duration", "1h"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("for group Staging"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out =
        run(&["maintenance", "add", "product:orders", "-m", "Reload", "--start", "+1h", "--duration", "1h"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("for product fct_orders"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["maintenance", "add", "group:Stagin", "-m", "Reload", "--duration", "1h"]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no group `Stagin`: did you mean `Staging`?"));
    let out = run(&["maintenance", "add", "all", "-m", " ", "--duration", "1h"]).await;
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("say what users should know"));
    // Cancelling a window that has not begun keeps its plan: the list says "cancelled"
    // with the times it was planned for.
    for id in ["2", "3"] {
        let out = run(&["maintenance", "end", id]).await;
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("Maintenance #{id} cancelled")));
    }
    let out = run(&["maintenance", "list", "--all"]).await;
    let list = String::from_utf8_lossy(&out.stdout);
    let cancelled = list.lines().find(|l| l.starts_with("#2 ")).unwrap();
    assert!(cancelled.contains("cancelled"), "{list}");
    let planned: Vec<&str> = cancelled.split(" to ").collect();
    assert_ne!(planned[0].split_whitespace().nth(3), planned[1].split_whitespace().nth(1), "{cancelled}");
    let out = run(&["maintenance", "end", "2"]).await;
    assert_eq!(out.status.code(), Some(64), "cancelled twice");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already cancelled"));
    assert!(!String::from_utf8_lossy(&run(&["maintenance", "list"]).await.stdout).contains("#2 "));

    // Recovery: the incidents resolve by themselves.
    story.set(chapter(3, "success", "all_pass"));
    let out = run(&["poll", "--once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["incident", "list", "--json"]).await;
    let incidents = json_of(&out);
    assert!(incidents.as_array().unwrap().iter().all(|i| i["status"] == "resolved"), "{incidents}");
    // Times as `status --json` writes them: RFC 3339, in UTC.
    for i in incidents.as_array().unwrap() {
        for field in [&i["began_at"], &i["opened_at"], &i["resolved_at"]] {
            let text = field.as_str().unwrap_or_else(|| panic!("{i}"));
            assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z'), "{text}");
        }
    }
    assert!(!predicate::str::contains("dbt-token").eval(&String::from_utf8_lossy(&out.stdout)));
}

/// Green only when known, through the binary: a database another command created says
/// nothing of the tables (every product the config names is `unknown`, exit 3), and states
/// nobody refreshed turn `unknown` with the poller named, in text and JSON alike.
#[tokio::test(flavor = "multi_thread")]
async fn status_never_says_up_without_fresh_evidence() {
    let (dir, _server, _story) = story_config().await;
    let (db, config) = (dir.path().join("history.db"), dir.path().join("tablestat.toml"));
    let run = |args: &[&str]| run_off_runtime(tablestat(&config), args);

    // `maintenance add` created the database; nobody has polled.
    let out = run(&["maintenance", "add", "all", "-m", "later", "--start", "+1h", "--duration", "1h"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.starts_with("? 3 products unknown"), "{text}");
    assert!(text.contains("not checked yet: no poller has run yet: start `tablestat poll`"), "{text}");
    let doc = json_of(&run(&["status", "--json"]).await);
    assert_eq!(doc["overall"], "unknown");
    assert_eq!(doc["summary"]["unknown"], 3);
    assert_eq!(doc["poller"]["state"], "none");
    assert_eq!(doc["products"][0]["metrics"]["availability"]["since"], Value::Null);

    // One poll: fresh, up, the poller and Airflow described.
    let out = run(&["poll", "--once"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc = json_of(&run(&["status", "--json"]).await);
    assert_eq!(doc["overall"], "up");
    assert_eq!(doc["poller"]["state"], "none", "poll --once gave the lease up");
    assert_eq!(doc["poller"]["last_poll_ok"], true);
    assert!(doc["poller"]["host"].is_string() && doc["poller"]["heartbeat_at"].is_string());
    // A locale without UTF-8 (LANG=C) gets ASCII symbols, as --ascii does.
    let mut plain = tablestat(&config);
    plain.env("LANG", "C").env_remove("LC_ALL").env_remove("LC_CTYPE");
    let out = run_off_runtime(plain, &["status"]).await;
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("+ All data products operational"));
    let airflow = &doc["sources"][0];
    assert_eq!(
        (airflow["name"].as_str(), airflow["kind"].as_str(), airflow["reachable"].as_bool()),
        (Some("airflow"), Some("airflow"), Some(true))
    );

    // Four hours pass with nobody polling (the database aged by hand): the daily DAG is
    // checked hourly, so its states are too old after three.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "UPDATE product SET checked_at = checked_at - 14400;
         UPDATE meta SET value = value - 14400 WHERE key = 'all_checked_at';
         UPDATE poll SET started = started - 14400, finished = finished - 14400;
         UPDATE lease SET heartbeat = heartbeat - 14400;",
    )
    .unwrap();
    drop(conn);
    let out = run(&["status"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("no poller is running (last poll "), "{text}");
    assert!(text.contains(": no poller is running (last heartbeat "), "{text}");
    let doc = json_of(&run(&["status", "--json"]).await);
    assert_eq!(doc["overall"], "unknown");
    let reason = doc["products"][0]["metrics"]["freshness"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("not checked since "), "{reason}");
    assert_eq!(doc["products"][0]["note"], Value::Null, "the last poll's note no longer speaks for now");
}

/// A damaged history database: the board says what `status` says (which file, what SQLite
/// found), not less.
#[test]
fn a_damaged_database_is_named_alike_by_the_board_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tablestat.toml");
    std::fs::write(
        &config,
        "[airflow]\nurl = \"http://127.0.0.1:9\"\nauth = \"none\"\ntimeout = \"1s\"\n\n[store]\npath = \"h.db\"\n\n[[product]]\nid = \"orders\"\ndag = \"orders_daily\"\n",
    )
    .unwrap();
    tablestat(&config).args(["poll", "--once"]).output().unwrap();
    let db = dir.path().join("h.db");
    rusqlite::Connection::open(&db).unwrap().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(2 * 4096) {
        *b = 0xff;
    }
    std::fs::write(&db, bytes).unwrap();
    let status = tablestat(&config).arg("status").output().unwrap();
    let board = tablestat(&config).output().unwrap();
    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert_eq!(status.status.code(), Some(74), "{}", said(&status));
    assert!(said(&status).contains("h.db: database disk image is malformed"), "{}", said(&status));
    assert_eq!((board.status.code(), said(&board)), (Some(74), said(&status)));
}
