//! Hostile and broken input, table-driven: dbt artifacts of unknown schema versions, with
//! missing fields, wrong types, giant strings, deep nesting, or no JSON at all; and config
//! files as broken. Each gives a clear, bounded error (or reads fine), never a panic.

use std::path::Path;

use crate::common::fake::body;
use tablestat::config::Config;
use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex, RunResults, SourcesFile};

/// Longest error text a reason may carry (a reason is one line on the board).
const BOUND: usize = 1000;

fn parse(kind: ArtifactKind, bytes: &[u8]) -> Result<(), String> {
    match kind {
        ArtifactKind::Manifest => dbt::parse_artifact::<Manifest>(kind, bytes).map(|m| {
            ProjectIndex::new(m, &Default::default());
        }),
        ArtifactKind::RunResults => dbt::parse_artifact::<RunResults>(kind, bytes).map(drop),
        ArtifactKind::Sources => dbt::parse_artifact::<SourcesFile>(kind, bytes).map(drop),
    }
    .map_err(|e| e.to_string())
}

fn deep(open: &str, n: usize) -> String {
    open.repeat(n)
}

/// `prefix` then `open` n times, a value, and `close` n times: deep but well formed.
fn nested(prefix: &str, open: &str, close: &str, n: usize) -> String {
    format!("{prefix}{}1{}", open.repeat(n), close.repeat(n))
}

fn giant() -> String {
    "x".repeat(20 << 20)
}

