//! Recording a poll: product rows, state changes as intervals, refreshes, automatic
//! incident updates, coverage and the poll itself, in one transaction.
//! A poll that changes nothing writes next to nothing: a checked_at stamp, a coverage
//! heartbeat and the poll row.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};

use super::WriteSummary;
use super::db::Db;
use super::incidents;
use super::series;
use super::{Result, Store};
use crate::evaluate::Checked;
use crate::model::{Evidence, Metric, Product, State, Verdict};

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
    pub products: &'a [Arc<Product>],
    /// Polls in a row a metric must be down before an incident opens (the flapping guard).
    pub open_incident_after: u32,
    /// Exposure maturities that make an incident critical.
    pub critical_maturities: &'a [String],
    /// What each source said this poll.
    pub sources: &'a [crate::facts::SourceHealth],
    /// The lease the poll was made under: checked in the writing transaction, so that a
    /// poll whose lease passed to another poller is dropped, never written after newer
    /// ones. `None` writes whoever holds it (imports, tests).
    pub holder: Option<&'a str>,
}

/// What the writer remembers between polls so that a quiet poll touches few rows: the open
/// intervals, what each product row last said, the product set. Valid while no other
/// connection wrote (`PRAGMA data_version` unchanged); otherwise reloaded.
#[derive(Default)]
pub(super) struct WriteCache {
    version: Option<i64>,
    /// Per product: one hash lookup a poll finds everything written for it.
    written: HashMap<String, Written>,
    /// The product set last registered (the poller hands the same shared products each poll,
    /// so most are told equal by address).
    products: Vec<Arc<Product>>,
    /// Verdicts (state and words) and their interned ids.
    verdicts: series::VerdictIds,
    /// Products down but not yet for long enough to open an incident.
    pending: HashSet<String>,
}

/// What the writer last wrote for one product.
#[derive(Default)]
struct Written {
    /// The current span of each metric and of the overall state (a handful: scanned, not
    /// hashed).
    open: Vec<OpenInterval>,
    /// The note, evidence and poll interval of the product row.
    stamped: Option<(Option<String>, Evidence, i64)>,
    /// The last refresh recorded (its finish time).
    refreshed: Option<i64>,
    /// Its incidents have been looked at since the cache was (re)loaded.
    seen: bool,
}

