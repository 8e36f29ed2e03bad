//! The rulebook: each rule, each dbt scenario, what tables inherit from upstream.

mod each_rule;
mod lineage;
mod scenarios;
