//! Recording a poll: product rows, state changes as intervals, refreshes, automatic
//! incident updates, coverage and the poll itself, in one transaction.
//! A poll that changes nothing writes next to nothing: a checked_at stamp, a coverage
//! heartbeat and the poll row.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::db::{self, Db, DbResult, Value, args};
use super::incidents;
use super::series;
use super::{InStore, WriteSummary};
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
        let version = self.data_version()?;
        if self.cache.version != Some(version) {
            let written = open_intervals(&mut self.db()).in_store(self)?;
            self.cache = WriteCache {
                version: Some(version),
                written,
                // Checked before use, so still good after another connection wrote.
                verdicts: {
                    let mut verdicts = std::mem::take(&mut self.cache.verdicts);
                    verdicts.doubt();
                    verdicts
                },
                ..WriteCache::default()
            };
        }
        let mut cache = std::mem::take(&mut self.cache);
        let written = self.db().write(|db| {
            if let Some(holder) = poll.holder {
                let lease = db.query_opt("SELECT holder, pid, host FROM lease WHERE id = 1", &[], |r| {
                    Ok((r.get::<String>(0)?, r.get::<i64>(1)?, r.get::<String>(2)?))
                })?;
                if let Some(lost) = lease.filter(|(h, _, _)| h != holder) {
                    return Ok(Err(lost));
                }
            }
            write_poll(db, poll, &mut cache).map(Ok)
        });
        match written.in_store(self)? {
            Ok(summary) => {
                self.cache = cache;
                Ok(summary)
            }
            Err((other, pid, host)) => {
                tracing::warn!(holder = other, "lease lost during the poll");
                self.cache = cache;
                Err(super::StoreError::LeaseLost { pid, host })
            }
        }
        // On an error the transaction rolled back: what the cache learnt is not in the
        // database, and it is left to be read again.
    }
}

/// The spans a poll starts or rewords, and each series' current span (schema 4), sent
/// together when the poll's products are written: one statement per kind and chunk rather
/// than two per change (on PostgreSQL each statement is a round trip, ~50 µs even on one
/// host).
#[derive(Default)]
struct SpanWrites {
    /// (series, start, verdict): a span that starts the same second as another of its
    /// series replaces it; the last written wins.
    spans: Vec<[i64; 3]>,
}

impl SpanWrites {
    /// A new current span for the series, or new words for the current one.
    fn set(&mut self, series: i64, start: i64, verdict: i64) {
        self.spans.push([series, start, verdict]);
    }

    /// Writes the spans and moves each series' current span to its latest.
    fn flush(self, db: &mut Db<'_>) -> DbResult<()> {
        // The last word for each (series, start) and for each series, in that order.
        let mut spans: HashMap<(i64, i64), i64> = HashMap::with_capacity(self.spans.len());
        let mut current: HashMap<i64, (i64, i64)> = HashMap::new();
        for [series, start, verdict] in self.spans {
            spans.insert((series, start), verdict);
            current.insert(series, (start, verdict));
        }
        let spans: Vec<[i64; 3]> =
            spans.into_iter().map(|((series, start), verdict)| [series, start, verdict]).collect();
        let current: Vec<[i64; 3]> =
            current.into_iter().map(|(series, (start, verdict))| [series, start, verdict]).collect();
        for rows in db::chunks(db, &spans) {
            let sql = format!(
                "INSERT INTO span (series, start, verdict) VALUES {}
                 ON CONFLICT (series, start) DO UPDATE SET verdict = excluded.verdict",
                db::values(rows.len(), 3, false)
            );
            db.execute(&sql, &rows.iter().flatten().map(|n| Value::Int(*n)).collect::<Vec<_>>())?;
        }
        for rows in db::chunks(db, &current) {
            let sql = format!(
                "UPDATE series SET start = v.column2, verdict = v.column3 FROM (VALUES {}) AS v
                 WHERE series.id = v.column1",
                db::values(rows.len(), 3, true)
            );
            db.execute(&sql, &rows.iter().flatten().map(|n| Value::Int(*n)).collect::<Vec<_>>())?;
        }
        Ok(())
    }
}

