//! An incident's timeline: automatic and human updates, status, ETA, durations.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::{clock, title_line};
use crate::model::State;
use crate::timefmt::span;
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(app: &App, theme: &Theme, id: i64, area: Rect, buf: &mut Buffer) {
    let Some(i) = app.incident.as_ref().filter(|i| i.id == id) else {
        title_line(theme, &format!("incident #{id}"), area, buf);
        Line::from(Span::styled("  loading…", theme.dim())).render(Rect { y: area.y + 1, height: 1, ..area }, buf);
        return;
    };
    let zone = app.snapshot.zone;
    title_line(theme, &format!("incident #{} · {}", i.id, i.title), area, buf);
    let open = i.resolved_at.is_none();
    let state = if open { State::Down } else { State::Up };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} {} ", theme.symbol(state), i.status), theme.state(state)),
        Span::styled(format!("· {} · {} · {}", i.severity, about(i), i.metrics.join(", ")), theme.dim()),
    ])];
    let mut facts =
        vec![format!("opened {}", clock(i.opened_at, zone)), format!("time to detect {}", span(i.time_to_detect()))];
    match i.resolved_at {
        Some(r) => facts.push(format!("resolved {} · time to resolve {}", clock(r, zone), span(r - i.opened_at))),
        None => facts.push(format!("open for {}", span(app.now - i.opened_at))),
    }
    if let Some(eta) = i.eta {
        facts.push(format!("ETA {}", clock(eta, zone)));
    }
    if let Some(closed) = i.closed_as() {
        facts.push(format!("closed as {closed}"));
    }
    if let Some(wait) = i.time_to_acknowledge() {
        let who = i.acknowledged_by.as_deref().unwrap_or("the data team");
        facts.push(format!("taken by {who} after {}", span(wait)));
    }
    lines.push(Line::from(Span::raw(facts.join(" · "))));
    if i.members.len() > 1 {
        // The tables its cause reached, each with when it joined and when it was back.
        let tables: Vec<String> = i
            .members
            .iter()
            .map(|m| match m.left_at {
                Some(left) => format!("{} {}–{}", m.product, clock(m.joined_at, zone), clock(left, zone)),
                None => format!("{} since {}", m.product, clock(m.joined_at, zone)),
            })
            .collect();
        lines.push(Line::from(Span::raw(format!("tables: {}", tables.join(" · ")))));
    }
    if let Some(affects) = i.affects() {
        lines.push(Line::from(Span::styled(affects, theme.warning())));
    }
    if app.closing == Some(i.id) {
        // The reasons, from the table the keys are read from.
        let reasons: Vec<String> =
            crate::tui::keys::REASONS.iter().map(|(key, reason)| format!("{key} {}", reason.words())).collect();
        let ask = format!("close #{} as: {} · any other key: leave it", i.id, reasons.join(" · "));
        lines.push(Line::from(Span::styled(ask, theme.title())));
    }
    lines.push(Line::from(""));
    for u in i.timeline() {
        let who = u.said_by();
        let mut spans = vec![
            Span::styled(format!("{}  ", clock(u.at, zone)), theme.dim()),
            Span::styled(format!("{who:<10} "), if u.automatic { theme.dim() } else { theme.title() }),
        ];
        if let Some(s) = u.status {
            spans.push(Span::styled(format!("[{s}] "), theme.warning()));
        }
        spans.push(Span::raw(super::fit(&u.message, 400)));
        if let Some(eta) = u.eta {
            spans.push(Span::styled(format!(" (ETA {})", clock(eta, zone)), theme.dim()));
        }
        lines.push(Line::from(spans));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area }, buf);
}

/// The table it is about, or how many its cause reached.
fn about(i: &crate::store::Incident) -> String {
    match i.table_count() {
        1 => i.product.clone(),
        n => format!("{n} tables"),
    }
}
