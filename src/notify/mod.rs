//! Notifications: what happened (incidents opened, updated, resolved; maintenance started,
//! ended) as events, and the webhooks that hear about them.
//!
//! Events are written by the store in the same transaction as the change they describe, so
//! a kill can neither lose one nor send one twice for a change that was rolled back. Each
//! webhook gets its own delivery row; [`deliver`] sends them from the poller, off the
//! polling path, retrying with backoff.

pub mod deliver;

pub use crate::event::{Event, EventIncident, EventKind, EventMaintenance, EventProduct, Format, Route};
use crate::model::State;

impl Event {
    /// The body for a webhook of `format`.
    pub fn payload(&self, format: Format) -> serde_json::Value {
        match format {
            Format::Json => serde_json::to_value(self).unwrap_or_default(),
            Format::Slack => self.slack(),
        }
    }

    /// One line: "Incident opened: Orders is down: uniqueness".
    pub fn headline(&self) -> String {
        let what = match (&self.incident, &self.maintenance, &self.product) {
            (Some(i), _, _) => i.title.clone(),
            (None, Some(m), _) => format!("planned maintenance of {}", m.scope),
            (None, None, Some(p)) => p.name.clone(),
            (None, None, None) => String::new(),
        };
        format!("{}: {what}", self.event.title())
    }

    fn slack(&self) -> serde_json::Value {
        use serde_json::json;
        let symbol = |state: State| match state {
            State::Up => ":large_green_circle:",
            State::Degraded => ":large_yellow_circle:",
            State::Down => ":red_circle:",
            State::Maintenance => ":large_blue_circle:",
            State::Unknown => ":white_circle:",
        };
        let mut fields = Vec::new();
        if let Some(p) = &self.product {
            fields.push(format!("*Table*\n{} (`{}`)", slack_escape(&p.name), slack_escape(&p.id)));
            fields.push(format!("*Group*\n{}", slack_escape(&p.group)));
        }
        if let Some(state) = self.state {
            fields.push(format!("*State*\n{} {state}", symbol(state)));
        }
        if let Some(i) = &self.incident {
            fields.push(format!("*Incident*\n#{} {} ({})", i.id, i.status, i.severity));
            if let Some(eta) = &i.eta {
                fields.push(format!("*ETA*\n{eta}"));
            }
        }
        if let Some(m) = &self.maintenance {
            fields.push(format!("*Scope*\n{}", slack_escape(&m.scope)));
            fields.push(format!("*Window*\n{} → {}", m.starts_at, m.ends_at));
        }
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&self.headline(), 150)}}),
            json!({"type": "section", "fields": fields.iter().map(|f| json!({"type": "mrkdwn", "text": f})).collect::<Vec<_>>()}),
        ];
        if !self.message.is_empty() {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&slack_escape(&self.message), 2900)}}));
        }
        if let Some(link) = &self.link {
            blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<{link}|Open in tablestat>")}]}));
        }
        let text = match self.state {
            Some(state) => format!("{} {}", symbol(state), self.headline()),
            None => self.headline(),
        };
        json!({"text": text, "blocks": blocks})
    }
}

/// Events a Slack digest lists one by one; the rest are counted (Slack takes 50 blocks).
const SLACK_DIGEST_LINES: usize = 45;

