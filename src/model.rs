//! The domain: products, metrics, states, reasons and evidence.
//!
//! These words are used the same way in code, JSON and on screen. Nothing here does I/O.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The state of one metric (or, as the worst of its metrics, of a product).
///
/// Declared worst first, so the derived `Ord` sorts the worst state first and
/// `min` of a set of states is the worst of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Down,
    Degraded,
    Unknown,
    Maintenance,
    Up,
}

impl State {
    /// Every state, worst first.
    pub const ALL: [State; 5] = [State::Down, State::Degraded, State::Unknown, State::Maintenance, State::Up];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Down => "down",
            State::Degraded => "degraded",
            State::Unknown => "unknown",
            State::Maintenance => "maintenance",
            State::Up => "up",
        }
    }

    /// The worse of two states.
    pub fn worst(self, other: State) -> State {
        self.min(other)
    }

    /// The worst of many states; `None` for none.
    pub fn worst_of(states: impl IntoIterator<Item = State>) -> Option<State> {
        states.into_iter().min()
    }

    /// Exit code of `status` and `poll --once`, after the monitoring-plugin convention.
    /// Unknown ranks below degraded and down here: "worst wins: down > degraded > unknown".
    pub fn exit_code(self) -> i32 {
        match self {
            State::Up | State::Maintenance => 0,
            State::Degraded => 1,
            State::Down => 2,
            State::Unknown => 3,
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Exit code for a set of product states: down (2) > degraded (1) > unknown (3) > ok (0).
pub fn exit_code_for(states: impl IntoIterator<Item = State>) -> i32 {
    let mut seen = [false; 5];
    for state in states {
        seen[state as usize] = true;
    }
    if seen[State::Down as usize] {
        2
    } else if seen[State::Degraded as usize] {
        1
    } else if seen[State::Unknown as usize] {
        3
    } else {
        0
    }
}

/// A quality dimension of a table. The five named ones have defaults; teams may add their own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    Availability,
    Freshness,
    Correctness,
    Uniqueness,
    Completeness,
    /// A metric the team added, lower-case, fed by tests mapped to it.
    Custom(String),
}

impl Metric {
    /// The five metrics every product shows unless its config says otherwise.
    pub fn standard() -> Vec<Metric> {
        vec![Metric::Availability, Metric::Freshness, Metric::Correctness, Metric::Uniqueness, Metric::Completeness]
    }

    pub fn as_str(&self) -> &str {
        match self {
            Metric::Availability => "availability",
            Metric::Freshness => "freshness",
            Metric::Correctness => "correctness",
            Metric::Uniqueness => "uniqueness",
            Metric::Completeness => "completeness",
            Metric::Custom(name) => name,
        }
    }

    /// Parses a metric name. Custom names must look like identifiers so they fit a column header.
    pub fn parse(name: &str) -> Result<Metric, String> {
        let metric = match name {
            "availability" => Metric::Availability,
            "freshness" => Metric::Freshness,
            "correctness" => Metric::Correctness,
            "uniqueness" => Metric::Uniqueness,
            "completeness" => Metric::Completeness,
            other => {
                let valid = !other.is_empty()
                    && other.len() <= 32
                    && other.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && other.starts_with(|c: char| c.is_ascii_lowercase());
                if !valid {
                    return Err(format!(
                        "`{other}` is not a metric name: use availability, freshness, correctness, \
                         uniqueness, completeness, or a lower-case name of your own (a-z, 0-9, _)"
                    ));
                }
                Metric::Custom(other.to_string())
            }
        };
        Ok(metric)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Metric::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// What one metric says now: its state and a reason a non-engineer can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub state: State,
    pub reason: String,
}

impl Verdict {
    pub fn new(state: State, reason: impl Into<String>) -> Verdict {
        Verdict { state, reason: reason.into() }
    }
}

/// A metric's last judgment as history knows it, and when it was last seen to hold: what a
/// metric whose tests did not run keeps (rule 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgment {
    pub verdict: Verdict,
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Judgment {
    pub fn new(verdict: Verdict, at: Option<chrono::DateTime<chrono::Utc>>) -> Judgment {
        Judgment { verdict, at }
    }
}

/// Which dbt run an evaluation read: a dbt Cloud run id, or a dbt Core invocation id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DbtRunId {
    Cloud(i64),
    Invocation(String),
}

impl fmt::Display for DbtRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbtRunId::Cloud(id) => write!(f, "{id}"),
            DbtRunId::Invocation(id) => f.write_str(id),
        }
    }
}

/// A test that did not pass, as shown in the detail view and in `evidence.failing_tests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingTest {
    pub unique_id: String,
    /// dbt's status: `fail`, `warn` or `error`.
    pub status: String,
    pub failures: Option<i64>,
    pub message: Option<String>,
    pub metric: Metric,
}

/// What an evaluation was based on, so a reader can check it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub dag_id: Option<String>,
    pub dag_run_id: Option<String>,
    pub dbt_run_id: Option<DbtRunId>,
    pub failing_tests: Vec<FailingTest>,
    /// A link to the dbt run (dbt Cloud's page for it), where the source has one.
    #[serde(default)]
    pub dbt_run_url: Option<String>,
    /// What reads the table outside dbt (the manifest's exposures downstream of its model),
    /// said while it is down: who is affected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposures: Vec<Exposure>,
}

