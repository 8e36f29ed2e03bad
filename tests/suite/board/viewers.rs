//! Many viewers, one poller, one database (a SQLite file, and a PostgreSQL database): the
//! poller polls every second while the fake pipeline flips between green and a failed build;
//! eight `status --json` loops and two boards in tmux read all the while. No viewer ever shows "database is locked" (or any
//! error), and once the pipeline settles every viewer shows the poller's final state.
//!
//! `TABLESTAT_VIEWERS_SECS` sets how long the flipping lasts (default 60).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::backend::Place;
use crate::common::story::{self, chapter, nth_run};
use crate::common::tmux::{Session, bin};
use tablestat::model::State;

/// One `status --json` run: its exit code, stderr, and each product's state.
struct Seen {
    code: Option<i32>,
    stderr: String,
    states: Vec<(String, String)>,
}

fn status(config: &Path) -> Seen {
    let out = Command::new(bin()).arg("--config").arg(config).args(["status", "--json"]).output().unwrap();
    let states = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|doc| {
            doc["products"].as_array().map(|products| {
                products
                    .iter()
                    .map(|p| {
                        (p["id"].as_str().unwrap_or("").to_string(), p["state"].as_str().unwrap_or("").to_string())
                    })
                    .collect()
            })
        })
        .unwrap_or_default();
    Seen { code: out.status.code(), stderr: String::from_utf8_lossy(&out.stderr).to_string(), states }
}

