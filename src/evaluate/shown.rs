//! What every reader is shown: the stored states, made honest about their age.
//!
//! The rulebook judges at poll time; between polls the stored judgment ages. This is the
//! one place that decides, for the board, `status`, `poll --once`, the exported page and
//! its `status.json` alike, what a stored state still says *now*: a product nobody has
//! checked yet, or nobody has checked for too long, is `unknown`, never the `up` it last
//! had; a maintenance window that began or ended since the last poll shows at once.
//!
//! Pure: the stored rows, the poller's heartbeat and `now` in; the shown states out.

use crate::facts::MaintenanceNotice;
use crate::model::{Metric, Product, State};
use crate::timefmt;

/// A poller whose heartbeat is older than this is gone: its lease is free to take.
pub const HEARTBEAT_TTL: i64 = 30;

/// The shortest time without a check after which a stored state is too old to show.
pub const MIN_STALE_AFTER: i64 = 10 * 60;

/// How many poll intervals may pass without a check before the stored state is too old.
pub const STALE_INTERVALS: i64 = 3;

/// The poller as the database last saw it: the lease row, kept after release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerSeen {
    pub pid: i64,
    pub host: String,
    pub heartbeat: i64,
    /// Given up on a clean exit: nobody polls, whatever the heartbeat says.
    pub released: bool,
}

/// Whether anyone polls, in the status document's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PollerState {
    /// A poller holds the lease and its heartbeat is fresh.
    Polling,
    /// A poller holds the lease but its heartbeat stopped (killed, hung, cut off).
    Stale,
    /// Nobody holds the lease.
    None,
}

impl PollerState {
    pub fn of(seen: Option<&PollerSeen>, now: i64) -> PollerState {
        match seen {
            Some(p) if p.released => PollerState::None,
            Some(p) if now - p.heartbeat <= HEARTBEAT_TTL => PollerState::Polling,
            Some(_) => PollerState::Stale,
            None => PollerState::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PollerState::Polling => "polling",
            PollerState::Stale => "stale",
            PollerState::None => "none",
        }
    }
}

/// What does not change from one product to the next.
#[derive(Debug, Clone)]
pub struct Watch {
    pub now: i64,
    /// Why nothing was checked lately, for a reason's tail: said once, for every product.
    why_unchecked: String,
}

impl Watch {
    pub fn new(now: i64, poller: Option<&PollerSeen>) -> Watch {
        Watch { now, why_unchecked: why_unchecked(now, poller) }
    }

    /// A moment of the past, read back from history: who polled then is not kept, only
    /// that no poll had checked the product lately.
    pub fn past(at: i64) -> Watch {
        Watch { now: at, why_unchecked: "no poll had checked it for a while by then".to_string() }
    }
}

/// Why nothing was checked lately, for a reason's tail.
fn why_unchecked(now: i64, poller: Option<&PollerSeen>) -> String {
    let at = |t: i64| timefmt::stamp_at(t);
    match (PollerState::of(poller, now), poller) {
        (PollerState::Polling, Some(p)) => {
            format!("the poller (pid {} on {}) has not checked it since: its polls may be stuck", p.pid, p.host)
        }
        (PollerState::Stale, Some(p)) => {
            format!("the poller (pid {} on {}) stopped sending heartbeats at {}", p.pid, p.host, at(p.heartbeat))
        }
        (_, Some(p)) => {
            format!("no poller is running (last heartbeat {} on {}): start `tablestat poll`", at(p.heartbeat), p.host)
        }
        (_, None) => "no poller has run yet: start `tablestat poll`".to_string(),
    }
}

/// One metric as shown: its state, why, and since when (`None`: never judged).
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    pub metric: Metric,
    pub state: State,
    pub reason: String,
    pub since: Option<i64>,
}

/// What the store holds for one product.
#[derive(Debug, Clone)]
pub struct Stored<'a> {
    pub product: &'a Product,
    /// The product's overall state as recorded, and since when; `None` before any poll.
    pub recorded: Option<(State, i64)>,
    /// Each recorded metric, in the product's order.
    pub metrics: Vec<Shown>,
    pub checked_at: Option<i64>,
    /// How often the poller meant to check it (from its DAG's schedule), in seconds.
    pub poll_every: Option<i64>,
    /// The maintenance window covering it now.
    pub maintenance: Option<&'a MaintenanceNotice>,
    /// When the last window covering it ended, if one has.
    pub maintenance_ended: Option<i64>,
}

/// A product as every reader shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShownProduct {
    pub state: State,
    pub since: Option<i64>,
    pub metrics: Vec<Shown>,
    /// The stored states were replaced because they are too old (or there are none): the
    /// note and evidence of the last poll no longer speak for now.
    pub stale: bool,
    /// When what is shown would change with no new poll (the product goes stale, a window
    /// begins or ends is the caller's): readers that stay open look again then.
    pub next_change: Option<i64>,
}

