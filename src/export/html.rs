//! `index.html`: one self-contained page (inline CSS, no scripts, no external assets) that
//! says in plain words which tables can be trusted, with symbols as well as colours.

use std::fmt::Write;

use chrono::TimeZone;

use super::{Page, Site, anchor, escape};
use crate::model::State;
use crate::store::{BAR_DAYS, Incident, MaintenanceWindow};
use crate::theme::symbol;
use crate::timefmt::stamp_at as stamp;

const STYLE: &str = r#"
:root { --up: #1a7f37; --degraded: #9a6700; --down: #cf222e; --maintenance: #0969da; --unknown: #8250df;
  --none: #d0d7de; --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --card: #f6f8fa; --line: #d0d7de; }
@media (prefers-color-scheme: dark) {
  :root { --up: #3fb950; --degraded: #d29922; --down: #f85149; --maintenance: #58a6ff; --unknown: #bc8cff;
    --none: #30363d; --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --card: #161b22; --line: #30363d; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 64rem; padding: 1.5rem 1rem 3rem; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--fg); background: var(--bg); }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .75rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 0; }
a { color: var(--maintenance); }
.verdict { font-size: 1.25rem; font-weight: 600; margin: .5rem 0; padding: .75rem 1rem; border-radius: .5rem; background: var(--card);
  border-left: .4rem solid currentColor; }
.meta, .muted { color: var(--muted); font-size: .9rem; }
.s-up { color: var(--up); } .s-degraded { color: var(--degraded); } .s-down { color: var(--down); }
.s-maintenance { color: var(--maintenance); } .s-unknown { color: var(--unknown); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .75rem 1rem; margin: .75rem 0; }
.product header { display: flex; justify-content: space-between; gap: 1rem; flex-wrap: wrap; align-items: baseline; }
.state { font-weight: 600; white-space: nowrap; }
.metrics { list-style: none; padding: 0; margin: .5rem 0; }
.metrics li { padding: .1rem 0; }
.metrics b { display: inline-block; min-width: 9.5rem; }
.bars { display: flex; gap: 1px; height: 1.6rem; margin: .5rem 0 .25rem; }
.bars span { flex: 1; border-radius: 1px; background: var(--none); }
.bars .b-up { background: var(--up); } .bars .b-degraded { background: var(--degraded); height: 85%; align-self: flex-end; }
.bars .b-down { background: var(--down); } .bars .b-maintenance { background: var(--maintenance); height: 60%; align-self: flex-end; }
.bars .b-unknown { background: var(--unknown); height: 40%; align-self: flex-end; }
.bars .b-none { height: 20%; align-self: flex-end; }
.scale { display: flex; justify-content: space-between; }
.timeline { list-style: none; padding-left: 0; margin: .5rem 0 0; }
.timeline li { margin: .25rem 0; }
footer { margin-top: 3rem; }
"#;

/// The whole page.
pub fn render(page: &Page, site: &Site) -> String {
    let status = &page.status;
    let overall = status.overall;
    let mut out = String::with_capacity(4096 + status.products.len() * 2048);
    let verdict = if status.products.is_empty() { "No data products yet".to_string() } else { status.verdict() };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"300\">\n<title>{} — {}</title>\n\
         <link rel=\"alternate\" type=\"application/atom+xml\" title=\"Incidents\" href=\"feed.atom\">\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n\
         <p class=\"verdict s-{}\" role=\"status\">{} {}</p>\n\
         <p class=\"meta\">Updated {} · <a href=\"status.json\">status.json</a> · <a href=\"feed.atom\">incident feed (Atom)</a></p>\n</header>\n",
        escape(&site.title),
        escape(&verdict),
        escape(&site.title),
        overall.as_str(),
        symbol(overall, false),
        escape(&verdict),
        stamp(page.snapshot.generated_at),
    );
    maintenance(&mut out, &page.snapshot.maintenance, page.snapshot.generated_at);
    incidents(&mut out, page);
    products(&mut out, page);
    past_incidents(&mut out, page);
    out.push_str(
        "<footer class=\"muted\"><p>States: ✔ up · ▲ degraded · ✖ down · ◆ maintenance · ? unknown. \
         Uptime counts up and degraded time against judged time; maintenance and unknown time are left out. \
         This page refreshes itself every 5 minutes.</p><p>Made by tablestat.</p></footer>\n</body>\n</html>\n",
    );
    out
}

fn maintenance(out: &mut String, windows: &[MaintenanceWindow], now: i64) {
    if windows.is_empty() {
        return;
    }
    out.push_str("<section id=\"maintenance\">\n<h2>Planned maintenance</h2>\n");
    for w in windows {
        let when = if w.is_active(now) { "Now" } else { "Upcoming" };
        let _ = writeln!(
            out,
            "<div class=\"card\"><p><span class=\"state s-maintenance\">{} {when}</span>: {} — {} to {}</p><p>{}</p></div>",
            symbol(State::Maintenance, false),
            escape(&w.scope.to_string()),
            stamp(w.starts_at),
            stamp(w.ends_at),
            escape(&w.message),
        );
    }
    out.push_str("</section>\n");
}

fn incidents(out: &mut String, page: &Page) {
    let open: Vec<&Incident> = page.incidents.iter().filter(|i| i.resolved_at.is_none()).collect();
    if open.is_empty() {
        return;
    }
    out.push_str("<section id=\"incidents\">\n<h2>Open incidents</h2>\n");
    for i in open {
        let latest = i.updates.last();
        let _ = write!(
            out,
            "<article class=\"card\" id=\"incident-{}\"><h3><span class=\"s-down\">{}</span> {}</h3>\
             <p class=\"muted\">#{} · {} · {} · opened {}{}</p>",
            i.id,
            symbol(State::Down, false),
            escape(&i.title),
            i.id,
            i.status,
            i.severity,
            stamp(i.opened_at),
            i.eta.map(|eta| format!(" · <strong>expected fixed by {}</strong>", stamp(eta))).unwrap_or_default(),
        );
        if let Some(u) = latest {
            let _ = write!(
                out,
                "<p><strong>Latest update</strong> ({}{}): {}</p>",
                stamp(u.at),
                u.author.as_deref().map(|a| format!(", {}", escape(a))).unwrap_or_default(),
                escape(&u.message)
            );
        }
        let _ = writeln!(
            out,
            "<p><a href=\"#{}\">See the table</a></p></article>",
            page.snapshot
                .products
                .iter()
                .find(|p| p.product.id == i.product)
                .map_or(String::new(), |p| escape(&anchor(&p.product.id)))
        );
    }
    out.push_str("</section>\n");
}

fn products(out: &mut String, page: &Page) {
    let snapshot = &page.snapshot;
    let days = crate::uptime::day_bounds(snapshot.generated_at, BAR_DAYS, snapshot.zone);
    let day_names: Vec<String> = days
        .iter()
        .map(|d| {
            snapshot.zone.timestamp_opt(d.start, 0).single().map(|t| t.format("%b %-d").to_string()).unwrap_or_default()
        })
        .collect();
    let mut group: Option<&str> = None;
    for (row, status) in snapshot.products.iter().zip(&page.status.products) {
        debug_assert_eq!(row.product.id, status.id);
        if group != Some(row.product.group.as_str()) {
            if group.is_some() {
                out.push_str("</section>\n");
            }
            let _ = writeln!(out, "<section class=\"group\">\n<h2>{}</h2>", escape(&row.product.group));
            group = Some(&row.product.group);
        }
        let state = status.state;
        let _ = write!(
            out,
            "<article class=\"card product\" id=\"{}\"><header><h3>{}</h3><span class=\"state s-{}\">{} {}</span></header>",
            escape(&anchor(&row.product.id)),
            escape(&row.product.name),
            state.as_str(),
            symbol(state, false),
            state.as_str(),
        );
        let about: Vec<String> = [row.product.description.as_deref(), row.product.owner.as_deref().map(|o| o.trim())]
            .into_iter()
            .flatten()
            .map(escape)
            .collect();
        if !about.is_empty() {
            let _ = write!(out, "<p class=\"muted\">{}</p>", about.join(" · "));
        }
        if let Some(note) = &status.note {
            let _ = write!(out, "<p>{}</p>", escape(note));
        }
        out.push_str("<ul class=\"metrics\">");
        // Healthy metrics in one line: on a page of thousands of tables, what is wrong stands out.
        let (fine, notable): (Vec<_>, Vec<_>) = status.metrics.0.iter().partition(|(_, m)| m.state == State::Up);
        for (metric, m) in &notable {
            let _ = write!(
                out,
                "<li><b class=\"s-{}\">{} {}</b> {}</li>",
                m.state.as_str(),
                symbol(m.state, false),
                escape(&capitalized(metric.as_str())),
                escape(&m.reason)
            );
        }
        if !fine.is_empty() {
            let names: Vec<String> = fine.iter().map(|(metric, _)| metric.as_str().to_string()).collect();
            let lead = if notable.is_empty() { "All metrics up" } else { "Up" };
            let _ = write!(
                out,
                "<li><span class=\"s-up\">{}</span> {lead}: {}</li>",
                symbol(State::Up, false),
                escape(&names.join(", "))
            );
        }
        out.push_str("</ul>");
        bars(out, &row.bars, &day_names);
        let uptime = status.uptime.as_ref();
        let figure = |v: Option<f64>| v.map_or("no data".to_string(), |v| format!("{v:.2} %"));
        let _ = writeln!(
            out,
            "<p class=\"muted\">Uptime: 90 days {} · 30 days {} · 7 days {}{}{}</p></article>",
            figure(uptime.and_then(|u| u.quarter)),
            figure(uptime.and_then(|u| u.month)),
            figure(uptime.and_then(|u| u.week)),
            row.last_refresh.map(|t| format!(" · last refreshed {}", stamp(t))).unwrap_or_default(),
            row.checked_at.map(|t| format!(" · checked {}", stamp(t))).unwrap_or_default(),
        );
    }
    if group.is_some() {
        out.push_str("</section>\n");
    }
}

/// 90 day bars, oldest first; colour, height and a label per day so colour is not needed.
fn bars(out: &mut String, bars: &[Option<State>], day_names: &[String]) {
    let mut counts = [0usize; 5];
    let mut no_data = 0;
    for bar in bars {
        match bar {
            Some(s) => counts[*s as usize] += 1,
            None => no_data += 1,
        }
    }
    let mut summary: Vec<String> = State::ALL
        .iter()
        .rev()
        .filter(|s| counts[**s as usize] > 0)
        .map(|s| format!("{} {}", counts[*s as usize], s.as_str()))
        .collect();
    if no_data > 0 {
        summary.push(format!("{no_data} without data"));
    }
    let _ = write!(
        out,
        "<div class=\"bars\" role=\"img\" aria-label=\"Last {} days, worst state each day: {}\">",
        bars.len(),
        summary.join(", ")
    );
    for (bar, day) in bars.iter().zip(day_names) {
        let class = bar.map_or("none", State::as_str);
        let _ = write!(
            out,
            "<span class=\"b-{class}\" title=\"{}: {}\"></span>",
            escape(day),
            bar.map_or("no data", State::as_str)
        );
    }
    out.push_str("</div><div class=\"scale muted\"><span>90 days ago</span><span>today</span></div>");
}

fn past_incidents(out: &mut String, page: &Page) {
    let past: Vec<&Incident> = page.incidents.iter().filter(|i| i.resolved_at.is_some()).collect();
    out.push_str("<section id=\"past-incidents\">\n<h2>Past incidents (30 days)</h2>\n");
    if past.is_empty() {
        out.push_str("<p class=\"muted\">No incidents in the last 30 days.</p>\n");
    }
    for i in past {
        let resolved = i.resolved_at.unwrap_or(i.opened_at);
        let _ = writeln!(
            out,
            "<article class=\"card\" id=\"incident-{}\"><h3><span class=\"s-up\">{}</span> {}</h3>\
             <p class=\"muted\">#{} · resolved {} after {}</p>{}</article>",
            i.id,
            symbol(State::Up, false),
            escape(&i.title),
            i.id,
            stamp(resolved),
            crate::timefmt::span(resolved - i.opened_at),
            timeline(i),
        );
    }
    out.push_str("</section>\n");
}

fn timeline(i: &Incident) -> String {
    let mut out = String::from("<ul class=\"timeline\">");
    for u in i.timeline() {
        let _ = write!(
            out,
            "<li><span class=\"muted\">{}</span>{} {}</li>",
            stamp(u.at),
            u.status.map(|s| format!(" <strong>{s}</strong>")).unwrap_or_default(),
            escape(&u.message)
        );
    }
    out.push_str("</ul>");
    out
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
