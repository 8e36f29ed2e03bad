//! The header (verdict, counts, poller health), the maintenance banner and the footer.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::{clock, clock_near, fit};
use crate::model::State;
use crate::poller::service::Role;
use crate::tui::app::{App, Route};
use crate::tui::keys;
use crate::tui::theme::Theme;

/// Line 1: the verdict as counts, worst first, only the states that have products. Line 2:
/// the poller's health and last poll (what says whether line 1 can be trusted), then
/// undelivered notifications in what is left. At 80 columns both fit.
pub fn render(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let (s, overall) = (&app.summary, app.overall);
    let mut left: Vec<Span> = vec![Span::styled(" tablestat ", theme.title()), Span::raw(" ")];
    if app.story.is_some() {
        left.insert(1, Span::styled("DEMO", theme.banner()));
    }
    if app.snapshot.products.is_empty() {
        left.push(Span::styled("No data products yet", theme.dim()));
    } else {
        for (state, n) in s.nonzero() {
            left.push(Span::styled(format!("{} {n} {}", theme.symbol(state), state.as_str()), theme.state(state)));
            left.push(Span::raw("  "));
        }
        if overall == State::Up {
            left.push(Span::styled(crate::status_doc::verdict_line(s), theme.state(State::Up)));
        }
    }
    super::fit_line(Line::from(left), area.width as usize).render(Rect { height: 1, ..area }, buf);
    if area.height < 2 {
        return;
    }
    let second = Rect { y: area.y + 1, height: 1, ..area };
    let (health, style) = poller_health(app, theme);
    let health = Line::from(Span::styled(format!(" {}", fit(&health, (area.width as usize).saturating_sub(1))), style));
    let health_width = health.width() as u16;
    health.render(second, buf);
    let room = area.width.saturating_sub(health_width + 2) as usize;
    if let Some(warning) = notify_warning(app, theme).filter(|_| room >= 16) {
        Paragraph::new(Line::from(Span::styled(fit(&warning, room), theme.warning())))
            .alignment(Alignment::Right)
            .render(second, buf);
    }
}

/// "▲ 2 notifications undelivered (slack: HTTP 500)": webhooks that fail are seen here.
fn notify_warning(app: &App, theme: &Theme) -> Option<String> {
    let health = &app.snapshot.notify;
    if health.undelivered == 0 {
        return None;
    }
    let noun = if health.undelivered == 1 { "notification" } else { "notifications" };
    let cause = health.last_failure.as_ref().map(|(target, error)| format!(" ({target}: {error})")).unwrap_or_default();
    Some(format!("{} {} {noun} undelivered{cause}", theme.symbol(State::Degraded), health.undelivered))
}

/// "polling · last poll 14:05 ok", "following pid 4242 on jump1", "no poll since …".
fn poller_health(app: &App, theme: &Theme) -> (String, ratatui::style::Style) {
    let last = app.snapshot.poller.last_poll.as_ref();
    let last_text = match last {
        // The verdict first: on a narrow screen the time is what gets cut.
        Some((at, true, _)) => format!("last poll ok, {}", clock_near(*at, app.now, app.snapshot.zone)),
        Some((at, false, Some(error))) => {
            format!("last poll failed, {}: {error}", clock_near(*at, app.now, app.snapshot.zone))
        }
        Some((at, false, None)) => format!("last poll failed, {}", clock_near(*at, app.now, app.snapshot.zone)),
        None => "no poll yet".to_string(),
    };
    // A board that cannot poll says whether anyone does: nobody polling is why the table
    // turns unknown.
    let nobody = matches!(app.poller.role, Role::Starting)
        && app.snapshot.poller.state(app.now) != crate::evaluate::shown::PollerState::Polling;
    let style =
        if nobody || last.is_some_and(|(_, ok, _)| !ok) { theme.warning() } else { ratatui::style::Style::new() };
    let role = match &app.poller.role {
        Role::Polling if app.poller.polling_now => "polling now…".to_string(),
        Role::Polling => "polling".to_string(),
        Role::Following(lease) => format!("following pid {} on {}", lease.pid, lease.host),
        Role::Starting => match app.view_only {
            Some(why) if nobody => format!("no poller running ({} here)", why.why()),
            Some(why) => format!("viewing only ({})", why.why()),
            None => "starting".to_string(),
        },
    };
    if let Some(at) = app.as_of() {
        // The past is said first and plainly: none of this is now.
        let when = super::clock(at, app.snapshot.zone);
        let ago = super::ago(at, app.now);
        let keys = theme.keys("[ earlier · ] later, past the newest back to now");
        return (format!("HISTORY, not now: the states at {when} ({ago}) · {keys}"), theme.warning());
    }
    if let Some(at) = app.paused_at {
        // Nothing on screen moves: that comes before anything else said about the poller.
        let held = if app.held_snapshot() { ", newer data waiting" } else { "" };
        return (
            format!("PAUSED since {}{held} · {role} · {last_text}", clock_near(at, app.now, app.snapshot.zone)),
            theme.warning(),
        );
    }
    if let Some(error) = &app.poller.write_error {
        // What is on screen is the last poll that could be written, not the latest.
        return (format!("{} last write failed: {error} · {role} ", theme.symbol(State::Degraded)), theme.warning());
    }
    if app.tls_unverified {
        return (format!("TLS NOT VERIFIED · {role} · {last_text}"), theme.warning());
    }
    if let Some(trouble) = source_trouble(app) {
        // What makes tables late or unknown comes first: on a narrow screen it stays.
        return (format!("{trouble} · {role} · {last_text}"), theme.warning());
    }
    (format!("{role} · {last_text}"), style)
}

