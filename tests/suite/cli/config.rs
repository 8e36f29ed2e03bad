//! The binary on good and broken config files: errors name file, line and key, and say
//! what to write instead; exit codes are the documented ones.

use assert_cmd::Command;
use predicates::prelude::*;

fn tablestat() -> Command {
    let mut cmd = Command::cargo_bin("tablestat").unwrap();
    cmd.env_remove("TABLESTAT_CONFIG").env("NO_COLOR", "1");
    cmd
}

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `config check --offline` on `text` written to a fresh file: the file's path and the output.
fn check_offline(text: &str) -> (String, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, text);
    let output = tablestat().args(["config", "check", "--offline", "--config"]).arg(&path).output().unwrap();
    (path.display().to_string(), output)
}

const VALID: &str = r#"
[airflow]
url = "http://127.0.0.1:9"
auth = "none"

[[product]]
id = "orders"
dag = "orders_daily"
"#;

#[test]
fn every_example_config_parses_and_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            // Its secrets come from the environment and from files beside it, as in a
            // deployment: the config is checked from a folder that has them.
            let text = std::fs::read_to_string(&path).unwrap();
            let deployed = tempfile::tempdir().unwrap();
            let config = deployed.path().join(path.file_name().unwrap());
            std::fs::write(&config, &text).unwrap();
            let mut command = tablestat();
            for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
                let Some((key, value)) = line.split_once('=') else { continue };
                let Some(value) = value.split('"').nth(1) else { continue };
                if key.trim().ends_with("_env") {
                    command.env(value, "a-secret-from-the-environment");
                } else if key.trim().ends_with("_file") && key.trim() != "ca_file" {
                    std::fs::write(deployed.path().join(value), "a-secret-from-a-file\n").unwrap();
                }
            }
            command
                .args(["config", "check", "--offline", "--config"])
                .arg(&config)
                .assert()
                .success()
                .stdout(predicate::str::contains(": valid ("));
            seen += 1;
        }
    }
    assert!(seen >= 3, "expected the three example configs, found {seen}");
}

