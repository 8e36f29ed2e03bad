//! Reading history for people: the board snapshot (every product, current states, uptime
//! for four windows, 90-day bars) and one product's detail. Computed in one pass over the
//! intervals of the window, never by replaying samples.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::Duration;

use chrono::FixedOffset;

use super::InStore;
use super::db::args;
use super::incidents::Incident;
use super::maintenance::MaintenanceWindow;
use super::series::{self, Which};
use super::write::OVERALL;
use super::{Result, Store};
use crate::evaluate::{
    self,
    shown::{PollerSeen, PollerState, Shown, Stored, Watch},
};
use crate::facts::{MaintenanceNotice, SchedulerHealth, SourceHealth};
use crate::model::{Evidence, Judgment, Metric, Product, State, Verdict};
use crate::uptime::{self, Span, StateSpan, Tally};

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
    /// The last poller the database saw, holding the lease or gone.
    pub seen: Option<PollerSeen>,
    /// (started, ok, error) of the last poll.
    pub last_poll: Option<(i64, bool, Option<String>)>,
}

impl PollerHealth {
    pub fn state(&self, now: i64) -> PollerState {
        PollerState::of(self.seen.as_ref(), now)
    }
}

/// What a source said at the last poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub health: SourceHealth,
    pub checked_at: i64,
    /// Unreachable at every poll since then.
    pub failing_since: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct ProductRow {
    pub product: Product,
    /// As shown now ([`crate::evaluate::shown`]): stored states too old to trust are `unknown`.
    pub state: State,
    /// Since when the product has been in `state`.
    pub since: Option<i64>,
    pub metrics: Vec<MetricRow>,
    pub checked_at: Option<i64>,
    /// How often the poller means to check it, in seconds.
    pub poll_every: Option<i64>,
    /// The stored states were too old to show (or there are none): the note and evidence
    /// are the last poll's, not now's.
    pub stale: bool,
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
    /// `None`: never judged.
    pub since: Option<i64>,
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
    /// What each source said at the last poll.
    pub sources: Vec<SourceRow>,
    /// When what is shown changes with no new write (a product goes stale, a maintenance
    /// window begins or ends): an open board reads again then.
    pub next_change: Option<i64>,
    /// Products that changed state over the last day, newest first (filled for the board
    /// by [`Store::with_changes`]).
    pub changes: Vec<Change>,
    /// A snapshot of the past ([`Store::snapshot_at`]): the moment it shows.
    pub as_of: Option<i64>,
}

/// The moment a snapshot shows.
#[derive(Debug, Clone, Copy)]
enum Moment {
    Now(i64),
    Past(i64),
}

/// A product's recorded state changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub product: String,
    pub at: i64,
    /// `None`: the product's first check.
    pub from: Option<State>,
    pub to: State,
}

/// How far back the board's change list looks, and how many it keeps.
pub const CHANGES_SINCE: i64 = 86_400;
const CHANGES_KEPT: i64 = 200;

/// How much history a snapshot reads: each step costs (at 20,000 products, the uptime
/// ~110 ms of spans, the bars another ~50 ms of bucketing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Depth {
    /// Current states only, no evidence: the board's first frame.
    Current,
    /// Uptime over the four windows and the evidence, no bars: `status`.
    Uptime,
    /// Uptime, the day bars and the hour bars: the board and the page.
    Bars,
}

impl Store {
    /// Everything the board shows, as of `now`.
    pub fn snapshot(&self, now: i64, zone: FixedOffset) -> Result<BoardSnapshot> {
        self.snapshot_of(Moment::Now(now), zone, Depth::Bars, &[])
    }

    /// The snapshot, with every product the config `named` in it: one no poll has
    /// registered yet shows as `unknown` ("not checked yet") rather than not at all.
    pub fn snapshot_naming(
        &self,
        now: i64,
        zone: FixedOffset,
        named: &[Product],
        depth: Depth,
    ) -> Result<BoardSnapshot> {
        self.snapshot_of(Moment::Now(now), zone, depth, named)
    }

