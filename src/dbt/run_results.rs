//! `run_results.json` (v4–v6): what happened to each node in one dbt invocation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use super::ArtifactMetadata;

#[derive(Debug, Clone, Deserialize)]
pub struct RunResults {
    #[serde(default)]
    pub metadata: ArtifactMetadata,
    pub results: Vec<NodeResult>,
    #[serde(default)]
    pub args: Option<RunArgs>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunArgs {
    /// `build`, `run`, `test`, `seed`, …
    #[serde(default)]
    pub which: Option<String>,
    #[serde(default)]
    pub invocation_command: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: ResultStatus,
    #[serde(default)]
    pub message: Option<String>,
    /// Rows the test query returned (one per duplicated key for `unique`).
    #[serde(default)]
    pub failures: Option<i64>,
    /// The latest `completed_at` of its `timing` entries (compile, execute): a result keeps
    /// one time, not the list, as 50,000 results would keep 150,000 allocations.
    #[serde(default, rename = "timing", deserialize_with = "last_completed")]
    completed_at: Option<DateTime<Utc>>,
}

impl NodeResult {
    /// When this node finished executing, if it ran.
    pub fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.completed_at
    }
}

fn last_completed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(Deserialize)]
    struct Timing {
        #[serde(default)]
        completed_at: Option<DateTime<Utc>>,
    }
    let timings = Vec::<Timing>::deserialize(deserializer)?;
    Ok(timings.into_iter().filter_map(|t| t.completed_at).max())
}

/// Every status dbt-core 1.11 writes, plus a catch-all for newer ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultStatus {
    Success,
    Error,
    Skipped,
    PartialSuccess,
    NoOp,
    Pass,
    Fail,
    Warn,
    RuntimeError,
    /// dbt 1.12's state-aware runs: not rebuilt because nothing it depends on changed.
    Reused,
    Other(String),
}

impl ResultStatus {
    /// Failed, errored or could not run: what makes dbt skip what depends on it.
    pub fn is_failure(&self) -> bool {
        matches!(self, ResultStatus::Fail | ResultStatus::Error | ResultStatus::RuntimeError)
    }

    pub fn as_str(&self) -> &str {
        match self {
            ResultStatus::Success => "success",
            ResultStatus::Error => "error",
            ResultStatus::Skipped => "skipped",
            ResultStatus::PartialSuccess => "partial success",
            ResultStatus::NoOp => "no-op",
            ResultStatus::Pass => "pass",
            ResultStatus::Fail => "fail",
            ResultStatus::Warn => "warn",
            ResultStatus::RuntimeError => "runtime error",
            ResultStatus::Reused => "reused",
            ResultStatus::Other(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for ResultStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(match text.as_ref() {
            "success" => ResultStatus::Success,
            "error" => ResultStatus::Error,
            "skipped" => ResultStatus::Skipped,
            "partial success" => ResultStatus::PartialSuccess,
            "no-op" => ResultStatus::NoOp,
            "pass" => ResultStatus::Pass,
            "fail" => ResultStatus::Fail,
            "warn" => ResultStatus::Warn,
            "runtime error" => ResultStatus::RuntimeError,
            "reused" | "REUSED" | "Reused" => ResultStatus::Reused,
            other => ResultStatus::Other(other.to_string()),
        })
    }
}