/// One message for the events of a digest period, oldest first: JSON
/// `{"event": "digest", "since", "until", "count", "events": [generic payloads]}`, or for
/// Slack a header and a line per event.
pub fn digest_payload(events: &[Event], format: Format, until: i64) -> serde_json::Value {
    use serde_json::json;
    let since = events.first().map(|e| e.at.clone()).unwrap_or_default();
    let until = crate::timefmt::rfc3339_at(until);
    match format {
        Format::Json => json!({
            "event": "digest",
            "since": since,
            "until": until,
            "count": events.len(),
            "events": events.iter().map(|e| e.payload(Format::Json)).collect::<Vec<_>>(),
        }),
        Format::Slack => {
            let title =
                format!("tablestat: {} change{} since {since}", events.len(), if events.len() == 1 { "" } else { "s" });
            let mut blocks =
                vec![json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&title, 150)}})];
            for e in events.iter().take(SLACK_DIGEST_LINES) {
                let mut text = format!("*{}* ({})", slack_escape(&e.headline()), e.at);
                if !e.message.is_empty() {
                    text.push_str(&format!("\n{}", truncate(&slack_escape(&e.message), 300)));
                }
                if let Some(link) = &e.link {
                    text.push_str(&format!("\n<{link}|Open in tablestat>"));
                }
                blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
            }
            if events.len() > SLACK_DIGEST_LINES {
                let more = format!("and {} more", events.len() - SLACK_DIGEST_LINES);
                blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]}));
            }
            json!({"text": title, "blocks": blocks})
        }
    }
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident_event(product: &str, group: &str) -> Event {
        Event {
            event: EventKind::IncidentOpened,
            at: "2026-11-23T06:05:00Z".into(),
            affected: Vec::new(),
            product: Some(EventProduct {
                id: product.into(),
                name: "Orders".into(),
                group: group.into(),
                owner: Some("finance-data, BI".into()),
            }),
            group: None,
            state: Some(State::Down),
            incident: Some(EventIncident {
                id: 12,
                title: "Orders is down: uniqueness".into(),
                status: crate::model::IncidentStatus::Investigating,
                severity: crate::model::Severity::Minor,
                metrics: vec!["uniqueness".into()],
                eta: None,
            }),
            maintenance: None,
            message: "uniqueness down: test <unique_order_id> failed & 3 rows".into(),
            link: Some("https://status.example.com/#fct_orders".into()),
        }
    }

    #[test]
    fn routes_pick_by_product_group_owner_and_event() {
        let event = incident_event("fct_orders", "Sales");
        let route = |products: &[&str], groups: &[&str], events: &[EventKind]| Route {
            products: products.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            owners: Vec::new(),
            events: events.to_vec(),
        };
        let owned =
            |owners: &[&str]| Route { owners: owners.iter().map(|s| s.to_string()).collect(), ..route(&[], &[], &[]) };
        let cases = [
            // the product's owner names two teams: either one hears it, in any case
            (owned(&["finance-data"]), true),
            (owned(&["bi"]), true),
            (owned(&["marketing"]), false),
            (owned(&["finance"]), false),
            (route(&[], &[], &[]), true),
            (route(&["fct_orders"], &[], &[]), true),
            (route(&["dim_customers"], &[], &[]), false),
            (route(&[], &["Sales"], &[]), true),
            (route(&[], &["Finance"], &[]), false),
            (route(&["dim_customers"], &["Sales"], &[]), true),
            (route(&[], &[], &[EventKind::IncidentResolved]), false),
            (route(&[], &["Sales"], &[EventKind::IncidentOpened]), true),
        ];
        for (route, expected) in cases {
            assert_eq!(route.matches(&event), expected, "{route:?}");
        }
        let everything =
            Event { event: EventKind::MaintenanceStarted, product: None, group: None, incident: None, ..event.clone() };
        assert!(route(&["x"], &[], &[]).matches(&everything), "maintenance of all reaches every route");
        let finance = Event { group: Some("Finance".into()), ..everything };
        assert!(route(&[], &["Finance"], &[]).matches(&finance));
        assert!(!route(&[], &["Sales"], &[]).matches(&finance));
        assert!(!owned(&["finance-data"]).matches(&finance), "a group's maintenance has no owner to route by");
        let unowned = Event {
            product: Some(EventProduct { owner: None, ..incident_event("x", "Sales").product.unwrap() }),
            ..incident_event("x", "Sales")
        };
        assert!(!owned(&["finance-data"]).matches(&unowned));
        // An incident of several tables reaches the owner of any of them.
        let shared =
            Event { affected: vec![unowned.product.clone().unwrap(), event.product.clone().unwrap()], ..unowned };
        assert!(owned(&["finance-data"]).matches(&shared));
        assert!(route(&["fct_orders"], &[], &[]).matches(&shared));
    }

    #[test]
    fn a_digest_is_due_at_the_end_of_its_clock_period() {
        let routing = |digest| crate::event::Routing { name: "x".into(), route: Route::default(), digest };
        let t = 1_795_000_000; // 2026-11-18 11:06:40 UTC
        assert_eq!(routing(None).send_at(t), t);
        assert_eq!(routing(Some(3600)).send_at(t), 1_795_003_200, "the next full hour");
        assert_eq!(routing(Some(3600)).send_at(1_795_003_200), 1_795_006_800, "a boundary belongs to the next period");
        assert_eq!(routing(Some(86_400)).send_at(t) % 86_400, 0, "midnight UTC");
    }

    #[test]
    fn a_digest_lists_every_event_in_one_message() {
        let events: Vec<Event> = (0..50)
            .map(|i| Event { message: format!("change {i}"), ..incident_event("fct_orders", "Sales") })
            .collect();
        let json = digest_payload(&events[..3], Format::Json, 1_795_003_200);
        assert_eq!((json["event"].as_str(), json["count"].as_u64()), (Some("digest"), Some(3)));
        assert_eq!(json["until"], "2026-11-18T12:00:00Z");
        assert_eq!(json["events"][2]["message"], "change 2");
        assert_eq!(json["events"][0]["product"]["owner"], "finance-data, BI");
        let slack = digest_payload(&events, Format::Slack, 1_795_003_200);
        let blocks = slack["blocks"].as_array().unwrap();
        assert_eq!(slack["text"], "tablestat: 50 changes since 2026-11-23T06:05:00Z");
        assert_eq!(blocks.len(), 1 + 45 + 1, "header, 45 lines, and a count of the rest");
        assert_eq!(blocks[46]["elements"][0]["text"], "and 5 more");
        assert_eq!(
            blocks[1]["text"]["text"],
            "*Incident opened: Orders is down: uniqueness* (2026-11-23T06:05:00Z)\nchange 0\n<https://status.example.com/#fct_orders|Open in tablestat>"
        );
    }

    #[test]
    fn slack_payload_has_fallback_text_blocks_and_escapes_markup() {
        let body = incident_event("fct_orders", "Sales").payload(Format::Slack);
        assert_eq!(body["text"], ":red_circle: Incident opened: Orders is down: uniqueness");
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        let fields: Vec<&str> =
            blocks[1]["fields"].as_array().unwrap().iter().map(|f| f["text"].as_str().unwrap()).collect();
        assert!(fields.contains(&"*Table*\nOrders (`fct_orders`)"), "{fields:?}");
        assert!(fields.contains(&"*State*\n:red_circle: down"), "{fields:?}");
        assert_eq!(blocks[2]["text"]["text"], "uniqueness down: test &lt;unique_order_id&gt; failed &amp; 3 rows");
        assert_eq!(blocks[3]["elements"][0]["text"], "<https://status.example.com/#fct_orders|Open in tablestat>");
    }

    #[test]
    fn generic_payload_is_the_event() {
        let event = incident_event("fct_orders", "Sales");
        let body = event.payload(Format::Json);
        assert_eq!(body["event"], "incident_opened");
        assert_eq!(body["product"]["id"], "fct_orders");
        assert_eq!(body["incident"]["id"], 12);
        assert_eq!(serde_json::from_value::<Event>(body).unwrap(), event);
    }
}
