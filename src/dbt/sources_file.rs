//! `sources.json` (v3), written by `dbt source freshness`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use super::ArtifactMetadata;

#[derive(Debug, Clone, Deserialize)]
pub struct SourcesFile {
    #[serde(default)]
    pub metadata: ArtifactMetadata,
    pub results: Vec<FreshnessResult>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FreshnessResult {
    pub unique_id: String,
    pub status: FreshnessStatus,
    #[serde(default)]
    pub max_loaded_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub snapshotted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub max_loaded_at_time_ago_in_s: Option<f64>,
    /// Older dbt versions write a message for `runtime error` entries.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreshnessStatus {
    Pass,
    Warn,
    Error,
    RuntimeError,
    Other(String),
}

impl<'de> Deserialize<'de> for FreshnessStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(match text.as_ref() {
            "pass" => FreshnessStatus::Pass,
            "warn" => FreshnessStatus::Warn,
            "error" => FreshnessStatus::Error,
            "runtime error" => FreshnessStatus::RuntimeError,
            other => FreshnessStatus::Other(other.to_string()),
        })
    }
}
