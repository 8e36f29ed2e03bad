//! The whole pipeline in one process, as the poller runs it: engine -> store -> the
//! status document, with `now` passed in.

use chrono::{DateTime, FixedOffset, Utc};
use tablestat::poller::Engine;
use tablestat::poller::service::record;
use tablestat::status_doc::{self, StatusDocument};
use tablestat::store::worker::StoreHandle;

pub struct Pipeline {
    pub engine: Engine,
    pub store: StoreHandle,
    /// Why Airflow could not be read at the last poll.
    pub airflow_error: Option<String>,
}

impl Pipeline {
    pub fn new(engine: Engine, store: StoreHandle) -> Pipeline {
        Pipeline { engine, store, airflow_error: None }
    }

    /// One poll, written to the store as the poller writes it; the status it leaves.
    pub async fn poll(&mut self, now: DateTime<Utc>) -> StatusDocument {
        let products = self.engine.products();
        let ts = now.timestamp();
        let prior = self.store.call(move |s| s.prior(&products, ts)).await.unwrap().unwrap();
        let result = self.engine.poll(&prior, now).await;
        self.airflow_error = result.airflow_error.clone();
        // The poll finishes at `now` too, as far as the store knows.
        record(&self.store, result, &self.engine, now, None).await.unwrap();
        self.status(now).await
    }

    pub async fn status(&self, now: DateTime<Utc>) -> StatusDocument {
        let ts = now.timestamp();
        let snapshot =
            self.store.call(move |s| s.snapshot(ts, FixedOffset::east_opt(0).unwrap())).await.unwrap().unwrap();
        status_doc::from_snapshot(&snapshot, &[])
    }
}
