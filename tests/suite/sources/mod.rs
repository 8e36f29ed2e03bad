//! The clients against local fakes serving captured real answers: Airflow 2 and 3, dbt Cloud, a local `target/`, TLS.

mod airflow;
mod airflow_fleet;
mod airflow_memory;
mod airflow_pages;
mod dbt_cloud;
mod dbt_cloud_budget;
mod dbt_reparse;
mod local_dbt;
mod many_pipelines;
mod tls;
