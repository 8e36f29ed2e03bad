//! The poller service: holds the lease, polls each product when it is due (its DAG's
//! schedule), writes each poll in one transaction, and hands over cleanly on shutdown.
//! Processes that find the lease taken follow the holder and take over if it goes stale.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use super::engine::{Engine, PollResult};
use crate::export::{Page, Site};
use crate::model::Product;
use crate::notify::deliver::Deliverer;
use crate::store::worker::StoreHandle;
use crate::store::{Lease, LeaseOutcome, PollRecord, StoreError};

/// How often the lease is renewed (well inside its TTL) and a follower checks it.
const TICK: Duration = Duration::from_secs(10);
/// Coverage heartbeat while nothing is due.
const HEARTBEAT: i64 = 60;
/// Poll records are pruned this often.
const PRUNE_EVERY: i64 = 3600;
/// Writes that fail in a row before the poller gives up (a full disk, a read-only file): a
/// service then exits non-zero, so that systemd restarts it or alerts.
pub const MAX_FAILED_WRITES: u32 = 5;

/// What the poller is doing, for the board's header.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Role {
    #[default]
    Starting,
    Polling,
    /// Another process holds the lease.
    Following(Lease),
}

#[derive(Debug, Clone, Default)]
pub struct PollerStatus {
    pub role: Role,
    /// Bumped after every write, so followers of this value reload.
    pub generation: u64,
    pub last_poll: Option<DateTime<Utc>>,
    /// Why the last poll could not read a source, or the store failed.
    pub last_error: Option<String>,
    /// Why the last poll could not be written, while writes fail: every reader of the file
    /// would otherwise see the last poll that worked as if it were the latest.
    pub write_error: Option<String>,
    pub polling_now: bool,
    /// How long the last poll took, reading and writing.
    pub last_poll_seconds: Option<f64>,
    /// What each source said at the last poll, with its requests and the kind of failure.
    pub sources: Vec<crate::facts::SourceHealth>,
    /// Polls made by this process: a counter for `/metrics`.
    pub polls: u64,
    /// Source reads that failed in this process's polls, by (source, kind of failure).
    pub source_errors: std::collections::BTreeMap<(String, &'static str), u64>,
}

/// How the outside talks to a running poller.
#[derive(Clone)]
pub struct Control {
    pub shutdown: watch::Receiver<bool>,
    pub poll_now: Arc<Notify>,
    pub status: watch::Sender<PollerStatus>,
}

/// Who we are in the lease row.
#[derive(Debug, Clone)]
pub struct Identity {
    pub holder: String,
    pub pid: i64,
    pub host: String,
}

impl Identity {
    /// This process on this host: the host as `TABLESTAT_HOST_ID` names it (two pollers
    /// in containers that share a hostname, say), else the machine's hostname.
    pub fn of_this_process() -> Identity {
        let host = std::env::var("TABLESTAT_HOST_ID")
            .ok()
            .filter(|id| !id.trim().is_empty())
            .map(|id| id.trim().to_string())
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        let pid = std::process::id() as i64;
        Identity { holder: format!("{host}:{pid}:{:08x}", fastrand::u32(..)), pid, host }
    }
}

/// Failures that end the poller (the store is unusable); source failures never do.
#[derive(Debug, thiserror::Error)]
pub enum PollerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Gone(#[from] crate::store::worker::StoreGone),
    #[error(
        "another tablestat is polling this database (pid {pid} on {host}, since {since}): let it poll, or stop it first"
    )]
    LeaseTaken { pid: i64, host: String, since: String },
}

