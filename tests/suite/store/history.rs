//! The history store on a real SQLite file and a PostgreSQL database: run-length intervals, uptime with maintenance,
//! unknown and gaps (hand-computed), bars at day boundaries in another zone, incidents,
//! maintenance windows, migrations, the lease, viewers seeing writes.

use crate::common::backend::Place;
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use tablestat::evaluate::Evaluation;
use tablestat::model::{Evidence, Metric, Product, State, Verdict};
use tablestat::poller::Checked;
use tablestat::store::{IncidentStatus, LeaseOutcome, PollRecord, Scope, Store, StoreError, WindowKind};

const H: i64 = 3600;
const D: i64 = 86_400;

fn t0() -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap().timestamp()
}

fn at(ts: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap()
}

fn product(id: &str) -> Product {
    let mut p = crate::common::product(id);
    p.metrics = vec![Metric::Freshness, Metric::Uniqueness];
    p
}

fn checked(p: &Product, ts: i64, states: &[(Metric, State, &str)]) -> Checked {
    let metrics: Vec<(Metric, Verdict)> = states.iter().map(|(m, s, r)| (m.clone(), Verdict::new(*s, *r))).collect();
    Checked {
        product: std::sync::Arc::new(p.clone()),
        evaluation: Evaluation {
            state: State::worst_of(metrics.iter().map(|(_, v)| v.state)).unwrap(),
            metrics,
            evidence: Evidence { dag_id: Some(p.dag_id.clone()), ..Evidence::default() },
            note: None,
            refresh: None,
            run_finished_at: Some(at(ts - 120)),
            cause: None,
        },
        checked_at: at(ts),
        interval: std::time::Duration::from_secs(300),
    }
}

fn record(store: &mut Store, products: &[Product], checked: &[Checked], ts: i64) -> tablestat::store::WriteSummary {
    record_guarded(store, products, checked, ts, 1)
}

fn record_guarded(
    store: &mut Store,
    products: &[Product],
    checked: &[Checked],
    ts: i64,
    open_incident_after: u32,
) -> tablestat::store::WriteSummary {
    let products: Vec<std::sync::Arc<Product>> = products.iter().cloned().map(std::sync::Arc::new).collect();
    store.record_poll(&crate::common::poll_at(ts, checked, &products, open_incident_after)).unwrap()
}

fn up(p: &Product, ts: i64) -> Checked {
    checked(p, ts, &[(Metric::Freshness, State::Up, "refreshed"), (Metric::Uniqueness, State::Up, "1 test passed")])
}

