//! TLS against an internal Airflow: a CA made here, a server certificate it signed, and a
//! TLS front for the fake. Trusted through `ca_file` it works; without it the products are
//! `unknown` with a plain reason; `insecure_skip_verify` works and is warned about loudly.

use std::path::Path;
use std::sync::Arc;

use crate::common::fake::{self, config_text};
use chrono::{TimeZone, Utc};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tablestat::config::Config;
use tablestat::model::State;
use tablestat::poller::{Engine, Prior};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA (its PEM) and a TLS front on `https://localhost:PORT` for `upstream`, with a
/// certificate that CA signed.
async fn tls_front(upstream: std::net::SocketAddr) -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "tablestat test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca_cert, &ca_key)
        .unwrap();
    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let config = ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to relay.
                let Ok(mut tls) = acceptor.accept(socket).await else { return };
                let mut plain = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (format!("https://localhost:{port}"), ca_cert.pem())
}

const PRODUCTS: &[(&str, &str, Option<&str>)] = &[("orders", "orders_daily", Some("dbt_build"))];

/// The Airflow 2 fake behind TLS; `extra` goes into `[airflow]`.
fn config(dir: &Path, url: &str, extra: &str) -> Config {
    let text = config_text(url, "v1", "basic", PRODUCTS).replacen(
        "timeout = \"2s\"\n",
        &format!("timeout = \"2s\"\n{extra}"),
        1,
    );
    let path = dir.join("tablestat.toml");
    std::fs::write(&path, &text).unwrap();
    // It holds the password: private, so the only warnings are about TLS.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    Config::load(&path).unwrap()
}

async fn poll(config: Config) -> (State, String) {
    let mut engine = Engine::new(Arc::new(config)).unwrap();
    let result = engine.poll(&Prior::default(), Utc.with_ymd_and_hms(2026, 11, 24, 1, 20, 0).unwrap()).await;
    let orders = &result.checked[0].evaluation;
    (orders.state, orders.metrics[0].1.reason.clone())
}

#[tokio::test]
async fn an_internal_ca_is_trusted_through_ca_file_and_only_then() {
    let server = fake::airflow2().await;
    let (url, ca_pem) = tls_front(*server.address()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("internal-ca.pem"), ca_pem).unwrap();

    // Trusted: the relative ca_file is found next to the config.
    let (state, reason) = poll(config(dir.path(), &url, "ca_file = \"internal-ca.pem\"\n")).await;
    assert_eq!((state, reason.as_str()), (State::Up, "DAG orders_daily is active"));
    // The CA is trusted, but its certificate names localhost, not 127.0.0.1.
    let by_address = url.replace("localhost", "127.0.0.1");
    let (state, reason) = poll(config(dir.path(), &by_address, "ca_file = \"internal-ca.pem\"\n")).await;
    assert_eq!(state, State::Unknown);
    assert!(reason.contains("certificate not valid for name \"127.0.0.1\""), "{reason}");

    // Not trusted: unknown, and the reason says what to do.
    let trusting_nobody = config(dir.path(), &url, "");
    assert!(trusting_nobody.warnings.is_empty(), "{:?}", trusting_nobody.warnings);
    let (state, reason) = poll(trusting_nobody).await;
    assert_eq!(state, State::Unknown);
    assert!(
        reason.contains(
            "TLS: certificate not trusted (invalid peer certificate: UnknownIssuer): set ca_file in [airflow]"
        ),
        "{reason}"
    );

    // Skipping the check works, and says so on every start.
    let reckless = config(dir.path(), &url, "insecure_skip_verify = true\n");
    assert_eq!(reckless.warnings.len(), 1);
    assert!(
        reckless.warnings[0].starts_with("[airflow] insecure_skip_verify = true: TLS certificates are NOT checked")
    );
    assert_eq!(poll(reckless).await.0, State::Up);

    // A ca_file that is not a certificate is said plainly.
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let (state, reason) = poll(config(dir.path(), &url, "ca_file = \"empty.pem\"\n")).await;
    assert_eq!(state, State::Unknown);
    assert!(reason.contains("TLS: ca_file ") && reason.contains("empty.pem holds no PEM certificate"), "{reason}");
}

