//! `/metrics` and `/healthz`: the OpenMetrics text checked against the format's rules and
//! read by a Prometheus text parser (`prometheus-parse`), from the renderer and from a real
//! `tablestat poll` process; `/healthz` for the poller that polls and for one that follows.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::time::Duration;

use axum::http::StatusCode;
use tablestat::poller::service::{PollerStatus, Role};
use tablestat::serve::health;
use tablestat::serve::openmetrics::{SourceNames, render};

use crate::common::board::{now, prepared_store, snapshot};
use crate::common::story::{self, chapter};

/// One sample as the format defines it: a name, labels with their values unescaped, a value.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A strict reader of the OpenMetrics text format, for what `render` writes: every family
/// declared once (`# TYPE`, then `# HELP`) before its samples and never resumed after
/// another; names and label names as the format allows; label values in quotes with only
/// `\\`, `\"` and `\n` escapes; a counter's samples end in `_total`; `# EOF` last, once.
/// Panics with the line on any breach.
fn read_strictly(text: &str) -> Vec<Sample> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    assert!(text.ends_with("# EOF\n"), "the text must end with # EOF");
    let mut declared: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    let mut finished: HashSet<String> = HashSet::new();
    let mut seen_series = HashSet::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            assert_eq!(i, lines.len() - 1, "# EOF is the last line");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE: {line}"));
            assert!(name_ok(name), "bad family name: {line}");
            assert!(["gauge", "counter"].contains(&kind), "unexpected type: {line}");
            assert!(declared.insert(name.to_string(), kind.to_string()).is_none(), "family declared twice: {line}");
            if let Some(previous) = current.replace(name.to_string()) {
                finished.insert(previous);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or_else(|| panic!("bad HELP: {line}"));
            assert_eq!(Some(name), current.as_deref(), "HELP for another family than the last TYPE: {line}");
            assert!(!help.is_empty());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        // name{labels} value
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        let family = current.as_deref().unwrap_or_else(|| panic!("sample before any TYPE: {line}"));
        let kind = &declared[family];
        let expected = if kind == "counter" { format!("{family}_total") } else { family.to_string() };
        assert_eq!(name, expected, "sample outside its family: {line}");
        assert!(!finished.contains(family), "family resumed: {line}");
        let chars: Vec<char> = line[name_end..].chars().collect();
        let mut at = 0;
        let mut labels = Vec::new();
        if chars.first() == Some(&'{') {
            at = 1;
            loop {
                let key: String = chars[at..].iter().take_while(|c| **c != '=').collect();
                assert!(name_ok(&key) && !key.contains(':'), "bad label name {key:?}: {line}");
                at += key.chars().count() + 1;
                assert_eq!(chars.get(at), Some(&'"'), "unquoted label value: {line}");
                at += 1;
                let mut value = String::new();
                loop {
                    match chars.get(at) {
                        Some('\\') => {
                            match chars.get(at + 1) {
                                Some('\\') => value.push('\\'),
                                Some('"') => value.push('"'),
                                Some('n') => value.push('\n'),
                                other => panic!("bad escape {other:?}: {line}"),
                            }
                            at += 2;
                        }
                        Some('"') => break,
                        Some('\n') | None => panic!("unterminated label value: {line}"),
                        Some(c) => {
                            value.push(*c);
                            at += 1;
                        }
                    }
                }
                labels.push((key, value));
                at += 1;
                match chars.get(at) {
                    Some(',') => at += 1,
                    Some('}') => {
                        at += 1;
                        break;
                    }
                    other => panic!("expected , or }} after a label, found {other:?}: {line}"),
                }
            }
        }
        let rest: String = chars[at..].iter().collect();
        let value = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no space before the value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
        assert!(seen_series.insert((name.to_string(), format!("{labels:?}"))), "series twice: {line}");
        samples.push(Sample { name: name.to_string(), labels, value });
    }
    samples
}