fn count(store_path: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(store_path).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

crate::on_both_backends!(
    state_changes_are_stored_as_intervals_and_quiet_polls_write_none,
    the_same_words_are_stored_once_across_restarts_and_a_changed_row_is_never_trusted,
    uptime_leaves_out_maintenance_unknown_and_gaps,
    bars_split_at_local_midnight,
    incidents_open_update_and_resolve_by_themselves,
    maintenance_windows_cover_products_groups_and_everything,
    a_holder_that_died_on_this_host_gives_the_lease_up_at_once,
    a_viewer_sees_the_pollers_writes,
    the_generation_moves_with_what_people_see_not_with_heartbeats,
    maintenance_shows_when_it_starts_and_ends_not_at_the_next_poll,
    the_flapping_guard_opens_an_incident_only_after_n_polls_down_in_a_row_even_across_a_restart,
    a_full_poll_stamps_checked_at_once_and_partial_polls_per_product,
    the_current_span_and_last_refresh_kept_beside_the_history_always_match_it,
    the_last_judgment_survives_blips_maintenance_and_blocks,
    a_stored_state_nobody_refreshed_is_shown_unknown,
    a_poll_whose_lease_was_lost_is_not_written,
    a_metric_added_later_stays_with_its_product_in_the_slo_input,
    an_incident_closed_as_a_false_positive_leaves_uptime_with_who_and_why,
    an_expected_incident_leaves_uptime_only_where_the_product_says_so
);

fn state_changes_are_stored_as_intervals_and_quiet_polls_write_none(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    let ps = [p.clone()];
    for i in 0..5 {
        let s = record(&mut store, &ps, &[up(&p, t0() + i * 240)], t0() + i * 240);
        assert_eq!(s.changes, if i == 0 { 3 } else { 0 }, "poll {i}");
    }
    assert_eq!(place.count("SELECT count(*) FROM span"), 3, "two metrics and the overall state");
    // A change starts a new span, which ends the old one at the change.
    let down = checked(
        &p,
        t0() + 1200,
        &[(Metric::Freshness, State::Up, "refreshed"), (Metric::Uniqueness, State::Down, "unique test failed")],
    );
    assert_eq!(record(&mut store, &ps, &[down], t0() + 1200).changes, 2);
    assert_eq!(place.count("SELECT count(*) FROM span"), 5);
    let uniqueness = "SELECT count(*) FROM span sp JOIN series s ON s.id = sp.series WHERE s.metric = 'uniqueness'";
    let starting = |at: i64| place.count(&format!("{uniqueness} AND sp.start = {at}"));
    assert_eq!(
        (place.count(uniqueness), starting(t0()), starting(t0() + 1200)),
        (2, 1, 1),
        "up from the first poll, down from the change"
    );
    // The same state with new words updates the reason in place.
    let reworded = checked(
        &p,
        t0() + 1440,
        &[(Metric::Freshness, State::Up, "refreshed again"), (Metric::Uniqueness, State::Down, "unique test failed")],
    );
    assert_eq!(record(&mut store, &ps, &[reworded], t0() + 1440).changes, 0);
    assert_eq!(place.count("SELECT count(*) FROM span"), 5);
    assert_eq!(place.count("SELECT count(*) FROM verdict WHERE text = 'refreshed again'"), 1);
    // The old words, no longer spoken by any span, go at the next prune; the rest stay.
    store.prune_polls(t0()).unwrap();
    assert_eq!(place.count("SELECT count(*) FROM verdict WHERE text = 'refreshed'"), 0);
    assert_eq!(place.count("SELECT count(*) FROM verdict"), 5, "the verdicts of every span, old ones included");
    let quiet = checked(
        &p,
        t0() + 1680,
        &[(Metric::Freshness, State::Up, "refreshed"), (Metric::Uniqueness, State::Down, "unique test failed")],
    );
    record(&mut store, &ps, &[quiet], t0() + 1680);
    assert_eq!(
        place.count("SELECT count(*) FROM verdict WHERE text = 'refreshed'"),
        1,
        "interned again after the prune"
    );
    assert_eq!(place.count("SELECT count(*) FROM poll"), 8);
    assert_eq!(place.count("SELECT count(*) FROM coverage"), 1);
}

fn the_same_words_are_stored_once_across_restarts_and_a_changed_row_is_never_trusted(place: &Place) {
    let p = product("orders");
    let ps = [p.clone()];
    let failed = |ts: i64| {
        checked(
            &p,
            ts,
            &[(Metric::Freshness, State::Up, "refreshed"), (Metric::Uniqueness, State::Down, "unique test failed")],
        )
    };
    let failed_rows = "SELECT count(*) FROM verdict WHERE text = 'unique test failed'";
    let mut store = place.open();
    for i in 0..4 {
        let ts = t0() + i * 600;
        record(&mut store, &ps, &[if i % 2 == 0 { up(&p, ts) } else { failed(ts) }], ts);
    }
    assert_eq!(place.count(failed_rows), 1, "found again by the writer's map");
    drop(store);
    // A new process reads the verdicts it has not seen from the table.
    let mut store = place.open();
    record(&mut store, &ps, &[up(&p, t0() + 2400)], t0() + 2400);
    record(&mut store, &ps, &[failed(t0() + 3000)], t0() + 3000);
    assert_eq!(place.count(failed_rows), 1, "found in the table after a restart");
    assert_eq!(place.count("SELECT count(*) FROM verdict"), 5);
    // Another connection changes the row the writer's map points at: the map is only a hint.
    place.execute("UPDATE verdict SET text = 'reworded elsewhere' WHERE text = 'unique test failed'");
    record(&mut store, &ps, &[up(&p, t0() + 3600)], t0() + 3600);
    record(&mut store, &ps, &[failed(t0() + 4200)], t0() + 4200);
    assert_eq!(place.count(failed_rows), 1, "written anew, not taken from the changed row");
    let snap = store.snapshot(t0() + 4200, FixedOffset::east_opt(0).unwrap()).unwrap();
    let uniqueness = snap.products[0].metrics.iter().find(|m| m.metric == Metric::Uniqueness).unwrap();
    assert_eq!((uniqueness.state, uniqueness.reason.as_str()), (State::Down, "unique test failed"));
}

/// A day, by hand: up 0–6 h, down 6–8 h, maintenance 8–10 h, unknown 10–11 h, then no
/// poller 11–15 h (the state was up, but nobody watched), then up 15–24 h.
/// Judged: up 6 + 9 = 15 h, down 2 h -> 15 / 17 = 88.235 %.
fn uptime_leaves_out_maintenance_unknown_and_gaps(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    let ps = [p.clone()];
    let both = |s: State| [(Metric::Freshness, s, "x"), (Metric::Uniqueness, State::Up, "y")];
    let mut ts = t0();
    let end = t0() + D;
    while ts <= end {
        let hour = (ts - t0()) / H;
        let state = match hour {
            6..8 => State::Down,
            8..10 => State::Maintenance,
            10..11 => State::Unknown,
            _ => State::Up,
        };
        if !(11..15).contains(&hour) {
            record(&mut store, &ps, &[checked(&p, ts, &both(state))], ts);
        }
        ts += 4 * 60;
    }
    let snapshot = store.snapshot(end, FixedOffset::east_opt(0).unwrap()).unwrap();
    let row = &snapshot.products[0];
    let uptime = row.uptime(WindowKind::Day).unwrap();
    assert!((uptime - 15.0 * 100.0 / 17.0).abs() < 0.01, "{uptime}");
    // 7 and 30 days: the same judged time (nothing before t0).
    assert_eq!(row.uptime(WindowKind::Week), row.uptime(WindowKind::Day));
    assert_eq!(row.state, State::Up);
    // The bar for that day shows the worst state; the days before it, no data.
    assert_eq!(row.bars.len(), 90);
    assert_eq!(row.bars[88], Some(State::Down));
    assert_eq!(row.bars[..88].iter().filter(|b| b.is_some()).count(), 0);
    // `status` reads the same uptime without bucketing bars it does not print.
    let zone = FixedOffset::east_opt(0).unwrap();
    let lean = store.snapshot_naming(end, zone, &[], tablestat::store::Depth::Uptime).unwrap();
    let lean = &lean.products[0];
    assert_eq!(WindowKind::ALL.map(|w| lean.uptime(w)), WindowKind::ALL.map(|w| row.uptime(w)));
    assert!(lean.bars.is_empty() && lean.hour_bars.is_empty());
    assert_eq!(lean.evidence, row.evidence);
}

fn bars_split_at_local_midnight(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    let ps = [p.clone()];
    // Down from 22:00 to 23:00 UTC on Nov 1: Nov 1 in UTC, Nov 2 in UTC+03:00.
    let mut ts = t0();
    while ts <= t0() + 2 * D {
        let down = (22 * H..23 * H).contains(&(ts - t0()));
        let state = if down { State::Down } else { State::Up };
        record(
            &mut store,
            &ps,
            &[checked(&p, ts, &[(Metric::Freshness, state, "x"), (Metric::Uniqueness, State::Up, "y")])],
            ts,
        );
        ts += 4 * 60;
    }
    let now = t0() + 2 * D;
    let utc = store.snapshot(now, FixedOffset::east_opt(0).unwrap()).unwrap();
    let plus3 = store.snapshot(now, FixedOffset::east_opt(3 * 3600).unwrap()).unwrap();
    let tail = |s: &tablestat::store::BoardSnapshot| s.products[0].bars[87..].to_vec();
    // UTC: Nov 1 (down), Nov 2 (up), Nov 3 (00:00 only: up).
    assert_eq!(tail(&utc), [Some(State::Down), Some(State::Up), None]);
    // UTC+3: Oct 31 21:00Z–Nov 1 21:00Z local day is up; the next local day holds the outage.
    assert_eq!(tail(&plus3), [Some(State::Up), Some(State::Down), Some(State::Up)]);
}

fn incidents_open_update_and_resolve_by_themselves(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    let ps = [p.clone()];
    record(&mut store, &ps, &[up(&p, t0())], t0());
    let broken = checked(
        &p,
        t0() + 300,
        &[
            (Metric::Freshness, State::Up, "refreshed"),
            (Metric::Uniqueness, State::Down, "unique test on order_id failed: 2 duplicated values"),
        ],
    );
    let s = record(&mut store, &ps, &[broken], t0() + 300);
    assert_eq!(s.incidents_opened.len(), 1);
    let id = s.incidents_opened[0];
    // Worse: freshness goes down too.
    let worse = checked(
        &p,
        t0() + 600,
        &[
            (Metric::Freshness, State::Down, "not rebuilt"),
            (Metric::Uniqueness, State::Down, "unique test on order_id failed: 2 duplicated values"),
        ],
    );
    record(&mut store, &ps, std::slice::from_ref(&worse), t0() + 600);
    // Nothing new: no update.
    record(
        &mut store,
        &ps,
        &[checked(
            &p,
            t0() + 900,
            &[
                (Metric::Freshness, State::Down, "not rebuilt"),
                (Metric::Uniqueness, State::Down, "unique test on order_id failed: 2 duplicated values"),
            ],
        )],
        t0() + 900,
    );
    store
        .update_incident(
            id,
            IncidentStatus::Identified,
            "A duplicate load from the CRM export.",
            Some(t0() + 4 * H),
            Some("ana"),
            t0() + 1000,
        )
        .unwrap();
    let s = record(&mut store, &ps, &[up(&p, t0() + 1800)], t0() + 1800);
    assert_eq!(s.incidents_resolved, vec![id]);

    let incident = store.incident(id).unwrap();
    assert_eq!(incident.title, "orders is down: uniqueness");
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.metrics, ["uniqueness", "freshness"]);
    assert_eq!(incident.severity, tablestat::model::Severity::Minor);
    assert_eq!(incident.eta, Some(t0() + 4 * H));
    assert_eq!(incident.time_to_detect(), 120);
    assert_eq!(incident.time_to_resolve(), Some(1500));
    let timeline: Vec<(bool, Option<IncidentStatus>, String)> =
        incident.updates.iter().map(|u| (u.automatic, u.status, u.message.clone())).collect();
    assert_eq!(
        timeline,
        vec![
            (
                true,
                Some(IncidentStatus::Investigating),
                "Detected. uniqueness down: unique test on order_id failed: 2 duplicated values".to_string()
            ),
            (true, None, "Changed: freshness down: not rebuilt".to_string()),
            (false, Some(IncidentStatus::Identified), "A duplicate load from the CRM export.".to_string()),
            (true, Some(IncidentStatus::Resolved), "Recovered: every metric is up again.".to_string()),
        ]
    );
    assert_eq!(store.mean_time_to_resolve("orders").unwrap(), Some(1500.0));
    assert!(store.incidents(None, 10).unwrap()[0].resolved_at.is_some());
    // Updating a resolved incident is refused with a reason.
    let err = store.update_incident(id, IncidentStatus::Monitoring, "x", None, None, t0() + 2000).unwrap_err();
    assert!(err.to_string().starts_with(&format!("incident #{id} is already resolved (at ")), "{err}");
    // Resolving again too: the timeline keeps one resolution.
    let updates = store.incident(id).unwrap().updates.len();
    assert!(store.update_incident(id, IncidentStatus::Resolved, "again", None, None, t0() + 2100).is_err());
    assert_eq!(store.incident(id).unwrap().updates.len(), updates);
}