    /// The states as they were at `at`, read from the stored spans: uptime and bars up to
    /// then, incidents open then, windows active then, the day's changes before it. What a
    /// poll kept only for now (evidence, notes, source health) is left out; a product first
    /// checked after `at` is not listed, and one no poll had checked lately then is
    /// `unknown`, as it was shown then.
    pub fn snapshot_at(&self, at: i64, zone: FixedOffset, depth: Depth) -> Result<BoardSnapshot> {
        self.snapshot_of(Moment::Past(at), zone, depth, &[])
    }

    /// The moment of the last product state change before `at` (`earlier`) or after it;
    /// `None` when there is none: the board's keys step through history by these.
    pub fn change_next_to(&self, at: i64, earlier: bool) -> Result<Option<i64>> {
        let sql = if earlier {
            "SELECT max(sp.start) FROM series s JOIN span sp ON sp.series = s.id AND sp.start < ?1 WHERE s.metric = ''"
        } else {
            "SELECT min(sp.start) FROM series s JOIN span sp ON sp.series = s.id AND sp.start > ?1 WHERE s.metric = ''"
        };
        self.db().query_one(sql, args![at], |r| r.get(0)).in_store(self)
    }

    /// The snapshot without history (no uptime, no bars) and without evidence: a product's
    /// current state only, for the board's first frame, while the full snapshot is read.
    pub fn current_snapshot(&self, now: i64, zone: FixedOffset, named: &[Product]) -> Result<BoardSnapshot> {
        self.snapshot_of(Moment::Now(now), zone, Depth::Current, named)
    }

