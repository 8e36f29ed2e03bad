//! Secrets never leave: a fake Airflow and dbt Cloud that echo each request back in their
//! error bodies (the Authorization header, the login body with the password), and every
//! place a secret could surface is searched for the known values: debug logs, error
//! output, `poll --json`, `status --json`, `config check`, the SQLite files' bytes and the
//! board's screen in a real terminal.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::story::{self, Story, chapter};
use common::tmux::{Session, bin};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PASSWORD: &str = "S3cret-airflow-pw-4417";
const DBT_TOKEN: &str = "dbtc_S3cret-token-9931";

/// Which answers echo the request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Echo {
    Off,
    /// dbt Cloud only.
    Dbt,
    /// Airflow's API (logins pass, so the issued token is sent and echoed).
    Airflow,
    /// Airflow's login (the password in the body is echoed).
    Login,
}

#[derive(Clone)]
struct Echoing {
    story: Story,
    echo: Arc<Mutex<Echo>>,
}

impl Respond for Echoing {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let echo = *self.echo.lock().unwrap();
        let path = request.url.path();
        let dbt = path.starts_with("/api/v2/accounts/");
        let login = path == "/auth/token";
        let echoes = match echo {
            Echo::Off => false,
            Echo::Dbt => dbt,
            Echo::Airflow => !dbt && !login,
            Echo::Login => login,
        };
        if !echoes {
            return self.story.respond(request);
        }
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let said = format!(
            "refused {} with Authorization: {auth} and body {}",
            request.url,
            String::from_utf8_lossy(&request.body)
        );
        match echo {
            Echo::Dbt => {
                ResponseTemplate::new(401).set_body_json(json!({"status": {"code": 401, "user_message": said}}))
            }
            Echo::Login => ResponseTemplate::new(401).set_body_json(json!({"detail": said})),
            _ => ResponseTemplate::new(503).set_body_json(json!({"detail": said})),
        }
    }
}

/// Config text for the fake: `auth` is "password" (a JWT from /auth/token) or "basic".
fn config_text(url: &str, db: &Path, auth: &str) -> String {
    story::config(url, db)
        .replace("auth = \"password\"", &format!("auth = \"{auth}\""))
        .replace("password = \"admin\"", "password_env = \"AIRFLOW_PASSWORD\"")
        .replace("token = \"dbt-token\"", "token_env = \"DBT_CLOUD_TOKEN\"")
}

struct Run {
    dir: PathBuf,
    texts: Vec<(String, String)>,
}

impl Run {
    fn tablestat(&mut self, label: &str, config: &Path, args: &[&str]) -> std::process::Output {
        let out = Command::new(bin())
            .arg("--config")
            .arg(config)
            .args(args)
            .env("AIRFLOW_PASSWORD", PASSWORD)
            .env("DBT_CLOUD_TOKEN", DBT_TOKEN)
            .env("TABLESTAT_LOG", "debug")
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        self.keep(&format!("{label}: stdout"), String::from_utf8_lossy(&out.stdout).to_string());
        self.keep(&format!("{label}: stderr"), String::from_utf8_lossy(&out.stderr).to_string());
        out
    }