fn maintenance_windows_cover_products_groups_and_everything(place: &Place) {
    let mut store = place.open();
    let mut a = product("orders");
    a.group = "Sales".into();
    let mut b = product("revenue");
    b.group = "Finance".into();
    let products = [a.clone(), b.clone()];
    let id = store
        .add_maintenance(&Scope::Group("Sales".into()), t0() + H, t0() + 3 * H, "Warehouse upgrade", Some("ops"), t0())
        .unwrap();
    assert!(store.prior(&products, t0()).unwrap().maintenance.is_empty(), "not started yet");
    let prior = store.prior(&products, t0() + 2 * H).unwrap();
    assert_eq!(prior.maintenance.keys().collect::<Vec<_>>(), ["orders"]);
    assert_eq!(prior.maintenance["orders"].message, "Warehouse upgrade");
    store.end_maintenance(id, t0() + 2 * H + 60).unwrap();
    assert!(store.prior(&products, t0() + 2 * H + 120).unwrap().maintenance.is_empty(), "ended early");
    store.add_maintenance(&Scope::All, t0(), t0() + H, "Everything", None, t0()).unwrap();
    assert_eq!(store.prior(&products, t0() + 60).unwrap().maintenance.len(), 2);
    assert_eq!(Scope::parse("product:orders"), Scope::Product("orders".into()));
    assert!(store.end_maintenance(999, t0()).is_err());
    assert!(store.add_maintenance(&Scope::All, t0() + H, t0(), "backwards", None, t0()).is_err());
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/history.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 11);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 11);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 12).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::TooNew { found: 12, known: 11, .. }));
    assert!(err.to_string().contains("newer than this tablestat knows (11): upgrade tablestat"), "{err}");
}

