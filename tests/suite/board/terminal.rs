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
        s.wait_for("help · j/k scroll");
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

/// On call at 80x24, the demo story played through untouched: at every moment every down
/// product the header counts is a row on screen, and the header keeps the last poll's time.
#[test]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
fn at_80x24_every_down_row_stays_on_the_first_screen() {
    let s = Session::start(&format!("{} demo --speed 6", bin().display()));
    s.wait_for("20 of 20 products");
    let count = |header: &str| -> usize {
        header
            .split("✖ ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let check = |screen: &str| -> Result<usize, String> {
        let lines: Vec<&str> = screen.lines().collect();
        let down = count(lines[0]);
        // Product rows are indented under their group; group headings are not.
        let rows = lines.iter().filter(|l| l.starts_with("✖  ")).count();
        if rows != down {
            return Err(format!("header counts {down} down, {rows} on screen:\n{screen}"));
        }
        if !lines[1].contains("last poll") {
            return Err(format!("the header lost the last poll:\n{screen}"));
        }
        Ok(down)
    };
    let mut worst = 0;
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < until {
        // A capture can fall between two writes of one frame: a mismatch must hold twice.
        let down = check(&s.screen()).or_else(|_| {
            std::thread::sleep(Duration::from_millis(300));
            check(&s.screen())
        });
        worst = worst.max(down.unwrap_or_else(|e| panic!("{e}")));
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(worst >= 3, "the story took products down (at most {worst} were)");
}

/// A terminal without a UTF-8 locale gets ASCII symbols and rules.
#[test]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
fn lang_c_gives_ascii() {
    let s = Session::start(&format!("env LANG=C LC_ALL= LC_CTYPE= {} demo", bin().display()));
    let screen = s.wait_for("+ 20 up");
    let odd: String = screen.chars().filter(|c| !c.is_ascii()).collect();
    assert!(odd.is_empty(), "not ASCII: {odd:?} in\n{screen}");
}

/// A CJK name in a real terminal: cut by display width, the metric cells after it stay in
/// line with the others'.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
async fn a_cjk_name_keeps_the_columns_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _db, _server) = prepared(dir.path()).await;
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("name = \"Payments (staging)\"", "name = \"支払い 💳 ステージングの明細テーブル\"", 1),
    )
    .unwrap();
    let command = format!("{} --config {}", bin().display(), config.display());
    tokio::task::spawn_blocking(move || {
        let s = Session::start(&command);
        let screen = s.wait_for("支払い");
        // The display column where each product row's first metric cell starts.
        let cell = |line: &str| -> Option<usize> {
            let name_end = line.char_indices().skip(3).find(|(_, c)| "✔✖▲?◆".contains(*c))?.0;
            Some(unicode_width::UnicodeWidthStr::width(&line[..name_end]))
        };
        let rows: Vec<&str> = screen.lines().filter(|l| l.starts_with("✔  ") || l.starts_with("✖  ")).collect();
        let columns: Vec<Option<usize>> = rows.iter().map(|l| cell(l)).collect();
        assert!(rows.len() >= 3 && columns.windows(2).all(|w| w[0] == w[1] && w[0].is_some()), "{screen}");
        s.keys(&["q"]);
    })
    .await
    .unwrap();
}
