//! Incidents: opened when a product's metric goes down, updated on every change, resolved
//! when it is all up again; the data team adds human updates with a status and an ETA.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::InStore;
use super::WriteSummary;
use super::db::{Db, DbResult, Row, Value, args};
use super::events;
use super::{Result, Store, StoreError};
use crate::evaluate::Checked;
use crate::evaluate::incidents::{self, IncidentInput, IncidentStep, Opening, next_step};
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
    /// The root cause's key (`test:<unique_id>`, `dag:<dag>`, …; see
    /// [`crate::evaluate::Cause`]); `None` for incidents from before causes were kept.
    pub cause: Option<String>,
    /// The tables it reached, in the order they joined: when, and when each was back.
    pub members: Vec<Member>,
    /// What reads those tables outside dbt (dashboards, ML models, applications).
    pub exposures: Vec<crate::model::Exposure>,
    pub updates: Vec<IncidentUpdate>,
}

/// Time an incident leaves out of one of its tables' uptime (see [`Incident::excluded_span`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Excluded {
    pub incident: Incident,
    pub product: String,
    pub span: Span,
}

/// A table an incident reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub product: String,
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub joined_at: i64,
    /// When it was back (or the incident was resolved); `None` while it is affected.
    #[serde(serialize_with = "crate::timefmt::json::maybe_at")]
    pub left_at: Option<i64>,
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

    /// How many tables it reached (one for an incident of a table's own cause).
    pub fn table_count(&self) -> usize {
        let mut tables: Vec<&str> = self.members.iter().map(|m| m.product.as_str()).collect();
        tables.sort_unstable();
        tables.dedup();
        tables.len().max(1)
    }

    /// Who is affected, in words: "feeds 3 watched tables and the dashboard *Weekly revenue*".
    pub fn affects(&self) -> Option<String> {
        let tables = self.table_count();
        let mut parts = Vec::new();
        if tables > 1 {
            parts.push(format!("{tables} watched tables"));
        }
        parts.extend(self.exposures.iter().map(|x| match &x.maturity {
            Some(m) => format!("{} ({m})", x.describe()),
            None => x.describe(),
        }));
        match parts.as_slice() {
            [] => None,
            [one] => Some(format!("feeds {one}")),
            [first @ .., last] => Some(format!("feeds {} and {last}", first.join(", "))),
        }
    }

    /// Whether it reached `product` (the one that opened it, or one that joined).
    pub fn involves(&self, product: &str) -> bool {
        self.product == product || self.members.iter().any(|m| m.product == product)
    }

    /// The tables it affects now.
    pub fn affected_now(&self) -> impl Iterator<Item = &str> {
        self.members.iter().filter(|m| m.left_at.is_none()).map(|m| m.product.as_str())
    }

    /// Time to acknowledge, for acknowledged incidents.
    pub fn time_to_acknowledge(&self) -> Option<i64> {
        self.acknowledged_at.map(|a| (a - self.opened_at).max(0))
    }

    /// The time it leaves out of `product`'s uptime when its resolution says so (see
    /// [`Resolution::excludes`]): while the product was in it, from the break for the one
    /// that opened it, to the resolution.
    pub fn excluded_span(&self, product: &str, exclude_expected: bool) -> Option<Span> {
        let resolved = self.resolved_at?;
        self.resolution.filter(|r| r.excludes(exclude_expected))?;
        let stints = || self.members.iter().filter(|m| m.product == product);
        let joined = stints().map(|m| m.joined_at).min()?;
        let start = if product == self.product { joined.min(self.began_at.min(self.opened_at)) } else { joined };
        let end = stints().map(|m| m.left_at.unwrap_or(resolved).min(resolved)).max()?;
        Some(Span::new(start, end))
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
    /// Exposure maturities that make an incident critical (not the guard's, but read with it).
    pub critical_maturities: &'a [String],
    pub pending: &'a mut HashSet<String>,
}