/// A poller killed with `kill -9` leaves a fresh heartbeat behind; on the same host its
/// process is seen gone and the lease is taken at once. Elsewhere the heartbeat decides.
fn a_holder_that_died_on_this_host_gives_the_lease_up_at_once(place: &Place) {
    let (mut a, mut b) = (place.open(), place.open());
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = i64::from(child.id());
    child.wait().unwrap();
    assert_eq!(a.acquire_lease("a", dead, "jump", t0()).unwrap(), LeaseOutcome::Held);
    assert_eq!(b.acquire_lease("b", 1, "jump", t0() + 1).unwrap(), LeaseOutcome::Held);
    b.release_lease("b").unwrap();
    assert_eq!(a.acquire_lease("a", dead, "elsewhere", t0() + 2).unwrap(), LeaseOutcome::Held);
    assert!(matches!(b.acquire_lease("b", 1, "jump", t0() + 3).unwrap(), LeaseOutcome::Taken(_)));
}

fn a_viewer_sees_the_pollers_writes(place: &Place) {
    let (mut writer, viewer) = (place.open(), place.open());
    let before = viewer.data_version().unwrap();
    assert_eq!(viewer.data_version().unwrap(), before, "nothing written");
    let p = product("orders");
    record(&mut writer, std::slice::from_ref(&p), &[up(&p, t0())], t0());
    assert_ne!(viewer.data_version().unwrap(), before);
    let snapshot = viewer.snapshot(t0() + 60, FixedOffset::east_opt(0).unwrap()).unwrap();
    assert_eq!(snapshot.products.len(), 1);
    assert_eq!(snapshot.products[0].state, State::Up);
    assert_eq!(snapshot.products[0].checked_at, Some(t0()));
}

fn the_generation_moves_with_what_people_see_not_with_heartbeats(place: &Place) {
    let mut store = place.open();
    let g0 = store.generation().unwrap();
    store.acquire_lease("a", 1, "host", t0()).unwrap();
    store.acquire_lease("a", 1, "host", t0() + 10).unwrap();
    store.heartbeat(t0() + 20).unwrap();
    assert_eq!(store.generation().unwrap(), g0, "lease and coverage heartbeats are not news");
    let p = product("orders");
    record(&mut store, std::slice::from_ref(&p), &[up(&p, t0())], t0());
    let g1 = store.generation().unwrap();
    assert!(g1 > g0);
    store.add_maintenance(&Scope::All, t0(), t0() + H, "x", None, t0()).unwrap();
    assert!(store.generation().unwrap() > g1);
}

fn maintenance_shows_when_it_starts_and_ends_not_at_the_next_poll(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    record(&mut store, std::slice::from_ref(&p), &[up(&p, t0())], t0());
    let zone = FixedOffset::east_opt(0).unwrap();
    let id = store.add_maintenance(&Scope::All, t0() + 60, t0() + H, "Reload", None, t0() + 60).unwrap();
    let row = &store.snapshot(t0() + 120, zone).unwrap().products[0];
    assert_eq!(row.state, State::Maintenance);
    assert!(row.metrics.iter().all(|m| m.state == State::Maintenance && m.reason.ends_with(": Reload")));
    assert_eq!(row.since, Some(t0() + 60), "in maintenance since the window began, not up since the poll");
    assert!(row.metrics.iter().all(|m| m.since == Some(t0() + 60)));
    // A poll during the window records maintenance; ending it early shows at once.
    let during = checked(
        &p,
        t0() + 180,
        &[(Metric::Freshness, State::Maintenance, "m"), (Metric::Uniqueness, State::Maintenance, "m")],
    );
    record(&mut store, std::slice::from_ref(&p), &[during], t0() + 180);
    store.end_maintenance(id, t0() + 240).unwrap();
    let again = store.end_maintenance(id, t0() + 270).unwrap_err().to_string();
    assert!(again.contains(&format!("maintenance window #{id} already ended at ")), "{again}");
    let row = &store.snapshot(t0() + 300, zone).unwrap().products[0];
    assert_eq!(row.state, State::Unknown);
    assert_eq!(row.metrics[0].reason, "maintenance has ended; waiting for the next poll");
    assert_eq!(row.since, Some(t0() + 240), "unknown since the window was ended, not since it began");
    assert!(row.metrics.iter().all(|m| m.since == Some(t0() + 240)));
    // And the next poll carries what was judged before the window, not "not checked".
    let prior = store.prior(std::slice::from_ref(&p), t0() + 300).unwrap();
    assert_eq!(prior.previous["orders"][&Metric::Uniqueness].verdict.reason, "1 test passed");
}

