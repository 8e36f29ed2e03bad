//! 90 days of believable history, deterministic by seed: occasional outages (each with its
//! incident and timeline), warning episodes, a maintenance window, a night without a
//! poller, daily refreshes with varying lag. Pure: products and a clock in, rows out.

use crate::model::{Metric, Product, Severity, State};
use crate::store::{History, ImportedIncident, ImportedRefresh, SpanRow};

const H: i64 = 3600;
const D: i64 = 86_400;

struct Episode {
    start: i64,
    end: i64,
    metric: Metric,
    state: State,
    reason: String,
}

/// What went wrong, in the words the board would have shown.
fn outage(rng: &mut fastrand::Rng, metric: &Metric, product: &Product) -> String {
    match metric {
        Metric::Availability => format!("DAG {} is paused", product.dag_id),
        Metric::Freshness => [
            "not rebuilt: upstream test unique_stg_orders_order_id failed",
            "not refreshed: a task before dbt_build failed",
            "source raw.orders is stale: data 30 h old when checked",
        ][rng.usize(..3)]
        .to_string(),
        Metric::Uniqueness => format!(
            "unique test on {}_id failed: {} duplicated values",
            product.id.trim_start_matches("stg_").trim_start_matches("fct_").trim_start_matches("dim_"),
            rng.u32(2..40)
        ),
        Metric::Completeness => format!("not_null test on email failed: {} rows with no value", rng.u32(1..200)),
        _ => "relationships test on customer_id failed: 12 rows with no matching parent".to_string(),
    }
}

pub fn history(products: &[Product], now: i64, seed: u64) -> History {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = now - 90 * D;
    let mut history = History::default();
    // The poller was down one night 41 days ago: no data, never "up".
    let gap =
        (now - 41 * D - (now - 41 * D).rem_euclid(D) + 22 * H, now - 41 * D - (now - 41 * D).rem_euclid(D) + 31 * H);
    history.coverage = vec![(start, gap.0), (gap.1, now)];
    // A planned maintenance for Finance, 62 days ago.
    let maintenance =
        (now - 62 * D - (now - 62 * D).rem_euclid(D) + 20 * H, now - 62 * D - (now - 62 * D).rem_euclid(D) + 24 * H);

    for product in products {
        let mut episodes: Vec<Episode> = Vec::new();
        if product.group == "Finance" {
            for metric in &product.metrics {
                episodes.push(Episode {
                    start: maintenance.0,
                    end: maintenance.1,
                    metric: metric.clone(),
                    state: State::Maintenance,
                    reason: "planned maintenance: ledger migration".into(),
                });
            }
        }
        let mut day = start;
        while day < now - D {
            let roll = rng.f64();
            let begin = day + rng.i64(0..20) * H;
            let (state, len) = if roll < 0.022 {
                (State::Down, rng.i64(1..7) * H + rng.i64(0..60) * 60)
            } else if roll < 0.05 {
                (State::Degraded, rng.i64(2..20) * H)
            } else {
                day += D;
                continue;
            };
            let metric = if state == State::Degraded {
                [Metric::Completeness, Metric::Freshness]
                    .into_iter()
                    .find(|m| product.metrics.contains(m))
                    .unwrap_or_else(|| product.metrics[0].clone())
            } else {
                product.metrics[rng.usize(..product.metrics.len())].clone()
            };
            let end = (begin + len).min(now - H);
            let clear = episodes.iter().all(|e| end <= e.start || begin >= e.end);
            if clear && end > begin {
                let reason = if state == State::Down {
                    outage(&mut rng, &metric, product)
                } else {
                    "not_null test on email warned: 4 rows with no value".to_string()
                };
                episodes.push(Episode { start: begin, end, metric, state, reason });
            }
            day += D;
        }
        episodes.sort_by_key(|e| e.start);

        // Per metric: up between its episodes; the last span stays open.
        let mut all_metrics: Vec<Option<Metric>> = product.metrics.iter().cloned().map(Some).collect();
        all_metrics.push(None);
        for metric in all_metrics {
            let mut at = start;
            for e in episodes.iter().filter(|e| metric.as_ref().is_none_or(|m| *m == e.metric)) {
                if e.start < at {
                    continue;
                }
                if e.start > at {
                    history.spans.push(up(product, &metric, at));
                }
                let reason = match &metric {
                    Some(_) => e.reason.clone(),
                    None => format!("{}: {}", e.metric, e.reason),
                };
                history.spans.push(SpanRow {
                    product: product.id.clone(),
                    metric: metric.clone(),
                    state: e.state,
                    reason,
                    start: e.start,
                });
                at = e.end;
            }
            history.spans.push(up(product, &metric, at));
        }

        // Incidents for the outages.
        for e in episodes.iter().filter(|e| e.state == State::Down) {
            let opened = e.start + rng.i64(2..7) * 60;
            let mut updates = vec![(
                opened,
                true,
                "investigating".to_string(),
                format!("Detected. {} down: {}", e.metric, e.reason),
                None,
            )];
            if e.end - e.start > 2 * H {
                updates.push((
                    opened + 40 * 60,
                    false,
                    "identified".into(),
                    "Found the cause; a fix is running.".into(),
                    Some("ana".to_string()),
                ));
            }
            updates.push((e.end, true, "resolved".into(), "Recovered: every metric is up again.".into(), None));
            history.incidents.push(ImportedIncident {
                product: product.id.clone(),
                title: format!("{} is down: {}", product.name, e.metric),
                severity: if e.metric == Metric::Availability { Severity::Critical } else { Severity::Minor },
                metrics: vec![e.metric.to_string()],
                began_at: e.start - rng.i64(1..10) * 60,
                opened_at: opened,
                resolved_at: e.end,
                updates,
            });
        }

        // A refresh a day, about an hour after midnight, later on bad days.
        let mut midnight = start - start.rem_euclid(D) + D;
        while midnight < now {
            let troubled =
                episodes.iter().any(|e| e.start < midnight + 6 * H && e.end > midnight && e.state == State::Down);
            if !troubled {
                let lag = H + rng.i64(5..50) * 60 + if rng.f64() < 0.1 { rng.i64(1..4) * H } else { 0 };
                history.refreshes.push(ImportedRefresh {
                    product: product.id.clone(),
                    dag_run_id: format!(
                        "scheduled__{}",
                        chrono::DateTime::from_timestamp(midnight - D, 0)
                            .unwrap_or_default()
                            .format("%Y-%m-%dT%H:%M:%S+00:00")
                    ),
                    data_interval_end: midnight,
                    task_started: midnight + lag - 10 * 60,
                    finished: (midnight + lag).min(now),
                });
            }
            midnight += D;
        }
    }
    history
}

