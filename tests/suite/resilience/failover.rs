//! Pollers on two hosts, one PostgreSQL store: the real binary twice, with host ids `host-a`
//! and `host-b` (`TABLESTAT_HOST_ID`). One polls, the other follows; `kill -9` the one that
//! polls and the other takes the lease over once its heartbeat is older than the lease's TTL,
//! and polls. The history has no gap longer than the TTL and a few polls' worth, and the
//! webhook heard the incident that opened before the kill once, not again from the new poller.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::backend::Place;
use crate::common::story::{self, chapter};
use tablestat::store::lease::LEASE_TTL;

fn poller(config: &Path, host: &str, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
        .args(["poll", "--config"])
        .arg(config)
        .env("TABLESTAT_HOST_ID", host)
        .env("TABLESTAT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Waits (up to `within`) for `done`, saying what never happened with the pollers' log.
async fn wait_until(what: &str, within: Duration, log: &Path, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "never {what}; the pollers' log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `incident_opened` events the webhook received.
async fn openings(hook: &MockServer) -> usize {
    let received = hook.received_requests().await.unwrap_or_default();
    received.iter().filter(|r| String::from_utf8_lossy(&r.body).contains("\"incident_opened\"")).count()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
async fn a_poller_on_another_host_takes_over_when_the_one_that_polls_is_killed() {
    let place = Place::postgres();
    place.migrate();
    let dir = tempfile::tempdir().unwrap();
    let beside = dir.path().join("history.db");
    let log = dir.path().join("pollers.log");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let hook = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&hook).await;
    let config = dir.path().join("tablestat.toml");
    let text = story::with_store(
        &story::config(&server.uri(), &beside),
        &beside,
        &format!("url = \"{}\"", place.address()),
    ) + &format!(
        "\n[poll]\ninterval = \"1s\"\n\n[[notify]]\nname = \"ops\"\nurl = \"{}/hook\"\nevents = [\"incident_opened\"]\n",
        hook.uri()
    );
    std::fs::write(&config, text).unwrap();
    let holds = |host: &str| place.count(&format!("SELECT count(*) FROM lease WHERE host = '{host}' AND holder <> ''"));

    let mut a = poller(&config, "host-a", &log);
    wait_until("polled on host-a", Duration::from_secs(30), &log, || {
        holds("host-a") == 1 && place.count("SELECT count(*) FROM poll") > 0
    })
    .await;
    let mut b = poller(&config, "host-b", &log);
    // host-b follows: a few polls later host-a still holds the lease, and polls.
    let polls = place.count("SELECT count(*) FROM poll");
    wait_until("polled again on host-a", Duration::from_secs(30), &log, || {
        place.count("SELECT count(*) FROM poll") >= polls + 3
    })
    .await;
    assert_eq!((holds("host-a"), holds("host-b")), (1, 0), "host-b follows");

    // A failed build: the incident opens, and the webhook hears it.
    story.set(chapter(2, "failed", "test_failures"));
    let hook_ref = &hook;
    let deadline = Instant::now() + Duration::from_secs(30);
    while openings(hook_ref).await == 0 {
        assert!(Instant::now() < deadline, "the incident was never sent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // host-a dies without a word; host-b takes over once the heartbeat is stale, and polls.
    a.kill().unwrap();
    a.wait().unwrap();
    let killed_at = chrono::Utc::now().timestamp();
    wait_until("took over on host-b", Duration::from_secs(LEASE_TTL as u64 + 30), &log, || {
        holds("host-b") == 1 && place.count(&format!("SELECT count(*) FROM poll WHERE started > {killed_at}")) > 0
    })
    .await;
    let polls = place.count("SELECT count(*) FROM poll");
    wait_until("polled again on host-b", Duration::from_secs(30), &log, || {
        place.count("SELECT count(*) FROM poll") >= polls + 3
    })
    .await;

    // No gap in the history longer than the TTL and a few polls; no poll written twice.
    let gap = place.count(
        "SELECT max(next - started) FROM (SELECT started, lead(started) OVER (ORDER BY started, id) AS next FROM poll) p",
    );
    eprintln!("the longest gap between two polls across the failover: {gap} s");
    // The TTL, one poll interval (1 s), and a second of each side's rounding to seconds.
    assert!(gap <= LEASE_TTL + 3, "a gap of {gap} s between polls (the lease's TTL is {LEASE_TTL} s)");
    assert!(gap >= LEASE_TTL - 2, "the takeover waited for the TTL (a gap of {gap} s)");
    // The incident was sent once: not again by the poller that took over.
    assert_eq!(openings(&hook).await, 1, "the webhook heard the incident once");
    assert_eq!(place.count("SELECT count(*) FROM incident WHERE resolved_at IS NULL"), 1);
    b.kill().unwrap();
    b.wait().unwrap();
}
