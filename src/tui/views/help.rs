//! Help, drawn from the same key table that handles keys, and the legend of symbols.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::title_line;
use crate::model::{Metric, State};
use crate::tui::keys::BINDINGS;
use crate::tui::theme::Theme;

use crate::tui::keys::HELP_LEGEND_LINES as LEGEND_LINES;

/// The help, scrolled down by `scroll` lines when it does not fit (a small terminal).
pub fn render(theme: &Theme, scroll: usize, area: Rect, buf: &mut Buffer) {
    let labels: Vec<_> = BINDINGS.iter().map(|b| theme.keys(b.label)).collect();
    let column = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(8) + 2;
    let mut lines: Vec<Line> = BINDINGS
        .iter()
        .zip(&labels)
        .map(|(b, label)| Line::from(vec![Span::styled(format!("  {label:<column$}"), theme.key()), Span::raw(b.help)]))
        .collect();
    lines.push(Line::from(vec![
        Span::styled(format!("  {:<column$}", "mouse"), theme.key()),
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
    lines.push(Line::from(vec![
        Span::raw("  "),
        Span::styled(if theme.ascii { "+" } else { "•" }, theme.title()),
        Span::raw(format!(
            "       changed state in the last {} min (e lists the changes); FOR: how long in its state",
            crate::tui::app::RECENT / 60
        )),
    ]));
    // The list's column headings, spelt out: three letters mean little to an analyst.
    let spelt: Vec<String> =
        Metric::standard().iter().map(|m| format!("{} {}", super::list::abbreviation(m), m.as_str())).collect();
    lines.push(Line::from(format!("  columns {}", spelt[..4].join(" · "))));
    lines.push(Line::from(format!("          {}; a team's own metric: its first letters", spelt[4..].join(" · "))));
    lines.push(Line::from(Span::styled("  uptime  leaves out maintenance, unknown and no-data time;", theme.dim())));
    lines.push(Line::from(Span::styled("          degraded counts as available.", theme.dim())));
    lines.push(Line::from(Span::styled(
        "  refresh lag (a product's detail): how long after its data interval ended each run",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled("          finished; one bar a run, the newest at the right.", theme.dim())));
    debug_assert_eq!(lines.len(), BINDINGS.len() + LEGEND_LINES);
    let room = area.height.saturating_sub(1) as usize;
    let top = scroll.min(lines.len().saturating_sub(room));
    let title = if lines.len() > room { "help · j/k scroll · Esc goes back" } else { "help · Esc goes back" };
    title_line(theme, title, area, buf);
    let width = area.width as usize;
    Paragraph::new(lines.into_iter().map(|line| super::fit_line(line, width)).collect::<Vec<_>>())
        .scroll((top as u16, 0))
        .render(Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area }, buf);
}