    fn snapshot_of(&self, moment: Moment, zone: FixedOffset, depth: Depth, named: &[Product]) -> Result<BoardSnapshot> {
        let (now, past) = match moment {
            Moment::Now(now) => (now, false),
            Moment::Past(at) => (at, true),
        };
        let with_history = depth > Depth::Current;
        let with_bars = depth == Depth::Bars;
        let mut products = self.products(with_history && !past)?;
        let known: std::collections::HashSet<String> = products.iter().map(|p| p.product.id.clone()).collect();
        let unregistered: Vec<StoredProduct> = named
            .iter()
            .filter(|p| !known.contains(&p.id))
            .map(|p| StoredProduct {
                product: p.clone(),
                checked_at: None,
                poll_every: None,
                note: None,
                evidence: Evidence::default(),
                refreshed_at: None,
            })
            .collect();
        if !unregistered.is_empty() {
            products.extend(unregistered);
            products.sort_by(|a, b| {
                (&a.product.group, &a.product.name, &a.product.id).cmp(&(
                    &b.product.group,
                    &b.product.name,
                    &b.product.id,
                ))
            });
        }
        let poller = if past {
            // Who polled then is not kept; when the last poll before it ran is.
            PollerHealth { seen: None, last_poll: self.last_poll_before(now)? }
        } else {
            PollerHealth { seen: self.poller_seen()?, last_poll: self.last_poll()? }
        };
        let coverage = self.coverage(now)?;
        let quarter = now - WindowKind::Quarter.seconds();

        // Current state of every metric, and the overall history over 90 days, per product.
        let mut current: HashMap<String, Vec<(String, State, String, i64)>> = HashMap::new();
        let spans = if past { series::at(&mut self.db(), now) } else { series::current(&mut self.db(), None) };
        for c in spans.in_store(self)? {
            current.entry(c.product).or_default().push((c.metric, c.state, c.reason, c.start));
        }
        if past {
            // Products first checked later were not there yet. Whether anyone was checking
            // then is what coverage keeps: a moment a poller covered counts as checked; else
            // the end of the last covered stretch before it.
            products.retain(|p| current.contains_key(&p.product.id));
            let checked = coverage.iter().filter(|c| c.start <= now).map(|c| c.end.min(now)).max();
            for p in &mut products {
                p.checked_at = checked;
            }
        }
        let mut history: HashMap<String, Vec<StateSpan>> = HashMap::new();
        // Time under incidents closed as false positives leaves uptime, product by product.
        let left_out = if with_history { self.left_out(quarter, None)? } else { HashMap::new() };
        if with_history {
            for h in series::history(&mut self.db(), Which::Overall, quarter, now).in_store(self)? {
                history.entry(h.product).or_default().extend(h.spans);
            }
        }

        let incidents = if past { self.incidents_at(now)? } else { self.incidents(None, 200)? };
        let maintenance = if past {
            // Windows announced by then and not yet over, as they stood then.
            let mut then: Vec<MaintenanceWindow> = self
                .maintenance_windows(now, true)?
                .into_iter()
                .filter(|w| w.created_at <= now && w.ends_at > now && w.cancelled_at.is_none_or(|c| c > now))
                .collect();
            then.sort_by_key(|w| w.starts_at);
            then
        } else {
            self.maintenance_windows(now, false)?
        };
        // Windows that have ended: a product still in maintenance shows since when.
        let ended_windows: Vec<_> = self
            .maintenance_windows(now, true)?
            .into_iter()
            .filter(|w| w.ends_at <= now && w.cancelled_at.is_none())
            .collect();
        let days = uptime::day_bounds(now, BAR_DAYS, zone);
        let hours = uptime::hour_bounds(now, 24);

        // Found by product, not by scanning the incidents once per product: each table an
        // open incident affects now shows it.
        let open_incidents: HashMap<&str, &Incident> = incidents
            .iter()
            .filter(|i| i.resolved_at.is_none())
            .flat_map(|i| i.affected_now().map(move |product| (product, i)))
            .collect();
        let watch = if past { Watch::past(now) } else { Watch::new(now, poller.seen.as_ref()) };
        let notices: Vec<(&MaintenanceWindow, MaintenanceNotice)> =
            maintenance.iter().filter(|w| w.is_active(now)).map(|w| (w, w.notice())).collect();
        // A window that begins or ends changes what is shown, with no poll needed.
        let mut next_change =
            maintenance.iter().flat_map(|w| [w.starts_at, w.ends_at]).filter(|t| *t > now && !past).min();
        let rows = products
            .into_iter()
            .map(|StoredProduct { product, checked_at, poll_every, note, evidence, refreshed_at }| {
                // Without history there is nothing to sum: 114 empty buckets a product add up.
                let watched = left_out.get(&product.id).map(|out| uptime::excluding(&coverage, out));
                let watched = watched.as_deref().unwrap_or(&coverage);
                let (uptime, bars, hour_bars) = match history.remove(&product.id) {
                    Some(spans) => {
                        overall_summary(&uptime::covered(&spans, watched), now, with_bars.then_some((&days, &hours)))
                    }
                    None if with_history => overall_summary(&[], now, with_bars.then_some((&days, &hours))),
                    None => ([None; 4], Vec::new(), Vec::new()),
                };
                let mut recorded = None;
                let mut metrics: Vec<Shown> = Vec::new();
                for (metric, state, reason, start) in current.remove(&product.id).unwrap_or_default() {
                    if metric == OVERALL {
                        recorded = Some((state, start));
                    } else if let Ok(metric) = Metric::parse(&metric) {
                        metrics.push(Shown { metric, state, reason, since: Some(start) });
                    }
                }
                let open_incident = open_incidents.get(product.id.as_str()).map(|i| (*i).clone());
                let active = notices.iter().find(|(w, _)| w.scope.covers(&product));
                let maintenance_ended =
                    ended_windows.iter().filter(|w| w.scope.covers(&product)).map(|w| w.ends_at).max();
                let shown = evaluate::shown::show(
                    Stored {
                        product: &product,
                        recorded,
                        metrics,
                        checked_at,
                        poll_every,
                        maintenance: active.map(|(_, notice)| notice),
                        maintenance_ended,
                    },
                    &watch,
                );
                next_change = match (next_change, shown.next_change.filter(|_| !past)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let metrics = shown
                    .metrics
                    .into_iter()
                    .map(|m| MetricRow {
                        metric: m.metric,
                        state: m.state,
                        reason: m.reason,
                        since: m.since,
                        uptime: [None; 4],
                        bars: Vec::new(),
                    })
                    .collect();
                ProductRow {
                    last_refresh: if past { None } else { refreshed_at },
                    state: shown.state,
                    since: shown.since,
                    metrics,
                    checked_at,
                    poll_every,
                    stale: shown.stale,
                    note: if shown.stale || past { None } else { note },
                    evidence,
                    uptime,
                    bars,
                    hour_bars,
                    open_incident,
                    maintenance: active.map(|(w, _)| (*w).clone()),
                    product,
                }
            })
            .collect();

        Ok(BoardSnapshot {
            generated_at: now,
            zone,
            poller,
            products: rows,
            incidents,
            maintenance,
            notify: if past { Default::default() } else { self.notify_health(now)? },
            sources: if past { Vec::new() } else { self.sources()? },
            next_change,
            // The board's alone: filled by `with_changes` (33 ms of 20,000 products' status).
            changes: Vec::new(),
            as_of: past.then_some(now),
        })
    }

    /// The last poll that had started by `at`.
    fn last_poll_before(&self, at: i64) -> Result<Option<(i64, bool, Option<String>)>> {
        self.db()
            .query_opt(
                "SELECT started, ok, error FROM poll WHERE started <= ?1 ORDER BY started DESC LIMIT 1",
                args![at],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .in_store(self)
    }

    /// The snapshot with the day's changes up to its moment: what the board's change list
    /// and its marks read (the status document has no use for them).
    pub fn with_changes(&self, mut snapshot: BoardSnapshot) -> Result<BoardSnapshot> {
        let moment = snapshot.as_of.unwrap_or(snapshot.generated_at);
        snapshot.changes = self.changes(moment - CHANGES_SINCE, moment)?;
        Ok(snapshot)
    }

    /// Products' state changes in `since..=until`, newest first: what changed, for the
    /// board's change list and its marks.
    pub fn changes(&self, since: i64, until: i64) -> Result<Vec<Change>> {
        let changes = self.db().query(
            "SELECT s.product, sp.start, v.state,
                    (SELECT pv.state FROM span p JOIN verdict pv ON pv.id = p.verdict
                     WHERE p.series = s.id AND p.start < sp.start ORDER BY p.start DESC LIMIT 1)
                 FROM series s
                 JOIN span sp ON sp.series = s.id AND sp.start >= ?1 AND sp.start <= ?3
                 JOIN verdict v ON v.id = sp.verdict
                 WHERE s.metric = ''
                 ORDER BY sp.start DESC, s.product
                 LIMIT ?2",
            args![since, CHANGES_KEPT, until],
            |r| {
                Ok(Change {
                    product: r.get(0)?,
                    at: r.get(1)?,
                    to: super::series::state_of(r.get(2)?),
                    from: r.get::<Option<i64>>(3)?.map(super::series::state_of),
                })
            },
        );
        // A span that starts with the same state (a new reason) is not a change of state.
        Ok(changes.in_store(self)?.into_iter().filter(|c| c.from != Some(c.to)).collect())
    }

    /// One product in full: every metric's uptime and bars, refreshes over 30 days, incidents.
    pub fn product_detail(
        &self,
        id: &str,
        now: i64,
        zone: FixedOffset,
    ) -> Result<(Vec<MetricRow>, Vec<RefreshRow>, Vec<Incident>)> {
        let coverage = self.coverage(now)?;
        let quarter = now - WindowKind::Quarter.seconds();
        let coverage = match self.left_out(quarter, Some(id))?.remove(id) {
            Some(out) => uptime::excluding(&coverage, &out),
            None => coverage,
        };
        let days = uptime::day_bounds(now, BAR_DAYS, zone);
        let mut per_metric: Vec<MetricHistory> = series::history(&mut self.db(), Which::MetricsOf(id), quarter, now)
            .in_store(self)?
            .into_iter()
            .map(|h| (h.metric, h.spans, None))
            .collect();
        for c in series::current(&mut self.db(), Some(id)).in_store(self)? {
            if let Some(entry) = per_metric.iter_mut().find(|(m, _, _)| *m == c.metric) {
                entry.2 = Some((c.state, c.reason, c.start));
            }
        }
        let metrics = per_metric
            .into_iter()
            .filter_map(|(metric, spans, current)| {
                let (state, reason, since) = current?;
                let (uptime, bars) = summarize(&spans, &coverage, now, &days);
                Some(MetricRow {
                    metric: Metric::parse(&metric).ok()?,
                    state,
                    reason,
                    since: Some(since),
                    uptime,
                    bars,
                })
            })
            .collect();
        let refreshes = self
            .db()
            .query(
                "SELECT dag_run_id, data_interval_end, task_started, finished, dbt_run_id FROM refresh
                 WHERE product = ?1 AND finished > ?2 ORDER BY finished",
                args![id, now - WindowKind::Month.seconds()],
                |r| {
                    Ok(RefreshRow {
                        dag_run_id: r.get(0)?,
                        data_interval_end: r.get(1)?,
                        task_started: r.get(2)?,
                        finished: r.get(3)?,
                        dbt_run_id: r.get(4)?,
                    })
                },
            )
            .in_store(self)?;
        let incidents = self.incidents(Some(id), 50)?;
        Ok((metrics, refreshes, incidents))
    }

    /// What the SLO report needs for the window `since..now`: products, coverage, every
    /// metric's spans in the window, and the incidents opened in it.
    pub fn slo_input(&self, since: i64, now: i64) -> Result<SloInput> {
        let products: Vec<Product> = self.products(false)?.into_iter().map(|p| p.product).collect();
        // Series come in the order they were made: a metric added to a product later has a
        // later series than other products', so products are found by id, not by adjacency.
        let mut history: Vec<(String, Vec<MetricSpans>)> = Vec::new();
        let mut place: HashMap<String, usize> = HashMap::new();
        for h in series::history(&mut self.db(), Which::All, since, now).in_store(self)? {
            let at = *place.entry(h.product.clone()).or_insert_with(|| {
                history.push((h.product.clone(), Vec::new()));
                history.len() - 1
            });
            history[at].1.push((h.metric, h.spans));
        }
        Ok(SloInput {
            products,
            coverage: self.coverage(now)?,
            history,
            incidents: self.incidents_opened(since, now)?,
            excluded: self.excluded_incidents(since, None)?,
        })
    }

    /// Active products with their latest poll data, sorted by group then name; the evidence
    /// (JSON, for the detail view) read only `with_evidence`: the board's first frame does
    /// without it.
    fn products(&self, with_evidence: bool) -> Result<Vec<StoredProduct>> {
        let all_checked = self.all_checked_at()?;
        self.db()
            .query(
                "SELECT id, name, grp, description, owner, tags, dag_id, task_id, model, metrics, slo, max_age,
                    checked_at, note, evidence, refreshed_at, poll_every, exclude_expected
                 FROM product WHERE active = 1 ORDER BY grp, name, id",
                &[],
                |r| {
                    let tags: String = r.get(5)?;
                    let metrics: String = r.get(9)?;
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
                        late_after: None,
                        airflow: None,
                        dbt: None,
                        exclude_expected: r.get(17)?,
                    };
                    let evidence = match with_evidence {
                        true => r.get::<Option<String>>(14)?.and_then(|e| serde_json::from_str(&e).ok()),
                        false => None,
                    };
                    Ok(StoredProduct {
                        product,
                        checked_at: checked_floor(r.get(12)?, all_checked),
                        note: r.get(13)?,
                        evidence: evidence.unwrap_or_default(),
                        refreshed_at: r.get(15)?,
                        poll_every: r.get(16)?,
                    })
                },
            )
            .in_store(self)
    }

    /// When a poll last checked every product at one moment (see `stamp_checked`): every
    /// product's floor.
    fn all_checked_at(&self) -> Result<Option<i64>> {
        let at = self.db().query_opt("SELECT value FROM meta WHERE key = 'all_checked_at'", &[], |r| r.get(0));
        at.in_store(self)
    }

    /// What each source said at the last poll, by name.
    pub fn sources(&self) -> Result<Vec<SourceRow>> {
        self.db()
            .query(
                "SELECT name, kind, reachable, api, scheduler_status, scheduler_heartbeat, error, checked_at, failing_since
                 FROM source ORDER BY name",
                &[],
                |r| {
                    let status: Option<String> = r.get(4)?;
                    let heartbeat: Option<i64> = r.get(5)?;
                    let scheduler = (status.is_some() || heartbeat.is_some()).then(|| SchedulerHealth {
                        status,
                        heartbeat_at: heartbeat.and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
                    });
                    Ok(SourceRow {
                        health: SourceHealth {
                            name: r.get(0)?,
                            kind: r.get(1)?,
                            reachable: r.get(2)?,
                            api: r.get(3)?,
                            scheduler,
                            error: r.get(6)?,
                            ..SourceHealth::default()
                        },
                        checked_at: r.get(7)?,
                        failing_since: r.get(8)?,
                    })
                },
            )
            .in_store(self)
    }

    /// Coverage spans, the current one reaching `now` while the poller is alive.
    fn coverage(&self, now: i64) -> Result<Vec<Span>> {
        let spans = self.db().query("SELECT start, last_seen FROM coverage ORDER BY start", &[], |r| {
            Ok(Span::new(r.get(0)?, r.get(1)?))
        });
        let mut spans = spans.in_store(self)?;
        if let Some(last) = spans.last_mut() {
            if now - last.end <= super::write::COVERAGE_GRACE {
                last.end = now;
            }
        }
        Ok(spans)
    }

    /// What history knows for a poll: each metric's last judgment, last refresh, maintenance.
    pub fn prior<P: Borrow<Product>>(&self, products: &[P], now: i64) -> Result<crate::evaluate::Prior> {
        let mut prior = crate::evaluate::Prior::default();
        let at = |t: i64| chrono::DateTime::from_timestamp(t, 0);
        // When each product was last checked: the id and the stamp only, not whole products.
        let all_checked = self.all_checked_at()?;
        let checked: HashMap<String, i64> = self
            .db()
            .query("SELECT id, checked_at FROM product WHERE active = 1", &[], |r| {
                Ok((r.get::<String>(0)?, checked_floor(r.get(1)?, all_checked)))
            })
            .in_store(self)?
            .into_iter()
            .filter_map(|(id, at)| Some((id, at?)))
            .collect();
        // Polls that could not see, maintenance and DAG blocks judged nothing: behind them,
        // the last judgment (a judgment held until the next span began), read back a span at
        // a time for every metric still without one.
        let mut behind: Vec<Behind> = Vec::new();
        let current = series::current(&mut self.db(), None).in_store(self)?;
        for c in current {
            let Ok(metric) = Metric::parse(&c.metric) else { continue };
            let current = Verdict::new(c.state, c.reason);
            if evaluate::is_judgment(&current) {
                let judgment = Judgment::new(current, checked.get(&c.product).and_then(|t| at(*t)));
                prior.previous.entry(c.product).or_default().insert(metric, judgment);
            } else {
                behind.push(Behind { series: c.series, product: c.product, metric, held_until: c.start });
            }
        }
        for _ in 0..LOOK_BACK {
            if behind.is_empty() {
                break;
            }
            let wanted: Vec<[i64; 2]> = behind.iter().map(|b| [b.series, b.held_until]).collect();
            let mut earlier = series::spans_before(&mut self.db(), &wanted).in_store(self)?;
            behind.retain_mut(|b| {
                let Some((state, text, start)) = earlier.remove(&b.series) else { return false };
                let verdict = Verdict::new(state, text);
                if !evaluate::is_judgment(&verdict) {
                    b.held_until = start;
                    return true;
                }
                let judgment = Judgment::new(verdict, at(b.held_until));
                prior.previous.entry(std::mem::take(&mut b.product)).or_default().insert(b.metric.clone(), judgment);
                false
            });
        }
        let refreshed =
            self.db().query("SELECT id, refreshed_at FROM product WHERE refreshed_at IS NOT NULL", &[], |r| {
                Ok((r.get::<String>(0)?, r.get::<i64>(1)?))
            });
        for (product, at) in refreshed.in_store(self)? {
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

/// When a product was last checked: its own stamp or, when later, the moment a poll last
/// checked every product; `None` when neither is known.
fn checked_floor(own: Option<i64>, all: Option<i64>) -> Option<i64> {
    own.max(all).filter(|at| *at > 0)
}

/// A metric whose current span judged nothing, read back until a judgment.
struct Behind {
    series: i64,
    product: String,
    metric: Metric,
    /// The start of the latest span read: what is found before it held until then.
    held_until: i64,
}

/// How many spans a metric's history is read back for its last judgment: past that many
/// changes without one (an outage that flapped for days), nothing is carried.
const LOOK_BACK: i64 = 64;

/// One metric's state spans, sorted by start; metric "" is the product overall.
pub type MetricSpans = (String, Vec<StateSpan>);

/// What the report reads, for one window.
#[derive(Debug, Clone, Default)]
pub struct SloInput {
    pub products: Vec<Product>,
    /// When a poller was watching; time outside is "no data" and left out.
    pub coverage: Vec<Span>,
    /// Per product id, its metrics' spans.
    pub history: Vec<(String, Vec<MetricSpans>)>,
    /// Incidents opened in the window.
    pub incidents: Vec<Incident>,
    /// Time incidents leave out of their tables' uptime (false positives, and `expected`
    /// ones where the product says so), for incidents resolved after the window began.
    pub excluded: Vec<super::Excluded>,
}

/// One metric's intervals in the window, and its current (state, reason, since).
type MetricHistory = (String, Vec<StateSpan>, Option<(State, String, i64)>);

/// A product row: the product, when it was last checked and last refreshed, its note and
/// evidence.
struct StoredProduct {
    product: Product,
    checked_at: Option<i64>,
    poll_every: Option<i64>,
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
    summarize_pieces(&uptime::covered(spans, coverage), now, days)
}

/// The worst state of each bucket, oldest first (`None`: nothing judged).
type Bars = Vec<Option<State>>;

/// A product's uptime for the four windows, and its day and hour bars when `bounds` asks.
fn overall_summary(
    pieces: &[StateSpan],
    now: i64,
    bounds: Option<(&[Span], &[Span])>,
) -> ([Option<f64>; 4], Bars, Bars) {
    match bounds {
        Some((days, hours)) => {
            let (uptime, bars) = summarize_pieces(pieces, now, days);
            (uptime, bars, uptime::buckets(pieces, hours).iter().map(Tally::worst).collect())
        }
        None => (window_uptime(pieces, now), Vec::new(), Vec::new()),
    }
}

fn window_uptime(pieces: &[StateSpan], now: i64) -> [Option<f64>; 4] {
    WindowKind::ALL.map(|w| uptime::tally(pieces, Span::new(now - w.seconds(), now)).uptime())
}

/// Uptime for the four windows and day bars, from covered pieces.
fn summarize_pieces(pieces: &[StateSpan], now: i64, days: &[Span]) -> ([Option<f64>; 4], Vec<Option<State>>) {
    let uptime = window_uptime(pieces, now);
    let bars = uptime::buckets(pieces, days).iter().map(Tally::worst).collect();
    (uptime, bars)
}