/// Writes one poll's result, finished at `finished`, in one transaction; with a `holder`,
/// only if the lease is still theirs.
pub async fn record(
    store: &StoreHandle,
    result: PollResult,
    engine: &Engine,
    finished: DateTime<Utc>,
    holder: Option<String>,
) -> Result<(), PollerError> {
    let finished = finished.timestamp().max(result.started_at.timestamp());
    let products = engine.products();
    let open_incident_after = engine.config().open_incident_after;
    let config = engine.config().clone();
    store
        .call(move |s| {
            s.record_poll(&PollRecord {
                started: result.started_at.timestamp(),
                finished,
                error: result.airflow_error.as_deref(),
                airflow_requests: result.airflow_requests,
                dbt_requests: result.dbt_requests,
                checked: &result.checked,
                products: &products,
                open_incident_after,
                critical_maturities: &config.critical_maturities,
                sources: &result.sources,
                holder: holder.as_deref(),
            })
        })
        .await??;
    Ok(())
}

/// One poll of everything, holding the lease for its duration (`poll --once`).
pub async fn poll_once(engine: &mut Engine, store: &StoreHandle, me: &Identity) -> Result<PollResult, PollerError> {
    let now = Utc::now();
    let (holder, pid, host) = (me.holder.clone(), me.pid, me.host.clone());
    match store.call(move |s| s.acquire_lease(&holder, pid, &host, now.timestamp())).await?? {
        LeaseOutcome::Held => {}
        LeaseOutcome::Taken(lease) => {
            return Err(PollerError::LeaseTaken {
                pid: lease.pid,
                host: lease.host,
                since: crate::timefmt::stamp_at(lease.acquired_at),
            });
        }
    }
    let outcome = async {
        let products = engine.products();
        let listed = products.clone();
        let prior = store.call(move |s| s.prior(&listed, now.timestamp())).await??;
        let result = engine.poll(&prior, now).await;
        record(store, result.clone(), engine, Utc::now(), Some(me.holder.clone())).await?;
        if let Some(export) = &engine.config().export {
            refresh_page(store, export).await;
        }
        Ok::<_, PollerError>(result)
    }
    .await;
    let holder = me.holder.clone();
    store.call(move |s| s.release_lease(&holder)).await??;
    outcome
}

/// Polls until shut down. Returns when `control.shutdown` turns true, releasing the lease.
/// Beside the polls: webhooks are delivered (by a task of their own, while we hold the
/// lease), maintenance events written, and the status page refreshed after each poll.
pub async fn serve(engine: Engine, store: StoreHandle, me: Identity, control: Control) -> Result<(), PollerError> {
    let config = engine.config().clone();
    let (holding_tx, holding) = watch::channel(false);
    let wake = Arc::new(Notify::new());
    let deliverer =
        Deliverer::new(config.notify.clone(), config.base_dir(), config.export.as_ref().and_then(|e| e.url.clone()));
    let delivering = (!deliverer.is_empty())
        .then(|| tokio::spawn(deliverer.run(store.clone(), holding, wake.clone(), control.shutdown.clone())));
    let outcome = poll_loop(engine, &store, &me, control, &holding_tx, &wake).await;
    let _ = holding_tx.send(false);
    if let Some(task) = delivering {
        task.abort();
    }
    let holder = me.holder.clone();
    let _ = store
        .call(move |s| {
            s.release_lease(&holder)?;
            s.checkpoint()
        })
        .await;
    outcome
}

