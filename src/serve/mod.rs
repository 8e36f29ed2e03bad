//! What `tablestat poll` answers over HTTP when `[serve] listen` is set: `/metrics` for
//! Prometheus (see [`openmetrics`]) and `/healthz` for whoever checks that this poller is
//! the one polling and that its last poll worked (a load balancer, a monitoring probe).
//!
//! Handlers do no I/O: they read the latest snapshot and the poller's status from watch
//! channels, which the poll service and [`follow`] keep current.

pub mod openmetrics;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::poller::service::{PollerStatus, Role};
use crate::store::worker::StoreHandle;
use crate::store::{BoardSnapshot, Depth};
use openmetrics::SourceNames;

/// A follower's snapshot is read again this often (it hears of no polls of its own).
const FOLLOW_EVERY: Duration = Duration::from_secs(15);

/// What the handlers read.
#[derive(Clone)]
pub struct Served {
    snapshot: watch::Receiver<Option<Arc<BoardSnapshot>>>,
    status: watch::Receiver<PollerStatus>,
    source_of: Arc<SourceNames>,
}

/// Binds `addr`, or says why not in words that name the setting.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => ": another process listens there; pick another port",
            std::io::ErrorKind::PermissionDenied => ": ports below 1024 need privileges; pick a port above 1024",
            _ => "",
        };
        format!("cannot listen on {addr} ([serve] listen): {e}{hint}")
    })
}

/// Serves `/metrics` and `/healthz` on `listener` until `shutdown` turns true, keeping the
/// snapshot behind `/metrics` current: read again after each poll this process writes
/// (`status` moves) and every [`FOLLOW_EVERY`].
pub fn spawn(
    listener: TcpListener,
    config: &Config,
    store: StoreHandle,
    status: watch::Receiver<PollerStatus>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let (snapshot_tx, snapshot) = watch::channel(None);
    let served = Served { snapshot, status: status.clone(), source_of: Arc::new(sources_of(config)) };
    let named = Arc::new(config.products.clone());
    let follow_shutdown = shutdown.clone();
    tokio::spawn(follow(store, named, status, snapshot_tx, follow_shutdown));
    let router = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(healthz))
        .with_state(served);
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
            tracing::error!("the metrics server stopped: {e}");
        }
    })
}

/// Each product's Airflow by name, for the `source` label.
fn sources_of(config: &Config) -> SourceNames {
    SourceNames {
        by_product: config
            .products
            .iter()
            .filter_map(|p| Some((p.id.clone(), config.airflow_of(p)?.name.clone())))
            .collect(),
        only: match config.airflow.as_slice() {
            [only] => Some(only.name.clone()),
            _ => None,
        },
    }
}

/// Reads the snapshot `/metrics` renders: at once, after each of this process's polls, and
/// every [`FOLLOW_EVERY`] (another poller's writes, products going stale).
async fn follow(
    store: StoreHandle,
    named: Arc<Vec<crate::model::Product>>,
    mut status: watch::Receiver<PollerStatus>,
    out: watch::Sender<Option<Arc<BoardSnapshot>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut read_generation = None;
    let mut due = true;
    loop {
        if due {
            let generation = status.borrow_and_update().generation;
            let now = chrono::Utc::now().timestamp();
            let named = named.clone();
            let zone = crate::timefmt::display_zone();
            match store.call(move |s| s.snapshot_naming(now, zone, &named, Depth::Uptime)).await {
                Ok(Ok(snapshot)) => {
                    read_generation = Some(generation);
                    out.send_replace(Some(Arc::new(snapshot)));
                }
                Ok(Err(e)) => tracing::warn!("metrics: cannot read the history database: {e}"),
                Err(_) => return,
            }
        }
        due = tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                // A poll written, not the poller saying it started one.
                read_generation != Some(status.borrow_and_update().generation)
            }
            () = tokio::time::sleep(FOLLOW_EVERY) => true,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
    }
}

async fn metrics(Extract(served): Extract<Served>) -> Response {
    let Some(snapshot) = served.snapshot.borrow().clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting: the history database has not been read yet\n")
            .into_response();
    };
    let status = served.status.borrow().clone();
    let source_of = served.source_of.clone();
    // 20,000 products are ~500,000 lines: drawn off the runtime's thread.
    let text = tokio::task::spawn_blocking(move || {
        let leader = status.role == Role::Polling;
        openmetrics::render(&snapshot, &status, &source_of, leader, chrono::Utc::now().timestamp())
    })
    .await;
    match text {
        Ok(text) => ([(header::CONTENT_TYPE, openmetrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn healthz(Extract(served): Extract<Served>) -> Response {
    let (code, text) = health(&served.status.borrow());
    (code, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{text}\n")).into_response()
}

/// 200 while this process holds the lease and its last poll read every source and was
/// written; otherwise 503, with why in words.
pub fn health(status: &PollerStatus) -> (StatusCode, String) {
    let unavailable = |why: String| (StatusCode::SERVICE_UNAVAILABLE, crate::text::inert(&why).into_owned());
    match &status.role {
        Role::Starting => unavailable("starting: the lease has not been asked for yet".into()),
        Role::Following(lease) => unavailable(format!(
            "following: pid {} on {} holds the lease and polls; this one takes over if it stops",
            lease.pid, lease.host
        )),
        Role::Polling => match (&status.last_poll, &status.write_error, &status.last_error) {
            (None, _, _) => unavailable("polling: the first poll has not finished".into()),
            (Some(_), Some(write), _) => {
                unavailable(format!("polling, but the last poll could not be written: {write}"))
            }
            (Some(_), None, Some(error)) => unavailable(format!("polling, but the last poll could not read: {error}")),
            (Some(at), None, None) => {
                (StatusCode::OK, format!("ok: polling; last poll at {}", crate::timefmt::rfc3339_at(at.timestamp())))
            }
        },
    }
}
