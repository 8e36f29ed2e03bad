//! Recording a poll: product rows, state changes as intervals, refreshes, automatic
//! incident updates, coverage and the poll itself, in one transaction.
//! A poll that changes nothing writes next to nothing: a checked_at stamp, a coverage
//! heartbeat and the poll row.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Transaction, params};

use super::incidents::{self, Severity};
use super::{Result, Store};
use crate::model::{Metric, Product, State};
use crate::poller::Checked;

/// A coverage span is extended while polls come this close together; a longer silence
/// is a gap ("no data").
pub const COVERAGE_GRACE: i64 = 5 * 60;

/// The product's overall state is kept as metric ''.
pub const OVERALL: &str = "";

/// One poll, as the poller saw it.
pub struct PollRecord<'a> {
    pub started: i64,
    pub finished: i64,
    pub error: Option<&'a str>,
    pub airflow_requests: u64,
    pub dbt_requests: u64,
    /// Products evaluated in this poll.
    pub checked: &'a [Checked],
    /// Every product the poller watches now (checked this time or not).
    pub products: &'a [Product],
    /// Polls in a row a metric must be down before an incident opens (the flapping guard).
    pub open_incident_after: u32,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// Intervals opened because a state changed (or appeared).
    pub changes: usize,
    pub incidents_opened: Vec<i64>,
    pub incidents_resolved: Vec<i64>,
}

/// What the writer remembers between polls so that a quiet poll touches few rows: the open
/// intervals, what each product row last said, the product set. Valid while no other
/// connection wrote (`PRAGMA data_version` unchanged); otherwise reloaded.
#[derive(Default)]
pub(super) struct WriteCache {
    version: Option<i64>,
    open: OpenIntervals,
    products_digest: Option<u64>,
    /// (note, evidence) last written per product.
    stamped: HashMap<String, (Option<String>, Option<String>)>,
    /// Products whose incidents have been looked at since the cache was (re)loaded.
    seen: HashSet<String>,
    /// Products down but not yet for long enough to open an incident.
    pending: HashSet<String>,
}

impl Store {
    pub fn record_poll(&mut self, poll: &PollRecord<'_>) -> Result<WriteSummary> {
        let path = self.path.clone();
        let wrap = |source| super::StoreError::Sqlite { path: path.clone(), source };
        let version = self.data_version()?;
        if self.cache.version != Some(version) {
            self.cache = WriteCache {
                version: Some(version),
                open: open_intervals(&self.conn).map_err(wrap)?,
                ..WriteCache::default()
            };
        }
        let mut cache = std::mem::take(&mut self.cache);
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(wrap)?;
        let written = write_poll(&tx, poll, &mut cache).and_then(|summary| tx.commit().map(|()| summary));
        match written {
            Ok(summary) => {
                self.cache = cache;
                Ok(summary)
            }
            // The transaction rolled back: what the cache learnt is not in the file.
            Err(e) => Err(wrap(e)),
        }
    }
}

fn write_poll(tx: &Transaction<'_>, poll: &PollRecord<'_>, cache: &mut WriteCache) -> rusqlite::Result<WriteSummary> {
    let mut summary = WriteSummary::default();
    let digest = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        format!("{:?}", poll.products).hash(&mut hasher);
        hasher.finish()
    };
    if cache.products_digest != Some(digest) {
        upsert_products(tx, poll.products)?;
        cache.products_digest = Some(digest);
    }

    let open = &mut cache.open;
    let mut update_reason = tx.prepare_cached("UPDATE interval SET reason = ?2, evidence = ?3 WHERE id = ?1")?;
    let mut close = tx.prepare_cached("UPDATE interval SET end = ?2 WHERE id = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO interval (product, metric, state, reason, evidence, start) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut stamp = tx.prepare_cached("UPDATE product SET note = ?2, evidence = ?3 WHERE id = ?1")?;
    let mut checked_at: HashMap<i64, Vec<&str>> = HashMap::new();
    let mut refresh = tx.prepare_cached(
        "INSERT OR IGNORE INTO refresh (product, dag_run_id, data_interval_end, task_started, finished, dbt_run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for checked in poll.checked {
        let id = checked.product.id.as_str();
        let e = &checked.evaluation;
        let at = checked.checked_at.timestamp();
        let evidence = serde_json::to_string(&e.evidence).ok();
        let overall_reason = overall_reason(&e.metrics);
        let rows = e.metrics.iter().map(|(m, v)| (m.as_str(), v.state, v.reason.as_str())).chain(std::iter::once((
            OVERALL,
            e.state,
            overall_reason.as_str(),
        )));
        let mut previous: HashMap<String, (State, String)> = HashMap::new();
        for (metric, state, reason) in rows {
            let key = (id.to_string(), metric.to_string());
            match open.get(&key) {
                Some((row, old_state, old_reason)) if *old_state == state => {
                    if old_reason != reason {
                        update_reason.execute(params![row, reason, evidence])?;
                        open.insert(key, (*row, state, reason.to_string()));
                    }
                }
                existing => {
                    if let Some((row, old_state, old_reason)) = existing {
                        close.execute(params![row, at])?;
                        previous.insert(metric.to_string(), (*old_state, old_reason.clone()));
                    }
                    insert.execute(params![id, metric, state.as_str(), reason, evidence, at])?;
                    open.insert(key, (tx.last_insert_rowid(), state, reason.to_string()));
                    summary.changes += 1;
                }
            }
        }
        checked_at.entry(at).or_default().push(id);
        let said = (e.note.clone(), evidence.clone());
        if cache.stamped.get(id) != Some(&said) {
            stamp.execute(params![id, said.0, said.1])?;
            cache.stamped.insert(id.to_string(), said);
        }
        if let Some(r) = &e.refresh {
            refresh.execute(params![
                id,
                r.dag_run_id,
                r.data_interval_end.map(|t| t.timestamp()),
                r.task_started.map(|t| t.timestamp()),
                r.finished_at.timestamp(),
                e.evidence.dbt_run_id.as_ref().map(|d| d.to_string()),
            ])?;
        }
        // Incidents change only with states (or while the flapping guard counts); a product
        // is looked at once after a reload.
        if !previous.is_empty() || cache.pending.contains(id) || cache.seen.insert(id.to_string()) {
            let mut guard = incidents::FlapGuard { open_after: poll.open_incident_after, pending: &mut cache.pending };
            incidents::follow(tx, checked, &previous, &mut guard, &mut summary)?;
        }
    }
    for (at, ids) in checked_at {
        tx.execute(
            "UPDATE product SET checked_at = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
            params![at, serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())],
        )?;
    }

    heartbeat_coverage(tx, poll.finished)?;
    super::bump_generation(tx)?;
    tx.execute(
        "INSERT INTO poll (started, finished, ok, error, products, airflow_requests, dbt_requests) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            poll.started,
            poll.finished,
            poll.error.is_none(),
            poll.error,
            poll.checked.len() as i64,
            poll.airflow_requests as i64,
            poll.dbt_requests as i64
        ],
    )?;
    Ok(summary)
}

