//! Secrets never leave: a fake Airflow and dbt Cloud that echo each request back in their
//! error bodies (the Authorization header, the login body with the password), and every
//! place a secret could surface is searched for the known values: debug logs, error
//! output, `poll --json`, `status --json`, `config check`, the SQLite files' bytes and the
//! board's screen in a real terminal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::common::story::{self, Story, chapter};
use crate::common::tmux::{Session, bin};
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
#[ignore = "needs tmux (apt-get install tmux; .ci/run installs it)"]
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
    let jwt = serde_json::from_str::<serde_json::Value>(&crate::common::fake::body("airflow3/auth_token_201.json"))
        .unwrap()["access_token"]
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
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&board_log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the board's log holds what the sources said: private like the database");
    }
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
    use crate::common::proxy::{Fault, FaultProxy};
    let airflow = crate::common::fake::airflow3().await;
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_raw(crate::common::fake::body("airflow3/auth_token_201.json"), "application/json"),
        )
        .mount(&elsewhere)
        .await;
    for status in [307, 308, 302] {
        let dir = tempfile::tempdir().unwrap();
        let proxy = FaultProxy::start(&airflow.uri()).await;
        let location = format!("{}/auth/token", elsewhere.uri());
        proxy.arm_path("/auth/token", Fault::Redirect { status, location: location.clone() });
        let config = dir.path().join("tablestat.toml");
        let text = crate::common::fake::config_text(&proxy.uri(), "v2", "password", &[("p", "customers_hourly", None)])
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

/// A webhook receiver that echoes the request: the path ("Cannot POST /services/…/<secret>"),
/// or the whole URL placed so that the 120-character cut falls inside the secret. Neither
/// the secret nor a piece of it reaches the delivery's error, the database or the board. A
/// receiver that redirects to another origin is not followed.
#[tokio::test(flavor = "multi_thread")]
async fn an_echoing_webhook_receiver_never_gets_its_secret_stored() {
    use chrono::{FixedOffset, TimeZone, Utc};
    use tablestat::notify::deliver::Deliverer;
    const TOKEN: &str = "S3cretWebhookToken7781XYZ";
    struct Echo {
        whole_url: bool,
    }
    impl Respond for Echo {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let said = if self.whole_url {
                let url = request.url.to_string();
                // The cut at 120 characters lands ten characters before the URL's end.
                let pad = 120usize.saturating_sub("Cannot POST ".len() + url.len() - 10);
                format!("{}Cannot POST {url}", "x".repeat(pad))
            } else {
                format!("Cannot POST {}", request.url.path())
            };
            ResponseTemplate::new(404).set_body_string(said)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let mut hooks = String::new();
    let mut receivers = Vec::new();
    for (name, whole_url) in [("echo-path", false), ("echo-url", true)] {
        let receiver = MockServer::start().await;
        Mock::given(any()).respond_with(Echo { whole_url }).mount(&receiver).await;
        hooks.push_str(&format!(
            "\n[[notify]]\nname = \"{name}\"\nformat = \"slack\"\nurl = \"{}/services/T000/B000/{TOKEN}\"\n",
            receiver.uri()
        ));
        receivers.push(receiver);
    }
    // A third receiver redirects (307: the payload would be sent again) to another origin.
    let elsewhere = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200)).mount(&elsewhere).await;
    let redirecting = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/services/T000/B000/{TOKEN}", elsewhere.uri())),
        )
        .mount(&redirecting)
        .await;
    hooks.push_str(&format!(
        "\n[[notify]]\nname = \"redirecting\"\nurl = \"{}/services/T000/B000/{TOKEN}\"\n",
        redirecting.uri()
    ));
    let text = story::config(&server.uri(), &db) + &hooks;
    let config = Arc::new(tablestat::config::Config::parse(&dir.path().join("t.toml"), &text).unwrap());
    let store = tablestat::store::worker::StoreHandle::spawn(tablestat::store::Store::open(&db).unwrap()).unwrap();
    let deliverer = Deliverer::new(config.notify.clone(), config.base_dir(), None);
    let mut pipeline =
        crate::common::pipeline::Pipeline::new(tablestat::poller::Engine::new(config).unwrap(), store.clone());
    let t = |m: u32| Utc.with_ymd_and_hms(2026, 11, 21, 4, m, 0).unwrap();
    pipeline.poll(t(0)).await;
    story.set(chapter(2, "failed", "test_failures"));
    pipeline.poll(t(4)).await;
    assert!(deliverer.round(&store, t(4).timestamp()).await);
    for receiver in &receivers {
        assert!(!receiver.received_requests().await.unwrap().is_empty(), "the receivers were asked");
    }
    assert!(elsewhere.received_requests().await.unwrap().is_empty(), "a webhook is never sent to another origin");
    let ts = t(4).timestamp();
    let snapshot = store.call(move |s| s.snapshot(ts, FixedOffset::east_opt(0).unwrap())).await.unwrap().unwrap();
    let (_, shown) = snapshot.notify.last_failure.clone().expect("the deliveries failed");
    drop((pipeline, store));
    let errors: Vec<(String, String)> = rusqlite::Connection::open(&db)
        .unwrap()
        .prepare("SELECT target, last_error FROM delivery ORDER BY target")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let piece = &TOKEN[..8];
    for (target, error) in errors.iter().chain([&("board header".to_string(), shown)]) {
        assert!(!error.contains(piece), "{target}: {error}");
        let expected = if target == "redirecting" { "redirected to another origin (" } else { "HTTP 404: " };
        if target != "board header" {
            assert!(error.starts_with(expected) && error.contains("***"), "{target}: the echo shows, blanked: {error}");
        }
    }
    let targets: std::collections::BTreeSet<&str> = errors.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(targets.len(), 3, "{errors:?}");
    for suffix in ["", "-wal"] {
        let bytes = std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(piece), "history.db{suffix} holds a piece of the webhook's secret");
    }
}

