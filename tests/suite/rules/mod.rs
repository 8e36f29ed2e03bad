//! The rulebook: each rule, each dbt scenario, what tables inherit from upstream.

mod causes;
mod each_rule;
mod lineage;
mod scenarios;
