//! One product: what it is, every metric with its state, reason, since, uptime and bar,
//! the refresh lag over 30 days, the failing tests, its incidents.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{ago, bars, clock, fit, percent, title_line};
use crate::model::State;
use crate::tui::app::App;
use crate::tui::theme::Theme;

pub fn render(app: &App, theme: &Theme, id: &str, area: Rect, buf: &mut Buffer) {
    let Some(row) = app.snapshot.products.iter().find(|p| p.product.id == id) else {
        title_line(theme, id, area, buf);
        Line::from("  This product is no longer in the poller's set (Esc goes back).")
            .render(Rect { y: area.y + 1, height: 1, ..area }, buf);
        return;
    };
    let p = &row.product;
    let detail = app.detail.as_ref().filter(|d| d.product == id);
    let zone = app.snapshot.zone;
    let mut lines: Vec<Line> = Vec::new();
    let since = row
        .since
        .map(|s| format!(" for {}, since {}", crate::timefmt::span(app.now - s), super::clock_near(s, app.now, zone)))
        .unwrap_or_default();
    lines.push(Line::from(vec![
        Span::styled(format!("{}  ", p.name), theme.title()),
        Span::styled(format!("{} {}", theme.symbol(row.state), row.state), theme.state(row.state)),
        Span::raw(since),
        Span::styled(format!("   {} · {}", p.id, p.group), theme.dim()),
    ]));
    if let Some(d) = &p.description {
        lines.push(Line::from(fit(d, area.width as usize)));
    }
    let mut facts = vec![format!("DAG {}", p.dag_id)];
    if let Some(t) = &p.task_id {
        facts.push(format!("task {t}"));
    }
    if let Some(m) = &p.model {
        facts.push(format!("model {m}"));
    }
    if let Some(o) = &p.owner {
        facts.push(format!("owner {o}"));
    }
    if let Some(slo) = p.slo {
        facts.push(format!("SLO {slo}%"));
    }
    lines.push(Line::from(Span::styled(fit(&facts.join(" · "), area.width as usize), theme.dim())));
    let mut run = Vec::new();
    if let Some(r) = &row.evidence.dag_run_id {
        run.push(format!("DAG run {r}"));
    }
    if let Some(r) = &row.evidence.dbt_run_id {
        run.push(format!("dbt run {r}"));
    }
    if let Some(t) = row.last_refresh {
        run.push(format!("refreshed {} ({})", clock(t, zone), ago(t, app.now)));
    }
    if let Some(t) = row.checked_at {
        run.push(format!("checked {}", ago(t, app.now)));
    }
    lines.push(Line::from(Span::styled(fit(&run.join(" · "), area.width as usize), theme.dim())));
    if let Some(url) = &row.evidence.dbt_run_url {
        lines.push(Line::from(Span::styled(fit(&format!("dbt run: {url}"), area.width as usize), theme.dim())));
    }
    if let Some(note) = &row.note {
        lines.push(Line::from(Span::styled(fit(note, area.width as usize), theme.warning())));
    }
    if !row.evidence.exposures.is_empty() {
        // Who is affected while it is down.
        let reads: Vec<String> = row.evidence.exposures.iter().map(crate::model::Exposure::describe).collect();
        let said = format!("read by {}", reads.join(", "));
        lines.push(Line::from(Span::styled(fit(&said, area.width as usize), theme.warning())));
    }
    if let Some(refreshes) = detail.map(|d| &d.refreshes).filter(|r| !r.is_empty()) {
        let lags: Vec<i64> = refreshes.iter().filter_map(|r| r.lag()).collect();
        if !lags.is_empty() {
            let spark = sparkline(&lags, theme.ascii, (area.width as usize).saturating_sub(45).min(30));
            let last = crate::timefmt::span(*lags.last().expect("non-empty"));
            let worst = crate::timefmt::span(*lags.iter().max().expect("non-empty"));
            lines.push(Line::from(vec![
                Span::raw("refresh lag, 30 days "),
                Span::styled(spark, theme.state(State::Up)),
                Span::styled(format!("  last {last}, worst {worst}"), theme.dim()),
            ]));
        }
    }

    let mut y = area.y;
    let header_h = (lines.len() as u16).min(area.height);
    let width = area.width as usize;
    Paragraph::new(lines.into_iter().map(|line| super::fit_line(line, width)).collect::<Vec<_>>())
        .render(Rect { y, height: header_h, ..area }, buf);
    y += header_h;

    // Metrics.
    let remaining = |y: u16| area.y + area.height - y.min(area.y + area.height);
    if remaining(y) < 2 {
        return;
    }
    title_line(theme, &format!("metrics · uptime {}", app.window.label()), Rect { y, height: 1, ..area }, buf);
    y += 1;
    let bars_w = if area.width >= 120 {
        30
    } else if area.width >= 100 {
        14
    } else {
        0
    };
    let reason_w = (area.width as usize).saturating_sub(13 + 14 + 7 + 8 + bars_w + 1);
    for m in &row.metrics {
        if remaining(y) == 0 {
            return;
        }
        let history = detail.and_then(|d| d.metrics.iter().find(|x| x.metric == m.metric));
        let uptime =
            history.map(|h| h.uptime[crate::store::WindowKind::ALL.iter().position(|w| *w == app.window).unwrap_or(1)]);
        let mut spans = vec![
            Span::raw(format!("{:<13}", fit(m.metric.as_str(), 12))),
            Span::styled(format!("{:<14}", format!("{} {}", theme.symbol(m.state), m.state)), theme.state(m.state)),
            Span::styled(
                format!(
                    "{:<7}",
                    m.since.map_or_else(|| "-".to_string(), |s| ago(s, app.now).trim_end_matches(" ago").to_string())
                ),
                theme.dim(),
            ),
            Span::raw(format!("{:>7} ", uptime.map(percent).unwrap_or_else(|| "…".into()))),
        ];
        if bars_w > 0 {
            spans.push(Span::raw(" "));
            match history {
                Some(h) => spans.extend(bars(theme, &h.bars, bars_w)),
                None => spans.push(Span::raw(" ".repeat(bars_w))),
            }
        }
        spans.push(Span::raw(" "));
        // The reason is what the page exists to say: a reason that is not up wraps onto up
        // to two more lines under itself instead of being cut.
        let style = if m.state == State::Up { Style::new() } else { theme.state(m.state) };
        let indent = (area.width as usize).saturating_sub(reason_w);
        let pieces = super::wrap(&m.reason, reason_w.max(10), if m.state == State::Up { 1 } else { 3 });
        for (n, piece) in pieces.iter().enumerate() {
            if remaining(y) == 0 {
                return;
            }
            if n == 0 {
                spans.push(Span::styled(piece.clone(), style));
                Line::from(std::mem::take(&mut spans)).render(Rect { y, height: 1, ..area }, buf);
            } else {
                Line::from(vec![Span::raw(" ".repeat(indent)), Span::styled(piece.clone(), style)])
                    .render(Rect { y, height: 1, ..area }, buf);
            }
            y += 1;
        }
    }

    // Failing tests.
    let failing = &row.evidence.failing_tests;
    if !failing.is_empty() && remaining(y) >= 2 {
        title_line(theme, &format!("failing tests ({})", failing.len()), Rect { y, height: 1, ..area }, buf);
        y += 1;
        for t in failing {
            if remaining(y) == 0 {
                break;
            }
            let state = match t.status.as_str() {
                "warn" => State::Degraded,
                "error" | "runtime error" => State::Unknown,
                _ => State::Down,
            };
            let name = t.unique_id.split('.').nth(2).unwrap_or(&t.unique_id);
            let failures = t.failures.map(|f| format!("{f} rows")).unwrap_or_default();
            let message = t.message.as_deref().map(crate::evaluate::first_line).unwrap_or_default();
            let text = format!("{:<5} {:<12} {} {failures}  {message}", t.status, t.metric.as_str(), name);
            Line::from(vec![
                Span::styled(format!("{} ", theme.symbol(state)), theme.state(state)),
                Span::raw(fit(&text, area.width.saturating_sub(2) as usize)),
            ])
            .render(Rect { y, height: 1, ..area }, buf);
            y += 1;
        }
    }

    // Incidents.
    if remaining(y) < 2 {
        return;
    }
    let incidents = app.detail_incidents();
    let resolved: Vec<i64> = incidents.iter().filter_map(|i| i.time_to_resolve()).collect();
    let mttr = if resolved.is_empty() {
        String::new()
    } else {
        format!(
            " · mean time to resolve {}",
            crate::timefmt::span(resolved.iter().sum::<i64>() / resolved.len() as i64)
        )
    };
    // The lines left under the rule; when the incidents do not all fit, the list follows
    // the selection (so `j` never moves it off screen) and the rule says there are more.
    let room = remaining(y + 1) as usize;
    let more = if incidents.len() > room { " · j/k for more" } else { "" };
    let title = format!("incidents ({}){mttr}{more} · ⏎ opens", incidents.len());
    title_line(theme, &theme.keys(&title), Rect { y, height: 1, ..area }, buf);
    y += 1;
    if detail.is_none() {
        Line::from(Span::styled("  loading history…", theme.dim())).render(Rect { y, height: 1, ..area }, buf);
        return;
    }
    if incidents.is_empty() {
        Line::from(Span::styled("  No incidents in the last 90 days.", theme.dim()))
            .render(Rect { y, height: 1, ..area }, buf);
        return;
    }
    let first = app.sub_selected.saturating_sub(room.saturating_sub(1));
    for (i, incident) in incidents.iter().enumerate().skip(first) {
        if remaining(y) == 0 {
            break;
        }
        let line_area = Rect { y, height: 1, ..area };
        super::fit_line(super::lists::incident_line(app, theme, incident), line_area.width as usize)
            .render(line_area, buf);
        if i == app.sub_selected {
            buf.set_style(line_area, theme.selected());
        }
        y += 1;
    }
}

/// A one-line sparkline of values between their smallest and largest, newest at the right.
fn sparkline(values: &[i64], ascii: bool, width: usize) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    const ASCII: [char; 4] = ['_', '.', '-', '^'];
    let levels: &[char] = if ascii { &ASCII } else { &LEVELS };
    let shown = &values[values.len().saturating_sub(width.max(1))..];
    let min = shown.iter().copied().min().unwrap_or(0);
    let range = (shown.iter().copied().max().unwrap_or(0) - min).max(1);
    shown.iter().map(|v| levels[((v - min) * (levels.len() as i64 - 1) / range) as usize]).collect()
}
