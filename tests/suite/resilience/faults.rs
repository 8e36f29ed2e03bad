//! Source faults, table-driven: each way Airflow or dbt Cloud can break is put between a
//! good poll and a good poll of the whole pipeline (engine -> store -> status). The
//! products the fault touches must show `unknown` with a reason that names the fault, the
//! others keep their state, nothing panics, and the next good poll recovers.

use std::sync::Arc;

use crate::common::pipeline::Pipeline;
use crate::common::proxy::{Fault, FaultProxy};
use crate::common::story::{self, Story, chapter};
use chrono::{DateTime, TimeZone, Utc};
use tablestat::config::Config;
use tablestat::model::State;
use tablestat::poller::Engine;
use tablestat::status_doc::StatusDocument;
use tablestat::store::Store;
use tablestat::store::worker::StoreHandle;
use wiremock::MockServer;

/// A product of the DAG alone: it needs Airflow but never dbt Cloud.
const DAG_ONLY: &str = r#"
[[product]]
id = "shop_dag"
name = "Shop DAG"
dag = "shop_daily"
task = "dbt_build"
"#;

/// Products whose state comes from dbt Cloud artifacts.
const DBT_PRODUCTS: [&str; 3] = ["stg_orders", "stg_payments", "fct_orders"];

struct Rig {
    pipeline: Pipeline,
    story: Story,
    airflow: FaultProxy,
    dbt: FaultProxy,
    _server: MockServer,
    _dir: tempfile::TempDir,
}

/// The story's fake behind two proxies (Airflow's, dbt Cloud's), with 1 s timeouts, at a
/// failed dbt build: some products down, some up, per their tests.
async fn rig(airflow_url: Option<&str>) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (server, story) = story::start(chapter(1, "failed", "test_failures")).await;
    let airflow = FaultProxy::start(&server.uri()).await;
    let dbt = FaultProxy::start(&server.uri()).await;
    let text = story::config_split(airflow_url.unwrap_or(&airflow.uri()), &dbt.uri(), &db)
        .replace("timeout = \"5s\"", "timeout = \"1s\"")
        .replace("account_id = 1\n", "account_id = 1\ntimeout = \"1s\"\n")
        + DAG_ONLY;
    let config = Arc::new(Config::parse(&dir.path().join("tablestat.toml"), &text).unwrap());
    let store = StoreHandle::spawn(Store::open(&db).unwrap()).unwrap();
    let pipeline = Pipeline::new(Engine::new(config).unwrap(), store);
    Rig { pipeline, story, airflow, dbt, _server: server, _dir: dir }
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 2, minute, 0).unwrap()
}

/// Per product: its state and each metric's state (reasons name runs, which change).
fn states(doc: &StatusDocument) -> Vec<(String, State, Vec<State>)> {
    doc.products.iter().map(|p| (p.id.clone(), p.state, p.metrics.0.iter().map(|(_, m)| m.state).collect())).collect()
}

fn reasons(doc: &StatusDocument, id: &str) -> Vec<String> {
    let product = doc.products.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no product {id}"));
    product.metrics.0.iter().map(|(m, s)| format!("{} {}: {}", m.as_str(), s.state, s.reason)).collect()
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Airflow,
    DbtCloud,
}

