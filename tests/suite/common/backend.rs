//! Where a store test keeps its history: a SQLite file or a PostgreSQL database. A case
//! written over a [`Place`] runs on both (`on_both_backends!`), and reads the database with
//! its own client where it checks rows, never through the store it tests.

use std::path::PathBuf;

use tablestat::store::Store;

use super::postgres::Database;

pub enum Place {
    File { _dir: tempfile::TempDir, path: PathBuf },
    Postgres(Database),
}

impl Place {
    /// A new SQLite file in a folder of its own.
    pub fn sqlite() -> Place {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        Place::File { _dir: dir, path }
    }

    /// A new database of the test PostgreSQL cluster.
    pub fn postgres() -> Place {
        Place::Postgres(off_runtime(Database::new))
    }

    /// Another empty place of the same kind.
    pub fn another(&self) -> Place {
        match self {
            Place::File { .. } => Place::sqlite(),
            Place::Postgres(_) => Place::postgres(),
        }
    }

    /// A store on it: each call a connection of its own, as another process would have.
    /// Opened off any async runtime (PostgreSQL's client runs one of its own, as the store's
    /// thread does in tablestat).
    pub fn open(&self) -> Store {
        let open = || match self {
            Place::File { path, .. } => Store::open(path).unwrap(),
            Place::Postgres(database) => Store::open_postgres(&database.url()).unwrap(),
        };
        off_runtime(open)
    }

    /// Makes the schema, as the first tablestat to open the place would.
    pub fn migrate(&self) {
        off_runtime(|| drop(self.open()));
    }

    /// `[store] path` or `[store] url`, as a config names it.
    pub fn address(&self) -> String {
        match self {
            Place::File { path, .. } => path.display().to_string(),
            Place::Postgres(database) => database.url(),
        }
    }

    /// The one integer a query answers, read with the database's own client.
    pub fn count(&self, sql: &str) -> i64 {
        off_runtime(|| match self {
            Place::File { path, .. } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                conn.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Place::Postgres(database) => database.connect().query_one(sql, &[]).unwrap().get(0),
        })
    }

    /// The first column of every row a query answers, as text (join columns with `||`).
    pub fn texts(&self, sql: &str) -> std::collections::BTreeSet<String> {
        off_runtime(|| match self {
            Place::File { path, .. } => {
                let conn = rusqlite::Connection::open(path).unwrap();
                conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
                let mut statement = conn.prepare(sql).unwrap();
                statement.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
            }
            Place::Postgres(database) => {
                database.connect().query(sql, &[]).unwrap().iter().map(|row| row.get(0)).collect()
            }
        })
    }

    /// SQLite's own check of the file; PostgreSQL keeps its pages sound itself.
    pub fn integrity(&self) -> String {
        match self {
            Place::File { path, .. } => {
                rusqlite::Connection::open(path).unwrap().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
            }
            Place::Postgres(_) => "ok".into(),
        }
    }

    /// The `[store]` section of a config that keeps its history here.
    pub fn store_section(&self) -> String {
        match self {
            Place::File { path, .. } => format!("path = \"{}\"", path.display()),
            Place::Postgres(database) => format!("url = \"{}\"", database.url()),
        }
    }

    /// Runs a statement from another connection.
    pub fn execute(&self, sql: &str) {
        off_runtime(|| match self {
            Place::File { path, .. } => {
                rusqlite::Connection::open(path).unwrap().execute_batch(sql).unwrap();
            }
            Place::Postgres(database) => database.connect().batch_execute(sql).unwrap(),
        })
    }
}

/// Runs `work` on a thread of its own: PostgreSQL's blocking client runs a runtime of its
/// own, which cannot start inside an async test's (tablestat's store has its own thread).
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().unwrap())
}

/// Runs the case `fn name(place: &Place)` on a SQLite file and, where PostgreSQL is
/// installed, on a PostgreSQL database: `name::on_sqlite`, `name::on_postgres`.
#[macro_export]
macro_rules! on_both_backends {
    (async: $($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread")]
            async fn on_sqlite() {
                super::$case(&$crate::common::backend::Place::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "needs PostgreSQL (Debian's postgresql package)"]
            async fn on_postgres() {
                super::$case(&$crate::common::backend::Place::postgres()).await;
            }
        }
    )*};
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn on_sqlite() {
                super::$case(&$crate::common::backend::Place::sqlite());
            }

            #[test]
            #[ignore = "needs PostgreSQL (Debian's postgresql package)"]
            fn on_postgres() {
                super::$case(&$crate::common::backend::Place::postgres());
            }
        }
    )*};
}
