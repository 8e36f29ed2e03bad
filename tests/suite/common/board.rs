//! A prepared history store and board snapshots for view tests, with a fixed clock.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use tablestat::evaluate::Evaluation;
use tablestat::model::{DbtRunId, Evidence, FailingTest, Metric, Product, Refresh, State, Verdict};
use tablestat::poller::Checked;
use tablestat::store::{BoardSnapshot, Scope, Store};

pub const H: i64 = 3600;
pub const D: i64 = 86_400;

/// The fixed "now" of view tests: 2026-11-24 12:00 UTC.
pub fn now() -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap().timestamp()
}

fn at(ts: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ts, 0).unwrap()
}

pub fn product(id: &str, name: &str, group: &str) -> Product {
    let mut p = super::product(id);
    p.name = name.to_string();
    p.group = group.to_string();
    p.description = Some(format!("{name}: one row per thing."));
    p.owner = Some("data-team@example.com".into());
    p.slo = Some(99.5);
    p
}

fn evaluation(p: &Product, ts: i64, states: &[(Metric, State, &str)], failing: Vec<FailingTest>) -> Checked {
    let metrics: Vec<(Metric, Verdict)> = p
        .metrics
        .iter()
        .map(|m| {
            let (state, reason) = states
                .iter()
                .find(|(x, _, _)| x == m)
                .map(|(_, s, r)| (*s, r.to_string()))
                .unwrap_or((State::Up, "1 test passed".into()));
            (m.clone(), Verdict::new(state, reason))
        })
        .collect();
    Checked {
        product: std::sync::Arc::new(p.clone()),
        evaluation: Evaluation {
            state: State::worst_of(metrics.iter().map(|(_, v)| v.state)).unwrap(),
            metrics,
            evidence: Evidence {
                dag_id: Some(p.dag_id.clone()),
                dag_run_id: Some("scheduled__2026-11-24T00:00:00+00:00".into()),
                dbt_run_id: Some(DbtRunId::Cloud(70002)),
                failing_tests: failing,
                dbt_run_url: Some("https://cloud.getdbt.example/runs/70002/".into()),
                exposures: Vec::new(),
            },
            note: None,
            refresh: Some(Refresh {
                dag_run_id: format!("scheduled__{ts}"),
                data_interval_end: Some(at(ts - ts.rem_euclid(D))),
                task_started: Some(at(ts - ts.rem_euclid(D) + H)),
                finished_at: at(ts - ts.rem_euclid(D) + H + (ts / D % 5) * 600),
            }),
            run_finished_at: Some(at(ts - 300)),
            cause: None,
        },
        checked_at: at(ts),
        interval: std::time::Duration::from_secs(300),
    }
}

/// Five products over 10 days of history: Orders down now (an open incident), Customers
/// degraded, Revenue in maintenance, the rest up, one day with no poller.
pub fn prepared_store() -> Store {
    let mut store = Store::in_memory().unwrap();
    let orders = product("fct_orders", "Orders", "Sales");
    let customers = product("dim_customers", "Customers", "Sales");
    let revenue = product("fct_daily_revenue", "Daily revenue", "Finance");
    let stg = product("stg_orders", "Orders (staging)", "Staging");
    let payments = product("stg_payments", "Payments (staging)", "Staging");
    let shared: Vec<std::sync::Arc<Product>> =
        [&orders, &customers, &revenue, &stg, &payments].into_iter().map(|p| std::sync::Arc::new(p.clone())).collect();
    let start = now() - 10 * D;
    let mut ts = start;
    let failing = || {
        vec![FailingTest {
            unique_id: "test.shop.unique_stg_orders_order_id.e3b841c71a".into(),
            status: "fail".into(),
            failures: Some(2),
            message: Some("Got 2 results, configured to fail if != 0".into()),
            metric: Metric::Uniqueness,
        }]
    };
    while ts <= now() {
        let day = (ts - start) / D;
        if day == 4 {
            ts += 30 * 60;
            continue; // nobody polled that day
        }
        let mut checked = Vec::new();
        // Orders: down for 3 h on day 2, and down since 10:00 today.
        let orders_down = (day == 2 && (ts - start) % D < 3 * H) || ts >= now() - 2 * H;
        checked.push(if orders_down {
            evaluation(
                &orders,
                ts,
                &[
                    (Metric::Uniqueness, State::Down, "unique test on order_id failed: 2 duplicated values"),
                    (Metric::Freshness, State::Down, "not rebuilt: upstream test unique_stg_orders_order_id failed"),
                ],
                failing(),
            )
        } else {
            evaluation(&orders, ts, &[], vec![])
        });
        checked.push(if ts >= now() - 6 * H {
            evaluation(
                &customers,
                ts,
                &[(Metric::Completeness, State::Degraded, "not_null test on email warned: 4 rows with no value")],
                vec![],
            )
        } else {
            evaluation(&customers, ts, &[], vec![])
        });
        checked.push(if ts >= now() - H {
            evaluation(
                &revenue,
                ts,
                &Metric::standard()
                    .into_iter()
                    .map(|m| {
                        (m, State::Maintenance, "planned maintenance until 2026-11-24 14:00 UTC: Warehouse upgrade")
                    })
                    .collect::<Vec<_>>(),
                vec![],
            )
        } else {
            evaluation(&revenue, ts, &[], vec![])
        });
        checked.push(evaluation(&stg, ts, &[], vec![]));
        checked.push(evaluation(&payments, ts, &[], vec![]));
        store.record_poll(&super::poll_at(ts, &checked, &shared, 1)).unwrap();
        // The poller's heartbeat between polls keeps coverage continuous.
        for beat in (1..8).map(|i| ts + i * 4 * 60).filter(|b| *b <= now()) {
            store.heartbeat(beat).unwrap();
        }
        ts += 30 * 60;
        if ts > now() && ts - 30 * 60 < now() {
            ts = now();
        }
    }
    store
        .add_maintenance(
            &Scope::Product("fct_daily_revenue".into()),
            now() - H,
            now() + 2 * H,
            "Warehouse upgrade",
            Some("ops"),
            now() - 2 * H,
        )
        .unwrap();
    let incident = store.incidents(Some("fct_orders"), 1).unwrap()[0].id;
    store
        .update_incident(
            incident,
            tablestat::store::IncidentStatus::Identified,
            "A duplicate load from the CRM export; reloading.",
            Some(now() + 2 * H),
            Some("ana"),
            now() - H,
        )
        .unwrap();
    store
}

pub fn snapshot(store: &Store) -> Arc<BoardSnapshot> {
    // As the board loads it: with the day's changes.
    Arc::new(store.with_changes(store.snapshot(now(), FixedOffset::east_opt(0).unwrap()).unwrap()).unwrap())
}
