//! `tablestat incident list|show|update|acknowledge|resolve`: the data team speaks to its
//! users, says who took an incident and why it was closed.

use chrono::{DateTime, Utc};

use super::{EXIT_USAGE, Failure, store_error};
use crate::config::Config;
use crate::model::Resolution;
use crate::store::{Incident, IncidentStatus};
use crate::text::inert;
use crate::timefmt;

#[derive(Debug, clap::Subcommand)]
pub enum IncidentCommand {
    /// Incidents, open first, then the most recent.
    List {
        /// Only this product's.
        #[arg(long)]
        product: Option<String>,
        /// How many at most.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON (times in seconds since the epoch).
        #[arg(long)]
        json: bool,
    },
    /// One incident and its timeline.
    Show {
        /// The incident's number (`incident list` shows them; `61` or `#61`).
        #[arg(value_parser = super::parse_number)]
        id: i64,
        /// Print JSON (times in seconds since the epoch).
        #[arg(long)]
        json: bool,
    },
    /// Add an update: what you know, with a status and an optional ETA.
    Update {
        /// The incident's number (`61` or `#61`).
        #[arg(value_parser = super::parse_number)]
        id: i64,
        /// investigating, identified, monitoring or resolved.
        #[arg(long, value_parser = parse_status)]
        status: IncidentStatus,
        /// What the users should know.
        #[arg(long, short)]
        message: String,
        /// When it should be fixed: `+2h`, `2026-11-26 16:00`, RFC 3339.
        #[arg(long)]
        eta: Option<String>,
        /// Who says so (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Say you are on it: recorded once, in the timeline and to the webhooks; the SLO report
    /// gains the time to acknowledge.
    #[command(alias = "ack")]
    Acknowledge {
        /// The incident's number (`61` or `#61`).
        #[arg(value_parser = super::parse_number)]
        id: i64,
        /// What users should know.
        #[arg(long, short, default_value = "Looking into it.")]
        message: String,
        /// Who takes it (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Resolve an incident by hand, saying why (it also resolves itself, as `fixed`, when the
    /// table is back up); on a resolved incident, `--reason` says why it was closed.
    Resolve {
        /// The incident's number (`61` or `#61`).
        #[arg(value_parser = super::parse_number)]
        id: i64,
        /// fixed (default), expected, false-positive or upstream. Time under a false positive
        /// (and an expected one, where the product sets `exclude_expected`) leaves uptime and
        /// the SLO figures; the report lists it with who said so.
        #[arg(long, value_parser = parse_reason)]
        reason: Option<Resolution>,
        /// What users should know.
        #[arg(long, short, default_value = "Resolved.")]
        message: String,
        /// Who says so (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
}

fn parse_reason(text: &str) -> Result<Resolution, String> {
    Resolution::parse(text).ok_or_else(|| {
        let known: Vec<&str> = Resolution::ALL.iter().map(|r| r.as_str()).collect();
        format!("`{text}` is not a reason: use {}", known.join(", "))
    })
}

fn parse_status(text: &str) -> Result<IncidentStatus, String> {
    IncidentStatus::parse(text)
        .ok_or_else(|| format!("`{text}` is not a status: use investigating, identified, monitoring or resolved"))
}

pub async fn run(config: &Config, command: IncidentCommand) -> Result<u8, Failure> {
    super::with_store(config, move |store| run_blocking(store, command)).await
}

fn run_blocking(store: &mut crate::store::Store, command: IncidentCommand) -> Result<u8, Failure> {
    let now = Utc::now();
    match command {
        IncidentCommand::List { product, limit, json } => {
            let product = match &product {
                Some(product) => {
                    let current = store
                        .current_snapshot(now.timestamp(), crate::timefmt::display_zone(), &[])
                        .map_err(store_error)?;
                    let known = current.products.iter().map(|p| (p.product.id.as_str(), p.product.name.as_str()));
                    super::resolve_products(std::slice::from_ref(product), known)?.pop()
                }
                None => None,
            };
            let incidents = store.incidents(product.as_deref(), limit).map_err(store_error)?;
            if json {
                super::emit_json(&incidents)?;
            } else if incidents.is_empty() {
                crate::output::line("No incidents.")?;
            } else {
                for i in &incidents {
                    super::emit(&format!("{}\n", list_line(i, now.timestamp())))?;
                }
            }
        }
        IncidentCommand::Show { id, json } => {
            let incident = store.incident(id).map_err(store_error)?;
            if json {
                super::emit_json(&incident)?;
            } else {
                super::emit(&show(&incident, now.timestamp()))?;
            }
        }
        IncidentCommand::Update { id, status, message, eta, author } => {
            said(&message)?;
            let eta = eta
                .map(|t| super::when::parse_time(&t, now).map(|t| t.timestamp()))
                .transpose()
                .map_err(|e| Failure::new(EXIT_USAGE, e))?;
            if let Some(eta) = eta.filter(|eta| *eta <= now.timestamp()) {
                return Err(Failure::new(
                    EXIT_USAGE,
                    format!(
                        "the ETA {} has already passed: give a time ahead, e.g. --eta +2h",
                        timefmt::stamp(at(eta))
                    ),
                ));
            }
            let author = author.or_else(|| std::env::var("USER").ok());
            store
                .update_incident(id, status, &message, eta, author.as_deref(), now.timestamp())
                .map_err(store_error)?;
            crate::output::line(format!("Incident #{id}: {status}."))?;
        }
        IncidentCommand::Acknowledge { id, message, author } => {
            said(&message)?;
            let author = author.or_else(|| std::env::var("USER").ok());
            store.acknowledge_incident(id, author.as_deref(), &message, now.timestamp()).map_err(store_error)?;
            crate::output::line(format!("Incident #{id}: acknowledged."))?;
        }
        IncidentCommand::Resolve { id, reason, message, author } => {
            said(&message)?;
            let author = author.or_else(|| std::env::var("USER").ok());
            let before = store.incident(id).map_err(store_error)?;
            let was_open = before.resolved_at.is_none();
            store.resolve_incident(id, reason, &message, author.as_deref(), now.timestamp()).map_err(store_error)?;
            let left_out = store
                .excluded_incidents(0, Some(&before.product))
                .map_err(store_error)?
                .iter()
                .any(|x| x.incident.id == id);
            crate::output::line(format!(
                "Incident #{id}: {} as {}.{}",
                if was_open { "resolved" } else { "closed" },
                reason.unwrap_or(Resolution::Fixed).words(),
                if left_out { " Its time is left out of uptime and the SLO figures; `report` lists it." } else { "" }
            ))?;
            if !was_open {
                return Ok(0);
            }
            // Resolved by hand while the table is still down: the next poll opens another.
            let product = before.product;
            let current =
                store.current_snapshot(now.timestamp(), crate::timefmt::display_zone(), &[]).map_err(store_error)?;
            if current.products.iter().any(|p| p.product.id == product && p.state == crate::model::State::Down) {
                eprintln!(
                    "tablestat: warning: {product} is still down, so the next poll opens a new incident; \
                     while it recovers, say so with `incident update {id} --status monitoring`"
                );
            }
        }
    }
    Ok(0)
}

/// An update with no words would show as a blank line in every timeline.
fn said(message: &str) -> Result<(), Failure> {
    if message.trim().is_empty() {
        return Err(Failure::new(
            EXIT_USAGE,
            "the message is empty: say what users should know, e.g. -m \"Rerunning the load\"",
        ));
    }
    Ok(())
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

fn list_line(i: &Incident, now: i64) -> String {
    let duration = i.resolved_at.unwrap_or(now) - i.opened_at;
    format!(
        "#{:<4} {:<13} {:<8} {:<20} opened {} ({}), {} {}  {}",
        i.id,
        i.status.as_str(),
        i.severity,
        match i.table_count() {
            1 => inert(&i.product).into_owned(),
            n => format!("{} +{}", inert(&i.product), n - 1),
        },
        timefmt::ago(at(i.opened_at), at(now)),
        timefmt::stamp(at(i.opened_at)),
        if i.resolved_at.is_some() { "lasted" } else { "open for" },
        timefmt::span(duration),
        inert(&i.title)
    )
}

fn show(i: &Incident, now: i64) -> String {
    let mut out = format!("#{} {}\n", i.id, inert(&i.title));
    out.push_str(&format!(
        "  product   {}\n  status    {}\n  severity  {}\n  metrics   {}\n",
        inert(&i.product),
        i.status,
        i.severity,
        inert(&i.metrics.join(", "))
    ));
    out.push_str(&format!(
        "  opened    {} (time to detect: {})\n",
        timefmt::stamp(at(i.opened_at)),
        timefmt::span(i.time_to_detect())
    ));
    match i.resolved_at {
        Some(r) => out.push_str(&format!(
            "  resolved  {} (time to resolve: {})\n",
            timefmt::stamp(at(r)),
            timefmt::span(r - i.opened_at)
        )),
        None => out.push_str(&format!("  open for  {}\n", timefmt::span(now - i.opened_at))),
    }
    if i.members.len() > 1 {
        for (n, m) in i.members.iter().enumerate() {
            let when = match m.left_at {
                Some(left) => format!("{} to {}", timefmt::stamp(at(m.joined_at)), timefmt::stamp(at(left))),
                None => format!("since {}", timefmt::stamp(at(m.joined_at))),
            };
            let label = if n == 0 { "  tables   " } else { "           " };
            out.push_str(&format!("{label} {} ({when})\n", inert(&m.product)));
        }
    }
    if let Some(affects) = i.affects() {
        out.push_str(&format!("  affects   {}\n", inert(&affects)));
    }
    if let Some(closed) = i.closed_as() {
        out.push_str(&format!("  closed as {}\n", inert(&closed)));
    }
    if let (Some(taken), Some(wait)) = (i.acknowledged_at, i.time_to_acknowledge()) {
        out.push_str(&format!(
            "  taken     {} by {} (time to acknowledge: {})\n",
            timefmt::stamp(at(taken)),
            inert(i.acknowledged_by.as_deref().unwrap_or("the data team")),
            timefmt::span(wait)
        ));
    }
    if let Some(eta) = i.eta {
        out.push_str(&format!("  eta       {}\n", timefmt::stamp(at(eta))));
    }
    out.push_str("  timeline (newest first)\n");
    for u in i.timeline() {
        let who = inert(u.said_by());
        let status = u.status.map(|s| format!("[{s}] ")).unwrap_or_default();
        let eta = u.eta.map(|e| format!(" (ETA {})", timefmt::stamp(at(e)))).unwrap_or_default();
        out.push_str(&format!("    {}  {who}: {status}{}{eta}\n", timefmt::stamp(at(u.at)), inert(&u.message)));
    }
    out
}