/// `config check` (and every command) prints the warning for each section that skips it.
#[test]
fn insecure_skip_verify_is_warned_on_every_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tablestat.toml");
    let text = config_text("https://airflow.example.com", "v1", "none", PRODUCTS).replacen(
        "timeout = \"2s\"\n",
        "timeout = \"2s\"\ninsecure_skip_verify = true\n",
        1,
    ) + "\n[dbt]\nsource = \"cloud\"\nurl = \"https://ab123.us1.dbt.com\"\naccount_id = 1\ntoken_env = \"T\"\n\
           insecure_skip_verify = true\n";
    std::fs::write(&path, text).unwrap();
    let out = assert_cmd::Command::cargo_bin("tablestat")
        .unwrap()
        .env("T", "a-token")
        .args(["config", "check", "--offline", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for section in ["[airflow]", "[dbt]"] {
        assert!(
            stderr.contains(&format!(
                "tablestat: warning: {section} insecure_skip_verify = true: TLS certificates are NOT checked"
            )),
            "{stderr}"
        );
    }
}

/// A webhook receiver inside the company, its certificate signed by an internal CA: with
/// `ca_file` the events are delivered; without it each attempt records the untrusted
/// certificate; a `ca_file` that cannot be read is said on each attempt and by `config check`.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_behind_an_internal_ca_is_trusted_through_its_ca_file() {
    use crate::common::pipeline::Pipeline;
    use crate::common::story::{self, chapter};
    use tablestat::notify::deliver::Deliverer;
    use tablestat::store::Store;
    use tablestat::store::worker::StoreHandle;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let receiver = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let (url, ca_pem) = tls_front(*receiver.address()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("internal-ca.pem"), ca_pem).unwrap();
    let db = dir.path().join("history.db");
    let (server, story) = story::start(chapter(1, "success", "all_pass")).await;
    let hook = |name: &str, extra: &str| format!("\n[[notify]]\nname = \"{name}\"\nurl = \"{url}/hook\"\n{extra}");
    let text = story::config(&server.uri(), &db)
        + &hook("trusted", "ca_file = \"internal-ca.pem\"\n")
        + &hook("untrusted", "")
        + &hook("misconfigured", "ca_file = \"missing.pem\"\n");
    let config = Arc::new(Config::parse(&dir.path().join("tablestat.toml"), &text).unwrap());
    let store = StoreHandle::spawn(Store::open(&db).unwrap()).unwrap();
    let deliverer = Deliverer::new(config.notify.clone(), config.base_dir(), None);
    let mut pipeline = Pipeline::new(Engine::new(Arc::clone(&config)).unwrap(), store.clone());
    pipeline.poll(Utc.with_ymd_and_hms(2026, 11, 21, 1, 20, 0).unwrap()).await;
    story.set(chapter(2, "failed", "test_failures"));
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 1, 20, 0).unwrap();
    pipeline.poll(now).await;

    deliverer.round(&store, now.timestamp()).await;
    // Per webhook: deliveries made, and the last error of those not made.
    let read = rusqlite::Connection::open(&db).unwrap();
    let outcome = |name: &str| -> (usize, usize, String) {
        read.query_row(
            "SELECT count(delivered_at), count(*), coalesce(max(last_error), '') FROM delivery WHERE target = ?1",
            [name],
            |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize, r.get(2)?)),
        )
        .unwrap()
    };
    let (delivered, owed, error) = outcome("trusted");
    assert!(owed > 0 && delivered == owed && error.is_empty(), "{delivered} of {owed} delivered: {error}");
    assert_eq!(receiver.received_requests().await.unwrap().len(), delivered);
    let (delivered, owed, error) = outcome("untrusted");
    assert!(owed > 0 && delivered == 0 && error.contains("UnknownIssuer"), "{delivered} of {owed}: {error}");
    let (delivered, _, error) = outcome("misconfigured");
    assert!(delivered == 0 && error.contains("cannot read ca_file") && error.contains("missing.pem"), "{error}");

    // `config check` names the webhook and its unreadable ca_file, and says the other read.
    let path = dir.path().join("tablestat.toml");
    std::fs::write(&path, &text).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("tablestat").unwrap().args(["config", "check", "--config"]).arg(&path).output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("FAILED [[notify]] `misconfigured` ca_file: cannot read ca_file"), "{stdout}");
    assert_eq!(out.status.code(), Some(78), "{stdout}");
    assert!(!stdout.contains("`trusted`") && !stdout.contains("`untrusted`"), "{stdout}");
}
