//! The event log and webhook deliveries (see [`crate::event`]).
//!
//! Events are inserted inside the transaction of the change they describe. Routing gives
//! each new event one delivery row per matching webhook; the deliverer takes due rows,
//! sends them, and records the outcome. Undelivered rows are what the board warns about.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::InStore;
use super::db::Db;
use super::{Result, Store};
use crate::event::{Event, EventKind, EventMaintenance, Routing};
use crate::timefmt::rfc3339_at;

/// Maintenance that started or ended longer ago than this is history, not news: a poller
/// started after a long stop does not announce old windows.
const MAINTENANCE_NEWS: i64 = 6 * 3600;

/// Writes an event; with `dedupe`, only the first event of that key is kept.
pub(super) fn record(conn: &Connection, event: &Event, at: i64, dedupe: Option<&str>) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(event).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.prepare_cached("INSERT OR IGNORE INTO event (at, kind, dedupe, payload) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![at, event.event.as_str(), dedupe, payload])?;
    Ok(())
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
        let path = self.path.clone();
        let wrap = |source| super::StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn_mut().transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(wrap)?;
        let routed = route_in(&tx, routes, now).map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        Ok(routed)
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
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT d.event, d.target, d.attempts, e.at, e.payload FROM delivery d JOIN event e ON e.id = d.event
                 WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL AND d.next_at <= ?1
                   AND (?4 IS NULL OR d.target = ?4)
                   AND (?4 IS NOT NULL OR d.target NOT IN (SELECT value FROM json_each(?3)))
                 ORDER BY d.event, d.target LIMIT ?2",
            )
            .in_store(self)?;
        let digests = serde_json::to_string(digests).unwrap_or_else(|_| "[]".into());
        let rows = stmt
            .query_map(params![now, limit as i64, digests, only], |r| {
                let payload: String = r.get(4)?;
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?, r.get(3)?, payload))
            })
            .in_store(self)?;
        let mut due = Vec::new();
        for row in rows {
            let (event_id, target, attempts, created_at, payload) = row.in_store(self)?;
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
        let path = self.path.clone();
        let wrap = |source| super::StoreError::Sqlite { path: path.clone(), source };
        let before = self.notify_health(now)?;
        let tx = self.conn_mut().transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(wrap)?;
        match outcome {
            DeliveryOutcome::Delivered => tx.execute("UPDATE delivery SET attempts = attempts + 1, delivered_at = ?3, last_error = NULL WHERE event = ?1 AND target = ?2", 
                params![event_id, target, now],
            ),
            DeliveryOutcome::RetryAt { at, error } => tx.execute("UPDATE delivery SET attempts = attempts + 1, next_at = ?3, last_error = ?4 WHERE event = ?1 AND target = ?2", 
                params![event_id, target, at, error],
            ),
            DeliveryOutcome::GaveUp { error } => tx.execute("UPDATE delivery SET attempts = attempts + 1, gave_up_at = ?3, last_error = ?4 WHERE event = ?1 AND target = ?2", 
                params![event_id, target, now, error],
            ),
        }
        .map_err(wrap)?;
        let after = notify_health_in(&tx, now).map_err(wrap)?;
        if after != before {
            super::bump_generation(&mut Db::Sqlite(&tx)).map_err(|e| wrap(e.into()))?;
        }
        tx.commit().map_err(wrap)
    }

    /// Failed deliveries still owed (being retried, or given up on in the last day).
    pub fn notify_health(&self, now: i64) -> Result<NotifyHealth> {
        notify_health_in(self.conn(), now).in_store(self)
    }

    /// Writes "maintenance started" and "maintenance ended" events for windows that began
    /// or finished recently (each once, whoever polls). Returns how many were new.
    pub fn maintenance_events(&mut self, now: i64) -> Result<usize> {
        let windows = self.maintenance_windows(now - MAINTENANCE_NEWS, false)?;
        let path = self.path.clone();
        let wrap = |source| super::StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn_mut().transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(wrap)?;
        let mut new = 0;
        for w in &windows {
            let at = rfc3339_at;
            let (product, group) = match &w.scope {
                super::Scope::All => (None, None),
                super::Scope::Group(g) => (None, Some(g.clone())),
                super::Scope::Product(id) => (product_ref(&tx, id).map_err(wrap)?, None),
            };
            for (kind, when) in [(EventKind::MaintenanceStarted, w.starts_at), (EventKind::MaintenanceEnded, w.ends_at)]
            {
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
                record(&tx, &event, when, Some(&format!("maintenance:{}:{}", w.id, kind.as_str()))).map_err(wrap)?;
                new += tx.changes() as usize;
            }
        }
        tx.commit().map_err(wrap)?;
        Ok(new)
    }

    /// Deletes events (and their deliveries) older than `before` that are settled.
    pub(super) fn prune_events(&mut self, before: i64) -> Result<usize> {
        self.conn()
            .execute(
                "DELETE FROM event WHERE at < ?1 AND id <= (SELECT value FROM meta WHERE key = 'events_routed')
                 AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.event = event.id AND d.delivered_at IS NULL AND d.gave_up_at IS NULL)",
                [before],
            )
            .in_store(self)
    }
}

fn route_in(tx: &Transaction<'_>, routes: &[Routing], now: i64) -> rusqlite::Result<usize> {
    let cursor: i64 =
        tx.prepare_cached("SELECT value FROM meta WHERE key = 'events_routed'")?.query_row([], |r| r.get(0))?;
    let mut stmt = tx.prepare_cached("SELECT id, payload FROM event WHERE id > ?1 ORDER BY id")?;
    let events: Vec<(i64, String)> =
        stmt.query_map([cursor], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO delivery (event, target, next_at) VALUES (?1, ?2, ?3)")?;
    let mut routed = 0;
    let mut last = cursor;
    for (id, payload) in events {
        last = id;
        let Ok(event) = serde_json::from_str::<Event>(&payload) else { continue };
        for routing in routes {
            if routing.route.matches(&event) {
                routed += insert.execute(params![id, routing.name, routing.send_at(now)])?;
            }
        }
    }
    tx.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'events_routed'")?.execute([last])?;
    Ok(routed)
}

fn notify_health_in(conn: &Connection, now: i64) -> rusqlite::Result<NotifyHealth> {
    let undelivered: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM delivery WHERE delivered_at IS NULL AND attempts > 0
           AND (gave_up_at IS NULL OR gave_up_at > ?1 - 86400)",
        )?
        .query_row([now], |r| r.get(0))?;
    let last_failure = conn
        .query_row(
            "SELECT target, last_error FROM delivery WHERE delivered_at IS NULL AND attempts > 0 AND last_error IS NOT NULL
               AND (gave_up_at IS NULL OR gave_up_at > ?1 - 86400)
             ORDER BY event DESC LIMIT 1",
            [now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(NotifyHealth { undelivered: undelivered as usize, last_failure: last_failure.filter(|_| undelivered > 0) })
}

/// The product as events name it, if it exists.
pub(super) fn product_ref(conn: &Connection, id: &str) -> rusqlite::Result<Option<crate::event::EventProduct>> {
    conn.prepare_cached("SELECT id, name, grp, owner FROM product WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(crate::event::EventProduct { id: r.get(0)?, name: r.get(1)?, group: r.get(2)?, owner: r.get(3)? })
        })
        .optional()
}
