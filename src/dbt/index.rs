//! The index the rulebook reads: table -> its tests, test -> metric and criticality,
//! table -> upstream sources. Built once per manifest (per dbt run id).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use serde_json::value::RawValue;

use super::manifest::{Manifest, ManifestNode, NodeConfig, ResourceType};
use super::mapping::default_metric_for;
use crate::model::{Exposure, Metric};

/// Tables and tests are kept in vectors and reach each other by position: the unique ids
/// (60 bytes, cold in cache) are hashed once when the index is built, not per table per poll
/// (ten lookups per table had cost 75 ms for 5,000 products of a 5,000-model project).
#[derive(Debug)]
pub struct ProjectIndex {
    pub project_name: Option<String>,
    pub invocation_id: Option<String>,
    models: Vec<ModelInfo>,
    model_at: HashMap<String, u32>,
    /// A name's table: the project's own model first, else the least unique_id.
    model_by_name: HashMap<String, u32>,
    /// Per model, the tests that speak for it (positions in `tests`, by unique_id).
    model_tests: Vec<Vec<u32>>,
    tests: Vec<TestInfo>,
    test_at: HashMap<String, u32>,
    /// Tests of what is not a table (sources), by the target's unique_id.
    other_tests: HashMap<String, Vec<u32>>,
    sources: HashMap<String, SourceInfo>,
    parents: HashMap<String, Vec<String>>,
    exposures: Vec<Exposure>,
    /// Per node, the exposures downstream of it (positions in `exposures`).
    exposures_below: HashMap<String, Vec<u32>>,
}

/// A table dbt builds: a model, seed or snapshot.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// Its place in the index, for per-run tables kept by position.
    pub(crate) at: u32,
    pub unique_id: String,
    pub name: String,
    pub resource_type: String,
    pub package_name: Option<String>,
    pub description: Option<String>,
    pub relation_name: Option<String>,
    pub tags: Vec<String>,
    /// The model's `meta` (top level; same as `config.meta`).
    pub meta: Option<Value>,
    /// The owner of the dbt group it belongs to (its name, else its email).
    pub group_owner: Option<String>,
}

impl ModelInfo {
    /// The `meta.tablestat` block, where discovery and per-model settings live.
    pub fn tablestat_meta(&self) -> Option<&serde_json::Map<String, Value>> {
        self.meta.as_ref()?.get("tablestat")?.as_object()
    }