fn label<'a>(sample: &'a Sample, key: &str) -> Option<&'a str> {
    sample.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn the_metrics_say_what_the_board_shows_within_the_format_s_rules() {
    let store = prepared_store();
    let mut shown = (*snapshot(&store)).clone();
    // A group name from a config or a dbt project may hold anything.
    let hostile = "Sales \"EU\" \\ west\nsecond line }, x=\"y\"";
    shown.products[0].product.group = hostile.to_string();
    let mut poller =
        PollerStatus { role: Role::Polling, polls: 3, last_poll_seconds: Some(1.25), ..Default::default() };
    poller.sources = vec![tablestat::facts::SourceHealth {
        name: "core".into(),
        kind: "airflow".into(),
        reachable: false,
        error_kind: Some("timeout"),
        requests: 7,
        ..Default::default()
    }];
    poller.source_errors.insert(("core".into(), "timeout"), 2);
    let names = SourceNames { only: Some("core".into()), ..Default::default() };
    let text = render(&shown, &poller, &names, true, now());
    let samples = read_strictly(&text);

    let of = |name: &'static str| samples.iter().filter(move |s| s.name == name);
    // One gauge per state for each product's overall state and each metric's.
    let cells: usize = shown.products.iter().map(|r| 1 + r.metrics.len()).sum();
    assert_eq!(of("tablestat_product_state").count(), cells * 5);
    for row in &shown.products {
        let mine = |metric: &str| {
            of("tablestat_product_state")
                .filter(|s| label(s, "product") == Some(&row.product.id) && label(s, "metric") == Some(metric))
                .filter(|s| s.value == 1.0)
                .map(|s| label(s, "state").unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(mine("overall"), [row.state.as_str()], "{}", row.product.id);
        for m in &row.metrics {
            assert_eq!(mine(m.metric.as_str()), [m.state.as_str()], "{} {}", row.product.id, m.metric.as_str());
        }
        let day = of("tablestat_product_uptime_ratio")
            .find(|s| label(s, "product") == Some(&row.product.id) && label(s, "window") == Some("1d"))
            .map(|s| s.value);
        assert_eq!(day, row.uptime(tablestat::store::WindowKind::Day).map(|u| u / 100.0), "{}", row.product.id);
    }
    // The hostile group comes back whole, on the first product's samples only.
    let first = &shown.products[0].product.id;
    assert!(
        of("tablestat_product_state")
            .filter(|s| label(s, "product") == Some(first))
            .all(|s| label(s, "group") == Some(hostile))
    );
    assert!(samples.iter().all(|s| label(s, "source").is_none_or(|v| v == "core")));
    let open = shown.products.iter().filter(|r| r.open_incident.is_some()).count();
    assert!(open > 0, "the prepared store has open incidents");
    assert_eq!(of("tablestat_incidents_open").map(|s| s.value).sum::<f64>(), open as f64);
    let one = |name: &'static str| of(name).map(|s| s.value).collect::<Vec<_>>();
    assert_eq!(one("tablestat_poller_leader"), [1.0]);
    assert_eq!(one("tablestat_polls_total"), [3.0]);
    assert_eq!(one("tablestat_poll_duration_seconds"), [1.25]);
    assert_eq!(one("tablestat_source_up"), [0.0]);
    assert_eq!(one("tablestat_source_requests"), [7.0]);
    let errors: Vec<_> = of("tablestat_source_errors_total").collect();
    assert_eq!((errors.len(), label(errors[0], "kind"), errors[0].value), (1, Some("timeout"), 2.0));

    // A Prometheus text parser reads the same samples (without the hostile value, which
    // this simple parser cannot split).
    shown.products[0].product.group = "Sales".into();
    let plain = render(&shown, &poller, &names, true, now());
    let parsed = prometheus_parse::Scrape::parse(plain.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(parsed.samples.len(), read_strictly(&plain).len());
    let leader = parsed.samples.iter().find(|s| s.metric == "tablestat_poller_leader").unwrap();
    assert!(matches!(leader.value, prometheus_parse::Value::Gauge(v) if v == 1.0));
    // That parser knows the older text format, where a counter's family is named with its
    // `_total`: it reads an OpenMetrics counter as untyped, with the same value.
    let polls = parsed.samples.iter().find(|s| s.metric == "tablestat_polls_total").unwrap();
    assert!(matches!(polls.value, prometheus_parse::Value::Untyped(v) if v == 3.0), "{:?}", polls.value);
}

#[test]
fn healthz_is_ok_only_for_the_poller_that_polls_and_whose_last_poll_worked() {
    let at = chrono::DateTime::from_timestamp(now(), 0);
    let lease = tablestat::store::Lease {
        holder: "other".into(),
        pid: 4242,
        host: "jump-2".into(),
        acquired_at: now(),
        heartbeat: now(),
    };
    let polling = |last_error: Option<&str>, write_error: Option<&str>| PollerStatus {
        role: Role::Polling,
        last_poll: at,
        last_error: last_error.map(String::from),
        write_error: write_error.map(String::from),
        ..Default::default()
    };
    for (status, code, says) in [
        (PollerStatus::default(), StatusCode::SERVICE_UNAVAILABLE, "starting"),
        (
            PollerStatus { role: Role::Polling, ..Default::default() },
            StatusCode::SERVICE_UNAVAILABLE,
            "the first poll has not finished",
        ),
        (polling(None, None), StatusCode::OK, "ok: polling; last poll at 20"),
        (
            polling(Some("core: connection refused"), None),
            StatusCode::SERVICE_UNAVAILABLE,
            "could not read: core: connection refused",
        ),
        (polling(None, Some("disk full")), StatusCode::SERVICE_UNAVAILABLE, "could not be written: disk full"),
        (
            PollerStatus { role: Role::Following(lease), ..Default::default() },
            StatusCode::SERVICE_UNAVAILABLE,
            "following: pid 4242 on jump-2 holds the lease",
        ),
    ] {
        let (got, text) = health(&status);
        assert_eq!(got, code, "{text}");
        assert!(text.contains(says), "{text:?} should say {says:?}");
    }
    // What a person reads is inert: a hostile error cannot reach a terminal as escapes.
    let (_, text) = health(&polling(Some("refused \u{1b}[2J"), None));
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

/// What an HTTP GET answered: status, content type, body.
type Answer = (u16, Option<String>, String);

/// Asks `http://{at}{path}` every 100 ms until `done` says the answer is the one awaited,
/// for at most 10 s; the last answer either way.
async fn until(at: &str, path: &str, done: impl Fn(&Answer) -> bool) -> Answer {
    let mut answer = (0, None, String::new());
    for _ in 0..100 {
        let response = reqwest::get(format!("http://{at}{path}")).await.unwrap();
        let status = response.status().as_u16();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
        answer = (status, kind, response.text().await.unwrap());
        if done(&answer) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    answer
}

/// Reads lines of a child's stderr until one says where it serves; the rest is kept.
fn served_at(stderr: std::process::ChildStderr) -> (String, std::sync::mpsc::Receiver<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the poller says where it serves");
        if let Some(rest) = line.strip_prefix("tablestat: serving http://") {
            return (rest.split('/').next().unwrap().to_string(), rx);
        }
    }
}

fn poller(config: &std::path::Path) -> crate::common::Reaped {
    crate::common::Reaped(Some(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
            .arg("--config")
            .arg(config)
            .arg("poll")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    ))
}

/// Two `tablestat poll` on one database, each serving: the one that polls says so on
/// `/healthz` and `/metrics`, the other follows and says that; both show the same states.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_poller_serves_metrics_and_health_and_a_follower_says_it_follows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (server, _story) = story::start(chapter(2, "failed", "test_failures")).await;
    let config = dir.path().join("tablestat.toml");
    std::fs::write(&config, format!("{}\n[serve]\nlisten = \"127.0.0.1:0\"\n", story::config(&server.uri(), &db)))
        .unwrap();
    let mut first = poller(&config);
    let (first_at, _first_log) = served_at(first.0.as_mut().unwrap().stderr.take().unwrap());
    // Until the first poll is written.
    let health = until(&first_at, "/healthz", |(code, _, _)| *code == 200).await;
    assert_eq!(health.0, 200, "{}", health.2);
    assert!(health.2.starts_with("ok: polling; last poll at "), "{}", health.2);
    let metrics = until(&first_at, "/metrics", |(_, _, text)| {
        text.contains("tablestat_polls_total 1") && text.contains("stg_orders")
    })
    .await;
    assert_eq!(metrics.1.as_deref(), Some(tablestat::serve::openmetrics::CONTENT_TYPE));
    let samples = read_strictly(&metrics.2);
    let is = |product: &str, metric: &str, state: &str| {
        samples.iter().any(|s| {
            s.name == "tablestat_product_state"
                && label(s, "product") == Some(product)
                && label(s, "metric") == Some(metric)
                && label(s, "state") == Some(state)
                && s.value == 1.0
        })
    };
    assert!(is("stg_orders", "overall", "down") && is("stg_orders", "uniqueness", "down"), "{}", metrics.2);
    assert!(is("stg_payments", "overall", "up"), "{}", metrics.2);
    assert!(metrics.2.contains("tablestat_poller_leader 1\n"));
    assert!(metrics.2.contains("tablestat_source_up{source=\"airflow\",kind=\"airflow\"} 1\n"), "{}", metrics.2);

    // A second poller on the same database follows, and says so.
    let mut second = poller(&config);
    let (second_at, _second_log) = served_at(second.0.as_mut().unwrap().stderr.take().unwrap());
    let follower = until(&second_at, "/healthz", |(_, _, text)| text.starts_with("following")).await;
    assert_eq!(follower.0, 503, "{}", follower.2);
    assert!(follower.2.contains("holds the lease and polls"), "{}", follower.2);
    let theirs = until(&second_at, "/metrics", |(code, _, _)| *code == 200).await;
    let theirs = theirs.2;
    assert!(theirs.contains("tablestat_poller_leader 0\n"), "{theirs}");
    let states = |text: &str| {
        read_strictly(text)
            .into_iter()
            .filter(|s| s.name == "tablestat_product_state" && s.value == 1.0)
            .map(|s| format!("{:?}", s.labels))
            .collect::<HashSet<_>>()
    };
    assert_eq!(states(&theirs), states(&metrics.2), "both show what the database holds");

    for child in [&mut first, &mut second] {
        let child = child.0.take().unwrap();
        let pid = child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
}