/// How a source is broken for one poll.
#[derive(Debug, Clone)]
enum Break {
    /// Every request.
    Always(Fault),
    /// The next request only (then it passes).
    Once(Fault),
    /// Requests for one path.
    Path(&'static str, Fault),
    /// Nothing listens.
    Refused,
}

/// What the products the fault touches show during it.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `unknown`, with a reason holding this text.
    Unknown(&'static str),
    /// `down`, with availability's reason holding this text.
    Down(&'static str),
    /// Nothing changes (the client copes).
    Unchanged,
}

struct Case {
    name: &'static str,
    source: Source,
    fault: Break,
    expect: Expect,
}

fn answer(status: u16, content_type: &'static str, body: &str, retry_after: Option<&'static str>) -> Fault {
    Fault::Answer { status, content_type, body: body.to_string(), retry_after }
}

fn cases() -> Vec<Case> {
    use Break::*;
    use Expect::*;
    use Source::*;
    let html = "<!doctype html><html><body><h1>Sign in</h1></body></html>";
    let mut cases = Vec::new();
    for source in [Airflow, DbtCloud] {
        let table: Vec<(&'static str, Break, Expect)> = vec![
            ("refused", Refused, Unknown("connection refused")),
            ("timeout", Always(Fault::Hang), Unknown("no answer within 1s")),
            ("slow drip", Always(Fault::Drip), Unknown("no answer within 1s")),
            ("500", Always(Fault::status(500, r#"{"detail": "Internal Server Error"}"#)), Unknown("server error 500")),
            ("502", Always(answer(502, "text/html", "<html>Bad Gateway</html>", None)), Unknown("server error 502")),
            ("503", Always(Fault::status(503, "")), Unknown("server error 503")),
            (
                "429 with Retry-After",
                Always(answer(429, "application/json", "", Some("1"))),
                Unknown("429 rate limited, retry after 1 s"),
            ),
            (
                "429 with a long Retry-After",
                Always(answer(429, "application/json", "", Some("600"))),
                Unknown("429 rate limited, retry after 600 s"),
            ),
            ("429 without Retry-After", Always(Fault::status(429, "")), Unknown("429 rate limited")),
            ("one 503, then fine", Once(Fault::status(503, "")), Unchanged),
            (
                "truncated JSON",
                Always(Fault::status(200, r#"{"dags": [{"dag_id": "shop_da"#)),
                Unknown("unreadable answer: EOF while parsing"),
            ),
            (
                "connection cut mid-body",
                Always(Fault::BrokenOff),
                Unknown("connection closed before message completed"),
            ),
            (
                "HTML page with 200",
                Always(answer(200, "text/html", html, None)),
                Unknown("got an HTML page instead of JSON"),
            ),
            (
                "wrong content type",
                Always(answer(200, "text/plain", "OK", None)),
                Unknown("got text/plain instead of JSON"),
            ),
            (
                "401",
                Always(Fault::status(401, r#"{"detail": "Invalid credentials"}"#)),
                Unknown("401 unauthorized (Invalid credentials"),
            ),
            ("403", Always(Fault::status(403, r#"{"detail": "Forbidden"}"#)), Unknown("403 forbidden (Forbidden)")),
            (
                "404 endpoint",
                Always(Fault::status(404, r#"{"detail": "Not Found"}"#)),
                Unknown("404 not found (Not Found)"),
            ),
            ("huge body", Always(Fault::Huge(200 << 20)), Unknown("larger than the 67108864-byte limit")),
        ];
        cases.extend(table.into_iter().map(|(name, fault, expect)| Case { name, source, fault, expect }));
    }
    cases.push(Case {
        name: "expired JWT",
        source: Airflow,
        fault: Once(Fault::status(401, r#"{"detail": "Token Expired"}"#)),
        expect: Unchanged,
    });
    cases.push(Case {
        name: "a lying total_entries (10^12 DAGs)",
        source: Airflow,
        fault: Path(
            "/api/v2/dags",
            Fault::status(
                200,
                r#"{"dags": [{"dag_id": "shop_daily", "is_paused": false}], "total_entries": 1000000000000}"#,
            ),
        ),
        expect: Unknown("too much to read: the server says there are 1000000000000 DAGs"),
    });
    cases.push(Case {
        name: "a lying total_entries (u64::MAX runs)",
        source: Airflow,
        fault: Path(
            "/api/v2/dags/~/dagRuns/list",
            Fault::status(200, r#"{"dag_runs": [], "total_entries": 18446744073709551615}"#),
        ),
        expect: Unknown("more than the 50000 tablestat reads in one poll"),
    });
    cases.push(Case {
        name: "404 DAG (gone from Airflow)",
        source: Airflow,
        fault: Path("/api/v2/dags", Fault::status(200, r#"{"dags": [], "total_entries": 0}"#)),
        expect: Down("DAG shop_daily does not exist in Airflow"),
    });
    cases
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_shows_unknown_with_its_reason_and_recovers() {
    let mut failures = Vec::new();
    for case in cases() {
        if let Err(e) = run_case(&case).await {
            failures.push(format!("{:?} {}: {e}", case.source, case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases().len(), failures.join("\n"));
}

async fn run_case(case: &Case) -> Result<(), String> {
    let mut rig = rig(None).await;
    let before = rig.pipeline.poll(at(0)).await;
    let baseline = states(&before);
    if baseline.iter().any(|(_, state, _)| *state == State::Unknown) {
        return Err(format!("the good poll has unknowns: {baseline:?}"));
    }
    // A new run, so dbt Cloud is asked (its artifacts are fetched once per run).
    rig.story.set(chapter(2, "failed", "test_failures"));
    let proxy = match case.source {
        Source::Airflow => &mut rig.airflow,
        Source::DbtCloud => &mut rig.dbt,
    };
    match &case.fault {
        Break::Always(fault) => proxy.arm(fault.clone()),
        Break::Once(fault) => proxy.arm_times(fault.clone(), 1),
        Break::Path(path, fault) => proxy.arm_path(path, fault.clone()),
        Break::Refused => proxy.stop().await,
    }
    let during = rig.pipeline.poll(at(5)).await;
    check_during(case, &baseline, &during)?;

    let proxy = match case.source {
        Source::Airflow => &mut rig.airflow,
        Source::DbtCloud => &mut rig.dbt,
    };
    match &case.fault {
        Break::Refused => proxy.resume().await,
        _ => proxy.clear(),
    }
    let after = rig.pipeline.poll(at(10)).await;
    if states(&after) != baseline {
        return Err(format!("did not recover: {:?}\nwanted {baseline:?}", states(&after)));
    }
    Ok(())
}

fn check_during(case: &Case, baseline: &[(String, State, Vec<State>)], during: &StatusDocument) -> Result<(), String> {
    let now = states(during);
    let touched = |id: &str| match case.source {
        Source::Airflow => true,
        Source::DbtCloud => DBT_PRODUCTS.contains(&id),
    };
    for ((id, state, metrics), (_, old_state, old_metrics)) in now.iter().zip(baseline) {
        let why = reasons(during, id);
        match case.expect {
            _ if !touched(id) => {
                if (state, metrics) != (old_state, old_metrics) {
                    return Err(format!("{id} is untouched by the fault but changed: {why:?}"));
                }
            }
            Expect::Unchanged => {
                if (state, metrics) != (old_state, old_metrics) {
                    return Err(format!("{id} changed: {why:?}"));
                }
            }
            Expect::Unknown(text) => {
                if *state != State::Unknown || !why.iter().any(|r| r.contains("unknown") && r.contains(text)) {
                    return Err(format!("{id}: wanted unknown naming {text:?}, got {state}: {why:#?}"));
                }
                if matches!(case.source, Source::Airflow)
                    && !why.iter().all(|r| r.contains("unknown: Airflow could not be read since 2026-11-22 02:05"))
                {
                    return Err(format!("{id}: every metric should say Airflow could not be read: {why:#?}"));
                }
            }
            Expect::Down(text) => {
                if *state != State::Down || !why[0].contains(text) {
                    return Err(format!("{id}: wanted down naming {text:?}, got {state}: {why:#?}"));
                }
            }
        }
    }
    Ok(())
}

/// Failures a retry cannot fix and a next poll cannot heal (the URL itself is wrong):
/// still `unknown`, with a plain reason.
#[tokio::test]
async fn a_host_that_does_not_resolve_or_does_not_speak_tls_is_unknown_with_the_reason() {
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let not_tls = format!("https://{}", plain.local_addr().unwrap());
    let talk = tokio::spawn(async move {
        // Answers whatever comes (a TLS hello) with plain HTTP, as a server on the wrong port.
        loop {
            let (mut socket, _) = plain.accept().await.unwrap();
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    for (url, text) in [
        ("http://airflow.invalid:8080", "host name not found"),
        (not_tls.as_str(), "TLS: the server does not speak TLS"),
    ] {
        let mut rig = rig(Some(url)).await;
        let doc = rig.pipeline.poll(at(0)).await;
        for product in &doc.products {
            assert_eq!(product.state, State::Unknown, "{url}");
            let why = reasons(&doc, &product.id);
            assert!(why.iter().all(|r| r.contains(text)), "{url}: wanted {text:?} in {why:#?}");
        }
    }
    talk.abort();
}

/// A 200 MB answer is cut at the cap: the error names it and the process never holds the
/// whole body. Measured over this poll alone: the high-water mark is reset to the resident
/// size first (Linux's `clear_refs` 5), as other tests of this process allocate too.
#[tokio::test]
async fn a_huge_body_is_refused_at_the_cap_without_reading_it_all() {
    let mut rig = rig(None).await;
    rig.airflow.arm(Fault::Huge(200 << 20));
    let status = |field: &str| -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status("VmRSS:");
    let doc = rig.pipeline.poll(at(0)).await;
    let why = reasons(&doc, "stg_orders");
    assert!(why[0].contains("answer larger than the 67108864-byte limit"), "{why:#?}");
    let grew = status("VmHWM:").saturating_sub(before);
    assert!(grew < 160 * 1024, "peak memory grew by {grew} kB during the poll: the 200 MB body was read whole");
}