/// Automatic incident work for one checked product, inside the poll's transaction: the
/// rulebook decides the step ([`next_step`]), this applies it. `changed` holds the metrics
/// whose state changed this poll. Incidents are per root cause: a product joins the open
/// incident of its cause, and leaves it when it is up again.
pub(super) fn apply_incident_rules(
    db: &mut Db<'_>,
    batch: &mut Batch,
    checked: &Checked,
    changed: &[String],
    guard: &mut FlapGuard<'_>,
    summary: &mut WriteSummary,
) -> DbResult<()> {
    let e = &checked.evaluation;
    let product = &checked.product;
    let now = checked.checked_at.timestamp();
    let open: Option<OpenIncident> = db.query_opt(
        &format!(
            "SELECT {OPEN_COLUMNS} FROM incident_member m JOIN incident i ON i.id = m.incident
             WHERE m.product = ?1 AND m.left_at IS NULL AND i.resolved_at IS NULL"
        ),
        args![&product.id],
        open_incident,
    )?;
    let open_metrics: Option<Vec<String>> = open.as_ref().map(|o| serde_json::from_str(&o.metrics).unwrap_or_default());
    let any_down = e.metrics.iter().any(|(_, v)| v.state == State::Down);
    // The guard's count is read only when it can matter.
    let down_polls: i64 = if open.is_none() && any_down && guard.open_after > 1 {
        db.query_opt("SELECT down_polls FROM product WHERE id = ?1", args![&product.id], |r| r.get(0))?.unwrap_or(0)
    } else {
        0
    };
    let step = next_step(&IncidentInput {
        product,
        evaluation: e,
        at: now,
        changed,
        open: open_metrics.as_deref(),
        open_cause: open.as_ref().and_then(|o| o.cause.as_deref()),
        down_polls,
        open_after: guard.open_after,
        critical_maturities: guard.critical_maturities,
    });
    let here = Here {
        product,
        state: e.state,
        at: now,
        link: e.evidence.dbt_run_url.clone(),
        exposures: &e.evidence.exposures,
    };
    match (step, open) {
        (IncidentStep::Nothing, _) => {}
        (IncidentStep::Count { down_polls }, _) => {
            guard.pending.insert(product.id.clone());
            db.execute("UPDATE product SET down_polls = ?2 WHERE id = ?1", args![&product.id, down_polls])?;
        }
        (IncidentStep::ResetCount, _) => {
            guard.pending.remove(&product.id);
            db.execute("UPDATE product SET down_polls = 0 WHERE id = ?1 AND down_polls != 0", args![&product.id])?;
        }
        (IncidentStep::Open(opening), _) => {
            if guard.pending.remove(&product.id) || guard.open_after > 1 {
                db.execute("UPDATE product SET down_polls = 0 WHERE id = ?1 AND down_polls != 0", args![&product.id])?;
            }
            join_or_open(db, batch, &here, opening, summary)?;
        }
        (IncidentStep::Resolve { message }, Some(open)) => {
            leave(db, batch, &here, &open, &message, summary)?;
        }
        (IncidentStep::Move(opening), Some(open)) => {
            let message = format!("Now down for another cause: {}.", opening.cause.title);
            leave(db, batch, &here, &open, &message, summary)?;
            join_or_open(db, batch, &here, opening, summary)?;
        }
        (IncidentStep::Update { metrics, message }, Some(open)) => {
            let id = open.id;
            db.execute(
                "UPDATE incident SET metrics = ?2 WHERE id = ?1",
                args![id, serde_json::to_string(&metrics).unwrap_or_default()],
            )?;
            let message = here.said(db, id, &message)?;
            batch.update(id, now, None, &message);
            let about = open.about(open.status, Some(metrics));
            write_incident_event(
                db,
                batch,
                here.happened(EventKind::IncidentUpdated, &message),
                here.product(),
                Some(e.state),
                about,
                false,
            )?;
        }
        // A step about an open incident when none is open cannot come from the rule.
        (IncidentStep::Resolve { .. } | IncidentStep::Update { .. } | IncidentStep::Move(_), None) => {}
    }
    Ok(())
}

