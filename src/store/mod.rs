//! History in embedded SQLite: state intervals, coverage, polls, refreshes, incidents,
//! maintenance windows, and the poller lease.
//!
//! rusqlite is blocking: a `Store` lives on one thread (see [`worker`]), never on an async
//! worker. WAL lets viewers read while the one poller writes; every write is one
//! transaction, so a kill at any moment leaves the last complete poll.

mod copy;
pub mod db;
mod events;
mod import;
mod incidents;
pub mod lease;
mod maintenance;
mod read;
mod schema;
pub mod schema_pg;
mod series;
pub mod worker;
mod write;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use db::args;

pub use copy::TableCounts;
pub use events::{DeliveryOutcome, DueDelivery, NotifyHealth};
pub use import::{History, ImportedIncident, ImportedRefresh, SpanRow};
pub use incidents::{Excluded, Incident, IncidentStatus, IncidentUpdate, Member};
pub use lease::{Lease, LeaseOutcome};
pub use maintenance::{Ended, MaintenanceWindow, Scope};
pub use read::{
    BAR_DAYS, BoardSnapshot, CHANGES_SINCE, Change, Depth, MetricRow, MetricSpans, PollerHealth, ProductRow,
    RefreshRow, SloInput, SourceRow, WindowKind,
};
pub use write::PollRecord;

/// What a poll's write changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// Intervals opened because a state changed (or appeared).
    pub changes: usize,
    pub incidents_opened: Vec<i64>,
    pub incidents_resolved: Vec<i64>,
}

/// A history database that could not be used, with the path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("history database {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "history database {path} has schema version {found}, newer than this tablestat knows ({known}): upgrade tablestat, or point [store] path at another file"
    )]
    TooNew { path: String, found: i64, known: i64 },
    #[error("history database {path}: {message}")]
    Io { path: String, message: String },
    #[error("history database {path}: {source}")]
    Database {
        path: String,
        #[source]
        source: db::DbError,
    },
    /// The request itself is wrong (no such incident, a window that ends before it
    /// starts): said to the person who asked.
    #[error("{0}")]
    Refused(String),
    /// The poll was made under a lease another process has since taken: writing it would
    /// put an older poll after newer ones.
    #[error("the poller lease passed to pid {pid} on {host} during this poll: its result was dropped")]
    LeaseLost { pid: i64, host: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    backend: Backend,
    path: String,
    cache: write::WriteCache,
}

/// The database behind a store. The store is moving onto the door (see [`db`]): the modules
/// on it run on both; the others still speak to SQLite, and a PostgreSQL store, made by the
/// tests alone so far (no config names one yet), must not reach them.
enum Backend {
    Sqlite(Connection),
    Postgres(Box<std::cell::RefCell<db::PgConn>>),
}

