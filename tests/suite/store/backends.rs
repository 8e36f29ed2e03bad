//! The store on both backends: PostgreSQL's schema is SQLite's in its own words, and the
//! modules that stand on the database door (`store::db`) behave the same on a SQLite file
//! and on a PostgreSQL database. The PostgreSQL tests need Debian's `postgresql` (CI
//! installs it; see `common::postgres`).

use std::collections::BTreeMap;
use std::path::Path;

use tablestat::store::db::{Db, args};
use tablestat::store::lease::{self, LEASE_TTL};
use tablestat::store::schema_pg::{self, Migrated};
use tablestat::store::{LeaseOutcome, Store};

use crate::common::postgres::Database;

const T0: i64 = 1_764_000_000;

/// A SQLite history file with this build's schema, and `n` connections to it.
fn sqlite_connections(dir: &Path, n: usize) -> Vec<rusqlite::Connection> {
    let path = dir.join("history.db");
    drop(Store::open(&path).unwrap());
    (0..n)
        .map(|_| {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            conn
        })
        .collect()
}

/// A migrated PostgreSQL database.
fn postgres_database() -> Database {
    let database = Database::new();
    let migrated = schema_pg::migrate(&mut Db::Postgres(&mut database.connect())).unwrap();
    assert_eq!(migrated, Migrated::To { from: 0, version: 10 });
    database
}

/// The lease between two pollers: held by the first, refused to the second while its
/// heartbeat is fresh, renewed, taken over once stale, never released by another.
fn lease_between(a: &mut Db<'_>, b: &mut Db<'_>) {
    assert_eq!(lease::acquire(a, "a", 1, "jump-1", T0).unwrap(), LeaseOutcome::Held);
    match lease::acquire(b, "b", 2, "jump-2", T0 + 10).unwrap() {
        LeaseOutcome::Taken(held) => {
            assert_eq!((held.holder.as_str(), held.pid, held.host.as_str()), ("a", 1, "jump-1"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lease::acquire(a, "a", 1, "jump-1", T0 + 20).unwrap(), LeaseOutcome::Held, "renewed");
    let fresh = T0 + 20 + LEASE_TTL;
    assert!(matches!(lease::acquire(b, "b", 2, "jump-2", fresh).unwrap(), LeaseOutcome::Taken(_)), "renewed at +20");
    // a stops: no heartbeat after +20; past the TTL, b takes over.
    assert_eq!(lease::acquire(b, "b", 2, "jump-2", fresh + 1).unwrap(), LeaseOutcome::Held);
    lease::release(a, "a").unwrap();
    assert_eq!(lease::read(a).unwrap().unwrap().holder, "b", "a cannot release b's lease");
    lease::release(b, "b").unwrap();
    let left = lease::read(a).unwrap().unwrap();
    assert_eq!((left.holder.as_str(), left.pid, left.heartbeat), ("", 2, fresh + 1), "who polled last stays known");
}

#[test]
fn the_lease_is_held_by_one_and_taken_over_when_stale_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let conns = sqlite_connections(dir.path(), 2);
    lease_between(&mut Db::Sqlite(&conns[0]), &mut Db::Sqlite(&conns[1]));
}

#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
fn the_lease_is_held_by_one_and_taken_over_when_stale_on_postgres() {
    let database = postgres_database();
    let (mut a, mut b) = (database.connect(), database.connect());
    lease_between(&mut Db::Postgres(&mut a), &mut Db::Postgres(&mut b));
}

/// Eight pollers on eight connections ask for a free lease at the same moment: one gets it.
fn one_of_many_takes_the_lease(
    connect: impl Fn() -> Box<dyn FnOnce(&dyn Fn(&mut Db<'_>) -> LeaseOutcome) -> LeaseOutcome + Send> + Sync,
) {
    let barrier = std::sync::Barrier::new(8);
    let outcomes: Vec<LeaseOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (barrier, with) = (&barrier, connect());
                scope.spawn(move || {
                    with(&|db| {
                        barrier.wait();
                        lease::acquire(db, &format!("poller-{i}"), i, &format!("host-{i}"), T0).unwrap()
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let held = outcomes.iter().filter(|o| **o == LeaseOutcome::Held).count();
    assert_eq!(held, 1, "{outcomes:?}");
}

#[test]
fn one_of_many_takes_the_lease_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    drop(Store::open(&path).unwrap());
    one_of_many_takes_the_lease(|| {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        Box::new(move |work| work(&mut Db::Sqlite(&conn)))
    });
}

#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
fn one_of_many_takes_the_lease_on_postgres() {
    let database = postgres_database();
    one_of_many_takes_the_lease(|| {
        let mut client = database.connect();
        Box::new(move |work| work(&mut Db::Postgres(&mut client)))
    });
}

/// Every table and index of SQLite's schema, with each column's name, place, kind and
/// NOT NULL, is in PostgreSQL's, and nothing else: a migration written for one backend
/// only fails here.
#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
fn the_postgres_schema_is_sqlites_in_its_own_words() {
    let dir = tempfile::tempdir().unwrap();
    let conn = &sqlite_connections(dir.path(), 1)[0];
    let mut sqlite: BTreeMap<String, Vec<(String, &str, bool)>> = BTreeMap::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let columns = conn
            .prepare(&format!("SELECT name, type, \"notnull\" OR pk FROM pragma_table_info('{table}') ORDER BY cid"))
            .unwrap()
            .query_map([], |r| {
                let kind = match r.get::<_, String>(1)?.as_str() {
                    "INTEGER" => "integer",
                    "REAL" => "real",
                    "TEXT" => "text",
                    other => panic!("{table}: SQLite type {other}"),
                };
                Ok((r.get::<_, String>(0)?, kind, r.get::<_, bool>(2)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        sqlite.insert(table, columns);
    }
    let sqlite_indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    let database = postgres_database();
    let mut client = database.connect();
    let mut postgres: BTreeMap<String, Vec<(String, &str, bool)>> = BTreeMap::new();
    for row in client
        .query(
            "SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> 'tablestat_schema' ORDER BY table_name, ordinal_position",
            &[],
        )
        .unwrap()
    {
        let kind = match row.get::<_, String>(2).as_str() {
            "bigint" => "integer",
            "double precision" => "real",
            "text" => "text",
            other => panic!("PostgreSQL type {other}"),
        };
        postgres.entry(row.get(0)).or_default().push((row.get(1), kind, row.get(3)));
    }
    assert_eq!(postgres, sqlite);
    let postgres_indexes: Vec<String> = client
        .query(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey'
             AND indexname NOT LIKE '%_key' ORDER BY indexname",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(postgres_indexes, sqlite_indexes);
    assert_eq!(Store::open(&dir.path().join("history.db")).unwrap().schema_version().unwrap(), 10);
}

/// Migrating again changes nothing; a database of a newer tablestat is left alone and said so.
#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
fn postgres_migrations_run_once_and_refuse_a_newer_database() {
    let database = postgres_database();
    let mut client = database.connect();
    let mut db = Db::Postgres(&mut client);
    assert_eq!(schema_pg::migrate(&mut db).unwrap(), Migrated::To { from: 10, version: 10 });
    db.execute("INSERT INTO tablestat_schema (version) VALUES (?1)", args![11i64]).unwrap();
    assert_eq!(schema_pg::migrate(&mut db).unwrap(), Migrated::TooNew { found: 11, known: 10 });
}
