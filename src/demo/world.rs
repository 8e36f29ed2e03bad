//! The simulated pipeline: DAGs, their runs and dbt Cloud runs, moved along a scripted
//! story. The servers read it; the story driver writes it.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::model::{DEFAULT_GROUP, Metric, Product};

/// A DAG of the simulated Airflow.
#[derive(Debug, Clone)]
pub struct SimDag {
    pub dag_id: String,
    pub schedule: &'static str,
    pub paused: bool,
    /// Newest last.
    pub runs: Vec<SimRun>,
}

#[derive(Debug, Clone)]
pub struct SimRun {
    pub run_id: String,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
    pub success: bool,
    /// The dbt_build task's state.
    pub task_state: &'static str,
    pub dbt_run: Option<i64>,
}

/// The dbt project's DAG, run through dbt Cloud.
pub const SHOP_DAG: &str = "shop_daily";

/// A story step: what the pipeline looks like, and what it shows people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Healthy,
    UniqueTestFails,
    DagPaused,
    MaintenanceStarts,
    SourceStale,
    ModelError,
    AllRecover,
}

impl Step {
    pub const STORY: [Step; 7] = [
        Step::Healthy,
        Step::UniqueTestFails,
        Step::DagPaused,
        Step::MaintenanceStarts,
        Step::SourceStale,
        Step::ModelError,
        Step::AllRecover,
    ];

    pub fn caption(self) -> &'static str {
        match self {
            Step::Healthy => "all healthy",
            Step::UniqueTestFails => "a unique test fails on stg_orders: an incident opens",
            Step::DagPaused => "the marketing DAG gets paused",
            Step::MaintenanceStarts => "maintenance starts for Finance",
            Step::SourceStale => "the raw.orders source goes stale",
            Step::ModelError => "a model error leaves the marts unrefreshed",
            Step::AllRecover => "all recover",
        }
    }

    /// The shop DAG's outcome and the real dbt scenario its dbt Cloud run serves.
    fn shop(self) -> (bool, &'static str) {
        match self {
            Step::Healthy | Step::AllRecover => (true, "all_pass"),
            Step::UniqueTestFails | Step::DagPaused | Step::MaintenanceStarts => (false, "test_failures"),
            Step::SourceStale => (true, "source_stale"),
            Step::ModelError => (false, "model_error"),
        }
    }
}

pub struct World {
    pub dags: Vec<SimDag>,
    /// dbt Cloud run id -> the scenario whose real artifacts it serves, and when it ended
    /// (the artifacts' times are moved there).
    pub dbt_runs: HashMap<i64, (&'static str, DateTime<Utc>)>,
    next_dbt_run: i64,
    pub step: Step,
}

/// The demo's products: six tables of the real dbt project (dbt Cloud), and fourteen
/// tables whose DAGs carry no dbt model. Four groups.
pub fn products() -> Vec<Product> {
    let dbt = |id: &str, name: &str, group: &str, description: &str| Product {
        name: name.into(),
        description: Some(description.into()),
        owner: Some(format!("{}-data@example.com", group.to_lowercase())),
        group: group.into(),
        tags: vec!["dbt".into()],
        task_id: Some("dbt_build".into()),
        model: Some(id.into()),
        dbt_job: Some(42),
        slo: Some(99.0),
        ..Product::new(id, SHOP_DAG)
    };
    let dag_only = |id: &str, name: &str, group: &str, dag: &str| Product {
        name: name.into(),
        description: Some(format!("{name}, loaded by the {dag} DAG.")),
        owner: Some(format!("{}-data@example.com", group.to_lowercase())),
        group: group.into(),
        task_id: Some("load".into()),
        metrics: vec![Metric::Availability, Metric::Freshness],
        slo: Some(99.5),
        ..Product::new(id, dag)
    };
    let mut all = vec![
        dbt("fct_orders", "Orders", "Sales", "One row per order, with what was paid for it."),
        dbt("dim_customers", "Customers", "Sales", "One row per customer, with order history and lifetime value."),
        dbt("fct_daily_revenue", "Daily revenue", "Finance", "Revenue per order day."),
        dbt("stg_payments", "Payments", "Finance", "One row per payment; amounts in the shop's currency."),
        dbt("stg_orders", "Orders (raw)", "Operations", "One row per order, cleaned from the shop database."),
        dbt("stg_customers", "Customers (raw)", "Operations", "One row per customer, cleaned."),
        dag_only("crm_leads", "Leads", "Sales", "crm_leads_hourly"),
        dag_only("quotes", "Quotes", "Sales", "quotes_daily"),
        dag_only("invoices", "Invoices", "Finance", "invoices_daily"),
        dag_only("general_ledger", "General ledger", "Finance", "ledger_daily"),
        dag_only("fx_rates", "FX rates", "Finance", "fx_hourly"),
        dag_only("ad_spend", "Ad spend", "Marketing", "marketing_daily"),
        dag_only("web_sessions", "Web sessions", "Marketing", "web_hourly"),
        dag_only("email_campaigns", "Email campaigns", "Marketing", "email_daily"),
        dag_only("attribution", "Attribution", "Marketing", "attribution_daily"),
        dag_only("inventory", "Inventory", "Operations", "inventory_hourly"),
        dag_only("shipments", "Shipments", "Operations", "shipments_daily"),
        dag_only("returns", "Returns", "Operations", "returns_daily"),
        dag_only("warehouse_capacity", "Warehouse capacity", "Operations", "capacity_daily"),
        dag_only("supplier_slas", "Supplier SLAs", "Operations", "suppliers_weekly"),
    ];
    for p in &mut all {
        if p.group.is_empty() {
            p.group = DEFAULT_GROUP.into();
        }
    }
    all
}

impl World {
    pub fn new(now: DateTime<Utc>) -> World {
        let mut dags: Vec<SimDag> = Vec::new();
        for p in products() {
            if !dags.iter().any(|d| d.dag_id == p.dag_id) {
                let schedule = if p.dag_id.ends_with("hourly") {
                    "0 * * * *"
                } else if p.dag_id.ends_with("weekly") {
                    "0 0 * * 0"
                } else {
                    "0 0 * * *"
                };
                dags.push(SimDag { dag_id: p.dag_id.clone(), schedule, paused: false, runs: Vec::new() });
            }
        }
        let mut world = World { dags, dbt_runs: HashMap::new(), next_dbt_run: 7001, step: Step::Healthy };
        world.apply(Step::Healthy, now);
        world
    }

