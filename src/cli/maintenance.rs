//! `tablestat maintenance add|list|end`: planned work, announced before it happens.

use chrono::{DateTime, Utc};

use super::{EXIT_USAGE, Failure, store_error};
use crate::config::Config;
use crate::store::Scope;
use crate::text::inert;
use crate::timefmt;

#[derive(Debug, clap::Subcommand)]
pub enum MaintenanceCommand {
    /// Announce a window: its products show `maintenance` while it lasts.
    Add {
        /// `all`, `group:NAME` or `product:ID` (a bare id is a product).
        scope: String,
        /// What users should know.
        #[arg(long, short)]
        message: String,
        /// When it starts: `now` (default), `+30m`, `2026-11-26 22:00`, RFC 3339.
        #[arg(long, default_value = "now")]
        start: String,
        /// When it ends (or give --duration).
        #[arg(long, conflicts_with = "duration")]
        end: Option<String>,
        /// How long it lasts: `2h`, `30m`.
        #[arg(long)]
        duration: Option<String>,
        /// Who announces it (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Active and upcoming windows (with --all, past ones too).
    List {
        /// Past windows too.
        #[arg(long)]
        all: bool,
        /// Print JSON (times in seconds since the epoch).
        #[arg(long)]
        json: bool,
    },
    /// End a window now (or cancel one not started).
    End {
        /// The window's number (`maintenance list` shows them; `3` or `#3`).
        #[arg(value_parser = super::parse_number)]
        id: i64,
    },
}

pub async fn run(config: &Config, command: MaintenanceCommand) -> Result<u8, Failure> {
    super::with_store(config, move |store| run_blocking(store, command)).await
}

/// A scope as people type it: a product by id or name, a group in any case, as the products
/// stored know them.
fn by_names(store: &crate::store::Store, scope: Scope, now: i64) -> Result<Scope, Failure> {
    let current = store.current_snapshot(now, crate::timefmt::display_zone(), &[]).map_err(store_error)?;
    let products = || current.products.iter().map(|p| (p.product.id.as_str(), p.product.name.as_str()));
    Ok(match scope {
        Scope::Product(word) => Scope::Product(super::resolve_product(&word, products())?),
        Scope::Group(word) => {
            let groups = || current.products.iter().map(|p| (p.product.group.as_str(), p.product.group.as_str()));
            Scope::Group(super::resolve_product(&word, groups()).map_err(|_| {
                let names = distinct(&groups().map(|(g, _)| g).collect::<Vec<_>>());
                let hint = match crate::spelling::nearest(&word, &names) {
                    Some(best) => format!(": did you mean {best}?"),
                    None => format!(": the groups are {}", names.join(", ")),
                };
                Failure::new(EXIT_USAGE, format!("no group `{}`{hint}", inert(&word)))
            })?)
        }
        Scope::All => Scope::All,
    })
}

/// Each word once, in order.
fn distinct<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for w in words {
        if !seen.contains(w) {
            seen.push(*w);
        }
    }
    seen
}

fn run_blocking(store: &mut crate::store::Store, command: MaintenanceCommand) -> Result<u8, Failure> {
    let now = Utc::now();
    let usage = |e: String| Failure::new(EXIT_USAGE, e);
    match command {
        MaintenanceCommand::Add { scope, message, start, end, duration, author } => {
            if message.trim().is_empty() {
                return Err(usage("say what users should know: -m \"Warehouse upgrade\"".into()));
            }
            let starts = super::when::parse_time(&start, now).map_err(usage)?;
            let ends = match (end, duration) {
                (Some(end), _) => super::when::parse_time(&end, now).map_err(usage)?,
                (None, Some(d)) => {
                    let d = humantime::parse_duration(&d)
                        .map_err(|_| usage(format!("`{d}` is not a duration: write it like 2h or 30m")))?;
                    starts + chrono::Duration::from_std(d).map_err(|e| usage(e.to_string()))?
                }
                (None, None) => {
                    return Err(usage("say when it ends: --end TIME or --duration 2h".into()));
                }
            };
            if ends <= starts {
                return Err(usage(format!(
                    "the window ends ({}) before it starts ({})",
                    timefmt::stamp(ends),
                    timefmt::stamp(starts)
                )));
            }
            let scope = by_names(store, Scope::parse(&scope), now.timestamp())?;
            if !store.scope_exists(&scope).map_err(store_error)? {
                return Err(usage(format!(
                    "no {scope} in the history yet: use `all`, `group:NAME` or `product:ID` as `tablestat status` lists them (a poll registers products)"
                )));
            }
            let author = author.or_else(|| std::env::var("USER").ok());
            let id = store
                .add_maintenance(
                    &scope,
                    starts.timestamp(),
                    ends.timestamp(),
                    &message,
                    author.as_deref(),
                    now.timestamp(),
                )
                .map_err(store_error)?;
            crate::output::line(format!(
                "Maintenance #{id} for {}: {} to {}.",
                inert(&scope.to_string()),
                timefmt::stamp(starts),
                timefmt::stamp(ends)
            ))?;
        }
        MaintenanceCommand::List { all, json } => {
            let windows = store.maintenance_windows(now.timestamp(), all).map_err(store_error)?;
            if json {
                super::emit_json(&windows)?;
            } else if windows.is_empty() {
                crate::output::line("No maintenance planned.")?;
            } else {
                let at = |t: i64| DateTime::from_timestamp(t, 0).unwrap_or_default();
                for w in windows {
                    let when = if w.cancelled_at.is_some() {
                        "cancelled"
                    } else if w.is_active(now.timestamp()) {
                        "active   "
                    } else if w.starts_at > now.timestamp() {
                        "upcoming "
                    } else {
                        "ended    "
                    };
                    crate::output::line(format!(
                        "#{:<4} {when} {} to {}  {}: {}",
                        w.id,
                        timefmt::stamp(at(w.starts_at)),
                        timefmt::stamp(at(w.ends_at)),
                        inert(&w.scope.to_string()),
                        inert(&w.message)
                    ))?;
                }
            }
        }
        MaintenanceCommand::End { id } => {
            let said = match store.end_maintenance(id, now.timestamp()).map_err(store_error)? {
                crate::store::Ended::Ended => format!("Maintenance #{id} ended."),
                crate::store::Ended::Cancelled => {
                    format!("Maintenance #{id} cancelled: it had not begun, so it never happens (its plan is kept).")
                }
            };
            crate::output::line(said)?;
        }
    }
    Ok(0)
}
