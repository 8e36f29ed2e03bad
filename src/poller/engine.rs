//! One poll: read Airflow in bulk, fetch the dbt evidence of each new dbt run once, and
//! run the rulebook for every product. No storage here: the caller hands in what history
//! knows (previous states, last refresh, maintenance) and keeps what comes out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::discover;
use crate::evaluate::{Checked, Inputs, Prior, evaluate};
use crate::facts::{AirflowView, DbtView, SourceHealth};
use crate::model::Product;
use crate::sources::airflow::{self, AirflowClient, Observation, RunMemory};
use crate::sources::dbt_evidence::DbtEvidence;
use crate::sources::{SourceError, schedule};

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
    airflow: Option<AirflowClient>,
    memory: RunMemory,
    dbt: DbtEvidence,
    airflow_failing_since: Option<DateTime<Utc>>,
    /// Products found in the manifest at the last poll that could read it.
    discovered: Vec<Product>,
    /// Listed then discovered products, merged when discovery finds a change: read by every
    /// poll (and its write) without copying.
    products: Arc<Vec<Arc<Product>>>,
}

impl Engine {
    /// Fails only for what a retry cannot fix: a secret that cannot be read.
    pub fn new(config: Arc<Config>) -> Result<Engine, SourceError> {
        let dbt = DbtEvidence::new(config.dbt.as_ref(), config.base_dir(), config.test_metrics.clone())?;
        Ok(Engine {
            airflow: None,
            memory: RunMemory::default(),
            dbt,
            airflow_failing_since: None,
            discovered: Vec::new(),
            products: Arc::new(config.products.iter().cloned().map(Arc::new).collect()),
            config,
        })
    }