/// The current state of each product, straight from the database, by product.
fn stored_states(place: &Place) -> Vec<(String, String)> {
    place
        .texts(
            "SELECT s.product || '|' || CASE v.state WHEN 0 THEN 'down' WHEN 1 THEN 'degraded' WHEN 2 THEN 'unknown' ELSE 'up' END \
             FROM series s JOIN span sp ON sp.series = s.id AND sp.start = (SELECT max(start) FROM span WHERE series = s.id) \
             JOIN verdict v ON v.id = sp.verdict WHERE s.metric = ''",
        )
        .into_iter()
        .filter_map(|row| row.split_once('|').map(|(product, state)| (product.to_string(), state.to_string())))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
async fn ten_viewers_and_one_poller_share_a_sqlite_file() {
    ten_viewers_and_one_poller_share_the_database(&Place::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs tmux and PostgreSQL (apt-get install tmux postgresql; .ci/run installs them)"]
async fn ten_viewers_and_one_poller_share_a_postgres_database() {
    ten_viewers_and_one_poller_share_the_database(&Place::postgres()).await;
}

async fn ten_viewers_and_one_poller_share_the_database(place: &Place) {
    place.migrate();
    let dir = tempfile::tempdir().unwrap();
    let beside = dir.path().join("history.db");
    let config = dir.path().join("tablestat.toml");
    let state = dir.path().join("state");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let text = story::with_store(&story::config(&server.uri(), &beside), &beside, &place.store_section());
    std::fs::write(&config, text + "\n[poll]\ninterval = \"1s\"\n").unwrap();
    // The config holds the fake's password: private, so no warning is expected anywhere.
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let seconds: u64 = std::env::var("TABLESTAT_VIEWERS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);

    let result = tokio::task::block_in_place(|| {
        let poller_log = std::fs::File::create(dir.path().join("poller.log")).unwrap();
        let mut poller = crate::common::Reaped(Some(
            Command::new(bin())
                .arg("--config")
                .arg(&config)
                .arg("poll")
                .env("TABLESTAT_LOG", "info")
                .stdout(Stdio::null())
                .stderr(poller_log)
                .spawn()
                .unwrap(),
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        while stored_states(place).len() < 3 {
            assert!(Instant::now() < deadline, "the poller never wrote");
            std::thread::sleep(Duration::from_millis(100));
        }

        let boards: Vec<Session> = (0..2)
            .map(|_| {
                Session::start(&format!(
                    "env XDG_STATE_HOME={} NO_COLOR=1 {} --config {}",
                    state.display(),
                    bin().display(),
                    config.display()
                ))
            })
            .collect();
        let settled = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(AtomicUsize::new(0));
        let loops: Vec<_> = (0..8)
            .map(|_| {
                let (config, settled, runs) = (config.clone(), settled.clone(), runs.clone());
                std::thread::spawn(move || {
                    let mut troubles = Vec::new();
                    let mut saw_down = false;
                    loop {
                        // Read once more after the pipeline settled: that read must agree.
                        let last = settled.load(Ordering::SeqCst);
                        let seen = status(&config);
                        runs.fetch_add(1, Ordering::Relaxed);
                        if !matches!(seen.code, Some(0..=3)) || !seen.stderr.is_empty() {
                            troubles.push(format!("exit {:?}: {}", seen.code, seen.stderr));
                        }
                        saw_down |= seen.states.iter().any(|(_, state)| state == "down");
                        if last {
                            return (troubles, seen.states, saw_down);
                        }
                    }
                })
            })
            .collect();

        // Flip the pipeline every 3 s: each flip is a write the viewers must follow.
        let started = Instant::now();
        let mut flips = 0;
        while started.elapsed() < Duration::from_secs(seconds) {
            flips += 1;
            // Each flip a newer run: a failed build, then a green one.
            story.set(if flips % 2 == 1 {
                nth_run(flips, "failed", "test_failures")
            } else {
                nth_run(flips, "success", "all_pass")
            });
            std::thread::sleep(Duration::from_secs(3));
        }
        story.set(nth_run(flips + 1, "success", "all_pass"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while stored_states(place).iter().any(|(_, s)| s != "up") {
            assert!(
                Instant::now() < deadline,
                "the poller never wrote the final state: {:?}\n{}",
                stored_states(place),
                std::fs::read_to_string(dir.path().join("poller.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Writes stop here, so the last read of every viewer has one right answer (a poll
        // after this point may legitimately see something else on a loaded machine).
        let mut stopping = poller.0.take().unwrap();
        let stopped = Command::new("kill").args(["-TERM", &stopping.id().to_string()]).status().unwrap();
        assert!(stopped.success());
        assert_eq!(stopping.wait().unwrap().code(), Some(0), "the poller did not stop cleanly on SIGTERM");
        // Almost always all up; a poll in flight at the stop, slowed past its timeouts on a
        // loaded machine, may have said otherwise. Either way it is what every viewer must show.
        let final_states = stored_states(place);
        let summary = tablestat::status_doc::Summary::of(final_states.iter().filter_map(|(_, s)| State::parse(s)));
        // The board's header: every product up in words, else the count of the worst state.
        let final_verdict = match summary.nonzero().first() {
            Some((state, n)) if *state != State::Up => format!("{n} {state}"),
            _ => tablestat::status_doc::verdict_line(&summary),
        };
        settled.store(true, Ordering::SeqCst);
        let mut troubles = Vec::new();
        let mut converged = 0;
        for viewer in loops {
            let (trouble, mut last, saw_down) = viewer.join().unwrap();
            troubles.extend(trouble);
            assert!(saw_down, "a status viewer never saw a failed build: it did not follow the writes");
            last.sort();
            if last != final_states {
                let out = Command::new(bin()).arg("--config").arg(&config).args(["status", "--json"]).output().unwrap();
                let log = std::fs::read_to_string(dir.path().join("poller.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "a status viewer did not converge: saw {last:?}, the store holds {final_states:?}\nstatus now: {}\npoller log (newest first):\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    tail.join("\n")
                );
            }
            converged += 1;
        }
        for board in &boards {
            let screen = board.wait_for(&final_verdict);
            assert!(!screen.to_lowercase().contains("locked"), "{screen}");
            converged += 1;
        }
        drop(boards);
        let board_log = std::fs::read_to_string(state.join("tablestat/tablestat.log")).unwrap_or_default();
        let poller_log = std::fs::read_to_string(dir.path().join("poller.log")).unwrap_or_default();
        for (name, log) in [("board log", &board_log), ("poller log", &poller_log)] {
            for line in log.lines().filter(|l| l.contains("locked") || l.contains("busy")) {
                troubles.push(format!("{name}: {line}"));
            }
        }
        (troubles, converged, runs.load(Ordering::Relaxed), flips)
    });
    let (troubles, converged, runs, flips) = result;
    assert!(
        troubles.is_empty(),
        "{} viewer errors, e.g.:\n{}",
        troubles.len(),
        troubles[..troubles.len().min(5)].join("\n")
    );
    assert_eq!(converged, 10);
    eprintln!("{runs} status reads by 8 viewers and 2 boards over {flips} flips: no errors, all converged");
}
