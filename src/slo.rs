//! The SLO report: per product and metric, uptime over a window against the product's
//! SLO, the error budget left, incidents, and mean times to detect and to resolve.
//! Pure arithmetic over history read by the store; `tablestat report` prints it.

use std::collections::HashMap;

use serde::Serialize;

use crate::model::Product;
use crate::store::Incident;
pub use crate::store::{MetricSpans, SloInput};
use crate::uptime::{self, Span, Tally};

/// The SLO of a product that does not declare one (`slo = …` in its `[[product]]`).
pub const DEFAULT_SLO: f64 = 99.0;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloRow {
    pub product: String,
    pub name: String,
    pub group: String,
    /// A metric name, or `overall` for the product as a whole.
    pub metric: String,
    /// Target uptime, percent.
    pub slo: f64,
    /// True when the product declares no SLO and [`DEFAULT_SLO`] applies.
    pub slo_is_default: bool,
    /// Available (up or degraded) time over judged time, percent; `None` without judged time.
    pub uptime: Option<f64>,
    /// Seconds judged up, degraded or down (maintenance, unknown and no data are left out).
    pub judged_seconds: i64,
    pub down_seconds: i64,
    /// Seconds of downtime the SLO allows over the judged time.
    pub budget_seconds: i64,
    /// Percent of the error budget not spent; negative when overspent. `None` when nothing
    /// was judged, or when the SLO (100 %) allows no downtime and some happened.
    pub budget_left: Option<f64>,
    /// Whether uptime meets the SLO; `None` without judged time.
    pub met: Option<bool>,
    pub incidents: usize,
    /// Mean time to detect, seconds: from the break (the failing run's end) to the incident.
    pub mean_time_to_detect: Option<i64>,
    /// Mean time to resolve, seconds, over the incidents resolved so far.
    pub mean_time_to_resolve: Option<i64>,
    /// Mean time to acknowledge, seconds, over the incidents someone took.
    pub mean_time_to_acknowledge: Option<i64>,
}

/// Time left out of the figures, one line per incident: who decided it and why, so that
/// the figures can be trusted (an audit line of the report).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exclusion {
    pub incident: i64,
    pub product: String,
    pub name: String,
    pub title: String,
    /// `false-positive` or `expected`.
    pub resolution: crate::model::Resolution,
    /// Who closed it so (`None`: nobody named).
    pub by: Option<String>,
    pub note: Option<String>,
    /// The time left out, within the report's window.
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub from: i64,
    #[serde(serialize_with = "crate::timefmt::json::at")]
    pub until: i64,
    pub seconds: i64,
}

/// Every incident whose time the report over `window` leaves out, oldest first.
pub fn exclusions(input: &SloInput, window: Span) -> Vec<Exclusion> {
    input
        .excluded
        .iter()
        .filter_map(|crate::store::Excluded { incident, product, span }| {
            let from = span.start.max(window.start);
            let until = span.end.min(window.end);
            (until > from).then(|| Exclusion {
                incident: incident.id,
                product: product.clone(),
                name: input
                    .products
                    .iter()
                    .find(|p| p.id == *product)
                    .map_or_else(|| product.clone(), |p| p.name.clone()),
                title: incident.title.clone(),
                resolution: incident.resolution.unwrap_or(crate::model::Resolution::FalsePositive),
                by: incident.resolved_by.clone(),
                note: incident.resolution_note.clone(),
                from,
                until,
                seconds: until - from,
            })
        })
        .collect()
}