fn the_flapping_guard_opens_an_incident_only_after_n_polls_down_in_a_row_even_across_a_restart(place: &Place) {
    let mut store = place.open();
    let p = product("fct_orders");
    let ps = vec![p.clone()];
    let down = |ts| checked(&p, ts, &[(Metric::Freshness, State::Down, "late"), (Metric::Uniqueness, State::Up, "ok")]);
    let poll = |store: &mut Store, c: Checked, ts: i64| record_guarded(store, &ps, &[c], ts, 3);
    poll(&mut store, up(&p, t0()), t0());

    // Down, down, up: a flap. The state is shown at once, but no incident, no event.
    assert!(poll(&mut store, down(t0() + 300), t0() + 300).incidents_opened.is_empty());
    let snap = store.snapshot(t0() + 300, FixedOffset::east_opt(0).unwrap()).unwrap();
    assert_eq!(snap.products[0].state, State::Down, "the board does not wait for the guard");
    assert!(poll(&mut store, down(t0() + 600), t0() + 600).incidents_opened.is_empty());
    poll(&mut store, up(&p, t0() + 900), t0() + 900);

    // Down three polls in a row, with a restart of the poller in the middle.
    assert!(poll(&mut store, down(t0() + 1200), t0() + 1200).incidents_opened.is_empty());
    assert!(poll(&mut store, down(t0() + 1500), t0() + 1500).incidents_opened.is_empty());
    drop(store);
    let mut store = place.open();
    let opened = poll(&mut store, down(t0() + 1800), t0() + 1800).incidents_opened;
    assert_eq!(opened.len(), 1, "the third poll down in a row opens it");
    assert_eq!(store.incident(opened[0]).unwrap().opened_at, t0() + 1800);
    assert_eq!(place.count("SELECT count(*) FROM event WHERE kind = 'incident_opened'"), 1);
    assert_eq!(place.count("SELECT count(*) FROM incident"), 1);
    // Still down: no second incident.
    assert!(poll(&mut store, down(t0() + 2100), t0() + 2100).incidents_opened.is_empty());
}

#[test]
fn a_database_of_the_first_release_is_migrated_with_its_history_kept() {
    // Written by tablestat's first release (schema 1; tests/fixtures/store/make_v1.py).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    std::fs::copy(crate::common::fixture("store/history-v1.db"), &path).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 11);
    assert_eq!(count(&path, CURRENT_MISKEPT), 0, "the current span of each series is found by the migration");
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let now = t0() + 2 * D;
    let snap = store.snapshot(now, FixedOffset::east_opt(0).unwrap()).unwrap();
    let orders = snap.products.iter().find(|p| p.product.id == "orders").unwrap();
    assert_eq!(orders.state, State::Down);
    let uniqueness = orders.metrics.iter().find(|m| m.metric == Metric::Uniqueness).unwrap();
    assert_eq!(
        (uniqueness.state, uniqueness.reason.as_str(), uniqueness.since),
        (State::Down, "unique test failed", Some(t0() + D))
    );
    // Up for a day, down for a day, watched throughout: 50 % over 48 h, and the day bars say so.
    assert_eq!(orders.uptime(WindowKind::Week), Some(50.0));
    assert_eq!(store.incidents(Some("orders"), 10).unwrap().len(), 1);
    assert_eq!(count(&path, "SELECT count(*) FROM event"), 0, "history is not news");
    let tables: i64 = count(&path, "SELECT count(*) FROM sqlite_master WHERE name = 'interval'");
    assert_eq!(tables, 0, "the old table is gone");
}

fn a_full_poll_stamps_checked_at_once_and_partial_polls_per_product(place: &Place) {
    let mut store = place.open();
    let (a, b) = (product("a"), product("b"));
    let ps = vec![a.clone(), b.clone()];
    let checked_at = |store: &Store, now: i64| -> Vec<Option<i64>> {
        let snap = store.snapshot(now, FixedOffset::east_opt(0).unwrap()).unwrap();
        snap.products.iter().map(|p| p.checked_at).collect()
    };
    record(&mut store, &ps, &[up(&a, t0()), up(&b, t0())], t0());
    assert_eq!(checked_at(&store, t0()), [Some(t0()), Some(t0())]);
    // Only `b` was due: `a` keeps the full poll's moment.
    record(&mut store, &ps, &[up(&b, t0() + 600)], t0() + 600);
    assert_eq!(checked_at(&store, t0() + 600), [Some(t0()), Some(t0() + 600)]);
    record(&mut store, &ps, &[up(&a, t0() + 1200), up(&b, t0() + 1200)], t0() + 1200);
    assert_eq!(checked_at(&store, t0() + 1200), [Some(t0() + 1200), Some(t0() + 1200)]);
}

/// Series whose kept current span (schema 4) is not their last span, and products whose
/// kept last refresh is not their last refresh.
const CURRENT_MISKEPT: &str = "SELECT
    (SELECT count(*) FROM series s WHERE NOT EXISTS (SELECT 1 FROM span sp
        WHERE sp.series = s.id AND sp.start = s.start AND sp.verdict = s.verdict
          AND sp.start = (SELECT max(start) FROM span WHERE series = s.id)))
  + (SELECT count(*) FROM product p WHERE p.refreshed_at IS DISTINCT FROM (SELECT max(finished) FROM refresh WHERE product = p.id))";

