//! The store's one door to a database, SQLite or PostgreSQL, with the same SQL for both
//! (issue 20: one store interface, two implementations behind it).
//!
//! SQL is written once, in the dialect both accept, with `?1`, `?2` placeholders (PostgreSQL
//! gets `$1`, `$2`). Values cross as [`Value`]: integers are 64-bit on both sides (`BIGINT`
//! in PostgreSQL's schema), flags are integers 0/1, times are Unix seconds. The store's
//! modules move onto this door one by one; those on it are plain functions over a [`Db`],
//! which the tests run on both backends.

use std::fmt;

/// A connection of either backend, borrowed for one piece of work.
pub enum Db<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(std::cell::RefMut<'c, PgConn>),
}

/// A PostgreSQL connection with what SQLite keeps for free: prepared statements (one round
/// trip a statement, not two) and a count of other connections' commits (SQLite's
/// `data_version`), heard as `NOTIFY tablestat`.
pub struct PgConn {
    client: postgres::Client,
    statements: std::collections::HashMap<String, postgres::Statement>,
    /// Commits by other connections heard so far.
    heard: i64,
    /// This connection's server process: its own notifications are not news.
    pid: i32,
}

/// The channel every change notifies at commit (the schema's triggers, `schema_pg`), and
/// every connection hears.
const CHANNEL: &str = "tablestat";

impl PgConn {
    /// Takes a connected client and listens for other connections' commits.
    pub fn new(mut client: postgres::Client) -> DbResult<PgConn> {
        client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        let pid = client.query_one("SELECT pg_backend_pid()", &[])?.get(0);
        Ok(PgConn { client, statements: Default::default(), heard: 0, pid })
    }

    /// The statement for `sql`, prepared once per connection.
    fn statement(&mut self, sql: &str) -> DbResult<postgres::Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&numbered(sql))?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Counts the commits other connections announced until now. One round trip: the
    /// server sends what it has to tell before it answers, so a commit another connection
    /// finished before this call is heard by it.
    pub fn commits_heard(&mut self) -> DbResult<i64> {
        use postgres::fallible_iterator::FallibleIterator;
        self.client.simple_query("SELECT 1")?;
        let mut notifications = self.client.notifications();
        let mut pending = notifications.iter();
        while let Some(notification) = pending.next()? {
            if notification.process_id() != self.pid {
                self.heard += 1;
            }
        }
        Ok(self.heard)
    }
}

/// A value bound to a placeholder or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Placeholder values: `args![holder, pid, now]`.
#[macro_export]
#[doc(hidden)]
macro_rules! __store_args {
    ($($value:expr),* $(,)?) => { &[$($crate::store::db::Value::from($value)),*] as &[$crate::store::db::Value] };
}
pub use crate::__store_args as args;

/// What went wrong, said by the backend that saw it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres_text(.0))]
    Postgres(#[from] postgres::Error),
    /// A query that had to answer a row answered none.
    #[error("the database answered no row where one was due")]
    NoRow,
    /// A column read as a type it does not hold.
    #[error("column {column}: {detail}")]
    Type { column: usize, detail: String },
}

/// PostgreSQL's own message (with its detail), not only the client's "db error"; for
/// errors before the server spoke, their causes ("error connecting to server: Connection
/// refused").
fn postgres_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(inner) = cause {
                text = format!("{text}: {inner}");
                cause = inner.source();
            }
            text
        }
    }
}

pub type DbResult<T> = std::result::Result<T, DbError>;

/// For store code not yet on the door: a door error on its SQLite connection is SQLite's.
impl From<DbError> for rusqlite::Error {
    fn from(e: DbError) -> rusqlite::Error {
        match e {
            DbError::Sqlite(e) => e,
            other => rusqlite::Error::ToSqlConversionFailure(Box::new(other)),
        }
    }
}

/// One row of an answer: read in place on SQLite (no copy beyond the value asked for), from
/// the values PostgreSQL sent otherwise.
pub struct Row<'r>(RowRef<'r>);

enum RowRef<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Values(&'r [Value]),
}

impl Row<'_> {
    /// Column `i` as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> DbResult<T> {
        let read = match &self.0 {
            RowRef::Sqlite(row) => T::from_sqlite(row.get_ref(i)?),
            RowRef::Values(values) => {
                let value = values.get(i).ok_or(DbError::Type { column: i, detail: "no such column".into() })?;
                T::from_value(value)
            }
        };
        read.map_err(|detail| DbError::Type { column: i, detail })
    }
}

/// A Rust type a column can be read as.
pub trait FromValue: Sized {
    fn from_value(value: &Value) -> Result<Self, String>;

