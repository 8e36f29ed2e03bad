//! Reading history for people: the board snapshot (every product, current states, uptime
//! for four windows, 90-day bars) and one product's detail. Computed in one pass over the
//! intervals of the window, never by replaying samples.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use rusqlite::{OptionalExtension, params};

use super::incidents::Incident;
use super::lease::Lease;
use super::maintenance::MaintenanceWindow;
use super::series::{self, Which};
use super::write::OVERALL;
use super::{Result, Store};
use crate::history::{self, Span, StateSpan, Tally};
use crate::model::{Evidence, Metric, Product, State};

/// The uptime windows the board switches between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowKind {
    Day,
    Week,
    Month,
    Quarter,
}

impl WindowKind {
    pub const ALL: [WindowKind; 4] = [WindowKind::Day, WindowKind::Week, WindowKind::Month, WindowKind::Quarter];

    pub fn seconds(self) -> i64 {
        match self {
            WindowKind::Day => 86_400,
            WindowKind::Week => 7 * 86_400,
            WindowKind::Month => 30 * 86_400,
            WindowKind::Quarter => 90 * 86_400,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            WindowKind::Day => "24h",
            WindowKind::Week => "7d",
            WindowKind::Month => "30d",
            WindowKind::Quarter => "90d",
        }
    }

    pub fn next(self) -> WindowKind {
        match self {
            WindowKind::Day => WindowKind::Week,
            WindowKind::Week => WindowKind::Month,
            WindowKind::Month => WindowKind::Quarter,
            WindowKind::Quarter => WindowKind::Day,
        }
    }
}

/// Days of bars on the board.
pub const BAR_DAYS: usize = 90;

