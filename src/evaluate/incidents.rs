//! When an incident opens, changes and resolves, by the rulebook: a pure function of a
//! product's evaluation, what changed at this poll, its open incident and the flapping
//! guard's count. The store applies the step in the poll's transaction.

use super::Evaluation;
use crate::model::{Metric, Product, State, Verdict};

pub use crate::model::Severity;

/// What the rule looks at for one product at one poll.
#[derive(Debug, Clone, Copy)]
pub struct IncidentInput<'a> {
    pub product: &'a Product,
    pub evaluation: &'a Evaluation,
    /// When the poll checked it.
    pub at: i64,
    /// Metrics whose state changed at this poll.
    pub changed: &'a [String],
    /// The metrics of its open incident, if it has one.
    pub open: Option<&'a [String]>,
    /// Polls in a row it has been down without an incident, before this one.
    pub down_polls: i64,
    /// Polls in a row a metric must be down before an incident opens (the flapping guard).
    pub open_after: u32,
}

/// What to do with the product's incidents at this poll.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentStep {
    Nothing,
    /// Down, not yet for long enough: this many polls in a row now.
    Count {
        down_polls: i64,
    },
    /// Up again before an incident opened: the count starts over.
    ResetCount,
    Open {
        title: String,
        severity: Severity,
        metrics: Vec<String>,
        began_at: i64,
        message: String,
    },
    Update {
        metrics: Vec<String>,
        message: String,
    },
    Resolve {
        message: String,
    },
}

/// The rule: an incident opens when a metric goes down (after `open_after` polls down in a
/// row), records every change while open, and resolves when the product is all up again.
pub fn next_step(input: &IncidentInput<'_>) -> IncidentStep {
    let e = input.evaluation;
    let down: Vec<&Metric> = e.metrics.iter().filter(|(_, v)| v.state == State::Down).map(|(m, _)| m).collect();
    match input.open {
        None if !down.is_empty() => {
            let streak = input.down_polls + 1;
            if input.open_after > 1 && streak < i64::from(input.open_after) {
                return IncidentStep::Count { down_polls: streak };
            }
            let metrics: Vec<String> = down.iter().map(|m| m.to_string()).collect();
            let detail = said_once(e.metrics.iter().filter(|(_, v)| v.state == State::Down));
            IncidentStep::Open {
                title: format!("{} is down: {}", input.product.name, metrics.join(", ")),
                severity: Severity::of(&down),
                metrics,
                began_at: e.run_finished_at.map_or(input.at, |t| t.timestamp().min(input.at)),
                message: format!("Detected. {}", detail.join("; ")),
            }
        }
        None if input.open_after > 1 => IncidentStep::ResetCount,
        None => IncidentStep::Nothing,
        Some(_) if e.state == State::Up => {
            IncidentStep::Resolve { message: "Recovered: every metric is up again.".to_string() }
        }
        Some(open) => {
            let changes = said_once(e.metrics.iter().filter(|(m, _)| input.changed.iter().any(|c| c == m.as_str())));
            if changes.is_empty() {
                return IncidentStep::Nothing;
            }
            let mut metrics = open.to_vec();
            for m in &down {
                if !metrics.iter().any(|a| a == m.as_str()) {
                    metrics.push(m.to_string());
                }
            }
            IncidentStep::Update { metrics, message: format!("Changed: {}", changes.join("; ")) }
        }
    }
}

