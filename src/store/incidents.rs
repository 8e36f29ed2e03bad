//! Incidents: opened when a product's metric goes down, updated on every change, resolved
//! when it is all up again; the data team adds human updates with a status and an ETA.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::InStore;
use super::WriteSummary;
use super::events;
use super::{Result, Store, StoreError};
use crate::evaluate::Checked;
use crate::evaluate::incidents::{IncidentInput, IncidentStep, next_step};
use crate::event::{Event, EventIncident, EventKind};
use crate::model::{Resolution, Severity, State};
use crate::timefmt::rfc3339_at;
use crate::uptime::Span;

pub use crate::model::IncidentStatus;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: i64,
    pub product: String,
    pub title: String,
    pub status: IncidentStatus,
    pub severity: Severity,
    pub metrics: Vec<String>,
    /// When the evidence says the table broke (the failing run's end).
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub began_at: i64,
    /// When tablestat saw it.
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub opened_at: i64,
    #[serde(serialize_with = "crate::timefmt::json::maybe_at")]
    pub resolved_at: Option<i64>,
    #[serde(serialize_with = "crate::timefmt::json::maybe_at")]
    pub eta: Option<i64>,
    /// Why it was closed: `fixed` when it resolved by itself, until a person says otherwise.
    pub resolution: Option<Resolution>,
    /// Who said why (`None`: tablestat, or a person who left no name).
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    /// When someone took it, and who.
    #[serde(serialize_with = "crate::timefmt::json::maybe_at")]
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub updates: Vec<IncidentUpdate>,
}

impl Incident {
    /// The timeline as every view shows it (board, `incident show`, the page): newest
    /// first, as status pages do, so the latest word is read first.
    pub fn timeline(&self) -> impl Iterator<Item = &IncidentUpdate> {
        self.updates.iter().rev()
    }

    /// Time to detect: from the break to the incident.
    pub fn time_to_detect(&self) -> i64 {
        (self.opened_at - self.began_at).max(0)
    }

    /// Time to resolve, for resolved incidents.
    pub fn time_to_resolve(&self) -> Option<i64> {
        self.resolved_at.map(|r| r - self.opened_at)
    }

    /// Why it was closed, and who said so, in words: `a false positive (alice)`.
    pub fn closed_as(&self) -> Option<String> {
        let resolution = self.resolution?;
        Some(match &self.resolved_by {
            Some(who) => format!("{} ({who})", resolution.words()),
            None => resolution.words().to_string(),
        })
    }

    /// Time to acknowledge, for acknowledged incidents.
    pub fn time_to_acknowledge(&self) -> Option<i64> {
        self.acknowledged_at.map(|a| (a - self.opened_at).max(0))
    }