/// How long a writer waits for the database lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens (creating if needed, mode 0600) and migrates a history database.
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_file(path).map_err(|e| match permission_hint(path) {
            // SQLite only says "unable to open database file": say whose file it is and what to do.
            Some(hint) => StoreError::Io { path: path.display().to_string(), message: format!("{e}; {hint}") },
            None => e,
        })
    }

    fn open_file(path: &Path) -> Result<Store> {
        let display = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: display.clone(),
                message: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        create_private(path).map_err(|e| StoreError::Io { path: display.clone(), message: e.to_string() })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|source| StoreError::Sqlite { path: display.clone(), source })?;
        Store::setup(conn, display, true)
    }

    /// A private database in memory, for tests.
    pub fn in_memory() -> Result<Store> {
        let conn =
            Connection::open_in_memory().map_err(|source| StoreError::Sqlite { path: ":memory:".into(), source })?;
        Store::setup(conn, ":memory:".into(), false)
    }

    fn setup(mut conn: Connection, path: String, wal: bool) -> Result<Store> {
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // A poll's write alone uses a score of statements: keep them all prepared.
        conn.set_prepared_statement_cache_capacity(64);
        if wal {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(sqlite)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!("history database is in {mode} mode, not WAL: viewers may wait for the poller");
            }
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;").map_err(sqlite)?;
        series::register_hash(&conn).map_err(sqlite)?;
        migrate(&mut conn, &path)?;
        Ok(Store { backend: Backend::Sqlite(conn), path, cache: write::WriteCache::default() })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Opens the store a config names (`base` resolves its relative files).
    pub fn open_at(location: &crate::config::StoreLocation, base: &Path) -> Result<Store> {
        match location {
            crate::config::StoreLocation::File(path) => Store::open(path),
            crate::config::StoreLocation::Postgres(pg) => Store::connect(pg, base),
        }
    }

    /// Opens the PostgreSQL store at a bare address (no password, no `ca_file`).
    pub fn open_postgres(url: &str) -> Result<Store> {
        let location = crate::config::PostgresLocation { url: url.to_string(), password: None, ca_file: None };
        Store::connect(&location, Path::new("."))
    }

    /// Connects to a PostgreSQL store (over TLS when the server offers it, and always with a
    /// `ca_file` or `sslmode=require`; certificates checked as the sources check theirs) and
    /// brings its schema to this build's. Its address is shown without a password; the
    /// password never leaves the connection.
    pub fn connect(location: &crate::config::PostgresLocation, base: &Path) -> Result<Store> {
        let url = location.url.as_str();
        let shown = url.split_once('@').map_or(url.to_string(), |(_, host)| format!("postgres://…@{host}"));
        let refused = |message: String| StoreError::Io { path: shown.clone(), message };
        let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| refused(e.to_string()))?;
        if let Some(password) = &location.password {
            let secret = password.resolve(base).map_err(|e| refused(format!("password: {e}")))?;
            config.password(secret.expose());
        }
        if location.ca_file.is_some() && !url.contains("sslmode=") {
            config.ssl_mode(postgres::config::SslMode::Require);
        }
        let ca_file = location.ca_file.as_ref().map(|p| base.join(p));
        let tls = crate::sources::tls::client_config(ca_file.as_deref(), false).map_err(refused)?;
        let wrap = |source| StoreError::Database { path: shown.clone(), source };
        let client = config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)).map_err(|e| wrap(e.into()))?;
        let store = Store {
            backend: Backend::Postgres(Box::new(std::cell::RefCell::new(db::PgConn::new(client).map_err(wrap)?))),
            path: shown.clone(),
            cache: write::WriteCache::default(),
        };
        let migrated = schema_pg::migrate(&mut store.db()).map_err(wrap)?;
        match migrated {
            schema_pg::Migrated::TooNew { found, known } => Err(StoreError::TooNew { path: shown, found, known }),
            schema_pg::Migrated::To { .. } => Ok(store),
        }
    }

    /// Whether this connection may write the history: a PostgreSQL role granted `SELECT`
    /// alone may not (a board on it only views, and never asks for the lease). A SQLite file
    /// this user cannot write does not open at all (see `permission_hint`).
    pub fn can_write(&self) -> Result<bool> {
        match self.backend {
            Backend::Sqlite(_) => Ok(true),
            Backend::Postgres(_) => self
                .db()
                .query_one(
                    "SELECT has_table_privilege('lease', 'UPDATE') AND has_table_privilege('span', 'INSERT')",
                    &[],
                    |r| r.get(0),
                )
                .in_store(self),
        }
    }

    /// Whether this store stands on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The database door (see [`db`]) for this store's connection.
    pub(crate) fn db(&self) -> db::Db<'_> {
        match &self.backend {
            Backend::Sqlite(conn) => db::Db::Sqlite(conn),
            Backend::Postgres(pg) => db::Db::Postgres(pg.borrow_mut()),
        }
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.clone(), source }
    }
}

/// SQLite's errors said with the database they happened in: `.in_store(self)?`.
trait InStore<T> {
    fn in_store(self, store: &Store) -> Result<T>;
}

impl<T> InStore<T> for rusqlite::Result<T> {
    fn in_store(self, store: &Store) -> Result<T> {
        self.map_err(|e| store.err(e))
    }
}

impl<T> InStore<T> for db::DbResult<T> {
    fn in_store(self, store: &Store) -> Result<T> {
        self.map_err(|source| match source {
            db::DbError::Sqlite(e) => store.err(e),
            source => StoreError::Database { path: store.path.clone(), source },
        })
    }
}

/// Applies the migrations a SQLite database lacks, all in one exclusive transaction.
fn migrate(conn: &mut Connection, path: &str) -> Result<()> {
    let known = schema::MIGRATIONS.len() as i64;
    let sqlite = |source| StoreError::Sqlite { path: path.to_string(), source };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive).map_err(sqlite)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite)?;
    if found > known {
        return Err(StoreError::TooNew { path: path.to_string(), found, known });
    }
    for (version, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(sqlite)?;
        tx.pragma_update(None, "user_version", version as i64 + 1).map_err(sqlite)?;
    }
    tx.commit().map_err(sqlite)
}

impl Store {
    pub fn schema_version(&self) -> Result<i64> {
        let sql = match self.backend {
            Backend::Sqlite(_) => "PRAGMA user_version",
            Backend::Postgres(_) => "SELECT max(version) FROM tablestat_schema",
        };
        Ok(self.db().query_opt(sql, &[], |r| r.get::<Option<i64>>(0)).in_store(self)?.flatten().unwrap_or(0))
    }

