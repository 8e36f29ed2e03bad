//! The product list: grouped, one row per product, a cell per metric, uptime, a 90-day
//! bar sparkline, the incident marker and "checked 2 min ago". Only the rows on screen
//! are drawn, so 5,000 products cost what 20 do. Columns drop by priority when narrow.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{ago, fit, percent, title_line};
use crate::model::{Metric, State};
use crate::store::{ProductRow, WindowKind};
use crate::tui::app::{App, Row};
use crate::tui::theme::Theme;

/// Lines above the first row: the rule and the column header.
pub const CHROME: u16 = 2;

/// Which columns fit, and how wide.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    name: usize,
    metrics: bool,
    uptime: bool,
    checked: bool,
    bars: usize,
}

const SYMBOL: usize = 2;
const METRIC: usize = 4;
const UPTIME: usize = 8;
const CHECKED: usize = 12;
const INCIDENT: usize = 2;
const MIN_NAME: usize = 14;
const MIN_BARS: usize = 7;

fn columns(width: usize, metric_count: usize, longest_name: usize) -> Columns {
    let metrics_w = metric_count * METRIC;
    let mut c = Columns { name: 0, metrics: true, uptime: true, checked: true, bars: 0 };
    let fixed = |c: &Columns| {
        SYMBOL
            + INCIDENT
            + if c.metrics { metrics_w } else { 0 }
            + if c.uptime { UPTIME } else { 0 }
            + if c.checked { CHECKED } else { 0 }
    };
    // Drop columns by priority until the name fits: checked, then uptime, then metrics.
    for drop in 0..=3 {
        match drop {
            1 => c.checked = false,
            2 => c.uptime = false,
            3 => c.metrics = false,
            _ => {}
        }
        if width >= fixed(&c) + MIN_NAME {
            break;
        }
    }
    let room = width.saturating_sub(fixed(&c));
    // Names get what the longest needs (14 to 28 columns); bars take what is left (up to
    // 90 days), if 7 fit.
    let wanted = (longest_name + 3).clamp(MIN_NAME, 28);
    c.name = room.min(wanted).max(room.saturating_sub(crate::store::BAR_DAYS + 1));
    let left = room.saturating_sub(c.name);
    if left > MIN_BARS {
        c.bars = (left - 1).min(crate::store::BAR_DAYS);
    } else {
        c.name = room;
    }
    c
}

/// The list's column heading for a metric (the help spells the standard ones out).
pub(super) fn abbreviation(metric: &Metric) -> String {
    match metric {
        Metric::Availability => "AVL".into(),
        Metric::Freshness => "FRS".into(),
        Metric::Correctness => "COR".into(),
        Metric::Uniqueness => "UNQ".into(),
        Metric::Completeness => "CMP".into(),
        Metric::Custom(name) => name.chars().take(3).collect::<String>().to_uppercase(),
    }
}

pub fn render(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let metrics = &app.metric_columns;
    let cols = columns(area.width as usize, metrics.len(), app.longest_name);
    let shown = app.rows.len();
    let title = if app.snapshot.products.is_empty() {
        "no products yet".to_string()
    } else {
        format!("{} of {} products", app.shown_products, app.snapshot.products.len())
    };
    title_line(theme, &title, area, buf);
    if area.height < 2 {
        return;
    }
    // Column header.
    let mut head: Vec<Span> = vec![
        Span::raw(" ".repeat(SYMBOL)),
        Span::styled(format!("{:<w$}", "PRODUCT", w = cols.name), theme.header_row()),
    ];
    if cols.metrics {
        for m in metrics {
            head.push(Span::styled(format!("{:<METRIC$}", abbreviation(m)), theme.header_row()));
        }
    }
    if cols.uptime {
        head.push(Span::styled(format!("{:>7} ", app.window.label()), theme.header_row()));
    }
    if cols.bars > 0 {
        let label = if app.window == WindowKind::Day {
            format!("{} HOURS", cols.bars.min(24))
        } else {
            format!("{} DAYS", cols.bars)
        };
        head.push(Span::styled(format!(" {label:<w$}", w = cols.bars), theme.header_row()));
    }
    head.push(Span::raw(" ".repeat(INCIDENT)));
    if cols.checked {
        head.push(Span::styled(format!("{:<CHECKED$}", "CHECKED"), theme.header_row()));
    }
    Line::from(head).render(Rect { y: area.y + 1, height: 1, ..area }, buf);

    if app.snapshot.products.is_empty() {
        empty_state(app, theme, Rect { y: area.y + CHROME, height: area.height.saturating_sub(CHROME), ..area }, buf);
        return;
    }
    if shown == 0 {
        let why = match (app.filter.is_empty(), app.faults_only) {
            (true, true) => "  No faults: every product is up or in planned maintenance (f shows them all).",
            (false, true) => "  Nothing matches: Esc clears the filter, f shows all states.",
            _ => "  Nothing matches: Esc clears the filter.",
        };
        Line::from(Span::styled(why, theme.dim())).render(Rect { y: area.y + CHROME, height: 1, ..area }, buf);
        return;
    }
    let page = area.height.saturating_sub(CHROME) as usize;
    for (line, index) in (app.offset..(app.offset + page).min(shown)).enumerate() {
        let y = area.y + CHROME + line as u16;
        let row_area = Rect { x: area.x, y, width: area.width, height: 1 };
        match &app.rows[index] {
            Row::Group { name, count, worst } => {
                Line::from(vec![
                    Span::styled(format!("{} ", theme.symbol(*worst)), theme.state(*worst)),
                    Span::styled(format!("{name} ({count})"), theme.group()),
                ])
                .render(row_area, buf);
            }
            Row::Product(i) => {
                let row = &app.snapshot.products[*i];
                render_product(app, theme, row, metrics, &cols, row_area, buf);
                if index == app.selected {
                    buf.set_style(row_area, theme.selected());
                }
            }
        }
    }
}