/// The report over `window`, products in the input's order, the overall row first.
pub fn report(input: &SloInput, window: Span) -> Vec<SloRow> {
    // Each input found by product once (20,000 products × 39,000 incidents searched per
    // product and metric took minutes).
    let history: HashMap<&str, &[crate::store::MetricSpans]> =
        input.history.iter().map(|(id, h)| (id.as_str(), h.as_slice())).collect();
    let mut excluded: HashMap<&str, Vec<&crate::store::Excluded>> = HashMap::new();
    for x in &input.excluded {
        excluded.entry(x.product.as_str()).or_default().push(x);
    }
    let mut involved: HashMap<&str, Vec<&Incident>> = HashMap::new();
    for incident in &input.incidents {
        let mut products: Vec<&str> = std::iter::once(incident.product.as_str())
            .chain(incident.members.iter().map(|m| m.product.as_str()))
            .collect();
        products.sort_unstable();
        products.dedup();
        for product in products {
            involved.entry(product).or_default().push(incident);
        }
    }
    let mut rows = Vec::new();
    for product in &input.products {
        let history = history.get(product.id.as_str()).copied().unwrap_or(&[]);
        let excluded = excluded.get(product.id.as_str()).map_or(&[][..], Vec::as_slice);
        let involved = involved.get(product.id.as_str()).map_or(&[][..], Vec::as_slice);
        // Time under its excluded incidents counts as unwatched; those incidents leave the
        // counts and the means (the audit lines list them instead).
        let left_out: Vec<Span> = excluded.iter().map(|x| x.span).collect();
        let watched = uptime::excluding(&input.coverage, &left_out);
        let (slo, slo_is_default) = product.slo.map_or((DEFAULT_SLO, true), |s| (s, false));
        let metrics = std::iter::once(("", "overall")).chain(product.metrics.iter().map(|m| (m.as_str(), m.as_str())));
        for (key, label) in metrics {
            let spans = history.iter().find(|(m, _)| m == key).map(|(_, s)| s.as_slice()).unwrap_or(&[]);
            let tally = uptime::tally(&uptime::covered(spans, &watched), window);
            let incidents: Vec<&Incident> = involved
                .iter()
                .copied()
                .filter(|i| key.is_empty() || i.metrics.iter().any(|m| m == key))
                .filter(|i| !excluded.iter().any(|x| x.incident.id == i.id))
                .collect();
            rows.push(row(product, label, slo, slo_is_default, &tally, &incidents));
        }
    }
    rows
}

