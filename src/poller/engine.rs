//! One poll: read Airflow in bulk, fetch the dbt evidence of each new dbt run once, and
//! run the rulebook for every product. No storage here: the caller hands in what history
//! knows (previous states, last refresh, maintenance) and keeps what comes out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::{AirflowConfig, Config};
use crate::discover;
use crate::evaluate::{Checked, Inputs, Prior, evaluate};
use crate::facts::{AirflowView, DbtView, SourceHealth};
use crate::model::Product;
use crate::sources::airflow::{self, AirflowClient, Observation, RunMemory};
use crate::sources::dbt_evidence::DbtEvidence;
use crate::sources::{SourceError, schedule};

/// A dbt run's evidence is fetched once per poll: (dbt source, DAG, DAG run, task).
type DbtKey<'a> = (usize, &'a str, &'a str, Option<&'a str>);

#[derive(Debug, Clone)]
pub struct PollResult {
    pub started_at: DateTime<Utc>,
    pub checked: Vec<Checked>,
    /// Why Airflow could not be read, if it could not.
    pub airflow_error: Option<String>,
    pub airflow_api: Option<airflow::Api>,
    pub airflow_requests: u64,
    pub dbt_requests: u64,
    /// What each source said this poll.
    pub sources: Vec<SourceHealth>,
}

pub struct Engine {
    config: Arc<Config>,
    /// Each Airflow, in the config's order: its own client, run memory and failures.
    airflows: Vec<AirflowSource>,
    /// Each dbt source, in the config's order: its own client, request budget and cache.
    dbts: Vec<DbtSource>,
    /// Products each discovery rule found in its manifest at the last poll that could read it.
    discovered: Vec<Vec<Product>>,
    /// Listed then discovered products, merged when discovery finds a change: read by every
    /// poll (and its write) without copying.
    products: Arc<Vec<Arc<Product>>>,
    /// Products with no owner of their own: their DAG's owner is theirs while it says one.
    unowned: std::collections::HashSet<String>,
}

/// One Airflow deployment: a failure domain of its own.
struct AirflowSource {
    config: AirflowConfig,
    client: Option<AirflowClient>,
    memory: RunMemory,
    failing_since: Option<DateTime<Utc>>,
}

/// One dbt source (a dbt Cloud account, a local `target/`).
struct DbtSource {
    name: String,
    kind: &'static str,
    evidence: DbtEvidence,
    /// Requests made before this poll, so the poll's own are known.
    requests_before: u64,
}

impl AirflowSource {
    /// Reads the DAGs `products` (discovery probes among them) watch, connecting (probing
    /// the API version) on first use and after an auth failure.
    async fn observe(
        &mut self,
        base_dir: &std::path::Path,
        products: &[&Product],
        now: DateTime<Utc>,
        concurrency: usize,
    ) -> Result<Observation, SourceError> {
        if self.client.is_none() {
            self.client = Some(AirflowClient::connect(&self.config, base_dir).await?);
        }
        let watched = airflow::watched_dags(products.iter().copied());
        let client = self.client.as_ref().expect("connected");
        airflow::observe(client, &watched, &mut self.memory, now, concurrency).await
    }

    /// What this poll saw: the observation, or why not and since when.
    fn settle(&mut self, observed: Result<Observation, SourceError>, now: DateTime<Utc>) -> Seen {
        match observed {
            Ok(observation) => {
                self.failing_since = None;
                Seen::Observed(Box::new(observation))
            }
            Err(error) => {
                let since = *self.failing_since.get_or_insert(now);
                tracing::info!(source = %self.config.name, %error, "Airflow could not be read");
                // A client that never connected is built again next time (the probe may pass).
                if matches!(error.kind, crate::sources::ErrorKind::Unauthorized(_)) {
                    self.client = None;
                }
                Seen::Failed { reason: error.cause(), kind: error.kind.label(), since }
            }
        }
    }
}

/// What one Airflow said this poll.
enum Seen {
    Observed(Box<Observation>),
    Failed { reason: String, kind: &'static str, since: DateTime<Utc> },
}

impl Seen {
    fn observation(&self) -> Option<&Observation> {
        match self {
            Seen::Observed(o) => Some(o),
            Seen::Failed { .. } => None,
        }
    }

    fn error(&self) -> Option<&str> {
        match self {
            Seen::Observed(_) => None,
            Seen::Failed { reason, .. } => Some(reason),
        }
    }

    fn error_kind(&self) -> Option<&'static str> {
        match self {
            Seen::Observed(_) => None,
            Seen::Failed { kind, .. } => Some(kind),
        }
    }
}

