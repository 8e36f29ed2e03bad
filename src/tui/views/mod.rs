//! Drawing the board: each view borrows the model and draws into a buffer; nothing here
//! changes state or does I/O. The layout is a pure function shared with mouse handling.

mod detail;
mod header;
mod help;
mod incident;
mod list;
mod lists;

use chrono::{DateTime, FixedOffset, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::app::{App, Route};
use super::theme::Theme;

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub banner: Option<Rect>,
    pub body: Rect,
    pub footer: Rect,
}

/// Lines of the header: verdict and poller; counts and window.
const HEADER: u16 = 2;

pub fn layout(area: Rect, app: &App) -> Areas {
    let banner = app.snapshot.maintenance.iter().any(|w| w.is_active(app.now));
    let header = Rect { height: HEADER.min(area.height), ..area };
    let mut y = area.y + header.height;
    let banner = (banner && area.height > HEADER + 3).then(|| {
        let r = Rect { x: area.x, y, width: area.width, height: 1 };
        y += 1;
        r
    });
    let footer_h = u16::from(area.height > y - area.y + 1);
    let footer =
        Rect { x: area.x, y: (area.y + area.height).saturating_sub(footer_h), width: area.width, height: footer_h };
    let body = Rect { x: area.x, y, width: area.width, height: footer.y.saturating_sub(y) };
    Areas { header, banner, body, footer }
}

/// Rows of products that fit on screen: the body minus its rule and column header.
pub fn list_page(area: Rect, app: &App) -> usize {
    layout(area, app).body.height.saturating_sub(list::CHROME) as usize
}

/// The screen line of the list's first product row, for mouse clicks.
pub fn list_top(area: Rect, app: &App) -> u16 {
    layout(area, app).body.y + list::CHROME
}

/// The whole board for the current route.
pub struct Board<'a> {
    pub app: &'a App,
    pub theme: &'a Theme,
}

impl Widget for &Board<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < 20 || area.height < 5 {
            let msg = "tablestat: enlarge the terminal";
            Line::from(msg).render(area, buf);
            return;
        }
        let areas = layout(area, self.app);
        header::render(self.app, self.theme, areas.header, buf);
        if let Some(banner) = areas.banner {
            header::banner(self.app, self.theme, banner, buf);
        }
        match self.app.route() {
            Route::List => list::render(self.app, self.theme, areas.body, buf),
            Route::Product(id) => detail::render(self.app, self.theme, id, areas.body, buf),
            Route::Incident(id) => incident::render(self.app, self.theme, *id, areas.body, buf),
            Route::Incidents => lists::incidents(self.app, self.theme, areas.body, buf),
            Route::Maintenance => lists::maintenance(self.app, self.theme, areas.body, buf),
            Route::Changes => lists::changes(self.app, self.theme, areas.body, buf),
            Route::Help => help::render(self.theme, self.app.sub_selected, areas.body, buf),
        }
        header::footer(self.app, self.theme, areas.footer, buf);
        defuse(area, buf);
        if self.theme.ascii {
            to_ascii(area, buf);
        }
    }
}

/// Text from sources (DAG ids, names, test messages) may carry control characters,
/// escape sequences and bidi controls; [`fit`] shows them inert, and whatever other path
/// drew them, no cell sends one to the terminal (the same test as the text output's and
/// the page's: [`crate::text::is_unsafe`]).
fn defuse(area: Rect, buf: &mut Buffer) {
    let dangerous = |cell: &ratatui::buffer::Cell| cell.symbol().chars().any(crate::text::is_unsafe);
    let clean = |cell: &mut ratatui::buffer::Cell| {
        let kept: String = cell.symbol().chars().filter(|c| !crate::text::is_unsafe(*c)).collect();
        if kept.is_empty() {
            cell.set_char(crate::text::SHOWN);
        } else {
            cell.set_symbol(&kept);
        }
    };
    if area == buf.area {
        for cell in buf.content.iter_mut().filter(|c| dangerous(c)) {
            clean(cell);
        }
        return;
    }
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if dangerous(&buf[(x, y)]) {
                clean(&mut buf[(x, y)]);
            }
        }
    }
}

/// `--ascii`: the punctuation the views use, replaced cell by cell (names keep their letters).
fn to_ascii(area: Rect, buf: &mut Buffer) {
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            let plain = match cell.symbol() {
                "·" => ".",
                "—" | "–" | "─" => "-",
                "…" => ">", // "~" is maintenance
                "⏎" => ">",
                "▏" => "|",
                "→" => ">",
                "←" => "<",
                "↑" => "^",
                "↓" => "v",
                "⚑" => "*",
                _ => continue,
            };
            cell.set_symbol(plain);
        }
    }
}