fn the_current_span_and_last_refresh_kept_beside_the_history_always_match_it(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    let ps = [p.clone()];
    let refreshed = |ts: i64, finished: i64| {
        let mut c = up(&p, ts);
        c.evaluation.refresh = Some(tablestat::model::Refresh {
            dag_run_id: format!("run_{finished}"),
            data_interval_end: None,
            task_started: None,
            finished_at: at(finished),
        });
        c
    };
    let down = |ts: i64, words: &str| {
        checked(&p, ts, &[(Metric::Freshness, State::Up, "refreshed"), (Metric::Uniqueness, State::Down, words)])
    };
    let steps: Vec<(&str, Checked, i64)> = vec![
        ("first poll", refreshed(t0(), t0() - 60), t0()),
        ("a change", down(t0() + 300, "unique test failed"), t0() + 300),
        ("new words, same state", down(t0() + 600, "2 duplicates"), t0() + 600),
        ("another change in the same second", up(&p, t0() + 600), t0() + 600),
        ("an older refresh reported late", refreshed(t0() + 900, t0() - 3600), t0() + 900),
        ("a newer refresh", refreshed(t0() + 1200, t0() + 1100), t0() + 1200),
        ("a clock that stepped back", down(t0() + 1000, "unique test failed"), t0() + 1000),
        ("a clock before the current span", up(&p, t0() + 100), t0() + 100),
    ];
    for (step, c, ts) in steps {
        record(&mut store, &ps, &[c], ts);
        assert_eq!(place.count(CURRENT_MISKEPT), 0, "after {step}");
    }
    let row = &store.snapshot(t0() + 1300, FixedOffset::east_opt(0).unwrap()).unwrap().products[0];
    assert_eq!((row.state, row.last_refresh), (State::Up, Some(t0() + 1100)));
    assert_eq!(row.since, Some(t0() + 1000), "a span never starts before the current one: it replaces it");

    // An import of older and newer history moves what is current to the newest.
    let span = |start: i64, state: State| tablestat::store::SpanRow {
        product: "orders".into(),
        metric: Some(Metric::Uniqueness),
        state,
        reason: "imported".into(),
        start,
    };
    let history = tablestat::store::History {
        spans: vec![span(t0() - D, State::Up), span(t0() + D, State::Degraded)],
        ..Default::default()
    };
    store.import(&ps, &history).unwrap();
    assert_eq!(place.count(CURRENT_MISKEPT), 0, "after an import");
    // What is stored, not what is shown: a day after the last poll, the board says unknown.
    let (metrics, _, _) = store.product_detail("orders", t0() + D + 60, FixedOffset::east_opt(0).unwrap()).unwrap();
    let uniqueness = metrics.iter().find(|m| m.metric == Metric::Uniqueness).unwrap();
    assert_eq!((uniqueness.state, uniqueness.since), (State::Degraded, Some(t0() + D)));
}

/// Rule 4's carry keeps the last *judgment*: polls that could not see (unknown), a
/// maintenance window and a DAG block in between are skipped, and the time it held is
/// kept, so the next partial dbt run says "last tested …" rather than "not checked".
fn the_last_judgment_survives_blips_maintenance_and_blocks(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    let ps = std::slice::from_ref(&p);
    let judged = |ts| {
        checked(
            &p,
            ts,
            &[(Metric::Freshness, State::Up, "refreshed"), (Metric::Uniqueness, State::Down, "unique test failed")],
        )
    };
    let both = |ts, state, reason: &str| {
        checked(&p, ts, &[(Metric::Freshness, state, reason), (Metric::Uniqueness, state, reason)])
    };
    // (what happened after the judgment at t0, the poll at t0 + 600)
    let blips: Vec<(&str, Checked)> = vec![
        ("Airflow unreachable", both(t0() + 600, State::Unknown, "Airflow could not be read since x: 503")),
        ("a maintenance window", both(t0() + 600, State::Maintenance, "planned maintenance until x: m")),
        ("the DAG paused", both(t0() + 600, State::Down, "blocked: DAG shop_daily is paused")),
    ];
    for (case, blip) in blips {
        let place = place.another();
        let mut store_case = place.open();
        record(&mut store_case, ps, &[judged(t0())], t0());
        record(&mut store_case, ps, &[judged(t0() + 300)], t0() + 300);
        record(&mut store_case, ps, &[blip], t0() + 600);
        // A second blip of another kind in a row changes nothing.
        record(
            &mut store_case,
            ps,
            &[both(t0() + 900, State::Unknown, "Airflow could not be read since y: 401")],
            t0() + 900,
        );
        let prior = store_case.prior(ps, t0() + 1200).unwrap();
        let uniqueness = &prior.previous["orders"][&Metric::Uniqueness];
        assert_eq!(
            (uniqueness.verdict.state, uniqueness.verdict.reason.as_str(), uniqueness.at),
            (State::Down, "unique test failed", Some(at(t0() + 600))),
            "{case}: the judgment, held until the blip began"
        );
    }
    // A judgment that is current is dated by the last check.
    record(&mut store, ps, &[judged(t0())], t0());
    record(&mut store, ps, &[judged(t0() + 300)], t0() + 300);
    let prior = store.prior(ps, t0() + 400).unwrap();
    assert_eq!(prior.previous["orders"][&Metric::Uniqueness].at, Some(at(t0() + 300)));
    // Never judged: nothing to carry.
    let mut fresh = place.another().open();
    record(&mut fresh, ps, &[both(t0(), State::Unknown, "Airflow could not be read since x: 503")], t0());
    assert!(fresh.prior(ps, t0() + 60).unwrap().previous.get("orders").is_none_or(|m| m.is_empty()));
}

