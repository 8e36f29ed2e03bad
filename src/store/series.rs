//! The compact history (schema 3): a series per product x metric, verdicts (a state and its
//! words) interned, spans keyed by (series, start) that end where the next one of their
//! series begins; the last is current, and its start and verdict are kept on the series
//! (schema 4) so that reading every current state is one pass over the series.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;

use super::db::{Db, DbResult, Row, Value, args};
use crate::model::State;
use crate::uptime::{Span, StateSpan};

/// The number a state is stored as: its place in `State::ALL` (worst first).
pub(super) fn state_code(state: State) -> i64 {
    State::ALL.iter().position(|s| *s == state).unwrap_or(2) as i64
}

pub(super) fn state_of(code: i64) -> State {
    usize::try_from(code).ok().and_then(|i| State::ALL.get(i).copied()).unwrap_or(State::Unknown)
}

/// FNV-1a over a verdict's state and words: cheap, and the same in every process (schemas 3
/// and 4 stored it; the writer now keeps it in memory only).
pub(super) fn verdict_hash(state: i64, text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in std::iter::once(state as u8).chain(text.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Makes `tablestat_hash(state, text)` available to SQL (the migration to schema 3 uses it).
pub(super) fn register_hash(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "tablestat_hash",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(verdict_hash(ctx.get::<i64>(0)?, &ctx.get::<String>(1)?) as i64),
    )
}

/// Every verdict's id by the hash of its state and words, read from the table when first
/// needed. Held by the writer in place of a hash column and its index (3.5 MB, 6 % of a
/// 90-day database of 5,000 products: schema 5). An entry is a hint, checked against the row
/// before use, so a stale map (another process wrote or pruned) never names the wrong words:
/// it can only mint a second row with the same words, which reads the same.
#[derive(Default)]
pub(super) struct VerdictIds {
    ids: Option<HashMap<u64, i64>>,
    /// Ids checked against their rows (or minted) since another connection last wrote: no
    /// need to look again until one does.
    confirmed: HashSet<i64>,
}

impl VerdictIds {
    /// Another connection wrote: every id is a hint again.
    pub fn doubt(&mut self) {
        self.confirmed.clear();
    }

    /// The id of the verdict with these words, added if there is none.
    pub fn id(&mut self, db: &mut Db<'_>, state: State, text: &str) -> DbResult<i64> {
        let code = state_code(state);
        let hash = verdict_hash(code, text);
        let ids = match &mut self.ids {
            Some(ids) => ids,
            None => self.ids.insert(every_id(db)?),
        };
        if let Some(&id) = ids.get(&hash) {
            if self.confirmed.contains(&id) {
                return Ok(id);
            }
            let same = db.query_opt(
                "SELECT state = ?2 AND text = ?3 FROM verdict WHERE id = ?1",
                args![id, code, text],
                |r| r.get::<bool>(0),
            )?;
            if same == Some(true) {
                self.confirmed.insert(id);
                return Ok(id);
            }
        }
        let id =
            db.query_one("INSERT INTO verdict (state, text) VALUES (?1, ?2) RETURNING id", args![code, text], |r| {
                r.get(0)
            })?;
        ids.insert(hash, id);
        self.confirmed.insert(id);
        Ok(id)
    }
}

fn every_id(db: &mut Db<'_>) -> DbResult<HashMap<u64, i64>> {
    let mut ids = HashMap::new();
    db.for_each("SELECT id, state, text FROM verdict", &[], |row| {
        ids.insert(verdict_hash(row.get(1)?, &row.get::<String>(2)?), row.get(0)?);
        Ok(())
    })?;
    Ok(ids)
}

/// The current span of one series.
#[derive(Debug, Clone)]
pub(super) struct Current {
    pub series: i64,
    pub product: String,
    pub metric: String,
    pub start: i64,
    pub state: State,
    pub reason: String,
}

/// The current span of every series (of one product, if given).
pub(super) fn current(db: &mut Db<'_>, product: Option<&str>) -> DbResult<Vec<Current>> {
    db.query(
        "SELECT s.id, s.product, s.metric, s.start, v.state, v.text FROM series s JOIN verdict v ON v.id = s.verdict
         WHERE CAST(?1 AS TEXT) IS NULL OR s.product = ?1",
        args![product],
        current_row,
    )
}

/// A row of (series id, product, metric, start, state code, reason).
fn current_row(r: &Row<'_>) -> DbResult<Current> {
    Ok(Current {
        series: r.get(0)?,
        product: r.get(1)?,
        metric: r.get(2)?,
        start: r.get(3)?,
        state: state_of(r.get(4)?),
        reason: r.get(5)?,
    })
}

/// Every series' span at `at` (the one that had begun by then), as [`current`] reads
/// today's: the state of everything at a moment of the past.
pub(super) fn at(db: &mut Db<'_>, at: i64) -> DbResult<Vec<Current>> {
    db.query(
        "SELECT s.id, s.product, s.metric, sp.start, v.state, v.text
         FROM series s
         JOIN span sp ON sp.series = s.id
            AND sp.start = (SELECT max(start) FROM span WHERE series = s.id AND start <= ?1)
         JOIN verdict v ON v.id = sp.verdict",
        args![at],
        current_row,
    )
}

/// For each (series, moment), the span of the series that began last before the moment:
/// (state, words, start) by series. Many series a statement (the poller reads back behind
/// every metric an outage left unknown: one statement each cost a PostgreSQL store seconds).
pub(super) fn spans_before(db: &mut Db<'_>, wanted: &[[i64; 2]]) -> DbResult<HashMap<i64, (State, String, i64)>> {
    let mut found = HashMap::with_capacity(wanted.len());
    for rows in super::db::chunks(db, wanted) {
        let sql = format!(
            "SELECT sp.series, v.state, v.text, sp.start FROM (VALUES {}) AS w
             JOIN span sp ON sp.series = w.column1
                AND sp.start = (SELECT max(start) FROM span WHERE series = w.column1 AND start < w.column2)
             JOIN verdict v ON v.id = sp.verdict",
            super::db::values(rows.len(), 2, true)
        );
        let args: Vec<Value> = rows.iter().flatten().map(|n| Value::Int(*n)).collect();
        db.for_each(&sql, &args, |r| {
            found.insert(r.get(0)?, (state_of(r.get(1)?), r.get(2)?, r.get(3)?));
            Ok(())
        })?;
    }
    Ok(found)
}

/// Which series a history read covers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Which<'a> {
    /// Every product's overall state (for the board's bars and uptime).
    Overall,
    /// Every metric of one product, its overall state left out (for the detail).
    MetricsOf(&'a str),
    /// Everything (for the SLO report).
    All,
}

/// The history of one series: its spans in start order.
#[derive(Debug, Clone)]
pub(super) struct Historic {
    pub product: String,
    pub metric: String,
    pub spans: Vec<StateSpan>,
}

/// The spans in force from `from` to `now`, series by series: the span current at `from`
/// first, each ending where the next of its series starts, the last at `now`. A series'
/// names are read once, not once per span (a 90-day board read of 20,000 products is
/// ~80,000 spans).
pub(super) fn history(db: &mut Db<'_>, which: Which<'_>, from: i64, now: i64) -> DbResult<Vec<Historic>> {
    let (filter, product) = match which {
        Which::Overall => ("s.metric = '' AND CAST(?3 AS TEXT) IS NULL", None),
        Which::MetricsOf(id) => ("s.product = ?3 AND s.metric != ''", Some(id)),
        Which::All => ("CAST(?3 AS TEXT) IS NULL", None),
    };
    // The span in force at `from` is found once per series: PostgreSQL does so with a
    // lateral join (the correlated form, once per span, took it twice as long); SQLite
    // has no lateral join and finds it fastest correlated (the grouped form took it twice
    // as long).
    let sql = match db {
        Db::Sqlite(_) => format!(
            "SELECT s.id, s.product, s.metric, sp.start, v.state FROM series s JOIN span sp ON sp.series = s.id
             JOIN verdict v ON v.id = sp.verdict
             WHERE {filter} AND sp.start < ?2
               AND sp.start >= coalesce((SELECT max(start) FROM span WHERE series = s.id AND start <= ?1), 0)
             ORDER BY s.id, sp.start"
        ),
        Db::Postgres(_) => format!(
            "SELECT s.id, s.product, s.metric, sp.start, v.state FROM series s
             CROSS JOIN LATERAL (SELECT coalesce(max(start), 0) AS first FROM span WHERE series = s.id AND start <= ?1) f
             JOIN span sp ON sp.series = s.id AND sp.start >= f.first
             JOIN verdict v ON v.id = sp.verdict
             WHERE {filter} AND sp.start < ?2
             ORDER BY s.id, sp.start"
        ),
    };
    let mut out: Vec<Historic> = Vec::new();
    let mut last_series = None;
    db.for_each(&sql, args![from, now, product], |r| {
        let series: i64 = r.get(0)?;
        let start: i64 = r.get(3)?;
        let span = StateSpan { span: Span::new(start, now), state: state_of(r.get(4)?) };
        match out.last_mut() {
            Some(same) if last_series == Some(series) => {
                if let Some(previous) = same.spans.last_mut() {
                    previous.span = Span::new(previous.span.start, start);
                }
                same.spans.push(span);
            }
            _ => out.push(Historic { product: r.get(1)?, metric: r.get(2)?, spans: vec![span] }),
        }
        last_series = Some(series);
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_codes_round_trip_and_match_the_migration() {
        for (state, code) in
            [(State::Down, 0), (State::Degraded, 1), (State::Unknown, 2), (State::Maintenance, 3), (State::Up, 4)]
        {
            assert_eq!(state_code(state), code);
            assert_eq!(state_of(code), state);
        }
        assert_eq!(state_of(99), State::Unknown);
    }

    #[test]
    fn the_verdict_hash_is_fnv_1a_and_sees_the_state() {
        // Stored in databases: it must never change. FNV-1a 64 of [4] + "ok".
        assert_eq!(verdict_hash(4, "ok"), 0xb80c_2718_599e_a9ed);
        assert_ne!(verdict_hash(4, "ok"), verdict_hash(0, "ok"));
    }
}