/// `11-24 14:05` in the display zone.
pub fn clock(ts: i64, zone: FixedOffset) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|t| crate::timefmt::month_day_time(&t.with_timezone(&zone)))
        .unwrap_or_default()
}

/// `14:05` today, `11-24 14:05` another day (in the display zone): the header's times,
/// short enough for 80 columns.
pub fn clock_near(ts: i64, now: i64, zone: FixedOffset) -> String {
    let day = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).map(|t| t.with_timezone(&zone).date_naive());
    let full = clock(ts, zone);
    if day(ts) == day(now) { full.split_once(' ').map_or(full.clone(), |(_, time)| time.to_string()) } else { full }
}

/// `12 min ago`.
pub fn ago(ts: i64, now: i64) -> String {
    match (DateTime::from_timestamp(ts, 0), DateTime::from_timestamp(now, 0)) {
        (Some(t), Some(n)) => crate::timefmt::ago(t, n),
        _ => String::new(),
    }
}

/// Text cut to `width` terminal columns with an ellipsis; control characters, escapes and
/// bidi controls shown inert ([`crate::text::inert`], as in the text output and on the page)
/// so that text from sources (DAG ids, test messages) can never drive the terminal. Widths
/// are display widths: a CJK character or an emoji takes two columns, a combining mark none.
pub fn fit(text: &str, width: usize) -> String {
    let clean = crate::text::inert(text).into_owned();
    if crate::text::width(&clean) <= width {
        return clean;
    }
    with_ellipsis(&clean, width)
}

/// The start of `text` that fits `width - 1` columns, and `…`.
fn with_ellipsis(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if width == 0 {
        return String::new();
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// `text` cut to `width` columns and padded with spaces to exactly `width` (`format!`'s
/// `{:<w$}` counts chars, which misaligns columns after a wide character).
pub fn pad(text: &str, width: usize) -> String {
    let mut cut = fit(text, width);
    let used = crate::text::width(&cut);
    cut.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    cut
}

/// Words into at most `lines` lines of `width` columns; the last line ends in `…` if cut.
pub fn wrap(text: &str, width: usize, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let needed = crate::text::width(&current) + usize::from(!current.is_empty()) + crate::text::width(word);
        if needed > width && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    if out.len() > lines {
        let rest = out[lines - 1..].join(" ");
        out.truncate(lines - 1);
        out.push(rest);
    }
    out.into_iter().map(|l| fit(&l, width)).collect()
}

/// A line of several spans cut to `width` columns, ending in `…` where anything was cut
/// (`fit` does the same for one piece of text).
pub fn fit_line(line: Line<'_>, width: usize) -> Line<'_> {
    if line.width() <= width {
        return line;
    }
    let mut left = width;
    let mut spans = Vec::with_capacity(line.spans.len());
    for span in line.spans {
        let span_width = span.width();
        if span_width < left {
            left -= span_width;
            spans.push(span);
            continue;
        }
        if left > 0 {
            spans.push(Span::styled(with_ellipsis(&span.content, left), span.style));
        }
        break;
    }
    Line { spans, ..line }
}

/// A full-width line with a title: the head of a section.
pub fn title_line(theme: &Theme, title: &str, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let mut spans = vec![Span::styled(theme.line_char().repeat(2), theme.dim())];
    if !title.is_empty() {
        spans.push(Span::styled(format!(" {title} "), theme.title()));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    spans.push(Span::styled(theme.line_char().repeat((area.width as usize).saturating_sub(used)), theme.dim()));
    Line::from(spans).render(Rect { height: 1, ..area }, buf);
}

/// A row of bar cells, one per day, the newest at the right.
pub fn bars<'a>(theme: &Theme, days: &[Option<crate::model::State>], width: usize) -> Vec<Span<'a>> {
    let shown = &days[days.len().saturating_sub(width)..];
    let mut spans: Vec<Span<'a>> = Vec::with_capacity(shown.len());
    let mut run = String::new();
    let mut run_style = Style::new();
    for day in shown {
        let style = theme.bar_style(*day);
        if style != run_style && !run.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut run), run_style));
        }
        run_style = style;
        run.push_str(theme.bar(*day));
    }
    if !run.is_empty() {
        spans.push(Span::styled(run, run_style));
    }
    spans
}

/// `99.50%`, or `—` without judged time. Rounded down: any downtime at all never reads 100%.
pub fn percent(uptime: Option<f64>) -> String {
    match uptime {
        Some(u) if u >= 100.0 => "100%".to_string(),
        Some(u) => format!("{:.2}%", (u * 100.0).floor() / 100.0),
        None => "—".to_string(),
    }
}