    /// The time it leaves out of its product's uptime, when its resolution says so (see
    /// [`Resolution::excludes`]): from the break to the resolution.
    pub fn excluded_span(&self, exclude_expected: bool) -> Option<crate::uptime::Span> {
        let resolved = self.resolved_at?;
        self.resolution
            .filter(|r| r.excludes(exclude_expected))
            .map(|_| crate::uptime::Span::new(self.began_at.min(self.opened_at), resolved))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentUpdate {
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub at: i64,
    pub automatic: bool,
    pub status: Option<IncidentStatus>,
    pub message: String,
    #[serde(serialize_with = "crate::timefmt::json::maybe_at")]
    pub eta: Option<i64>,
    pub author: Option<String>,
}

impl IncidentUpdate {
    /// Who said it, as every timeline shows it: tablestat itself, the author, or the team
    /// when a person left no name.
    pub fn said_by(&self) -> &str {
        match (&self.author, self.automatic) {
            (_, true) => "tablestat",
            (Some(author), false) => author,
            (None, false) => "data team",
        }
    }
}

/// The flapping guard: an incident opens (and notifications fire) only after a metric has
/// been down for `open_after` polls in a row. `pending` holds the products counting.
pub(super) struct FlapGuard<'a> {
    pub open_after: u32,
    pub pending: &'a mut HashSet<String>,
}

/// Automatic incident work for one checked product, inside the poll's transaction: the
/// rulebook decides the step ([`next_step`]), this applies it. `changed` holds the metrics
/// whose state changed this poll.
pub(super) fn apply_incident_rules(
    tx: &Transaction<'_>,
    checked: &Checked,
    changed: &[String],
    guard: &mut FlapGuard<'_>,
    summary: &mut WriteSummary,
) -> rusqlite::Result<()> {
    let e = &checked.evaluation;
    let product = &checked.product;
    let now = checked.checked_at.timestamp();
    let open: Option<OpenIncident> = tx
        .prepare_cached(
            "SELECT id, metrics, title, status, severity, eta FROM incident WHERE product = ?1 AND resolved_at IS NULL",
        )?
        .query_row([&product.id], |r| {
            Ok(OpenIncident {
                id: r.get(0)?,
                metrics: r.get(1)?,
                title: r.get(2)?,
                status: IncidentStatus::parse(&r.get::<_, String>(3)?).unwrap_or(IncidentStatus::Investigating),
                severity: severity_of(&r.get::<_, String>(4)?),
                eta: r.get(5)?,
            })
        })
        .optional()?;
    let open_metrics: Option<Vec<String>> = open.as_ref().map(|o| serde_json::from_str(&o.metrics).unwrap_or_default());
    let any_down = e.metrics.iter().any(|(_, v)| v.state == State::Down);
    // The guard's count is read only when it can matter.
    let down_polls: i64 = if open.is_none() && any_down && guard.open_after > 1 {
        tx.prepare_cached("SELECT down_polls FROM product WHERE id = ?1")?
            .query_row([&product.id], |r| r.get(0))
            .optional()?
            .unwrap_or(0)
    } else {
        0
    };
    let step = next_step(&IncidentInput {
        product,
        evaluation: e,
        at: now,
        changed,
        open: open_metrics.as_deref(),
        down_polls,
        open_after: guard.open_after,
    });
    // The event's product and state are what this poll wrote: no need to read them back.
    let event_product = || {
        Some(crate::event::EventProduct {
            id: product.id.clone(),
            name: product.name.clone(),
            group: product.group.clone(),
            owner: product.owner.clone(),
        })
    };
    let link = e.evidence.dbt_run_url.clone();
    match (step, open) {
        (IncidentStep::Nothing, _) => {}
        (IncidentStep::Count { down_polls }, _) => {
            guard.pending.insert(product.id.clone());
            tx.prepare_cached("UPDATE product SET down_polls = ?2 WHERE id = ?1")?
                .execute(params![product.id, down_polls])?;
        }
        (IncidentStep::ResetCount, _) => {
            guard.pending.remove(&product.id);
            tx.prepare_cached("UPDATE product SET down_polls = 0 WHERE id = ?1 AND down_polls != 0")?
                .execute([&product.id])?;
        }
        (IncidentStep::Open { title, severity, metrics, began_at, message }, _) => {
            if guard.pending.remove(&product.id) || guard.open_after > 1 {
                tx.prepare_cached("UPDATE product SET down_polls = 0 WHERE id = ?1 AND down_polls != 0")?
                    .execute([&product.id])?;
            }
            tx.prepare_cached("INSERT INTO incident (product, title, status, severity, metrics, began_at, opened_at) VALUES (?1, ?2, 'investigating', ?3, ?4, ?5, ?6)")?.execute(
                params![product.id, title, severity.as_str(), serde_json::to_string(&metrics).unwrap_or_default(), began_at, now],
            )?;
            let id = tx.last_insert_rowid();
            auto_update(tx, id, now, Some(IncidentStatus::Investigating), &message)?;
            let about =
                EventIncident { id, title, status: IncidentStatus::Investigating, severity, metrics, eta: None };
            let happened = Happened { kind: EventKind::IncidentOpened, at: now, message: &message, link };
            write_incident_event(tx, happened, event_product(), Some(e.state), about)?;
            summary.incidents_opened.push(id);
        }
        (IncidentStep::Resolve { message }, Some(open)) => {
            let id = open.id;
            tx.prepare_cached(
                "UPDATE incident SET status = 'resolved', resolved_at = ?2, resolution = 'fixed' WHERE id = ?1",
            )?
            .execute(params![id, now])?;
            auto_update(tx, id, now, Some(IncidentStatus::Resolved), &message)?;
            let about = open.about(IncidentStatus::Resolved, None);
            let happened = Happened { kind: EventKind::IncidentResolved, at: now, message: &message, link };
            write_incident_event(tx, happened, event_product(), Some(e.state), about)?;
            summary.incidents_resolved.push(id);
        }
        (IncidentStep::Update { metrics, message }, Some(open)) => {
            let id = open.id;
            tx.prepare_cached("UPDATE incident SET metrics = ?2 WHERE id = ?1")?
                .execute(params![id, serde_json::to_string(&metrics).unwrap_or_default()])?;
            auto_update(tx, id, now, None, &message)?;
            let about = open.about(open.status, Some(metrics));
            let happened = Happened { kind: EventKind::IncidentUpdated, at: now, message: &message, link };
            write_incident_event(tx, happened, event_product(), Some(e.state), about)?;
        }
        // A step about an open incident when none is open cannot come from the rule.
        (IncidentStep::Resolve { .. } | IncidentStep::Update { .. }, None) => {}
    }
    Ok(())
}

/// The open incident of a product, as the automatic path needs it.
struct OpenIncident {
    id: i64,
    /// JSON list.
    metrics: String,
    title: String,
    status: IncidentStatus,
    severity: Severity,
    eta: Option<i64>,
}

impl OpenIncident {
    /// The incident as its event tells it, with its status (and metrics) after the change.
    fn about(&self, status: IncidentStatus, metrics: Option<Vec<String>>) -> EventIncident {
        EventIncident {
            id: self.id,
            title: self.title.clone(),
            status,
            severity: self.severity,
            metrics: metrics.unwrap_or_else(|| serde_json::from_str(&self.metrics).unwrap_or_default()),
            eta: self.eta.map(rfc3339_at),
        }
    }
}

/// Writes the event of a change people made to an incident, with the incident and its
/// product as they stand after the change (read back).
fn incident_event(
    conn: &Connection,
    id: i64,
    kind: EventKind,
    message: &str,
    link: Option<String>,
    at: i64,
) -> rusqlite::Result<()> {
    let incident = conn
        .prepare_cached(&format!("SELECT {INCIDENT_COLUMNS} FROM incident WHERE id = ?1"))?
        .query_row([id], incident_row)?;
    let state: Option<i64> = conn
        .prepare_cached(
            "SELECT v.state FROM series s JOIN verdict v ON v.id = s.verdict WHERE s.product = ?1 AND s.metric = ''",
        )?
        .query_row([&incident.product], |r| r.get(0))
        .optional()?;
    let happened = Happened { kind, at, message, link };
    let product = events::product_ref(conn, &incident.product)?;
    let about = EventIncident {
        id,
        title: incident.title,
        status: incident.status,
        severity: incident.severity,
        metrics: incident.metrics,
        eta: incident.eta.map(rfc3339_at),
    };
    write_incident_event(conn, happened, product, state.map(super::series::state_of), about)
}

/// What happened to an incident, for its event.
struct Happened<'m> {
    kind: EventKind,
    at: i64,
    message: &'m str,
    link: Option<String>,
}