/// The product a poll step is about, and what the poll found.
struct Here<'a> {
    product: &'a crate::model::Product,
    state: State,
    at: i64,
    link: Option<String>,
    /// What reads the product's table outside dbt.
    exposures: &'a [crate::model::Exposure],
}

impl Here<'_> {
    /// The event's product: what this poll wrote, not read back.
    fn product(&self) -> Option<crate::event::EventProduct> {
        Some(crate::event::EventProduct {
            id: self.product.id.clone(),
            name: self.product.name.clone(),
            group: self.product.group.clone(),
            owner: self.product.owner.clone(),
        })
    }

    fn happened<'m>(&self, kind: EventKind, message: &'m str) -> Happened<'m> {
        Happened { kind, at: self.at, message, link: self.link.clone() }
    }

    /// In an incident of several tables, each line says which one it is about.
    fn said(&self, db: &mut Db<'_>, incident: i64, message: &str) -> DbResult<String> {
        Ok(if affected(db, incident)? > 1 { format!("{}: {message}", self.product.name) } else { message.to_string() })
    }
}

/// How many tables an incident has reached.
fn affected(db: &mut Db<'_>, incident: i64) -> DbResult<usize> {
    db.query_one("SELECT count(DISTINCT product) FROM incident_member WHERE incident = ?1", args![incident], |r| {
        r.get::<i64>(0)
    })
    .map(|n| n as usize)
}

/// An incident opened by this poll that other tables joined in the same poll: its
/// `incident_opened` event says how it stands after the poll (the title's count, severity,
/// metrics, every affected table), so a receiver hears "3 tables affected" first, not "1".
/// Written in the poll's transaction, before anything routes it.
pub(super) fn settle_opened(db: &mut Db<'_>, id: i64) -> DbResult<()> {
    let affected = affected_products(db, id)?;
    if affected.len() < 2 {
        return Ok(());
    }
    let (title, severity, metrics, opened_at) =
        db.query_one("SELECT title, severity, metrics, opened_at FROM incident WHERE id = ?1", args![id], |r| {
            Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?, r.get::<i64>(3)?))
        })?;
    // The event was written at the incident's opening, in this transaction: found among that
    // moment's openings by its incident, and told again as the incident stands now.
    let opened =
        db.query("SELECT id, payload FROM event WHERE kind = 'incident_opened' AND at = ?1", args![opened_at], |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?))
        })?;
    for (event_id, payload) in opened {
        let Ok(mut event) = serde_json::from_str::<Event>(&payload) else { continue };
        let Some(incident) = event.incident.as_mut().filter(|i| i.id == id) else { continue };
        incident.title = title.clone();
        incident.severity = severity_of(&severity);
        incident.metrics = serde_json::from_str(&metrics).unwrap_or_default();
        event.affected = affected.clone();
        let payload = serde_json::to_string(&event).unwrap_or(payload);
        db.execute("UPDATE event SET payload = ?2 WHERE id = ?1", args![event_id, payload])?;
    }
    Ok(())
}

