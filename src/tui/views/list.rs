//! The product list: grouped, one row per product, a cell per metric, uptime, a 90-day
//! bar sparkline, the incident marker, how long the product has been in its state and
//! why. Only the rows on screen are drawn, so 5,000 products cost what 20 do. Columns drop
//! by priority when narrow.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::{fit, pad, percent, title_line};
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
    /// How long the product has been in its state.
    age: bool,
    bars: usize,
    /// The worst metric's reason, short; the last column.
    reason: usize,
}

const SYMBOL: usize = 2;
const METRIC: usize = 4;
const UPTIME: usize = 8;
const AGE: usize = 8;
const INCIDENT: usize = 2;
const MIN_NAME: usize = 14;
const MIN_BARS: usize = 7;
/// Below this a reason is too cut to read: the uptime column gives way first.
const MIN_REASON: usize = 24;
/// What a reason needs to be read ("unique test on order_id failed"); the bars get the
/// width beyond it.
const REASON: usize = 30;

/// On call at 80 columns, what is wrong and since when come before history: when any
/// product has a reason to show, a readable reason keeps its width before the uptime
/// column and the bars, which take only what is beyond it. Narrower still, columns drop:
/// uptime, then the metric cells, then the age. With every product up, the bars get it all.
fn columns(width: usize, metric_count: usize, longest_name: usize, any_reason: bool) -> Columns {
    let metrics_w = metric_count * METRIC;
    let mut c = Columns { name: 0, metrics: true, uptime: true, age: true, bars: 0, reason: 0 };
    let fixed = |c: &Columns| {
        SYMBOL
            + INCIDENT
            + if c.metrics { metrics_w } else { 0 }
            + if c.uptime { UPTIME } else { 0 }
            + if c.age { AGE } else { 0 }
    };
    // Names get what the longest needs (14 to 28 columns).
    let wanted_name = (longest_name + 3).clamp(MIN_NAME, 28);
    let wanted_reason = if any_reason { MIN_REASON } else { 0 };
    for drop in 0..=3 {
        match drop {
            1 => c.uptime = false,
            2 => c.metrics = false,
            3 => c.age = false,
            _ => {}
        }
        if width >= fixed(&c) + wanted_name.min(MIN_NAME.max(width / 4)) + wanted_reason {
            break;
        }
    }
    let room = width.saturating_sub(fixed(&c));
    // A long name gives way to a readable reason, down to its own minimum.
    c.name = wanted_name.min(room.saturating_sub(wanted_reason).max(MIN_NAME)).min(room);
    let left = room - c.name;
    let reason = if any_reason { REASON } else { 0 };
    if left > reason + MIN_BARS {
        c.bars = (left - reason - 1).min(crate::store::BAR_DAYS);
        c.reason = if any_reason { left - c.bars - 1 } else { 0 };
    } else if any_reason && left >= MIN_REASON.min(8) {
        c.reason = left;
    } else {
        c.name = room;
    }
    c
}

/// The worst metric's reason, cut to its first clause ("unique test on order_id failed"
/// of "unique test on order_id failed: 2 duplicated values"): the detail has the rest.
fn short_reason(row: &ProductRow) -> Option<(State, String)> {
    let worst = row.metrics.iter().filter(|m| m.state != State::Up).min_by_key(|m| m.state)?;
    let reason = worst.reason.as_str();
    let reason = reason.split_once(" (and ").map_or(reason, |(head, _)| head);
    let reason = match reason.split_once(": ") {
        // "not rebuilt: upstream …", "blocked: DAG … paused": the head alone says too little.
        Some((head, _)) if head.len() >= 12 => head,
        _ => reason,
    };
    Some((worst.state, reason.to_string()))
}

