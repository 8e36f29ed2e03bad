//! Copying a whole history to a new database file, consistently while a poller writes, and
//! checking the copy against the moment it was taken.

use std::path::Path;

use rusqlite::params;

use super::{InStore, Result, Store, StoreError};

/// Tables of coordination between running processes, not history: a copy starts without a
/// poller lease or pending "poll now" requests.
const NOT_COPIED: [&str; 2] = ["lease", "poll_request"];

/// What a copy held, as read at the moment it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCounts(pub Vec<(String, i64)>);

impl TableCounts {
    pub fn rows(&self) -> i64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

impl Store {
    /// Row counts of every table of history (the copied ones).
    pub fn table_counts(&self) -> Result<TableCounts> {
        let tables = self.history_tables("main")?;
        let mut counts = Vec::with_capacity(tables.len());
        for table in tables {
            let n: i64 = self
                .conn()
                .query_row(&format!("SELECT count(*) FROM main.\"{table}\""), [], |r| r.get(0))
                .in_store(self)?;
            counts.push((table, n));
        }
        Ok(TableCounts(counts))
    }

    fn history_tables(&self, schema: &str) -> Result<Vec<String>> {
        let mut statement = self.conn()
            .prepare(&format!(
                "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ))
            .in_store(self)?;
        let names = statement.query_map([], |r| r.get::<_, String>(0)).in_store(self)?;
        let names: Vec<String> = names.collect::<rusqlite::Result<_>>().in_store(self)?;
        Ok(names.into_iter().filter(|n| !NOT_COPIED.contains(&n.as_str())).collect())
    }

    /// Copies every table of history into `dest`, a new database this store's schema was
    /// created in, all read in one transaction: a poller writing meanwhile is not seen
    /// half. `at_the_moment` runs inside that transaction, reading this store as the copy
    /// saw it (for figures to check the copy against); returns the counts copied and its
    /// answer.
    pub fn copy_into<T>(
        &mut self,
        dest: &Path,
        at_the_moment: impl FnOnce(&Store) -> Result<T>,
    ) -> Result<(TableCounts, T)> {
        let fresh = Store::open(dest)?;
        if fresh.schema_version()? != self.schema_version()? {
            return Err(StoreError::Refused(format!("{} has another schema version than the source", dest.display())));
        }
        drop(fresh);
        let dest_text =
            dest.to_str().ok_or_else(|| StoreError::Refused(format!("{}: not a UTF-8 path", dest.display())))?;
        // Foreign keys are checked on the copy as a whole afterwards: tables go in name order.
        self.conn().execute_batch("PRAGMA foreign_keys = OFF").in_store(self)?;
        self.conn().execute("ATTACH DATABASE ?1 AS copy", params![dest_text]).in_store(self)?;
        let copied = self.copy_attached(at_the_moment);
        let cleanup = self.conn().execute_batch("DETACH DATABASE copy; PRAGMA foreign_keys = ON").in_store(self);
        let copied = copied?;
        cleanup?;
        Ok(copied)
    }

    fn copy_attached<T>(&self, at_the_moment: impl FnOnce(&Store) -> Result<T>) -> Result<(TableCounts, T)> {
        self.conn().execute_batch("BEGIN").in_store(self)?;
        let work = || -> Result<(TableCounts, T)> {
            let tables = self.history_tables("main")?;
            let mut counts = Vec::with_capacity(tables.len());
            for table in tables {
                self.conn()
                    .execute_batch(&format!(
                        "DELETE FROM copy.\"{table}\"; INSERT INTO copy.\"{table}\" SELECT * FROM main.\"{table}\";"
                    ))
                    .in_store(self)?;
                let n: i64 = self
                    .conn()
                    .query_row(&format!("SELECT count(*) FROM main.\"{table}\""), [], |r| r.get(0))
                    .in_store(self)?;
                counts.push((table, n));
            }
            let answer = at_the_moment(self)?;
            Ok((TableCounts(counts), answer))
        };
        match work() {
            Ok(done) => {
                self.conn().execute_batch("COMMIT").in_store(self)?;
                Ok(done)
            }
            Err(e) => {
                let _ = self.conn().execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Rows that point at nothing, as `PRAGMA foreign_key_check` finds them.
    pub fn broken_references(&self) -> Result<usize> {
        let mut statement = self.conn().prepare("PRAGMA foreign_key_check").in_store(self)?;
        let rows = statement.query_map([], |_| Ok(())).in_store(self)?;
        Ok(rows.count())
    }
}
