//! Why a product is down, as a key other products can share: the failing test, the failed
//! model, the stale source, the failed DAG run or the broken DAG. Products down from the
//! same cause at once join one incident (see [`super::incidents`]): a duplicated key in a
//! staging model is one incident for the staging table and every mart below it.

/// A root cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The same for every product it reaches, and from poll to poll: `test:<unique_id>`,
    /// `model:<unique_id>`, `source:<unique_id>`, `run:<dag>/<run id>`, `dag:<dag>`,
    /// `schedule:<dag>`; `product:<id>` for a cause of its own.
    pub key: String,
    /// What failed, for an incident's title: "`unique_stg_orders_order_id` failed".
    pub title: String,
}

impl Cause {
    pub fn new(key: impl Into<String>, title: impl Into<String>) -> Cause {
        Cause { key: key.into(), title: title.into() }
    }

    /// A cause no other product shares (a table past its `max_age`, a rule of its own).
    pub fn own(product: &crate::model::Product) -> Cause {
        Cause::new(format!("product:{}", product.id), format!("{} is down", product.name))
    }

    /// Whether other products may share it (everything but [`Cause::own`]).
    pub fn is_shared(&self) -> bool {
        !self.key.starts_with("product:")
    }
}

/// How close to the root a candidate is: a broken DAG explains a failed run, a failure
/// upstream explains a table's own missing rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Rank {
    /// The table's own test or model failed.
    Own,
    /// A source it reads is stale.
    Source,
    /// Something upstream failed (a model, a test, another project's model).
    Upstream,
    /// The DAG run failed before or in the dbt task, or missed its schedule. (A DAG that
    /// cannot run at all blocks every metric: its cause is the only one.)
    Run,
}

/// The candidates a product's evaluation offers; the root-most is kept, the first of a rank.
#[derive(Debug, Default)]
pub(super) struct Causes(Option<(Rank, Cause)>);

impl Causes {
    pub fn offer(&mut self, rank: Rank, cause: Cause) {
        if self.0.as_ref().is_none_or(|(kept, _)| rank > *kept) {
            self.0 = Some((rank, cause));
        }
    }

    pub fn into_cause(self) -> Option<Cause> {
        self.0.map(|(_, cause)| cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_most_cause_is_kept_and_the_first_of_a_rank() {
        let mut causes = Causes::default();
        causes.offer(Rank::Own, Cause::new("test:a", "a"));
        causes.offer(Rank::Own, Cause::new("test:b", "b"));
        assert_eq!(causes.0.as_ref().unwrap().1.key, "test:a");
        causes.offer(Rank::Upstream, Cause::new("model:m", "m"));
        causes.offer(Rank::Source, Cause::new("source:s", "s"));
        assert_eq!(causes.into_cause().unwrap().key, "model:m");
    }
}
