//! Sends webhook deliveries: a task beside the poller that never holds up a poll. Each
//! round routes new events, takes the due deliveries, posts them (a few at a time) and
//! records each outcome; failures are retried with backoff for a day, then given up.
//! Delivery is at least once: a poller killed between sending and recording sends again.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, watch};

use crate::config::Webhook as Target;
use crate::event::{Event, Routing};
use crate::store::worker::StoreHandle;
use crate::store::{DeliveryOutcome, DueDelivery};

/// How often pending deliveries are looked at when nothing wakes the task.
const ROUND: Duration = Duration::from_secs(5);
/// Per request; a webhook that takes longer is treated as failed and retried.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Webhooks delivered to side by side (each one's events one after another).
const PARALLEL: usize = 4;
/// Deliveries taken per round.
const BATCH: usize = 32;
/// Events one digest message lists at most; more wait for the next round.
const DIGEST_MAX: usize = 500;
/// First retry after this; doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: i64 = 30;
const MAX_BACKOFF: i64 = 30 * 60;
/// A delivery still failing this long after its event is given up.
const GIVE_UP_AFTER: i64 = 24 * 3600;

/// What the deliverer needs besides the store.
#[derive(Clone)]
pub struct Deliverer {
    /// Each webhook with its own client (a receiver may trust an internal CA), or why its
    /// client could not be built (its `ca_file`), said on each attempt.
    targets: Vec<(Target, Result<reqwest::Client, String>)>,
    base_dir: std::path::PathBuf,
    /// The exported status page's public URL: events link to the product's entry there.
    page_url: Option<url::Url>,
}