/// `40 s`, `12 min`, `5 h`, `3 d`: a state's age in at most 7 columns.
fn age(seconds: i64) -> String {
    match seconds.max(0) {
        s @ 0..60 => format!("{s} s"),
        s @ 60..3600 => format!("{} min", s / 60),
        s @ 3600..172_800 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
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
    let cols = columns(area.width as usize, metrics.len(), app.longest_name, app.any_reason);
    let shown = app.rows.len();
    let title = if app.snapshot.products.is_empty() {
        "no products yet".to_string()
    } else {
        let mut title = format!("{} of {} products", app.shown_products, app.snapshot.products.len());
        // Rows off screen are never silent, least of all bad ones.
        for ((count, worst), arrow) in app.hidden().into_iter().zip(["↑", "↓"]) {
            if count > 0 {
                title.push_str(&format!(" · {arrow} {count} more"));
                if let Some(state) = worst.filter(|s| *s != State::Up) {
                    title.push_str(&format!(" ({} {})", theme.symbol(state), state.as_str()));
                }
            }
        }
        if let Some(story) = &app.story {
            title.push_str(&format!(" · demo: {story}"));
        }
        title
    };
    title_line(theme, &title, area, buf);
    if area.height < 2 {
        return;
    }
    // Column header.
    let mut head: Vec<Span> =
        vec![Span::raw(" ".repeat(SYMBOL)), Span::styled(pad("PRODUCT", cols.name), theme.header_row())];
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
    if cols.age {
        head.push(Span::styled(format!("{:<AGE$}", "FOR"), theme.header_row()));
    }
    if cols.reason > 0 {
        head.push(Span::styled("WHY", theme.header_row()));
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
            Row::Group { name, count, worst, part } => {
                let count = match part {
                    // A split group: its faults here, its healthy rows further down.
                    Some(part) if *worst == State::Up => format!("{part} of {count} up"),
                    Some(part) => format!("{part} of {count}; the rest below"),
                    None => count.to_string(),
                };
                Line::from(vec![
                    Span::styled(format!("{} ", theme.symbol(*worst)), theme.state(*worst)),
                    Span::styled(format!("{} ({count})", fit(name, 40)), theme.group()),
                ])
                .render(row_area, buf);
            }
            Row::Product(i) => {
                render_product(app, theme, *i, metrics, &cols, row_area, buf);
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
    index: usize,
    metrics: &[Metric],
    cols: &Columns,
    area: Rect,
    buf: &mut Buffer,
) {
    let row = &app.snapshot.products[index];
    let indent = if app.grouped { " " } else { "" };
    let name_w = cols.name.saturating_sub(indent.len());
    let mut spans: Vec<Span> = vec![
        Span::styled(format!("{} ", theme.symbol(row.state)), theme.state(row.state)),
        Span::raw(format!("{indent}{} ", pad(&row.product.name, name_w.saturating_sub(1)))),
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
    let style = if row.state == State::Up { theme.dim() } else { theme.state(row.state) };
    if cols.age {
        let since = row.since.map_or_else(|| "—".to_string(), |t| age(app.now - t));
        // A state entered in the last minutes is marked: what changed is seen at a glance.
        if app.recent.get(index).copied().unwrap_or(false) {
            let mark = if theme.ascii { "+" } else { "•" };
            right.push(Span::styled(
                format!("{mark}{since:<w$}", w = AGE - 1),
                style.add_modifier(ratatui::style::Modifier::BOLD),
            ));
        } else {
            right.push(Span::styled(format!("{since:<AGE$}"), style));
        }
    }
    if cols.reason > 0 {
        if let Some((state, reason)) = short_reason(row) {
            right.push(Span::styled(fit(&reason, cols.reason), theme.state(state)));
        }
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
        let at = |w| columns(w, 5, 20, true);
        // Wide: everything, the bars take what is beyond a readable reason.
        let c160 = at(160);
        assert!(c160.bars >= 60 && c160.reason == REASON && c160.age && c160.uptime && c160.metrics, "{c160:?}");
        // 80 columns: what is wrong and since when keep their place; uptime gives way.
        let c80 = at(80);
        assert!(c80.age && !c80.uptime && c80.metrics && c80.reason >= MIN_REASON && c80.bars == 0, "{c80:?}");
        assert_eq!(SYMBOL + c80.name + 5 * METRIC + INCIDENT + AGE + c80.reason, 80);
        let c50 = at(50);
        assert!(!c50.uptime && !c50.metrics && c50.reason > 0, "{c50:?}");
        let c30 = at(30);
        assert!(!c30.metrics && !c30.uptime && c30.name >= 14, "{c30:?}");
        // Every product up: no reason column, the history gets the room.
        let calm = columns(80, 5, 20, false);
        assert!(calm.uptime && calm.age && calm.reason == 0 && calm.bars >= MIN_BARS, "{calm:?}");
    }

    #[test]
    fn a_short_reason_is_the_first_clause_of_the_worst_metric() {
        let cases = [
            ("unique test on order_id failed: 2 duplicated values", "unique test on order_id failed"),
            ("not rebuilt: upstream model stg_payments failed", "not rebuilt: upstream model stg_payments failed"),
            (
                "not rebuilt: upstream test unique_stg_orders_order_id failed (and 1 more)",
                "not rebuilt: upstream test unique_stg_orders_order_id failed",
            ),
            ("blocked: DAG marketing_daily is paused", "blocked: DAG marketing_daily is paused"),
            ("source raw.orders is stale: data 30 h old when checked", "source raw.orders is stale"),
        ];
        for (reason, short) in cases {
            let metric = |state, reason: &str| crate::store::MetricRow {
                metric: Metric::Uniqueness,
                state,
                reason: reason.into(),
                since: None,
                uptime: [None; 4],
                bars: Vec::new(),
            };
            let row = crate::store::ProductRow {
                product: crate::model::Product::new("p", "d"),
                state: State::Down,
                since: None,
                metrics: vec![metric(State::Degraded, "getting stale"), metric(State::Down, reason)],
                checked_at: None,
                poll_every: None,
                stale: false,
                note: None,
                evidence: Default::default(),
                uptime: [None; 4],
                bars: Vec::new(),
                hour_bars: Vec::new(),
                last_refresh: None,
                open_incident: None,
                maintenance: None,
            };
            assert_eq!(short_reason(&row), Some((State::Down, short.to_string())), "{reason}");
        }
    }

    #[test]
    fn ages_fit_seven_columns() {
        for (secs, text) in
            [(0, "0 s"), (59, "59 s"), (600, "10 min"), (3599, "59 min"), (7200, "2 h"), (200_000, "2 d")]
        {
            assert_eq!(age(secs), text);
            assert!(text.len() < AGE);
        }
    }
}