/// The product's overall reason: its worst metrics, named.
fn overall_reason(metrics: &[(Metric, crate::model::Verdict)]) -> String {
    let Some(worst) = State::worst_of(metrics.iter().map(|(_, v)| v.state)) else {
        return String::new();
    };
    let named: Vec<String> =
        metrics.iter().filter(|(_, v)| v.state == worst).map(|(m, v)| format!("{m}: {}", v.reason)).collect();
    if worst == State::Up { "all metrics up".to_string() } else { named.join("; ") }
}

type OpenIntervals = HashMap<(String, String), (i64, State, String)>;

fn open_intervals(conn: &rusqlite::Connection) -> rusqlite::Result<OpenIntervals> {
    let mut stmt = conn.prepare_cached("SELECT id, product, metric, state, reason FROM interval WHERE end IS NULL")?;
    let rows = stmt.query_map([], |r| {
        let state: String = r.get(3)?;
        Ok(((r.get(1)?, r.get(2)?), (r.get(0)?, State::parse(&state).unwrap_or(State::Unknown), r.get(4)?)))
    })?;
    rows.collect()
}

/// Registers the products (only rows that changed are written) and marks the others inactive.
pub(super) fn upsert_products(tx: &Transaction<'_>, products: &[Product]) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO product (id, name, grp, description, owner, tags, dag_id, task_id, model, metrics, slo, max_age, active)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, grp = excluded.grp, description = excluded.description,
            owner = excluded.owner, tags = excluded.tags, dag_id = excluded.dag_id, task_id = excluded.task_id,
            model = excluded.model, metrics = excluded.metrics, slo = excluded.slo, max_age = excluded.max_age, active = 1
         WHERE (name, grp, description, owner, tags, dag_id, task_id, model, metrics, slo, max_age, active)
            IS NOT (excluded.name, excluded.grp, excluded.description, excluded.owner, excluded.tags, excluded.dag_id,
                    excluded.task_id, excluded.model, excluded.metrics, excluded.slo, excluded.max_age, 1)",
    )?;
    for p in products {
        let metrics: Vec<&str> = p.metrics.iter().map(Metric::as_str).collect();
        upsert.execute(params![
            p.id,
            p.name,
            p.group,
            p.description,
            p.owner,
            serde_json::to_string(&p.tags).unwrap_or_else(|_| "[]".into()),
            p.dag_id,
            p.task_id,
            p.model,
            serde_json::to_string(&metrics).unwrap_or_else(|_| "[]".into()),
            p.slo,
            p.max_age.map(|d| d.as_secs() as i64),
        ])?;
    }
    let ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
    tx.execute(
        "UPDATE product SET active = 0 WHERE active = 1 AND id NOT IN (SELECT value FROM json_each(?1))",
        [serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())],
    )?;
    Ok(())
}

/// Extends the current coverage span, or starts a new one after a silence.
fn heartbeat_coverage(tx: &Transaction<'_>, now: i64) -> rusqlite::Result<()> {
    let last: Option<(i64, i64)> = tx
        .query_row("SELECT id, last_seen FROM coverage ORDER BY id DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match last {
        Some((id, seen)) if now - seen <= COVERAGE_GRACE => {
            tx.execute("UPDATE coverage SET last_seen = max(last_seen, ?2) WHERE id = ?1", params![id, now])?;
        }
        _ => {
            tx.execute("INSERT INTO coverage (start, last_seen) VALUES (?1, ?1)", [now])?;
        }
    }
    Ok(())
}

impl Store {
    /// A poller heartbeat without a poll (nothing was due): keeps coverage continuous.
    pub fn heartbeat(&mut self, now: i64) -> Result<()> {
        let path = self.path.clone();
        let wrap = |source| super::StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(wrap)?;
        heartbeat_coverage(&tx, now).map_err(wrap)?;
        tx.commit().map_err(wrap)
    }
}

impl Severity {
    /// Availability down is critical; several metrics down, major; one, minor.
    pub fn of(down: &[&Metric]) -> Severity {
        if down.contains(&&Metric::Availability) {
            Severity::Critical
        } else if down.len() > 1 {
            Severity::Major
        } else {
            Severity::Minor
        }
    }
}
