//! The real binary in a real terminal (tmux): the board on a prepared store answers keys,
//! and a killed session (a dropped SSH connection) releases the poller lease and leaves
//! the database intact. Also the demo's board.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::story::{self, chapter};
use crate::common::tmux::{Session, bin, wait};

/// A config and a database with history, on a fake pipeline served by this process.
async fn prepared(dir: &Path) -> (PathBuf, PathBuf, wiremock::MockServer) {
    let db = dir.join("history.db");
    let config = dir.join("tablestat.toml");
    let (server, story) = story::start(chapter(2, "failed", "test_failures")).await;
    std::fs::write(&config, story::config(&server.uri(), &db)).unwrap();
    let _ = story;
    let cfg = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin()).arg("--config").arg(&cfg).args(["poll", "--once"]).output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    (config, db, server)
}

fn lease(db: &Path) -> Option<(String, i64)> {
    let conn = rusqlite::Connection::open(db).ok()?;
    conn.query_row("SELECT holder, pid FROM lease WHERE holder != ''", [], |r| Ok((r.get(0)?, r.get(1)?))).ok()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
async fn the_board_answers_keys_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db, _server) = prepared(dir.path()).await;
    let command = format!("{} --config {}", bin().display(), config.display());
    tokio::task::spawn_blocking(move || {
        let s = Session::start(&command);
        let list = s.wait_for("Orders (staging)");
        assert!(list.contains("✖ 2 down"), "{list}");
        // The first frame comes from the database at once; the header says "starting" until
        // the board's poller holds the lease and reports in.
        s.wait_for("polling");
        // Down to the first product and open it: its metrics and failing tests.
        s.keys(&["Home", "Enter"]);
        let detail = s.wait_for("metrics · uptime");
        assert!(detail.contains("not rebuilt"), "{detail}");
        s.keys(&["Escape"]);
        s.wait_for("PRODUCT");
        // Filter to the Payments table.
        s.keys(&["/", "p", "a", "y", "Enter"]);
        let filtered = s.wait_for("1 of 3 products");
        assert!(filtered.contains("Payments (staging)") && !filtered.contains("Orders (staging)"), "{filtered}");
        s.keys(&["j", "?"]);
        s.wait_for("this help");
        s.keys(&["Escape", "q"]);
        assert!(wait(Duration::from_secs(10), || (!s.alive()).then_some(())).is_some(), "q quits");
        assert_eq!(lease(&db), None, "the lease is released on quit");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
async fn text_output_in_a_terminal_is_coloured_unless_no_color_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _db, _server) = prepared(dir.path()).await;
    let status = format!("{} --config {} status", bin().display(), config.display());
    let command = format!("sh -c '{status}; echo SPLIT; {status} --no-color; echo END; sleep 60'");
    tokio::task::spawn_blocking(move || {
        let s = Session::start(&command);
        s.wait_for("END");
        let screen = s.screen_with_escapes();
        let (coloured, plain) = screen.split_once("SPLIT").unwrap();
        assert!(coloured.contains("2 products down") && coloured.contains("\x1b["), "{coloured}");
        assert!(plain.contains("2 products down") && !plain.contains("\x1b["), "{plain}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
async fn a_killed_session_releases_the_lease_and_keeps_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (config, db, _server) = prepared(dir.path()).await;
    let command = format!("{} --config {}", bin().display(), config.display());
    tokio::task::spawn_blocking(move || {
        let s = Session::start(&command);
        s.wait_for("Orders (staging)");
        let held = wait(Duration::from_secs(20), || lease(&db)).expect("the board takes the lease");
        assert!(held.1 > 0);
        // What a dropped SSH session does: the terminal goes away, SIGHUP follows.
        s.kill();
        assert!(wait(Duration::from_secs(10), || lease(&db).is_none().then_some(())).is_some(), "lease released");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
        let polls: i64 = conn.query_row("SELECT count(*) FROM poll", [], |r| r.get(0)).unwrap();
        assert!(polls >= 1);
    })
    .await
    .unwrap();
}

#[test]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
fn the_demo_board_plays_its_story() {
    let s = Session::start(&format!("{} demo --speed 4", bin().display()));
    let first = s.wait_for("All data products operational");
    assert!(first.contains("20 of 20 products"), "{first}");
    // It says it is a demo, and what the story is doing.
    assert!(first.contains("DEMO") && first.contains("demo: all healthy"), "{first}");
    // The story moves on by itself: a unique test fails.
    let later = s.wait_for(" down  ");
    assert!(later.contains("Orders (raw)"), "{later}");
    s.keys(&["i"]);
    s.wait_for("incidents ·");
    s.keys(&["q"]);
    assert!(wait(Duration::from_secs(10), || (!s.alive()).then_some(())).is_some());
}