/// The product joins the open incident of its cause, or opens one.
fn join_or_open(
    db: &mut Db<'_>,
    batch: &mut Batch,
    here: &Here<'_>,
    opening: Opening,
    summary: &mut WriteSummary,
) -> DbResult<()> {
    let Opening { cause, title: own_title, severity, metrics, began_at, message } = opening;
    let joining: Option<OpenIncident> = if cause.is_shared() {
        db.query_opt(
            &format!("SELECT {OPEN_COLUMNS} FROM incident i WHERE i.cause = ?1 AND i.resolved_at IS NULL"),
            args![&cause.key],
            open_incident,
        )?
    } else {
        None
    };
    const MEMBER: &str = "INSERT INTO incident_member (incident, product, joined_at) VALUES (?1, ?2, ?3)";
    match joining {
        Some(open) => {
            let id = open.id;
            db.execute(MEMBER, args![id, &here.product.id, here.at])?;
            let mut all: Vec<String> = serde_json::from_str(&open.metrics).unwrap_or_default();
            for m in metrics {
                if !all.contains(&m) {
                    all.push(m);
                }
            }
            let severity = open.severity.max(severity);
            let title = incidents::title(&cause, &own_title, affected(db, id)?);
            let mut reached: Vec<crate::model::Exposure> = serde_json::from_str(&open.exposures).unwrap_or_default();
            for x in here.exposures {
                if !reached.contains(x) {
                    reached.push(x.clone());
                }
            }
            db.execute(
                "UPDATE incident SET title = ?2, severity = ?3, metrics = ?4, exposures = ?5 WHERE id = ?1",
                args![
                    id,
                    &title,
                    severity.as_str(),
                    serde_json::to_string(&all).unwrap_or_default(),
                    serde_json::to_string(&reached).unwrap_or_default()
                ],
            )?;
            let message = format!("{} joined. {message}", here.product.name);
            batch.update(id, here.at, None, &message);
            let about = EventIncident { title, severity, metrics: all, ..open.about(open.status, None) };
            write_incident_event(
                db,
                batch,
                here.happened(EventKind::IncidentUpdated, &message),
                here.product(),
                Some(here.state),
                about,
                false,
            )?;
        }
        None => {
            let title = incidents::title(&cause, &own_title, 1);
            let id = db.query_one(
                "INSERT INTO incident (product, title, status, severity, metrics, began_at, opened_at, cause, exposures)
                 VALUES (?1, ?2, 'investigating', ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                args![
                    &here.product.id,
                    &title,
                    severity.as_str(),
                    serde_json::to_string(&metrics).unwrap_or_default(),
                    began_at,
                    here.at,
                    &cause.key,
                    serde_json::to_string(here.exposures).unwrap_or_default()
                ],
                |r| r.get(0),
            )?;
            db.execute(MEMBER, args![id, &here.product.id, here.at])?;
            batch.update(id, here.at, Some(IncidentStatus::Investigating), &message);
            let about =
                EventIncident { id, title, status: IncidentStatus::Investigating, severity, metrics, eta: None };
            // A new incident has reached this table alone.
            write_incident_event(
                db,
                batch,
                here.happened(EventKind::IncidentOpened, &message),
                here.product(),
                Some(here.state),
                about,
                true,
            )?;
            summary.incidents_opened.push(id);
        }
    }
    Ok(())
}

/// The product leaves its incident; the incident resolves (`fixed`) when nobody is left.
fn leave(
    db: &mut Db<'_>,
    batch: &mut Batch,
    here: &Here<'_>,
    open: &OpenIncident,
    message: &str,
    summary: &mut WriteSummary,
) -> DbResult<()> {
    let id = open.id;
    db.execute(
        "UPDATE incident_member SET left_at = ?3 WHERE incident = ?1 AND product = ?2 AND left_at IS NULL",
        args![id, &here.product.id, here.at],
    )?;
    // Tables still affected, and every table it reached: one question.
    let (left, reached) = db.query_one(
        "SELECT count(*) FILTER (WHERE left_at IS NULL), count(DISTINCT product) FROM incident_member WHERE incident = ?1",
        args![id],
        |r| Ok((r.get::<i64>(0)?, r.get::<i64>(1)?)),
    )?;
    let several = reached > 1;
    if left > 0 {
        let message = format!(
            "{}: {message} {left} table{} still affected.",
            here.product.name,
            if left == 1 { "" } else { "s" }
        );
        batch.update(id, here.at, None, &message);
        let about = open.about(open.status, None);
        return write_incident_event(
            db,
            batch,
            here.happened(EventKind::IncidentUpdated, &message),
            here.product(),
            Some(here.state),
            about,
            false,
        );
    }
    db.execute(
        "UPDATE incident SET status = 'resolved', resolved_at = ?2, resolution = 'fixed' WHERE id = ?1",
        args![id, here.at],
    )?;
    let message =
        if several { format!("{}: {message} Every table is back.", here.product.name) } else { message.to_string() };
    batch.update(id, here.at, Some(IncidentStatus::Resolved), &message);
    let about = open.about(IncidentStatus::Resolved, None);
    write_incident_event(
        db,
        batch,
        here.happened(EventKind::IncidentResolved, &message),
        here.product(),
        Some(here.state),
        about,
        !several,
    )?;
    summary.incidents_resolved.push(id);
    Ok(())
}

/// What the automatic path reads of an open incident.
const OPEN_COLUMNS: &str = "i.id, i.metrics, i.title, i.status, i.severity, i.eta, i.cause, i.exposures";

fn open_incident(r: &Row<'_>) -> DbResult<OpenIncident> {
    Ok(OpenIncident {
        id: r.get(0)?,
        metrics: r.get(1)?,
        title: r.get(2)?,
        status: IncidentStatus::parse(&r.get::<String>(3)?).unwrap_or(IncidentStatus::Investigating),
        severity: severity_of(&r.get::<String>(4)?),
        eta: r.get(5)?,
        cause: r.get(6)?,
        exposures: r.get(7)?,
    })
}

/// An open incident, as the automatic path needs it.
struct OpenIncident {
    id: i64,
    /// JSON list.
    metrics: String,
    title: String,
    status: IncidentStatus,
    severity: Severity,
    eta: Option<i64>,
    cause: Option<String>,
    /// JSON list.
    exposures: String,
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
    db: &mut Db<'_>,
    id: i64,
    kind: EventKind,
    message: &str,
    link: Option<String>,
    at: i64,
) -> DbResult<()> {
    let incident =
        db.query_one(&format!("SELECT {INCIDENT_COLUMNS} FROM incident WHERE id = ?1"), args![id], incident_row)?;
    let state: Option<i64> = db.query_opt(
        "SELECT v.state FROM series s JOIN verdict v ON v.id = s.verdict WHERE s.product = ?1 AND s.metric = ''",
        args![&incident.product],
        |r| r.get(0),
    )?;
    let happened = Happened { kind, at, message, link };
    let product = events::product_ref(db, &incident.product)?;
    let about = EventIncident {
        id,
        title: incident.title,
        status: incident.status,
        severity: incident.severity,
        metrics: incident.metrics,
        eta: incident.eta.map(rfc3339_at),
    };
    let mut batch = Batch::default();
    write_incident_event(db, &mut batch, happened, product, state.map(super::series::state_of), about, false)?;
    batch.flush(db)
}

/// What happened to an incident, for its event.
struct Happened<'m> {
    kind: EventKind,
    at: i64,
    message: &'m str,
    link: Option<String>,
}

