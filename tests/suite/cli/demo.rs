//! `tablestat demo --headless`: the story's states, in order, through the real binary,
//! the real poller and real HTTP to the simulated servers.

use assert_cmd::Command;
use serde_json::Value;

fn state_of<'a>(doc: &'a Value, id: &str) -> &'a str {
    doc["products"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("{id}"))["state"]
        .as_str()
        .unwrap()
}

#[test]
fn the_demo_story_plays_in_order() {
    let output = Command::cargo_bin("tablestat")
        .unwrap()
        .args(["demo", "--headless", "--speed", "200", "--seed", "7"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let docs: Vec<Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let overall: Vec<&str> = docs.iter().map(|d| d["overall"].as_str().unwrap()).collect();
    assert_eq!(overall, ["up", "down", "down", "down", "down", "down", "up"]);
    assert_eq!(docs[0]["summary"]["up"], 20, "about 20 products, all healthy");
    // A uniqueness test fails: stg_orders down with an incident.
    assert_eq!(state_of(&docs[1], "stg_orders"), "down");
    let stg = docs[1]["products"].as_array().unwrap().iter().find(|p| p["id"] == "stg_orders").unwrap();
    assert_eq!(stg["metrics"]["uniqueness"]["reason"], "unique test on order_id failed: 2 duplicated values");
    assert_eq!(stg["incident"]["status"], "investigating");
    // A DAG gets paused.
    assert_eq!(state_of(&docs[2], "ad_spend"), "down");
    // Maintenance for Finance.
    assert_eq!(docs[3]["summary"]["maintenance"], 5);
    assert_eq!(state_of(&docs[3], "invoices"), "maintenance");
    // A source goes stale: raw.customers warns.
    assert_eq!(state_of(&docs[4], "stg_customers"), "degraded");
    assert_eq!(state_of(&docs[4], "ad_spend"), "up", "unpaused");
    // A model error: the marts are not refreshed; maintenance has ended.
    let marts = docs[5]["products"].as_array().unwrap().iter().find(|p| p["id"] == "fct_orders").unwrap();
    assert_eq!(marts["metrics"]["freshness"]["reason"], "not rebuilt: upstream model stg_payments failed");
    assert_eq!(docs[5]["summary"]["maintenance"], 0);
    // All recover; 90 days of history give uptime.
    assert_eq!(docs[6]["summary"]["up"], 20);
    assert!(docs[6]["products"][0]["uptime"]["90d"].as_f64().unwrap() > 90.0);
}

/// `demo --headless | head -1`: the reader goes away, the demo ends quietly (exit 0) and its
/// scratch folder goes with it: nothing below `main` exits the process, so its cleanup runs.
#[test]
fn a_closed_pipe_ends_the_demo_quietly_and_cleanly() {
    use std::io::BufRead;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
        .args(["demo", "--headless", "--speed", "20"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("{\"generated_at\""), "{first}");
    // The reader (head -1) is gone: the next line the demo writes meets a closed pipe.
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("cannot write"));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the scratch folder is removed: {left:?}");
}

/// Ctrl-C, SIGTERM and a hang-up stop `demo --headless` cleanly: its scratch folder goes.
#[test]
fn signals_end_the_headless_demo_and_remove_its_folder() {
    use std::io::BufRead;
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
            .args(["demo", "--headless", "--speed", "1"])
            .env("TMPDIR", tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // The first document is out: the demo is under way, its folder exists, and one
        // name per user leads other commands to its config.
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
        let link = tmp.path().join(format!("tablestat-demo-{}.toml", unsafe { libc::getuid() }));
        let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
            .arg("-c")
            .arg(&link)
            .args(["status", "--json"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&status.stdout).contains("\"products\""), "{status:?}");
        // SAFETY: kill sends a signal to our own child; no memory is involved.
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "signal {signal}");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "signal {signal}: the scratch folder is removed: {left:?}");
    }
}
