//! The board: the interactive status page. It takes the poller lease if free (and polls),
//! else follows the poller that holds it; either way it shows what the store holds.
//!
//! Background work hands finished data to the UI: the poller and a snapshot loader publish
//! on watch channels; the loop handles one input or result at a time, and draws when
//! something changed. No fixed frame rate: idle means no redraws.

pub mod action;
pub mod app;
pub mod keys;
pub mod terminal;
pub mod theme;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind, MouseButton, MouseEventKind};
use futures::StreamExt;
use ratatui::layout::Rect;
use tokio::sync::{Notify, mpsc, watch};

use crate::config::Config;
use crate::failure::{EXIT_IO, Failure};
use crate::poller::Engine;
use crate::poller::service::{self, Control, Identity, PollerStatus};
use crate::store::worker::StoreHandle;
use crate::store::{BoardSnapshot, Depth, Store};
use app::{App, Detail, Effect, ViewOnly};
use theme::Theme;

/// How often a viewer asks SQLite whether another process wrote (`PRAGMA data_version`).
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

pub struct BoardOptions {
    pub theme: Theme,
    /// When the command started (config read included): the first frame is logged against it.
    pub started: std::time::Instant,
    /// A demo's story: what it is doing now, said on the board so nobody takes it for real.
    pub story: Option<watch::Receiver<String>>,
    /// `tablestat --at TIME`: open on the states of that moment of the past.
    pub at: Option<i64>,
}

/// The products the config names: each is on the board, checked or not.
type Named = Arc<Vec<crate::model::Product>>;

/// Loads the snapshot as of now.
async fn load_snapshot(store: &StoreHandle, zone: chrono::FixedOffset, named: &Named) -> Option<Arc<BoardSnapshot>> {
    load(store, zone, true, named).await.ok()
}

/// Reads the board's data; without `history`, current states only (see
/// [`crate::store::Store::current_snapshot`]).
async fn load(
    store: &StoreHandle,
    zone: chrono::FixedOffset,
    history: bool,
    named: &Named,
) -> Result<Arc<BoardSnapshot>, String> {
    let now = chrono::Utc::now().timestamp();
    let named = named.clone();
    let read = store.call(move |s| {
        if history {
            s.snapshot_naming(now, zone, &named, Depth::Bars).and_then(|snapshot| s.with_changes(snapshot))
        } else {
            s.current_snapshot(now, zone, &named)
        }
    });
    match read.await {
        Ok(Ok(snapshot)) => Ok(Arc::new(snapshot)),
        Ok(Err(e)) => {
            tracing::error!("cannot read the history database: {e}");
            Err(e.to_string())
        }
        Err(gone) => Err(gone.to_string()),
    }
}

/// Publishes a fresh snapshot whenever something people would see changed: after this
/// process's poller wrote, when another process committed (`data_version` moved) a change
/// that moved the store's generation (lease heartbeats do not), or when time alone changes
/// what is shown (a product goes stale, a maintenance window begins or ends: the snapshot's
/// `next_change`). Reads happen here, never in the UI loop.
async fn follow_store(
    store: StoreHandle,
    zone: chrono::FixedOffset,
    named: Named,
    mut poller: watch::Receiver<PollerStatus>,
    out: watch::Sender<Arc<BoardSnapshot>>,
) {
    let stored = |store: &StoreHandle| {
        let store = store.clone();
        async move { store.call(|s| (s.data_version().ok(), s.generation().ok())).await.unwrap_or((None, None)) }
    };
    let (mut seen_version, mut seen_generation) = stored(&store).await;
    let mut next_change = None;
    if let Some(full) = load_snapshot(&store, zone, &named).await {
        next_change = full.next_change;
        if out.send(full).is_err() {
            return;
        }
    }
    let mut seen_poll = poller.borrow().generation;
    let mut ticker = tokio::time::interval(FOLLOW_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = poller.changed() => {
                if changed.is_err() {
                    // No poller in this process: keep following the file.
                    poller = watch::channel(PollerStatus::default()).1;
                    continue;
                }
                let generation = poller.borrow_and_update().generation;
                if generation == seen_poll {
                    continue;
                }
                seen_poll = generation;
                (seen_version, seen_generation) = stored(&store).await;
            }
            _ = ticker.tick() => {
                let version = store.call(|s| s.data_version().ok()).await.ok().flatten();
                if version == seen_version {
                    continue;
                }
                let (version, generation) = stored(&store).await;
                seen_version = version;
                if generation == seen_generation {
                    continue;
                }
                seen_generation = generation;
            }
            _ = until(next_change) => {}
            _ = out.closed() => return,
        }
        if let Some(snapshot) = load_snapshot(&store, zone, &named).await {
            next_change = snapshot.next_change;
            if out.send(snapshot).is_err() {
                return;
            }
        }
    }
}

