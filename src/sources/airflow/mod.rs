//! Airflow 2 and 3 over REST: the client, the wire format, and one bulk poll.

mod client;
mod observe;
mod wire;

pub use client::{AirflowClient, Api};
pub use observe::{Observation, RunMemory, WatchedDag, dag_period, observe, watched_dags};
pub use wire::ScheduleV1;
/// The list answers as decoded, for the fuzz targets (`fuzz/`) and tests.
pub use wire::{DagList, ImportErrorList, RunList, TaskInstanceList};