#[test]
fn broken_configs_name_file_line_and_key() {
    let cases: &[(&str, &str)] = &[
        // unknown key, with the likely fix
        ("[airflow]\nurll = \"http://x\"\n", ":2:1: [airflow] urll: unknown key `urll`: did you mean `url`?"),
        // a value of the wrong shape
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\nmax_age = \"a day\"\n",
            ":7:11: [[product]] #1 max_age: `a day` is not a duration: write it like \"30s\", \"5m\", \"26h\" or \"1h30m\"",
        ),
        // an enum value that does not exist
        (
            "[airflow]\nurl = \"http://x\"\napi = \"v3\"\n",
            ":3:7: [airflow] api: `v3` is not allowed here: write one of auto, v1, v2",
        ),
        // a duplicate id, pointing at the second one
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[[product]]\nid = \"a\"\ndag = \"e\"\n",
            ":8:6: [[product]] #2 id: product id `a` is used twice: give each [[product]] its own id",
        ),
        // not a URL
        (
            "[airflow]\nurl = \"airflow.example.com\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n",
            ":2:7: [airflow] url: `airflow.example.com` is not a URL",
        ),
        // a metric name that cannot be a column
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\nmetrics = [\"Fresh ness\"]\n",
            ":7:11: [[product]] #1 metrics: `Fresh ness` is not a metric name",
        ),
        // a standard metric misspelt (a team's own metric is fed by tests, so it may be new)
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\nmetrics = [\"availability\", \"freshnes\", \"timeliness\"]\n",
            ":4:1: [[product]] #1: product `a` lists metric `freshnes`, which is not a standard one and no test is mapped to: did you mean `freshness`?",
        ),
        // missing required key
        ("[airflow]\nauth = \"none\"\n", ":1:1: [airflow]: missing key `url`: add `url = …` to this table"),
        // auth without its credentials
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"basic\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n",
            "auth = \"basic\" needs `username` and `password_env`",
        ),
        // two references for one secret
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"bearer\"\ntoken = \"x\"\ntoken_env = \"T\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n",
            "give only one of `token`, `token_env` and `token_file`",
        ),
        // a PostgreSQL store: never a password in its address, one place, and a PostgreSQL one
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[store]\nurl = \"postgres://tablestat:hunter2@db.internal/tablestat\"\n",
            ":8:7: [store] url: holds a password: take it out of the url and give it by `password_env` or `password_file`",
        ),
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[store]\npath = \"h.db\"\nurl = \"postgres://tablestat@db.internal/tablestat\"\n",
            ":9:7: [store] url: `path` is given too: the history lives in one of them",
        ),
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[store]\nurl = \"mysql://tablestat@db.internal/tablestat\"\n",
            ":8:7: [store] url: must be a PostgreSQL address: postgres://user@host[:port]/database",
        ),
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[store]\npassword_env = \"PGPASS\"\n",
            "[store] password_env, password_file and ca_file go with `url` (a PostgreSQL store)",
        ),
        // not TOML at all
        ("[airflow\nurl = 1\n", ":1:9: [airflow: "),
        // out-of-range SLO
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\nslo = 150.0\n",
            ":7:7: [[product]] #1 slo: slo = 150 is not a percentage",
        ),
        // a webhook without its URL
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[[notify]]\nname = \"ops\"\n",
            ":7:1: [[notify]] #1: webhook `ops` needs `url_env` (or `url_file`): the webhook URL is a secret",
        ),
        // an event that does not exist
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[[notify]]\nname = \"ops\"\nurl_env = \"H\"\nevents = [\"incident_closed\"]\n",
            ":10:11: [[notify]] #1 events: `incident_closed` is not allowed here: write one of incident_opened, incident_updated, incident_resolved, maintenance_started, maintenance_ended",
        ),
        // a payload shape that does not exist
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[[notify]]\nname = \"ops\"\nurl_env = \"H\"\nformat = \"teams\"\n",
            ":10:10: [[notify]] #1 format: `teams` is not allowed here: write one of json, slack",
        ),
        // credentials inside a URL, which would be printed with it (and the password is not)
        (
            "[airflow]\nurl = \"http://bot:pa55word@airflow.internal:8080\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n",
            ":2:7: [airflow] url: the URL holds a user name or password: write it as `http://airflow.internal:8080/`",
        ),
        // a misspelt section is called a section
        ("[airflw]\nurl = \"http://x\"\n", ":1:2: [airflw]: unknown section `airflw`: did you mean `airflow`?"),
        // a value of the wrong type says what to write
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\nslo = \"high\"\n",
            ":7:7: [[product]] #1 slo: string \"high\" is not allowed here: write a number, e.g. 99.5",
        ),
        // the flapping guard off its range
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[incidents]\nopen_after_polls = 0\n",
            ":8:20: [incidents] open_after_polls: open_after_polls = 0: give the number of polls in a row, from 1 (no guard) to 1000",
        ),
        // a digest period out of range
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[[notify]]\nname = \"f\"\nurl_env = \"F\"\ndigest = \"30s\"\n",
            ":10:10: [[notify]] #1 digest: webhook `f`: digest `30s` is not a period from 5 min to 7 days: write e.g. \"1h\" or \"1d\"",
        ),
        // where /metrics is served, as a host name where an address is needed
        (
            "[airflow]\nurl = \"http://x\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n[serve]\nlisten = \"localhost:9464\"\n",
            ":8:10: [serve] listen: `localhost:9464` is not an IP address and port: write e.g. \"127.0.0.1:9464\" (loopback) or \"0.0.0.0:9464\" (every interface)",
        ),
    ];
    for (text, expected) in cases {
        let (path, output) = check_offline(text);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{text}\n{stderr}");
        assert!(stderr.starts_with(&format!("tablestat: {path}")), "names the file: {stderr}");
        assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
        assert!(!stderr.contains("hunter2"), "a password is never said: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }
}

/// Three mistakes in one file are three lines, each with its line and key: one round of
/// edits fixes them all.
#[test]
fn every_error_in_a_config_is_reported_at_once() {
    let text = "[airflow]\nurl = \"airflow.example.com\"\nauth = \"none\"\n\
                [[product]]\nid = \"a b\"\ndag = \"d\"\n\
                [[product]]\nid = \"c\"\ndag = \"d\"\nslo = 120\n\
                [[product]]\nid = \"e\"\ndag = \"d\"\nmetrics = []\n";
    let (path, output) = check_offline(text);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    let expected = [
        ":2:7: [airflow] url: `airflow.example.com` is not a URL",
        ":5:6: [[product]] #1 id: product id `a b` must be",
        ":10:7: [[product]] #2 slo: slo = 120 is not a percentage",
        ":11:1: [[product]] #3: product `e` lists no metrics",
    ];
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.contains(&path) && line.contains(want), "{want:?} in {line:?}");
    }
}