/// What every reader is shown ages: three poll intervals (at least 10 min) after the last
/// check the stored `up` is `unknown`, naming why; the stored history is untouched.
fn a_stored_state_nobody_refreshed_is_shown_unknown(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    record(&mut store, std::slice::from_ref(&p), &[up(&p, t0())], t0());
    let zone = FixedOffset::east_opt(0).unwrap();
    // Checked every 5 min: fresh for 15.
    let fresh = store.snapshot(t0() + 899, zone).unwrap();
    assert_eq!(fresh.products[0].state, State::Up);
    assert_eq!(fresh.next_change, Some(t0() + 900), "the board looks again when it goes stale");
    let stale = store.snapshot(t0() + 900, zone).unwrap();
    let row = &stale.products[0];
    assert_eq!((row.state, row.since, row.stale), (State::Unknown, Some(t0() + 900), true));
    assert_eq!(
        row.metrics[0].reason,
        "not checked since 2026-11-01 00:00 UTC: no poller has run yet: start `tablestat poll`"
    );
    // A poller that held the lease and stopped beating is named.
    store.acquire_lease("me", 4242, "jump-1", t0() + 100).unwrap();
    let row = store.snapshot(t0() + 1000, zone).unwrap().products.remove(0);
    assert_eq!(
        row.metrics[1].reason,
        "not checked since 2026-11-01 00:00 UTC: the poller (pid 4242 on jump-1) stopped sending heartbeats at 2026-11-01 00:01 UTC"
    );
    // Given up on a clean exit: nobody polls, and who did last is still said.
    store.release_lease("me").unwrap();
    let row = store.snapshot(t0() + 1000, zone).unwrap().products.remove(0);
    assert!(
        row.metrics[1]
            .reason
            .ends_with("no poller is running (last heartbeat 2026-11-01 00:01 UTC on jump-1): start `tablestat poll`"),
        "{}",
        row.metrics[1].reason
    );
    // A product the config names that no poll has registered yet is on the page, unknown.
    let newcomer = product("payments");
    let named =
        store.snapshot_naming(t0() + 60, zone, &[p.clone(), newcomer], tablestat::store::Depth::Uptime).unwrap();
    let row = named.products.iter().find(|r| r.product.id == "payments").unwrap();
    assert_eq!(row.state, State::Unknown);
    assert!(row.metrics.iter().all(|m| m.reason.starts_with("not checked yet") && m.since.is_none()));
}

/// A poll is written only under the lease it was made under: if another poller took the
/// lease during a slow poll, the older poll is dropped, never written after newer ones.
fn a_poll_whose_lease_was_lost_is_not_written(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    store.acquire_lease("slow", 1, "jump-1", t0()).unwrap();
    // The slow poller stopped beating; another takes over and polls.
    store.acquire_lease("fast", 2, "jump-2", t0() + 40).unwrap();
    let products = vec![std::sync::Arc::new(p.clone())];
    let checked = [up(&p, t0() + 50)];
    let record = |store: &mut Store, holder| {
        store.record_poll(&PollRecord {
            started: t0(),
            finished: t0() + 50,
            error: None,
            airflow_requests: 3,
            dbt_requests: 0,
            checked: &checked,
            products: &products,
            open_incident_after: 1,
            critical_maturities: &[],
            sources: &[],
            holder: Some(holder),
        })
    };
    let err = record(&mut store, "slow").unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost { pid: 2, ref host } if host == "jump-2"), "{err}");
    assert_eq!(store.last_poll().unwrap(), None, "nothing of the lost poll was written");
    record(&mut store, "fast").unwrap();
    assert!(store.last_poll().unwrap().is_some());
}

/// A metric a product gains later gets a series made after other products' series; the SLO
/// report still finds all of a product's series under one entry.
fn a_metric_added_later_stays_with_its_product_in_the_slo_input(place: &Place) {
    let mut store = place.open();
    let (a, b) = (product("a"), product("b"));
    let both = [a.clone(), b.clone()];
    let fresh = [(Metric::Freshness, State::Up, "ok")];
    record(&mut store, &both, &[checked(&a, t0(), &fresh), checked(&b, t0(), &fresh)], t0());
    let later = [(Metric::Freshness, State::Up, "ok"), (Metric::Uniqueness, State::Down, "dupes")];
    record(&mut store, &both, &[checked(&a, t0() + H, &later), checked(&b, t0() + H, &fresh)], t0() + H);
    let input = store.slo_input(t0(), t0() + 2 * H).unwrap();
    let ids: Vec<&str> = input.history.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let metrics: Vec<&str> = input.history[0].1.iter().map(|(m, _)| m.as_str()).collect();
    assert!(metrics.contains(&"uniqueness") && metrics.contains(&"freshness"), "{metrics:?}");
}

