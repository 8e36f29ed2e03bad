//! The binary from the command line: configs, history commands, the demo, the SLO report.

mod config;
mod demo;
mod history;
mod postgres_store;
mod slo_report;
mod store_copy;