    /// `meta.owner`, as a string (joined when a list); else its group's owner.
    pub fn owner(&self) -> Option<String> {
        let meta = match self.meta.as_ref().and_then(|m| m.get("owner")) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")),
            _ => None,
        };
        meta.filter(|o| !o.trim().is_empty()).or_else(|| self.group_owner.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestKind {
    Generic { name: String, namespace: Option<String> },
    Singular,
    Unit,
}

#[derive(Debug, Clone)]
pub struct TestInfo {
    /// Its place in the index, for per-run tables kept by position.
    pub(crate) at: u32,
    pub unique_id: String,
    /// The node's name (custom `name:` where given).
    pub name: String,
    pub kind: TestKind,
    pub column: Option<String>,
    pub metric: Metric,
    /// A critical failing test puts its metric down; a non-critical one only degrades it.
    pub critical: bool,
}

impl TestInfo {
    /// Plain words for the kind of check: `unique test on order_id`.
    pub fn describe(&self) -> String {
        let what = match &self.kind {
            // A custom `name:` says more than the generic test's name.
            TestKind::Generic { name, .. } if !self.name.contains(name.as_str()) => {
                format!("test {} ({name})", self.name)
            }
            TestKind::Generic { name, .. } => format!("{name} test"),
            TestKind::Singular => format!("test {}", self.name),
            TestKind::Unit => format!("unit test {}", self.name),
        };
        match &self.column {
            Some(column) => format!("{what} on {column}"),
            None => what,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub unique_id: String,
    /// `raw.orders`
    pub display_name: String,
    /// Freshness is configured, so sources.json should list it.
    pub has_freshness: bool,
}

impl ProjectIndex {
    /// Builds the index. `test_metrics` is the config's `[metrics.map]`.
    pub fn new(manifest: Manifest, test_metrics: &BTreeMap<String, Metric>) -> ProjectIndex {
        let Manifest { metadata, nodes, sources, unit_tests, exposures, groups, parent_map } = manifest;
        let group_owners: HashMap<String, String> = groups
            .into_values()
            .filter_map(|g| Some((g.name, g.owner.name.filter(|n| !n.trim().is_empty()).or(g.owner.email)?)))
            .collect();
        let mut index = ProjectIndex {
            project_name: metadata.project_name,
            invocation_id: metadata.invocation_id,
            models: Vec::new(),
            model_at: HashMap::new(),
            model_by_name: HashMap::new(),
            model_tests: Vec::new(),
            tests: Vec::new(),
            test_at: HashMap::new(),
            other_tests: HashMap::new(),
            sources: HashMap::new(),
            parents: parent_map,
            exposures: Vec::new(),
            exposures_below: HashMap::new(),
        };
        index.place_exposures(exposures);
        // Who each test speaks for, by unique_id until every table has its place.
        let mut targets: Vec<(String, u32)> = Vec::new();
        for (unique_id, node) in nodes {
            match node.resource_type {
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot => {
                    index.add_model(unique_id, node, &group_owners)
                }
                ResourceType::Test => index.add_test(unique_id, node, test_metrics, &mut targets),
                ResourceType::Other => {}
            }
        }
        for (unique_id, unit) in unit_tests {
            let target = unit
                .depends_on
                .nodes
                .iter()
                .find(|n| n.starts_with("model.") && n.rsplit('.').next() == Some(&unit.model))
                .cloned();
            let meta_config = tablestat_test_meta(None, &unit.config);
            let at = index.tests.len() as u32;
            if let Some(target) = target {
                targets.push((target, at));
            }
            index.test_at.insert(unique_id.clone(), at);
            index.tests.push(TestInfo {
                at,
                metric: meta_metric(&meta_config)
                    .or_else(|| test_metrics.get(&unit.name).cloned())
                    .unwrap_or(Metric::Correctness),
                critical: meta_critical(&meta_config).unwrap_or(true),
                name: unit.name,
                kind: TestKind::Unit,
                column: None,
                unique_id,
            });
        }
        for (unique_id, source) in sources {
            let has_freshness = [source.freshness.as_ref(), source.config.as_ref().and_then(|c| c.freshness.as_ref())]
                .into_iter()
                .flatten()
                .any(freshness_is_configured);
            index.sources.insert(
                unique_id.clone(),
                SourceInfo {
                    unique_id,
                    display_name: format!("{}.{}", source.source_name, source.name),
                    has_freshness,
                },
            );
        }
        index.place_tests(targets);
        index.resolve_names();
        index
    }

    fn add_model(&mut self, unique_id: String, node: ManifestNode, group_owners: &HashMap<String, String>) {
        let meta = node.meta.or(node.config.meta).and_then(|raw| serde_json::from_str(raw.get()).ok());
        let at = self.models.len() as u32;
        self.model_at.insert(unique_id.clone(), at);
        self.models.push(ModelInfo {
            at,
            unique_id,
            name: node.name,
            resource_type: node.resource_type.as_str().to_string(),
            package_name: node.package_name,
            description: node.description.filter(|d| !d.is_empty()),
            relation_name: node.relation_name,
            tags: node.tags,
            meta,
            group_owner: node.group.and_then(|g| group_owners.get(&g).cloned()),
        });
    }

    fn add_test(
        &mut self,
        unique_id: String,
        node: ManifestNode,
        test_metrics: &BTreeMap<String, Metric>,
        targets: &mut Vec<(String, u32)>,
    ) {
        let meta = tablestat_test_meta(node.meta.as_deref(), &node.config);
        let kind = match &node.test_metadata {
            Some(t) => TestKind::Generic { name: t.name.clone(), namespace: t.namespace.clone() },
            None => TestKind::Singular,
        };
        let configured = match &kind {
            TestKind::Generic { name, namespace } => namespace
                .as_ref()
                .and_then(|ns| test_metrics.get(&format!("{ns}.{name}")))
                .or_else(|| test_metrics.get(name)),
            _ => None,
        }
        .or_else(|| test_metrics.get(&node.name));
        let metric = meta_metric(&meta).or_else(|| configured.cloned()).unwrap_or_else(|| match &kind {
            TestKind::Generic { name, .. } => default_metric_for(name),
            _ => Metric::Correctness,
        });
        let severity_error = node.config.severity.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("error"));
        let at = self.tests.len() as u32;
        match node.attached_node {
            Some(attached) => targets.push((attached, at)),
            // Singular tests, and generic tests on sources: everything they read.
            None => targets.extend(node.depends_on.nodes.into_iter().map(|target| (target, at))),
        }
        self.test_at.insert(unique_id.clone(), at);
        self.tests.push(TestInfo {
            at,
            unique_id,
            name: node.name,
            kind,
            column: node.column_name,
            metric,
            critical: meta_critical(&meta).unwrap_or(severity_error),
        });
    }

    /// Hands each table its tests (and each other target, a source, its own), by unique_id.
    fn place_tests(&mut self, targets: Vec<(String, u32)>) {
        self.model_tests = vec![Vec::new(); self.models.len()];
        for (target, test) in targets {
            match self.model_at.get(&target) {
                Some(&model) => self.model_tests[model as usize].push(test),
                None => self.other_tests.entry(target).or_default().push(test),
            }
        }
        let tests = &self.tests;
        for list in self.model_tests.iter_mut().chain(self.other_tests.values_mut()) {
            list.sort_by(|a, b| tests[*a as usize].unique_id.cmp(&tests[*b as usize].unique_id));
        }
    }

    /// Keeps the exposures (in unique_id order) and, for every node upstream of one, which:
    /// asked per table at each poll, walked once per run.
    fn place_exposures(&mut self, exposures: HashMap<String, super::manifest::ManifestExposure>) {
        let mut exposures: Vec<(String, super::manifest::ManifestExposure)> = exposures.into_iter().collect();
        exposures.sort_by(|a, b| a.0.cmp(&b.0));
        for (at, (_, e)) in exposures.into_iter().enumerate() {
            let mut seen: HashSet<String> = HashSet::new();
            let mut todo: Vec<String> = e.depends_on.nodes.clone();
            while let Some(node) = todo.pop() {
                if seen.insert(node.clone()) {
                    todo.extend(self.parents(&node).iter().cloned());
                }
            }
            for node in seen {
                self.exposures_below.entry(node).or_default().push(at as u32);
            }
            self.exposures.push(Exposure {
                name: e.label.filter(|l| !l.trim().is_empty()).unwrap_or(e.name),
                kind: e.kind.unwrap_or_else(|| "exposure".to_string()),
                maturity: e.maturity,
            });
        }
    }

    /// The exposures that read `unique_id`'s table, directly or through other models.
    pub fn exposures_below(&self, unique_id: &str) -> impl Iterator<Item = &Exposure> {
        self.exposures_below.get(unique_id).into_iter().flatten().map(|at| &self.exposures[*at as usize])
    }

    /// Settles once which table each name means: the project's own model first (the first
    /// in the manifest), else the least unique_id.
    fn resolve_names(&mut self) {
        let project = self.project_name.as_deref();
        for model in &self.models {
            let own = project.is_some() && model.package_name.as_deref() == project;
            match self.model_by_name.get_mut(&model.name) {
                None => {
                    self.model_by_name.insert(model.name.clone(), model.at);
                }
                Some(chosen) => {
                    let held = &self.models[*chosen as usize];
                    let held_own = project.is_some() && held.package_name.as_deref() == project;
                    if !held_own && (own || model.unique_id < held.unique_id) {
                        *chosen = model.at;
                    }
                }
            }
        }
    }

    /// Finds a table by unique_id, or by name (the project's own model first).
    pub fn resolve_model(&self, name_or_id: &str) -> Option<&ModelInfo> {
        // A unique_id always has dots (`model.shop.orders`): a plain name is looked up once.
        let by_id = if name_or_id.contains('.') { self.model_at.get(name_or_id) } else { None };
        by_id.or_else(|| self.model_by_name.get(name_or_id)).map(|&at| &self.models[at as usize])
    }

    pub fn model(&self, unique_id: &str) -> Option<&ModelInfo> {
        self.model_at.get(unique_id).map(|&at| &self.models[at as usize])
    }

    pub fn models(&self) -> impl Iterator<Item = &ModelInfo> {
        self.models.iter()
    }

    pub fn test(&self, unique_id: &str) -> Option<&TestInfo> {
        self.test_at.get(unique_id).map(|&at| &self.tests[at as usize])
    }

    /// Tests that speak for a table: generic tests attached to it, singular tests that
    /// read it, its unit tests. Sorted by unique_id.
    pub fn tests_of_model(&self, model: &ModelInfo) -> impl Iterator<Item = &TestInfo> {
        self.model_tests[model.at as usize].iter().map(|&at| &self.tests[at as usize])
    }

    /// The tests of any node by unique_id: a table's as [`Self::tests_of_model`], a
    /// source's generic and singular tests.
    pub fn tests_of(&self, unique_id: &str) -> impl Iterator<Item = &TestInfo> {
        let list = match self.model_at.get(unique_id) {
            Some(&model) => Some(&self.model_tests[model as usize]),
            None => self.other_tests.get(unique_id),
        };
        list.into_iter().flatten().map(|&at| &self.tests[at as usize])
    }

    pub fn source(&self, unique_id: &str) -> Option<&SourceInfo> {
        self.sources.get(unique_id)
    }

    pub fn sources(&self) -> impl Iterator<Item = &SourceInfo> {
        self.sources.values()
    }

    /// The direct parents of a node (tables, seeds, snapshots, sources); none for a test.
    pub fn parents(&self, unique_id: &str) -> &[String] {
        self.parents.get(unique_id).map_or(&[], Vec::as_slice)
    }

    /// For every node, what its ancestors contribute (`contribution` adds a parent's own
    /// marks), as sorted, distinct marks; nodes with none are left out. Each node is visited
    /// once, parents before children, so asking about every table costs one pass over the
    /// graph rather than a walk per table. A cycle, never valid in dbt, is cut where it closes.
    pub fn gather_upstream(&self, contribution: impl Fn(&str, &mut Vec<u32>)) -> HashMap<String, Vec<u32>> {
        let mut of: HashMap<&str, Vec<u32>> = HashMap::with_capacity(self.parents.len());
        let mut on_path: HashSet<&str> = HashSet::new();
        for root in self.parents.keys() {
            if of.contains_key(root.as_str()) {
                continue;
            }
            // (node, how many of its parents were looked at)
            let mut path: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
            on_path.insert(root.as_str());
            while let Some(&(node, next)) = path.last() {
                let parents = self.parents(node);
                if let Some(parent) = parents.get(next) {
                    path.last_mut().expect("not empty").1 += 1;
                    let parent = parent.as_str();
                    if !of.contains_key(parent) && on_path.insert(parent) {
                        path.push((parent, 0));
                    }
                    continue;
                }
                path.pop();
                on_path.remove(node);
                let mut upstream: Vec<u32> = Vec::new();
                for parent in parents {
                    contribution(parent, &mut upstream);
                    upstream.extend(of.get(parent.as_str()).into_iter().flatten());
                }
                upstream.sort_unstable();
                upstream.dedup();
                of.insert(node, upstream);
            }
        }
        of.into_iter().filter(|(_, up)| !up.is_empty()).map(|(id, up)| (id.to_string(), up)).collect()
    }

    pub fn model_count(&self) -> usize {
        self.models.len()
    }

    pub fn test_count(&self) -> usize {
        self.tests.len()
    }
}

/// The `tablestat` block of a test's meta: top-level `meta` first, then `config.meta`.
fn tablestat_test_meta(meta: Option<&RawValue>, config: &NodeConfig) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Meta {
        tablestat: Option<Value>,
    }
    [meta, config.meta.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|raw| serde_json::from_str::<Meta>(raw.get()).ok()?.tablestat)
}

fn meta_metric(meta: &Option<Value>) -> Option<Metric> {
    let name = meta.as_ref()?.get("metric")?.as_str()?;
    Metric::parse(&name.to_ascii_lowercase()).ok()
}

fn meta_critical(meta: &Option<Value>) -> Option<bool> {
    meta.as_ref()?.get("critical")?.as_bool()
}

fn freshness_is_configured(freshness: &Value) -> bool {
    ["warn_after", "error_after"]
        .iter()
        .any(|k| freshness.get(k).and_then(|v| v.get("count")).is_some_and(|c| !c.is_null()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest of models `(unique_id, package)`, in file order, of project `project`.
    fn index(project: Option<&str>, models: &[(&str, &str)]) -> ProjectIndex {
        let nodes: serde_json::Map<String, Value> = models
            .iter()
            .map(|(id, package)| {
                let name = id.rsplit('.').next().unwrap();
                let node = serde_json::json!({"resource_type": "model", "name": name, "package_name": package});
                (id.to_string(), node)
            })
            .collect();
        let manifest = serde_json::json!({"metadata": {"project_name": project}, "nodes": nodes});
        ProjectIndex::new(serde_json::from_value(manifest).unwrap(), &BTreeMap::new())
    }

    #[test]
    fn a_name_means_the_projects_own_model_else_the_least_unique_id() {
        let own_and_dep = [("model.dep.orders", "dep"), ("model.shop.orders", "shop")];
        let two_deps = [("model.zeta.orders", "zeta"), ("model.alpha.orders", "alpha")];
        // (project, models in file order, asked, found)
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a str, Option<&'a str>);
        let cases: &[Case] = &[
            (Some("shop"), &own_and_dep, "orders", Some("model.shop.orders")),
            (Some("shop"), &[own_and_dep[1], own_and_dep[0]], "orders", Some("model.shop.orders")),
            (Some("shop"), &two_deps, "orders", Some("model.alpha.orders")),
            (Some("shop"), &[two_deps[1], two_deps[0]], "orders", Some("model.alpha.orders")),
            (None, &own_and_dep, "orders", Some("model.dep.orders")),
            // A unique_id means that model, whatever its name resolves to.
            (Some("shop"), &own_and_dep, "model.dep.orders", Some("model.dep.orders")),
            (Some("shop"), &own_and_dep, "customers", None),
            (Some("shop"), &own_and_dep, "model.shop.customers", None),
        ];
        for (project, models, asked, expected) in cases {
            let index = index(*project, models);
            let found = index.resolve_model(asked).map(|m| m.unique_id.as_str());
            assert_eq!(found, *expected, "{asked} in {models:?} of project {project:?}");
        }
    }
}
