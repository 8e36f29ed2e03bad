//! The status document as text for people: a verdict, then one line per product and one
//! per metric that is not up. Colour only on a terminal and without `NO_COLOR`. Every
//! text from a source passes [`inert`]: a name or reason never drives the reader's terminal.

use std::fmt::Write;

use crate::model::State;
use crate::status_doc::StatusDocument;
use crate::text::inert;
use crate::theme;

pub fn render(doc: &StatusDocument, color: bool, ascii: bool) -> String {
    let paint = |state: State, text: &str| {
        if color { format!("\x1b[{}m{text}\x1b[0m", theme::ansi(state)) } else { text.to_string() }
    };
    let mut out = String::new();
    if let Some(at) = &doc.as_of {
        let at =
            chrono::DateTime::parse_from_rfc3339(at).map(|t| crate::timefmt::stamp(t.to_utc())).unwrap_or_default();
        let _ = writeln!(out, "As of {at}, from history: the states as they were then, not now.");
    }
    let _ = writeln!(out, "{} {}", paint(doc.overall, theme::symbol(doc.overall, ascii)), inert(&doc.verdict()));
    // Who polls now says nothing about the past.
    for line in health_lines(doc).into_iter().filter(|_| doc.as_of.is_none()) {
        let _ = writeln!(out, "{} {}", paint(State::Unknown, theme::symbol(State::Unknown, ascii)), inert(&line));
    }
    // "Orders (fct_orders)": the name people see and the id commands take.
    let title = |p: &crate::status_doc::ProductStatus| {
        if p.name == p.id { inert(&p.name).into_owned() } else { format!("{} ({})", inert(&p.name), inert(&p.id)) }
    };
    let name_width = doc.products.iter().map(|p| title(p).chars().count()).max().unwrap_or(0).min(48);
    // Worst first, as people read a status page; the JSON keeps the stable group order.
    let mut products: Vec<&crate::status_doc::ProductStatus> = doc.products.iter().collect();
    products.sort_by(|a, b| a.state.cmp(&b.state).then_with(|| a.name.cmp(&b.name)));
    for p in products {
        let label = format!("{} {:<11}", theme::symbol(p.state, ascii), p.state.as_str());
        let checked = match (checked(p.checked_at.as_deref()), checked(Some(&doc.generated_at))) {
            (Some(at), Some(now)) => format!("  checked {}", crate::timefmt::ago(at, now)),
            _ => "  never checked".to_string(),
        };
        let _ = writeln!(out, "{} {:<name_width$}  {:<12}{checked}", paint(p.state, &label), title(p), inert(&p.group));
        for (metric, status) in &p.metrics.0 {
            if status.state != State::Up {
                let _ = writeln!(
                    out,
                    "    {:<13} {} {}",
                    metric.as_str(),
                    paint(status.state, &format!("{:<11}", status.state.as_str())),
                    inert(&status.reason)
                );
            }
        }
        if let Some(note) = &p.note {
            let _ = writeln!(out, "    {}", inert(note));
        }
    }
    out
}

/// What a reader must know before trusting the lines below: nobody polling, a source
/// that cannot be reached, a scheduler that stopped.
fn health_lines(doc: &StatusDocument) -> Vec<String> {
    use crate::evaluate::shown::PollerState;
    let mut lines = Vec::new();
    let poller = &doc.poller;
    let at = |t: &Option<String>| checked(t.as_deref()).map(crate::timefmt::stamp);
    match poller.state {
        PollerState::Polling => {}
        PollerState::Stale => lines.push(format!(
            "the poller (pid {} on {}) stopped sending heartbeats at {}",
            poller.pid.unwrap_or_default(),
            poller.host.as_deref().unwrap_or("?"),
            at(&poller.heartbeat_at).unwrap_or_else(|| "?".into())
        )),
        // `poll --once` from cron holds no lease between runs: only an old last poll is news.
        PollerState::None if !doc.products.is_empty() => {
            let last = checked(poller.last_poll_at.as_deref());
            let now = checked(Some(&doc.generated_at));
            let old = match (last, now) {
                (Some(last), Some(now)) => (now - last).num_seconds() >= crate::evaluate::shown::MIN_STALE_AFTER,
                _ => true,
            };
            if old {
                lines.push(match last {
                    Some(last) => format!(
                        "no poller is running (last poll {}): start `tablestat poll`",
                        crate::timefmt::stamp(last)
                    ),
                    None => "no poller has run yet: start `tablestat poll`".to_string(),
                });
            }
        }
        PollerState::None => {}
    }
    for source in &doc.sources {
        if !source.reachable {
            let why = source.error.as_deref().unwrap_or("no answer");
            lines.push(format!("{} could not be read at the last poll: {why}", source.name));
        } else if let Some(scheduler) = source.scheduler.as_ref().filter(|s| s.status.as_deref() != Some("healthy")) {
            let since = at(&scheduler.heartbeat_at).map(|t| format!(", last heartbeat {t}")).unwrap_or_default();
            let status = scheduler.status.as_deref().unwrap_or("unknown");
            lines.push(format!("{}: the scheduler is {status}{since}", source.name));
        }
    }
    lines
}

fn checked(at: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(at?).ok().map(|t| t.with_timezone(&chrono::Utc))
}
