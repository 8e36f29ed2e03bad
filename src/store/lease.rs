//! One poller per database: a row with holder, pid, host and heartbeat. The first process
//! takes it and polls; the others follow, and take over when the heartbeat goes stale.

use super::db::{Db, DbResult, Row, args};
use super::{InStore, Result, Store};

/// A lease not renewed for this long is free to take.
pub const LEASE_TTL: i64 = crate::evaluate::shown::HEARTBEAT_TTL;

/// The holder of a lease given up on a clean exit. The row stays, so that readers can still
/// say who polled last and when ("no poller is running (last heartbeat 06:05 on jump-1)").
pub(super) const RELEASED: &str = "";

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

fn lease_row(r: &Row) -> DbResult<Lease> {
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

/// Takes the lease if it is free, stale, already ours, or its holder on this host has died;
/// renews it if ours. One writing transaction: two takers never both read it free.
pub fn acquire(db: &mut Db<'_>, holder: &str, pid: i64, host: &str, now: i64) -> DbResult<LeaseOutcome> {
    db.write(|db| {
        let current = db.query_opt(LEASE_QUERY, &[], lease_row)?;
        Ok(match current {
            Some(lease)
                if lease.holder != holder
                    && lease.holder != RELEASED
                    && now - lease.heartbeat <= LEASE_TTL
                    && !holder_gone(&lease, host) =>
            {
                LeaseOutcome::Taken(lease)
            }
            Some(lease) if lease.holder == holder && holder != RELEASED => {
                db.execute("UPDATE lease SET heartbeat = ?1 WHERE id = 1", args![now])?;
                LeaseOutcome::Held
            }
            _ => {
                db.execute(
                    "INSERT INTO lease (id, holder, pid, host, acquired_at, heartbeat) VALUES (1, ?1, ?2, ?3, ?4, ?4)
                     ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host,
                        acquired_at = excluded.acquired_at, heartbeat = excluded.heartbeat",
                    args![holder, pid, host, now],
                )?;
                LeaseOutcome::Held
            }
        })
    })
}

/// Gives the lease up (on a clean exit), if it is ours.
pub fn release(db: &mut Db<'_>, holder: &str) -> DbResult<()> {
    db.execute("UPDATE lease SET holder = ?2 WHERE id = 1 AND holder = ?1", args![holder, RELEASED]).map(|_| ())
}

/// The lease row, held or given up.
pub fn read(db: &mut Db<'_>) -> DbResult<Option<Lease>> {
    db.query_opt(LEASE_QUERY, &[], lease_row)
}

impl Store {
    /// See [`acquire`].
    pub fn acquire_lease(&mut self, holder: &str, pid: i64, host: &str, now: i64) -> Result<LeaseOutcome> {
        acquire(&mut self.db(), holder, pid, host, now).in_store(self)
    }

    /// See [`release`].
    pub fn release_lease(&mut self, holder: &str) -> Result<()> {
        release(&mut self.db(), holder).in_store(self)
    }

    /// Folds SQLite's write-ahead log into the database and empties it (when no reader is
    /// in the way): the writer leaving does it so that the next process opens a compact file
    /// instead of reading through megabytes of log. PostgreSQL checkpoints by itself.
    pub fn checkpoint(&mut self) -> Result<()> {
        match self.db() {
            super::db::Db::Sqlite(conn) => {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).in_store(self)
            }
            super::db::Db::Postgres(_) => Ok(()),
        }
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
        read(&mut self.db()).in_store(self)
    }
}