    /// Moves with every change people would see; viewers reload when it moves.
    pub fn generation(&self) -> Result<i64> {
        let generation = self.db().query_opt("SELECT value FROM meta WHERE key = 'generation'", &[], |r| r.get(0));
        Ok(generation.in_store(self)?.unwrap_or_default())
    }

    /// Changes whenever another connection commits: cheap to ask, for viewers to follow
    /// (SQLite's `data_version`; on PostgreSQL, the commits other connections announced).
    pub fn data_version(&self) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(conn) => conn.query_row("PRAGMA data_version", [], |r| r.get(0)).in_store(self),
            Backend::Postgres(pg) => pg.borrow_mut().commits_heard().in_store(self),
        }
    }

    /// SQLite's own check of the file ("ok" when sound); PostgreSQL keeps its pages sound
    /// itself, and what a copy checks there is its rows and references.
    pub fn integrity_check(&self) -> Result<String> {
        match &self.backend {
            Backend::Sqlite(conn) => conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).in_store(self),
            Backend::Postgres(_) => Ok("ok".to_string()),
        }
    }

    /// Deletes poll records and settled events older than `before`, and reasons nothing
    /// refers to; history and incidents are kept.
    pub fn prune_polls(&mut self, before: i64) -> Result<usize> {
        let polls = self.db().execute("DELETE FROM poll WHERE started < ?1", args![before]).in_store(self)? as usize;
        // Verdicts no span speaks with any more (reworded in place, or durations that moved on).
        let reasons = self.db().execute("DELETE FROM verdict WHERE id NOT IN (SELECT verdict FROM span)", &[]);
        let reasons = reasons.in_store(self)? as usize;
        if reasons > 0 {
            self.cache = write::WriteCache::default();
        }
        Ok(polls + reasons + self.prune_events(before)?)
    }

    /// After many rows arrived at once (an import, a copy): PostgreSQL's planner learns the
    /// tables' new sizes now rather than at autovacuum's next pass (the board query took
    /// 370 ms on a store it had not seen, 5,000 products × 90 days). SQLite plans without.
    pub fn after_bulk_load(&mut self) -> Result<()> {
        match self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(_) => self.db().execute_batch("ANALYZE").in_store(self),
        }
    }

    /// Asks the poller to poll now (from any process).
    pub fn request_poll(&mut self, now: i64, by: &str) -> Result<()> {
        self.db()
            .execute("INSERT INTO poll_request (at, by) VALUES (?1, ?2)", args![now, by])
            .map(|_| ())
            .in_store(self)
    }

    /// Takes pending "poll now" requests; true if there were any.
    pub fn take_poll_requests(&mut self) -> Result<bool> {
        let n = self.db().execute("DELETE FROM poll_request", &[]).in_store(self)?;
        Ok(n > 0)
    }

    /// The last poll: (started, ok, error).
    pub fn last_poll(&self) -> Result<Option<(i64, bool, Option<String>)>> {
        self.db()
            .query_opt("SELECT started, ok, error FROM poll ORDER BY id DESC LIMIT 1", &[], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .in_store(self)
    }
}

/// Marks a visible change, inside the writing transaction.
pub(crate) fn bump_generation(db: &mut db::Db<'_>) -> db::DbResult<()> {
    db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'", &[]).map(|_| ())
}

/// Creates the file readable by its owner only, before SQLite opens it.
/// Why this user cannot use the database at `path`, when that is the cause: a viewer on a
/// shared host needs to read and write the file, its `-wal` and `-shm` files, and its
/// folder (SQLite creates those files there).
fn permission_hint(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let can = |p: &Path, mode: libc::c_int| {
            let Ok(c) = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()) else { return true };
            // SAFETY: access reads the NUL-terminated path we own and touches nothing else.
            unsafe { libc::access(c.as_ptr(), mode) == 0 }
        };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let wal = path.with_extension("db-wal");
        let blocked = [
            (path, path.exists() && !can(path, libc::R_OK | libc::W_OK)),
            (wal.as_path(), wal.exists() && !can(&wal, libc::R_OK | libc::W_OK)),
            (dir, dir.exists() && !can(dir, libc::W_OK | libc::X_OK)),
        ];
        let (what, _) = blocked.iter().find(|(_, blocked)| *blocked)?;
        let meta = std::fs::metadata(what).ok()?;
        Some(format!(
            "this user cannot write {} (owner uid {}, group gid {}, mode {:o}): viewers need read and write \
             access to the database, its -wal and -shm files and its folder; on a shared host give them to a \
             group the team shares (`install -d -g datateam -m 2770 {}`, `chmod 660` the files)",
            what.display(),
            meta.uid(),
            meta.gid(),
            meta.permissions().mode() & 0o7777,
            dir.display()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn create_private(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