/// After how long without a check a product's stored state is too old to show.
pub fn stale_after(poll_every: Option<i64>) -> i64 {
    poll_every.map_or(MIN_STALE_AFTER, |every| (STALE_INTERVALS * every).max(MIN_STALE_AFTER))
}

/// The product as shown now.
pub fn show(stored: Stored<'_>, watch: &Watch) -> ShownProduct {
    let now = watch.now;
    let product = stored.product;
    let uniform = |state: State, reason: &str, since: Option<i64>| -> Vec<Shown> {
        product.metrics.iter().map(|m| Shown { metric: m.clone(), state, reason: reason.to_string(), since }).collect()
    };
    let finish = |metrics: Vec<Shown>, since: Option<i64>, stale: bool, next_change: Option<i64>| ShownProduct {
        state: State::worst_of(metrics.iter().map(|m| m.state)).unwrap_or(State::Unknown),
        since,
        metrics,
        stale,
        next_change,
    };

    // Maintenance announced for it now: shown at once, not at the next poll.
    if let Some(window) = stored.maintenance {
        let reason = format!("planned maintenance until {}: {}", timefmt::stamp(window.ends_at), window.message);
        let starts = window.starts_at.timestamp();
        let began = match stored.recorded {
            Some((State::Maintenance, since)) => since,
            Some((_, since)) => since.max(starts),
            None => starts,
        };
        return finish(uniform(State::Maintenance, &reason, Some(began)), Some(began), false, None);
    }

    let (Some(checked_at), Some((recorded, recorded_since))) = (stored.checked_at, stored.recorded) else {
        let reason = format!("not checked yet: {}", watch.why_unchecked);
        return finish(uniform(State::Unknown, &reason, None), None, true, None);
    };

    let stale_at = checked_at + stale_after(stored.poll_every);
    if now >= stale_at {
        let when = timefmt::stamp_at(checked_at);
        let reason = format!("not checked since {when}: {}", watch.why_unchecked);
        return finish(uniform(State::Unknown, &reason, Some(stale_at)), Some(stale_at), true, None);
    }

    // In the order the product shows them (moved, not copied: 5,000 products have 25,000
    // reasons); a metric never recorded is unknown.
    let mut recorded_metrics = stored.metrics;
    let mut metrics: Vec<Shown> = product
        .metrics
        .iter()
        .map(|m| match recorded_metrics.iter().position(|s| s.metric == *m) {
            Some(at) => recorded_metrics.swap_remove(at),
            None => {
                Shown { metric: m.clone(), state: State::Unknown, reason: "not checked yet".to_string(), since: None }
            }
        })
        .collect();
    let mut since = Some(recorded_since);
    if recorded == State::Maintenance {
        // The window is over (maybe early): since it ended, not since it began.
        let ended = stored.maintenance_ended.map_or(now, |end| end.max(recorded_since));
        for m in metrics.iter_mut().filter(|m| m.state == State::Maintenance) {
            m.state = State::Unknown;
            m.reason = "maintenance has ended; waiting for the next poll".into();
            m.since = Some(ended);
        }
        since = Some(ended);
    }
    let shown = finish(metrics, since, false, Some(stale_at));
    if shown.state != recorded && recorded != State::Maintenance {
        // A metric shown that the last poll did not record: since the product changed.
        return ShownProduct { since: Some(recorded_since), ..shown };
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> Product {
        Product {
            name: "Orders".into(),
            metrics: vec![Metric::Availability, Metric::Freshness],
            ..Product::new("fct_orders", "orders_daily")
        }
    }

    fn up(metric: Metric, since: i64) -> Shown {
        Shown { metric, state: State::Up, reason: "fine".into(), since: Some(since) }
    }

    const T: i64 = 1_790_000_000;

    fn poller(heartbeat: i64, released: bool) -> PollerSeen {
        PollerSeen { pid: 42, host: "jump-1".into(), heartbeat, released }
    }

    /// (case, checked_at, poll_every, poller, now) -> (state, first reason starts with)
    #[test]
    fn a_stored_state_is_shown_only_while_it_is_fresh() {
        let hb = |t| Some(poller(t, false));
        type Case<'a> = (&'a str, Option<i64>, Option<i64>, Option<PollerSeen>, i64, State, &'a str);
        let cases: &[Case] = &[
            ("just checked", Some(T), Some(300), hb(T), T + 60, State::Up, "fine"),
            (
                "3 intervals of 5 min is 15 min: still fresh at 14",
                Some(T),
                Some(300),
                hb(T + 840),
                T + 840,
                State::Up,
                "fine",
            ),
            (
                "15 min without a check while the poller beats",
                Some(T),
                Some(300),
                hb(T + 900),
                T + 900,
                State::Unknown,
                "not checked since 2026-09-21 14:13 UTC: the poller (pid 42 on jump-1) has not checked it since",
            ),
            ("a 1 min interval still waits 10 min", Some(T), Some(60), hb(T + 599), T + 599, State::Up, "fine"),
            (
                "the heartbeat stopped",
                Some(T),
                Some(60),
                hb(T + 5),
                T + 700,
                State::Unknown,
                "not checked since 2026-09-21 14:13 UTC: the poller (pid 42 on jump-1) stopped sending heartbeats at 2026-09-21 14:13 UTC",
            ),
            (
                "the poller left",
                Some(T),
                None,
                Some(poller(T + 10, true)),
                T + 600,
                State::Unknown,
                "not checked since 2026-09-21 14:13 UTC: no poller is running (last heartbeat 2026-09-21 14:13 UTC on jump-1)",
            ),
            (
                "never checked, nobody ever polled",
                None,
                None,
                None,
                T,
                State::Unknown,
                "not checked yet: no poller has run yet",
            ),
            (
                "never checked, a poller runs",
                None,
                None,
                hb(T),
                T,
                State::Unknown,
                "not checked yet: the poller (pid 42 on jump-1)",
            ),
        ];
        let product = product();
        for (case, checked_at, poll_every, seen, now, state, reason) in cases {
            let stored = Stored {
                product: &product,
                recorded: checked_at.map(|t| (State::Up, t - 3600)),
                metrics: vec![up(Metric::Availability, T - 3600), up(Metric::Freshness, T - 3600)],
                checked_at: *checked_at,
                poll_every: *poll_every,
                maintenance: None,
                maintenance_ended: None,
            };
            let shown = show(stored, &Watch::new(*now, seen.as_ref()));
            assert_eq!(shown.state, *state, "{case}");
            assert_eq!(shown.metrics.len(), 2, "{case}: every metric the product shows");
            for m in &shown.metrics {
                assert!(m.reason.starts_with(reason), "{case}: {}", m.reason);
            }
        }
    }

    #[test]
    fn maintenance_between_polls_shows_at_once_and_its_end_too() {
        let product = product();
        let notice = MaintenanceNotice {
            id: 1,
            message: "reload".into(),
            starts_at: chrono::DateTime::from_timestamp(T + 100, 0).unwrap(),
            ends_at: chrono::DateTime::from_timestamp(T + 3700, 0).unwrap(),
        };
        fn stored<'a>(
            product: &'a Product,
            recorded: State,
            maintenance: Option<&'a MaintenanceNotice>,
            ended: Option<i64>,
        ) -> Stored<'a> {
            let metric = |m| Shown { metric: m, state: recorded, reason: "r".into(), since: Some(T) };
            Stored {
                product,
                recorded: Some((recorded, T)),
                metrics: vec![metric(Metric::Availability), metric(Metric::Freshness)],
                checked_at: Some(T + 50),
                poll_every: Some(3600),
                maintenance,
                maintenance_ended: ended,
            }
        }
        let watch = Watch::new(T + 200, None);
        let began = show(stored(&product, State::Up, Some(&notice), None), &watch);
        assert_eq!(began.state, State::Maintenance);
        assert_eq!(began.since, Some(T + 100), "since the window began");
        assert!(began.metrics[0].reason.starts_with("planned maintenance until 2026-09-21 15:15 UTC: reload"));

        let ended = show(stored(&product, State::Maintenance, None, Some(T + 150)), &watch);
        assert_eq!(ended.state, State::Unknown);
        assert_eq!(ended.since, Some(T + 150), "since the window ended");
        assert_eq!(ended.metrics[1].reason, "maintenance has ended; waiting for the next poll");
    }

    #[test]
    fn a_fresh_product_says_when_it_will_go_stale() {
        let product = product();
        let stored = Stored {
            product: &product,
            recorded: Some((State::Up, T)),
            metrics: vec![up(Metric::Availability, T)],
            checked_at: Some(T),
            poll_every: Some(3600),
            maintenance: None,
            maintenance_ended: None,
        };
        let shown = show(stored, &Watch::new(T + 10, None));
        assert_eq!(shown.next_change, Some(T + 3 * 3600));
        assert_eq!(shown.metrics[1].state, State::Unknown, "a metric the last poll did not record");
        assert_eq!(shown.state, State::Unknown);
    }

    #[test]
    fn poller_states() {
        assert_eq!(PollerState::of(None, T), PollerState::None);
        assert_eq!(PollerState::of(Some(&poller(T, false)), T + 30), PollerState::Polling);
        assert_eq!(PollerState::of(Some(&poller(T, false)), T + 31), PollerState::Stale);
        assert_eq!(PollerState::of(Some(&poller(T, true)), T), PollerState::None);
    }
}