fn write_incident_event(
    conn: &Connection,
    happened: Happened<'_>,
    product: Option<crate::event::EventProduct>,
    state: Option<State>,
    incident: EventIncident,
) -> rusqlite::Result<()> {
    let event = Event {
        event: happened.kind,
        at: rfc3339_at(happened.at),
        product,
        group: None,
        state,
        incident: Some(incident),
        maintenance: None,
        message: happened.message.to_string(),
        link: happened.link,
    };
    events::record(conn, &event, happened.at, None)
}

fn auto_update(
    tx: &Transaction<'_>,
    incident: i64,
    at: i64,
    status: Option<IncidentStatus>,
    message: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO incident_update (incident, at, automatic, status, message) VALUES (?1, ?2, 1, ?3, ?4)",
    )?
    .execute(params![incident, at, status.map(IncidentStatus::as_str), message])?;
    Ok(())
}

/// A person's entry in an incident's timeline.
fn human_update(
    tx: &Transaction<'_>,
    id: i64,
    at: i64,
    status: Option<IncidentStatus>,
    message: &str,
    eta: Option<i64>,
    author: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO incident_update (incident, at, automatic, status, message, eta, author) VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, at, status.map(IncidentStatus::as_str), message, eta, author])?;
    Ok(())
}

/// What the webhooks hear of a person's words: what happened, who said so (when known), and
/// their words.
fn said_by(head: &str, author: Option<&str>, message: &str) -> String {
    match author {
        Some(who) => format!("{head} ({who}): {message}"),
        None => format!("{head}: {message}"),
    }
}

