//! `manifest.json` (v10–v12): the project's graph. Read: nodes (models, seeds, snapshots,
//! tests), unit tests, sources, exposures and `parent_map`. Macros, docs and compiled SQL
//! are skipped.
//!
//! A 100 MB manifest is mostly tests (and macros and SQL, skipped). What is kept of a test is
//! trimmed as soon as it is read, and `meta` stays raw JSON text until the index needs it,
//! so the parsed manifest is small beside the file's bytes it is parsed from: the peak
//! memory of an ingest is close to the file's size (issue 7's target: 1.3x).

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::ArtifactMetadata;

#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub metadata: ArtifactMetadata,
    /// In file order; only iterated, never looked up.
    #[serde(deserialize_with = "kept_nodes")]
    pub nodes: Vec<(String, ManifestNode)>,
    #[serde(default)]
    pub sources: HashMap<String, ManifestSource>,
    #[serde(default)]
    pub unit_tests: HashMap<String, ManifestUnitTest>,
    /// What reads the tables outside dbt: dashboards, notebooks, ML models, applications.
    #[serde(default)]
    pub exposures: HashMap<String, ManifestExposure>,
    /// Groups of models with their owner (dbt mesh's access groups).
    #[serde(default)]
    pub groups: HashMap<String, ManifestGroup>,
    /// Parents of every node except tests: ancestry is asked of tables only.
    #[serde(default, deserialize_with = "table_parents")]
    pub parent_map: HashMap<String, Vec<String>>,
}

/// The node types the index reads; the rest (analyses, operations, functions) are `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Model,
    Seed,
    Snapshot,
    Test,
    #[serde(other)]
    Other,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Test => "test",
            ResourceType::Other => "other",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ManifestNode {
    pub resource_type: ResourceType,
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
    /// Raw JSON, parsed by the index for the few nodes that have one.
    #[serde(default)]
    pub meta: Option<Box<RawValue>>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub relation_name: Option<String>,
    /// The group it belongs to, by name.
    #[serde(default)]
    pub group: Option<String>,
}

/// A group of models and who owns it.
#[derive(Debug, Deserialize)]
pub struct ManifestGroup {
    pub name: String,
    #[serde(default)]
    pub owner: GroupOwner,
}

#[derive(Debug, Default, Deserialize)]
pub struct GroupOwner {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl ManifestNode {
    /// Drops what the index does not read of a test: its tags, package, description and,
    /// for a generic test (which names the table it is attached to), what it depends on.
    fn trim_test(&mut self) {
        self.tags = Vec::new();
        self.package_name = None;
        self.description = None;
        self.relation_name = None;
        self.group = None;
        if self.attached_node.is_some() {
            self.depends_on.nodes = Vec::new();
        }
    }
}

fn kept_nodes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<(String, ManifestNode)>, D::Error> {
    struct Nodes;
    impl<'de> Visitor<'de> for Nodes {
        type Value = Vec<(String, ManifestNode)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of unique_id to node")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut nodes = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some((unique_id, mut node)) = map.next_entry::<String, ManifestNode>()? {
                match node.resource_type {
                    ResourceType::Test => node.trim_test(),
                    ResourceType::Other => continue,
                    _ => {}
                }
                nodes.push((unique_id, node));
            }
            Ok(nodes)
        }
    }
    deserializer.deserialize_map(Nodes)
}

fn table_parents<'de, D: Deserializer<'de>>(deserializer: D) -> Result<HashMap<String, Vec<String>>, D::Error> {
    struct Parents;
    impl<'de> Visitor<'de> for Parents {
        type Value = HashMap<String, Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of unique_id to its parents")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut parents = HashMap::new();
            while let Some(unique_id) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if unique_id.starts_with("test.") || unique_id.starts_with("unit_test.") {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    parents.insert(unique_id.into_owned(), map.next_value()?);
                }
            }
            Ok(parents)
        }
    }
    deserializer.deserialize_map(Parents)
}

/// An exposure: something downstream of the project's tables that people use.
#[derive(Debug, Deserialize)]
pub struct ManifestExposure {
    pub name: String,
    /// The name people know it by ("Weekly revenue"), when given.
    #[serde(default)]
    pub label: Option<String>,
    /// dashboard, notebook, analysis, ml, application.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// high, medium, low.
    #[serde(default)]
    pub maturity: Option<String>,
    #[serde(default)]
    pub depends_on: DependsOn,
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
    pub meta: Option<Box<RawValue>>,
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