/// The tables an incident affects now (every one it reached, once resolved), as events
/// name them, in the order they joined.
fn affected_products(db: &mut Db<'_>, incident: i64) -> DbResult<Vec<crate::event::EventProduct>> {
    db.query(
        "SELECT p.id, p.name, p.grp, p.owner FROM incident_member m JOIN product p ON p.id = m.product
         WHERE m.incident = ?1
           AND (m.left_at IS NULL OR NOT EXISTS (SELECT 1 FROM incident_member WHERE incident = ?1 AND left_at IS NULL))
         GROUP BY p.id, p.name, p.grp, p.owner ORDER BY min(m.id)",
        args![incident],
        |r| Ok(crate::event::EventProduct { id: r.get(0)?, name: r.get(1)?, group: r.get(2)?, owner: r.get(3)? }),
    )
}

/// Records an incident's event; `alone` when the caller knows the incident reached this
/// table only (its tables are then not read: a round trip less per incident on PostgreSQL).
fn write_incident_event(
    db: &mut Db<'_>,
    batch: &mut Batch,
    happened: Happened<'_>,
    product: Option<crate::event::EventProduct>,
    state: Option<State>,
    incident: EventIncident,
    alone: bool,
) -> DbResult<()> {
    let affected = if alone { Vec::new() } else { affected_products(db, incident.id)? };
    let event = Event {
        event: happened.kind,
        at: rfc3339_at(happened.at),
        affected: if affected.len() > 1 { affected } else { Vec::new() },
        product,
        group: None,
        state,
        incident: Some(incident),
        maintenance: None,
        message: happened.message.to_string(),
        link: happened.link,
    };
    batch.events.push(events::row(&event, happened.at, None)?);
    Ok(())
}