/// One product's row: its name, metric cells and uptime as a line; the bar sparkline's
/// cells written straight into the buffer (they are most of a wide row, and each is one
/// column wide, so they need no grapheme segmentation); then the marker and "checked".
fn render_product(
    app: &App,
    theme: &Theme,
    row: &ProductRow,
    metrics: &[Metric],
    cols: &Columns,
    area: Rect,
    buf: &mut Buffer,
) {
    let indent = if app.grouped { " " } else { "" };
    let name_w = cols.name.saturating_sub(indent.len());
    let mut spans: Vec<Span> = vec![
        Span::styled(format!("{} ", theme.symbol(row.state)), theme.state(row.state)),
        Span::raw(format!("{indent}{:<name_w$}", fit(&row.product.name, name_w.saturating_sub(1)))),
    ];
    if cols.metrics {
        for m in metrics {
            match row.metrics.iter().find(|r| r.metric == *m) {
                Some(r) => spans.push(Span::styled(
                    format!(" {:<w$}", theme.symbol(r.state), w = METRIC - 1),
                    theme.state(r.state),
                )),
                None if row.product.metrics.contains(m) => spans.push(Span::styled(" ·  ", theme.dim())),
                None => spans.push(Span::raw("    ")),
            }
        }
    }
    if cols.uptime {
        let uptime = row.uptime(app.window);
        let below_slo = match (uptime, row.product.slo) {
            (Some(u), Some(slo)) => u < slo,
            _ => false,
        };
        let style = if below_slo { theme.state(State::Degraded) } else { ratatui::style::Style::new() };
        spans.push(Span::styled(format!("{:>7} ", percent(uptime)), style));
    }
    let left = Line::from(spans);
    let mut x = area.x.saturating_add(left.width() as u16).min(area.right());
    left.render(area, buf);
    if cols.bars > 0 {
        // The 24 h window shows the last 24 hours, an hour a cell; the others a day a cell.
        let cells = if app.window == WindowKind::Day { &row.hour_bars } else { &row.bars };
        let shown = &cells[cells.len().saturating_sub(cols.bars)..];
        // One space, then the newest cell at the right of the column.
        x = x.saturating_add((1 + cols.bars - shown.len()) as u16);
        for day in shown {
            if x >= area.right() {
                break;
            }
            buf[(x, area.y)].set_symbol(theme.bar(*day)).set_style(theme.bar_style(*day));
            x += 1;
        }
    }
    let marker = if row.open_incident.is_some() { if theme.ascii { "*" } else { "⚑" } } else { " " };
    let mut right = vec![Span::styled(format!("{marker} "), theme.state(State::Down))];
    if cols.checked {
        let checked = row.checked_at.map(|t| ago(t, app.now)).unwrap_or_else(|| "never".into());
        right.push(Span::styled(fit(&checked, CHECKED), theme.dim()));
    }
    if x < area.right() {
        Line::from(right).render(Rect { x, width: area.right() - x, ..area }, buf);
    }
}

/// A first run: nothing polled yet. Say what is happening and what to do.
fn empty_state(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let lines = [
        "No data products have been polled yet.".to_string(),
        String::new(),
        match &app.poller.role {
            crate::poller::service::Role::Polling => {
                "The first poll is running: products appear as soon as it ends.".to_string()
            }
            crate::poller::service::Role::Following(l) => {
                format!("Another tablestat (pid {} on {}) polls this database; waiting for it.", l.pid, l.host)
            }
            _ => "Starting the poller…".to_string(),
        },
        "Products come from [[product]] tables or [discover] in the config;".to_string(),
        "`tablestat config check` says what Airflow and dbt answer.".to_string(),
    ];
    for (i, text) in lines.iter().enumerate().take(area.height as usize) {
        Line::from(Span::styled(format!("  {text}"), if i == 0 { theme.title() } else { theme.dim() }))
            .render(Rect { y: area.y + i as u16, height: 1, ..area }, buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_drop_by_priority() {
        let at = |w| columns(w, 5, 20);
        assert!(at(160).bars >= 60 && at(160).checked && at(160).uptime && at(160).metrics);
        let c80 = at(80);
        assert!(c80.checked && c80.uptime && c80.metrics && c80.bars >= 7, "{c80:?}");
        let c50 = at(50);
        assert!(!c50.checked && c50.metrics, "{c50:?}");
        let c30 = at(30);
        assert!(!c30.metrics && !c30.uptime && c30.name >= 14, "{c30:?}");
    }
}