fn row(
    product: &Product,
    metric: &str,
    slo: f64,
    slo_is_default: bool,
    tally: &Tally,
    incidents: &[&Incident],
) -> SloRow {
    let judged = tally.up + tally.degraded + tally.down;
    let budget = ((100.0 - slo) / 100.0 * judged as f64).round() as i64;
    let budget_left = match (judged, budget) {
        (0, _) => None,
        (_, 0) if tally.down == 0 => Some(100.0),
        (_, 0) => None,
        (_, b) => Some(round2((b - tally.down) as f64 * 100.0 / b as f64)),
    };
    let uptime = tally.uptime();
    let mean = |values: Vec<i64>| (!values.is_empty()).then(|| values.iter().sum::<i64>() / values.len() as i64);
    SloRow {
        product: product.id.clone(),
        name: product.name.clone(),
        group: product.group.clone(),
        metric: metric.to_string(),
        slo,
        slo_is_default,
        // Rounded down, as everywhere: any downtime at all never reads 100.
        uptime: uptime.map(|u| (u * 100.0).floor() / 100.0),
        judged_seconds: judged,
        down_seconds: tally.down,
        budget_seconds: budget,
        budget_left,
        met: uptime.map(|u| u >= slo),
        incidents: incidents.len(),
        mean_time_to_detect: mean(incidents.iter().map(|i| i.time_to_detect()).collect()),
        mean_time_to_resolve: mean(incidents.iter().filter_map(|i| i.time_to_resolve()).collect()),
        mean_time_to_acknowledge: mean(incidents.iter().filter_map(|i| i.time_to_acknowledge()).collect()),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Metric, State};
    use crate::store::IncidentStatus;
    use crate::uptime::StateSpan;

    const DAY: i64 = 86_400;

    fn product(slo: Option<f64>) -> Product {
        Product {
            name: "Orders".into(),
            group: "Sales".into(),
            metrics: vec![Metric::Freshness],
            slo,
            ..Product::new("fct_orders", "orders_daily")
        }
    }

    fn span(start: i64, end: i64, state: State) -> StateSpan {
        StateSpan { span: Span::new(start, end), state }
    }

    fn incident(began: i64, opened: i64, resolved: Option<i64>, metrics: &[&str]) -> Incident {
        Incident {
            id: 1,
            product: "fct_orders".into(),
            title: "Orders is down".into(),
            status: if resolved.is_some() { IncidentStatus::Resolved } else { IncidentStatus::Investigating },
            severity: crate::model::Severity::Minor,
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
            began_at: began,
            opened_at: opened,
            resolved_at: resolved,
            eta: None,
            resolution: resolved.map(|_| crate::model::Resolution::Fixed),
            resolved_by: None,
            resolution_note: None,
            acknowledged_at: None,
            acknowledged_by: None,
            cause: None,
            exposures: Vec::new(),
            members: vec![crate::store::Member { product: "fct_orders".into(), joined_at: opened, left_at: resolved }],
            updates: Vec::new(),
        }
    }

    #[test]
    fn budget_uptime_and_incident_times_by_hand() {
        // 10 days watched. Freshness: 9 days up, 6 h down, 12 h maintenance, 6 h degraded.
        let freshness = vec![
            span(0, 9 * DAY, State::Up),
            span(9 * DAY, 9 * DAY + 6 * 3600, State::Down),
            span(9 * DAY + 6 * 3600, 9 * DAY + 18 * 3600, State::Maintenance),
            span(9 * DAY + 18 * 3600, 10 * DAY, State::Degraded),
        ];
        let input = SloInput {
            products: vec![product(Some(99.0))],
            coverage: vec![Span::new(0, 10 * DAY)],
            history: vec![("fct_orders".into(), vec![("".into(), freshness.clone()), ("freshness".into(), freshness)])],
            incidents: vec![
                incident(9 * DAY - 600, 9 * DAY + 300, Some(9 * DAY + 6 * 3600), &["freshness"]),
                incident(2 * DAY, 2 * DAY + 900, None, &["uniqueness"]),
            ],
            excluded: Vec::new(),
        };
        let rows = report(&input, Span::new(0, 10 * DAY));
        assert_eq!(rows.len(), 2);
        let fresh = &rows[1];
        assert_eq!(fresh.metric, "freshness");
        // judged = 9.5 days (maintenance left out); down 6 h.
        let judged = 9 * DAY + 12 * 3600;
        assert_eq!(fresh.judged_seconds, judged);
        assert_eq!(fresh.down_seconds, 6 * 3600);
        // uptime = 1 - 6 h / 228 h = 97.368…% -> 97.36 (rounded down)
        assert_eq!(fresh.uptime, Some(97.36));
        // budget = 1 % of 228 h = 2.28 h = 8208 s; spent 21600 s: left = (8208 - 21600) / 8208 = -163.16 %
        assert_eq!(fresh.budget_seconds, 8208);
        assert_eq!(fresh.budget_left, Some(-163.16));
        assert_eq!(fresh.met, Some(false));
        assert_eq!(fresh.incidents, 1);
        assert_eq!(fresh.mean_time_to_detect, Some(900));
        assert_eq!(fresh.mean_time_to_resolve, Some(6 * 3600 - 300));
        let overall = &rows[0];
        assert_eq!(overall.metric, "overall");
        assert_eq!(overall.incidents, 2);
        assert_eq!(overall.mean_time_to_detect, Some((900 + 900) / 2));
        assert_eq!(overall.mean_time_to_resolve, Some(6 * 3600 - 300), "only resolved incidents count");
    }

    #[test]
    fn default_slo_no_data_and_a_perfect_slo() {
        let input = SloInput {
            products: vec![product(None)],
            coverage: vec![Span::new(0, DAY)],
            history: vec![("fct_orders".into(), vec![("".into(), vec![span(0, DAY, State::Up)])])],
            incidents: Vec::new(),
            excluded: Vec::new(),
        };
        let rows = report(&input, Span::new(0, DAY));
        assert_eq!((rows[0].slo, rows[0].slo_is_default), (DEFAULT_SLO, true));
        assert_eq!((rows[0].uptime, rows[0].budget_left, rows[0].met), (Some(100.0), Some(100.0), Some(true)));
        // freshness has no history at all: nothing judged, nothing claimed.
        assert_eq!((rows[1].uptime, rows[1].budget_left, rows[1].met), (None, None, None));

        let perfect = SloInput {
            products: vec![product(Some(100.0))],
            history: vec![(
                "fct_orders".into(),
                vec![("".into(), vec![span(0, DAY - 60, State::Up), span(DAY - 60, DAY, State::Down)])],
            )],
            ..input
        };
        let rows = report(&perfect, Span::new(0, DAY));
        assert_eq!((rows[0].budget_seconds, rows[0].budget_left, rows[0].met), (0, None, Some(false)));
    }

    #[test]
    fn time_nobody_watched_is_not_counted() {
        let input = SloInput {
            products: vec![product(Some(99.0))],
            // Watched only the first half of the day; the down half was not seen.
            coverage: vec![Span::new(0, DAY / 2)],
            history: vec![(
                "fct_orders".into(),
                vec![("".into(), vec![span(0, DAY / 2, State::Up), span(DAY / 2, DAY, State::Down)])],
            )],
            incidents: Vec::new(),
            excluded: Vec::new(),
        };
        let rows = report(&input, Span::new(0, DAY));
        assert_eq!((rows[0].judged_seconds, rows[0].down_seconds, rows[0].uptime), (DAY / 2, 0, Some(100.0)));
    }

    /// 10 days watched. Down 2 h on day 3 (fixed, acknowledged 10 min after it opened) and
    /// 6 h on day 9, closed by alice as a false positive: those 6 h leave the figures.
    /// Judged 240 h - 6 h = 234 h, down 2 h: uptime 1 - 2/234 = 99.145 % -> 99.14.
    #[test]
    fn a_false_positive_leaves_the_figures_and_is_listed_with_who_and_why() {
        let h = 3600;
        let history = vec![
            span(0, 3 * DAY, State::Up),
            span(3 * DAY, 3 * DAY + 2 * h, State::Down),
            span(3 * DAY + 2 * h, 9 * DAY, State::Up),
            span(9 * DAY, 9 * DAY + 6 * h, State::Down),
            span(9 * DAY + 6 * h, 10 * DAY, State::Up),
        ];
        let fixed = Incident {
            acknowledged_at: Some(3 * DAY + 900),
            acknowledged_by: Some("bob".into()),
            ..incident(3 * DAY - 300, 3 * DAY + 300, Some(3 * DAY + 2 * h), &["freshness"])
        };
        let false_positive = Incident {
            id: 2,
            resolution: Some(crate::model::Resolution::FalsePositive),
            resolved_by: Some("alice".into()),
            resolution_note: Some("the test compared against the wrong day".into()),
            ..incident(9 * DAY, 9 * DAY + 600, Some(9 * DAY + 6 * h), &["freshness"])
        };
        let left_out = false_positive.excluded_span("fct_orders", false).unwrap();
        assert_eq!(left_out, Span::new(9 * DAY, 9 * DAY + 6 * h));
        assert_eq!(fixed.excluded_span("fct_orders", true), None, "a fixed incident counts");
        let input = SloInput {
            products: vec![product(Some(99.0))],
            coverage: vec![Span::new(0, 10 * DAY)],
            history: vec![("fct_orders".into(), vec![("".into(), history.clone()), ("freshness".into(), history)])],
            incidents: vec![fixed, false_positive.clone()],
            excluded: vec![crate::store::Excluded {
                incident: false_positive,
                product: "fct_orders".into(),
                span: left_out,
            }],
        };
        let window = Span::new(0, 10 * DAY);
        let rows = report(&input, window);
        for row in &rows {
            assert_eq!((row.judged_seconds, row.down_seconds), (234 * h, 2 * h), "{}", row.metric);
            assert_eq!(row.uptime, Some(99.14));
            assert_eq!(row.incidents, 1, "the false positive is not counted");
            assert_eq!(row.mean_time_to_detect, Some(600));
            assert_eq!(row.mean_time_to_resolve, Some(2 * h - 300));
            assert_eq!(row.mean_time_to_acknowledge, Some(600));
        }
        let audit = exclusions(&input, window);
        assert_eq!(audit.len(), 1);
        let line = &audit[0];
        assert_eq!((line.incident, line.from, line.until, line.seconds), (2, 9 * DAY, 9 * DAY + 6 * h, 6 * h));
        assert_eq!((line.by.as_deref(), line.resolution), (Some("alice"), crate::model::Resolution::FalsePositive));
        // A window that ends inside it leaves out only its part.
        assert_eq!(exclusions(&input, Span::new(0, 9 * DAY + h))[0].seconds, h);
    }
}
