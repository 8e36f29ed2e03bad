//! The store on both backends: PostgreSQL's schema is SQLite's in its own words, and the
//! store behaves the same on a SQLite file and on a PostgreSQL database (here the lease,
//! maintenance and notification events; `history` and `pipeline` run on both too). The PostgreSQL tests need Debian's
//! `postgresql` (CI installs it; see `common::postgres`).

use std::collections::BTreeMap;
use std::path::Path;

use tablestat::store::lease::LEASE_TTL;
use tablestat::store::{Ended, LeaseOutcome, Scope, Store, StoreError};

use crate::common::backend::Place;
use crate::common::postgres::Database;

const T0: i64 = 1_764_000_000;

/// The lease between two pollers: held by the first, refused to the second while its
/// heartbeat is fresh, renewed, taken over once stale, never released by another.
fn the_lease_is_held_by_one_and_taken_over_when_stale(place: &Place) {
    let (mut a, mut b) = (place.open(), place.open());
    assert_eq!(a.acquire_lease("a", 1, "jump-1", T0).unwrap(), LeaseOutcome::Held);
    match b.acquire_lease("b", 2, "jump-2", T0 + 10).unwrap() {
        LeaseOutcome::Taken(held) => {
            assert_eq!((held.holder.as_str(), held.pid, held.host.as_str()), ("a", 1, "jump-1"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(a.acquire_lease("a", 1, "jump-1", T0 + 20).unwrap(), LeaseOutcome::Held, "renewed");
    let fresh = T0 + 20 + LEASE_TTL;
    assert!(matches!(b.acquire_lease("b", 2, "jump-2", fresh).unwrap(), LeaseOutcome::Taken(_)), "renewed at +20");
    // a stops: no heartbeat after +20; past the TTL, b takes over.
    assert_eq!(b.acquire_lease("b", 2, "jump-2", fresh + 1).unwrap(), LeaseOutcome::Held);
    a.release_lease("a").unwrap();
    assert_eq!(a.lease().unwrap().unwrap().holder, "b", "a cannot release b's lease");
    b.release_lease("b").unwrap();
    assert_eq!(a.lease().unwrap(), None);
    let seen = a.poller_seen().unwrap().unwrap();
    assert_eq!((seen.pid, seen.heartbeat, seen.released), (2, fresh + 1, true), "who polled last stays known");
}
crate::on_both_backends!(the_lease_is_held_by_one_and_taken_over_when_stale);

/// Eight pollers ask for a free lease at the same moment, each on a connection of its own:
/// one gets it (without the writers' lock on PostgreSQL, four or five did).
fn one_of_many_takes_the_lease(place: &Place) {
    let barrier = std::sync::Barrier::new(8);
    let outcomes: Vec<LeaseOutcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let mut store = place.open();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    store.acquire_lease(&format!("poller-{i}"), i, &format!("host-{i}"), T0).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let held = outcomes.iter().filter(|o| **o == LeaseOutcome::Held).count();
    assert_eq!(held, 1, "{outcomes:?}");
}
crate::on_both_backends!(one_of_many_takes_the_lease);

/// Windows announced, listed soonest first, the upcoming one cancelled (its plan kept), the
/// running one ended now, and neither ended twice.
fn maintenance_windows_are_announced_listed_and_ended(place: &Place) {
    let mut store = place.open();
    let before = store.generation().unwrap();
    let later = store.add_maintenance(&Scope::Group("Sales".into()), T0 + 3600, T0 + 7200, "reload", None, T0).unwrap();
    let now = store.add_maintenance(&Scope::All, T0 - 60, T0 + 600, "upgrade", Some("ana"), T0).unwrap();
    assert_ne!(later, now);
    assert_eq!(store.generation().unwrap(), before + 2, "viewers follow each change");
    let err = store.add_maintenance(&Scope::All, T0, T0, "nothing", None, T0).unwrap_err();
    assert!(matches!(err, StoreError::Refused(_)), "{err}");
    let listed: Vec<(i64, Scope, Option<String>)> =
        store.maintenance_windows(T0, false).unwrap().into_iter().map(|w| (w.id, w.scope, w.author)).collect();
    assert_eq!(listed, vec![(now, Scope::All, Some("ana".into())), (later, Scope::Group("Sales".into()), None)]);
    assert!(store.scope_exists(&Scope::All).unwrap());
    assert!(!store.scope_exists(&Scope::Product("nobody".into())).unwrap());

    assert_eq!(store.end_maintenance(later, T0 + 5).unwrap(), Ended::Cancelled);
    assert_eq!(store.end_maintenance(now, T0 + 5).unwrap(), Ended::Ended);
    for id in [later, now] {
        assert!(matches!(store.end_maintenance(id, T0 + 6), Err(StoreError::Refused(_))));
    }
    assert!(matches!(store.end_maintenance(9999, T0), Err(StoreError::Refused(_))));
    let all = store.maintenance_windows(T0, true).unwrap();
    let cancelled = all.iter().find(|w| w.id == later).unwrap();
    assert_eq!((cancelled.starts_at, cancelled.ends_at, cancelled.cancelled_at), (T0 + 3600, T0 + 7200, Some(T0 + 5)));
    assert_eq!(all.iter().find(|w| w.id == now).unwrap().ends_at, T0 + 5);
    assert!(store.maintenance_windows(T0 + 6, false).unwrap().is_empty());
}
crate::on_both_backends!(maintenance_windows_are_announced_listed_and_ended);

/// Maintenance news becomes events (each once), events become deliveries per webhook (a
/// digest's due at the end of its period), failures are retried and counted for the board,
/// and a delivery settles the count.
fn events_are_routed_delivered_and_counted(place: &Place) {
    use tablestat::event::{EventKind, Route, Routing};
    use tablestat::store::DeliveryOutcome;
    let mut store = place.open();
    let window = store.add_maintenance(&Scope::All, T0 - 600, T0 + 600, "upgrade", None, T0 - 700).unwrap();
    assert_eq!(store.maintenance_events(T0).unwrap(), 1, "started, not yet ended");
    assert_eq!(store.maintenance_events(T0 + 1).unwrap(), 0, "each once");
    let routes = [
        Routing { name: "ops".into(), route: Route::default(), digest: None },
        Routing { name: "digest".into(), route: Route::default(), digest: Some(3600) },
        Routing {
            name: "incidents-only".into(),
            route: Route { events: vec![EventKind::IncidentOpened], ..Route::default() },
            digest: None,
        },
    ];
    assert_eq!(store.route_events(&routes, T0).unwrap(), 2);
    assert_eq!(store.route_events(&routes, T0).unwrap(), 0, "routed once");
    let due = store.due_deliveries(T0, 10, &["digest".to_string()], None).unwrap();
    assert_eq!(due.len(), 1);
    let first = &due[0];
    assert_eq!((first.target.as_str(), first.attempts, first.created_at), ("ops", 0, T0 - 600));
    assert_eq!(first.event.event, EventKind::MaintenanceStarted);
    assert_eq!(first.event.maintenance.as_ref().map(|m| m.id), Some(window));
    assert!(store.due_deliveries(T0, 10, &[], Some("digest")).unwrap().is_empty(), "the digest waits for its hour");
    let digest_at = (T0 / 3600 + 1) * 3600;
    assert_eq!(store.due_deliveries(digest_at, 10, &[], Some("digest")).unwrap().len(), 1);

    let generation = store.generation().unwrap();
    let retry = DeliveryOutcome::RetryAt { at: T0 + 60, error: "HTTP 503".into() };
    store.finish_delivery(first.event_id, "ops", &retry, T0).unwrap();
    let health = store.notify_health(T0).unwrap();
    assert_eq!((health.undelivered, health.last_failure), (1, Some(("ops".into(), "HTTP 503".into()))));
    assert_eq!(store.generation().unwrap(), generation + 1, "the board hears of the failure");
    assert!(store.due_deliveries(T0 + 59, 10, &["digest".to_string()], None).unwrap().is_empty());
    let again = store.due_deliveries(T0 + 60, 10, &["digest".to_string()], None).unwrap();
    assert_eq!(again[0].attempts, 1);
    store.finish_delivery(first.event_id, "ops", &DeliveryOutcome::Delivered, T0 + 60).unwrap();
    assert_eq!(store.notify_health(T0 + 60).unwrap().undelivered, 0);
    assert_eq!(store.generation().unwrap(), generation + 2, "and of the recovery");
}
crate::on_both_backends!(events_are_routed_delivered_and_counted);

/// A server that is not there is named with the cause, and the URL's password is not.
#[test]
fn an_unreachable_postgres_is_said_with_its_cause_and_without_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Store::open_postgres(&format!("postgres://tablestat:s3cret@127.0.0.1:{port}/history")).err().unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("history database postgres://…@127.0.0.1:{port}/history: error connecting")),
        "{text}"
    );
    assert!(text.contains("refused") && !text.contains("s3cret"), "{text}");
}

/// A SQLite history file with this build's schema.
fn sqlite_file(dir: &Path) -> rusqlite::Connection {
    let path = dir.join("history.db");
    drop(Store::open(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap()
}

/// Every table and index of SQLite's schema, with each column's name, place, kind and
/// NOT NULL, is in PostgreSQL's, and nothing else: a migration written for one backend
/// only fails here.
#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
fn the_postgres_schema_is_sqlites_in_its_own_words() {
    let dir = tempfile::tempdir().unwrap();
    let conn = sqlite_file(dir.path());
    let names = |sql: &str| -> Vec<String> {
        conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let mut sqlite: BTreeMap<String, Vec<(String, &str, bool)>> = BTreeMap::new();
    for table in names("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") {
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
    let sqlite_indexes =
        names("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name");

    let database = Database::new();
    drop(Store::open_postgres(&database.url()).unwrap());
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
    let meta = |rows: Vec<(String, i64)>| rows.into_iter().collect::<BTreeMap<_, _>>();
    let sqlite_meta = meta(
        conn.prepare("SELECT key, value FROM meta")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap(),
    );
    let postgres_meta =
        meta(client.query("SELECT key, value FROM meta", &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect());
    assert_eq!(postgres_meta, sqlite_meta, "the rows a new database starts with");
    assert_eq!(Store::open(&dir.path().join("history.db")).unwrap().schema_version().unwrap(), 11);
}

/// Opening again migrates nothing; a database of a newer tablestat is refused as SQLite's is.
#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
fn a_postgres_store_is_migrated_once_and_a_newer_one_refused() {
    let database = Database::new();
    let mut store = Store::open_postgres(&database.url()).unwrap();
    store.add_maintenance(&Scope::All, T0, T0 + 60, "kept", None, T0).unwrap();
    drop(store);
    let store = Store::open_postgres(&database.url()).unwrap();
    assert_eq!(store.maintenance_windows(T0, false).unwrap().len(), 1, "opening again changed nothing");
    database.connect().execute("INSERT INTO tablestat_schema (version) VALUES (12)", &[]).unwrap();
    let err = Store::open_postgres(&database.url()).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { found: 12, known: 11, .. }), "{err}");
    assert!(err.to_string().starts_with("history database postgres://…@127.0.0.1:"), "{err}");
}

/// A role granted `SELECT` alone opens the store to view: it reads every state, is told it may
/// not write, and a write it tries anyway is refused by the server, naming the table.
#[test]
#[ignore = "needs PostgreSQL (Debian's postgresql package)"]
fn a_read_only_role_views_and_is_told_it_may_not_write() {
    let database = Database::new();
    let mut owner = Store::open_postgres(&database.url()).unwrap();
    owner.add_maintenance(&Scope::All, T0, T0 + 60, "seen by viewers", None, T0).unwrap();
    assert!(owner.can_write().unwrap());
    database
        .connect()
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE viewer LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO viewer",
        )
        .unwrap();
    let url = database.url().replace("postgres://postgres@", "postgres://viewer@");
    let mut viewer = Store::open_postgres(&url).unwrap();
    assert!(!viewer.can_write().unwrap(), "SELECT alone: a viewer");
    assert_eq!(viewer.maintenance_windows(T0, false).unwrap()[0].message, "seen by viewers");
    let refused = viewer.acquire_lease("viewer", 1, "laptop", T0).unwrap_err().to_string();
    assert!(refused.contains("permission denied for table lease"), "{refused}");
}
