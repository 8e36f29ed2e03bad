//! Bulk history import: closed intervals, coverage, refreshes and resolved incidents in one
//! transaction. Used to seed the demo's 90 days and the scale benchmarks' databases.

use std::collections::HashMap;

use super::db::{Db, DbResult, args};
use super::{InStore, Result, Store};
use crate::model::{Metric, Product, State};

/// One span of one product x metric (`None` metric: the overall state). It lasts until the
/// next span of its series starts; the last one is current.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRow {
    pub product: String,
    pub metric: Option<Metric>,
    pub state: State,
    pub reason: String,
    pub start: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportedRefresh {
    pub product: String,
    pub dag_run_id: String,
    pub data_interval_end: i64,
    pub task_started: i64,
    pub finished: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportedIncident {
    pub product: String,
    pub title: String,
    pub severity: crate::model::Severity,
    pub metrics: Vec<String>,
    pub began_at: i64,
    pub opened_at: i64,
    pub resolved_at: i64,
    /// (at, automatic, status, message, author)
    pub updates: Vec<(i64, bool, String, String, Option<String>)>,
}

/// Everything to import.
#[derive(Debug, Default, Clone)]
pub struct History {
    pub spans: Vec<SpanRow>,
    pub coverage: Vec<(i64, i64)>,
    pub refreshes: Vec<ImportedRefresh>,
    pub incidents: Vec<ImportedIncident>,
}

impl Store {
    /// Imports a history for these products (which are registered too).
    pub fn import(&mut self, products: &[Product], history: &History) -> Result<()> {
        self.db().write(|db| import(db, products, history)).in_store(self)?;
        // The writer's cache does not know these rows.
        self.cache = super::write::WriteCache::default();
        self.after_bulk_load()
    }
}

fn import(db: &mut Db<'_>, products: &[Product], history: &History) -> DbResult<()> {
    super::write::upsert_products(db, products)?;
    let mut verdicts = super::series::VerdictIds::default();
    let mut ids: HashMap<(&str, &str), i64> = HashMap::new();
    for s in &history.spans {
        let metric = s.metric.as_ref().map_or("", Metric::as_str);
        let series = match ids.get(&(s.product.as_str(), metric)) {
            Some(id) => *id,
            None => {
                let id = db.query_one(
                    "INSERT INTO series (product, metric) VALUES (?1, ?2)
                     ON CONFLICT (product, metric) DO UPDATE SET metric = excluded.metric RETURNING id",
                    args![&s.product, metric],
                    |r| r.get(0),
                )?;
                *ids.entry((s.product.as_str(), metric)).or_insert(id)
            }
        };
        // The overall series keeps states only, as the poller writes it.
        let words = if s.metric.is_some() { s.reason.as_str() } else { "" };
        let verdict = verdicts.id(db, s.state, words)?;
        db.execute(
            "INSERT INTO span (series, start, verdict) VALUES (?1, ?2, ?3)
             ON CONFLICT (series, start) DO UPDATE SET verdict = excluded.verdict",
            args![series, s.start, verdict],
        )?;
    }
    for (start, end) in &history.coverage {
        db.execute("INSERT INTO coverage (start, last_seen) VALUES (?1, ?2)", args![*start, *end])?;
    }
    for r in &history.refreshes {
        db.execute(
            "INSERT INTO refresh (product, dag_run_id, data_interval_end, task_started, finished)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            args![&r.product, &r.dag_run_id, r.data_interval_end, r.task_started, r.finished],
        )?;
    }
    for i in &history.incidents {
        let id: i64 = db.query_one(
            "INSERT INTO incident (product, title, status, severity, metrics, began_at, opened_at, resolved_at, resolution)
             VALUES (?1, ?2, 'resolved', ?3, ?4, ?5, ?6, ?7, 'fixed') RETURNING id",
            args![
                &i.product,
                &i.title,
                i.severity.as_str(),
                serde_json::to_string(&i.metrics).unwrap_or_default(),
                i.began_at,
                i.opened_at,
                i.resolved_at
            ],
            |r| r.get(0),
        )?;
        db.execute(
            "INSERT INTO incident_member (incident, product, joined_at, left_at) VALUES (?1, ?2, ?3, ?4)",
            args![id, &i.product, i.opened_at, i.resolved_at],
        )?;
        for (at, automatic, status, message, author) in &i.updates {
            db.execute(
                "INSERT INTO incident_update (incident, at, automatic, status, message, author) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![id, *at, *automatic, status, message, author.as_deref()],
            )?;
        }
    }
    // What is current may have moved: found again over the imported rows.
    db.execute_batch(
        "UPDATE series SET (start, verdict) =
             (SELECT start, verdict FROM span WHERE series = series.id ORDER BY start DESC LIMIT 1);
         UPDATE product SET refreshed_at = (SELECT max(finished) FROM refresh WHERE refresh.product = product.id);",
    )?;
    super::bump_generation(db)
}