/// An exposure: a dashboard, notebook, ML model or application that reads tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// Its label, or its name.
    pub name: String,
    /// dashboard, notebook, analysis, ml, application.
    pub kind: String,
    /// high, medium, low, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<String>,
}

impl Exposure {
    /// "the dashboard *Weekly revenue*".
    pub fn describe(&self) -> String {
        format!("the {} *{}*", self.kind, self.name)
    }
}

/// A refresh the pipeline made: the table rebuilt by a DAG run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refresh {
    pub dag_run_id: String,
    /// The end of the run's data interval: when the data it covers was complete.
    pub data_interval_end: Option<DateTime<Utc>>,
    pub task_started: Option<DateTime<Utc>>,
    /// When the table was ready.
    pub finished_at: DateTime<Utc>,
}

/// A data product: a table people read, and how to judge it.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub group: String,
    pub tags: Vec<String>,
    /// The Airflow DAG that refreshes it.
    pub dag_id: String,
    /// The task in that DAG that runs dbt; without one, the DAG run's own state decides.
    pub task_id: Option<String>,
    /// dbt model, by name or unique_id; without one, a DAG-only product.
    pub model: Option<String>,
    /// dbt Cloud job behind the task, to find its run when XCom does not say.
    pub dbt_job: Option<i64>,
    /// Metrics shown, in display order.
    pub metrics: Vec<Metric>,
    /// Freshness SLO: the table must have been refreshed within this long.
    pub max_age: Option<std::time::Duration>,
    /// Uptime objective in percent.
    pub slo: Option<f64>,
    /// Poll interval override; otherwise derived from the DAG's schedule.
    pub interval: Option<std::time::Duration>,
    /// How long a scheduled run may be overdue before freshness says late; by default
    /// max(2 min, 10 % of the DAG's period).
    pub late_after: Option<std::time::Duration>,
    /// The Airflow and the dbt source it is read from, by name; `None`: the config's only one.
    pub airflow: Option<String>,
    pub dbt: Option<String>,
    /// Time under an incident resolved as `expected` leaves its uptime (`exclude_expected`).
    pub exclude_expected: bool,
}

impl Product {
    /// A DAG-only product with the standard metrics, named by its id: a start that a config,
    /// a discovery or a test fills in.
    pub fn new(id: &str, dag_id: &str) -> Product {
        Product {
            id: id.to_string(),
            name: id.to_string(),
            description: None,
            owner: None,
            group: DEFAULT_GROUP.to_string(),
            tags: Vec::new(),
            dag_id: dag_id.to_string(),
            task_id: None,
            model: None,
            dbt_job: None,
            metrics: Metric::standard(),
            max_age: None,
            slo: None,
            interval: None,
            late_after: None,
            airflow: None,
            dbt: None,
            exclude_expected: false,
        }
    }
}

/// The group of products that have none.
pub const DEFAULT_GROUP: &str = "Ungrouped";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Identified => "identified",
            IncidentStatus::Monitoring => "monitoring",
            IncidentStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<IncidentStatus> {
        [
            IncidentStatus::Investigating,
            IncidentStatus::Identified,
            IncidentStatus::Monitoring,
            IncidentStatus::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an incident was closed. Automatic resolution is `Fixed` until a person says
/// otherwise; time under a `FalsePositive` (and, where the product says so, an `Expected`)
/// incident leaves uptime and SLO figures, as maintenance does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    /// Something was broken and is mended.
    Fixed,
    /// Planned or known to happen (a backfill, a source's holiday): real, but no surprise.
    Expected,
    /// Nothing was wrong with the table: a test or a rule misfired.
    FalsePositive,
    /// Broken upstream, outside the team's hands (a vendor feed, another team's project).
    Upstream,
}

impl Resolution {
    pub const ALL: [Resolution; 4] =
        [Resolution::Fixed, Resolution::Expected, Resolution::FalsePositive, Resolution::Upstream];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Fixed => "fixed",
            Resolution::Expected => "expected",
            Resolution::FalsePositive => "false-positive",
            Resolution::Upstream => "upstream",
        }
    }

    pub fn parse(text: &str) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// In words, for timelines and reports.
    pub fn words(self) -> &'static str {
        match self {
            Resolution::Fixed => "fixed",
            Resolution::Expected => "expected",
            Resolution::FalsePositive => "a false positive",
            Resolution::Upstream => "broken upstream",
        }
    }

    /// Whether time under such an incident leaves the uptime figures, for a product that
    /// does or does not `exclude_expected`.
    pub fn excludes(self, exclude_expected: bool) -> bool {
        match self {
            Resolution::FalsePositive => true,
            Resolution::Expected => exclude_expected,
            Resolution::Fixed | Resolution::Upstream => false,
        }
    }
}

/// How bad an incident is, from the metrics that are down; mildest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        [Severity::Minor, Severity::Major, Severity::Critical].into_iter().find(|s| s.as_str() == text)
    }

    /// Availability down is critical; several metrics down, major; one, minor.
    pub fn of(down: &[&Metric]) -> Severity {
        if down.contains(&&Metric::Availability) {
            Severity::Critical
        } else if down.len() > 1 {
            Severity::Major
        } else {
            Severity::Minor
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
