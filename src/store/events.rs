//! The event log and webhook deliveries (see [`crate::event`]).
//!
//! Events are inserted inside the transaction of the change they describe. Routing gives
//! each new event one delivery row per matching webhook; the deliverer takes due rows,
//! sends them, and records the outcome. Undelivered rows are what the board warns about.

use super::db::{Db, DbError, DbResult, Value, args};
use super::{InStore, Result, Store};
use crate::event::{Event, EventKind, EventMaintenance, Routing};
use crate::timefmt::rfc3339_at;

/// Maintenance that started or ended longer ago than this is history, not news: a poller
/// started after a long stop does not announce old windows.
const MAINTENANCE_NEWS: i64 = 6 * 3600;

/// Writes an event; with `dedupe`, only the first event of that key is kept.
/// Returns whether it was written (false: a duplicate).
pub(super) fn record(db: &mut Db<'_>, event: &Event, at: i64, dedupe: Option<&str>) -> DbResult<bool> {
    Ok(insert(db, &[row(event, at, dedupe)?])? > 0)
}

/// An event as its row is written: (at, kind, dedupe, payload).
pub(super) fn row(event: &Event, at: i64, dedupe: Option<&str>) -> DbResult<[Value; 4]> {
    let payload = serde_json::to_string(event).map_err(|e| DbError::Type { column: 3, detail: e.to_string() })?;
    Ok([Value::Int(at), Value::from(event.event.as_str()), Value::from(dedupe), Value::Text(payload)])
}

/// Writes event rows in order, many a statement; a dedupe key already written keeps its
/// first event. The rows written.
pub(super) fn insert(db: &mut Db<'_>, rows: &[[Value; 4]]) -> DbResult<u64> {
    let mut written = 0;
    for chunk in super::db::chunks(db, rows) {
        let sql = format!(
            "INSERT INTO event (at, kind, dedupe, payload) VALUES {} ON CONFLICT DO NOTHING",
            super::db::values(chunk.len(), 4, false)
        );
        written += db.execute(&sql, &chunk.concat())?;
    }
    Ok(written)
}

/// A delivery the deliverer should attempt now.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub event_id: i64,
    pub target: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When the event was written.
    pub created_at: i64,
    pub event: Event,
}

/// How an attempt went, and what to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Delivered,
    RetryAt { at: i64, error: String },
    GaveUp { error: String },
}

/// Deliveries that have failed and are not delivered yet, for the board's header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyHealth {
    pub undelivered: usize,
    /// The most recent failure: (webhook, error).
    pub last_failure: Option<(String, String)>,
}

impl Store {
    /// Gives each event not yet routed a delivery row per matching webhook, due at once or,
    /// for a digest, at the end of its period.
    pub fn route_events(&mut self, routes: &[Routing], now: i64) -> Result<usize> {
        self.db().write(|db| route_in(db, routes, now)).in_store(self)
    }

    /// Deliveries whose time has come, oldest first: of every webhook but `digests` (or,
    /// with `only`, of that webhook alone: a digest's events, sent as one message).
    pub fn due_deliveries(
        &self,
        now: i64,
        limit: usize,
        digests: &[String],
        only: Option<&str>,
    ) -> Result<Vec<DueDelivery>> {
        // Which webhooks: the one asked for, or every one but the digests (a placeholder each).
        let mut values: Vec<Value> = vec![now.into(), (limit as i64).into()];
        let which = match only {
            Some(name) => {
                values.push(name.into());
                "d.target = ?3".to_string()
            }
            None if digests.is_empty() => "1 = 1".to_string(),
            None => {
                let places: Vec<String> = (3..3 + digests.len()).map(|i| format!("?{i}")).collect();
                values.extend(digests.iter().map(Value::from));
                format!("d.target NOT IN ({})", places.join(", "))
            }
        };
        let rows = self
            .db()
            .query(
                &format!(
                    "SELECT d.event, d.target, d.attempts, e.at, e.payload FROM delivery d JOIN event e ON e.id = d.event
                     WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL AND d.next_at <= ?1 AND {which}
                     ORDER BY d.event, d.target LIMIT ?2"
                ),
                &values,
                |r| Ok((r.get(0)?, r.get::<String>(1)?, r.get::<i64>(2)?, r.get(3)?, r.get::<String>(4)?)),
            )
            .in_store(self)?;
        let mut due = Vec::new();
        for (event_id, target, attempts, created_at, payload) in rows {
            // An event this version cannot read is skipped, not a reason to stop notifying.
            if let Ok(event) = serde_json::from_str(&payload) {
                due.push(DueDelivery { event_id, target, attempts: attempts.max(0) as u32, created_at, event });
            }
        }
        Ok(due)
    }

    /// Records an attempt. A first failure or a recovery moves the generation, so boards
    /// show the warning (and drop it) without waiting for a poll.
    pub fn finish_delivery(&mut self, event_id: i64, target: &str, outcome: &DeliveryOutcome, now: i64) -> Result<()> {
        let before = self.notify_health(now)?;
        let (sql, values) = match outcome {
            DeliveryOutcome::Delivered => (
                "UPDATE delivery SET attempts = attempts + 1, delivered_at = ?3, last_error = NULL WHERE event = ?1 AND target = ?2",
                args![event_id, target, now],
            ),
            DeliveryOutcome::RetryAt { at, error } => (
                "UPDATE delivery SET attempts = attempts + 1, next_at = ?3, last_error = ?4 WHERE event = ?1 AND target = ?2",
                args![event_id, target, *at, error],
            ),
            DeliveryOutcome::GaveUp { error } => (
                "UPDATE delivery SET attempts = attempts + 1, gave_up_at = ?3, last_error = ?4 WHERE event = ?1 AND target = ?2",
                args![event_id, target, now, error],
            ),
        };
        self.db()
            .write(|db| {
                db.execute(sql, values)?;
                if notify_health_in(db, now)? != before {
                    super::bump_generation(db)?;
                }
                Ok(())
            })
            .in_store(self)
    }