/// The scale worst case of issue 7: every product-metric (and each product's overall state)
/// changes once a day for 90 days, alternating between up and a failure in the board's words.
pub fn dense_history(products: &[Product], now: i64, seed: u64) -> History {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = now - 90 * D;
    let mut history = History { coverage: vec![(start, now)], ..History::default() };
    for product in products {
        let series = std::iter::once(None).chain(product.metrics.iter().cloned().map(Some));
        for metric in series {
            for day in 0..90 {
                let at = start + day * D + rng.i64(0..D);
                let failing = (day + rng.i64(0..2)) % 2 == 1;
                let span = match (&metric, failing) {
                    (_, false) => up(product, &metric, at),
                    (None, true) => SpanRow {
                        product: product.id.clone(),
                        metric: None,
                        state: State::Down,
                        reason: format!("freshness: {}", outage(&mut rng, &Metric::Freshness, product)),
                        start: at,
                    },
                    (Some(m), true) => SpanRow {
                        product: product.id.clone(),
                        metric: metric.clone(),
                        // A test's severity is its config: the same test always warns or fails.
                        state: if *m == Metric::Completeness { State::Degraded } else { State::Down },
                        reason: outage(&mut rng, m, product),
                        start: at,
                    },
                };
                history.spans.push(span);
            }
        }
    }
    history
}

fn up(product: &Product, metric: &Option<Metric>, start: i64) -> SpanRow {
    let reason = match metric {
        None => "all metrics up".to_string(),
        Some(Metric::Availability) => format!("DAG {} is active", product.dag_id),
        Some(Metric::Freshness) => "refreshed by the daily run".to_string(),
        Some(_) => "tests passed".to_string(),
    };
    SpanRow { product: product.id.clone(), metric: metric.clone(), state: State::Up, reason, start }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let products = crate::demo::world::products();
        let a = history(&products, 1_800_000_000, 7);
        let b = history(&products, 1_800_000_000, 7);
        assert_eq!(a.spans, b.spans);
        assert_eq!(a.incidents, b.incidents);
        assert_ne!(history(&products, 1_800_000_000, 8).spans, a.spans);
        // Every product-metric ends up: its last span is "all metrics up" or a passing one.
        let mut last: std::collections::HashMap<(String, Option<Metric>), State> = std::collections::HashMap::new();
        for s in &a.spans {
            last.insert((s.product.clone(), s.metric.clone()), s.state);
        }
        let expected: usize = products.iter().map(|p| p.metrics.len() + 1).sum();
        assert_eq!(last.len(), expected);
        assert!(last.values().all(|s| *s == State::Up));
        assert!(!a.incidents.is_empty());
    }
}
