//! Copying a whole history into another store — a new SQLite file, or a PostgreSQL database
//! (and back) — read in one snapshot, so a poller writing meanwhile is never seen half, and
//! written in one transaction, so a copy cut short leaves nothing that looks finished.

use super::db::{Db, DbResult, Value};
use super::{Backend, InStore, Result, Store, StoreError};

/// Not history: pending "poll now" requests, and PostgreSQL's schema version (each side
/// keeps its own). The lease is copied given up: the copy has no poller, but knows who
/// polled last and when.
const NOT_COPIED: [&str; 2] = ["poll_request", "tablestat_schema"];

/// Rows sent in one `INSERT`: few round trips, and a statement short enough to prepare once.
const ROWS_PER_INSERT: usize = 500;

/// Rows per table, as read at the moment a copy was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCounts(pub Vec<(String, i64)>);

impl TableCounts {
    pub fn rows(&self) -> i64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

/// The tables of history, each before the tables that refer to it.
fn history_tables(db: &mut Db<'_>) -> DbResult<Vec<String>> {
    let (tables, refers) = match db {
        Db::Sqlite(_) => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
            "SELECT count(*) FROM pragma_foreign_key_list(?1)",
        ),
        Db::Postgres(_) => (
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
            "SELECT count(*) FROM information_schema.table_constraints
             WHERE table_schema = current_schema() AND table_name = ?1 AND constraint_type = 'FOREIGN KEY'",
        ),
    };
    let names: Vec<String> = db.query(tables, &[], |r| r.get(0))?;
    let mut ordered = Vec::with_capacity(names.len());
    for name in names.into_iter().filter(|n| !NOT_COPIED.contains(&n.as_str())) {
        let refers = db.query_opt(refers, &[Value::Text(name.clone())], |r| r.get::<i64>(0))?.unwrap_or(0) > 0;
        ordered.push((refers, name));
    }
    ordered.sort();
    Ok(ordered.into_iter().map(|(_, name)| name).collect())
}

fn columns(db: &mut Db<'_>, table: &str) -> DbResult<Vec<String>> {
    let sql = match db {
        Db::Sqlite(_) => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        Db::Postgres(_) => {
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position"
        }
    };
    db.query(sql, &[Value::Text(table.to_string())], |r| r.get(0))
}

fn table_counts_in(db: &mut Db<'_>) -> DbResult<TableCounts> {
    let mut counts = Vec::new();
    for table in history_tables(db)? {
        let n = db.query_opt(&format!("SELECT count(*) FROM \"{table}\""), &[], |r| r.get::<i64>(0))?;
        counts.push((table, n.unwrap_or(0)));
    }
    Ok(TableCounts(counts))
}

/// `INSERT INTO table (columns) VALUES (?1, ?2), (?3, ?4) …` for `rows` rows.
fn insert_sql(table: &str, list: &str, width: usize, rows: usize) -> String {
    let places: Vec<String> = (0..rows)
        .map(|row| {
            let cells: Vec<String> = (1..=width).map(|col| format!("?{}", row * width + col)).collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    format!("INSERT INTO \"{table}\" ({list}) VALUES {}", places.join(", "))
}

/// Writes every row of every table of history from `from` into `to` (emptied first), as
/// they are read: the columns by name, many rows to a statement; a PostgreSQL target's row
/// ids then continue after the highest copied.
fn copy_tables(from: &mut Db<'_>, to: &mut Db<'_>) -> DbResult<TableCounts> {
    let mut counts = Vec::new();
    let tables = history_tables(from)?;
    // Children emptied before their parents.
    for table in tables.iter().rev() {
        to.execute(&format!("DELETE FROM \"{table}\""), &[])?;
    }
    for table in tables {
        let names = columns(from, &table)?;
        let list = names.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let width = names.len();
        let full = insert_sql(&table, &list, width, ROWS_PER_INSERT);
        let mut pending: Vec<Value> = Vec::with_capacity(width * ROWS_PER_INSERT);
        let mut copied = 0i64;
        from.for_each(&format!("SELECT {list} FROM \"{table}\""), &[], |r| {
            for i in 0..width {
                pending.push(r.get::<Value>(i)?);
            }
            copied += 1;
            if pending.len() == width * ROWS_PER_INSERT {
                to.execute(&full, &pending)?;
                pending.clear();
            }
            Ok(())
        })?;
        if !pending.is_empty() {
            to.execute(&insert_sql(&table, &list, width, pending.len() / width), &pending)?;
        }
        if matches!(to, Db::Postgres(_)) && names.iter().any(|c| c == "id") {
            let sequence = "SELECT pg_get_serial_sequence(?1, 'id')";
            if let Some(sequence) =
                to.query_opt(sequence, &[Value::Text(table.clone())], |r| r.get::<Option<String>>(0))?.flatten()
            {
                let highest = format!("(SELECT max(id) FROM \"{table}\")");
                let sql = format!("SELECT setval(?1::text::regclass, COALESCE({highest}, 1), {highest} IS NOT NULL)");
                to.execute(&sql, &[Value::Text(sequence)])?;
            }
        }
        counts.push((table, copied));
    }
    to.execute("UPDATE lease SET holder = ?1", &[Value::from(super::lease::RELEASED)])?;
    Ok(TableCounts(counts))
}

impl Store {
    /// Row counts of every table of history (the copied ones).
    pub fn table_counts(&self) -> Result<TableCounts> {
        table_counts_in(&mut self.db()).in_store(self)
    }

    /// Copies the whole history into `target`, which must hold none yet: read in one
    /// snapshot of this store (a poller writing meanwhile is not seen half), written in one
    /// transaction of the target. `at_the_moment` runs inside the snapshot, reading this
    /// store as the copy saw it (figures to check the copy against). Returns the rows
    /// copied and its answer.
    pub fn copy_to<T>(
        &mut self,
        target: &mut Store,
        at_the_moment: impl FnOnce(&Store) -> Result<T>,
    ) -> Result<(TableCounts, T)> {
        if target.schema_version()? != self.schema_version()? {
            return Err(StoreError::Refused(format!(
                "{} is at schema {}, this history at {}: run this tablestat on both",
                target.path,
                target.schema_version()?,
                self.schema_version()?
            )));
        }
        let holding = target.table_counts()?.0.into_iter().find(|(table, n)| *n > 0 && table != "meta");
        if let Some((table, n)) = holding {
            return Err(StoreError::Refused(format!(
                "{} holds history already ({n} rows in {table}): a copy goes into an empty database",
                target.path
            )));
        }
        let begin = match self.backend {
            Backend::Sqlite(_) => "BEGIN",
            Backend::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        self.db().execute_batch(begin).in_store(self)?;
        let copied = (|| {
            let counts = target.db().write(|to| copy_tables(&mut self.db(), to)).in_store(target)?;
            Ok((counts, at_the_moment(self)?))
        })();
        let _ = self.db().execute_batch("ROLLBACK");
        target.after_bulk_load()?;
        copied
    }

    /// Rows that point at nothing, as `PRAGMA foreign_key_check` finds them (PostgreSQL
    /// refuses them when written).
    pub fn broken_references(&self) -> Result<usize> {
        match self.backend {
            Backend::Sqlite(_) => {
                Ok(self.db().query("PRAGMA foreign_key_check", &[], |_| Ok(())).in_store(self)?.len())
            }
            Backend::Postgres(_) => Ok(0),
        }
    }
}
