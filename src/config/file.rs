//! The config file as written: serde structs that mirror the TOML one to one.
//!
//! Unknown keys are errors (`deny_unknown_fields`) so a typo is caught with its line,
//! not silently ignored. Checks that span several keys live in `Config::parse` (`super`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::model::Metric;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[airflow]`, or several named `[[airflow]]`.
    #[serde(default)]
    pub airflow: Sections<AirflowSection>,
    /// `[dbt]`, or several named `[[dbt]]`.
    #[serde(default)]
    pub dbt: Sections<DbtSection>,
    #[serde(default)]
    pub poll: PollSection,
    #[serde(default)]
    pub store: StoreSection,
    /// `[discover]`, or one `[[discover]]` per dbt source to find products in.
    #[serde(default)]
    pub discover: Sections<DiscoverSection>,
    #[serde(default, rename = "product")]
    pub products: Vec<Spanned<ProductSection>>,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub incidents: IncidentsSection,
    #[serde(default, rename = "notify")]
    pub notify: Vec<Spanned<NotifySection>>,
    pub export: Option<Spanned<ExportSection>>,
    pub serve: Option<ServeSection>,
}

/// A source section written once as a table (`[airflow]`) or several times as an array of
/// tables (`[[airflow]]`, each with a `name`): each with where it is in the file.
#[derive(Debug)]
pub struct Sections<T>(pub Vec<Spanned<T>>);

impl<T> Default for Sections<T> {
    fn default() -> Self {
        Sections(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sections<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The outer span covers a single table; an array's elements carry their own.
        let spanned = Spanned::<OneOrMany<T>>::deserialize(deserializer)?;
        let span = spanned.span();
        Ok(Sections(match spanned.into_inner() {
            OneOrMany::One(one) => vec![Spanned::new(span, one)],
            OneOrMany::Many(many) => many,
        }))
    }
}

enum OneOrMany<T> {
    One(T),
    Many(Vec<Spanned<T>>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Either<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table, or an array of tables each with a `name`")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(OneOrMany::One)
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut all = Vec::new();
                while let Some(one) = seq.next_element::<Spanned<T>>()? {
                    all.push(one);
                }
                Ok(OneOrMany::Many(all))
            }
        }
        deserializer.deserialize_any(Either(std::marker::PhantomData))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsSection {
    /// The flapping guard: polls in a row a metric must be down before an incident opens.
    pub open_after_polls: Option<Spanned<i64>>,
    /// An incident that reaches a dbt exposure of one of these maturities is critical.
    pub critical_maturity: Option<Vec<String>>,
}

/// A webhook: `[[notify]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySection {
    pub name: Spanned<String>,
    pub url: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// A PEM bundle of the CA that signed the receiver's certificate (an internal one).
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub format: crate::event::Format,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub owners: Vec<String>,
    #[serde(default)]
    pub events: Vec<crate::event::EventKind>,
    /// `"1h"`: one message per period listing what happened, instead of one per event.
    pub digest: Option<Spanned<String>>,
}

/// What `tablestat poll` answers over HTTP: `[serve]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSection {
    /// `127.0.0.1:9464`: where `/metrics` and `/healthz` are answered.
    pub listen: Spanned<String>,
}

