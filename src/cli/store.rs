//! `tablestat store copy --to FILE`: the whole history into a new database file (a backup,
//! or a move to another disk or host), consistent while a poller writes, then checked
//! against the moment it was taken: every table's row count, references, integrity, and the
//! 90-day report (uptime, incidents, error budgets) computed on both sides.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{EXIT_INTERNAL, EXIT_IO, EXIT_USAGE, Failure, open_history, store_error};
use crate::config::Config;
use crate::store::{Store, TableCounts};
use crate::uptime::Span;

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy the whole history into a new database file and check the copy (safe while
    /// `tablestat poll` runs): a backup, or a move to another disk or host.
    Copy(CopyArgs),
}

#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The new database file; it must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
}

/// The report the copy is checked by covers this much history.
const CHECKED_DAYS: i64 = 90;

pub async fn run(config: &Config, command: StoreCommand) -> Result<u8, Failure> {
    let StoreCommand::Copy(args) = command;
    let to = args.to;
    if to.to_string_lossy().contains("://") {
        return Err(Failure::new(
            EXIT_USAGE,
            format!("--to {}: this tablestat copies into a database file only: give a path", to.display()),
        ));
    }
    if to.exists() {
        return Err(Failure::new(
            EXIT_USAGE,
            format!("{} exists already: a copy goes into a new file (remove it, or pick another name)", to.display()),
        ));
    }
    let source = open_history(config)?;
    let from = config.store_path.clone();
    let done = tokio::task::spawn_blocking(move || copy(source, &to).map(|said| (said, to)))
        .await
        .map_err(|e| Failure::new(EXIT_INTERNAL, e.to_string()))?;
    let (checked, to) = done?;
    let size = std::fs::metadata(&to).map_or(0, |m| m.len());
    crate::output::line(format!(
        "copied {} to {}: {} rows in {} tables ({:.1} MB)",
        from.display(),
        to.display(),
        checked.counts.rows(),
        checked.counts.0.len(),
        size as f64 / 1e6
    ))?;
    crate::output::line(format!(
        "checked: the same rows in every table, no broken reference, integrity ok, and the same {CHECKED_DAYS}-day \
         report of {} products (uptime, incidents, error budgets) on both sides",
        checked.products
    ))?;
    Ok(0)
}

struct Checked {
    counts: TableCounts,
    products: usize,
}

/// Copies into `to` by way of `to.partial` (renamed once checked, removed on any failure):
/// a kill leaves no file that looks like a finished copy.
fn copy(mut source: Store, to: &Path) -> Result<Checked, Failure> {
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial = to.with_file_name(name);
    remove_database(&partial);
    let checked = copy_and_check(&mut source, &partial);
    match checked {
        Ok(checked) => {
            std::fs::rename(&partial, to).map_err(|e| {
                Failure::new(EXIT_IO, format!("cannot move {} to {}: {e}", partial.display(), to.display()))
            })?;
            Ok(checked)
        }
        Err(e) => {
            remove_database(&partial);
            Err(e)
        }
    }
}

fn copy_and_check(source: &mut Store, partial: &Path) -> Result<Checked, Failure> {
    let now = chrono::Utc::now().timestamp();
    let window = Span::new(now - CHECKED_DAYS * 86_400, now);
    let figures = |store: &Store| -> crate::store::Result<(usize, serde_json::Value)> {
        let input = store.slo_input(window.start, window.end)?;
        let report = crate::slo::report(&input, window);
        let excluded = crate::slo::exclusions(&input, window);
        Ok((input.products.len(), serde_json::json!({"rows": report, "excluded": excluded})))
    };
    let (counts, (products, before)) = source.copy_into(partial, figures).map_err(store_error)?;
    let copy = Store::open(partial).map_err(store_error)?;
    let differs = |what: String| Failure::new(EXIT_IO, format!("the copy differs from the source: {what}"));
    let copied = copy.table_counts().map_err(store_error)?;
    if let Some(((table, want), (_, got))) = counts.0.iter().zip(&copied.0).find(|(a, b)| a != b) {
        return Err(differs(format!("table {table} has {got} rows, the source {want}")));
    }
    if copied.0.len() != counts.0.len() {
        return Err(differs(format!("{} tables, the source {}", copied.0.len(), counts.0.len())));
    }
    let broken = copy.broken_references().map_err(store_error)?;
    if broken > 0 {
        return Err(differs(format!("{broken} rows refer to rows that are not there")));
    }
    let integrity = copy.integrity_check().map_err(store_error)?;
    if integrity != "ok" {
        return Err(differs(format!("integrity check: {integrity}")));
    }
    let (_, after) = figures(&copy).map_err(store_error)?;
    if after != before {
        return Err(differs(format!("the {CHECKED_DAYS}-day report is not the same")));
    }
    Ok(Checked { counts, products })
}

/// Removes a database file and the journal files SQLite keeps beside it.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
}
