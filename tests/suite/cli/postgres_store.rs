//! A config whose `[store] url` names a PostgreSQL database: the poller writes there and
//! `status` reads there, signing in with the password `password_file` holds; a wrong password
//! is refused with the server's reason and never said.

use std::path::Path;

use crate::common::postgres::{Database, PASSWORD};
use crate::common::story::{self, chapter};

fn tablestat(config: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
async fn poll_and_status_use_the_postgres_store_the_config_names() {
    let database = tokio::task::spawn_blocking(Database::new).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let beside = dir.path().join("history.db");
    let (server, _story) = story::start(chapter(2, "failed", "test_failures")).await;
    let secret = dir.path().join("pg-password");
    std::fs::write(&secret, format!("{PASSWORD}\n")).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let section = format!("url = \"{}\"\npassword_file = \"pg-password\"", database.url_with_password_role());
    let config = dir.path().join("tablestat.toml");
    std::fs::write(&config, story::with_store(&story::config(&server.uri(), &beside), &beside, &section)).unwrap();

    let run = move |args: &'static [&'static str]| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || tablestat(&config, args))
    };
    let poll = run(&["poll", "--once"]).await.unwrap();
    assert_eq!(poll.status.code(), Some(2), "{}", String::from_utf8_lossy(&poll.stderr));
    let status = run(&["status", "--json"]).await.unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let state = |id: &str| {
        doc["products"].as_array().unwrap().iter().find(|p| p["id"] == id).map(|p| p["state"].clone()).unwrap()
    };
    assert_eq!((state("stg_orders"), state("stg_payments")), ("down".into(), "up".into()));
    assert!(!beside.exists(), "no SQLite file was made");

    // A wrong password: the server's reason, the database's address, never the password.
    std::fs::write(&secret, "wrong-horse\n").unwrap();
    let refused = run(&["status"]).await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(74), "{stderr}");
    assert!(stderr.contains("password authentication failed for user \"tablestat\""), "{stderr}");
    assert!(stderr.contains("@127.0.0.1:"), "says which database: {stderr}");
    assert!(!stderr.contains("wrong-horse") && !stderr.contains(PASSWORD), "{stderr}");
}