    /// From SQLite's own value, without making a [`Value`] first.
    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Self::from_value(&Value::Null),
            ValueRef::Integer(n) => Self::from_value(&Value::Int(n)),
            ValueRef::Real(x) => Self::from_value(&Value::Real(x)),
            // Only types that are not text come here: the error path alone copies.
            ValueRef::Text(text) => Self::from_value(&Value::Text(String::from_utf8_lossy(text).into_owned())),
            ValueRef::Blob(_) => Err("a blob is not a value the store writes".into()),
        }
    }
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Int(n) => Ok(*n),
            other => Err(format!("{other} is not an integer")),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Real(x) => Ok(*x),
            Value::Int(n) => Ok(*n as f64),
            other => Err(format!("{other} is not a number")),
        }
    }
}

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, String> {
        i64::from_value(value).map(|n| n != 0)
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Text(text) => Ok(text.clone()),
            other => Err(format!("{other} is not text")),
        }
    }

    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        match value {
            rusqlite::types::ValueRef::Text(text) => {
                String::from_utf8(text.to_vec()).map_err(|_| "text that is not UTF-8".to_string())
            }
            rusqlite::types::ValueRef::Null => Err("NULL is not text".into()),
            rusqlite::types::ValueRef::Integer(n) => Err(format!("integer {n} is not text")),
            rusqlite::types::ValueRef::Real(x) => Err(format!("number {x} is not text")),
            rusqlite::types::ValueRef::Blob(_) => Err("a blob is not text".into()),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }

    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        match value {
            rusqlite::types::ValueRef::Null => Ok(None),
            other => T::from_sqlite(other).map(Some),
        }
    }
}

/// A column as it is (a copy reads every column this way).
impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, String> {
        Ok(value.clone())
    }

    fn from_sqlite(value: rusqlite::types::ValueRef<'_>) -> Result<Self, String> {
        use rusqlite::types::ValueRef;
        Ok(match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Int(n),
            ValueRef::Real(x) => Value::Real(x),
            ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
            ValueRef::Blob(_) => return Err("a blob is not a value the store writes".into()),
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(n) => write!(f, "integer {n}"),
            Value::Real(x) => write!(f, "number {x}"),
            Value::Text(_) => f.write_str("text"),
        }
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(n.into())
    }
}

impl From<bool> for Value {
    fn from(flag: bool) -> Value {
        Value::Int(flag.into())
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Real(x)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Text(text.to_string())
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Value {
        Value::Text(text.clone())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Text(text)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(*n),
            Value::Real(x) => ValueRef::Real(*x),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
        }))
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            Value::Int(n) if *ty == Type::INT8 => n.to_sql(ty, out),
            // The schema's integers are BIGINT; a placeholder PostgreSQL took for INT4 still binds.
            Value::Int(n) if *ty == Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
            Value::Real(x) if *ty == Type::FLOAT8 => x.to_sql(ty, out),
            Value::Text(text) if [Type::TEXT, Type::VARCHAR, Type::NAME].contains(ty) => text.as_str().to_sql(ty, out),
            // e.g. `?1 = ?1`, which PostgreSQL takes for text: never sent as the wrong bytes.
            other => Err(format!("{other} cannot fill a placeholder PostgreSQL takes for {ty}").into()),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [Type::INT8, Type::INT4, Type::FLOAT8, Type::TEXT, Type::VARCHAR, Type::NAME].contains(ty)
    }

    postgres::types::to_sql_checked!();
}

/// `?1` … as `$1` …, outside quoted text.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

/// Values as the PostgreSQL client takes them.
fn params(args: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn postgres::types::ToSql + Sync)).collect()
}

fn postgres_value(row: &postgres::Row, i: usize) -> DbResult<Value> {
    use postgres::types::Type;
    let ty = row.columns()[i].type_();
    let value = if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(i)?.map(Value::Int)
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(i)?.map(|n| Value::Int(n.into()))
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(i)?.map(|n| Value::Int(n.into()))
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(i)?.map(Value::Real)
    } else if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(i)?.map(|b| Value::Int(b.into()))
    } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
        row.try_get::<_, Option<String>>(i)?.map(Value::Text)
    } else {
        return Err(DbError::Type { column: i, detail: format!("PostgreSQL type {ty} is not one the store uses") });
    };
    Ok(value.unwrap_or(Value::Null))
}

