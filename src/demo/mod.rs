//! `tablestat demo`: the real board, poller and HTTP clients against a simulated Airflow 3
//! and dbt Cloud on 127.0.0.1, a scripted story of failures and recoveries, and 90 days of
//! seeded history. Nothing to install, no account needed.

mod artifacts;
pub mod seed;
mod server;
pub mod world;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::failure::{EXIT_CONFIG, EXIT_INTERNAL, EXIT_IO, EXIT_UNAVAILABLE, EXIT_USAGE, Failure};
use crate::poller::Engine;
use crate::poller::service::{Identity, poll_once};
use crate::store::worker::StoreHandle;
use crate::store::{Scope, Store};
use world::{Step, World};

pub struct DemoOptions {
    /// Story speed: 2 plays it twice as fast.
    pub speed: f64,
    pub seed: u64,
    pub headless: bool,
    /// Also keep a static status page in this folder, rewritten after every poll.
    pub export: Option<PathBuf>,
    pub theme: crate::tui::theme::Theme,
}

/// A step lasts this long at speed 1.
const STEP: Duration = Duration::from_secs(20);

/// A throw-away folder for the demo's config and database, removed at the end, and the
/// link other commands reach its config by (see [`latest_link`]).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // The link goes too, unless a newer demo has taken it over.
        let link = latest_link();
        if std::fs::read_link(&link).is_ok_and(|to| to.starts_with(&self.0)) {
            let _ = std::fs::remove_file(link);
        }
    }
}

/// `/tmp/tablestat-demo-UID.toml`: the running demo's config, for commands in a second
/// terminal (`tablestat -c /tmp/tablestat-demo-$(id -u).toml status`): one name per user,
/// where a glob over the scratch folders could match several.
pub fn latest_link() -> PathBuf {
    #[cfg(unix)]
    // SAFETY: getuid has no arguments and cannot fail.
    let user = unsafe { libc::getuid() };
    #[cfg(not(unix))]
    let user = 0;
    std::env::temp_dir().join(format!("tablestat-demo-{user}.toml"))
}

/// Points [`latest_link`] at this demo's config; a link that cannot be made (another
/// user's file in its place) only costs the shortcut.
fn link_latest(config: &Path) {
    #[cfg(unix)]
    {
        let link = latest_link();
        let _ = std::fs::remove_file(&link);
        if let Err(e) = std::os::unix::fs::symlink(config, &link) {
            tracing::warn!("cannot link {} to the demo's config: {e}", link.display());
        }
    }
    #[cfg(not(unix))]
    let _ = config;
}

/// A failure of the demo's own set-up (a folder, a port, the store): an I/O error.
fn io(e: impl std::fmt::Display) -> Failure {
    Failure::new(EXIT_IO, e.to_string())
}

async fn serve(router: axum::Router) -> Result<String, Failure> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Failure::new(EXIT_UNAVAILABLE, format!("cannot listen on 127.0.0.1: {e}")))?;
    let url = format!("http://{}", listener.local_addr().map_err(io)?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("demo server stopped: {e}");
        }
    });
    Ok(url)
}

fn write_config(
    dir: &Path,
    airflow: &str,
    dbt: &str,
    poll: Duration,
    export: Option<&Path>,
) -> Result<PathBuf, Failure> {
    let mut text = format!(
        "# Written by `tablestat demo`: a simulated Airflow 3 and dbt Cloud on loopback.\n\
         [airflow]\nurl = \"{airflow}\"\napi = \"auto\"\nauth = \"password\"\nusername = \"demo\"\npassword = \"demo\"\ntimeout = \"5s\"\n\n\
         [dbt]\nsource = \"cloud\"\nurl = \"{dbt}\"\naccount_id = 1\ntoken = \"demo-dbt-cloud-token\"\ncache_dir = {:?}\n\n\
         [poll]\ninterval = \"{}ms\"\n\n[store]\npath = {:?}\n",
        // Absolute: the config is also reached through a link in another folder.
        dir.join("dbt-cache").display().to_string(),
        poll.as_millis().max(500),
        dir.join("history.db").display().to_string(),
    );
    if let Some(export) = export {
        let export = std::path::absolute(export)
            .map_err(|e| Failure::new(EXIT_USAGE, format!("--export {}: {e}", export.display())))?;
        text.push_str(&format!("\n[export]\ndir = {:?}\ntitle = \"Demo data status\"\n", export.display().to_string()));
    }
    for p in world::products() {
        text.push_str(&format!(
            "\n[[product]]\nid = \"{}\"\nname = \"{}\"\ndescription = \"{}\"\nowner = \"{}\"\ngroup = \"{}\"\ndag = \"{}\"\ntask = \"{}\"\nmetrics = [{}]\nslo = {:.1}\n",
            p.id,
            p.name,
            p.description.unwrap_or_default(),
            p.owner.unwrap_or_default(),
            p.group,
            p.dag_id,
            p.task_id.unwrap_or_default(),
            p.metrics.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", "),
            p.slo.unwrap_or(99.0)
        ));
        if let Some(model) = p.model {
            text.push_str(&format!("model = \"{model}\"\ndbt_job = 42\n"));
        }
    }
    let path = dir.join("tablestat.toml");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path).map_err(io)?, text.as_bytes()).map_err(io)?;
    Ok(path)
}