/// A stored severity; one this build does not know reads as the mildest.
fn severity_of(text: &str) -> Severity {
    Severity::parse(text).unwrap_or(Severity::Minor)
}

const INCIDENT_COLUMNS: &str = "id, product, title, status, severity, metrics, began_at, opened_at, resolved_at, eta,
    resolution, resolved_by, resolution_note, acknowledged_at, acknowledged_by";

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    let status: String = r.get(3)?;
    let metrics: String = r.get(5)?;
    Ok(Incident {
        id: r.get(0)?,
        product: r.get(1)?,
        title: r.get(2)?,
        status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Investigating),
        severity: severity_of(&r.get::<_, String>(4)?),
        metrics: serde_json::from_str(&metrics).unwrap_or_default(),
        began_at: r.get(6)?,
        opened_at: r.get(7)?,
        resolved_at: r.get(8)?,
        eta: r.get(9)?,
        resolution: r.get::<_, Option<String>>(10)?.as_deref().and_then(Resolution::parse),
        resolved_by: r.get(11)?,
        resolution_note: r.get(12)?,
        acknowledged_at: r.get(13)?,
        acknowledged_by: r.get(14)?,
        updates: Vec::new(),
    })
}

impl Store {
    /// Incidents, open first then the most recent, optionally for one product.
    pub fn incidents(&self, product: Option<&str>, limit: usize) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incident WHERE (?1 IS NULL OR product = ?1)
             ORDER BY resolved_at IS NOT NULL, opened_at DESC, id DESC LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql).in_store(self)?;
        let rows = stmt.query_map(params![product, limit as i64], incident_row).in_store(self)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().in_store(self)
    }

    /// The incidents as they stood at `at`, open ones first: opened by then; one resolved
    /// later is open, with the status of its last update by then.
    pub fn incidents_at(&self, at: i64) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incident WHERE opened_at <= ?1
             ORDER BY (resolved_at IS NOT NULL AND resolved_at <= ?1), opened_at DESC, id DESC LIMIT 200"
        );
        let mut stmt = self.conn.prepare_cached(&sql).in_store(self)?;
        let mut then =
            stmt.query_map([at], incident_row).in_store(self)?.collect::<rusqlite::Result<Vec<_>>>().in_store(self)?;
        let mut status = self
            .conn
            .prepare_cached(
                "SELECT status FROM incident_update WHERE incident = ?1 AND at <= ?2 AND status IS NOT NULL
                 ORDER BY at DESC, id DESC LIMIT 1",
            )
            .in_store(self)?;
        for incident in then.iter_mut().filter(|i| i.resolved_at.is_some_and(|r| r > at)) {
            incident.resolved_at = None;
            let said: Option<String> =
                status.query_row(params![incident.id, at], |r| r.get(0)).optional().in_store(self)?;
            incident.status = said.as_deref().and_then(IncidentStatus::parse).unwrap_or(IncidentStatus::Investigating);
        }
        Ok(then)
    }

    /// Incidents resolved after `since` whose time leaves their product's uptime (a false
    /// positive; an `expected` one where the product says so), with the spans they leave out,
    /// of one product or of all.
    pub fn excluded_incidents(&self, since: i64, product: Option<&str>) -> Result<Vec<(Incident, Span)>> {
        let columns = INCIDENT_COLUMNS.split(',').map(|c| format!("i.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT {columns}, coalesce(p.exclude_expected, 0) FROM incident i LEFT JOIN product p ON p.id = i.product
             WHERE i.resolution IN ('false-positive', 'expected') AND i.resolved_at > ?1 AND (?2 IS NULL OR i.product = ?2)
             ORDER BY i.began_at, i.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).in_store(self)?;
        let rows = stmt
            .query_map(params![since, product], |r| Ok((incident_row(r)?, r.get::<_, bool>(15)?)))
            .in_store(self)?;
        let mut out = Vec::new();
        for row in rows {
            let (incident, exclude_expected) = row.in_store(self)?;
            if let Some(span) = incident.excluded_span(exclude_expected) {
                out.push((incident, span));
            }
        }
        Ok(out)
    }

    /// Per product, the time its excluded incidents leave out of uptime since `since`.
    pub(super) fn left_out(&self, since: i64, product: Option<&str>) -> Result<HashMap<String, Vec<Span>>> {
        let mut left_out: HashMap<String, Vec<Span>> = HashMap::new();
        for (incident, span) in self.excluded_incidents(since, product)? {
            left_out.entry(incident.product).or_default().push(span);
        }
        Ok(left_out)
    }

    /// Incidents opened in `since..until`, oldest first, without timelines.
    pub fn incidents_opened(&self, since: i64, until: i64) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incident WHERE opened_at >= ?1 AND opened_at < ?2 ORDER BY opened_at, id"
        );
        let mut stmt = self.conn.prepare_cached(&sql).in_store(self)?;
        let rows = stmt.query_map(params![since, until], incident_row).in_store(self)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().in_store(self)
    }

    /// One incident with its timeline, oldest update first.
    pub fn incident(&self, id: i64) -> Result<Incident> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incident WHERE id = ?1");
        let mut incident =
            self.conn.query_row(&sql, [id], incident_row).optional().in_store(self)?.ok_or_else(|| {
                StoreError::Refused(format!("no incident #{id}: `tablestat incident list` shows them"))
            })?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT at, automatic, status, message, eta, author FROM incident_update WHERE incident = ?1 ORDER BY at, id")
            .in_store(self)?;
        incident.updates = stmt
            .query_map([id], |r| {
                let status: Option<String> = r.get(2)?;
                Ok(IncidentUpdate {
                    at: r.get(0)?,
                    automatic: r.get::<_, i64>(1)? != 0,
                    status: status.as_deref().and_then(IncidentStatus::parse),
                    message: r.get(3)?,
                    eta: r.get(4)?,
                    author: r.get(5)?,
                })
            })
            .in_store(self)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .in_store(self)?;
        Ok(incident)
    }

    /// A human update: a status, a message, an optional ETA. `resolved` closes it, as
    /// `fixed` unless [`Store::resolve_incident`] says why.
    pub fn update_incident(
        &mut self,
        id: i64,
        status: IncidentStatus,
        message: &str,
        eta: Option<i64>,
        author: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.write_update(id, status, None, message, eta, author, now)
    }

    /// Resolves an open incident by hand, saying why (`fixed` when `resolution` is `None`);
    /// or says why a resolved one was closed, replacing what was said before (an incident that
    /// resolved by itself is `fixed` until then). The change is in its timeline.
    pub fn resolve_incident(
        &mut self,
        id: i64,
        resolution: Option<Resolution>,
        message: &str,
        author: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let current = self.incident(id)?;
        let (Some(resolution), Some(_)) = (resolution, current.resolved_at) else {
            return self.write_update(id, IncidentStatus::Resolved, resolution, message, None, author, now);
        };
        if current.resolution == Some(resolution) {
            return Err(StoreError::Refused(format!(
                "incident #{id} is already resolved as {}: `tablestat incident show {id}` has its timeline",
                resolution.as_str()
            )));
        }
        let head = format!("Closed as {}", resolution.words());
        let said = format!("{head}: {message}");
        self.write_in_transaction(|tx| {
            tx.execute(
                "UPDATE incident SET resolution = ?2, resolved_by = ?3, resolution_note = ?4 WHERE id = ?1",
                params![id, resolution.as_str(), author, message],
            )?;
            human_update(tx, id, now, None, &said, None, author)?;
            incident_event(tx, id, EventKind::IncidentUpdated, &said_by(&head, author, message), None, now)
        })
    }

    /// Records who took an open incident: once, in its timeline and to its webhooks.
    pub fn acknowledge_incident(&mut self, id: i64, author: Option<&str>, message: &str, now: i64) -> Result<()> {
        let current = self.incident(id)?;
        if let Some(at) = current.resolved_at {
            return Err(StoreError::Refused(format!(
                "incident #{id} was resolved at {}: there is nothing left to take",
                crate::timefmt::stamp_at(at)
            )));
        }
        if let Some(at) = current.acknowledged_at {
            return Err(StoreError::Refused(format!(
                "incident #{id} was acknowledged by {} at {}",
                current.acknowledged_by.as_deref().unwrap_or("the data team"),
                crate::timefmt::stamp_at(at)
            )));
        }
        let said = format!("Acknowledged: {message}");
        self.write_in_transaction(|tx| {
            tx.execute(
                "UPDATE incident SET acknowledged_at = ?2, acknowledged_by = ?3 WHERE id = ?1",
                params![id, now, author],
            )?;
            human_update(tx, id, now, None, &said, None, author)?;
            incident_event(tx, id, EventKind::IncidentUpdated, &said_by("acknowledged", author, message), None, now)
        })
    }

    /// Runs `write` in one transaction that also moves the generation readers follow.
    fn write_in_transaction(&mut self, write: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>) -> Result<()> {
        let path = self.path.clone();
        let wrap = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(wrap)?;
        write(&tx).map_err(wrap)?;
        super::bump_generation(&tx).map_err(wrap)?;
        tx.commit().map_err(wrap)
    }

    /// A human update with a status; `resolved` closes it, saying why (`fixed` by default).
    #[allow(clippy::too_many_arguments)]
    fn write_update(
        &mut self,
        id: i64,
        status: IncidentStatus,
        resolution: Option<Resolution>,
        message: &str,
        eta: Option<i64>,
        author: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let current = self.incident(id)?;
        if let Some(at) = current.resolved_at {
            // Resolving twice would write a second resolution into the timeline.
            return Err(StoreError::Refused(format!(
                "incident #{id} is already resolved (at {}): `tablestat incident show {id}` has its timeline; \
                 to say why it was closed: `tablestat incident resolve {id} --reason false-positive` (or expected, upstream)",
                crate::timefmt::stamp_at(at)
            )));
        }
        let resolved_at = (status == IncidentStatus::Resolved).then_some(now);
        let resolution = resolved_at.map(|_| resolution.unwrap_or(Resolution::Fixed));
        self.write_in_transaction(|tx| {
            human_update(tx, id, now, Some(status), message, eta, author)?;
            tx.execute(
                "UPDATE incident SET status = ?2, eta = coalesce(?3, eta), resolved_at = ?4,
                    resolution = ?5, resolved_by = ?6, resolution_note = ?7
                 WHERE id = ?1",
                params![
                    id,
                    status.as_str(),
                    eta,
                    resolved_at,
                    resolution.map(Resolution::as_str),
                    resolved_at.and(author),
                    resolved_at.map(|_| message)
                ],
            )?;
            let kind = if resolved_at.is_some() { EventKind::IncidentResolved } else { EventKind::IncidentUpdated };
            let head = match resolution.filter(|r| *r != Resolution::Fixed) {
                Some(r) => format!("{status} as {}", r.words()),
                None => status.to_string(),
            };
            incident_event(tx, id, kind, &said_by(&head, author, message), None, now)
        })
    }

    /// Mean time to resolve of a product's resolved incidents, in seconds.
    pub fn mean_time_to_resolve(&self, product: &str) -> Result<Option<f64>> {
        self.conn
            .query_row(
                "SELECT avg(resolved_at - opened_at) FROM incident WHERE product = ?1 AND resolved_at IS NOT NULL",
                [product],
                |r| r.get(0),
            )
            .in_store(self)
    }
}