/// The timeline entries and events of a poll's incident steps, written together at the end
/// of its transaction (nothing in the poll reads them before): a statement per chunk rather
/// than two per incident, each a round trip on PostgreSQL.
#[derive(Default)]
pub(super) struct Batch {
    /// (incident, at, automatic, status, message) of tablestat's own timeline entries.
    updates: Vec<[Value; 5]>,
    events: Vec<[Value; 4]>,
}

impl Batch {
    /// tablestat's own entry in an incident's timeline.
    fn update(&mut self, incident: i64, at: i64, status: Option<IncidentStatus>, message: &str) {
        let status = Value::from(status.map(IncidentStatus::as_str));
        self.updates.push([Value::Int(incident), Value::Int(at), Value::Int(1), status, Value::from(message)]);
    }

    /// Writes the entries, then the events, each in the order they came.
    pub fn flush(self, db: &mut Db<'_>) -> DbResult<()> {
        for chunk in super::db::chunks(db, &self.updates) {
            let sql = format!(
                "INSERT INTO incident_update (incident, at, automatic, status, message) VALUES {}",
                super::db::values(chunk.len(), 5, false)
            );
            db.execute(&sql, &chunk.concat())?;
        }
        events::insert(db, &self.events)?;
        Ok(())
    }
}

/// A person's entry in an incident's timeline.
fn human_update(
    db: &mut Db<'_>,
    id: i64,
    at: i64,
    status: Option<IncidentStatus>,
    message: &str,
    eta: Option<i64>,
    author: Option<&str>,
) -> DbResult<()> {
    db.execute(
        "INSERT INTO incident_update (incident, at, automatic, status, message, eta, author) VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6)",
        args![id, at, status.map(IncidentStatus::as_str), message, eta, author],
    )?;
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
    resolution, resolved_by, resolution_note, acknowledged_at, acknowledged_by, cause, exposures";

fn incident_row(r: &Row<'_>) -> DbResult<Incident> {
    let status: String = r.get(3)?;
    let metrics: String = r.get(5)?;
    Ok(Incident {
        id: r.get(0)?,
        product: r.get(1)?,
        title: r.get(2)?,
        status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Investigating),
        severity: severity_of(&r.get::<String>(4)?),
        metrics: serde_json::from_str(&metrics).unwrap_or_default(),
        began_at: r.get(6)?,
        opened_at: r.get(7)?,
        resolved_at: r.get(8)?,
        eta: r.get(9)?,
        resolution: r.get::<Option<String>>(10)?.as_deref().and_then(Resolution::parse),
        resolved_by: r.get(11)?,
        resolution_note: r.get(12)?,
        acknowledged_at: r.get(13)?,
        acknowledged_by: r.get(14)?,
        cause: r.get(15)?,
        members: Vec::new(),
        exposures: serde_json::from_str(&r.get::<String>(16)?).unwrap_or_default(),
        updates: Vec::new(),
    })
}

