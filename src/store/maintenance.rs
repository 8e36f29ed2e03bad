//! Maintenance windows: planned start, end and message, for a product, a group or all.

use std::fmt;

use serde::Serialize;

use super::db::args;
use super::{InStore, Result, Store, StoreError};
use crate::facts::MaintenanceNotice;
use crate::model::Product;

/// What a window covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Scope {
    All,
    Group(String),
    Product(String),
}

impl Scope {
    /// `all`, `group:Sales`, `product:fct_orders` (a bare name is a product id).
    pub fn parse(text: &str) -> Scope {
        match text.split_once(':') {
            _ if text == "all" => Scope::All,
            Some(("group", name)) => Scope::Group(name.to_string()),
            Some(("product", id)) => Scope::Product(id.to_string()),
            _ => Scope::Product(text.to_string()),
        }
    }

    fn stored(&self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::Group(g) => format!("group:{g}"),
            Scope::Product(p) => format!("product:{p}"),
        }
    }

    pub fn covers(&self, product: &Product) -> bool {
        match self {
            Scope::All => true,
            Scope::Group(g) => product.group == *g,
            Scope::Product(p) => product.id == *p,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all products"),
            Scope::Group(g) => write!(f, "group {g}"),
            Scope::Product(p) => write!(f, "product {p}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub scope: Scope,
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub starts_at: i64,
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub ends_at: i64,
    pub message: String,
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub created_at: i64,
    pub author: Option<String>,
    /// Cancelled before it began: it never happened; the plan is kept.
    #[serde(serialize_with = "crate::timefmt::json::maybe_at")]
    pub cancelled_at: Option<i64>,
}

impl MaintenanceWindow {
    pub fn is_active(&self, now: i64) -> bool {
        self.cancelled_at.is_none() && self.starts_at <= now && now < self.ends_at
    }

    pub fn notice(&self) -> MaintenanceNotice {
        let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
        MaintenanceNotice {
            id: self.id,
            message: self.message.clone(),
            starts_at: at(self.starts_at),
            ends_at: at(self.ends_at),
        }
    }
}

impl Store {
    /// Whether a scope names something the poller knows (a product id or a group).
    pub fn scope_exists(&self, scope: &Scope) -> Result<bool> {
        let (sql, name) = match scope {
            Scope::All => return Ok(true),
            Scope::Group(g) => ("SELECT count(*) FROM product WHERE active = 1 AND grp = ?1", g),
            Scope::Product(p) => ("SELECT count(*) FROM product WHERE active = 1 AND id = ?1", p),
        };
        let n = self.db().query_opt(sql, args![name], |r| r.get::<i64>(0)).in_store(self)?;
        Ok(n.unwrap_or(0) > 0)
    }

    pub fn add_maintenance(
        &mut self,
        scope: &Scope,
        starts_at: i64,
        ends_at: i64,
        message: &str,
        author: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        if ends_at <= starts_at {
            return Err(StoreError::Refused("a maintenance window must end after it starts".into()));
        }
        self.db()
            .write(|db| {
                let id = db.query_opt(
                    "INSERT INTO maintenance (scope, starts_at, ends_at, message, created_at, author)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                    args![scope.stored(), starts_at, ends_at, message, now, author],
                    |r| r.get::<i64>(0),
                )?;
                super::bump_generation(db)?;
                Ok(id.unwrap_or_default())
            })
            .in_store(self)
    }

    /// Windows that have not ended by `now` (active and upcoming), soonest first; with
    /// `include_past`, every window, newest first.
    pub fn maintenance_windows(&self, now: i64, include_past: bool) -> Result<Vec<MaintenanceWindow>> {
        let (sql, args) = if include_past {
            (
                "SELECT id, scope, starts_at, ends_at, message, created_at, author, cancelled_at FROM maintenance
              ORDER BY starts_at DESC",
                &[][..],
            )
        } else {
            (
                "SELECT id, scope, starts_at, ends_at, message, created_at, author, cancelled_at FROM maintenance
              WHERE ends_at > ?1 AND cancelled_at IS NULL ORDER BY starts_at",
                args![now],
            )
        };
        self.db()
            .query(sql, args, |r| {
                Ok(MaintenanceWindow {
                    id: r.get(0)?,
                    scope: Scope::parse(&r.get::<String>(1)?),
                    starts_at: r.get(2)?,
                    ends_at: r.get(3)?,
                    message: r.get(4)?,
                    created_at: r.get(5)?,
                    author: r.get(6)?,
                    cancelled_at: r.get(7)?,
                })
            })
            .in_store(self)
    }

    /// Ends a window now, or cancels one that has not started (its plan is kept). Says
    /// which it did.
    pub fn end_maintenance(&mut self, id: i64, now: i64) -> Result<Ended> {
        let window: Option<(i64, i64, Option<i64>)> = self
            .db()
            .query_opt("SELECT starts_at, ends_at, cancelled_at FROM maintenance WHERE id = ?1", args![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .in_store(self)?;
        let stamp = |t: i64| crate::timefmt::stamp(chrono::DateTime::from_timestamp(t, 0).unwrap_or_default());
        let ended = match window {
            None => {
                return Err(StoreError::Refused(format!(
                    "no maintenance window #{id}: `tablestat maintenance list` shows them"
                )));
            }
            Some((_, _, Some(cancelled))) => {
                return Err(StoreError::Refused(format!(
                    "maintenance window #{id} was already cancelled at {}: `tablestat maintenance list` shows the ones to come",
                    stamp(cancelled)
                )));
            }
            Some((_, ends_at, None)) if ends_at <= now => {
                return Err(StoreError::Refused(format!(
                    "maintenance window #{id} already ended at {}: `tablestat maintenance list` shows the ones to come",
                    stamp(ends_at)
                )));
            }
            Some((starts_at, _, None)) if starts_at > now => Ended::Cancelled,
            Some(_) => Ended::Ended,
        };
        let column = match ended {
            Ended::Cancelled => "cancelled_at",
            Ended::Ended => "ends_at",
        };
        self.db()
            .write(|db| {
                db.execute(&format!("UPDATE maintenance SET {column} = ?2 WHERE id = ?1"), args![id, now])?;
                super::bump_generation(db)
            })
            .in_store(self)?;
        Ok(ended)
    }
}

/// What ending a window did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It was under way: it ends now.
    Ended,
    /// It had not begun: it never happens.
    Cancelled,
}