    /// Failed deliveries still owed (being retried, or given up on in the last day).
    pub fn notify_health(&self, now: i64) -> Result<NotifyHealth> {
        notify_health_in(&mut self.db(), now).in_store(self)
    }

    /// Writes "maintenance started" and "maintenance ended" events for windows that began
    /// or finished recently (each once, whoever polls). Returns how many were new.
    pub fn maintenance_events(&mut self, now: i64) -> Result<usize> {
        let windows = self.maintenance_windows(now - MAINTENANCE_NEWS, false)?;
        self.db().write(|db| maintenance_events_in(db, &windows, now)).in_store(self)
    }

    /// Deletes events (and their deliveries) older than `before` that are settled.
    pub(super) fn prune_events(&mut self, before: i64) -> Result<usize> {
        let deleted = self.db().execute(
            "DELETE FROM event WHERE at < ?1 AND id <= (SELECT value FROM meta WHERE key = 'events_routed')
             AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.event = event.id AND d.delivered_at IS NULL AND d.gave_up_at IS NULL)",
            args![before],
        );
        Ok(deleted.in_store(self)? as usize)
    }
}

fn maintenance_events_in(db: &mut Db<'_>, windows: &[super::MaintenanceWindow], now: i64) -> DbResult<usize> {
    let mut new = 0;
    for w in windows {
        let at = rfc3339_at;
        let (product, group) = match &w.scope {
            super::Scope::All => (None, None),
            super::Scope::Group(g) => (None, Some(g.clone())),
            super::Scope::Product(id) => (product_ref(db, id)?, None),
        };
        for (kind, when) in [(EventKind::MaintenanceStarted, w.starts_at), (EventKind::MaintenanceEnded, w.ends_at)] {
            if when > now || when <= now - MAINTENANCE_NEWS {
                continue;
            }
            let event = Event {
                event: kind,
                at: at(when),
                product: product.clone(),
                affected: Vec::new(),
                group: group.clone(),
                state: None,
                incident: None,
                maintenance: Some(EventMaintenance {
                    id: w.id,
                    scope: w.scope.to_string(),
                    starts_at: at(w.starts_at),
                    ends_at: at(w.ends_at),
                }),
                message: w.message.clone(),
                link: None,
            };
            let key = format!("maintenance:{}:{}", w.id, kind.as_str());
            new += usize::from(record(db, &event, when, Some(&key))?);
        }
    }
    Ok(new)
}

fn route_in(db: &mut Db<'_>, routes: &[Routing], now: i64) -> DbResult<usize> {
    let cursor =
        db.query_opt("SELECT value FROM meta WHERE key = 'events_routed'", &[], |r| r.get::<i64>(0))?.unwrap_or(0);
    let events: Vec<(i64, String)> =
        db.query("SELECT id, payload FROM event WHERE id > ?1 ORDER BY id", args![cursor], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let mut routed = 0;
    let mut last = cursor;
    for (id, payload) in events {
        last = id;
        let Ok(event) = serde_json::from_str::<Event>(&payload) else { continue };
        for routing in routes {
            if routing.route.matches(&event) {
                routed += db.execute(
                    "INSERT INTO delivery (event, target, next_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    args![id, &routing.name, routing.send_at(now)],
                )? as usize;
            }
        }
    }
    db.execute("UPDATE meta SET value = ?1 WHERE key = 'events_routed'", args![last])?;
    Ok(routed)
}

fn notify_health_in(db: &mut Db<'_>, now: i64) -> DbResult<NotifyHealth> {
    let undelivered = db.query_opt(
        "SELECT count(*) FROM delivery WHERE delivered_at IS NULL AND attempts > 0
         AND (gave_up_at IS NULL OR gave_up_at > ?1 - 86400)",
        args![now],
        |r| r.get::<i64>(0),
    )?;
    let undelivered = undelivered.unwrap_or(0);
    let last_failure = db.query_opt(
        "SELECT target, last_error FROM delivery WHERE delivered_at IS NULL AND attempts > 0 AND last_error IS NOT NULL
           AND (gave_up_at IS NULL OR gave_up_at > ?1 - 86400)
         ORDER BY event DESC LIMIT 1",
        args![now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(NotifyHealth { undelivered: undelivered as usize, last_failure: last_failure.filter(|_| undelivered > 0) })
}

/// The product as events name it, if it exists.
pub(super) fn product_ref(db: &mut Db<'_>, id: &str) -> DbResult<Option<crate::event::EventProduct>> {
    db.query_opt("SELECT id, name, grp, owner FROM product WHERE id = ?1", args![id], |r| {
        Ok(crate::event::EventProduct { id: r.get(0)?, name: r.get(1)?, group: r.get(2)?, owner: r.get(3)? })
    })
}