/// A real artifact with one value replaced.
fn real_with(kind: ArtifactKind, from: &str, to: &str) -> Vec<u8> {
    let file = match kind {
        ArtifactKind::Manifest => "dbt/test_failures/manifest.json",
        ArtifactKind::RunResults => "dbt/test_failures/run_results.json",
        ArtifactKind::Sources => "dbt/source_stale/sources.json",
    };
    let text = body(file);
    assert!(text.contains(from), "{file} has no {from:?}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn broken_artifacts_give_clear_bounded_errors() {
    use ArtifactKind::*;
    let header = |kind: &str, v: u32| {
        format!(r#"{{"metadata": {{"dbt_schema_version": "https://schemas.getdbt.com/dbt/{kind}/v{v}.json"}}"#)
    };
    let cases: Vec<(&str, ArtifactKind, Vec<u8>, Option<&str>)> = vec![
        ("empty", Manifest, b"".to_vec(), Some("cannot read dbt manifest.json: the file is empty")),
        (
            "not JSON",
            RunResults,
            b"<html>502</html>".to_vec(),
            Some("cannot read dbt run_results.json: not valid JSON (expected value at line 1 column 1)"),
        ),
        (
            "truncated",
            Sources,
            body("dbt/source_stale/sources.json").as_bytes()[..300].to_vec(),
            Some("EOF while parsing"),
        ),
        (
            "unknown schema version",
            Manifest,
            format!("{}, \"nodes\": 3}}", header("manifest", 99)).into_bytes(),
            Some("(schema v99; this tablestat knows v10–v12)"),
        ),
        (
            "unknown schema version",
            RunResults,
            format!("{}, \"results\": {{}}}}", header("run-results", 42)).into_bytes(),
            Some("(schema v42; this tablestat knows v4–v6)"),
        ),
        (
            "missing results",
            RunResults,
            format!("{}}}", header("run-results", 6)).into_bytes(),
            Some("missing field `results`"),
        ),
        (
            "missing results",
            Sources,
            format!("{}}}", header("sources", 3)).into_bytes(),
            Some("missing field `results`"),
        ),
        (
            "wrong type",
            RunResults,
            real_with(RunResults, "\"status\": \"pass\"", "\"status\": 7"),
            Some("invalid type: integer `7`"),
        ),
        ("wrong type", Manifest, real_with(Manifest, "\"nodes\": {", "\"nodes\": [{"), Some("at `nodes`")),
        ("unknown status", RunResults, real_with(RunResults, "\"status\": \"pass\"", "\"status\": \"exploded\""), None),
        (
            "giant status",
            RunResults,
            real_with(RunResults, "\"status\": \"pass\"", &format!("\"status\": \"{}\"", giant())),
            None,
        ),
        (
            "giant message",
            RunResults,
            real_with(RunResults, "\"message\": null", &format!("\"message\": \"{}\"", giant())),
            None,
        ),
        (
            "giant node name",
            Manifest,
            real_with(Manifest, "\"name\": \"fct_orders\"", &format!("\"name\": \"{}\"", giant())),
            None,
        ),
        (
            "deep nesting",
            Manifest,
            deep("[", 1_000_000).into_bytes(),
            Some("cannot read dbt manifest.json: invalid type"),
        ),
        (
            "deep nesting, unclosed",
            RunResults,
            real_with(
                RunResults,
                "\"adapter_response\": {}",
                &format!("\"adapter_response\": {}", deep("{\"a\":", 100_000)),
            ),
            Some("at `results[23].adapter_response`"),
        ),
        (
            "deep nesting, balanced",
            RunResults,
            real_with(
                RunResults,
                "\"adapter_response\": {}",
                &nested("\"adapter_response\": ", "{\"a\":", "}", 100_000),
            ),
            None,
        ),
        (
            "deep nesting, balanced",
            Manifest,
            real_with(Manifest, "\"meta\": {}", &nested("\"meta\": ", "[", "]", 100_000)),
            None,
        ),
        ("binary", Sources, (0..=255u8).cycle().take(10_000).collect(), Some("cannot read dbt sources.json")),
    ];
    let mut failures = Vec::new();
    for (name, kind, bytes, expected) in cases {
        let outcome = parse(kind, &bytes);
        let ok = match (&outcome, expected) {
            (Err(e), Some(text)) => e.contains(text) && e.len() <= BOUND,
            (Ok(()), None) => true,
            // Where none is predicted, reading fine (a value skipped, however deep, or an
            // unknown status read as such) or a bounded error are both acceptable.
            (Err(e), None) => e.len() <= BOUND,
            (Ok(()), Some(_)) => false,
        };
        if !ok {
            let shown =
                outcome.map_err(|e| e.chars().take(300).collect::<String>() + &format!("… ({} bytes)", e.len()));
            failures.push(format!("{kind:?} {name}: wanted {expected:?}, got {shown:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn broken_configs_give_clear_errors() {
    let good = "[airflow]\nurl = \"http://localhost:8080\"\nauth = \"none\"\n\n[[product]]\nid = \"orders\"\ndag = \"orders_daily\"\n";
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "no products"),
        ("binary-ish", "\u{0}\u{1}\u{2}[".to_string(), "tablestat.toml:1:"),
        (
            "unknown key",
            good.replace("auth = \"none\"", "auth = \"none\"\npasword = \"x\""),
            "tablestat.toml:4:1: [airflow] pasword: unknown key `pasword`: did you mean `password`?",
        ),
        (
            "wrong type",
            good.replace("dag = \"orders_daily\"", "dag = 7"),
            "tablestat.toml:7:7: [[product]] #1 dag: integer `7` is not allowed here: write a quoted string, e.g. \"orders\"",
        ),
        ("deep arrays", format!("{good}\n[metrics.map]\nx = {}", deep("[", 100_000)), "tablestat.toml:"),
        ("deep tables", format!("{good}\n[metrics.map]\nx = {}", deep("{a = ", 100_000)), "tablestat.toml:"),
        ("giant key", format!("{good}\n{} = 1", "k".repeat(1 << 20)), "kkk…: unknown key `kkk"),
        (
            "a huge duration",
            good.replace("auth = \"none\"", "auth = \"none\"\ntimeout = \"99999999999999999999h\""),
            "is not a duration",
        ),
        ("escapes in the id", good.replace("id = \"orders\"", "id = \"\\u001b[2J\""), "must be letters, digits"),
    ];
    let mut failures = Vec::new();
    for (name, text, expected) in cases {
        match Config::parse(Path::new("/etc/tablestat.toml"), &text) {
            Ok(_) => failures.push(format!("{name}: parsed, wanted an error with {expected:?}")),
            Err(e) => {
                let message = e.to_string();
                if !message.contains(expected) || message.len() > BOUND {
                    let shown: String = message.chars().take(300).collect();
                    failures.push(format!("{name}: wanted {expected:?}, got {shown:?} ({} bytes)", message.len()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A `target/` whose manifest is a FIFO (no writer: opening it to read used to block the
/// poll forever) or `/dev/zero` (it used to grow to gigabytes): `poll --once` ends, and the
/// products are `unknown` saying the file is not a regular file.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_fifo_or_a_device_as_an_artifact_is_unknown_and_never_blocks_the_poll() {
    use crate::common::story::{self, chapter};
    // A failed dbt task: its artifacts are what says which tests failed.
    let (server, _story) = story::start(chapter(1, "failed", "test_failures")).await;
    for (name, plant) in [("manifest.json", "fifo"), ("manifest.json", "/dev/zero"), ("run_results.json", "fifo")] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::create_dir(&target).unwrap();
        for file in ["manifest.json", "run_results.json", "sources.json"] {
            std::fs::copy(crate::common::fixture(&format!("dbt/test_failures/{file}")), target.join(file)).unwrap();
        }
        let planted = target.join(name);
        std::fs::remove_file(&planted).unwrap();
        if plant == "fifo" {
            let path = std::ffi::CString::new(planted.to_str().unwrap()).unwrap();
            assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
        } else {
            std::os::unix::fs::symlink(plant, &planted).unwrap();
        }
        let config = dir.path().join("tablestat.toml");
        std::fs::write(
            &config,
            format!(
                "[airflow]\nurl = \"{}\"\napi = \"v2\"\nauth = \"password\"\nusername = \"admin\"\npassword = \"admin\"\n\
                 [dbt]\nsource = \"local\"\ntarget_dir = \"{}\"\n[store]\npath = \"{}\"\n\
                 [[product]]\nid = \"stg_orders\"\ndag = \"shop_daily\"\ntask = \"dbt_build\"\nmodel = \"stg_orders\"\n",
                server.uri(),
                target.display(),
                dir.path().join("history.db").display()
            ),
        )
        .unwrap();
        // Waited for with a deadline: a blocked poll fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let mut command = std::process::Command::new(crate::common::tmux::bin());
        command.arg("--config").arg(&config).args(["poll", "--once", "--json"]);
        let child = crate::common::Reaped(Some(command.stdout(std::process::Stdio::piped()).spawn().unwrap()));
        let pid = child.0.as_ref().unwrap().id();
        std::thread::spawn(move || {
            let mut child = child;
            let out = child.0.take().unwrap().wait_with_output();
            let _ = tx.send(out);
        });
        let out = match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                panic!("{name} as {plant}: poll --once did not end within 60 s");
            }
        };
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let product = &doc["products"][0];
        let reasons = product["metrics"].to_string();
        assert_eq!(product["state"], "unknown", "{name} as {plant}: {reasons}");
        assert!(reasons.contains(&format!("{name}: is not a regular file")), "{name} as {plant}: {reasons}");
    }
}

/// What a hostile server or colleague puts into text: escape sequences (OSC 52 sets the
/// clipboard, CSI clears the screen, 8-bit CSI and OSC), bidi overrides and isolates, and
/// single control characters.
const INJECTIONS: &[&str] = &[
    "\u{1b}]52;c;cHduZWQ=\u{7}",
    "\u{1b}[2J\u{1b}[H",
    "\u{1b}[31m",
    "\u{9b}2J",
    "\u{9d}0;title\u{9c}",
    "\u{202e}",
    "\u{2066}",
    "\u{200f}",
    "\u{61c}",
    "\r",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
];

/// Whether `c` may reach a reader: the oracle, written apart from the filter it checks.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Injects hostile text into the string fields of JSON: each string is, with probability
/// `rate`, given an injection (or a random control character) at a random place; now and
/// then a number becomes such a string.
fn poison(value: &mut serde_json::Value, rng: &mut fastrand::Rng, rate: f64) {
    use serde_json::Value;
    let hostile = |rng: &mut fastrand::Rng| -> String {
        if rng.bool() {
            INJECTIONS[rng.usize(..INJECTIONS.len())].to_string()
        } else {
            let ranges = [0u32..0x20, 0x7f..0xa0, 0x202a..0x202f, 0x2066..0x206a];
            let range = ranges[rng.usize(..ranges.len())].clone();
            char::from_u32(rng.u32(range)).unwrap().to_string()
        }
    };
    match value {
        // Times are left whole, so that a poll gets past them to names, ids and messages.
        Value::String(s) if !looks_like_a_time(s) && rng.f64() < rate => {
            let at = s.char_indices().map(|(i, _)| i).nth(rng.usize(..=s.chars().count())).unwrap_or(s.len());
            s.insert_str(at, &hostile(rng));
        }
        Value::Number(_) if rng.f64() < rate / 10.0 => *value = Value::String(hostile(rng)),
        Value::Array(items) => items.iter_mut().for_each(|v| poison(v, rng, rate)),
        Value::Object(fields) => fields.values_mut().for_each(|v| poison(v, rng, rate)),
        _ => {}
    }
}

fn looks_like_a_time(s: &str) -> bool {
    s.len() >= 10 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) && s.as_bytes()[4] == b'-'
}

/// The story's answers (Airflow 3 shapes, real dbt Cloud artifacts) with hostile strings.
struct Poisoned {
    story: crate::common::story::Story,
    seed: u64,
    rate: f64,
    served: std::sync::atomic::AtomicU64,
}

impl wiremock::Respond for Poisoned {
    fn respond(&self, request: &wiremock::Request) -> wiremock::ResponseTemplate {
        let (status, body) = self.story.reply(request);
        let n = self.served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rng = fastrand::Rng::with_seed(self.seed.wrapping_mul(1_000_003).wrapping_add(n));
        let body = match serde_json::from_str::<serde_json::Value>(&body) {
            // The login stays whole: a poisoned token is only a refused login.
            Ok(mut value) if request.url.path() != "/auth/token" => {
                poison(&mut value, &mut rng, self.rate);
                value.to_string()
            }
            _ => body,
        };
        wiremock::ResponseTemplate::new(status).set_body_raw(body, "application/json")
    }
}

/// Property: whatever hostile strings the Airflow answers (the story's, in the captured
/// shapes) and the captured dbt artifacts carry, the text a person reads — `poll --once`,
/// `status`, `report`, `config check`, `maintenance list`, `incident list` and `show`, and
/// the exported page and feed — holds no control character but a line break, no escape
/// sequence and no bidi control. Seeds vary where and how much is poisoned.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_strings_in_source_answers_never_reach_a_reader_raw() {
    use crate::common::story::{self, chapter};
    let mut failures = Vec::new();
    let mut poisoned_outputs = 0;
    for seed in 1..=8u64 {
        let rate = [0.02, 0.1, 0.3, 0.6][seed as usize % 4];
        let (_, story) = story::start(chapter(1, "failed", "test_failures")).await;
        let server = wiremock::MockServer::start().await;
        let poisoned = Poisoned { story, seed, rate, served: Default::default() };
        wiremock::Mock::given(wiremock::matchers::any()).respond_with(poisoned).mount(&server).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tablestat.toml");
        let text = story::config(&server.uri(), &dir.path().join("history.db"))
            + "\n[discover]\ndag = \"shop_daily\"\ntask = \"dbt_build\"\n";
        std::fs::write(&config, text).unwrap();
        let site = dir.path().join("site");
        let outputs = tokio::task::spawn_blocking(move || {
            let run = |args: &[&str]| {
                let out = std::process::Command::new(crate::common::tmux::bin())
                    .arg("--config")
                    .arg(&config)
                    .args(args)
                    .env("NO_COLOR", "1")
                    .output()
                    .unwrap();
                let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
                (args.join(" "), said)
            };
            let message = format!("Reloading {}", INJECTIONS[..9].join(" and "));
            let mut outputs = vec![
                run(&["poll", "--once"]),
                run(&["poll", "--once"]),
                run(&["status"]),
                run(&["report"]),
                run(&["config", "check"]),
                run(&["maintenance", "add", "all", "-m", &message, "--duration", "1h", "--author", "\u{1b}[2Jmallory"]),
                run(&["maintenance", "list"]),
                run(&["incident", "list"]),
                run(&["incident", "show", "1"]),
                run(&["export", "html", site.to_str().unwrap()]),
            ];
            for file in ["index.html", "feed.atom"] {
                outputs.push((file.to_string(), std::fs::read_to_string(site.join(file)).unwrap_or_default()));
            }
            outputs
        })
        .await
        .unwrap();
        for (what, text) in outputs {
            if text.contains('\u{fffd}') {
                poisoned_outputs += 1;
            }
            if let Some((at, c)) = text.char_indices().find(|(_, c)| unsafe_char(*c)) {
                let start = (0..=at.saturating_sub(80)).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
                failures.push(format!("seed {seed}, {what}: {c:?} in …{:?}…", &text[start..at]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(poisoned_outputs >= 8, "the poison reached the outputs, shown inert ({poisoned_outputs} outputs)");
}
