//! `tablestat report`: each product's and metric's uptime against its SLO over a window,
//! the error budget left, incidents, mean times to detect, acknowledge and resolve, and
//! every stretch of time left out of the figures, with who decided it and why.

use std::fmt::Write;

use super::{Failure, with_history};
use crate::config::Config;
use crate::slo::{self, SloRow};
use crate::uptime::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The window, back from now: "30d", "7d", "12h".
    #[arg(long, default_value = "30d", value_parser = parse_window)]
    pub since: std::time::Duration,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    pub format: ReportFormat,
    /// Only these products (by id).
    pub products: Vec<String>,
}

fn parse_window(text: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_duration(text)
}

pub async fn run(config: &Config, args: ReportArgs, ascii: bool) -> Result<u8, Failure> {
    let now = chrono::Utc::now().timestamp();
    let since = now - args.since.as_secs() as i64;
    let input = with_history(config, move |store| store.slo_input(since, now).map_err(super::store_error)).await?;
    let ids = super::resolve_products(&args.products, input.products.iter().map(|p| (p.id.as_str(), p.name.as_str())))?;
    let rows: Vec<SloRow> = slo::report(&input, Span::new(since, now))
        .into_iter()
        .filter(|r| ids.is_empty() || ids.contains(&r.product))
        .collect();
    let excluded: Vec<slo::Exclusion> = slo::exclusions(&input, Span::new(since, now))
        .into_iter()
        .filter(|x| ids.is_empty() || ids.contains(&x.product))
        .collect();
    let at = crate::timefmt::rfc3339_at;
    let text = match args.format {
        ReportFormat::Json => {
            return super::emit_json(
                &serde_json::json!({"since": at(since), "until": at(now), "rows": rows, "excluded": excluded}),
            )
            .map(|()| 0);
        }
        ReportFormat::Csv => csv(&rows),
        ReportFormat::Table => table(&rows, &excluded, since, now, ascii),
    };
    super::emit(&text)?;
    Ok(0)
}

const CSV_HEADER: &str = "product,name,group,metric,slo,slo_is_default,uptime,judged_seconds,down_seconds,budget_seconds,budget_left,met,incidents,mean_time_to_detect,mean_time_to_resolve,mean_time_to_acknowledge";

/// RFC 4180: fields quoted when they hold a comma, a quote or a line break; empty for none.
fn csv(rows: &[SloRow]) -> String {
    let field = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    let mut out = format!("{CSV_HEADER}\r\n");
    for r in rows {
        let fields = [
            field(&r.product),
            field(&r.name),
            field(&r.group),
            field(&r.metric),
            r.slo.to_string(),
            r.slo_is_default.to_string(),
            opt(r.uptime.map(|u| u.to_string())),
            r.judged_seconds.to_string(),
            r.down_seconds.to_string(),
            r.budget_seconds.to_string(),
            opt(r.budget_left.map(|b| b.to_string())),
            opt(r.met.map(|m| m.to_string())),
            r.incidents.to_string(),
            opt(r.mean_time_to_detect.map(|t| t.to_string())),
            opt(r.mean_time_to_resolve.map(|t| t.to_string())),
            opt(r.mean_time_to_acknowledge.map(|t| t.to_string())),
        ];
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// For people: one block per product, its overall line first, times in words.
fn table(rows: &[SloRow], excluded: &[slo::Exclusion], since: i64, now: i64, ascii: bool) -> String {
    let mut out = format!(
        "SLO report, {} to {} ({})\n\n",
        crate::timefmt::stamp_at(since),
        crate::timefmt::stamp_at(now),
        crate::timefmt::span(now - since),
    );
    let name_width =
        rows.iter().map(|r| r.name.chars().count().max(r.metric.chars().count() + 2)).max().unwrap_or(7).max(7);
    let _ = writeln!(
        out,
        "{:<name_width$}  {:>7}  {:>8}  {:>11}  {:>9}  {:>10}  {:>10}  {:>10}",
        "PRODUCT", "SLO", "UPTIME", "BUDGET LEFT", "INCIDENTS", "MTTD", "MTTA", "MTTR"
    );
    let time = |t: Option<i64>| t.map_or("-".to_string(), crate::timefmt::span);
    for r in rows {
        let label =
            if r.metric == "overall" { crate::text::inert(&r.name).into_owned() } else { format!("  {}", r.metric) };
        let mark = match r.met {
            Some(true) => crate::theme::symbol(crate::model::State::Up, ascii),
            Some(false) => crate::theme::symbol(crate::model::State::Down, ascii),
            None => "?",
        };
        let _ = writeln!(
            out,
            "{label:<name_width$}  {:>7}  {:>8}  {:>11}  {:>9}  {:>10}  {:>10}  {:>10}",
            format!("{}%{}", r.slo, if r.slo_is_default { "*" } else { " " }),
            r.uptime.map_or("no data".to_string(), |u| format!("{mark} {u:.2}")),
            r.budget_left.map_or("-".to_string(), |b| format!("{b:.1}%")),
            r.incidents,
            time(r.mean_time_to_detect),
            time(r.mean_time_to_acknowledge),
            time(r.mean_time_to_resolve),
        );
    }
    if rows.iter().any(|r| r.slo_is_default) {
        let _ =
            writeln!(out, "\n* no slo in the config: {}% applies (set `slo = …` in the [[product]])", slo::DEFAULT_SLO);
    }
    out.push_str("Uptime counts up and degraded time against judged time; maintenance, unknown and unwatched time are left out.\n");
    if !excluded.is_empty() {
        out.push_str("\nLeft out of the figures (incidents closed as not counting against the table):\n");
        for x in excluded {
            let by = x.by.as_deref().map_or_else(|| "nobody named".to_string(), |b| crate::text::inert(b).into_owned());
            let note = x.note.as_deref().map(|n| format!(": \"{}\"", crate::text::inert(n))).unwrap_or_default();
            let _ = writeln!(
                out,
                "  #{} {}  {} to {} ({})  {} by {by}{note}",
                x.incident,
                crate::text::inert(&x.name),
                crate::timefmt::stamp_at(x.from),
                crate::timefmt::stamp_at(x.until),
                crate::timefmt::span(x.seconds),
                x.resolution.words(),
            );
        }
    }
    out
}