/// The static status page the poller refreshes after each poll: `[export]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSection {
    pub dir: PathBuf,
    /// Where the page is published, for absolute links in the feed and notifications.
    pub url: Option<Spanned<String>>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    /// Probe `/api/v2/version`, then `/api/v1/version`.
    #[default]
    Auto,
    /// Airflow 2.
    V1,
    /// Airflow 3.
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// HTTP basic auth (Airflow 2's basic_auth backend).
    #[default]
    Basic,
    /// A fixed bearer token.
    Bearer,
    /// Airflow 3: trade username and password for a JWT at `/auth/token`.
    Password,
    /// No credentials (a local test server).
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AirflowSection {
    /// Which Airflow this is, for products' `airflow = "…"`; needed with several.
    pub name: Option<Spanned<String>>,
    pub url: Spanned<String>,
    /// Requests in flight to this Airflow at once (default: `[poll] concurrency`).
    pub concurrency: Option<Spanned<i64>>,
    #[serde(default)]
    pub api: ApiVersion,
    #[serde(default)]
    pub auth: AuthKind,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub token: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Link target for DAGs on the board, when the UI lives elsewhere than the API.
    pub web_url: Option<String>,
    /// PEM bundle of the CA that signed an internal server's certificate.
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbtSource {
    Cloud,
    Local,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbtSection {
    /// Which dbt source this is, for products' `dbt = "…"`; needed with several.
    pub name: Option<Spanned<String>>,
    pub source: DbtSource,
    pub url: Option<Spanned<String>>,
    pub account_id: Option<i64>,
    pub token: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub target_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Where fetched dbt Cloud artifacts are kept, by run id.
    pub cache_dir: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `interval = "auto"` or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Interval {
    #[default]
    Auto,
    Every(Duration),
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "auto" {
            return Ok(Interval::Auto);
        }
        parse_duration(&text).map(Interval::Every).map_err(|e| serde::de::Error::custom(format!("{e}, or \"auto\"")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSection {
    #[serde(default)]
    pub interval: Interval,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default, deserialize_with = "opt_duration")]
    pub retention: Option<Duration>,
    /// The default of each product's `late_after`.
    #[serde(default, deserialize_with = "opt_duration")]
    pub late_after: Option<Duration>,
    /// How long one poll may run before it is abandoned.
    #[serde(default, deserialize_with = "opt_duration")]
    pub deadline: Option<Duration>,
}

impl Default for PollSection {
    fn default() -> Self {
        PollSection {
            interval: Interval::Auto,
            concurrency: default_concurrency(),
            retention: None,
            late_after: None,
            deadline: None,
        }
    }
}

fn default_concurrency() -> usize {
    4
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub path: Option<PathBuf>,
    /// A PostgreSQL database instead of a file (`postgres://user@host/database`).
    pub url: Option<Spanned<String>>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverSection {
    /// The dbt source whose manifest is read and the Airflow that runs it, by name (with
    /// several of either).
    pub dbt: Option<Spanned<String>>,
    pub airflow: Option<Spanned<String>>,
    /// Models with this tag become products (as do models with a `meta.tablestat` block).
    pub tag: Option<String>,
    pub dag: String,
    pub task: Option<String>,
    pub group: Option<String>,
    pub metrics: Option<Vec<Metric>>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub max_age: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSection {
    pub id: Spanned<String>,
    /// The Airflow and the dbt source it is read from, by name (with several).
    pub airflow: Option<Spanned<String>>,
    pub dbt: Option<Spanned<String>>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub dag: String,
    pub task: Option<String>,
    pub model: Option<String>,
    pub dbt_job: Option<i64>,
    pub metrics: Option<Vec<Metric>>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub max_age: Option<Duration>,
    pub slo: Option<Spanned<f64>>,
    #[serde(default, deserialize_with = "opt_duration")]
    pub interval: Option<Duration>,
    /// How long past its due time a scheduled run may not have started before freshness
    /// says late (default: max(2 min, 10 % of the DAG's period)).
    #[serde(default, deserialize_with = "opt_duration")]
    pub late_after: Option<Duration>,
    /// Time under an incident resolved as `expected` leaves this product's uptime.
    #[serde(default)]
    pub exclude_expected: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// dbt test name (with its namespace where it has one) -> metric.
    #[serde(default)]
    pub map: BTreeMap<String, Metric>,
}

/// Parses "30s", "5m", "26h", "1h30m", "7d".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a duration: write it like \"30s\", \"5m\", \"26h\" or \"1h30m\""))?;
    if parsed.is_zero() {
        return Err(format!("`{text}` is zero: give a positive duration"));
    }
    Ok(parsed)
}

fn opt_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    struct DurationText;
    impl serde::de::Visitor<'_> for DurationText {
        type Value = Option<Duration>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as \"26h\"")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            parse_duration(text).map(Some).map_err(E::custom)
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!("`{n}` needs a unit and quotes: write it like \"{n}h\" or \"{n}m\"")))
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
            self.visit_i64(n as i64)
        }
        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!("`{n}` needs a unit and quotes: write it like \"90m\" or \"1h30m\"")))
        }
    }
    deserializer.deserialize_any(DurationText)
}