/// Sleeps until the Unix time `at` (a second past it, so that the change has happened);
/// never returns without one.
async fn until(at: Option<i64>) {
    match at {
        Some(at) => {
            let wait = (at + 1 - chrono::Utc::now().timestamp()).max(0) as u64;
            tokio::time::sleep(Duration::from_secs(wait)).await
        }
        None => std::future::pending().await,
    }
}

pub async fn run(config: Arc<Config>, options: BoardOptions) -> Result<(), Failure> {
    let zone = crate::timefmt::display_zone();
    let io = |e: String| Failure::new(EXIT_IO, e);
    let store = StoreHandle::open(config.store.clone(), config.base_dir().to_path_buf())
        .await
        .map_err(|e| io(e.to_string()))?;
    let _ = store.call(|_| yield_to_the_screen()).await;
    // The first frame shows current states at once; uptime and bars follow (90 days of
    // 5,000 products take a few hundred milliseconds to sum).
    let named: Named = Arc::new(config.products.clone());
    // Said in full, as `status` says it: which file, and what SQLite found.
    let first = load(&store, zone, false, &named).await.map_err(io)?;
    let since_start = || options.started.elapsed().as_millis();
    tracing::debug!("current states read {} ms after start", since_start());

    // The poller: polls if it gets the lease, else follows and takes over when it can.
    let (stop, shutdown) = watch::channel(false);
    let (status_tx, status_rx) = watch::channel(PollerStatus::default());
    let poll_now = Arc::new(Notify::new());
    let engine = Engine::new(config.clone());
    let writable = store.call(|s| s.can_write()).await.ok().and_then(Result::ok).unwrap_or(true);
    let view_only = match (&engine, writable) {
        (_, false) => Some(ViewOnly::ReadOnlyStore),
        (Err(_), true) => Some(ViewOnly::NoCredentials),
        (Ok(_), true) => None,
    };
    let poller = match engine {
        Ok(engine) if view_only.is_none() => {
            let control = Control { shutdown, poll_now: poll_now.clone(), status: status_tx };
            let store = store.clone();
            Some(spawn_poller(engine, store, control))
        }
        other => {
            match other {
                Err(e) => tracing::warn!("not polling, only viewing: {e}"),
                Ok(_) => tracing::warn!("not polling, only viewing: this database role may not write the history"),
            }
            drop(status_tx);
            None
        }
    };

    let (snapshot_tx, mut snapshot_rx) = watch::channel(first.clone());
    tokio::spawn(follow_store(store.clone(), zone, named, status_rx.clone(), snapshot_tx));

    tracing::debug!("poller started {} ms after start", since_start());
    let mut app = App::new(first.clone(), chrono::Utc::now().timestamp());
    tracing::debug!("rows arranged {} ms after start", since_start());
    if let Some(at) = options.at {
        let past = store
            .call(move |s| s.snapshot_at(at, zone, Depth::Bars).and_then(|past| s.with_changes(past)))
            .await
            .map_err(|e| io(e.to_string()))?;
        app.travelled(Some(Arc::new(past.map_err(|e| io(e.to_string()))?)), true);
    }
    app.view_only = view_only;
    app.tls_unverified = config.tls_unverified();
    let mut story = options.story.clone();
    if let Some(story) = &mut story {
        app.story = Some(story.borrow_and_update().clone());
    }
    let outcome = event_loop(&mut app, &options, &store, &poll_now, &mut snapshot_rx, status_rx, story).await;

    let _ = stop.send(true);
    if let Some(poller) = poller {
        // Finish or abandon the cycle and release the lease; never hang on the way out.
        let _ = tokio::time::timeout(Duration::from_secs(5), poller).await;
    }
    outcome
}