/// A config that loads but names a secret or CA file that cannot be read: `config check`
/// (offline too) and `poll` stop with 78 and name each key, rather than poll into `unknown`.
#[test]
fn an_unreadable_secret_or_ca_file_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[airflow]\nurl = \"http://127.0.0.1:9\"\nauth = \"basic\"\nusername = \"bot\"\n\
         password_env = \"TABLESTAT_TEST_UNSET\"\nca_file = \"missing-ca.pem\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n",
    );
    let check = tablestat().args(["config", "check", "--offline", "--config"]).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(78), "{stdout}");
    assert!(stdout.contains("FAILED [airflow] password_env: environment variable TABLESTAT_TEST_UNSET is not set"));
    assert!(stdout.contains("FAILED [airflow] ca_file: cannot read ca_file"), "{stdout}");
    assert!(!stdout.contains(": valid ("), "a config whose secrets cannot be read is not called valid: {stdout}");
    let poll = tablestat().args(["poll", "--once", "--config"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&poll.stderr);
    assert_eq!(poll.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("[airflow] password_env: environment variable TABLESTAT_TEST_UNSET is not set"));
}

#[test]
fn a_missing_config_says_where_it_looked_and_what_to_do() {
    tablestat()
        .args(["poll", "--once", "--config", "/nonexistent/tablestat.toml"])
        .assert()
        .code(66)
        .stderr(predicate::str::contains("no config file at /nonexistent/tablestat.toml (given with --config)"));
    tablestat()
        .env("TABLESTAT_CONFIG", "/nonexistent/env.toml")
        .args(["poll", "--once"])
        .assert()
        .code(66)
        .stderr(predicate::str::contains("named by TABLESTAT_CONFIG"));
    let dir = tempfile::tempdir().unwrap();
    tablestat()
        .args(["status", "--config"])
        .arg(dir.path())
        .assert()
        .code(78)
        .stderr(predicate::str::contains("this is a folder, not a config file: name the file, e.g. --config "));
}

#[test]
fn usage_errors_exit_64_and_help_exits_0() {
    tablestat().arg("frobnicate").assert().code(64);
    tablestat().arg("--help").assert().success().stdout(predicate::str::contains("Exit codes"));
    tablestat().args(["completions", "bash"]).assert().success().stdout(predicate::str::contains("tablestat"));
}

#[cfg(unix)]
#[test]
fn a_world_readable_config_with_a_secret_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "[airflow]\nurl = \"http://x\"\nauth = \"bearer\"\ntoken = \"s3cr3t-value\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n",
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    tablestat()
        .args(["config", "check", "--offline", "--config"])
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains("holds a secret and is readable by others (mode 644): run `chmod 600"))
        .stderr(predicate::str::contains("s3cr3t-value").not());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    tablestat().args(["config", "check", "--offline", "--config"]).arg(&path).assert().success().stderr("");
    // The same for a secret kept in a file of its own.
    let token = dir.path().join("airflow-token");
    std::fs::write(&token, "s3cr3t-value\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&path, "[airflow]\nurl = \"http://x\"\nauth = \"bearer\"\ntoken_file = \"airflow-token\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n").unwrap();
    tablestat()
        .args(["config", "check", "--offline", "--config"])
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains("[airflow] token_file: "))
        .stderr(predicate::str::contains("airflow-token is readable by others (mode 644): run `chmod 600"))
        .stderr(predicate::str::contains("s3cr3t-value").not());
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    tablestat().args(["config", "check", "--offline", "--config"]).arg(&path).assert().success().stderr("");
}

#[test]
fn a_valid_config_checks_offline() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, VALID);
    tablestat().args(["config", "check", "--offline", "-c"]).arg(&path).assert().success();
}

/// The panic report is plain text where colour is not wanted: into a pipe or a file, with
/// NO_COLOR, with --no-color (it was coloured into log files). The exit code is 70.
#[test]
fn the_panic_report_is_not_coloured_into_a_pipe() {
    for (args, no_color) in
        [(&["debug-panic"][..], false), (&["--no-color", "debug-panic"][..], false), (&["debug-panic"][..], true)]
    {
        let mut command = tablestat();
        command.args(args).env_remove("NO_COLOR");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(70), "{stderr}");
        assert!(stderr.contains("a panic asked for with `tablestat debug-panic`"), "{stderr}");
        assert!(!stderr.contains('\u{1b}'), "no escape sequences in a piped report: {stderr:?}");
    }
}

/// A viewer who may not write the shared database is told whose it is and what to change,
/// not only SQLite's "unable to open database file".
#[test]
fn a_database_this_user_cannot_write_gets_the_permission_hint() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let db = shared.join("history.db");
    tablestat::store::Store::open(&db).unwrap();
    let config = shared.join("config.toml");
    std::fs::write(&config, format!("{VALID}\n[store]\npath = {:?}\n", db.display().to_string())).unwrap();
    for p in [dir.path(), shared.as_path(), config.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(if p.is_dir() { 0o755 } else { 0o644 })).unwrap();
    }
    // The database stays its owner's (0600). Root reads anything, so as root the viewer is
    // another user; otherwise the file is made unreadable to its owner.
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(assert_cmd::cargo::cargo_bin("tablestat"));
        c
    } else {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o200)).unwrap();
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tablestat"))
    };
    let output = command.args(["status", "--config"]).arg(&config).env("NO_COLOR", "1").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("this user cannot write {}", db.display())), "{stderr}");
    let mode = if root { "mode 600" } else { "mode 200" };
    assert!(stderr.contains(mode) && stderr.contains("install -d -g datateam -m 2770"), "{stderr}");
}

