//! A private PostgreSQL server for the tests that need one (`#[ignore = "needs PostgreSQL"]`;
//! CI installs Debian's `postgresql` and runs them): one cluster per test process, made by
//! `initdb` in a temporary folder and served by `postgres` on 127.0.0.1 at a free port — as
//! the `postgres` user when the tests run as root — and killed with the test process. Each
//! test gets a database of its own.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Cluster {
    port: u16,
    _dir: tempfile::TempDir,
    _server: Child,
}

/// Debian's server binaries: the newest `/usr/lib/postgresql/N/bin`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server is not installed: apt-get install postgresql")
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("no /usr/lib/postgresql/N/bin/initdb").1
}

/// (uid, gid) of the `postgres` user when we are root (initdb and postgres refuse root).
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions; getpwnam reads a NUL-terminated name and its
    // answer is read before any other call could reuse its buffer.
    unsafe {
        if libc::geteuid() != 0 {
            return None;
        }
        let pw = libc::getpwnam(c"postgres".as_ptr());
        assert!(!pw.is_null(), "running as root, and there is no `postgres` user to run the server as");
        Some(((*pw).pw_uid, (*pw).pw_gid))
    }
}

/// A command run as the server's user, killed when this process ends.
fn server_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    let user = run_as();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some((uid, gid)) = user {
                if libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> Cluster {
    let bin = bin_dir();
    let dir = tempfile::tempdir().unwrap();
    if let Some((uid, gid)) = run_as() {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    }
    let data = dir.path().join("data");
    let out = server_command(&bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"])
        .output()
        .unwrap();
    assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
    // The role `tablestat` signs in with a password (SCRAM), as a shared server's would;
    // `postgres` is trusted, for the tests' own checks.
    let hba = data.join("pg_hba.conf");
    let trusted = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n{trusted}")).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let server = server_command(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-k"])
        .arg(dir.path())
        // A test server: durability is not what is tested here (the kill tests say so).
        .args(["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while connect(port, "postgres").is_err() {
        assert!(
            Instant::now() < deadline,
            "the test PostgreSQL never answered: {}",
            std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let role = format!("CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{PASSWORD}'");
    connect(port, "postgres").unwrap().batch_execute(&role).unwrap();
    Cluster { port, _dir: dir, _server: server }
}

fn connect(port: u16, database: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(&format!("host=127.0.0.1 port={port} user=postgres dbname={database}"), postgres::NoTls)
}

/// A role that signs in with a password, [`PASSWORD`], and owns every test database.
pub const PASSWORD_ROLE: &str = "tablestat";
pub const PASSWORD: &str = "correct-horse-battery";

/// A database of the test cluster.
pub struct Database {
    port: u16,
    name: String,
}

impl Database {
    /// A new, empty database of the test cluster (started on first use).
    pub fn new() -> Database {
        static CLUSTER: OnceLock<Cluster> = OnceLock::new();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let cluster = CLUSTER.get_or_init(start);
        let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let mut admin = connect(cluster.port, "postgres").unwrap();
        admin.batch_execute(&format!("CREATE DATABASE {name} OWNER {PASSWORD_ROLE}")).unwrap();
        Database { port: cluster.port, name }
    }

    /// A connection of its own.
    pub fn connect(&self) -> postgres::Client {
        connect(self.port, &self.name).unwrap()
    }

    /// Its address, as `[store] url` would give it.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{}", self.port, self.name)
    }

    /// Its address for [`PASSWORD_ROLE`], whose password the config gives apart.
    pub fn url_with_password_role(&self) -> String {
        format!("postgres://{PASSWORD_ROLE}@127.0.0.1:{}/{}", self.port, self.name)
    }
}
