//! `/metrics`: what the board shows, in the OpenMetrics text format, for Prometheus and
//! the alerting behind it. Product states come from the same snapshot `status` reads (the
//! states as shown, stale ones `unknown`); the poller's own figures (poll time, requests and
//! failures per source) from the process that polls.
//!
//! Written by hand: a few gauge and counter families, with the format's rules kept here
//! (one `# TYPE` and `# HELP` per family before its samples, families never interleaved,
//! label values escaped, `# EOF` last) and checked by a parser in the tests.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::model::State;
use crate::poller::service::PollerStatus;
use crate::store::{BoardSnapshot, ProductRow, WindowKind};

/// The media type Prometheus asks for and this answers in.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The name of the `metric` label for a product's overall state.
const OVERALL: &str = "overall";

/// Each product's Airflow by name, for the `source` label.
#[derive(Debug, Clone, Default)]
pub struct SourceNames {
    /// The products the config lists, by id.
    pub by_product: HashMap<String, String>,
    /// With one Airflow, its name: every product's, discovered ones too.
    pub only: Option<String>,
}

impl SourceNames {
    fn of(&self, product: &str) -> &str {
        self.by_product.get(product).or(self.only.as_ref()).map_or("", String::as_str)
    }
}

/// Everything `/metrics` says, as of `now`. `source_of` names each product's Airflow; `leader`: this process holds the lease.
pub fn render(
    snapshot: &BoardSnapshot,
    poller: &PollerStatus,
    source_of: &SourceNames,
    leader: bool,
    now: i64,
) -> String {
    let mut out = Text::default();

    out.family(
        "tablestat_product_state",
        "gauge",
        "1 for the state each product and metric is shown in, else 0 (metric=\"overall\": the product's own state)",
    );
    for row in &snapshot.products {
        let [product, group, source] = labels(row, source_of);
        let metrics =
            std::iter::once((OVERALL, row.state)).chain(row.metrics.iter().map(|m| (m.metric.as_str(), m.state)));
        for (metric, shown) in metrics {
            for state in State::ALL {
                let value = if state == shown { 1.0 } else { 0.0 };
                out.sample(
                    "tablestat_product_state",
                    &[product, group, ("metric", metric), source, ("state", state.as_str())],
                    value,
                );
            }
        }
    }

    out.family(
        "tablestat_product_uptime_ratio",
        "gauge",
        "Share of judged time each product was up, per window (maintenance, unknown and unwatched time left out)",
    );
    for row in &snapshot.products {
        let [product, group, source] = labels(row, source_of);
        for window in WindowKind::ALL {
            if let Some(uptime) = row.uptime(window) {
                out.sample(
                    "tablestat_product_uptime_ratio",
                    &[product, group, source, ("window", window_label(window))],
                    uptime / 100.0,
                );
            }
        }
    }

    type When = fn(&ProductRow) -> Option<i64>;
    let ages: [(&str, &str, When); 2] = [
        ("tablestat_product_check_age_seconds", "Seconds since each product was last checked by a poll", |r| {
            r.checked_at
        }),
        (
            "tablestat_product_refresh_age_seconds",
            "Seconds since each product's table was last rebuilt (the dbt task's end)",
            |r| r.last_refresh,
        ),
    ];
    for (name, help, when) in ages {
        out.family(name, "gauge", help);
        for row in &snapshot.products {
            if let Some(at) = when(row) {
                out.sample(name, &labels(row, source_of), (now - at).max(0) as f64);
            }
        }
    }

    out.family("tablestat_incidents_open", "gauge", "Open incidents, by severity");
    let mut open: BTreeMap<&str, u64> = [("minor", 0), ("major", 0), ("critical", 0)].into();
    for incident in snapshot.products.iter().filter_map(|r| r.open_incident.as_ref()) {
        *open.entry(incident.severity.as_str()).or_default() += 1;
    }
    for (severity, count) in open {
        out.sample("tablestat_incidents_open", &[("severity", severity)], count as f64);
    }

    out.family("tablestat_notifications_undelivered", "gauge", "Webhook deliveries not yet made (waiting or retrying)");
    out.sample("tablestat_notifications_undelivered", &[], snapshot.notify.undelivered as f64);

    out.family(
        "tablestat_last_poll_age_seconds",
        "gauge",
        "Seconds since the last poll any poller wrote to this database started",
    );
    if let Some((at, _, _)) = snapshot.poller.last_poll {
        out.sample("tablestat_last_poll_age_seconds", &[], (now - at).max(0) as f64);
    }

    out.family(
        "tablestat_poller_leader",
        "gauge",
        "1 while this process holds the lease and polls, 0 while it follows another",
    );
    out.sample("tablestat_poller_leader", &[], if leader { 1.0 } else { 0.0 });

    out.family(
        "tablestat_poll_duration_seconds",
        "gauge",
        "How long this process's last poll took, reading and writing",
    );
    if let Some(seconds) = poller.last_poll_seconds {
        out.sample("tablestat_poll_duration_seconds", &[], seconds);
    }

    out.family("tablestat_polls", "counter", "Polls this process made");
    out.sample("tablestat_polls_total", &[], poller.polls as f64);

    out.family("tablestat_source_up", "gauge", "1 when the source answered at this process's last poll, else 0");
    for source in &poller.sources {
        out.sample(
            "tablestat_source_up",
            &[("source", &source.name), ("kind", &source.kind)],
            if source.reachable { 1.0 } else { 0.0 },
        );
    }

    out.family("tablestat_source_requests", "gauge", "Requests this process's last poll made to each source");
    for source in &poller.sources {
        out.sample(
            "tablestat_source_requests",
            &[("source", &source.name), ("kind", &source.kind)],
            source.requests as f64,
        );
    }

    out.family("tablestat_source_errors", "counter", "Polls in which a source could not be read, by kind of failure");
    for ((source, kind), count) in &poller.source_errors {
        out.sample("tablestat_source_errors_total", &[("source", source), ("kind", kind)], *count as f64);
    }

    out.0.push_str("# EOF\n");
    out.0
}

/// The labels every product's samples carry.
fn labels<'a>(row: &'a ProductRow, source_of: &'a SourceNames) -> [(&'static str, &'a str); 3] {
    [
        ("product", row.product.id.as_str()),
        ("group", row.product.group.as_str()),
        ("source", source_of.of(&row.product.id)),
    ]
}

/// The `window` label: the board's own names for the four windows.
fn window_label(window: WindowKind) -> &'static str {
    match window {
        WindowKind::Day => "1d",
        WindowKind::Week => "7d",
        WindowKind::Month => "30d",
        WindowKind::Quarter => "90d",
    }
}

#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
        let _ = writeln!(self.0, "# HELP {name} {}", escape(help, false));
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{key}=\"{}\"", escape(value, true));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// OpenMetrics escaping: backslash and newline everywhere, double quotes in label values.
/// Names come from sources (a dbt model, a group in a config): any text is a valid value.
fn escape(text: &str, quotes: bool) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\\', '\n', '"']) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_and_help_are_escaped_as_the_format_says() {
        for (text, label, help) in [
            ("orders", "orders", "orders"),
            (r#"a"b"#, r#"a\"b"#, r#"a"b"#),
            ("a\\b", "a\\\\b", "a\\\\b"),
            ("a\nb", "a\\nb", "a\\nb"),
        ] {
            assert_eq!(escape(text, true), label, "{text:?}");
            assert_eq!(escape(text, false), help, "{text:?}");
        }
    }
}
