//! Help, drawn from the same key table that handles keys, and the legend of symbols.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::rule;
use crate::model::State;
use crate::tui::keys::BINDINGS;
use crate::tui::theme::Theme;

pub fn render(theme: &Theme, area: Rect, buf: &mut Buffer) {
    rule(theme, "help · Esc goes back", area, buf);
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .map(|b| Line::from(vec![Span::styled(format!("  {:<10}", b.label), theme.key()), Span::raw(b.help)]))
        .collect();
    lines.push(Line::from(vec![
        Span::styled("  mouse     ", theme.key()),
        Span::raw("click selects, click again opens, wheel scrolls"),
    ]));
    lines.push(Line::from(""));
    let mut legend = vec![Span::raw("  states  ")];
    for s in State::ALL {
        legend.push(Span::styled(format!("{} {}  ", theme.symbol(s), s), theme.state(s)));
    }
    lines.push(Line::from(legend));
    let mut bars = vec![Span::raw("  bars    ")];
    for s in State::ALL {
        bars.push(Span::styled(format!("{} {}  ", theme.bar(Some(s)), s), theme.bar_style(Some(s))));
    }
    bars.push(Span::styled(format!("{} no data", theme.bar(None)), theme.dim()));
    lines.push(Line::from(bars));
    lines.push(Line::from(vec![
        Span::raw("  "),
        Span::styled(if theme.ascii { "*" } else { "⚑" }, theme.state(State::Down)),
        Span::raw("       an open incident (i lists them)"),
    ]));
    lines.push(Line::from(Span::styled(
        "  uptime leaves out maintenance, unknown and no-data time; degraded counts as available.",
        theme.dim(),
    )));
    Paragraph::new(lines).render(Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area }, buf);
}
