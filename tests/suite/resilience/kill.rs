//! `kill -9` at any moment: the poller (the real binary, polling every second while the
//! fake pipeline flips between green and a failed build) is killed at random points over
//! many cycles and restarted, on a SQLite file and on a PostgreSQL database. After each kill
//! the file passes `PRAGMA integrity_check`, every state change the database held before the
//! kill is still there, and the restarted poller takes the lease over at once (its holder on
//! this host is gone) and polls. SIGTERM ends it cleanly.
//!
//! `TABLESTAT_KILL_CYCLES` sets the number of kills (default 20).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::backend::Place;
use crate::common::story::{self, chapter};

fn open(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

fn file_polls(db: &Path) -> i64 {
    if !db.exists() {
        return 0;
    }
    open(db).query_row("SELECT count(*) FROM poll", [], |r| r.get(0)).unwrap_or(0)
}

/// Every stored state change, as "product|metric|state|start".
type Changes = BTreeSet<String>;

fn changes(place: &Place) -> Changes {
    place.texts(
        "SELECT s.product || '|' || s.metric || '|' || v.state || '|' || sp.start FROM span sp
         JOIN series s ON s.id = sp.series JOIN verdict v ON v.id = sp.verdict",
    )
}

fn polls(place: &Place) -> i64 {
    place.count("SELECT count(*) FROM poll")
}

/// The pid of the poller holding the lease; 0 when none does (a lease given up keeps its row,
/// holder emptied: who polled last stays known).
fn lease_pid(place: &Place) -> i64 {
    place.count("SELECT coalesce(max(pid), 0) FROM lease WHERE id = 1 AND holder <> ''")
}

fn poller(config: &Path, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
        .args(["poll", "--config"])
        .arg(config)
        .env("TABLESTAT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Waits (with a deadline) for `done`.
fn wait_until(what: &str, log: &Path, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "never {what}; the poller's log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

crate::on_both_backends!(async: the_poller_survives_kill_9_at_any_moment);

async fn the_poller_survives_kill_9_at_any_moment(place: &Place) {
    place.migrate();
    let dir = tempfile::tempdir().unwrap();
    let beside = dir.path().join("history.db");
    let config = dir.path().join("tablestat.toml");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let text = story::with_store(&story::config(&server.uri(), &beside), &beside, &place.store_section());
    std::fs::write(&config, text + "\n[poll]\ninterval = \"1s\"\n").unwrap();
    let log = dir.path().join("poller.log");
    let cycles: usize = std::env::var("TABLESTAT_KILL_CYCLES").ok().and_then(|n| n.parse().ok()).unwrap_or(20);

    let survived = tokio::task::block_in_place(|| {
        let mut survived = 0;
        for cycle in 0..cycles {
            // Green and a failed build in turn: each restart has state changes to write.
            story.set(if cycle % 2 == 0 {
                chapter(2, "failed", "test_failures")
            } else {
                chapter(1, "success", "all_pass")
            });
            let polls_before = polls(place);
            let mut child = poller(&config, &log);
            // The restarted poller takes the lease over from the killed one, and polls.
            wait_until("polled after a restart", &log, || polls(place) > polls_before);
            assert_eq!(lease_pid(place), i64::from(child.id()), "the new poller holds the lease");
            // Then a random moment: mid-poll, mid-write, or asleep between polls.
            std::thread::sleep(Duration::from_millis(fastrand::u64(0..1500)));
            let reported = changes(place);
            child.kill().unwrap();
            child.wait().unwrap();
            assert_eq!(place.integrity(), "ok", "after kill {cycle}");
            let kept = changes(place);
            let lost: Vec<_> = reported.difference(&kept).collect();
            assert!(lost.is_empty(), "kill {cycle} lost reported changes: {lost:?}");
            survived += 1;
        }

        // SIGTERM: a clean exit that gives the lease up.
        let mut child = poller(&config, &log);
        let polls_before = polls(place);
        wait_until("polled before SIGTERM", &log, || polls(place) > polls_before);
        assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
        let mut exit = None;
        wait_until("exited on SIGTERM", &log, || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        });
        assert_eq!(exit.unwrap().code(), Some(0), "{}", std::fs::read_to_string(&log).unwrap());
        assert_eq!(lease_pid(place), 0, "the lease is given up");
        survived
    });
    assert_eq!(survived, cycles);
    // Every kill left changes behind to keep: the flips were written.
    let flips = changes(place).iter().filter(|c| c.starts_with("stg_orders|uniqueness|")).count();
    assert!(flips >= cycles.min(4), "{flips} uniqueness changes for stg_orders over {cycles} restarts");
}

/// A store that refuses every write (a full disk, a read-only file; simulated by a trigger
/// that aborts every poll's insert): the service says so and exits non-zero after a bounded
/// number of failed writes, so that systemd restarts it or alerts, rather than polling on
/// while every reader sees the last poll that worked.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_refuses_writes_ends_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let config = dir.path().join("tablestat.toml");
    let (server, _story) = story::start(chapter(1, "success", "all_pass")).await;
    std::fs::write(&config, story::config(&server.uri(), &db) + "\n[poll]\ninterval = \"1s\"\n").unwrap();
    let log = dir.path().join("poller.log");
    let exit = tokio::task::spawn_blocking(move || {
        let mut child = poller(&config, &log);
        wait_until("polled once", &log, || file_polls(&db) > 0);
        open(&db)
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON poll BEGIN SELECT RAISE(ABORT, 'disk is full (simulated)'); END;",
            )
            .unwrap();
        let mut exit = None;
        wait_until("exited after failed writes", &log, || {
            exit = child.try_wait().unwrap();
            exit.is_some()
        });
        (exit.unwrap().code(), std::fs::read_to_string(&log).unwrap())
    })
    .await
    .unwrap();
    let (code, log) = exit;
    assert_eq!(code, Some(74), "{log}");
    assert!(log.contains("the poll could not be written") && log.contains("disk is full (simulated)"), "{log}");
    assert_eq!(
        log.matches("the poll could not be written").count() as u32,
        tablestat::poller::service::MAX_FAILED_WRITES
    );
}

/// Every poll has a deadline: an Airflow that never answers (each request within its own
/// timeout, but the poll as a whole too long) turns the products `unknown` naming the
/// deadline, and the service polls on.
#[tokio::test(flavor = "multi_thread")]
async fn a_poll_past_its_deadline_is_abandoned_and_says_so() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let config = dir.path().join("tablestat.toml");
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)).set_body_string("{}"))
        .mount(&server)
        .await;
    let text = format!(
        "[airflow]\nurl = \"{}\"\napi = \"v2\"\nauth = \"none\"\ntimeout = \"60s\"\n\n[store]\npath = \"{}\"\n\n[poll]\ndeadline = \"2s\"\n\n[[product]]\nid = \"orders\"\ndag = \"orders_daily\"\n",
        server.uri(),
        db.display()
    );
    std::fs::write(&config, text).unwrap();
    let log = dir.path().join("poller.log");
    let reason = tokio::task::spawn_blocking(move || {
        let mut child = poller(&config, &log);
        wait_until("abandoned a poll", &log, || file_polls(&db) > 0);
        let reason: String = open(&db)
            .query_row(
                "SELECT v.text FROM series s JOIN verdict v ON v.id = s.verdict WHERE s.metric = 'freshness'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(child.try_wait().unwrap().is_none(), "the service polls on");
        child.kill().unwrap();
        child.wait().unwrap();
        reason
    })
    .await
    .unwrap();
    assert!(reason.contains("the poll did not finish within 2s (`[poll] deadline`)"), "{reason}");
}