async fn poll_loop(
    mut engine: Engine,
    store: &StoreHandle,
    me: &Identity,
    mut control: Control,
    holding: &watch::Sender<bool>,
    wake: &Notify,
) -> Result<(), PollerError> {
    let config = engine.config().clone();
    let mut next_due: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut last_heartbeat = 0i64;
    let mut last_prune = 0i64;
    let mut first = true;
    let mut failed_writes = 0u32;
    loop {
        if *control.shutdown.borrow() {
            break Ok(());
        }
        let now = Utc::now();
        let (holder, pid, host) = (me.holder.clone(), me.pid, me.host.clone());
        let lease = match store.call(move |s| s.acquire_lease(&holder, pid, &host, now.timestamp())).await {
            Ok(lease) => lease,
            Err(gone) => break Err(gone.into()),
        };
        match lease {
            Ok(LeaseOutcome::Held) => {
                set_role(&control, Role::Polling);
                holding.send_if_modified(|h| !std::mem::replace(h, true));
            }
            Ok(LeaseOutcome::Taken(lease)) => {
                // Looks again the second the holder's heartbeat goes stale (or at the next
                // tick, whichever is first): a poller that died is replaced within the TTL
                // and a second, not the TTL and a tick.
                let stale_in = lease.heartbeat + crate::store::lease::LEASE_TTL + 1 - now.timestamp();
                let look_again = Duration::from_secs(stale_in.clamp(1, TICK.as_secs() as i64) as u64);
                set_role(&control, Role::Following(lease));
                holding.send_if_modified(|h| std::mem::replace(h, false));
                if wait(&mut control, look_again).await {
                    break Ok(());
                }
                continue;
            }
            Err(e) => {
                tracing::error!("history database: {e}");
                control.status.send_modify(|s| s.last_error = Some(e.to_string()));
                if wait(&mut control, TICK).await {
                    break Ok(());
                }
                continue;
            }
        }

        let requested = store.call(|s| s.take_poll_requests()).await.ok().and_then(Result::ok).unwrap_or(false);
        let due = |p: &Product| requested || first || next_due.get(&p.id).is_none_or(|t| *t <= now);
        let products = engine.products();
        if first || requested || products.iter().any(|p| due(p)) {
            control.status.send_modify(|s| s.polling_now = true);
            let listed = products.clone();
            let prior = match store.call(move |s| s.prior(&listed, now.timestamp())).await {
                Ok(Ok(prior)) => prior,
                Ok(Err(e)) => break Err(e.into()),
                Err(gone) => break Err(gone.into()),
            };
            let mut shutdown = control.shutdown.clone();
            let deadline = config.poll.deadline;
            let started = std::time::Instant::now();
            // The lease is renewed while the poll runs: a slow poll must not let another
            // poller take over and then be written after its newer polls.
            let result = tokio::select! {
                result = tokio::time::timeout(deadline, engine.poll_due(&prior, now, &due)) => match result {
                    Ok(result) => result,
                    Err(_) => {
                        let reason = format!(
                            "the poll did not finish within {} (`[poll] deadline`); the next poll starts afresh",
                            humantime::format_duration(deadline)
                        );
                        tracing::warn!("{reason}");
                        engine.blind(&prior, now, &due, &reason)
                    }
                },
                lease = keep_lease(store, me) => {
                    tracing::warn!("lease lost during a poll: its result is dropped");
                    set_role(&control, Role::Following(lease));
                    holding.send_if_modified(|h| std::mem::replace(h, false));
                    control.status.send_modify(|s| s.polling_now = false);
                    continue;
                }
                _ = shutdown.wait_for(|stop| *stop) => break Ok(()),
            };
            for c in &result.checked {
                let interval = chrono::Duration::from_std(c.interval).unwrap_or(chrono::Duration::minutes(5));
                next_due.insert(c.product.id.clone(), c.checked_at + interval);
            }
            let error = result.airflow_error.clone();
            let sources = result.sources.clone();
            tracing::info!(
                products = result.checked.len(),
                airflow_requests = result.airflow_requests,
                dbt_requests = result.dbt_requests,
                error = error.as_deref().unwrap_or(""),
                "poll"
            );
            let write = record(store, result, &engine, Utc::now(), Some(me.holder.clone())).await;
            // New incident events go out now, not at the deliverer's next round.
            wake.notify_one();
            if write.is_ok() {
                if let Some(export) = &config.export {
                    refresh_page(store, export).await;
                }
            }
            first = false;
            last_heartbeat = now.timestamp();
            control.status.send_modify(|s| {
                s.polling_now = false;
                s.generation += 1;
                s.last_poll = Some(now);
                s.last_error = match &write {
                    Err(e) => Some(e.to_string()),
                    Ok(()) => error.clone(),
                };
                s.write_error = write.as_ref().err().map(ToString::to_string);
                s.last_poll_seconds = Some(started.elapsed().as_secs_f64());
                s.polls += 1;
                for source in &sources {
                    if let Some(kind) = source.error_kind {
                        *s.source_errors.entry((source.name.clone(), kind)).or_default() += 1;
                    }
                }
                s.sources = sources;
            });
            match write {
                Ok(()) => failed_writes = 0,
                Err(PollerError::Gone(gone)) => break Err(gone.into()),
                Err(PollerError::Store(StoreError::LeaseLost { .. })) => {
                    tracing::warn!("lease lost during a poll: its result is dropped");
                }
                Err(e) => {
                    failed_writes += 1;
                    tracing::error!(failed_writes, "the poll could not be written: {e}");
                    if failed_writes >= MAX_FAILED_WRITES {
                        break Err(e);
                    }
                }
            }
        } else if now.timestamp() - last_heartbeat >= HEARTBEAT
            && store.call(move |s| s.heartbeat(now.timestamp())).await.is_ok()
        {
            last_heartbeat = now.timestamp();
        }
        let at = now.timestamp();
        if let Ok(Ok(new)) = store.call(move |s| s.maintenance_events(at)).await {
            if new > 0 {
                wake.notify_one();
            }
        }
        if now.timestamp() - last_prune >= PRUNE_EVERY {
            let before = now.timestamp() - config.poll.retention.as_secs() as i64;
            let _ = store.call(move |s| s.prune_polls(before)).await;
            last_prune = now.timestamp();
        }

        let soonest = next_due.values().min().copied();
        let sleep = soonest.map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO)).unwrap_or(TICK).min(TICK);
        if wait(&mut control, sleep).await {
            break Ok(());
        }
    }
}