impl Store {
    /// Incidents, open first then the most recent, optionally those that reached one product.
    pub fn incidents(&self, product: Option<&str>, limit: usize) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incident
             WHERE (CAST(?1 AS TEXT) IS NULL OR id IN (SELECT incident FROM incident_member WHERE product = ?1))
             ORDER BY resolved_at IS NOT NULL, opened_at DESC, id DESC LIMIT ?2"
        );
        let mut incidents = self.db().query(&sql, args![product, limit as i64], incident_row).in_store(self)?;
        self.attach_members(&mut incidents)?;
        Ok(incidents)
    }

    /// Fills in each incident's tables, in the order they joined.
    fn attach_members(&self, incidents: &mut [Incident]) -> Result<()> {
        if incidents.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
        let place: HashMap<i64, usize> = ids.iter().enumerate().map(|(at, id)| (*id, at)).collect();
        let mut db = self.db();
        let sql = format!(
            "SELECT incident, product, joined_at, left_at FROM incident_member
             WHERE incident IN {} ORDER BY joined_at, id",
            db.json_integers(1)
        );
        db.for_each(&sql, args![serde_json::to_string(&ids).unwrap_or_default()], |r| {
            if let Some(at) = place.get(&r.get::<i64>(0)?) {
                incidents[*at].members.push(Member { product: r.get(1)?, joined_at: r.get(2)?, left_at: r.get(3)? });
            }
            Ok(())
        })
        .in_store(self)
    }

    /// The incidents as they stood at `at`, open ones first: opened by then; one resolved
    /// later is open, with the status of its last update by then.
    pub fn incidents_at(&self, at: i64) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incident WHERE opened_at <= ?1
             ORDER BY (resolved_at IS NOT NULL AND resolved_at <= ?1), opened_at DESC, id DESC LIMIT 200"
        );
        let mut then = self.db().query(&sql, args![at], incident_row).in_store(self)?;
        for incident in then.iter_mut().filter(|i| i.resolved_at.is_some_and(|r| r > at)) {
            incident.resolved_at = None;
            let said: Option<String> = self
                .db()
                .query_opt(
                    "SELECT status FROM incident_update WHERE incident = ?1 AND at <= ?2 AND status IS NOT NULL
                     ORDER BY at DESC, id DESC LIMIT 1",
                    args![incident.id, at],
                    |r| r.get(0),
                )
                .in_store(self)?;
            incident.status = said.as_deref().and_then(IncidentStatus::parse).unwrap_or(IncidentStatus::Investigating);
        }
        self.attach_members(&mut then)?;
        // Who was in it then: a table that joined later was not; one back later still was.
        for incident in &mut then {
            incident.members.retain(|m| m.joined_at <= at);
            for m in &mut incident.members {
                m.left_at = m.left_at.filter(|l| *l <= at);
            }
        }
        Ok(then)
    }

    /// Time incidents resolved after `since` leave out of their tables' uptime (a false
    /// positive; an `expected` one where the product says so), one entry per incident and
    /// table, for one product or all, oldest first.
    pub fn excluded_incidents(&self, since: i64, product: Option<&str>) -> Result<Vec<Excluded>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incident
             WHERE resolution IN ('false-positive', 'expected') AND resolved_at > ?1
               AND (CAST(?2 AS TEXT) IS NULL OR id IN (SELECT incident FROM incident_member WHERE product = ?2))
             ORDER BY began_at, id"
        );
        let mut incidents = self.db().query(&sql, args![since, product], incident_row).in_store(self)?;
        self.attach_members(&mut incidents)?;
        let mut out = Vec::new();
        for incident in incidents {
            let mut tables: Vec<String> = incident.members.iter().map(|m| m.product.clone()).collect();
            tables.dedup();
            for table in tables.into_iter().filter(|t| product.is_none_or(|p| p == t)) {
                let exclude_expected: bool = self
                    .db()
                    .query_opt("SELECT exclude_expected FROM product WHERE id = ?1", args![&table], |r| r.get(0))
                    .in_store(self)?
                    .unwrap_or(false);
                if let Some(span) = incident.excluded_span(&table, exclude_expected) {
                    out.push(Excluded { incident: incident.clone(), product: table, span });
                }
            }
        }
        Ok(out)
    }

    /// Per product, the time its excluded incidents leave out of uptime since `since`.
    pub(super) fn left_out(&self, since: i64, product: Option<&str>) -> Result<HashMap<String, Vec<Span>>> {
        let mut left_out: HashMap<String, Vec<Span>> = HashMap::new();
        for excluded in self.excluded_incidents(since, product)? {
            left_out.entry(excluded.product).or_default().push(excluded.span);
        }
        Ok(left_out)
    }

    /// Incidents opened in `since..until`, oldest first, with their tables, without timelines.
    pub fn incidents_opened(&self, since: i64, until: i64) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incident WHERE opened_at >= ?1 AND opened_at < ?2 ORDER BY opened_at, id"
        );
        let mut incidents = self.db().query(&sql, args![since, until], incident_row).in_store(self)?;
        self.attach_members(&mut incidents)?;
        Ok(incidents)
    }

    /// One incident with its timeline, oldest update first.
    pub fn incident(&self, id: i64) -> Result<Incident> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incident WHERE id = ?1");
        let mut incident =
            self.db().query_opt(&sql, args![id], incident_row).in_store(self)?.ok_or_else(|| {
                StoreError::Refused(format!("no incident #{id}: `tablestat incident list` shows them"))
            })?;
        incident.updates = self
            .db()
            .query(
                "SELECT at, automatic, status, message, eta, author FROM incident_update WHERE incident = ?1 ORDER BY at, id",
                args![id],
                |r| {
                    let status: Option<String> = r.get(2)?;
                    Ok(IncidentUpdate {
                        at: r.get(0)?,
                        automatic: r.get(1)?,
                        status: status.as_deref().and_then(IncidentStatus::parse),
                        message: r.get(3)?,
                        eta: r.get(4)?,
                        author: r.get(5)?,
                    })
                },
            )
            .in_store(self)?;
        self.attach_members(std::slice::from_mut(&mut incident))?;
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
        self.write_in_transaction(|db| {
            db.execute(
                "UPDATE incident SET resolution = ?2, resolved_by = ?3, resolution_note = ?4 WHERE id = ?1",
                args![id, resolution.as_str(), author, message],
            )?;
            human_update(db, id, now, None, &said, None, author)?;
            incident_event(db, id, EventKind::IncidentUpdated, &said_by(&head, author, message), None, now)
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
        self.write_in_transaction(|db| {
            db.execute(
                "UPDATE incident SET acknowledged_at = ?2, acknowledged_by = ?3 WHERE id = ?1",
                args![id, now, author],
            )?;
            human_update(db, id, now, None, &said, None, author)?;
            incident_event(db, id, EventKind::IncidentUpdated, &said_by("acknowledged", author, message), None, now)
        })
    }

    /// Runs `write` in one transaction that also moves the generation readers follow.
    fn write_in_transaction(&mut self, write: impl FnOnce(&mut Db<'_>) -> DbResult<()>) -> Result<()> {
        self.db()
            .write(|db| {
                write(db)?;
                super::bump_generation(db)
            })
            .in_store(self)
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
        self.write_in_transaction(|db| {
            human_update(db, id, now, Some(status), message, eta, author)?;
            if resolved_at.is_some() {
                db.execute(
                    "UPDATE incident_member SET left_at = ?2 WHERE incident = ?1 AND left_at IS NULL",
                    args![id, now],
                )?;
            }
            db.execute(
                "UPDATE incident SET status = ?2, eta = coalesce(?3, eta), resolved_at = ?4,
                    resolution = ?5, resolved_by = ?6, resolution_note = ?7
                 WHERE id = ?1",
                args![
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
            incident_event(db, id, kind, &said_by(&head, author, message), None, now)
        })
    }

    /// Mean time to resolve of a product's resolved incidents, in seconds.
    pub fn mean_time_to_resolve(&self, product: &str) -> Result<Option<f64>> {
        self.db()
            .query_one(
                "SELECT CAST(avg(resolved_at - opened_at) AS DOUBLE PRECISION) FROM incident
                 WHERE id IN (SELECT incident FROM incident_member WHERE product = ?1) AND resolved_at IS NOT NULL",
                args![product],
                |r| r.get(0),
            )
            .in_store(self)
    }
}
