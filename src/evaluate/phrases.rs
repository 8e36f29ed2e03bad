//! Reasons in plain words: what a failing test means for the people reading the table.

use crate::dbt::{NodeResult, TestInfo, TestKind};

/// `unique test on order_id failed: 2 duplicated values`.
pub fn failed(test: &TestInfo, result: &NodeResult, verb: &str) -> String {
    if test.kind == TestKind::Unit {
        return format!("{} {verb}: the model's logic does not give the expected rows", test.describe());
    }
    let rows = result.failures.unwrap_or(0);
    let generic = match &test.kind {
        TestKind::Generic { name, .. } => name.as_str(),
        _ => "",
    };
    let what = match generic {
        "unique" | "unique_combination_of_columns" => plural(rows, "duplicated value", "duplicated values"),
        "not_null" => plural(rows, "row with no value", "rows with no value"),
        "accepted_values" => plural(rows, "unexpected value", "unexpected values"),
        "relationships" => plural(rows, "row with no matching parent", "rows with no matching parent"),
        "recency" => "no recent rows".to_string(),
        "has_rows" | "not_empty" | "at_least_one" => "the table is empty".to_string(),
        _ => plural(rows, "failing row", "failing rows"),
    };
    format!("{} {verb}: {what}", test.describe())
}

fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// The telling line of a dbt error message: `Binder Error: …` rather than
/// `Runtime Error in model stg_payments (models/…)`. Control characters are dropped.
pub fn cause(message: Option<&str>) -> String {
    let Some(message) = message else {
        return "no message from dbt".to_string();
    };
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let telling = lines
        .iter()
        .find(|l| !(l.contains(" Error in ") && l.ends_with(')')))
        .or(lines.first())
        .copied()
        .unwrap_or("no message from dbt");
    let clean: String = telling.chars().filter(|c| !c.is_control()).collect();
    truncate(&clean, 160)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cause_skips_the_where_line() {
        let msg = "Runtime Error in model stg_payments (models/staging/stg_payments.sql)\n  Binder Error: Referenced column \"amount_usd\" not found";
        assert_eq!(cause(Some(msg)), "Binder Error: Referenced column \"amount_usd\" not found");
        assert_eq!(cause(Some("Got 2 results")), "Got 2 results");
        assert_eq!(cause(None), "no message from dbt");
        assert_eq!(cause(Some("a\u{1b}[31mred")), "a[31mred");
    }
}