impl Store {
    pub fn record_poll(&mut self, poll: &PollRecord<'_>) -> Result<WriteSummary> {
        let path = self.path.clone();
        let wrap = |source| super::StoreError::Sqlite { path: path.clone(), source };
        let version = self.data_version()?;
        if self.cache.version != Some(version) {
            self.cache = WriteCache {
                version: Some(version),
                written: open_intervals(self.conn()).map_err(wrap)?,
                // Checked before use, so still good after another connection wrote.
                verdicts: std::mem::take(&mut self.cache.verdicts),
                ..WriteCache::default()
            };
        }
        let mut cache = std::mem::take(&mut self.cache);
        let tx = super::sqlite_mut(&mut self.backend, &path)
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(wrap)?;
        if let Some(holder) = poll.holder {
            let lease: Option<(String, i64, String)> = tx
                .query_row("SELECT holder, pid, host FROM lease WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(wrap)?;
            if let Some((other, pid, host)) = lease.filter(|(h, _, _)| h != holder) {
                tracing::warn!(holder = other, "lease lost during the poll");
                self.cache = cache;
                return Err(super::StoreError::LeaseLost { pid, host });
            }
        }
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

/// The statements of one poll's write, prepared once per transaction.
struct Statements<'t> {
    reword: rusqlite::CachedStatement<'t>,
    insert: rusqlite::CachedStatement<'t>,
    /// Keeps the series' current span (its start and verdict) beside it (schema 4).
    current: rusqlite::CachedStatement<'t>,
    series: rusqlite::CachedStatement<'t>,
    verdicts: series::Verdicts<'t>,
}

impl Statements<'_> {
    /// A new current span for the series (replacing one that started the same second).
    fn start_span(&mut self, series: i64, start: i64, verdict: i64) -> rusqlite::Result<()> {
        self.insert.execute(params![series, start, verdict])?;
        self.current.execute(params![series, start, verdict])?;
        Ok(())
    }
}

/// One product's spans this poll: starts a span on a state change, rewords the current one
/// on a reason change, and remembers what changed.
struct IntervalWriter<'a, 't> {
    statements: &'a mut Statements<'t>,
    /// The product's current spans (a handful: scanned, not hashed).
    open: &'a mut Vec<OpenInterval>,
    verdicts: &'a mut series::VerdictIds,
    product: &'a str,
    at: i64,
    /// Metrics whose state changed.
    changed: Vec<String>,
    changes: usize,
}

impl IntervalWriter<'_, '_> {
    /// Writes the metric's span if its state or words changed.
    fn apply(&mut self, metric: &str, state: State, reason: &str) -> rusqlite::Result<()> {
        let current = self.open.iter_mut().find(|open| open.metric == metric);
        match current {
            Some(open) if open.state == state => {
                if open.reason == reason {
                    return Ok(());
                }
                let verdict = self.statements.verdicts.id(self.verdicts, state, reason)?;
                let judges = |reason: &str| crate::evaluate::is_judgment(&Verdict::new(state, reason));
                if judges(&open.reason) == judges(reason) {
                    self.statements.reword.execute(params![open.series, open.start, verdict])?;
                    self.statements.current.execute(params![open.series, open.start, verdict])?;
                } else {
                    // A judgment and a block (both down) are one state but not one span: the
                    // judgment must stay in history for rule 4 to carry it after the block.
                    open.start = self.at.max(open.start);
                    self.statements.start_span(open.series, open.start, verdict)?;
                }
                open.reason = reason.to_string();
            }
            existing => {
                let verdict = self.statements.verdicts.id(self.verdicts, state, reason)?;
                match existing {
                    Some(open) => {
                        self.changed.push(metric.to_string());
                        open.reason = reason.to_string();
                        // A clock that stepped back never starts a span before the current one.
                        open.start = self.at.max(open.start);
                        open.state = state;
                        self.statements.start_span(open.series, open.start, verdict)?;
                    }
                    None => {
                        let series = self.statements.series.query_row(params![self.product, metric], |r| r.get(0))?;
                        self.statements.start_span(series, self.at, verdict)?;
                        let reason = reason.to_string();
                        self.open.push(OpenInterval {
                            metric: metric.to_string(),
                            series,
                            start: self.at,
                            state,
                            reason,
                        });
                    }
                }
                self.changes += 1;
            }
        }
        Ok(())
    }
}

fn write_poll(tx: &Transaction<'_>, poll: &PollRecord<'_>, cache: &mut WriteCache) -> rusqlite::Result<WriteSummary> {
    let mut summary = WriteSummary::default();
    let same = |(a, b): (&Arc<Product>, &Arc<Product>)| Arc::ptr_eq(a, b) || a == b;
    if cache.products.len() != poll.products.len() || !cache.products.iter().zip(poll.products).all(same) {
        upsert_products(tx, poll.products)?;
        cache.products = poll.products.to_vec();
    }

    let mut statements = Statements {
        reword: tx.prepare_cached("UPDATE span SET verdict = ?3 WHERE series = ?1 AND start = ?2")?,
        // The same second twice: the later state replaces a span that lasted no time.
        insert: tx.prepare_cached("INSERT OR REPLACE INTO span (series, start, verdict) VALUES (?1, ?2, ?3)")?,
        current: tx.prepare_cached("UPDATE series SET start = ?2, verdict = ?3 WHERE id = ?1")?,
        series: tx.prepare_cached(
            "INSERT INTO series (product, metric) VALUES (?1, ?2)
             ON CONFLICT (product, metric) DO UPDATE SET metric = excluded.metric RETURNING id",
        )?,
        verdicts: series::Verdicts::new(tx)?,
    };
    let mut stamp = tx.prepare_cached("UPDATE product SET note = ?2, evidence = ?3, poll_every = ?4 WHERE id = ?1")?;
    let mut refresh = tx.prepare_cached(
        "INSERT OR IGNORE INTO refresh (product, dag_run_id, data_interval_end, task_started, finished, dbt_run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut refreshed = tx.prepare_cached(
        "UPDATE product SET refreshed_at = ?2 WHERE id = ?1 AND (refreshed_at IS NULL OR refreshed_at < ?2)",
    )?;
    for checked in poll.checked {
        let id = checked.product.id.as_str();
        let e = &checked.evaluation;
        // Looked up once per product; allocated only for a product not seen before.
        if !cache.written.contains_key(id) {
            cache.written.insert(id.to_string(), Written::default());
        }
        let written = cache.written.get_mut(id).expect("just inserted");
        let mut intervals = IntervalWriter {
            statements: &mut statements,
            open: &mut written.open,
            verdicts: &mut cache.verdicts,
            product: id,
            at: checked.checked_at.timestamp(),
            changed: Vec::new(),
            changes: 0,
        };
        for (metric, verdict) in &e.metrics {
            intervals.apply(metric.as_str(), verdict.state, &verdict.reason)?;
        }
        // The overall series keeps states only: its words are the metrics' (shown there).
        intervals.apply(OVERALL, e.state, "")?;
        summary.changes += intervals.changes;
        let changed = intervals.changed;
        let every = checked.interval.as_secs() as i64;
        if written
            .stamped
            .as_ref()
            .is_none_or(|(note, evidence, was)| *note != e.note || *evidence != e.evidence || *was != every)
        {
            stamp.execute(params![id, e.note, serde_json::to_string(&e.evidence).ok(), every])?;
            written.stamped = Some((e.note.clone(), e.evidence.clone(), every));
        }
        if let Some(r) = &e.refresh {
            let finished = r.finished_at.timestamp();
            if written.refreshed != Some(finished) {
                refresh.execute(params![
                    id,
                    r.dag_run_id,
                    r.data_interval_end.map(|t| t.timestamp()),
                    r.task_started.map(|t| t.timestamp()),
                    finished,
                    e.evidence.dbt_run_id.as_ref().map(|d| d.to_string()),
                ])?;
                refreshed.execute(params![id, finished])?;
                written.refreshed = Some(finished);
            }
        }
        // Incidents change only with states (or while the flapping guard counts); a product
        // is looked at once after a reload.
        let first_look = !std::mem::replace(&mut written.seen, true);
        if !changed.is_empty() || first_look || (!cache.pending.is_empty() && cache.pending.contains(id)) {
            let mut guard = incidents::FlapGuard {
                open_after: poll.open_incident_after,
                critical_maturities: poll.critical_maturities,
                pending: &mut cache.pending,
            };
            incidents::apply_incident_rules(tx, checked, &changed, &mut guard, &mut summary)?;
        }
    }
    for id in &summary.incidents_opened {
        incidents::settle_opened(tx, *id)?;
    }
    stamp_checked(tx, poll)?;
    record_sources(tx, poll)?;

    heartbeat_coverage(tx, poll.finished)?;
    super::bump_generation(&mut Db::Sqlite(tx))?;
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

/// When each product was last checked. A poll that checked every product at one moment
/// writes that moment once (`meta.all_checked_at`, read as every product's floor) instead
/// of touching thousands of rows; other polls stamp the products they checked.
fn stamp_checked(tx: &Transaction<'_>, poll: &PollRecord<'_>) -> rusqlite::Result<()> {
    let first = poll.checked.first().map(|c| c.checked_at);
    let one_moment = poll.checked.iter().all(|c| Some(c.checked_at) == first);
    if let Some(at) = first.filter(|_| one_moment && poll.checked.len() == poll.products.len()) {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('all_checked_at', ?1) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            [at.timestamp()],
        )?;
        return Ok(());
    }
    let mut by_moment: HashMap<i64, Vec<&str>> = HashMap::new();
    for c in poll.checked {
        by_moment.entry(c.checked_at.timestamp()).or_default().push(&c.product.id);
    }
    for (at, ids) in by_moment {
        tx.execute(
            "UPDATE product SET checked_at = ?1 WHERE id IN (SELECT value FROM json_each(?2))",
            params![at, serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())],
        )?;
    }
    Ok(())
}