impl Engine {
    /// Fails only for what a retry cannot fix: a secret that cannot be read.
    pub fn new(config: Arc<Config>) -> Result<Engine, SourceError> {
        let dbts = config
            .dbt
            .iter()
            .map(|d| {
                let evidence = DbtEvidence::new(Some(&d.source), config.base_dir(), config.test_metrics.clone())?;
                Ok(DbtSource { name: d.name.clone(), kind: d.source.kind(), evidence, requests_before: 0 })
            })
            .collect::<Result<Vec<_>, SourceError>>()?;
        let airflows = config
            .airflow
            .iter()
            .map(|a| AirflowSource {
                config: a.clone(),
                client: None,
                memory: RunMemory::default(),
                failing_since: None,
            })
            .collect();
        Ok(Engine {
            airflows,
            dbts,
            discovered: vec![Vec::new(); config.discover.len()],
            products: Arc::new(config.products.iter().cloned().map(Arc::new).collect()),
            unowned: std::collections::HashSet::new(),
            config,
        })
    }

    /// Which Airflow a product (or the discovery probe) reads: the one it names, or the only one.
    fn airflow_index(&self, product: &Product) -> usize {
        product.airflow.as_ref().and_then(|name| self.airflows.iter().position(|a| a.config.name == *name)).unwrap_or(0)
    }