    fn keep(&mut self, label: &str, text: String) {
        self.texts.push((label.to_string(), text));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_logs_output_database_or_screen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (_, story) = story::start(chapter(1, "success", "all_pass")).await;
    let server = MockServer::start().await;
    let echo = Arc::new(Mutex::new(Echo::Off));
    Mock::given(any()).respond_with(Echoing { story: story.clone(), echo: echo.clone() }).mount(&server).await;
    let jwt_config = dir.path().join("jwt.toml");
    let basic_config = dir.path().join("basic.toml");
    for (path, auth) in [(&jwt_config, "password"), (&basic_config, "basic")] {
        std::fs::write(path, config_text(&server.uri(), &db, auth)).unwrap();
    }
    let jwt = serde_json::from_str::<serde_json::Value>(&common::fake::body("airflow3/auth_token_201.json")).unwrap()
        ["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let secrets = [PASSWORD.to_string(), DBT_TOKEN.to_string(), jwt, basic_auth_on_the_wire()];

    let mut run = Run { dir: dir.path().to_path_buf(), texts: Vec::new() };
    let set = move |mode: Echo| *echo.lock().unwrap() = mode;
    let board_log = dir.path().join("state/tablestat/tablestat.log");
    let screens = tokio::task::spawn_blocking({
        let story = story.clone();
        move || {
            let out = run.tablestat("a good poll", &jwt_config, &["poll", "--once"]);
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            // A failed build: its artifacts are needed, and dbt Cloud echoes its token.
            story.set(chapter(2, "failed", "test_failures"));
            set(Echo::Dbt);
            run.tablestat("dbt Cloud echoes", &jwt_config, &["poll", "--once", "--json"]);
            set(Echo::Airflow);
            run.tablestat("Airflow echoes the JWT", &jwt_config, &["poll", "--once", "--json"]);
            set(Echo::Login);
            run.tablestat("the login echoes the password", &jwt_config, &["poll", "--once", "--json"]);
            set(Echo::Airflow);
            run.tablestat("Airflow echoes basic auth", &basic_config, &["poll", "--once", "--json"]);
            run.tablestat("config check", &basic_config, &["config", "check"]);
            run.tablestat("status", &basic_config, &["status", "--json"]);
            run.tablestat("status text", &basic_config, &["status"]);

            // The board, polling against the echoing fake: the list and a detail.
            let command = format!(
                "env AIRFLOW_PASSWORD={PASSWORD} DBT_CLOUD_TOKEN={DBT_TOKEN} TABLESTAT_LOG=debug XDG_STATE_HOME={} {} --config {}",
                run.dir.join("state").display(),
                bin().display(),
                basic_config.display()
            );
            let session = Session::start(&command);
            let list = session.wait_for("last poll failed");
            session.keys(&["Home", "Enter"]);
            let detail = session.wait_for("metrics · uptime");
            session.keys(&["q"]);
            run.keep("board list", list);
            run.keep("board detail", detail);
            run
        }
    })
    .await
    .unwrap();
    let mut run = screens;
    run.keep("board log", std::fs::read_to_string(&board_log).unwrap_or_default());
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        if let Ok(bytes) = std::fs::read(&path) {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is private", path.display());
            run.keep(&format!("history.db{suffix} bytes"), String::from_utf8_lossy(&bytes).to_string());
        }
    }

    let mut leaks = Vec::new();
    for (label, text) in &run.texts {
        for secret in &secrets {
            if text.contains(secret.as_str()) {
                let at = text.find(secret.as_str()).unwrap();
                let around = String::from_utf8_lossy(
                    &text.as_bytes()[at.saturating_sub(160)..(at + secret.len() + 40).min(text.len())],
                );
                leaks.push(format!("{label}: …{around}…"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    // The test bites: the echoes reached the outputs, blanked.
    for label in ["dbt Cloud echoes: stdout", "Airflow echoes the JWT: stdout", "the login echoes the password: stdout"]
    {
        let text = &run.texts.iter().find(|(l, _)| l == label).unwrap().1;
        assert!(text.contains("refused") && text.contains("***"), "{label}: the echo should show, blanked: {text}");
    }
}

/// The form a basic-auth password takes in the Authorization header.
fn basic_auth_on_the_wire() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"))
}

/// The Airflow 3 login redirected (307 and 308 re-send the body, the password) to another
/// origin: not followed, nothing reaches the other host, and the products are `unknown`
/// with a reason that says where the redirect pointed.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_never_follow_a_redirect_to_another_origin() {
    use common::proxy::{Fault, FaultProxy};
    let airflow = common::fake::airflow3().await;
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_raw(common::fake::body("airflow3/auth_token_201.json"), "application/json"),
        )
        .mount(&elsewhere)
        .await;
    for status in [307, 308, 302] {
        let dir = tempfile::tempdir().unwrap();
        let proxy = FaultProxy::start(&airflow.uri()).await;
        let location = format!("{}/auth/token", elsewhere.uri());
        proxy.arm_path("/auth/token", Fault::Redirect { status, location: location.clone() });
        let config = dir.path().join("tablestat.toml");
        let text = common::fake::config_text(&proxy.uri(), "v2", "password", &[("p", "customers_hourly", None)])
            + &format!("\n[store]\npath = \"{}\"\n", dir.path().join("history.db").display());
        std::fs::write(&config, text).unwrap();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(bin()).arg("--config").arg(&config).args(["poll", "--once", "--json"]).output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("redirected to another origin ({location}), not followed")),
            "{status}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["products"][0]["state"], "unknown", "{status}");
        let leaked = elsewhere.received_requests().await.unwrap_or_default();
        assert!(leaked.is_empty(), "{status}: the other origin got {} request(s)", leaked.len());
    }
}