impl Deliverer {
    pub fn new(targets: Vec<Target>, base_dir: &std::path::Path, page_url: Option<url::Url>) -> Deliverer {
        let targets = targets
            .into_iter()
            .map(|target| {
                let client = client_for(&target);
                if let Err(e) = &client {
                    tracing::warn!(target = target.name, "webhook cannot be sent: {e}");
                }
                (target, client)
            })
            .collect();
        Deliverer { targets, base_dir: base_dir.to_path_buf(), page_url }
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Runs until `shutdown`; works only while `active` says this process holds the lease,
    /// so two processes never deliver the same events.
    pub async fn run(
        self,
        store: StoreHandle,
        active: watch::Receiver<bool>,
        wake: std::sync::Arc<Notify>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *active.borrow() && !self.round(&store, chrono::Utc::now().timestamp()).await {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(ROUND) => {}
                _ = wake.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Routes new events, sends what is due at `now` and records the outcomes. False when
    /// the store has gone (the process is stopping).
    pub async fn round(&self, store: &StoreHandle, now: i64) -> bool {
        let routes: Vec<Routing> = self
            .targets
            .iter()
            .map(|(t, _)| Routing {
                name: t.name.clone(),
                route: t.route.clone(),
                digest: t.digest.map(|d| d.as_secs() as i64),
            })
            .collect();
        let digests: Vec<String> =
            self.targets.iter().filter(|(t, _)| t.digest.is_some()).map(|(t, _)| t.name.clone()).collect();
        let due = store.call(move |s| {
            s.route_events(&routes, now)?;
            let mut due = s.due_deliveries(now, BATCH, &digests, None)?;
            for name in &digests {
                due.extend(s.due_deliveries(now, DIGEST_MAX, &[], Some(name))?);
            }
            Ok::<_, crate::store::StoreError>(due)
        });
        let due = match due.await {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::warn!("notifications: {e}");
                return true;
            }
            Err(_) => return false,
        };
        // In order within a webhook (a receiver hears "opened" before "resolved", as they
        // happened), webhooks side by side.
        let mut by_target: Vec<Vec<DueDelivery>> = Vec::new();
        for d in due {
            match by_target.iter_mut().find(|group| group[0].target == d.target) {
                Some(group) => group.push(d),
                None => by_target.push(vec![d]),
            }
        }
        let outcomes: Vec<(DueDelivery, DeliveryOutcome)> = futures::stream::iter(by_target)
            .map(|group| async move {
                if self.is_digest(&group[0].target) {
                    // One message for all of them; its outcome is each one's.
                    let outcome = self.attempt(&group, now).await;
                    return group.into_iter().map(|d| (d, outcome.clone())).collect();
                }
                let mut outcomes = Vec::with_capacity(group.len());
                for d in group {
                    let outcome = self.attempt(std::slice::from_ref(&d), now).await;
                    outcomes.push((d, outcome));
                }
                outcomes
            })
            .buffer_unordered(PARALLEL)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        for (d, outcome) in outcomes {
            match &outcome {
                DeliveryOutcome::Delivered => {
                    tracing::info!(target = d.target, event = d.event.event.as_str(), "notification delivered")
                }
                DeliveryOutcome::RetryAt { error, .. } | DeliveryOutcome::GaveUp { error } => {
                    tracing::warn!(target = d.target, event = d.event.event.as_str(), "notification failed: {error}")
                }
            }
            if store.call(move |s| s.finish_delivery(d.event_id, &d.target, &outcome, now)).await.is_err() {
                return false;
            }
        }
        true
    }

    fn is_digest(&self, target: &str) -> bool {
        self.targets.iter().any(|(t, _)| t.name == target && t.digest.is_some())
    }

    /// Sends `due` (deliveries to one webhook): one event, or a digest's events as one
    /// message. Retries and giving up go by the oldest of them.
    async fn attempt(&self, due: &[DueDelivery], now: i64) -> DeliveryOutcome {
        let created_at = due.iter().map(|d| d.created_at).min().unwrap_or(now);
        let attempts = due.iter().map(|d| d.attempts).max().unwrap_or(0);
        let failed = |error: String, retry_after: Option<i64>| {
            if now - created_at >= GIVE_UP_AFTER {
                return DeliveryOutcome::GaveUp { error: format!("{error} (gave up after a day of retries)") };
            }
            let backoff = (FIRST_BACKOFF << attempts.min(10)).min(MAX_BACKOFF);
            DeliveryOutcome::RetryAt { at: now + backoff.max(retry_after.unwrap_or(0)), error }
        };
        let Some(name) = due.first().map(|d| d.target.as_str()) else { return DeliveryOutcome::Delivered };
        let Some((target, client)) = self.targets.iter().find(|(t, _)| t.name == name) else {
            return DeliveryOutcome::GaveUp { error: "this webhook is no longer in the config".into() };
        };
        let client = match client {
            Ok(client) => client,
            Err(e) => return failed(format!("{e}: fix it and restart tablestat"), None),
        };
        let url = match target.url.resolve(&self.base_dir) {
            Ok(url) => url,
            Err(e) => return failed(format!("the webhook URL cannot be read: {e}"), None),
        };
        let events: Vec<Event> = due.iter().map(|d| self.linked(&d.event)).collect();
        let payload = match (target.digest, events.as_slice()) {
            (None, [event]) => event.payload(target.format),
            _ => crate::notify::digest_payload(&events, target.format, now),
        };
        let sent = client.post(url.expose()).json(&payload).send().await;
        let secrets = url_secrets(url.expose());
        // Blanked first, then cut: a URL cut at the limit no longer matched and was kept.
        let scrub = |text: String, max: usize| crate::config::blank_secrets(&text, &secrets, max);
        match sent {
            Ok(mut response) if response.status().is_success() => {
                let _ = response.chunk().await;
                DeliveryOutcome::Delivered
            }
            Ok(mut response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok());
                // Only the start of the body is kept: a receiver may answer with anything.
                let mut body = Vec::new();
                while body.len() < MAX_ERROR_BODY {
                    match response.chunk().await {
                        Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                let body: String = String::from_utf8_lossy(&body).chars().filter(|c| !c.is_control()).collect();
                let body = scrub(body.trim().to_string(), 120);
                let detail = if body.is_empty() { String::new() } else { format!(": {body}") };
                failed(format!("HTTP {}{detail}", status.as_u16()), retry_after)
            }
            Err(e) => failed(scrub(describe(&e.without_url()), 300), None),
        }
    }
}

impl Deliverer {
    /// The event, linking to the product's entry on the published status page if there is one.
    fn linked(&self, event: &Event) -> Event {
        let mut event = event.clone();
        if let Some(page) = &self.page_url {
            let mut link = page.clone();
            link.set_fragment(event.product.as_ref().map(|p| crate::export::anchor(&p.id)).as_deref());
            event.link = Some(link.to_string());
        }
        event
    }
}

/// Bytes of a failed delivery's answer read for its error message.
const MAX_ERROR_BODY: usize = 4096;

/// What of a webhook URL is secret, in each form a receiver may echo: the whole URL, its
/// path and query (echoed as "Cannot POST /services/T000/B000/…"), and each long path
/// segment or query value (Slack's and Teams' credentials).
fn url_secrets(url: &str) -> Vec<String> {
    let mut parts = vec![url.to_string()];
    if let Ok(parsed) = url::Url::parse(url) {
        let path_and_query = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_string(),
        };
        parts.push(path_and_query);
        parts.extend(parsed.path_segments().into_iter().flatten().map(String::from));
        parts.extend(parsed.query_pairs().map(|(_, v)| v.into_owned()));
    }
    let mut forms: Vec<String> = parts
        .iter()
        .filter(|p| p.len() >= 12 || p.starts_with('/') && p.len() > 1)
        .flat_map(|p| crate::config::echo_forms(p))
        .collect();
    forms.sort();
    forms.dedup();
    forms
}

/// The HTTP client for one webhook: the system's CAs, and its `ca_file`'s when it names one.
fn client_for(target: &Target) -> Result<reqwest::Client, String> {
    crate::sources::tls::client_builder(target.ca_file.as_deref(), false)?
        .user_agent(concat!("tablestat/", env!("CARGO_PKG_VERSION")))
        // The URL is the secret: never sent on as a Referer, nor the payload to another origin.
        .redirect(crate::sources::redirect::same_origin_redirects())
        .referer(false)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| describe(&e))
}

/// "connection refused", "timed out after 10 s": the cause, never the URL.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {} s", TIMEOUT.as_secs());
    }
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if e.is_connect() { format!("cannot connect: {cause}") } else { cause }
}
