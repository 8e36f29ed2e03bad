//! One poller per database: a row with holder, pid, host and heartbeat. The first process
//! takes it and polls; the others follow, and take over when the heartbeat goes stale.

use rusqlite::{OptionalExtension, params};

use super::InStore;
use super::{Result, Store};

/// A lease not renewed for this long is free to take.
pub const LEASE_TTL: i64 = crate::evaluate::shown::HEARTBEAT_TTL;

/// The holder of a lease given up on a clean exit. The row stays, so that readers can still
/// say who polled last and when ("no poller is running (last heartbeat 06:05 on jump-1)").
const RELEASED: &str = "";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub pid: i64,
    pub host: String,
    pub acquired_at: i64,
    pub heartbeat: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// We hold it now.
    Held,
    /// Someone else holds a live lease.
    Taken(Lease),
}

const LEASE_QUERY: &str = "SELECT holder, pid, host, acquired_at, heartbeat FROM lease WHERE id = 1";

fn lease_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lease> {
    Ok(Lease { holder: r.get(0)?, pid: r.get(1)?, host: r.get(2)?, acquired_at: r.get(3)?, heartbeat: r.get(4)? })
}

/// A holder on this host whose process has ended (killed, crashed) holds nothing: its
/// lease is taken at once rather than after [`LEASE_TTL`], so a poller restarted after
/// `kill -9` polls again at once. A holder elsewhere is judged by its heartbeat alone.
fn holder_gone(lease: &Lease, host: &str) -> bool {
    lease.host == host && !process_alive(lease.pid)
}

/// Whether a process runs (a zombie, killed and not yet reaped, does not).
#[cfg(target_os = "linux")]
fn process_alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `pid (comm) S ...`: the state follows the last `)`.
        Ok(stat) => stat.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Elsewhere the heartbeat alone decides.
#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: i64) -> bool {
    true
}

impl Store {
    /// Takes the lease if it is free, stale, already ours, or its holder on this host has
    /// died; renews it if ours.
    pub fn acquire_lease(&mut self, holder: &str, pid: i64, host: &str, now: i64) -> Result<LeaseOutcome> {
        let path = self.path.clone();
        let wrap = |source| super::StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(wrap)?;
        let current = tx.query_row(LEASE_QUERY, [], lease_row).optional().map_err(wrap)?;
        let outcome = match current {
            Some(lease)
                if lease.holder != holder
                    && lease.holder != RELEASED
                    && now - lease.heartbeat <= LEASE_TTL
                    && !holder_gone(&lease, host) =>
            {
                LeaseOutcome::Taken(lease)
            }
            Some(lease) if lease.holder == holder && holder != RELEASED => {
                tx.execute("UPDATE lease SET heartbeat = ?1 WHERE id = 1", [now]).map_err(wrap)?;
                LeaseOutcome::Held
            }
            _ => {
                tx.execute(
                    "INSERT INTO lease (id, holder, pid, host, acquired_at, heartbeat) VALUES (1, ?1, ?2, ?3, ?4, ?4)
                     ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host,
                        acquired_at = excluded.acquired_at, heartbeat = excluded.heartbeat",
                    params![holder, pid, host, now],
                )
                .map_err(wrap)?;
                LeaseOutcome::Held
            }
        };
        tx.commit().map_err(wrap)?;
        Ok(outcome)
    }

    /// Gives the lease up (on a clean exit), if it is ours.
    pub fn release_lease(&mut self, holder: &str) -> Result<()> {
        self.conn
            .execute("UPDATE lease SET holder = ?2 WHERE id = 1 AND holder = ?1", [holder, RELEASED])
            .map(|_| ())
            .in_store(self)
    }

    /// Folds the write-ahead log into the database and empties it (when no reader is in
    /// the way): the writer leaving does it so that the next process opens a compact file
    /// instead of reading through megabytes of log.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).in_store(self)
    }

    /// The lease, unless it was given up.
    pub fn lease(&self) -> Result<Option<Lease>> {
        Ok(self.lease_row()?.filter(|lease| lease.holder != RELEASED))
    }

    /// The last poller this database saw, held or given up.
    pub fn poller_seen(&self) -> Result<Option<crate::evaluate::shown::PollerSeen>> {
        Ok(self.lease_row()?.map(|lease| crate::evaluate::shown::PollerSeen {
            pid: lease.pid,
            host: lease.host,
            heartbeat: lease.heartbeat,
            released: lease.holder == RELEASED,
        }))
    }

    fn lease_row(&self) -> Result<Option<Lease>> {
        self.conn.query_row(LEASE_QUERY, [], lease_row).optional().in_store(self)
    }
}