/// Moves the world to `step`; the maintenance step announces a window for Finance, and
/// the step after the next ends it early, as teams do when the work is done. Only the
/// story's own window: one a user added meanwhile is theirs.
async fn play(step: Step, shared: &server::Shared, store: &StoreHandle, own_window: &mut Option<i64>) {
    shared.world.lock().expect("world").apply(step, Utc::now());
    let now = Utc::now().timestamp();
    match step {
        Step::MaintenanceStarts => {
            let added = store
                .call(move |s| {
                    s.add_maintenance(
                        &Scope::Group("Finance".into()),
                        now,
                        now + 3600,
                        "Ledger migration to the new warehouse",
                        Some("demo"),
                        now,
                    )
                })
                .await;
            *own_window = added.ok().and_then(Result::ok);
        }
        Step::ModelError => {
            if let Some(id) = own_window.take() {
                let _ = store.call(move |s| s.end_maintenance(id, now)).await;
            }
        }
        _ => {}
    }
    let _ = store.call(move |s| s.request_poll(now, "demo story")).await;
}

pub async fn run(options: DemoOptions) -> Result<u8, Failure> {
    let speed = if options.speed.is_finite() && options.speed > 0.0 { options.speed } else { 1.0 };
    let step_len = STEP.div_f64(speed);
    let dir = std::env::temp_dir().join(format!("tablestat-demo-{}-{:x}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(&dir).map_err(|e| io(format!("cannot create {}: {e}", dir.display())))?;
    let scratch = Scratch(dir.clone());

    let shared = server::Shared::new(World::new(Utc::now()));
    let airflow = serve(server::airflow(shared.clone())).await?;
    let dbt = serve(server::dbt_cloud(shared.clone())).await?;
    let config_path = write_config(&dir, &airflow, &dbt, step_len / 4, options.export.as_deref())?;
    link_latest(&config_path);
    let config = Arc::new(Config::load(&config_path).map_err(|e| Failure::new(EXIT_INTERNAL, e.to_string()))?);

    let mut store = Store::open_at(&config.store, config.base_dir()).map_err(io)?;
    let history = seed::history(&world::products(), Utc::now().timestamp(), options.seed);
    store.import(&world::products(), &history).map_err(io)?;

    let outcome = if options.headless {
        // Ctrl-C, SIGTERM or a hang-up stop the story cleanly, so the scratch folder goes too.
        tokio::select! {
            outcome = headless(config, store, &shared, step_len) => outcome,
            () = crate::signals::wait_for_shutdown() => Ok(0),
        }
    } else {
        drop(store);
        interactive(config, options.theme, shared, step_len).await
    };
    drop(scratch);
    outcome
}

/// Plays the story once, printing the status document (one JSON line) after each step.
async fn headless(
    config: Arc<Config>,
    store: Store,
    shared: &server::Shared,
    step_len: Duration,
) -> Result<u8, Failure> {
    let store = StoreHandle::spawn(store).map_err(io)?;
    let mut engine = Engine::new(config).map_err(|e| Failure::new(EXIT_CONFIG, e.to_string()))?;
    let me = Identity::of_this_process();
    let mut own_window = None;
    for step in Step::STORY {
        play(step, shared, &store, &mut own_window).await;
        eprintln!("tablestat demo: {}", step.caption());
        let result = poll_once(&mut engine, &store, &me).await.map_err(io)?;
        let now = Utc::now().timestamp();
        let snapshot =
            store.call(move |s| s.snapshot(now, crate::timefmt::display_zone())).await.map_err(io)?.map_err(io)?;
        let polled: Vec<String> = result.checked.iter().map(|c| c.product.id.clone()).collect();
        let doc = crate::status_doc::from_snapshot(&snapshot, &polled);
        let line = serde_json::to_string(&doc).map_err(|e| Failure::new(EXIT_INTERNAL, e.to_string()))?;
        crate::output::line(line)?;
        tokio::time::sleep(step_len).await;
    }
    Ok(0)
}

/// The board, with the story playing underneath it, over and over.
async fn interactive(
    config: Arc<Config>,
    theme: crate::tui::theme::Theme,
    shared: server::Shared,
    step_len: Duration,
) -> Result<u8, Failure> {
    let store = StoreHandle::open(config.store.clone(), config.base_dir().to_path_buf()).await.map_err(io)?;
    let (caption, captions) = tokio::sync::watch::channel(Step::STORY[0].caption().to_string());
    let story = tokio::spawn(async move {
        let mut own_window = None;
        loop {
            for step in Step::STORY.into_iter().skip(1) {
                tokio::time::sleep(step_len).await;
                play(step, &shared, &store, &mut own_window).await;
                let _ = caption.send(step.caption().to_string());
            }
            tokio::time::sleep(step_len * 2).await;
        }
    });
    let options =
        crate::tui::BoardOptions { theme, started: std::time::Instant::now(), story: Some(captions), at: None };
    let outcome = crate::tui::run(config, options).await;
    story.abort();
    outcome.map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The story ends the maintenance window it announced, and only that one: a window a
    /// user added to the demo's database meanwhile is theirs to end.
    #[tokio::test]
    async fn the_story_ends_only_its_own_window() {
        let store = StoreHandle::spawn(Store::in_memory().unwrap()).unwrap();
        let shared = server::Shared::new(World::new(Utc::now()));
        let now = Utc::now().timestamp();
        let theirs = store
            .call(move |s| s.add_maintenance(&Scope::All, now - 60, now + 7200, "mine", Some("someone"), now))
            .await
            .unwrap()
            .unwrap();
        let mut own = None;
        play(Step::MaintenanceStarts, &shared, &store, &mut own).await;
        let ours = own.expect("the story remembers its window");
        play(Step::ModelError, &shared, &store, &mut own).await;
        let open: Vec<i64> = store
            .call(move |s| s.maintenance_windows(now + 1, false))
            .await
            .unwrap()
            .unwrap()
            .into_iter()
            .filter(|w| w.is_active(Utc::now().timestamp()))
            .map(|w| w.id)
            .collect();
        assert_eq!(open, [theirs], "ours (#{ours}) ended, theirs kept");
    }
}
