//! The machine-readable status document: `status --json`, `poll --once --json`, `status.json`
//! (the README's "On a jump host" shows it). Scripts outside the repo read it: change it
//! only by adding fields.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::evaluate::shown::PollerState;
use crate::model::{Evidence, Metric, State, exit_code_for};
use crate::timefmt::rfc3339;

#[derive(Debug, Clone, Serialize)]
pub struct StatusDocument {
    pub generated_at: String,
    pub overall: State,
    pub summary: Summary,
    pub products: Vec<ProductStatus>,
    // Added fields (the contract allows adding):
    pub poller: PollerStatus,
    pub sources: Vec<SourceStatus>,
    /// `status --at`: the moment of the past this document shows (then `generated_at` is
    /// that moment too); absent for now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// Whether anyone is polling: a status nobody refreshes says so.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PollerStatus {
    pub state: PollerState,
    pub pid: Option<i64>,
    pub host: Option<String>,
    pub last_poll_at: Option<String>,
    pub last_poll_ok: Option<bool>,
    pub heartbeat_at: Option<String>,
}

/// What one source said at the last poll.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    pub reachable: bool,
    pub api: Option<String>,
    pub scheduler: Option<SchedulerStatus>,
    pub error: Option<String>,
    pub checked_at: Option<String>,
    /// Unreachable at every poll since then.
    pub failing_since: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SchedulerStatus {
    pub status: Option<String>,
    pub heartbeat_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub up: usize,
    pub degraded: usize,
    pub down: usize,
    pub maintenance: usize,
    pub unknown: usize,
}