/// What each source said at this poll: one row per configured source, kept with since when
/// it has been unreachable; a source no longer configured goes.
fn record_sources(tx: &Transaction<'_>, poll: &PollRecord<'_>) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO source (name, kind, reachable, api, scheduler_status, scheduler_heartbeat, error, checked_at, failing_since)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?3 THEN NULL ELSE ?8 END)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, reachable = excluded.reachable, api = excluded.api,
            scheduler_status = excluded.scheduler_status, scheduler_heartbeat = excluded.scheduler_heartbeat,
            error = excluded.error, checked_at = excluded.checked_at,
            failing_since = CASE WHEN excluded.reachable THEN NULL ELSE coalesce(source.failing_since, excluded.checked_at) END",
    )?;
    for s in poll.sources {
        let scheduler = s.scheduler.as_ref();
        upsert.execute(params![
            s.name,
            s.kind,
            s.reachable,
            s.api,
            scheduler.and_then(|h| h.status.as_deref()),
            scheduler.and_then(|h| h.heartbeat_at).map(|t| t.timestamp()),
            s.error,
            poll.finished,
        ])?;
    }
    if !poll.sources.is_empty() {
        tx.prepare_cached("DELETE FROM source WHERE checked_at != ?1")?.execute([poll.finished])?;
    }
    Ok(())
}