    /// Connects (probing the API version) on first use and after auth failures.
    async fn ensure_airflow(&mut self) -> Result<(), SourceError> {
        if self.airflow.is_none() {
            let Some(config) = &self.config.airflow else {
                return Err(SourceError::new(
                    crate::sources::SourceName::Airflow,
                    "config",
                    crate::sources::ErrorKind::Io("no [airflow] section".into()),
                ));
            };
            self.airflow = Some(AirflowClient::connect(config, self.config.base_dir()).await?);
        }
        Ok(())
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The products of the last poll: listed ones, then discovered ones.
    pub fn products(&self) -> Arc<Vec<Arc<Product>>> {
        self.products.clone()
    }

    /// The stand-in product whose dbt run holds the manifest to discover from.
    fn discovery_probe(&self) -> Option<Product> {
        let rule = self.config.discover.as_ref()?;
        Some(Product {
            group: String::new(),
            name: String::new(),
            task_id: rule.task.clone(),
            model: Some(String::new()),
            metrics: Vec::new(),
            ..Product::new("", &rule.dag)
        })
    }

    async fn observe(
        &mut self,
        products: &[Arc<Product>],
        probe: Option<&Product>,
        now: DateTime<Utc>,
    ) -> Result<Observation, SourceError> {
        self.ensure_airflow().await?;
        let watched = airflow::watched_dags(products.iter().map(|p| &**p).chain(probe));
        let client = self.airflow.as_ref().expect("connected");
        airflow::observe(client, &watched, &mut self.memory, now, self.config.poll.concurrency).await
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
        let since = *self.airflow_failing_since.get_or_insert(now);
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
                };
                Checked {
                    product: Arc::clone(product),
                    evaluation: evaluate(&inputs),
                    checked_at: now,
                    interval: product.interval.unwrap_or(schedule::UNSCHEDULED_INTERVAL),
                }
            })
            .collect();
        let sources = self.source_health(None, Some(reason), &HashMap::new());
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

    /// Each source's health this poll: Airflow as observed, dbt reachable unless every run
    /// asked for could not be had.
    fn source_health(
        &self,
        observation: Option<&Observation>,
        airflow_error: Option<&str>,
        views: &HashMap<(&str, &str, Option<&str>), DbtView>,
    ) -> Vec<SourceHealth> {
        let mut sources = Vec::new();
        if self.config.airflow.is_some() {
            sources.push(SourceHealth {
                name: "airflow".to_string(),
                kind: "airflow".to_string(),
                reachable: airflow_error.is_none(),
                api: observation.and_then(|o| o.api).map(|api| api.label().to_string()),
                scheduler: observation.and_then(|o| o.scheduler.clone()),
                error: airflow_error.map(str::to_string),
            });
        }
        if let Some(dbt) = &self.config.dbt {
            let failures: Vec<&str> = views
                .values()
                .filter_map(|v| match v {
                    DbtView::Unavailable(why) => Some(why.as_str()),
                    _ => None,
                })
                .collect();
            let reachable = failures.is_empty() || failures.len() < views.len();
            sources.push(SourceHealth {
                name: "dbt".to_string(),
                kind: dbt.kind().to_string(),
                reachable,
                api: None,
                scheduler: None,
                error: (!reachable).then(|| failures[0].to_string()),
            });
        }
        sources
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
        let probe = self.discovery_probe();
        let due_now =
            |engine: &Engine| -> Vec<Arc<Product>> { engine.products.iter().filter(|p| due(p)).cloned().collect() };
        let mut products = due_now(self);
        let mut observed = self.observe(&products, probe.as_ref(), now).await;
        if let (Some(probe), Ok(observation)) = (&probe, &observed) {
            if let AirflowView::Dag(dag) = observation.view(probe) {
                if let Some(run) = &dag.latest_finished {
                    if let DbtView::Run(run) = self.dbt.for_run(self.airflow.as_ref(), probe, dag.dag_id, run).await {
                        let rule = self.config.discover.as_ref().expect("probe implies a rule");
                        let discovered = discover::discover(rule, &run.index);
                        if discovered != self.discovered {
                            let merged = discover::merge(&self.config.products, discovered.clone());
                            self.products = Arc::new(merged.into_iter().map(Arc::new).collect());
                            self.discovered = discovered;
                        }
                    }
                }
            }
            let before: std::collections::HashSet<String> =
                products.iter().map(|p| p.dag_id.clone()).chain([probe.dag_id.clone()]).collect();
            products = due_now(self);
            // Discovered products may watch DAGs this poll did not ask about yet.
            if products.iter().any(|p| !before.contains(&p.dag_id)) {
                observed = self.observe(&products, None, now).await;
            }
        }
        let products = &products;
        let (observation, airflow_error) = match observed {
            Ok(observation) => {
                self.airflow_failing_since = None;
                (Some(observation), None)
            }
            Err(error) => {
                let since = *self.airflow_failing_since.get_or_insert(now);
                tracing::info!(%error, "Airflow could not be read");
                // A client that never connected is built again next time (the probe may pass).
                if matches!(error.kind, crate::sources::ErrorKind::Unauthorized(_)) {
                    self.airflow = None;
                }
                (None, Some((error.cause(), since)))
            }
        };

        let dbt_before = self.dbt.requests();
        let mut views: HashMap<(&str, &str, Option<&str>), DbtView> = HashMap::new();
        let mut checked = Vec::with_capacity(products.len());
        for product in products {
            let airflow_view = match (&observation, &airflow_error) {
                (Some(obs), _) => obs.view(product),
                (None, Some((reason, since))) => AirflowView::Unreadable { reason, since: *since },
                (None, None) => unreachable!("either observed or failed"),
            };
            let dbt_view = match &airflow_view {
                AirflowView::Dag(dag) => match &dag.latest_finished {
                    Some(run) if product.model.is_some() => {
                        let key = (dag.dag_id, run.run_id, product.task_id.as_deref());
                        if let Some(view) = views.get(&key) {
                            view.clone()
                        } else {
                            let view = self.dbt.for_run(self.airflow.as_ref(), product, dag.dag_id, run).await;
                            views.insert(key, view.clone());
                            view
                        }
                    }
                    _ => DbtView::NotConfigured,
                },
                _ => DbtView::NotConfigured,
            };
            let empty = BTreeMap::new();
            let inputs = Inputs {
                now,
                product,
                maintenance: prior.maintenance.get(&product.id),
                airflow: &airflow_view,
                dbt: &dbt_view,
                previous: prior.previous.get(&product.id).unwrap_or(&empty),
                last_refresh: prior.last_refresh.get(&product.id).copied(),
            };
            let interval = product.interval.unwrap_or_else(|| match (&observation, self.config.poll.interval) {
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
        let sources = self.source_health(observation.as_ref(), airflow_error.as_ref().map(|(e, _)| e.as_str()), &views);
        PollResult {
            sources,
            started_at: now,
            checked,
            airflow_error: airflow_error.map(|(reason, _)| reason),
            airflow_api: observation.as_ref().and_then(|o| o.api),
            airflow_requests: observation.as_ref().map_or(0, |o| o.requests),
            dbt_requests: self.dbt.requests() - dbt_before,
        }
    }
}