async fn event_loop(
    app: &mut App,
    options: &BoardOptions,
    store: &StoreHandle,
    poll_now: &Arc<Notify>,
    snapshots: &mut watch::Receiver<Arc<BoardSnapshot>>,
    mut status: watch::Receiver<PollerStatus>,
    mut story: Option<watch::Receiver<String>>,
) -> Result<(), Failure> {
    let (_guard, terminal) = terminal::TerminalGuard::enter().map_err(|e| {
        Failure::new(
            EXIT_IO,
            format!(
                "cannot open the terminal: {e}: the board needs one (over SSH: ssh -t); for scripts and cron, use `tablestat status`"
            ),
        )
    })?;
    // ratatui's Terminal prints to stderr when it cannot show the cursor on drop, and
    // printing to a terminal that hung up panics; the guard restores the terminal instead.
    let mut terminal = std::mem::ManuallyDrop::new(terminal);
    let mut events = EventStream::new();
    let (loaded_tx, mut loaded) = mpsc::unbounded_channel::<Loaded>();
    let shutdown = crate::signals::wait_for_shutdown();
    tokio::pin!(shutdown);
    let mut size =
        terminal.size().map_err(|e| Failure::new(EXIT_IO, format!("cannot read the terminal's size: {e}")))?;
    let area = |size: ratatui::layout::Size| Rect::new(0, 0, size.width, size.height);
    app.set_page(views::list_page(area(size), app));
    let mut dirty = true;
    let mut drawn_once = false;
    // When the key being answered arrived: how long handling and drawing took is logged.
    let mut key_at: Option<std::time::Instant> = None;
    loop {
        if dirty {
            app.now = chrono::Utc::now().timestamp();
            let board = views::Board { app, theme: &options.theme };
            if let Err(e) = terminal.draw(|frame| frame.render_widget(&board, frame.area())) {
                // The terminal is gone (a dropped SSH session): stop cleanly.
                tracing::info!("terminal closed: {e}");
                return Ok(());
            }
            dirty = false;
            if let Some(at) = key_at.take() {
                tracing::debug!("key to frame: {} µs", at.elapsed().as_micros());
            }
            if !drawn_once {
                drawn_once = true;
                let products = app.snapshot.products.len();
                tracing::info!(
                    "first frame drawn {} ms after start ({products} products)",
                    options.started.elapsed().as_millis()
                );
            }
        }
        let tick = app.next_tick().unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            event = events.next() => {
                let Some(Ok(event)) = event else { return Ok(()) };
                match event {
                    Event::Key(key) if key.kind != KeyEventKind::Release => {
                        key_at = Some(std::time::Instant::now());
                        if app.filtering {
                            app.filter_input(key);
                        } else if app.closing.is_some() {
                            let effect = app.closing_input(key);
                            carry_out(effect, app, store, poll_now, &loaded_tx);
                        } else if let Some(action) = keys::action_for(key, app.key_context()) {
                            let effect = app.update(action);
                            if carry_out(effect, app, store, poll_now, &loaded_tx) {
                                return Ok(());
                            }
                        }
                        dirty = true;
                    }
                    Event::Mouse(mouse) => {
                        let top = views::list_top(area(size), app);
                        let effect = match mouse.kind {
                            MouseEventKind::Down(MouseButton::Left) if mouse.row >= top => app.click((mouse.row - top) as usize),
                            MouseEventKind::ScrollDown => { app.scroll(3); Effect::None }
                            MouseEventKind::ScrollUp => { app.scroll(-3); Effect::None }
                            _ => continue,
                        };
                        carry_out(effect, app, store, poll_now, &loaded_tx);
                        dirty = true;
                    }
                    Event::Resize(width, height) => {
                        size = ratatui::layout::Size { width, height };
                        app.set_page(views::list_page(area(size), app));
                        dirty = true;
                    }
                    _ => {}
                }
            }
            Ok(()) = snapshots.changed() => {
                let snapshot = snapshots.borrow_and_update().clone();
                let shown = app.set_snapshot(snapshot);
                app.set_page(views::list_page(area(size), app));
                // A detail on screen is reloaded with the new data (unless paused).
                if let (true, app::Route::Product(id)) = (shown, app.route().clone()) {
                    carry_out(Effect::LoadDetail(id), app, store, poll_now, &loaded_tx);
                }
                dirty = true;
            }
            Ok(()) = status.changed() => {
                let status = status.borrow_and_update().clone();
                // "polling now" stays until the poll it announced has been written.
                if status.generation != app.poller.generation {
                    app.flash = None;
                }
                app.poller = status;
                dirty = true;
            }
            Some(done) = loaded.recv() => {
                match done {
                    Loaded::Detail(detail) => app.detail = Some(Arc::new(detail)),
                    Loaded::Incident(incident) => app.incident = Some(Arc::new(*incident)),
                    Loaded::Said(said) => app.flash = Some(said),
                    Loaded::Travel(past, earlier) => {
                        app.travelled(past, earlier);
                        app.set_page(views::list_page(area(size), app));
                        if let app::Route::Product(id) = app.route().clone() {
                            carry_out(Effect::LoadDetail(id), app, store, poll_now, &loaded_tx);
                        }
                    }
                }
                dirty = true;
            }
            Some(caption) = next_caption(&mut story) => {
                app.story = Some(caption);
                dirty = true;
            }
            _ = tokio::time::sleep(tick) => dirty = true,
            _ = &mut shutdown => return Ok(()),
        }
    }
}

