//! `manifest.json` (v10–v12): the project's graph. Read: nodes (models, seeds, snapshots,
//! tests), unit tests, sources and `parent_map`. Macros, docs and compiled SQL are skipped.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::ArtifactMetadata;

#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub metadata: ArtifactMetadata,
    pub nodes: HashMap<String, ManifestNode>,
    #[serde(default)]
    pub sources: HashMap<String, ManifestSource>,
    #[serde(default)]
    pub unit_tests: HashMap<String, ManifestUnitTest>,
    #[serde(default)]
    pub parent_map: HashMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub struct ManifestNode {
    pub resource_type: String,
    pub name: String,
    #[serde(default)]
    pub package_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Generic tests: the model/seed/snapshot they are attached to. Absent for singular tests.
    #[serde(default)]
    pub attached_node: Option<String>,
    #[serde(default)]
    pub test_metadata: Option<TestMetadata>,
    #[serde(default)]
    pub column_name: Option<String>,
    #[serde(default)]
    pub depends_on: DependsOn,
    #[serde(default)]
    pub config: NodeConfig,
    #[serde(default)]
    pub meta: Option<Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub relation_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TestMetadata {
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DependsOn {
    #[serde(default)]
    pub nodes: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NodeConfig {
    /// `ERROR` by default, as the user wrote it otherwise (`warn`, `error`).
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub meta: Option<Value>,
    #[serde(default)]
    pub tags: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ManifestSource {
    pub name: String,
    pub source_name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// `{warn_after, error_after, filter}`, or null when freshness is not checked.
    #[serde(default)]
    pub freshness: Option<Value>,
    #[serde(default)]
    pub config: Option<SourceConfig>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SourceConfig {
    #[serde(default)]
    pub freshness: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ManifestUnitTest {
    pub name: String,
    /// The model's name (not its unique_id).
    pub model: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub depends_on: DependsOn,
    #[serde(default)]
    pub config: NodeConfig,
}
