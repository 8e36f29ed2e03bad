//! When an incident opens, changes and resolves, by the rulebook: a pure function of a
//! product's evaluation, what changed at this poll, its open incident and the flapping
//! guard's count. The store applies the step in the poll's transaction.
//!
//! An incident belongs to a root cause ([`Cause`]), not to a product: a product going down
//! joins the open incident of its cause (one failing staging test: one incident for the
//! staging table and the marts below it), leaves it when it is up again, and the incident
//! resolves when the last one is back.

use super::{Cause, Evaluation};
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
    /// The metrics of its open incident, if it is in one.
    pub open: Option<&'a [String]>,
    /// The cause of that incident (`None` for one from before causes were kept).
    pub open_cause: Option<&'a str>,
    /// Polls in a row it has been down without an incident, before this one.
    pub down_polls: i64,
    /// Polls in a row a metric must be down before an incident opens (the flapping guard).
    pub open_after: u32,
    /// Reaching an exposure of one of these maturities makes an incident critical.
    pub critical_maturities: &'a [String],
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
    /// Down with no incident: join the open incident of the same cause, or open one.
    Open(Opening),
    Update {
        metrics: Vec<String>,
        message: String,
    },
    /// Up again: the product leaves its incident, which resolves when nobody is left in it.
    Resolve {
        message: String,
    },
    /// Still down, for another cause than its incident's: it leaves that one for this one's.
    Move(Opening),
}

/// A product joining (or opening) the incident of its cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Opening {
    pub cause: Cause,
    /// The product's own words ("Orders is down: uniqueness"): the incident's title when
    /// the cause is its own (see [`title`]).
    pub title: String,
    pub severity: Severity,
    pub metrics: Vec<String>,
    pub began_at: i64,
    pub message: String,
}

/// An incident's title: a shared cause names itself and how many tables it reached ("`unique_stg_orders_order_id` failed: 2 tables affected"); a product's own cause, the
/// product and its metrics.
pub fn title(cause: &Cause, own: &str, affected: usize) -> String {
    if cause.is_shared() {
        format!("{}: {affected} table{} affected", cause.title, if affected == 1 { "" } else { "s" })
    } else {
        own.to_string()
    }
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
            IncidentStep::Open(opening(input, &down))
        }
        None if input.open_after > 1 => IncidentStep::ResetCount,
        None => IncidentStep::Nothing,
        Some(_) if e.state == State::Up => {
            IncidentStep::Resolve { message: "Recovered: every metric is up again.".to_string() }
        }
        Some(_) if !down.is_empty() && moved(input) => IncidentStep::Move(opening(input, &down)),
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

/// The product's cause this poll: what the evaluation found, or its own.
fn cause_of(input: &IncidentInput<'_>) -> Cause {
    input.evaluation.cause.clone().unwrap_or_else(|| Cause::own(input.product))
}

/// Down for a shared cause other than its incident's (also shared): an unrelated failure.
fn moved(input: &IncidentInput<'_>) -> bool {
    let now = cause_of(input);
    match input.open_cause {
        Some(open) => now.is_shared() && !open.starts_with("product:") && open != now.key,
        None => false,
    }
}

fn opening(input: &IncidentInput<'_>, down: &[&Metric]) -> Opening {
    let e = input.evaluation;
    let metrics: Vec<String> = down.iter().map(|m| m.to_string()).collect();
    let detail = said_once(e.metrics.iter().filter(|(_, v)| v.state == State::Down));
    // What reads the table outside dbt may raise the stakes: a dashboard the CFO opens.
    let critical = e.evidence.exposures.iter().any(|x| {
        x.maturity.as_deref().is_some_and(|m| input.critical_maturities.iter().any(|c| c.eq_ignore_ascii_case(m)))
    });
    Opening {
        cause: cause_of(input),
        title: format!("{} is down: {}", input.product.name, metrics.join(", ")),
        severity: if critical { Severity::Critical } else { Severity::of(down) },
        metrics,
        began_at: e.run_finished_at.map_or(input.at, |t| t.timestamp().min(input.at)),
        message: format!("Detected. {}", detail.join("; ")),
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
            cause: None,
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
                IncidentStep::Open(Opening {
                    cause: Cause::own(&product),
                    title: "Orders is down: uniqueness".into(),
                    severity: Severity::Minor,
                    metrics: open_u.clone(),
                    began_at: 900,
                    message: "Detected. uniqueness down: uniqueness is down".into(),
                }),
            ),
            (
                "availability down is critical",
                vec![(A, Down), (F, Down)],
                vec![],
                None,
                0,
                1,
                IncidentStep::Open(Opening {
                    cause: Cause::own(&product),
                    title: "Orders is down: availability, freshness".into(),
                    severity: Severity::Critical,
                    metrics: vec!["availability".into(), "freshness".into()],
                    began_at: 900,
                    message: "Detected. availability down: availability is down; freshness down: freshness is down"
                        .into(),
                }),
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
                open_cause: None,
                down_polls,
                open_after,
                critical_maturities: &[],
            };
            assert_eq!(next_step(&input), expected, "{case}");
        }
    }

    /// A shared cause opens (or joins) by its key; the same product later down for another
    /// shared cause moves; a change of words under the same cause is an update.
    #[test]
    fn a_product_joins_its_cause_and_moves_when_the_cause_changes() {
        let product = Product { name: "Orders".into(), ..Product::new("fct_orders", "shop_daily") };
        let test = Cause::new("test:test.shop.unique_stg_orders_order_id", "`unique_stg_orders_order_id` failed");
        let source = Cause::new("source:source.shop.raw.orders", "source raw.orders is stale");
        let down = |cause: &Cause| Evaluation {
            cause: Some(cause.clone()),
            ..evaluation(&[(Metric::Freshness, State::Down)])
        };
        let open = vec!["freshness".to_string()];
        let changed = vec!["freshness".to_string()];
        let step = |e: &Evaluation, open: Option<&[String]>, open_cause: Option<&str>| {
            next_step(&IncidentInput {
                product: &product,
                evaluation: e,
                at: 1000,
                changed: &changed,
                open,
                open_cause,
                down_polls: 0,
                open_after: 1,
                critical_maturities: &[],
            })
        };
        let IncidentStep::Open(opening) = step(&down(&test), None, None) else { panic!("opens") };
        assert_eq!(opening.cause, test);
        assert_eq!(title(&opening.cause, &opening.title, 2), "`unique_stg_orders_order_id` failed: 2 tables affected");
        assert_eq!(title(&Cause::own(&product), &opening.title, 1), "Orders is down: freshness");
        assert!(matches!(step(&down(&test), Some(&open), Some(&test.key)), IncidentStep::Update { .. }));
        let IncidentStep::Move(moved) = step(&down(&source), Some(&open), Some(&test.key)) else { panic!("moves") };
        assert_eq!(moved.cause, source);
        // An incident from before causes were kept, or the product's own: no move.
        assert!(matches!(step(&down(&source), Some(&open), None), IncidentStep::Update { .. }));
        assert!(matches!(step(&down(&source), Some(&open), Some("product:fct_orders")), IncidentStep::Update { .. }));
        let own = Evaluation { cause: None, ..down(&test) };
        assert!(
            matches!(step(&own, Some(&open), Some(&test.key)), IncidentStep::Update { .. }),
            "its own failure stays"
        );
    }
}