/// One product's spans this poll: starts a span on a state change, rewords the current one
/// on a reason change, and remembers what changed.
struct IntervalWriter<'a, 'd> {
    db: &'a mut Db<'d>,
    writes: &'a mut SpanWrites,
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
    fn apply(&mut self, metric: &str, state: State, reason: &str) -> DbResult<()> {
        let current = self.open.iter_mut().find(|open| open.metric == metric);
        match current {
            Some(open) if open.state == state => {
                if open.reason == reason {
                    return Ok(());
                }
                let verdict = self.verdicts.id(self.db, state, reason)?;
                let judges = |reason: &str| crate::evaluate::is_judgment(&Verdict::new(state, reason));
                if judges(&open.reason) != judges(reason) {
                    // A judgment and a block (both down) are one state but not one span: the
                    // judgment must stay in history for rule 4 to carry it after the block.
                    open.start = self.at.max(open.start);
                }
                self.writes.set(open.series, open.start, verdict);
                open.reason = reason.to_string();
            }
            existing => {
                let verdict = self.verdicts.id(self.db, state, reason)?;
                match existing {
                    Some(open) => {
                        self.changed.push(metric.to_string());
                        open.reason = reason.to_string();
                        // A clock that stepped back never starts a span before the current one.
                        open.start = self.at.max(open.start);
                        open.state = state;
                        self.writes.set(open.series, open.start, verdict);
                    }
                    None => {
                        let series = self.db.query_one(
                            "INSERT INTO series (product, metric) VALUES (?1, ?2)
                             ON CONFLICT (product, metric) DO UPDATE SET metric = excluded.metric RETURNING id",
                            args![self.product, metric],
                            |r| r.get(0),
                        )?;
                        self.writes.set(series, self.at, verdict);
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

fn write_poll(db: &mut Db<'_>, poll: &PollRecord<'_>, cache: &mut WriteCache) -> DbResult<WriteSummary> {
    let mut summary = WriteSummary::default();
    let same = |(a, b): (&Arc<Product>, &Arc<Product>)| Arc::ptr_eq(a, b) || a == b;
    if cache.products.len() != poll.products.len() || !cache.products.iter().zip(poll.products).all(same) {
        upsert_products(db, poll.products)?;
        cache.products = poll.products.to_vec();
    }

    let mut writes = SpanWrites::default();
    let mut batch = incidents::Batch::default();
    for checked in poll.checked {
        let id = checked.product.id.as_str();
        let e = &checked.evaluation;
        // Looked up once per product; allocated only for a product not seen before.
        if !cache.written.contains_key(id) {
            cache.written.insert(id.to_string(), Written::default());
        }
        let written = cache.written.get_mut(id).expect("just inserted");
        let mut intervals = IntervalWriter {
            db: &mut *db,
            writes: &mut writes,
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
            db.execute(
                "UPDATE product SET note = ?2, evidence = ?3, poll_every = ?4 WHERE id = ?1",
                args![id, e.note.as_deref(), serde_json::to_string(&e.evidence).ok(), every],
            )?;
            written.stamped = Some((e.note.clone(), e.evidence.clone(), every));
        }
        if let Some(r) = &e.refresh {
            let finished = r.finished_at.timestamp();
            if written.refreshed != Some(finished) {
                db.execute(
                    "INSERT INTO refresh (product, dag_run_id, data_interval_end, task_started, finished, dbt_run_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                    args![
                        id,
                        &r.dag_run_id,
                        r.data_interval_end.map(|t| t.timestamp()),
                        r.task_started.map(|t| t.timestamp()),
                        finished,
                        e.evidence.dbt_run_id.as_ref().map(|d| d.to_string()),
                    ],
                )?;
                db.execute(
                    "UPDATE product SET refreshed_at = ?2 WHERE id = ?1 AND (refreshed_at IS NULL OR refreshed_at < ?2)",
                    args![id, finished],
                )?;
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
            incidents::apply_incident_rules(db, &mut batch, checked, &changed, &mut guard, &mut summary)?;
        }
    }
    writes.flush(db)?;
    batch.flush(db)?;
    for id in &summary.incidents_opened {
        incidents::settle_opened(db, *id)?;
    }
    stamp_checked(db, poll)?;
    record_sources(db, poll)?;

    heartbeat_coverage(db, poll.finished)?;
    super::bump_generation(db)?;
    db.execute(
        "INSERT INTO poll (started, finished, ok, error, products, airflow_requests, dbt_requests) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
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
fn stamp_checked(db: &mut Db<'_>, poll: &PollRecord<'_>) -> DbResult<()> {
    let first = poll.checked.first().map(|c| c.checked_at);
    let one_moment = poll.checked.iter().all(|c| Some(c.checked_at) == first);
    if let Some(at) = first.filter(|_| one_moment && poll.checked.len() == poll.products.len()) {
        db.execute(
            "INSERT INTO meta (key, value) VALUES ('all_checked_at', ?1)
             ON CONFLICT (key) DO UPDATE SET value = CASE WHEN excluded.value > meta.value THEN excluded.value ELSE meta.value END",
            args![at.timestamp()],
        )?;
        return Ok(());
    }
    let mut by_moment: HashMap<i64, Vec<&str>> = HashMap::new();
    for c in poll.checked {
        by_moment.entry(c.checked_at.timestamp()).or_default().push(&c.product.id);
    }
    let sql = format!("UPDATE product SET checked_at = ?1 WHERE id IN {}", db.json_texts(2));
    for (at, ids) in by_moment {
        db.execute(&sql, args![at, serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())])?;
    }
    Ok(())
}

/// What each source said at this poll: one row per configured source, kept with since when
/// it has been unreachable; a source no longer configured goes.
fn record_sources(db: &mut Db<'_>, poll: &PollRecord<'_>) -> DbResult<()> {
    for s in poll.sources {
        let scheduler = s.scheduler.as_ref();
        db.execute(
            "INSERT INTO source (name, kind, reachable, api, scheduler_status, scheduler_heartbeat, error, checked_at, failing_since)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN CAST(?3 AS BIGINT) = 1 THEN NULL ELSE CAST(?8 AS BIGINT) END)
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, reachable = excluded.reachable, api = excluded.api,
                scheduler_status = excluded.scheduler_status, scheduler_heartbeat = excluded.scheduler_heartbeat,
                error = excluded.error, checked_at = excluded.checked_at,
                failing_since = CASE WHEN excluded.reachable = 1 THEN NULL ELSE coalesce(source.failing_since, excluded.checked_at) END",
            args![
                &s.name,
                &s.kind,
                s.reachable,
                s.api.as_deref(),
                scheduler.and_then(|h| h.status.as_deref()),
                scheduler.and_then(|h| h.heartbeat_at).map(|t| t.timestamp()),
                s.error.as_deref(),
                poll.finished,
            ],
        )?;
    }
    if !poll.sources.is_empty() {
        db.execute("DELETE FROM source WHERE checked_at != ?1", args![poll.finished])?;
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
fn open_intervals(db: &mut Db<'_>) -> DbResult<HashMap<String, Written>> {
    let mut open: HashMap<String, Written> = HashMap::new();
    for c in series::current(db, None)? {
        let interval =
            OpenInterval { metric: c.metric, series: c.series, start: c.start, state: c.state, reason: c.reason };
        open.entry(c.product).or_default().open.push(interval);
    }
    Ok(open)
}

/// Registers the products (only rows that changed are written) and marks the others inactive.
pub(super) fn upsert_products<P: Borrow<Product>>(db: &mut Db<'_>, products: &[P]) -> DbResult<()> {
    for p in products.iter().map(Borrow::borrow) {
        let metrics: Vec<&str> = p.metrics.iter().map(Metric::as_str).collect();
        db.execute(
            "INSERT INTO product (id, name, grp, description, owner, tags, dag_id, task_id, model, metrics, slo, max_age, exclude_expected, active)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 1)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, grp = excluded.grp, description = excluded.description,
                owner = excluded.owner, tags = excluded.tags, dag_id = excluded.dag_id, task_id = excluded.task_id,
                model = excluded.model, metrics = excluded.metrics, slo = excluded.slo, max_age = excluded.max_age,
                exclude_expected = excluded.exclude_expected, active = 1
             WHERE (product.name, product.grp, product.description, product.owner, product.tags, product.dag_id,
                    product.task_id, product.model, product.metrics, product.slo, product.max_age,
                    product.exclude_expected, product.active)
                IS DISTINCT FROM (excluded.name, excluded.grp, excluded.description, excluded.owner, excluded.tags,
                    excluded.dag_id, excluded.task_id, excluded.model, excluded.metrics, excluded.slo, excluded.max_age,
                    excluded.exclude_expected, 1)",
            args![
                &p.id,
                &p.name,
                &p.group,
                p.description.as_deref(),
                p.owner.as_deref(),
                serde_json::to_string(&p.tags).unwrap_or_else(|_| "[]".into()),
                &p.dag_id,
                p.task_id.as_deref(),
                p.model.as_deref(),
                serde_json::to_string(&metrics).unwrap_or_else(|_| "[]".into()),
                p.slo,
                p.max_age.map(|d| d.as_secs() as i64),
                p.exclude_expected,
            ],
        )?;
    }
    let ids: Vec<&str> = products.iter().map(|p| p.borrow().id.as_str()).collect();
    let sql = format!("UPDATE product SET active = 0 WHERE active = 1 AND id NOT IN {}", db.json_texts(1));
    db.execute(&sql, args![serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())])?;
    Ok(())
}

/// Extends the current coverage span, or starts a new one after a silence.
fn heartbeat_coverage(db: &mut Db<'_>, now: i64) -> DbResult<()> {
    let last = db.query_opt("SELECT id, last_seen FROM coverage ORDER BY id DESC LIMIT 1", &[], |r| {
        Ok((r.get::<i64>(0)?, r.get::<i64>(1)?))
    })?;
    match last {
        Some((id, seen)) if now - seen <= COVERAGE_GRACE => {
            db.execute(
                "UPDATE coverage SET last_seen = CASE WHEN last_seen >= ?2 THEN last_seen ELSE ?2 END WHERE id = ?1",
                args![id, now],
            )?;
        }
        _ => {
            db.execute("INSERT INTO coverage (start, last_seen) VALUES (?1, ?1)", args![now])?;
        }
    }
    Ok(())
}

impl Store {
    /// A poller heartbeat without a poll (nothing was due): keeps coverage continuous.
    pub fn heartbeat(&mut self, now: i64) -> Result<()> {
        self.db().write(|db| heartbeat_coverage(db, now)).in_store(self)
    }
}