/// Several Airflows and dbt sources: each named, each product says which it reads, and
/// every mistake is named with the file, line and key, with a did-you-mean.
#[test]
fn several_sources_are_named_and_products_say_which() {
    const TWO: &str = "[[airflow]]\nname = \"core\"\nurl = \"http://a\"\nauth = \"none\"\n\
                       [[airflow]]\nname = \"marketing\"\nurl = \"http://b\"\nauth = \"none\"\n";
    let cases: &[(String, &[&str])] = &[
        (
            "[[airflow]]\nurl = \"http://a\"\nauth = \"none\"\n[[airflow]]\nurl = \"http://b\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\n".into(),
            &[
                ":1:1: [[airflow]] #1: with several [[airflow]] each needs a `name`",
                ":4:1: [[airflow]] #2: with several [[airflow]] each needs a `name`",
            ],
        ),
        (
            "[[airflow]]\nname = \"core\"\nurl = \"http://a\"\nauth = \"none\"\n[[airflow]]\nname = \"core\"\nurl = \"http://b\"\nauth = \"none\"\n[[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"core\"\n".into(),
            &[":6:8: [[airflow]] #2 name: airflow name `core` is used twice"],
        ),
        (
            format!("{TWO}[[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"marketting\"\n"),
            &[":12:11: [[product]] #1 airflow: product `a` reads airflow `marketting`, which is not configured: did you mean `marketing`?"],
        ),
        (
            format!("{TWO}[[product]]\nid = \"a\"\ndag = \"d\"\n"),
            &["product `a` must say which airflow it reads: airflow = one of core, marketing"],
        ),
        (
            format!("{TWO}[[dbt]]\nname = \"x\"\nsource = \"local\"\ntarget_dir = \"t\"\n[[dbt]]\nname = \"y\"\nsource = \"local\"\ntarget_dir = \"u\"\n[[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"core\"\nmodel = \"m\"\n"),
            &["product `a` must say which dbt it reads: dbt = one of x, y"],
        ),
        (
            format!("{TWO}concurrency = 0\n[[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"core\"\n"),
            &[":9:15: [[airflow]] #2 concurrency: concurrency = 0: give the requests in flight at once, from 1 to 64"],
        ),
        (
            format!("{TWO}[[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"core\"\nmodel = \"m\"\ndbt = \"cloud\"\n[dbt]\nsource = \"local\"\ntarget_dir = \"t\"\n"),
            &[":14:7: [[product]] #1 dbt: product `a` reads dbt `cloud`, which is not configured: the dbt sources are dbt"],
        ),
    ];
    for (text, expected) in cases {
        let (_, output) = check_offline(text);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{text}\n{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), expected.len(), "{stderr}");
        for want in *expected {
            assert!(stderr.contains(want), "expected {want:?} in:\n{stderr}");
        }
    }
    // Right: two Airflows, the products spread over them; a lone [airflow] is "airflow".
    for text in [
        format!(
            "{TWO}[[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"core\"\n[[product]]\nid = \"b\"\ndag = \"d\"\nairflow = \"marketing\"\n"
        ),
        format!("{VALID}airflow = \"airflow\"\n"),
        // a DAG-only product among several dbt sources reads none: it need not name one
        format!(
            "{TWO}[[dbt]]\nname = \"x\"\nsource = \"local\"\ntarget_dir = \"t\"\n[[dbt]]\nname = \"y\"\nsource = \"local\"\ntarget_dir = \"u\"\n\
             [[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"core\"\n[[product]]\nid = \"b\"\ndag = \"d\"\nairflow = \"core\"\nmodel = \"m\"\ndbt = \"y\"\n"
        ),
    ] {
        let (_, output) = check_offline(&text);
        assert_eq!(output.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&output.stderr));
    }
    // --source names one source: a typo gets a did-you-mean.
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &format!("{TWO}[[product]]\nid = \"a\"\ndag = \"d\"\nairflow = \"core\"\n"));
    let output =
        tablestat().args(["config", "check", "--offline", "--source", "cor", "--config"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--source cor: no such source: did you mean `core`?"));
}
