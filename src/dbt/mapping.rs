//! Which metric a dbt test speaks for, when neither its `meta` nor the config says.
//!
//! Cross-checked with Elementary's mapping of known tests to quality dimensions:
//! uniqueness, completeness, freshness; everything that checks values is correctness.

use crate::model::Metric;

/// The default metric for a generic test, by its name (without namespace).
pub fn default_metric_for(test_name: &str) -> Metric {
    match test_name {
        "unique"
        | "unique_combination_of_columns"
        | "expect_column_values_to_be_unique"
        | "expect_compound_columns_to_be_unique"
        | "expect_select_column_values_to_be_unique_within_record" => Metric::Uniqueness,
        "not_null"
        | "not_empty"
        | "not_empty_string"
        | "not_null_proportion"
        | "at_least_one"
        | "has_rows"
        | "expect_column_values_to_not_be_null"
        | "expect_table_row_count_to_be_between"
        | "expect_row_values_to_have_data_for_every_n_datepart"
        | "expect_column_to_exist"
        | "expect_table_columns_to_contain_set" => Metric::Completeness,
        "recency" | "expect_row_values_to_have_recent_data" | "expect_grouped_row_values_to_have_recent_data" => {
            Metric::Freshness
        }
        // accepted_values, relationships, expression_is_true, accepted_range, the
        // expect_column_values_to_* value checks, and anything unknown: values are wrong.
        _ => Metric::Correctness,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let cases = [
            ("unique", Metric::Uniqueness),
            ("unique_combination_of_columns", Metric::Uniqueness),
            ("not_null", Metric::Completeness),
            ("not_empty", Metric::Completeness),
            ("at_least_one", Metric::Completeness),
            ("accepted_values", Metric::Correctness),
            ("relationships", Metric::Correctness),
            ("expression_is_true", Metric::Correctness),
            ("accepted_range", Metric::Correctness),
            ("expect_column_values_to_be_between", Metric::Correctness),
            ("recency", Metric::Freshness),
            ("expect_row_values_to_have_recent_data", Metric::Freshness),
            ("some_custom_test", Metric::Correctness),
        ];
        for (name, metric) in cases {
            assert_eq!(default_metric_for(name), metric, "{name}");
        }
    }
}