    /// Which dbt source a product reads, if any: the one it names, or the only one (a
    /// DAG-only product among several reads none).
    fn dbt_index(&self, product: &Product) -> Option<usize> {
        match &product.dbt {
            Some(name) => self.dbts.iter().position(|d| d.name == *name),
            None => (self.dbts.len() == 1).then_some(0),
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The products of the last poll: listed ones, then discovered ones.
    pub fn products(&self) -> Arc<Vec<Arc<Product>>> {
        self.products.clone()
    }

    /// For each discovery rule, the stand-in product whose dbt run holds the manifest to
    /// discover from.
    fn discovery_probes(&self) -> Vec<Product> {
        self.config.discover.iter().map(Self::probe_of).collect()
    }

    fn probe_of(rule: &crate::config::DiscoverRule) -> Product {
        Product {
            group: String::new(),
            name: String::new(),
            task_id: rule.task.clone(),
            model: Some(String::new()),
            metrics: Vec::new(),
            airflow: rule.airflow.clone(),
            dbt: rule.dbt.clone(),
            ..Product::new("", &rule.dag)
        }
    }

    /// Every Airflow read at once, each for its own products (and the discovery probes
    /// that name it): one slow or dead deployment delays none of the others.
    async fn observe(
        &mut self,
        products: &[Arc<Product>],
        probes: &[Product],
        now: DateTime<Utc>,
    ) -> Vec<Result<Observation, SourceError>> {
        let mut per_source: Vec<Vec<&Product>> = vec![Vec::new(); self.airflows.len()];
        for p in products.iter().map(|p| &**p).chain(probes) {
            per_source[self.airflow_index(p)].push(p);
        }
        let config = self.config.clone();
        let reads = self.airflows.iter_mut().zip(per_source).map(|(source, products)| {
            let base_dir = config.base_dir();
            // Each deployment's own bound, where it has one: a small legacy Airflow, a large core.
            let concurrency = source.config.concurrency.unwrap_or(config.poll.concurrency);
            async move { source.observe(base_dir, &products, now, concurrency).await }
        });
        futures::future::join_all(reads).await
    }

    /// A poll abandoned at its deadline: every due product is evaluated as unable to see
    /// (rule 2, or maintenance by rule 1), with `reason`.
    pub fn blind(
        &mut self,
        prior: &Prior,
        now: DateTime<Utc>,
        due: &(dyn Fn(&Product) -> bool + Sync),
        reason: &str,
    ) -> PollResult {
        let since = now;
        for source in &mut self.airflows {
            source.failing_since.get_or_insert(now);
        }
        let view = AirflowView::Unreadable { reason, since };
        let empty = BTreeMap::new();
        let checked = self
            .products
            .iter()
            .filter(|p| due(p))
            .map(|product| {
                let inputs = Inputs {
                    now,
                    product,
                    maintenance: prior.maintenance.get(&product.id),
                    airflow: &view,
                    dbt: &DbtView::NotConfigured,
                    previous: prior.previous.get(&product.id).unwrap_or(&empty),
                    last_refresh: prior.last_refresh.get(&product.id).copied(),
                    upstream: &[],
                };
                Checked {
                    product: Arc::clone(product),
                    evaluation: evaluate(&inputs),
                    checked_at: now,
                    interval: product.interval.unwrap_or(schedule::UNSCHEDULED_INTERVAL),
                }
            })
            .collect();
        let seen: Vec<Seen> = self
            .airflows
            .iter()
            .map(|_| Seen::Failed { reason: reason.to_string(), kind: "deadline", since: now })
            .collect();
        let sources = self.source_health(&seen, &HashMap::new());
        PollResult {
            started_at: now,
            checked,
            airflow_error: Some(reason.to_string()),
            airflow_api: None,
            airflow_requests: 0,
            dbt_requests: 0,
            sources,
        }
    }

    /// Each source's health this poll: each Airflow as observed, each dbt source reachable
    /// unless every run asked of it could not be had.
    fn source_health(&self, seen: &[Seen], views: &HashMap<DbtKey<'_>, DbtView>) -> Vec<SourceHealth> {
        let airflows = self.airflows.iter().zip(seen).map(|(source, seen)| {
            let observation = seen.observation();
            SourceHealth {
                name: source.config.name.clone(),
                kind: "airflow".to_string(),
                reachable: seen.error().is_none(),
                api: observation.and_then(|o| o.api).map(|api| api.label().to_string()),
                scheduler: observation.and_then(|o| o.scheduler.clone()),
                error: seen.error().map(str::to_string),
                error_kind: seen.error_kind(),
                requests: observation.map_or(0, |o| o.requests),
            }
        });
        let dbts = self.dbts.iter().enumerate().map(|(i, dbt)| {
            let asked: Vec<&DbtView> = views.iter().filter(|(key, _)| key.0 == i).map(|(_, v)| v).collect();
            let failures: Vec<&str> = asked
                .iter()
                .filter_map(|v| match v {
                    DbtView::Unavailable(why) => Some(why.as_str()),
                    _ => None,
                })
                .collect();
            let reachable = failures.is_empty() || failures.len() < asked.len();
            SourceHealth {
                name: dbt.name.clone(),
                kind: dbt.kind.to_string(),
                reachable,
                api: None,
                scheduler: None,
                error: (!reachable).then(|| failures[0].to_string()),
                error_kind: (!reachable).then_some("unavailable"),
                requests: dbt.evidence.requests() - dbt.requests_before,
            }
        });
        airflows.chain(dbts).collect()
    }

    /// Gives each product the config and discovery left without an owner its DAG's owner, as
    /// its Airflow says this poll (kept when it cannot be read). True when the list changed.
    fn adopt_dag_owners(&mut self, observed: &[Result<Observation, SourceError>]) -> bool {
        let products = Arc::clone(&self.products);
        let mut adopted = Vec::with_capacity(products.len());
        let mut changed = false;
        for p in products.iter() {
            let unowned = p.owner.is_none() || self.unowned.contains(&p.id);
            let observation = match observed.get(self.airflow_index(p)) {
                Some(Ok(observation)) if unowned => observation,
                _ => {
                    adopted.push(Arc::clone(p));
                    continue;
                }
            };
            let owner = observation.dag_owner(&p.dag_id);
            if owner == p.owner {
                adopted.push(Arc::clone(p));
                continue;
            }
            changed = true;
            self.unowned.insert(p.id.clone());
            adopted.push(Arc::new(Product { owner, ..(**p).clone() }));
        }
        if changed {
            self.products = Arc::new(adopted);
        }
        changed
    }

    /// Polls every product once. `now` is when the poll started.
    pub async fn poll(&mut self, prior: &Prior, now: DateTime<Utc>) -> PollResult {
        self.poll_due(prior, now, &|_| true).await
    }

    /// Polls the products `due` accepts (discovery always runs).
    pub async fn poll_due(
        &mut self,
        prior: &Prior,
        now: DateTime<Utc>,
        due: &(dyn Fn(&Product) -> bool + Sync),
    ) -> PollResult {
        let probes = self.discovery_probes();
        let due_now =
            |engine: &Engine| -> Vec<Arc<Product>> { engine.products.iter().filter(|p| due(p)).cloned().collect() };
        let mut products = due_now(self);
        let mut observed = self.observe(&products, &probes, now).await;
        if !probes.is_empty() {
            let mut changed = false;
            for (i, probe) in probes.iter().enumerate() {
                let (ai, di) = (self.airflow_index(probe), self.dbt_index(probe));
                let (Some(Ok(observation)), Some(di)) = (observed.get(ai), di) else { continue };
                let AirflowView::Dag(dag) = observation.view(probe) else { continue };
                let Some(run) = &dag.latest_finished else { continue };
                let client = self.airflows[ai].client.as_ref();
                // A rule whose manifest cannot be read this poll keeps what it found before.
                if let DbtView::Run(run) = self.dbts[di].evidence.for_run(client, probe, dag.dag_id, run).await {
                    let found = discover::discover(&self.config.discover[i], &run.index);
                    if found != self.discovered[i] {
                        self.discovered[i] = found;
                        changed = true;
                    }
                }
            }
            if changed {
                let merged = discover::merge(&self.config.products, self.discovered.iter().flatten().cloned());
                self.products = Arc::new(merged.into_iter().map(Arc::new).collect());
            }
            let before: std::collections::HashSet<String> =
                products.iter().map(|p| p.dag_id.clone()).chain(probes.iter().map(|p| p.dag_id.clone())).collect();
            products = due_now(self);
            // Discovered products may watch DAGs this poll did not ask about yet.
            if products.iter().any(|p| !before.contains(&p.dag_id)) {
                observed = self.observe(&products, &[], now).await;
            }
        }
        // A product with no owner of its own is owned by its DAG's owner (routes, filters).
        if self.adopt_dag_owners(&observed) {
            products = due_now(self);
        }
        let products = &products;
        let seen: Vec<Seen> =
            self.airflows.iter_mut().zip(observed).map(|(source, observed)| source.settle(observed, now)).collect();

        for dbt in &mut self.dbts {
            dbt.requests_before = dbt.evidence.requests();
        }
        let mut views: HashMap<DbtKey<'_>, DbtView> = HashMap::new();
        // First what every product's sources say, then the rulebook: a product may be built
        // from another project's model, judged by that project's run of this poll.
        // Among several Airflows, a product's reason says which one could not be read.
        let unreadable: Vec<Option<String>> = self
            .airflows
            .iter()
            .zip(&seen)
            .map(|(source, seen)| {
                let reason = seen.error()?;
                Some(if self.airflows.len() > 1 {
                    format!("{}: {reason}", source.config.name)
                } else {
                    reason.to_string()
                })
            })
            .collect();
        let mut seen_by: Vec<(AirflowView<'_>, DbtView, usize)> = Vec::with_capacity(products.len());
        for product in products {
            let ai = self.airflow_index(product);
            let airflow_view = match &seen[ai] {
                Seen::Observed(obs) => obs.view(product),
                Seen::Failed { since, .. } => {
                    AirflowView::Unreadable { reason: unreadable[ai].as_deref().unwrap_or_default(), since: *since }
                }
            };
            let dbt_view = match (&airflow_view, self.dbt_index(product)) {
                (AirflowView::Dag(dag), Some(di)) => match &dag.latest_finished {
                    Some(run) if product.model.is_some() => {
                        let key = (di, dag.dag_id, run.run_id, product.task_id.as_deref());
                        if let Some(view) = views.get(&key) {
                            view.clone()
                        } else {
                            let client = self.airflows[ai].client.as_ref();
                            let view = self.dbts[di].evidence.for_run(client, product, dag.dag_id, run).await;
                            views.insert(key, view.clone());
                            view
                        }
                    }
                    _ => DbtView::NotConfigured,
                },
                _ => DbtView::NotConfigured,
            };
            seen_by.push((airflow_view, dbt_view, ai));
        }
        // Each project's runs of this poll, for the mesh rule; with one dbt source there is
        // no other project to be built from.
        let upstream: Vec<Arc<crate::facts::DbtRun>> = if self.dbts.len() > 1 {
            views
                .values()
                .filter_map(|v| match v {
                    DbtView::Run(run) => Some(Arc::clone(run)),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut checked = Vec::with_capacity(products.len());
        for (product, (airflow_view, dbt_view, ai)) in products.iter().zip(&seen_by) {
            let empty = BTreeMap::new();
            let inputs = Inputs {
                now,
                product,
                maintenance: prior.maintenance.get(&product.id),
                airflow: airflow_view,
                dbt: dbt_view,
                previous: prior.previous.get(&product.id).unwrap_or(&empty),
                last_refresh: prior.last_refresh.get(&product.id).copied(),
                upstream: &upstream,
            };
            let interval =
                product.interval.unwrap_or_else(|| match (seen[*ai].observation(), self.config.poll.interval) {
                    (_, crate::config::Interval::Every(every)) => every,
                    (Some(obs), _) => obs.poll_interval(&product.dag_id),
                    (None, _) => schedule::UNSCHEDULED_INTERVAL,
                });
            checked.push(Checked {
                product: Arc::clone(product),
                evaluation: evaluate(&inputs),
                checked_at: now,
                interval,
            });
        }
        let sources = self.source_health(&seen, &views);
        // One Airflow of several failing is named; a lone one's cause reads as before.
        let failed: Vec<String> = unreadable.iter().flatten().cloned().collect();
        let dbt_requests = self.dbts.iter().map(|d| d.evidence.requests() - d.requests_before).sum::<u64>();
        PollResult {
            sources,
            started_at: now,
            checked,
            airflow_error: (!failed.is_empty()).then(|| failed.join("; ")),
            airflow_api: seen.iter().find_map(|s| s.observation()?.api),
            airflow_requests: seen.iter().filter_map(Seen::observation).map(|o| o.requests).sum(),
            dbt_requests,
        }
    }
}
