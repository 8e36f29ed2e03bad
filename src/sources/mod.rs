//! Sources: the clients that read Airflow and dbt, and normalize what they see into
//! [`crate::facts`]. Every failure is a [`SourceError`] value, never a panic: the
//! rulebook turns it into an `unknown` state with the reason.

pub mod airflow;
pub mod dbt_cloud;
pub mod dbt_evidence;
pub mod http;
pub mod local_dbt;
pub mod redirect;
pub mod schedule;
pub mod tls;

pub use http::{ErrorKind, SourceError, SourceName};