impl Db<'_> {
    /// Runs a statement; the rows it changed.
    pub fn execute(&mut self, sql: &str, args: &[Value]) -> DbResult<u64> {
        match self {
            Db::Sqlite(conn) => Ok(conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(args))? as u64),
            Db::Postgres(pg) => {
                let statement = pg.statement(sql)?;
                Ok(pg.client.execute(&statement, &params(args))?)
            }
        }
    }

    /// Runs statements separated by `;`, with no values (schema changes).
    pub fn execute_batch(&mut self, sql: &str) -> DbResult<()> {
        match self {
            Db::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Db::Postgres(pg) => Ok(pg.client.batch_execute(sql)?),
        }
    }

    /// Every row of a query, each turned into a `T` by `read`.
    pub fn query<T>(
        &mut self,
        sql: &str,
        args: &[Value],
        mut read: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Vec<T>> {
        match self {
            Db::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(args))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(read(&Row(RowRef::Sqlite(row)))?);
                }
                Ok(out)
            }
            Db::Postgres(pg) => {
                let statement = pg.statement(sql)?;
                let rows = pg.client.query(&statement, &params(args))?;
                rows.iter()
                    .map(|row| {
                        let values = (0..row.len()).map(|i| postgres_value(row, i)).collect::<DbResult<Vec<_>>>()?;
                        read(&Row(RowRef::Values(&values)))
                    })
                    .collect()
            }
        }
    }

    /// Hands each row of a query to `each` as it comes, holding none of them (a copy of a
    /// whole table reads this way).
    pub fn for_each(
        &mut self,
        sql: &str,
        args: &[Value],
        mut each: impl FnMut(&Row<'_>) -> DbResult<()>,
    ) -> DbResult<()> {
        match self {
            Db::Sqlite(conn) => {
                let mut statement = conn.prepare_cached(sql)?;
                let mut rows = statement.query(rusqlite::params_from_iter(args))?;
                while let Some(row) = rows.next()? {
                    each(&Row(RowRef::Sqlite(row)))?;
                }
                Ok(())
            }
            Db::Postgres(pg) => {
                use postgres::fallible_iterator::FallibleIterator;
                let statement = pg.statement(sql)?;
                let mut rows = pg.client.query_raw(&statement, params(args))?;
                while let Some(row) = rows.next()? {
                    let values = (0..row.len()).map(|i| postgres_value(&row, i)).collect::<DbResult<Vec<_>>>()?;
                    each(&Row(RowRef::Values(&values)))?;
                }
                Ok(())
            }
        }
    }

    /// The one row a query answers (an `INSERT … RETURNING`, an aggregate).
    pub fn query_one<T>(
        &mut self,
        sql: &str,
        args: &[Value],
        read: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<T> {
        self.query_opt(sql, args, read)?.ok_or(DbError::NoRow)
    }

    /// The first row of a query, if there is one.
    pub fn query_opt<T>(
        &mut self,
        sql: &str,
        args: &[Value],
        read: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<Option<T>> {
        Ok(self.query(sql, args, read)?.into_iter().next())
    }

    /// Runs `work` in one transaction that writes: begun as SQLite's `IMMEDIATE` (the write
    /// lock first, so two writers never both read and then write), on PostgreSQL with a
    /// transaction-wide advisory lock that serialises the store's writers the same way.
    /// Committed when `work` succeeds, rolled back otherwise.
    pub fn write<T>(&mut self, work: impl FnOnce(&mut Db<'_>) -> DbResult<T>) -> DbResult<T> {
        let postgres = matches!(self, Db::Postgres(_));
        self.execute_batch(if postgres { "BEGIN" } else { "BEGIN IMMEDIATE" })?;
        let locked = match postgres {
            true => self.execute("SELECT pg_advisory_xact_lock(?1)", args![WRITER_LOCK]).map(|_| ()),
            false => Ok(()),
        };
        match locked.and_then(|()| work(self)) {
            Ok(done) => {
                self.execute_batch("COMMIT")?;
                Ok(done)
            }
            Err(e) => {
                let _ = self.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

impl Db<'_> {
    /// A subquery of the texts in the JSON array bound to placeholder `n`, for `x IN …`.
    pub fn json_texts(&self, n: usize) -> String {
        match self {
            Db::Sqlite(_) => format!("(SELECT value FROM json_each(?{n}))"),
            Db::Postgres(_) => format!("(SELECT json_array_elements_text(CAST(?{n} AS TEXT)::json))"),
        }
    }

    /// A subquery of the integers in the JSON array bound to placeholder `n`, for `x IN …`.
    pub fn json_integers(&self, n: usize) -> String {
        match self {
            Db::Sqlite(_) => format!("(SELECT value FROM json_each(?{n}))"),
            Db::Postgres(_) => {
                format!("(SELECT CAST(json_array_elements_text(CAST(?{n} AS TEXT)::json) AS BIGINT))")
            }
        }
    }
}

/// Rows in chunks of a few fixed sizes, for statements that carry many rows at once: a
/// handful of statement texts serve every call (each prepared once per connection and
/// kept). PostgreSQL takes big chunks (each statement is a round trip); SQLite small ones: it
/// joins a `VALUES` list of n rows in time growing with n² (25,000 rows: 1.8 s in chunks of
/// 256, 34 ms in chunks of 16).
pub fn chunks<'r, T>(db: &Db<'_>, rows: &'r [T]) -> impl Iterator<Item = &'r [T]> + use<'r, T> {
    const POSTGRES: &[usize] = &[256, 64, 16, 4, 1];
    const SQLITE: &[usize] = &[16, 4, 1];
    let sizes = match db {
        Db::Sqlite(_) => SQLITE,
        Db::Postgres(_) => POSTGRES,
    };
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = sizes.iter().copied().find(|size| *size <= rest.len())?;
        let (chunk, after) = rest.split_at(size);
        rest = after;
        Some(chunk)
    })
}

/// `(?1, ?2), (?3, ?4)…`: placeholders for `rows` rows of `width` values; `typed` casts
/// each to BIGINT (a `VALUES` list outside an `INSERT` has no column to take types from).
pub fn values(rows: usize, width: usize, typed: bool) -> String {
    let one = |n: usize| if typed { format!("CAST(?{n} AS BIGINT)") } else { format!("?{n}") };
    let row = |r: usize| format!("({})", (1..=width).map(|c| one(r * width + c)).collect::<Vec<_>>().join(", "));
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// The advisory lock key of the store's writers ("tablestat" in ASCII, folded into 63 bits).
const WRITER_LOCK: i64 = 0x7461_626c_6573_7461;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_quoted_text() {
        assert_eq!(
            numbered("UPDATE lease SET holder = ?2 WHERE id = 1 AND holder = ?1"),
            "UPDATE lease SET holder = $2 WHERE id = 1 AND holder = $1"
        );
        assert_eq!(numbered("SELECT '?1' || ?1"), "SELECT '?1' || $1");
    }

    #[test]
    fn rows_go_in_chunks_of_fixed_sizes_with_numbered_placeholders() {
        let rows: Vec<usize> = (0..342).collect();
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sqlite = Db::Sqlite(&conn);
        let sizes: Vec<usize> = chunks(&sqlite, &rows).map(<[usize]>::len).collect();
        assert_eq!(sizes[..3], [16, 16, 16]);
        assert_eq!(sizes[sizes.len() - 3..], [4, 1, 1]);
        assert_eq!(chunks(&sqlite, &rows).flatten().count(), 342);
        assert_eq!(values(2, 2, false), "(?1, ?2), (?3, ?4)");
        assert_eq!(values(1, 2, true), "(CAST(?1 AS BIGINT), CAST(?2 AS BIGINT))");
    }

    #[test]
    fn values_read_back_as_written_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut db = Db::Sqlite(&conn);
        db.execute("CREATE TABLE t (n INTEGER, x REAL, s TEXT, f INTEGER)", &[]).unwrap();
        db.execute("INSERT INTO t VALUES (?1, ?2, ?3, ?4)", args![-7i64, 2.5, "é", true]).unwrap();
        db.execute("INSERT INTO t VALUES (?1, ?2, ?3, ?4)", args![None::<i64>, None::<f64>, None::<String>, false])
            .unwrap();
        let rows = db
            .query("SELECT n, x, s, f FROM t ORDER BY rowid", &[], |r| {
                Ok((r.get::<Option<i64>>(0)?, r.get::<Option<f64>>(1)?, r.get::<Option<String>>(2)?, r.get::<bool>(3)?))
            })
            .unwrap();
        assert_eq!(rows, vec![(Some(-7), Some(2.5), Some("é".into()), true), (None, None, None, false)]);
        let wrong = db.query_opt("SELECT s FROM t", &[], |r| r.get::<i64>(0)).unwrap_err();
        assert_eq!(wrong.to_string(), "column 0: text is not an integer");
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut db = Db::Sqlite(&conn);
        db.execute("CREATE TABLE t (n INTEGER NOT NULL)", &[]).unwrap();
        let failed = db.write(|db| {
            db.execute("INSERT INTO t VALUES (1)", &[])?;
            db.execute("INSERT INTO t VALUES (NULL)", &[])
        });
        assert!(failed.is_err());
        assert_eq!(db.query_opt("SELECT count(*) FROM t", &[], |r| r.get::<i64>(0)).unwrap(), Some(0));
        db.write(|db| db.execute("INSERT INTO t VALUES (1)", &[])).unwrap();
        assert_eq!(db.query_opt("SELECT count(*) FROM t", &[], |r| r.get::<i64>(0)).unwrap(), Some(1));
    }
}