/// The demo story's next caption; never, without a story (or once it has ended).
async fn next_caption(story: &mut Option<watch::Receiver<String>>) -> Option<String> {
    if let Some(rx) = story {
        if rx.changed().await.is_ok() {
            return Some(rx.borrow_and_update().clone());
        }
        *story = None;
    }
    std::future::pending().await
}

/// The poller on a thread and runtime of its own, so that polling (and parsing large
/// manifests) never competes with the board's input handling. Signals when it has
/// stopped and released the lease.
fn spawn_poller(engine: Engine, store: StoreHandle, control: Control) -> tokio::sync::oneshot::Receiver<()> {
    let (done, stopped) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("tablestat-poller".into()).spawn(move || {
        yield_to_the_screen();
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => {
                if let Err(e) = runtime.block_on(service::serve(engine, store, Identity::of_this_process(), control)) {
                    tracing::error!("the poller stopped: {e}");
                }
            }
            Err(e) => tracing::error!("cannot start the poller: {e}"),
        }
        let _ = done.send(());
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the poller thread: {e}");
    }
    stopped
}

/// Lowers the calling thread's priority (nice 10): the board's poller and store threads then
/// leave the cores to input and drawing when they compete (a poll that writes thousands of
/// changes, a 90-day snapshot, on a 2-core jump host). Linux keeps nice per thread.
fn yield_to_the_screen() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority takes plain integers and touches no memory of ours; `who` 0 is the
    // calling thread. A failure (not permitted) leaves the priority as it was, which is fine.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

