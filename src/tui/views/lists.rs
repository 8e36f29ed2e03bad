//! The incidents view (open first, then recent) and the maintenance view.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{clock, fit, title_line};
use crate::model::State;
use crate::store::{Incident, IncidentStatus};
use crate::timefmt::span;
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// `⚑ #12 investigating  Orders  opened 2 h ago, open for 2 h  uniqueness, freshness`
pub fn incident_line<'a>(app: &App, theme: &Theme, i: &Incident) -> Line<'a> {
    let open = i.resolved_at.is_none();
    let state = if open { State::Down } else { State::Up };
    let duration = i.resolved_at.unwrap_or(app.now) - i.opened_at;
    let name = app
        .snapshot
        .products
        .iter()
        .find(|p| p.product.id == i.product)
        .map_or(i.product.as_str(), |p| p.product.name.as_str());
    // An incident of a shared cause: the table that opened it, and how many more.
    let product = match i.table_count() {
        1 => name.to_string(),
        n => format!("{} +{}", fit(name, 13), n - 1),
    };
    let lasted = if open { format!("open {}", span(duration)) } else { format!("lasted {}", span(duration)) };
    Line::from(vec![
        Span::styled(format!("{} ", theme.symbol(state)), theme.state(state)),
        Span::raw(format!("#{:<4} ", i.id)),
        Span::styled(
            format!("{:<13} ", i.status.as_str()),
            if i.status == IncidentStatus::Resolved { theme.dim() } else { theme.warning() },
        ),
        Span::raw(format!("{:<18} ", fit(&product, 17))),
        Span::styled(format!("{} · {lasted}  ", clock(i.opened_at, app.snapshot.zone)), theme.dim()),
        Span::raw(i.metrics.join(", ")),
    ])
}

pub fn incidents(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let everything = &app.snapshot.incidents;
    let all = app.shown_incidents();
    let open = all.iter().filter(|i| i.resolved_at.is_none()).count();
    let title = if app.incident_filter.is_empty() {
        format!("incidents · {open} open, {} recent · ⏎ opens the timeline · / filters", all.len() - open)
    } else {
        format!("incidents · {} of {} match · {open} open", all.len(), everything.len())
    };
    title_line(theme, &theme.keys(&title), area, buf);
    if all.is_empty() {
        let why = if everything.is_empty() {
            "  No incidents. They open by themselves when a metric goes down."
        } else {
            "  No incident matches: Esc clears the filter."
        };
        Line::from(Span::styled(why, theme.dim())).render(Rect { y: area.y + 1, height: 1, ..area }, buf);
        return;
    }
    let page = area.height.saturating_sub(1) as usize;
    let offset = app.sub_selected.saturating_sub(page.saturating_sub(1));
    for (line, (index, i)) in all.into_iter().enumerate().skip(offset).take(page).enumerate() {
        let r = Rect { y: area.y + 1 + line as u16, height: 1, ..area };
        super::fit_line(incident_line(app, theme, i), r.width as usize).render(r, buf);
        if index == app.sub_selected {
            buf.set_style(r, theme.selected());
        }
    }
}

pub fn maintenance(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let windows = app.shown_windows();
    let title = if app.incident_filter.is_empty() {
        "maintenance · active and upcoming · / filters".to_string()
    } else {
        format!("maintenance · {} of {} match", windows.len(), app.snapshot.maintenance.len())
    };
    title_line(theme, &title, area, buf);
    if windows.is_empty() {
        let why = if app.snapshot.maintenance.is_empty() {
            "  No maintenance planned. Announce one with `tablestat maintenance add`."
        } else {
            "  No window matches: Esc clears the filter."
        };
        Line::from(Span::styled(why, theme.dim())).render(Rect { y: area.y + 1, height: 1, ..area }, buf);
        return;
    }
    // A notice is there to be read: its words wrap onto up to two more lines.
    let bottom = area.y + area.height;
    let mut y = area.y + 1;
    for (n, w) in windows.into_iter().enumerate() {
        if y >= bottom {
            break;
        }
        let active = w.is_active(app.now);
        let when = if active {
            format!("active, ends in {}", span(w.ends_at - app.now))
        } else {
            format!("starts in {}", span(w.starts_at - app.now))
        };
        let mut spans = vec![
            Span::styled(format!("{} ", theme.symbol(State::Maintenance)), theme.state(State::Maintenance)),
            Span::raw(format!("#{:<4} ", w.id)),
            Span::styled(
                format!("{} – {}  ", clock(w.starts_at, app.snapshot.zone), clock(w.ends_at, app.snapshot.zone)),
                theme.dim(),
            ),
            Span::styled(format!("{when}  "), if active { theme.state(State::Maintenance) } else { theme.dim() }),
        ];
        let indent: usize = spans.iter().map(Span::width).sum();
        let room = (area.width as usize).saturating_sub(indent).max(10);
        let top = y;
        for (line, piece) in super::wrap(&format!("{}: {}", w.scope, w.message), room, 3).into_iter().enumerate() {
            if y >= bottom {
                break;
            }
            if line > 0 {
                spans = vec![Span::raw(" ".repeat(indent))];
            }
            spans.push(Span::raw(piece));
            let r = Rect { y, height: 1, ..area };
            super::fit_line(Line::from(std::mem::take(&mut spans)), area.width as usize).render(r, buf);
            y += 1;
        }
        if n == app.sub_selected {
            buf.set_style(Rect { y: top, height: y - top, ..area }, theme.selected());
        }
    }
}

/// What changed over the last day, newest first: `11-24 11:02  ✔ → ✖  Orders  up → down  12 min ago`.
pub fn changes(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let changes = &app.snapshot.changes;
    let hours = crate::store::CHANGES_SINCE / 3600;
    title_line(theme, &theme.keys(&format!("changes · last {hours} h, newest first · ⏎ opens the product")), area, buf);
    if changes.is_empty() {
        Line::from(Span::styled(format!("  No product changed state in the last {hours} hours."), theme.dim()))
            .render(Rect { y: area.y + 1, height: 1, ..area }, buf);
        return;
    }
    let page = area.height.saturating_sub(1) as usize;
    let offset = app.sub_selected.saturating_sub(page.saturating_sub(1));
    let name = |id: &str| {
        app.snapshot.products.iter().find(|p| p.product.id == id).map_or(id.to_string(), |p| p.product.name.clone())
    };
    for (line, (index, c)) in changes.iter().enumerate().skip(offset).take(page).enumerate() {
        let r = Rect { y: area.y + 1 + line as u16, height: 1, ..area };
        let mut spans = vec![Span::styled(format!("{}  ", clock(c.at, app.snapshot.zone)), theme.dim())];
        match c.from {
            Some(from) => {
                spans.push(Span::styled(theme.symbol(from).to_string(), theme.state(from)));
                spans.push(Span::raw(" → "));
            }
            None => spans.push(Span::raw("    ")),
        }
        spans.push(Span::styled(format!("{}  ", theme.symbol(c.to)), theme.state(c.to)));
        spans.push(Span::raw(format!("{} ", super::pad(&name(&c.product), 19))));
        let what = match c.from {
            Some(from) => format!("{from} → {}", c.to),
            None => format!("first checked: {}", c.to),
        };
        spans.push(Span::styled(format!("{what:<22} "), theme.state(c.to)));
        spans.push(Span::styled(super::ago(c.at, app.now), theme.dim()));
        super::fit_line(Line::from(spans), r.width as usize).render(r, buf);
        if index == app.sub_selected {
            buf.set_style(r, theme.selected());
        }
    }
}
