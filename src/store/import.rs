//! Bulk history import: closed intervals, coverage, refreshes and resolved incidents in one
//! transaction. Used to seed the demo's 90 days and the scale benchmarks' databases.

use std::collections::HashMap;

use rusqlite::params;

use super::db::Db;
use super::{Result, Store, StoreError};
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
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn_mut().transaction().map_err(wrap)?;
        {
            super::write::upsert_products(&tx, products).map_err(wrap)?;
            let mut series = tx
                .prepare(
                    "INSERT INTO series (product, metric) VALUES (?1, ?2)
                     ON CONFLICT (product, metric) DO UPDATE SET metric = excluded.metric RETURNING id",
                )
                .map_err(wrap)?;
            let mut span =
                tx.prepare("INSERT OR REPLACE INTO span (series, start, verdict) VALUES (?1, ?2, ?3)").map_err(wrap)?;
            let mut verdicts = super::series::Verdicts::new(&tx).map_err(wrap)?;
            let mut verdict_ids = super::series::VerdictIds::default();
            let mut ids: HashMap<(&str, &str), i64> = HashMap::new();
            for s in &history.spans {
                let metric = s.metric.as_ref().map_or("", Metric::as_str);
                let series_id = match ids.get(&(s.product.as_str(), metric)) {
                    Some(id) => *id,
                    None => {
                        let id = series.query_row(params![s.product, metric], |r| r.get(0)).map_err(wrap)?;
                        *ids.entry((s.product.as_str(), metric)).or_insert(id)
                    }
                };
                // The overall series keeps states only, as the poller writes it.
                let words = if s.metric.is_some() { s.reason.as_str() } else { "" };
                let verdict = verdicts.id(&mut verdict_ids, s.state, words).map_err(wrap)?;
                span.execute(params![series_id, s.start, verdict]).map_err(wrap)?;
            }
            let mut coverage = tx.prepare("INSERT INTO coverage (start, last_seen) VALUES (?1, ?2)").map_err(wrap)?;
            for (start, end) in &history.coverage {
                coverage.execute(params![start, end]).map_err(wrap)?;
            }
            let mut refresh = tx
                .prepare("INSERT OR IGNORE INTO refresh (product, dag_run_id, data_interval_end, task_started, finished) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(wrap)?;
            for r in &history.refreshes {
                refresh
                    .execute(params![r.product, r.dag_run_id, r.data_interval_end, r.task_started, r.finished])
                    .map_err(wrap)?;
            }
            let mut incident = tx
                .prepare("INSERT INTO incident (product, title, status, severity, metrics, began_at, opened_at, resolved_at, resolution) VALUES (?1, ?2, 'resolved', ?3, ?4, ?5, ?6, ?7, 'fixed')")
                .map_err(wrap)?;
            let mut member = tx
                .prepare("INSERT INTO incident_member (incident, product, joined_at, left_at) VALUES (?1, ?2, ?3, ?4)")
                .map_err(wrap)?;
            let mut update = tx
                .prepare("INSERT INTO incident_update (incident, at, automatic, status, message, author) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(wrap)?;
            for i in &history.incidents {
                incident
                    .execute(params![
                        i.product,
                        i.title,
                        i.severity.as_str(),
                        serde_json::to_string(&i.metrics).unwrap_or_default(),
                        i.began_at,
                        i.opened_at,
                        i.resolved_at
                    ])
                    .map_err(wrap)?;
                let id = tx.last_insert_rowid();
                member.execute(params![id, i.product, i.opened_at, i.resolved_at]).map_err(wrap)?;
                for (at, automatic, status, message, author) in &i.updates {
                    update.execute(params![id, at, automatic, status, message, author]).map_err(wrap)?;
                }
            }
        }
        // What is current may have moved: found again over the imported rows.
        tx.execute_batch(
            "UPDATE series SET (start, verdict) =
                 (SELECT start, verdict FROM span WHERE series = series.id ORDER BY start DESC LIMIT 1);
             UPDATE product SET refreshed_at = (SELECT max(finished) FROM refresh WHERE refresh.product = product.id);",
        )
        .map_err(wrap)?;
        super::bump_generation(&mut Db::Sqlite(&tx)).map_err(|e| wrap(e.into()))?;
        tx.commit().map_err(wrap)?;
        // The writer's cache does not know these rows.
        self.cache = super::write::WriteCache::default();
        Ok(())
    }
}