impl Summary {
    /// The states that have products, worst first, with how many: the board's header.
    pub fn nonzero(&self) -> Vec<(State, usize)> {
        [
            (State::Down, self.down),
            (State::Degraded, self.degraded),
            (State::Unknown, self.unknown),
            (State::Maintenance, self.maintenance),
            (State::Up, self.up),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }

    /// How many products are in each state.
    pub fn of(states: impl Iterator<Item = State>) -> Summary {
        let mut summary = Summary::default();
        for state in states {
            *match state {
                State::Up => &mut summary.up,
                State::Degraded => &mut summary.degraded,
                State::Down => &mut summary.down,
                State::Maintenance => &mut summary.maintenance,
                State::Unknown => &mut summary.unknown,
            } += 1;
        }
        summary
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductStatus {
    pub id: String,
    pub name: String,
    pub group: String,
    pub state: State,
    pub metrics: MetricMap,
    /// Percent per window; `null` before any history.
    pub uptime: Option<Uptime>,
    pub incident: Option<IncidentRef>,
    pub maintenance: Option<MaintenanceRef>,
    pub checked_at: Option<String>,
    pub evidence: Evidence,
    // Added fields (the contract allows adding):
    pub description: Option<String>,
    pub owner: Option<String>,
    /// "refresh in progress: …" and the like.
    pub note: Option<String>,
    pub last_refreshed_at: Option<String>,
}

/// Metrics in the product's order, as a JSON object.
#[derive(Debug, Clone, Default)]
pub struct MetricMap(pub Vec<(Metric, MetricStatus)>);

impl Serialize for MetricMap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (metric, status) in &self.0 {
            map.serialize_entry(metric.as_str(), status)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MetricStatus {
    pub state: State,
    pub reason: String,
    pub since: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Uptime {
    #[serde(rename = "24h")]
    pub day: Option<f64>,
    #[serde(rename = "7d")]
    pub week: Option<f64>,
    #[serde(rename = "30d")]
    pub month: Option<f64>,
    #[serde(rename = "90d")]
    pub quarter: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentRef {
    pub id: i64,
    pub status: String,
    pub title: String,
    pub opened_at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MaintenanceRef {
    pub id: i64,
    pub message: String,
    pub starts_at: String,
    pub ends_at: String,
}

impl StatusDocument {
    pub fn new(
        generated_at: DateTime<Utc>,
        products: Vec<ProductStatus>,
        poller: PollerStatus,
        sources: Vec<SourceStatus>,
    ) -> StatusDocument {
        let summary = Summary::of(products.iter().map(|p| p.state));
        StatusDocument {
            generated_at: rfc3339(generated_at),
            overall: State::worst_of(products.iter().map(|p| p.state)).unwrap_or(State::Up),
            summary,
            products,
            poller,
            sources,
            as_of: None,
        }
    }

    /// 0 all up, 1 degraded, 2 down, 3 unknown (worst wins: down > degraded > unknown).
    pub fn exit_code(&self) -> i32 {
        exit_code_for(self.products.iter().map(|p| p.state))
    }

    /// The one-line verdict: "All data products operational" / "2 products down, 1 degraded".
    pub fn verdict(&self) -> String {
        verdict_line(&self.summary)
    }
}

pub fn verdict_line(s: &Summary) -> String {
    let total = s.up + s.degraded + s.down + s.maintenance + s.unknown;
    if total == 0 {
        return "No data products configured".into();
    }
    if s.up == total {
        return "All data products operational".into();
    }
    let mut parts = Vec::new();
    let noun = |n: usize| if n == 1 { "product" } else { "products" };
    let mut first = true;
    for (n, what) in
        [(s.down, "down"), (s.degraded, "degraded"), (s.unknown, "unknown"), (s.maintenance, "in maintenance")]
    {
        if n > 0 {
            parts.push(if first { format!("{n} {} {what}", noun(n)) } else { format!("{n} {what}") });
            first = false;
        }
    }
    parts.join(", ")
}

/// The status document from the store's snapshot; `only` picks products by id (all when
/// empty). The snapshot's states are already as shown ([`crate::evaluate::shown`]): a
/// product nobody checked lately is `unknown` here as on the board.
pub fn from_snapshot(snapshot: &crate::store::BoardSnapshot, only: &[String]) -> StatusDocument {
    use crate::store::WindowKind;
    let now = snapshot.generated_at;
    let at = |t: i64| DateTime::from_timestamp(t, 0).map(rfc3339);
    let products = snapshot
        .products
        .iter()
        .filter(|row| only.is_empty() || only.contains(&row.product.id))
        .map(|row| {
            let metrics = row
                .metrics
                .iter()
                .map(|m| {
                    let status = MetricStatus { state: m.state, reason: m.reason.clone(), since: m.since.and_then(at) };
                    (m.metric.clone(), status)
                })
                .collect();
            let uptime = WindowKind::ALL.map(|w| row.uptime(w));
            ProductStatus {
                id: row.product.id.clone(),
                name: row.product.name.clone(),
                group: row.product.group.clone(),
                state: row.state,
                metrics: MetricMap(metrics),
                uptime: uptime.iter().any(Option::is_some).then(|| Uptime {
                    day: uptime[0].map(round2),
                    week: uptime[1].map(round2),
                    month: uptime[2].map(round2),
                    quarter: uptime[3].map(round2),
                }),
                incident: row.open_incident.as_ref().map(|i| IncidentRef {
                    id: i.id,
                    status: i.status.as_str().to_string(),
                    title: i.title.clone(),
                    opened_at: at(i.opened_at).unwrap_or_default(),
                }),
                maintenance: row.maintenance.as_ref().map(|w| MaintenanceRef {
                    id: w.id,
                    message: w.message.clone(),
                    starts_at: at(w.starts_at).unwrap_or_default(),
                    ends_at: at(w.ends_at).unwrap_or_default(),
                }),
                checked_at: row.checked_at.and_then(at),
                evidence: row.evidence.clone(),
                description: row.product.description.clone(),
                owner: row.product.owner.clone(),
                note: row.note.clone(),
                last_refreshed_at: row.last_refresh.and_then(at),
            }
        })
        .collect();
    let health = &snapshot.poller;
    let seen = health.seen.as_ref();
    let poller = PollerStatus {
        state: health.state(now),
        pid: seen.map(|p| p.pid),
        host: seen.map(|p| p.host.clone()),
        last_poll_at: health.last_poll.as_ref().and_then(|(t, _, _)| at(*t)),
        last_poll_ok: health.last_poll.as_ref().map(|(_, ok, _)| *ok),
        heartbeat_at: seen.and_then(|p| at(p.heartbeat)),
    };
    let sources = snapshot
        .sources
        .iter()
        .map(|s| SourceStatus {
            name: s.health.name.clone(),
            kind: s.health.kind.clone(),
            reachable: s.health.reachable,
            api: s.health.api.clone(),
            scheduler: s
                .health
                .scheduler
                .as_ref()
                .map(|h| SchedulerStatus { status: h.status.clone(), heartbeat_at: h.heartbeat_at.map(rfc3339) }),
            error: s.health.error.clone(),
            checked_at: at(s.checked_at),
            failing_since: s.failing_since.and_then(at),
        })
        .collect();
    let mut doc = StatusDocument::new(DateTime::from_timestamp(now, 0).unwrap_or_default(), products, poller, sources);
    doc.as_of = snapshot.as_of.and_then(|t| DateTime::from_timestamp(t, 0)).map(rfc3339);
    doc
}

/// Two decimals, rounded down: any downtime at all never reads 100.
fn round2(x: f64) -> f64 {
    (x * 100.0).floor() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines() {
        let s = |up, degraded, down, maintenance, unknown| Summary { up, degraded, down, maintenance, unknown };
        assert_eq!(verdict_line(&s(3, 0, 0, 0, 0)), "All data products operational");
        assert_eq!(verdict_line(&s(3, 1, 2, 0, 0)), "2 products down, 1 degraded");
        assert_eq!(verdict_line(&s(3, 1, 0, 1, 0)), "1 product degraded, 1 in maintenance");
        assert_eq!(verdict_line(&s(0, 0, 0, 0, 0)), "No data products configured");
    }
}