/// A person's change to an incident, written off the UI loop as `$USER`; the incident is
/// read again, and what happened (or why not: a read-only database, a race) is said.
fn write_incident(
    store: &StoreHandle,
    loaded: &mpsc::UnboundedSender<Loaded>,
    id: i64,
    done: String,
    write: impl FnOnce(&mut Store, Option<&str>, i64) -> crate::store::Result<()> + Send + 'static,
) {
    let (store, loaded) = (store.clone(), loaded.clone());
    tokio::spawn(async move {
        let who = std::env::var("USER").ok();
        let now = chrono::Utc::now().timestamp();
        let said = match store.call(move |s| write(s, who.as_deref(), now)).await {
            Ok(Ok(())) => done,
            Ok(Err(e)) => crate::text::inert(&e.to_string()).into_owned(),
            Err(gone) => gone.to_string(),
        };
        let _ = loaded.send(Loaded::Said(said));
        if let Ok(Ok(incident)) = store.call(move |s| s.incident(id)).await {
            let _ = loaded.send(Loaded::Incident(Box::new(incident)));
        }
    });
}

enum Loaded {
    Detail(Detail),
    Incident(Box<crate::store::Incident>),
    /// A step through history: the snapshot of that change, or none that way.
    Travel(Option<Arc<BoardSnapshot>>, bool),
    /// What a write did, for the flash line.
    Said(String),
}

/// Carries out an effect in the background. True to quit.
fn carry_out(
    effect: Effect,
    app: &App,
    store: &StoreHandle,
    poll_now: &Arc<Notify>,
    loaded: &mpsc::UnboundedSender<Loaded>,
) -> bool {
    let zone = app.snapshot.zone;
    match effect {
        Effect::None => {}
        Effect::Quit => return true,
        Effect::PollNow => {
            poll_now.notify_one();
            let store = store.clone();
            let me = std::process::id();
            tokio::spawn(async move {
                let now = chrono::Utc::now().timestamp();
                let _ = store.call(move |s| s.request_poll(now, &format!("board pid {me}"))).await;
            });
        }
        Effect::Travel { from, earlier } => {
            let (store, loaded) = (store.clone(), loaded.clone());
            tokio::spawn(async move {
                let past = store
                    .call(move |s| match s.change_next_to(from, earlier)? {
                        Some(at) => {
                            s.snapshot_at(at, zone, Depth::Bars).and_then(|past| s.with_changes(past)).map(Some)
                        }
                        None => Ok(None),
                    })
                    .await;
                match past {
                    Ok(Ok(past)) => {
                        let _ = loaded.send(Loaded::Travel(past.map(Arc::new), earlier));
                    }
                    Ok(Err(e)) => tracing::error!("cannot read the history database: {e}"),
                    Err(gone) => tracing::error!("{gone}"),
                }
            });
        }
        Effect::LoadDetail(id) => {
            let (store, loaded) = (store.clone(), loaded.clone());
            // In the past, the product's history up to that moment.
            let moment = app.as_of();
            tokio::spawn(async move {
                let now = moment.unwrap_or_else(|| chrono::Utc::now().timestamp());
                let key = id.clone();
                if let Ok(Ok((metrics, refreshes, incidents))) =
                    store.call(move |s| s.product_detail(&key, now, zone)).await
                {
                    let _ = loaded.send(Loaded::Detail(Detail { product: id, metrics, refreshes, incidents }));
                }
            });
        }
        Effect::Copy(text) => {
            if let Err(e) = terminal::copy_to_clipboard(&text) {
                tracing::warn!("cannot write to the terminal: {e}");
            }
        }
        Effect::LoadIncident(id) => {
            let (store, loaded) = (store.clone(), loaded.clone());
            tokio::spawn(async move {
                if let Ok(Ok(incident)) = store.call(move |s| s.incident(id)).await {
                    let _ = loaded.send(Loaded::Incident(Box::new(incident)));
                }
            });
        }
        Effect::Acknowledge(id) => {
            write_incident(store, loaded, id, format!("incident #{id}: taken"), move |s, who, now| {
                s.acknowledge_incident(id, who, "Taken from the board.", now)
            });
        }
        Effect::Resolve { id, reason } => {
            let said = format!("incident #{id}: closed as {}", reason.words());
            write_incident(store, loaded, id, said, move |s, who, now| {
                s.resolve_incident(id, Some(reason), "Closed from the board.", who, now)
            });
        }
    }
    false
}