#[derive(Debug, Clone, Default)]
pub struct PollerHealth {
    pub lease: Option<Lease>,
    /// (started, ok, error) of the last poll.
    pub last_poll: Option<(i64, bool, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct ProductRow {
    pub product: Product,
    pub state: State,
    /// Since when the product has been in `state`.
    pub since: Option<i64>,
    pub metrics: Vec<MetricRow>,
    pub checked_at: Option<i64>,
    pub note: Option<String>,
    pub evidence: Evidence,
    /// Uptime % per window (24h, 7d, 30d, 90d), `None` without judged time.
    pub uptime: [Option<f64>; 4],
    /// Worst state per day, oldest first; `None` for a day nobody watched.
    pub bars: Vec<Option<State>>,
    /// Worst state per hour over the last 24 hours, for the 24 h window.
    pub hour_bars: Vec<Option<State>>,
    pub last_refresh: Option<i64>,
    pub open_incident: Option<Incident>,
    pub maintenance: Option<MaintenanceWindow>,
}

impl ProductRow {
    pub fn uptime(&self, window: WindowKind) -> Option<f64> {
        self.uptime[WindowKind::ALL.iter().position(|w| *w == window).expect("listed")]
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub metric: Metric,
    pub state: State,
    pub reason: String,
    pub since: i64,
    /// Filled by [`Store::product_detail`] only.
    pub uptime: [Option<f64>; 4],
    pub bars: Vec<Option<State>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefreshRow {
    pub dag_run_id: String,
    pub data_interval_end: Option<i64>,
    pub task_started: Option<i64>,
    pub finished: i64,
    pub dbt_run_id: Option<String>,
}

impl RefreshRow {
    /// How long after its data interval the table was ready: its "response time".
    pub fn lag(&self) -> Option<i64> {
        self.data_interval_end.map(|end| (self.finished - end).max(0))
    }
}

#[derive(Debug, Clone)]
pub struct BoardSnapshot {
    pub generated_at: i64,
    pub zone: FixedOffset,
    pub poller: PollerHealth,
    pub products: Vec<ProductRow>,
    /// Open incidents first, then recent ones (without timelines).
    pub incidents: Vec<Incident>,
    /// Active and upcoming maintenance.
    pub maintenance: Vec<MaintenanceWindow>,
    /// Webhook deliveries that are failing.
    pub notify: super::NotifyHealth,
}

impl Store {
    /// Everything the board and `status` show, as of `now`.
    pub fn snapshot(&self, now: i64, zone: FixedOffset) -> Result<BoardSnapshot> {
        self.snapshot_of(now, zone, true)
    }

    /// The snapshot without history (no uptime, no bars) and without evidence: a product's
    /// current state only, for the board's first frame, while the full snapshot is read.
    pub fn current_snapshot(&self, now: i64, zone: FixedOffset) -> Result<BoardSnapshot> {
        self.snapshot_of(now, zone, false)
    }

    fn snapshot_of(&self, now: i64, zone: FixedOffset, with_history: bool) -> Result<BoardSnapshot> {
        let products = self.products(with_history)?;
        let coverage = self.coverage(now)?;
        let quarter = now - WindowKind::Quarter.seconds();

        // Current state of every metric, and the overall history over 90 days, per product.
        let mut current: HashMap<String, Vec<(String, State, String, i64)>> = HashMap::new();
        for c in series::current(&self.conn, None).map_err(|e| self.err(e))? {
            current.entry(c.product).or_default().push((c.metric, c.state, c.reason, c.start));
        }
        let mut history: HashMap<String, Vec<StateSpan>> = HashMap::new();
        if with_history {
            for h in series::history(&self.conn, Which::Overall, quarter, now).map_err(|e| self.err(e))? {
                history.entry(h.product).or_default().push(h.span);
            }
        }

        let incidents = self.incidents(None, 200)?;
        let maintenance = self.maintenance_windows(now, false)?;
        // Windows that have ended: a product still in maintenance shows since when.
        let ended_windows: Vec<_> =
            self.maintenance_windows(now, true)?.into_iter().filter(|w| w.ends_at <= now).collect();
        let days = history::day_bounds(now, BAR_DAYS, zone);
        let hours = history::hour_bounds(now, 24);

        // Found by product, not by scanning the incidents once per product.
        let open_incidents: HashMap<&str, &Incident> =
            incidents.iter().filter(|i| i.resolved_at.is_none()).map(|i| (i.product.as_str(), i)).collect();
        let rows = products
            .into_iter()
            .map(|StoredProduct { product, checked_at, note, evidence, refreshed_at }| {
                // Without history there is nothing to sum: 114 empty buckets a product add up.
                let (uptime, bars, hour_bars) = match history.remove(&product.id) {
                    Some(spans) => {
                        let pieces = history::covered(&spans, &coverage);
                        let (uptime, bars) = summarize_pieces(&pieces, now, &days);
                        (uptime, bars, history::buckets(&pieces, &hours).iter().map(Tally::worst).collect())
                    }
                    None if with_history => {
                        let (uptime, bars) = summarize_pieces(&[], now, &days);
                        (uptime, bars, history::buckets(&[], &hours).iter().map(Tally::worst).collect())
                    }
                    None => ([None; 4], Vec::new(), Vec::new()),
                };
                let mut metric_rows: Vec<MetricRow> = Vec::new();
                let mut state = State::Unknown;
                let mut since = None;
                for (metric, s, reason, start) in current.remove(&product.id).unwrap_or_default() {
                    if metric == OVERALL {
                        state = s;
                        since = Some(start);
                    } else if let Ok(m) = Metric::parse(&metric) {
                        metric_rows.push(MetricRow {
                            metric: m,
                            state: s,
                            reason,
                            since: start,
                            uptime: [None; 4],
                            bars: Vec::new(),
                        });
                    }
                }
                let order = |m: &Metric| product.metrics.iter().position(|x| x == m).unwrap_or(usize::MAX);
                metric_rows.retain(|r| order(&r.metric) != usize::MAX);
                metric_rows.sort_by_key(|r| order(&r.metric));
                let open_incident = open_incidents.get(product.id.as_str()).map(|i| (*i).clone());
                let active = maintenance.iter().find(|w| w.is_active(now) && w.scope.covers(&product)).cloned();
                // A window that started or ended since the last poll is shown now, not at the
                // next poll (which may be an hour away for a daily DAG).
                match (&active, state) {
                    (Some(window), s) if s != State::Maintenance => {
                        let until = DateTime::from_timestamp(window.ends_at, 0).unwrap_or_default();
                        let reason =
                            format!("planned maintenance until {}: {}", crate::timefmt::stamp(until), window.message);
                        let began = since.map_or(window.starts_at, |s| s.max(window.starts_at));
                        for m in &mut metric_rows {
                            m.state = State::Maintenance;
                            m.reason = reason.clone();
                            m.since = began;
                        }
                        state = State::Maintenance;
                        since = Some(began);
                    }
                    (None, State::Maintenance) => {
                        // Since the window ended (maybe early), not since it began.
                        let ended = ended_windows
                            .iter()
                            .filter(|w| w.scope.covers(&product))
                            .map(|w| w.ends_at)
                            .max()
                            .map_or(now, |end| end.max(since.unwrap_or(end)));
                        for m in metric_rows.iter_mut().filter(|m| m.state == State::Maintenance) {
                            m.state = State::Unknown;
                            m.reason = "maintenance has ended; waiting for the next poll".into();
                            m.since = ended;
                        }
                        state = State::worst_of(metric_rows.iter().map(|m| m.state)).unwrap_or(State::Unknown);
                        since = Some(ended);
                    }
                    _ => {}
                }
                ProductRow {
                    last_refresh: refreshed_at,
                    state,
                    since,
                    metrics: metric_rows,
                    checked_at,
                    note,
                    evidence,
                    uptime,
                    bars,
                    hour_bars,
                    open_incident,
                    maintenance: active,
                    product,
                }
            })
            .collect();

        Ok(BoardSnapshot {
            generated_at: now,
            zone,
            poller: PollerHealth { lease: self.lease()?, last_poll: self.last_poll()? },
            products: rows,
            incidents,
            maintenance,
            notify: self.notify_health(now)?,
        })
    }

    /// One product in full: every metric's uptime and bars, refreshes over 30 days, incidents.
    pub fn product_detail(
        &self,
        id: &str,
        now: i64,
        zone: FixedOffset,
    ) -> Result<(Vec<MetricRow>, Vec<RefreshRow>, Vec<Incident>)> {
        let coverage = self.coverage(now)?;
        let days = history::day_bounds(now, BAR_DAYS, zone);
        let mut per_metric: Vec<MetricHistory> = Vec::new();
        let spans = series::history(&self.conn, Which::MetricsOf(id), now - WindowKind::Quarter.seconds(), now)
            .map_err(|e| self.err(e))?;
        for h in spans {
            if per_metric.last().is_none_or(|(m, _, _)| *m != h.metric) {
                per_metric.push((h.metric.clone(), Vec::new(), None));
            }
            per_metric.last_mut().expect("pushed").1.push(h.span);
        }
        for c in series::current(&self.conn, Some(id)).map_err(|e| self.err(e))? {
            if let Some(entry) = per_metric.iter_mut().find(|(m, _, _)| *m == c.metric) {
                entry.2 = Some((c.state, c.reason, c.start));
            }
        }
        let metrics = per_metric
            .into_iter()
            .filter_map(|(metric, spans, current)| {
                let (state, reason, since) = current?;
                let (uptime, bars) = summarize(&spans, &coverage, now, &days);
                Some(MetricRow { metric: Metric::parse(&metric).ok()?, state, reason, since, uptime, bars })
            })
            .collect();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT dag_run_id, data_interval_end, task_started, finished, dbt_run_id FROM refresh WHERE product = ?1 AND finished > ?2 ORDER BY finished",
            )
            .map_err(|e| self.err(e))?;
        let refreshes = stmt
            .query_map(params![id, now - WindowKind::Month.seconds()], |r| {
                Ok(RefreshRow {
                    dag_run_id: r.get(0)?,
                    data_interval_end: r.get(1)?,
                    task_started: r.get(2)?,
                    finished: r.get(3)?,
                    dbt_run_id: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let incidents = self.incidents(Some(id), 50)?;
        Ok((metrics, refreshes, incidents))
    }

    /// What the SLO report needs for the window `since..now`: products, coverage, every
    /// metric's spans in the window, and the incidents opened in it.
    pub fn slo_input(&self, since: i64, now: i64) -> Result<crate::slo::SloInput> {
        let products: Vec<Product> = self.products(false)?.into_iter().map(|p| p.product).collect();
        let mut history: Vec<(String, Vec<crate::slo::MetricSpans>)> = Vec::new();
        for h in series::history(&self.conn, Which::All, since, now).map_err(|e| self.err(e))? {
            if history.last().is_none_or(|(p, _)| *p != h.product) {
                history.push((h.product.clone(), Vec::new()));
            }
            let metrics = &mut history.last_mut().expect("pushed").1;
            if metrics.last().is_none_or(|(m, _)| *m != h.metric) {
                metrics.push((h.metric, Vec::new()));
            }
            metrics.last_mut().expect("pushed").1.push(h.span);
        }
        Ok(crate::slo::SloInput {
            products,
            coverage: self.coverage(now)?,
            history,
            incidents: self.incidents_opened(since, now)?,
        })
    }

    /// Active products with their latest poll data, sorted by group then name; the evidence
    /// (JSON, for the detail view) read only `with_evidence`: the board's first frame does
    /// without it.
    fn products(&self, with_evidence: bool) -> Result<Vec<StoredProduct>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, name, grp, description, owner, tags, dag_id, task_id, model, metrics, slo, max_age,
                    nullif(max(coalesce(checked_at, 0), coalesce((SELECT value FROM meta WHERE key = 'all_checked_at'), 0)), 0),
                    note, evidence, refreshed_at
                 FROM product WHERE active = 1 ORDER BY grp, name, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let tags: String = r.get(5)?;
                let metrics: String = r.get(9)?;
                let evidence: Option<String> = r.get(14)?;
                let max_age: Option<i64> = r.get(11)?;
                let product = Product {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    group: r.get(2)?,
                    description: r.get(3)?,
                    owner: r.get(4)?,
                    tags: serde_json::from_str(&tags).unwrap_or_default(),
                    dag_id: r.get(6)?,
                    task_id: r.get(7)?,
                    model: r.get(8)?,
                    dbt_job: None,
                    metrics: serde_json::from_str::<Vec<String>>(&metrics)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|m| Metric::parse(m).ok())
                        .collect(),
                    max_age: max_age.map(|s| Duration::from_secs(s.max(0) as u64)),
                    slo: r.get(10)?,
                    interval: None,
                };
                let evidence =
                    evidence.filter(|_| with_evidence).and_then(|e| serde_json::from_str(&e).ok()).unwrap_or_default();
                Ok(StoredProduct {
                    product,
                    checked_at: r.get(12)?,
                    note: r.get(13)?,
                    evidence,
                    refreshed_at: r.get(15)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.err(e))
    }

    /// Coverage spans, the current one reaching `now` while the poller is alive.
    fn coverage(&self, now: i64) -> Result<Vec<Span>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT start, last_seen FROM coverage ORDER BY start")
            .map_err(|e| self.err(e))?;
        let mut spans: Vec<Span> = stmt
            .query_map([], |r| Ok(Span::new(r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        if let Some(last) = spans.last_mut() {
            if now - last.end <= super::write::COVERAGE_GRACE {
                last.end = now;
            }
        }
        Ok(spans)
    }

    /// What history knows for a poll: previous verdicts, last refresh, maintenance.
    pub fn prior<P: Borrow<Product>>(&self, products: &[P], now: i64) -> Result<crate::poller::Prior> {
        let mut prior = crate::poller::Prior::default();
        // Maintenance judged nothing: a metric coming out of it keeps what was judged before.
        let mut before = self
            .conn
            .prepare_cached(
                "SELECT v.state, v.text FROM span sp JOIN verdict v ON v.id = sp.verdict
                 WHERE sp.series = ?1 AND v.state != ?2 ORDER BY sp.start DESC LIMIT 1",
            )
            .map_err(|e| self.err(e))?;
        for c in series::current(&self.conn, None).map_err(|e| self.err(e))? {
            let Ok(metric) = Metric::parse(&c.metric) else { continue };
            let (state, reason) = if c.state == State::Maintenance {
                let judged: Option<(i64, String)> = before
                    .query_row(params![c.series, series::state_code(State::Maintenance)], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()
                    .map_err(|e| self.err(e))?;
                judged.map_or((c.state, c.reason), |(state, reason)| (series::state_of(state), reason))
            } else {
                (c.state, c.reason)
            };
            prior.previous.entry(c.product).or_default().insert(metric, crate::model::Verdict::new(state, reason));
        }
        let mut refreshed = self
            .conn
            .prepare_cached("SELECT id, refreshed_at FROM product WHERE refreshed_at IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let rows =
            refreshed.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(|e| self.err(e))?;
        for row in rows {
            let (product, at) = row.map_err(|e| self.err(e))?;
            if let Some(t) = chrono::DateTime::from_timestamp(at, 0) {
                prior.last_refresh.insert(product, t);
            }
        }
        let windows = self.maintenance_windows(now, false)?;
        for product in products.iter().map(Borrow::borrow) {
            if let Some(w) = windows.iter().find(|w| w.is_active(now) && w.scope.covers(product)) {
                prior.maintenance.insert(product.id.clone(), w.notice());
            }
        }
        Ok(prior)
    }
}

/// One metric's intervals in the window, and its current (state, reason, since).
type MetricHistory = (String, Vec<StateSpan>, Option<(State, String, i64)>);

/// A product row: the product, when it was last checked and last refreshed, its note and
/// evidence.
struct StoredProduct {
    product: Product,
    checked_at: Option<i64>,
    note: Option<String>,
    evidence: Evidence,
    refreshed_at: Option<i64>,
}

/// Uptime for the four windows and day bars, from one product-metric's spans.
fn summarize(
    spans: &[StateSpan],
    coverage: &[Span],
    now: i64,
    days: &[Span],
) -> ([Option<f64>; 4], Vec<Option<State>>) {
    summarize_pieces(&history::covered(spans, coverage), now, days)
}

/// Uptime for the four windows and day bars, from covered pieces.
fn summarize_pieces(pieces: &[StateSpan], now: i64, days: &[Span]) -> ([Option<f64>; 4], Vec<Option<State>>) {
    let uptime = WindowKind::ALL.map(|w| history::tally(pieces, Span::new(now - w.seconds(), now)).uptime());
    let bars = history::buckets(pieces, days).iter().map(Tally::worst).collect();
    (uptime, bars)
}