/// The current span of one product x metric.
struct OpenInterval {
    metric: String,
    series: i64,
    start: i64,
    state: State,
    reason: String,
}

/// The current spans of every product, as stored.
fn open_intervals(conn: &rusqlite::Connection) -> rusqlite::Result<HashMap<String, Written>> {
    let mut open: HashMap<String, Written> = HashMap::new();
    for c in series::current(conn, None)? {
        let interval =
            OpenInterval { metric: c.metric, series: c.series, start: c.start, state: c.state, reason: c.reason };
        open.entry(c.product).or_default().open.push(interval);
    }
    Ok(open)
}

/// Registers the products (only rows that changed are written) and marks the others inactive.
pub(super) fn upsert_products<P: Borrow<Product>>(tx: &Transaction<'_>, products: &[P]) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO product (id, name, grp, description, owner, tags, dag_id, task_id, model, metrics, slo, max_age, exclude_expected, active)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, grp = excluded.grp, description = excluded.description,
            owner = excluded.owner, tags = excluded.tags, dag_id = excluded.dag_id, task_id = excluded.task_id,
            model = excluded.model, metrics = excluded.metrics, slo = excluded.slo, max_age = excluded.max_age,
            exclude_expected = excluded.exclude_expected, active = 1
         WHERE (name, grp, description, owner, tags, dag_id, task_id, model, metrics, slo, max_age, exclude_expected, active)
            IS NOT (excluded.name, excluded.grp, excluded.description, excluded.owner, excluded.tags, excluded.dag_id,
                    excluded.task_id, excluded.model, excluded.metrics, excluded.slo, excluded.max_age,
                    excluded.exclude_expected, 1)",
    )?;
    for p in products.iter().map(Borrow::borrow) {
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
            p.exclude_expected,
        ])?;
    }
    let ids: Vec<&str> = products.iter().map(|p| p.borrow().id.as_str()).collect();
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
        let tx = self.conn_mut().transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(wrap)?;
        heartbeat_coverage(&tx, now).map_err(wrap)?;
        tx.commit().map_err(wrap)
    }
}
