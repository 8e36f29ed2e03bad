//! `tablestat store copy --to FILE|URL [--from FILE|URL]`: the whole history into a new
//! database — a SQLite file (a backup, a move to another disk or host) or a PostgreSQL
//! database, and back — read in one snapshot (safe while a poller writes), then checked
//! against the moment it was taken.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{EXIT_INTERNAL, EXIT_IO, EXIT_NO_CONFIG, EXIT_USAGE, Failure, store_error};
use crate::config::{Config, PostgresLocation, StoreLocation};
use crate::store::{Store, TableCounts};
use crate::uptime::Span;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the whole history into a new database file or an empty PostgreSQL database, and
    /// check the copy (safe while `tablestat poll` runs).
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// Where to: a new database file (it must not exist yet), or
    /// `postgres://user[:password]@host[:port]/database` (empty, schema made as needed).
    #[arg(long, value_name = "FILE|URL")]
    pub to: String,
    /// Where from, instead of the config's `[store]`: a database file or a PostgreSQL URL.
    #[arg(long, value_name = "FILE|URL")]
    pub from: Option<String>,
}

/// The report the copy is checked by covers this much history.
const CHECKED_DAYS: i64 = 90;

/// A place a history lives: a file, or a PostgreSQL database (the config's own, with its
/// password and `ca_file`, when its address is the config's `[store] url`).
fn place(text: &str, config: &Config) -> Result<StoreLocation, Failure> {
    match text.split_once("://") {
        Some(("postgres" | "postgresql", _)) => Ok(match &config.store {
            StoreLocation::Postgres(own) if own.url == text => config.store.clone(),
            _ => StoreLocation::Postgres(PostgresLocation { url: text.to_string(), password: None, ca_file: None }),
        }),
        Some((scheme, _)) => Err(Failure::new(
            EXIT_USAGE,
            format!("`{scheme}://…`: a history lives in a database file or at a postgres:// URL"),
        )),
        None => Ok(StoreLocation::File(PathBuf::from(text))),
    }
}

/// As people see it: a URL without its password.
fn shown(place: &StoreLocation) -> String {
    match place {
        StoreLocation::File(path) => path.display().to_string(),
        StoreLocation::Postgres(pg) => match pg.url.split_once('@') {
            Some((_, host)) => format!("postgres://…@{host}"),
            None => pg.url.clone(),
        },
    }
}

pub async fn run(config: &Config, command: StoreCommand) -> Result<u8, Failure> {
    let StoreCommand::Copy(args) = command;
    let from = match &args.from {
        Some(text) => place(text, config)?,
        None => config.store.clone(),
    };
    let to = place(&args.to, config)?;
    if let StoreLocation::File(path) = &to {
        if path.exists() {
            return Err(Failure::new(
                EXIT_USAGE,
                format!(
                    "{} exists already: a copy goes into a new file (remove it, or pick another name)",
                    path.display()
                ),
            ));
        }
    }
    if let StoreLocation::File(path) = &from {
        if !path.exists() {
            return Err(Failure::new(EXIT_NO_CONFIG, format!("no history at {}: nothing to copy", path.display())));
        }
    }
    let (shown_from, shown_to) = (shown(&from), shown(&to));
    let base = config.base_dir().to_path_buf();
    let done = tokio::task::spawn_blocking(move || copy(&from, &to, &base))
        .await
        .map_err(|e| Failure::new(EXIT_INTERNAL, e.to_string()))??;
    crate::output::line(format!(
        "copied {shown_from} to {shown_to}: {} rows in {} tables",
        done.counts.rows(),
        done.counts.0.len()
    ))?;
    crate::output::line(format!("checked: {}", done.checked.join(", ")))?;
    Ok(0)
}

struct Copied {
    counts: TableCounts,
    /// What was checked, in words.
    checked: Vec<String>,
}

fn open(place: &StoreLocation, base: &Path) -> Result<Store, Failure> {
    Store::open_at(place, base).map_err(store_error)
}

/// A file target is written as `NAME.partial`, renamed once checked and removed on any
/// failure: a kill leaves no file that looks like a finished copy.
fn copy(from: &StoreLocation, to: &StoreLocation, base: &Path) -> Result<Copied, Failure> {
    let mut source = open(from, base)?;
    match to {
        StoreLocation::Postgres(_) => copy_and_check(&mut source, &mut open(to, base)?),
        StoreLocation::File(path) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".partial");
            let partial = path.with_file_name(name);
            remove_database(&partial);
            let copied = open(&StoreLocation::File(partial.clone()), base).and_then(|mut target| {
                let copied = copy_and_check(&mut source, &mut target);
                drop(target);
                copied
            });
            let renamed = copied.and_then(|copied| {
                std::fs::rename(&partial, path).map(|()| copied).map_err(|e| {
                    Failure::new(EXIT_IO, format!("cannot move {} to {}: {e}", partial.display(), path.display()))
                })
            });
            if renamed.is_err() {
                remove_database(&partial);
            }
            renamed
        }
    }
}

fn copy_and_check(source: &mut Store, target: &mut Store) -> Result<Copied, Failure> {
    let now = chrono::Utc::now().timestamp();
    let window = Span::new(now - CHECKED_DAYS * 86_400, now);
    let figures = |store: &Store| -> crate::store::Result<(usize, serde_json::Value)> {
        let input = store.slo_input(window.start, window.end)?;
        let report = crate::slo::report(&input, window);
        let excluded = crate::slo::exclusions(&input, window);
        Ok((input.products.len(), serde_json::json!({"rows": report, "excluded": excluded})))
    };
    let (counts, before) = source.copy_to(target, figures).map_err(store_error)?;
    let differs = |what: String| Failure::new(EXIT_IO, format!("the copy differs from the source: {what}"));
    let copied = target.table_counts().map_err(store_error)?;
    let compared: Vec<_> = copied.0.iter().filter(|(t, _)| counts.0.iter().any(|(s, _)| s == t)).collect();
    if let Some(((table, want), (_, got))) = counts.0.iter().zip(compared).find(|(a, b)| a != b) {
        return Err(differs(format!("table {table} has {got} rows, the source {want}")));
    }
    let mut checked = vec!["the same rows in every table".to_string()];
    if !target.is_postgres() {
        let broken = target.broken_references().map_err(store_error)?;
        if broken > 0 {
            return Err(differs(format!("{broken} rows refer to rows that are not there")));
        }
        let integrity = target.integrity_check().map_err(store_error)?;
        if integrity != "ok" {
            return Err(differs(format!("integrity check: {integrity}")));
        }
        checked.push("no broken reference, integrity ok".into());
    }
    let (products, before) = before;
    let (_, after) = figures(target).map_err(store_error)?;
    if after != before {
        return Err(differs(format!("the {CHECKED_DAYS}-day report is not the same")));
    }
    checked.push(format!(
        "the same {CHECKED_DAYS}-day report of {products} products (uptime, incidents, error budgets) on both sides"
    ));
    Ok(Copied { counts, checked })
}

/// Removes a database file and the journal files SQLite keeps beside it.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}
