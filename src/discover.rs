//! Products found in the dbt manifest: every model with the configured tag or a
//! `meta.tablestat` block, so a team with 2,000 models does not list them by hand.
//! Pure: the index in, products out.

use std::time::Duration;

use serde_json::Value;

use crate::config::DiscoverRule;
use crate::dbt::ProjectIndex;
use crate::model::{DEFAULT_GROUP, Metric, Product};

/// Discovered products, sorted by id. A model's `meta.tablestat` may set `product` (the
/// display name), `group`, `dag`, `task`, `metrics`, `max_age`, `slo`; `meta.owner` names the owner.
pub fn discover(rule: &DiscoverRule, index: &ProjectIndex) -> Vec<Product> {
    let mut products: Vec<Product> = index
        .models()
        .filter(|m| m.resource_type == "model")
        .filter(|m| m.package_name.is_none() || m.package_name == index.project_name)
        .filter(|m| m.tablestat_meta().is_some() || rule.tag.as_ref().is_some_and(|t| m.tags.contains(t)))
        // The model's name becomes the product's id: held to the rule listed ids follow.
        .filter(|m| {
            let valid = crate::config::is_valid_product_id(&m.name);
            if !valid {
                tracing::warn!(
                    "dbt model {} is not made a product: its name is not a valid product id (letters, digits, `_`, `-`, `.`)",
                    crate::text::inert(&m.name)
                );
            }
            valid
        })
        .map(|model| {
            let meta = model.tablestat_meta();
            let text = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_str).map(String::from);
            let metrics = meta
                .and_then(|m| m.get("metrics"))
                .and_then(Value::as_array)
                .map(|items| {
                    items.iter().filter_map(Value::as_str).filter_map(|s| Metric::parse(s).ok()).collect::<Vec<_>>()
                })
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| rule.metrics.clone());
            Product {
                id: model.name.clone(),
                name: text("product").unwrap_or_else(|| model.name.clone()),
                description: model.description.clone(),
                owner: model.owner(),
                group: text("group").or_else(|| rule.group.clone()).unwrap_or_else(|| DEFAULT_GROUP.to_string()),
                tags: model.tags.clone(),
                dag_id: text("dag").unwrap_or_else(|| rule.dag.clone()),
                task_id: text("task").or_else(|| rule.task.clone()),
                model: Some(model.unique_id.clone()),
                dbt_job: meta.and_then(|m| m.get("dbt_job")).and_then(Value::as_i64),
                metrics,
                max_age: text("max_age").and_then(|t| humantime::parse_duration(&t).ok()).or(rule.max_age),
                slo: meta.and_then(|m| m.get("slo")).and_then(Value::as_f64).filter(|s| (0.0..=100.0).contains(s)),
                interval: text("interval")
                    .and_then(|t| humantime::parse_duration(&t).ok())
                    .filter(|d| *d >= Duration::from_secs(10)),
                late_after: text("late_after").and_then(|t| humantime::parse_duration(&t).ok()).or(rule.late_after),
                airflow: rule.airflow.clone(),
                dbt: rule.dbt.clone(),
                exclude_expected: meta.and_then(|m| m.get("exclude_expected")).and_then(Value::as_bool).unwrap_or(false),
            }
        })
        .collect();
    products.sort_by(|a, b| a.id.cmp(&b.id));
    products
}

/// Listed products win over discovered ones with the same id.
pub fn merge(listed: &[Product], discovered: impl IntoIterator<Item = Product>) -> Vec<Product> {
    let mut all = listed.to_vec();
    let mut ids: std::collections::HashSet<String> = listed.iter().map(|p| p.id.clone()).collect();
    for product in discovered {
        // An id is one product across sources: the first that names it keeps it.
        if ids.insert(product.id.clone()) {
            all.push(product);
        } else {
            tracing::debug!(id = %product.id, "discovered again under the same id: the first kept");
        }
    }
    all
}