/// A day: up, then down 06:00–08:00 (an incident that resolves by itself, `fixed`), then
/// down 12:00–16:00. Alice closes the second as a false positive: its time leaves uptime,
/// from the break (the failing run's end, 2 min before the poll saw it) to its resolution:
/// judged 24 h - 4 h 2 min, down 2 h: 1 - 7200 / 71880 = 89.983 %. The SLO input lists it,
/// the timeline says who and why; saying it twice is refused. Bob took the first one 10
/// min after it opened.
fn an_incident_closed_as_a_false_positive_leaves_uptime_with_who_and_why(place: &Place) {
    let mut store = place.open();
    let p = product("orders");
    let ps = [p.clone()];
    let mut ts = t0();
    while ts <= t0() + D {
        let hour = (ts - t0()) / H;
        let state = if (6..8).contains(&hour) || (12..16).contains(&hour) { State::Down } else { State::Up };
        record(
            &mut store,
            &ps,
            &[checked(&p, ts, &[(Metric::Freshness, state, "x"), (Metric::Uniqueness, State::Up, "y")])],
            ts,
        );
        if ts == t0() + 6 * H + 10 * 60 {
            let first = store.incidents(Some("orders"), 1).unwrap()[0].id;
            store.acknowledge_incident(first, Some("bob"), "Rerunning the load", ts).unwrap();
        }
        ts += 5 * 60;
    }
    let incidents = store.incidents(Some("orders"), 10).unwrap();
    let (second, first) = (&incidents[0], &incidents[1]);
    for i in [first, second] {
        assert_eq!((i.resolution, i.resolved_by.as_deref()), (Some(tablestat::model::Resolution::Fixed), None));
    }
    assert_eq!((first.acknowledged_by.as_deref(), first.time_to_acknowledge()), (Some("bob"), Some(10 * 60)));
    let zone = FixedOffset::east_opt(0).unwrap();
    let before = store.snapshot(t0() + D, zone).unwrap().products[0].uptime(WindowKind::Day).unwrap();
    assert!((before - 100.0 * 18.0 / 24.0).abs() < 0.01, "{before}");

    let fp = tablestat::model::Resolution::FalsePositive;
    store
        .resolve_incident(second.id, Some(fp), "the test compared against the wrong day", Some("alice"), t0() + D)
        .unwrap();
    let closed = store.incident(second.id).unwrap();
    assert_eq!((closed.resolution, closed.resolved_by.as_deref()), (Some(fp), Some("alice")));
    assert_eq!(closed.closed_as().as_deref(), Some("a false positive (alice)"));
    let last = closed.timeline().next().unwrap();
    assert_eq!(
        (last.said_by(), last.message.as_str()),
        ("alice", "Closed as a false positive: the test compared against the wrong day")
    );
    assert_eq!(closed.resolved_at, second.resolved_at, "the resolution time stays");
    let err = store.resolve_incident(second.id, Some(fp), "again", Some("alice"), t0() + D).unwrap_err();
    assert!(err.to_string().contains("already resolved as false-positive"), "{err}");
    let err = store
        .update_incident(second.id, tablestat::store::IncidentStatus::Resolved, "x", None, None, t0() + D)
        .unwrap_err();
    assert!(err.to_string().contains("--reason false-positive"), "{err}");

    let row = store.snapshot(t0() + D, zone).unwrap().products.remove(0);
    let after = row.uptime(WindowKind::Day).unwrap();
    let judged = (20 * H - 120) as f64;
    let wanted = 100.0 * (1.0 - (2 * H) as f64 / judged);
    assert!((after - wanted).abs() < 0.001, "{after} != {wanted}");
    let (metrics, _, _) = store.product_detail("orders", t0() + D, zone).unwrap();
    let freshness = metrics.iter().find(|m| m.metric == Metric::Freshness).unwrap();
    assert!((freshness.uptime[0].unwrap() - wanted).abs() < 0.001, "the detail leaves it out too");
    let input = store.slo_input(t0(), t0() + D).unwrap();
    assert_eq!(input.excluded.iter().map(|x| x.incident.id).collect::<Vec<_>>(), [second.id]);
    assert_eq!(input.excluded[0].span.len(), 4 * H + 120, "from the break to the resolution");

    // Taking a resolved incident, or one taken already, is refused with who and when.
    assert!(
        store
            .acknowledge_incident(second.id, Some("carol"), "x", t0() + D)
            .unwrap_err()
            .to_string()
            .contains("was resolved")
    );
}

/// `expected` leaves uptime only where the product says so.
fn an_expected_incident_leaves_uptime_only_where_the_product_says_so(place: &Place) {
    let zone = FixedOffset::east_opt(0).unwrap();
    for exclude_expected in [false, true] {
        let mut store = place.open();
        let p = Product { exclude_expected, ..product("orders") };
        let ps = [p.clone()];
        let down = [(Metric::Freshness, State::Down, "late"), (Metric::Uniqueness, State::Up, "y")];
        // Up 0–1 h, down 1–2 h, up 2–3 h; the incident resolves by itself at 2 h.
        let mut ts = t0();
        while ts <= t0() + 3 * H {
            let poll = if (H..2 * H).contains(&(ts - t0())) { checked(&p, ts, &down) } else { up(&p, ts) };
            record(&mut store, &ps, &[poll], ts);
            if ts == t0() + H {
                let id = store.incidents(None, 1).unwrap()[0].id;
                store.acknowledge_incident(id, None, "Backfill running", ts).unwrap();
                let again = store.acknowledge_incident(id, Some("bob"), "x", ts).unwrap_err();
                assert!(again.to_string().contains("acknowledged by the data team"), "{again}");
            }
            ts += 5 * 60;
        }
        let id = store.incidents(None, 1).unwrap()[0].id;
        let expected = tablestat::model::Resolution::Expected;
        store.resolve_incident(id, Some(expected), "the monthly backfill", Some("alice"), t0() + 3 * H).unwrap();
        let uptime = store.snapshot(t0() + 3 * H, zone).unwrap().products[0].uptime(WindowKind::Day).unwrap();
        // Left out: from the break (2 min before the poll saw it) to the resolution, so only
        // up time is judged; else 1 h down of 3 h judged.
        let wanted = if exclude_expected { 100.0 } else { 200.0 / 3.0 };
        assert!((uptime - wanted).abs() < 0.01, "exclude_expected = {exclude_expected}: {uptime}");
    }
}
