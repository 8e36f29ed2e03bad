//! What happened, as the store records it and webhooks hear it: incidents opened, updated,
//! resolved; maintenance started, ended. The payload shapes and which webhook hears what;
//! sending them is [`crate::notify`]'s.

use serde::{Deserialize, Serialize};

use crate::model::{IncidentStatus, Severity, State};

/// What happened. The names are the `event` field of the generic payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    IncidentOpened,
    IncidentUpdated,
    IncidentResolved,
    MaintenanceStarted,
    MaintenanceEnded,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::IncidentOpened,
        EventKind::IncidentUpdated,
        EventKind::IncidentResolved,
        EventKind::MaintenanceStarted,
        EventKind::MaintenanceEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::IncidentOpened => "incident_opened",
            EventKind::IncidentUpdated => "incident_updated",
            EventKind::IncidentResolved => "incident_resolved",
            EventKind::MaintenanceStarted => "maintenance_started",
            EventKind::MaintenanceEnded => "maintenance_ended",
        }
    }

    /// "Incident opened", for people.
    pub fn title(self) -> &'static str {
        match self {
            EventKind::IncidentOpened => "Incident opened",
            EventKind::IncidentUpdated => "Incident updated",
            EventKind::IncidentResolved => "Incident resolved",
            EventKind::MaintenanceStarted => "Maintenance started",
            EventKind::MaintenanceEnded => "Maintenance ended",
        }
    }
}

/// One event: the generic webhook payload, as stored. Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event: EventKind,
    pub at: String,
    /// The product concerned; `None` for maintenance of a group or of everything.
    pub product: Option<EventProduct>,
    /// Every table the incident affects (its root cause reached them all), when more than
    /// the product: routes by product, group and owner hear of any of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<EventProduct>,
    /// The group a group-wide maintenance covers.
    pub group: Option<String>,
    /// The product's state when the event was written.
    pub state: Option<State>,
    pub incident: Option<EventIncident>,
    pub maintenance: Option<EventMaintenance>,
    /// What changed, in words: the reasons, or the human update's message.
    pub message: String,
    /// Where to look: the status page when exported with a URL, else the dbt run.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventProduct {
    pub id: String,
    pub name: String,
    pub group: String,
    /// Who owns the table (config `owner`, or the dbt model's `meta.owner`): routes by
    /// `[[notify]] owners`. Left out when nobody is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventIncident {
    pub id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub severity: Severity,
    pub metrics: Vec<String>,
    pub eta: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMaintenance {
    pub id: i64,
    /// "all products", "group Finance", "product fct_orders".
    pub scope: String,
    pub starts_at: String,
    pub ends_at: String,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The event as JSON (see [`Event`]).
    #[default]
    Json,
    /// Slack's incoming-webhook shape: a text fallback and blocks.
    Slack,
}

/// A webhook as routing sees it: its name, what it hears, and its digest period (seconds),
/// if it hears in digests.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub name: String,
    pub route: Route,
    pub digest: Option<i64>,
}

impl Routing {
    /// When an event routed at `now` goes out: at once, or at the end of the digest period
    /// it falls in (periods aligned to the clock, so `1h` sends at each full hour).
    pub fn send_at(&self, now: i64) -> i64 {
        match self.digest.filter(|p| *p > 0) {
            Some(period) => (now.div_euclid(period) + 1) * period,
            None => now,
        }
    }
}

/// Which events a webhook hears. Empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Route {
    pub products: Vec<String>,
    pub groups: Vec<String>,
    /// Owners whose tables this webhook hears about (a product's `owner` may name several,
    /// "finance-data, bi": any of them matches), so an alert reaches the table's owner
    /// rather than the whole channel.
    pub owners: Vec<String>,
    pub events: Vec<EventKind>,
}

impl Route {
    pub fn matches(&self, event: &Event) -> bool {
        if !self.events.is_empty() && !self.events.contains(&event.event) {
            return false;
        }
        if self.products.is_empty() && self.groups.is_empty() && self.owners.is_empty() {
            return true;
        }
        let owned = |p: &EventProduct| {
            p.owner.as_deref().is_some_and(|owner| {
                owner.split(',').map(str::trim).any(|o| self.owners.iter().any(|wanted| wanted.eq_ignore_ascii_case(o)))
            })
        };
        let hears = |p: &EventProduct| self.products.contains(&p.id) || self.groups.contains(&p.group) || owned(p);
        match (&event.product, &event.group) {
            (Some(p), _) => hears(p) || event.affected.iter().any(hears),
            (None, Some(group)) => self.groups.contains(group),
            // Maintenance of everything concerns every route.
            (None, None) => true,
        }
    }
}