    /// Moves the pipeline to `step`: new runs where the step changes something.
    pub fn apply(&mut self, step: Step, now: DateTime<Utc>) {
        let first = self.dags.iter().all(|d| d.runs.is_empty());
        self.step = step;
        let (shop_ok, scenario) = step.shop();
        let dbt_run = self.next_dbt_run;
        self.next_dbt_run += 1;
        self.dbt_runs.insert(dbt_run, (scenario, now - Duration::seconds(10)));
        for dag in &mut self.dags {
            let marketing = dag.dag_id == "marketing_daily";
            dag.paused = marketing && matches!(step, Step::DagPaused | Step::MaintenanceStarts);
            let (success, dbt) = if dag.dag_id == SHOP_DAG { (shop_ok, Some(dbt_run)) } else { (true, None) };
            let changes = first || dag.dag_id == SHOP_DAG || (marketing && step == Step::SourceStale);
            if !changes {
                continue;
            }
            let n = dag.runs.len();
            let started = now - Duration::seconds(30);
            dag.runs.push(SimRun {
                run_id: format!("scheduled__{}", (now - Duration::minutes(n as i64)).format("%Y-%m-%dT%H:%M:%S+00:00")),
                started,
                ended: now - Duration::seconds(5),
                success,
                task_state: if success { "success" } else { "failed" },
                dbt_run: dbt,
            });
        }
    }

    pub fn dag(&self, dag_id: &str) -> Option<&SimDag> {
        self.dags.iter().find(|d| d.dag_id == dag_id)
    }
}

/// `n` synthetic products for scale runs: 20 domains, ten tables per DAG.
pub fn synthetic_products(n: usize) -> Vec<Product> {
    const DOMAINS: [&str; 20] = [
        "Sales",
        "Finance",
        "Marketing",
        "Operations",
        "People",
        "Product",
        "Support",
        "Risk",
        "Supply",
        "Logistics",
        "Billing",
        "Growth",
        "Security",
        "Legal",
        "Data platform",
        "Partners",
        "Pricing",
        "Retail",
        "Web",
        "Mobile",
    ];
    (0..n)
        .map(|i| Product {
            name: format!("{} table {i}", DOMAINS[i % DOMAINS.len()]),
            description: Some(format!("Synthetic table {i} of a scale run.")),
            owner: Some("scale@example.com".into()),
            group: DOMAINS[i % DOMAINS.len()].into(),
            task_id: Some("dbt_build".into()),
            model: Some(format!("model_{i:05}")),
            slo: Some(99.5),
            ..Product::new(&format!("table_{i:05}"), &format!("dag_{:04}", i / 10))
        })
        .collect()
}