/// Renews the lease every [`TICK`] until another process holds it; returns who does.
async fn keep_lease(store: &StoreHandle, me: &Identity) -> Lease {
    let mut ticker = tokio::time::interval(TICK);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let (holder, pid, host) = (me.holder.clone(), me.pid, me.host.clone());
        let now = Utc::now().timestamp();
        if let Ok(Ok(LeaseOutcome::Taken(lease))) = store.call(move |s| s.acquire_lease(&holder, pid, &host, now)).await
        {
            return lease;
        }
    }
}

/// Rewrites the static status page; a failure is logged, never a reason to stop polling.
pub async fn refresh_page(store: &StoreHandle, export: &crate::config::ExportConfig) {
    let now = Utc::now().timestamp();
    let zone = crate::timefmt::display_zone();
    // Every product is registered by the poll just written.
    let page = match store.call(move |s| Page::gather(s, now, zone, &[])).await {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => {
            tracing::warn!("status page not refreshed: {e}");
            return;
        }
        Err(_) => return,
    };
    let dir = export.dir.clone();
    let site = Site { title: export.title.clone(), url: export.url.clone() };
    match tokio::task::spawn_blocking(move || crate::export::write(&dir, &page, &site)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!("status page not written to {}: {e}", export.dir.display()),
        Err(e) => tracing::warn!("status page not written: {e}"),
    }
}

/// Tells the board about a new role, but not about each lease heartbeat: an idle board
/// must not wake up (and redraw) every ten seconds.
fn set_role(control: &Control, role: Role) {
    control.status.send_if_modified(|s| {
        let same = match (&s.role, &role) {
            (Role::Following(a), Role::Following(b)) => a.holder == b.holder,
            (a, b) => a == b,
        };
        if !same {
            s.role = role;
        }
        !same
    });
}

/// Sleeps for `duration`, waking early for "poll now". True when shutting down.
async fn wait(control: &mut Control, duration: Duration) -> bool {
    let poll_now = control.poll_now.clone();
    tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = poll_now.notified() => false,
        _ = control.shutdown.wait_for(|stop| *stop) => true,
    }
}