/// "availability, freshness maintenance: planned maintenance until …": metrics that moved
/// to the same state for the same reason are named together, the reason said once.
fn said_once<'a>(metrics: impl Iterator<Item = &'a (Metric, Verdict)>) -> Vec<String> {
    let mut groups: Vec<(Vec<&str>, State, &str)> = Vec::new();
    for (metric, verdict) in metrics {
        match groups.iter_mut().find(|(_, state, reason)| *state == verdict.state && *reason == verdict.reason) {
            Some(group) => group.0.push(metric.as_str()),
            None => groups.push((vec![metric.as_str()], verdict.state, &verdict.reason)),
        }
    }
    groups.into_iter().map(|(names, state, reason)| format!("{} {state}: {reason}", names.join(", "))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Evidence;

    fn evaluation(states: &[(Metric, State)]) -> Evaluation {
        let metrics: Vec<(Metric, Verdict)> =
            states.iter().map(|(m, s)| (m.clone(), Verdict::new(*s, format!("{m} is {s}")))).collect();
        Evaluation {
            state: State::worst_of(metrics.iter().map(|(_, v)| v.state)).unwrap(),
            metrics,
            evidence: Evidence::default(),
            note: None,
            refresh: None,
            run_finished_at: chrono::DateTime::from_timestamp(900, 0),
        }
    }

    /// (case, metric states, changed, open incident's metrics, down polls, open after) -> step
    #[test]
    fn incidents_open_count_update_and_resolve_by_rule() {
        use Metric::{Availability as A, Freshness as F, Uniqueness as U};
        use State::{Degraded, Down, Up};
        let product = Product { name: "Orders".into(), ..Product::new("orders", "orders_daily") };
        let open_u = vec!["uniqueness".to_string()];
        type Case<'a> = (&'a str, Vec<(Metric, State)>, Vec<&'a str>, Option<&'a [String]>, i64, u32, IncidentStep);
        let cases: Vec<Case> = vec![
            ("all up, nothing open", vec![(A, Up), (U, Up)], vec![], None, 0, 1, IncidentStep::Nothing),
            (
                "one metric down: opens at once",
                vec![(A, Up), (U, Down)],
                vec!["uniqueness"],
                None,
                0,
                1,
                IncidentStep::Open {
                    title: "Orders is down: uniqueness".into(),
                    severity: Severity::Minor,
                    metrics: open_u.clone(),
                    began_at: 900,
                    message: "Detected. uniqueness down: uniqueness is down".into(),
                },
            ),
            (
                "availability down is critical",
                vec![(A, Down), (F, Down)],
                vec![],
                None,
                0,
                1,
                IncidentStep::Open {
                    title: "Orders is down: availability, freshness".into(),
                    severity: Severity::Critical,
                    metrics: vec!["availability".into(), "freshness".into()],
                    began_at: 900,
                    message: "Detected. availability down: availability is down; freshness down: freshness is down"
                        .into(),
                },
            ),
            ("the guard counts", vec![(U, Down)], vec![], None, 0, 3, IncidentStep::Count { down_polls: 1 }),
            ("the guard still counts", vec![(U, Down)], vec![], None, 1, 3, IncidentStep::Count { down_polls: 2 }),
            ("up before the guard let it open", vec![(U, Up)], vec![], None, 2, 3, IncidentStep::ResetCount),
            (
                "a new metric down joins the open incident",
                vec![(F, Down), (U, Down)],
                vec!["freshness"],
                Some(&open_u),
                0,
                1,
                IncidentStep::Update {
                    metrics: vec!["uniqueness".into(), "freshness".into()],
                    message: "Changed: freshness down: freshness is down".into(),
                },
            ),
            ("open, nothing changed", vec![(U, Down)], vec![], Some(&open_u), 0, 1, IncidentStep::Nothing),
            (
                "degraded is not recovered",
                vec![(U, Degraded)],
                vec!["uniqueness"],
                Some(&open_u),
                0,
                1,
                IncidentStep::Update {
                    metrics: open_u.clone(),
                    message: "Changed: uniqueness degraded: uniqueness is degraded".into(),
                },
            ),
            (
                "all up: resolved",
                vec![(U, Up)],
                vec!["uniqueness"],
                Some(&open_u),
                0,
                1,
                IncidentStep::Resolve { message: "Recovered: every metric is up again.".into() },
            ),
        ];
        for (case, states, changed, open, down_polls, open_after, expected) in cases {
            let e = evaluation(&states);
            let changed: Vec<String> = changed.iter().map(|c| c.to_string()).collect();
            let input = IncidentInput {
                product: &product,
                evaluation: &e,
                at: 1000,
                changed: &changed,
                open,
                down_polls,
                open_after,
            };
            assert_eq!(next_step(&input), expected, "{case}");
        }
    }
}