/// An Airflow login error that echoes the password in every encoding a server may use —
/// JSON-escaped, URL-encoded with %20 and with +, and basic auth's base64 of user:password —
/// for a password holding `"`, `\`, `@`, `+` and a space: none reaches `poll --once`,
/// `status` or the exported page.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_echoed_in_any_encoding_is_blanked() {
    const TRICKY: &str = "pa ss\"w\\o@rd+1";
    let forms = tablestat::config::echo_forms(TRICKY);
    let basic = tablestat::config::basic_auth_form("admin", TRICKY);
    #[derive(Clone)]
    struct EchoesEncoded {
        story: Story,
        said: String,
    }
    impl Respond for EchoesEncoded {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            if request.url.path() == "/auth/token" {
                return ResponseTemplate::new(401).set_body_json(json!({"detail": self.said}));
            }
            self.story.respond(request)
        }
    }
    let encoded: Vec<String> = forms.iter().filter(|f| f.as_str() != TRICKY).cloned().collect();
    assert!(encoded.len() >= 4, "{encoded:?}");
    let said = format!("bad login {} and {basic} {}", encoded.join(" and "), "!".repeat(150));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let (_, story) = story::start(chapter(1, "success", "all_pass")).await;
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(EchoesEncoded { story, said }).mount(&server).await;
    let config = dir.path().join("t.toml");
    std::fs::write(&config, config_text(&server.uri(), &db, "password")).unwrap();
    let site = dir.path().join("site");
    let mut run = Run { dir: dir.path().to_path_buf(), texts: Vec::new() };
    let run = tokio::task::spawn_blocking(move || {
        let out = Command::new(bin())
            .arg("--config")
            .arg(&config)
            .args(["poll", "--once", "--json"])
            .env("AIRFLOW_PASSWORD", TRICKY)
            .env("DBT_CLOUD_TOKEN", DBT_TOKEN)
            .output()
            .unwrap();
        run.keep("poll --once --json", String::from_utf8_lossy(&out.stdout).to_string());
        run.keep("poll stderr", String::from_utf8_lossy(&out.stderr).to_string());
        run.tablestat("status", &config, &["status"]);
        run.tablestat("export", &config, &["export", "html", site.to_str().unwrap()]);
        for file in ["index.html", "status.json"] {
            run.keep(file, std::fs::read_to_string(site.join(file)).unwrap_or_default());
        }
        run
    })
    .await
    .unwrap();
    let poll = &run.texts[0].1;
    assert!(poll.contains("bad login ***"), "the echo shows, blanked: {poll}");
    for (label, text) in &run.texts {
        for form in forms.iter().chain([&basic]) {
            assert!(!text.contains(form.as_str()), "{label} holds the password as {form:?}: {text}");
        }
    }
}