/// "airflow scheduler silent since 06:02", "dbt unreachable for 4 min": the sources in
/// trouble at the last poll; with several sources, as one compact line that counts the
/// healthy ones too ("3 sources: 2 ok, marketing unreachable for 4 min").
fn source_trouble(app: &App) -> Option<String> {
    let zone = app.snapshot.zone;
    let sources = &app.snapshot.sources;
    let troubles: Vec<String> = sources
        .iter()
        .filter_map(|s| {
            let health = &s.health;
            if !health.reachable {
                let lasting = s
                    .failing_since
                    .filter(|since| app.now - since >= 60)
                    .map(|since| format!(" for {}", crate::timefmt::span(app.now - since)))
                    .unwrap_or_default();
                return Some(format!("{} unreachable{lasting}", health.name));
            }
            let scheduler = health.scheduler.as_ref().filter(|h| h.status.as_deref() != Some("healthy"))?;
            Some(match scheduler.heartbeat_at {
                Some(t) => {
                    format!("{} scheduler silent since {}", health.name, clock_near(t.timestamp(), app.now, zone))
                }
                None => format!("{} scheduler {}", health.name, scheduler.status.as_deref().unwrap_or("unknown")),
            })
        })
        .collect();
    match (sources.len(), troubles.is_empty()) {
        (_, true) => None,
        (0 | 1, false) => troubles.into_iter().next(),
        (n, false) => Some(format!("{n} sources: {} ok, {}", n - troubles.len(), troubles.join(", "))),
    }
}

pub fn banner(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    let active: Vec<_> = app.snapshot.maintenance.iter().filter(|w| w.is_active(app.now)).collect();
    let Some(first) = active.first() else { return };
    let more = if active.len() > 1 { format!(" (+{} more: m)", active.len() - 1) } else { String::new() };
    let text = format!(
        " {} Maintenance until {} ({}): {}{more}",
        theme.symbol(State::Maintenance),
        clock(first.ends_at, app.snapshot.zone),
        first.scope,
        first.message
    );
    Paragraph::new(Line::from(Span::styled(fit(&text, area.width as usize), theme.banner())))
        .style(theme.banner())
        .render(area, buf);
}

pub fn footer(app: &App, theme: &Theme, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let incidents = matches!(app.route(), Route::Incidents | Route::Maintenance);
    let filter = if incidents { &app.incident_filter } else { &app.filter };
    if app.filtering {
        let (before, after): (String, String) = {
            let at = app.filter_cursor.min(filter.chars().count());
            (filter.chars().take(at).collect(), filter.chars().skip(at).collect())
        };
        let help = match app.filter_hint() {
            Some(hint) => Span::styled(format!("  {hint}"), theme.warning()),
            None if incidents => Span::styled(
                theme
                    .keys(if *app.route() == Route::Incidents {
                        "  ⏎ keep · Esc clear · product, status, metric, #id, open"
                    } else {
                        "  ⏎ keep · Esc clear · scope, words of the notice, #id"
                    })
                    .into_owned(),
                theme.dim(),
            ),
            None => Span::styled(
                theme.keys("  ⏎ keep · Esc clear · words, group, tag, state:down").into_owned(),
                theme.dim(),
            ),
        };
        let line = Line::from(vec![
            Span::styled(" / ", theme.key()),
            Span::raw(fit(&before, 64)),
            Span::styled("▏", theme.key()),
            Span::raw(fit(&after, 64)),
            help,
        ]);
        super::fit_line(line, area.width as usize).render(area, buf);
        return;
    }
    if let Some(flash) = &app.flash {
        Line::from(Span::styled(format!(" {flash}"), theme.warning())).render(area, buf);
        return;
    }
    let context = app.key_context();
    let mut spans: Vec<Span> = Vec::new();
    if !filter.is_empty() && matches!(app.route(), Route::List | Route::Incidents | Route::Maintenance) {
        spans.push(Span::styled(format!(" filter: {} ", fit(filter, 24)), theme.warning()));
        if let Some(hint) = app.filter_hint() {
            spans.push(Span::styled(format!("{hint} "), theme.warning()));
        }
    }
    let mut used: usize = spans.iter().map(Span::width).sum();
    if app.paused_at.is_some() {
        // Said in the header too; here, how to leave it.
        spans.push(Span::styled(" p resume ", theme.warning()));
        used += 10;
    }
    for (key, what) in keys::footer(context) {
        let key = theme.keys(key);
        let what = match what {
            "sort" => format!("sort:{}", app.sort.label()),
            "window" => format!("window:{}", app.window.label()),
            "faults" if app.faults_only => "faults:on".to_string(),
            "group" if !app.grouped => "group:off".to_string(),
            "pause" if app.paused_at.is_some() => continue,
            "filter" if !matches!(app.route(), Route::List | Route::Incidents | Route::Maintenance) => continue,
            other => other.to_string(),
        };
        let piece = format!(" {key} {what} ");
        if used + crate::text::width(&piece) > area.width as usize {
            break;
        }
        used += crate::text::width(&piece);
        spans.push(Span::styled(format!(" {key}"), theme.key()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    Line::from(spans).render(area, buf);
}
