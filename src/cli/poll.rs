//! `tablestat poll`: the poller as a service (until SIGINT/SIGTERM), or once for cron and
//! scripts. Either way every poll is recorded in the history database.

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use super::{EXIT_INTERNAL, EXIT_IO, EXIT_TEMPFAIL, Failure};
use crate::config::Config;
use crate::poller::Engine;
use crate::poller::service::{self, Control, Identity, PollerError, PollerStatus};
use crate::status_doc;
use crate::store::worker::StoreHandle;

#[derive(Debug, clap::Args)]
pub struct PollArgs {
    /// Poll every product once, record it, print the result and exit (for cron and scripts).
    #[arg(long)]
    pub once: bool,
    /// With --once: print the status document as JSON (the shape of `status --json`).
    #[arg(long, requires = "once")]
    pub json: bool,
}

pub async fn run(config: &Config, args: PollArgs, style: super::TextStyle) -> Result<u8, Failure> {
    let unreadable = config.unreadable_references();
    if !unreadable.is_empty() {
        return Err(Failure::new(
            super::EXIT_CONFIG,
            format!("{}: run `tablestat config check` to see them all", unreadable.join("; ")),
        ));
    }
    let config = Arc::new(config.clone());
    let engine = Engine::new(config.clone()).map_err(|e| Failure::new(super::EXIT_CONFIG, e.to_string()))?;
    let store =
        StoreHandle::open(config.store.clone(), config.base_dir().to_path_buf()).await.map_err(super::store_error)?;
    let me = Identity::of_this_process();
    if args.once { once(engine, &store, &me, args.json, style).await } else { service(engine, store, me, config).await }
}

async fn once(
    mut engine: Engine,
    store: &StoreHandle,
    me: &Identity,
    json: bool,
    style: super::TextStyle,
) -> Result<u8, Failure> {
    let result = service::poll_once(&mut engine, store, me).await.map_err(poller_error)?;
    if let Some(error) = &result.airflow_error {
        eprintln!("tablestat: warning: Airflow could not be read: {}", crate::text::inert(error));
    }
    let now = chrono::Utc::now().timestamp();
    let named = engine.config().products.clone();
    let snapshot = store
        .call(move |s| s.snapshot_naming(now, crate::timefmt::display_zone(), &named, crate::store::Depth::Uptime))
        .await
        .map_err(|e| Failure::new(EXIT_INTERNAL, e.to_string()))?
        .map_err(super::store_error)?;
    let polled: Vec<String> = result.checked.iter().map(|c| c.product.id.clone()).collect();
    let doc = status_doc::from_snapshot(&snapshot, &polled);
    super::print_doc(&doc, json, style)?;
    Ok(doc.exit_code() as u8)
}

async fn service(engine: Engine, store: StoreHandle, me: Identity, config: Arc<Config>) -> Result<u8, Failure> {
    let (stop, shutdown) = watch::channel(false);
    let (status, mut watch_status) = watch::channel(PollerStatus::default());
    let held = status.subscribe();
    let serving = match config.serve {
        Some(addr) => {
            let listener = crate::serve::bind(addr).await.map_err(|e| Failure::new(super::EXIT_UNAVAILABLE, e))?;
            let bound = listener.local_addr().unwrap_or(addr);
            eprintln!("tablestat: serving http://{bound}/metrics and http://{bound}/healthz");
            Some(crate::serve::spawn(listener, &config, store.clone(), status.subscribe(), shutdown.clone()))
        }
        None => None,
    };
    let control = Control { shutdown, poll_now: Arc::new(Notify::new()), status };
    tokio::spawn(async move {
        crate::signals::wait_for_shutdown().await;
        let _ = stop.send(true);
    });
    eprintln!("tablestat: polling {} products into {} (Ctrl-C to stop)", config.products.len(), config.store.shown());
    let report_loop = tokio::spawn(async move {
        let mut role = None;
        while watch_status.changed().await.is_ok() {
            let s = watch_status.borrow_and_update().clone();
            let now = format!("{:?}", s.role);
            if role.as_ref() != Some(&now) {
                match &s.role {
                    service::Role::Following(lease) => {
                        eprintln!(
                            "tablestat: another poller holds the lease (pid {} on {}); following it",
                            lease.pid, lease.host
                        )
                    }
                    service::Role::Polling => eprintln!("tablestat: holding the lease; polling"),
                    service::Role::Starting => {}
                }
                role = Some(now);
            }
        }
    });
    let outcome = service::serve(engine, store, me, control).await;
    report_loop.abort();
    if let Some(serving) = serving {
        serving.abort();
    }
    match outcome {
        Ok(()) => {
            // Only a poller that held the lease has one to give up.
            if held.borrow().role == service::Role::Polling {
                eprintln!("tablestat: stopped; lease released");
            } else {
                eprintln!("tablestat: stopped");
            }
            Ok(0)
        }
        Err(e) => Err(poller_error(e)),
    }
}

fn poller_error(e: PollerError) -> Failure {
    match e {
        PollerError::LeaseTaken { .. } => Failure::new(EXIT_TEMPFAIL, e.to_string()),
        PollerError::Store(e) => super::store_error(e),
        PollerError::Gone(_) => Failure::new(EXIT_IO, e.to_string()),
    }
}
