//! Configuration: where it is found, what it means, and errors that point at the line.
//!
//! Loading reads and checks the file; it never touches the network. Secrets stay as
//! references (`SecretRef`) until a client needs them.

mod error;
mod file;
mod secret;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
pub use file::{ApiVersion, AuthKind, DbtSource, Interval, parse_duration};
pub use secret::{Secret, SecretRef, basic_auth_form, blank_secrets, echo_forms, read_ca_file};

use crate::model::{DEFAULT_GROUP, Metric, Product};
use file::ConfigFile;

/// Where the config was found, and why there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOrigin {
    Flag,
    EnvVar,
    Default,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// Every Airflow, by name (`[airflow]` alone is named "airflow").
    pub airflow: Vec<AirflowConfig>,
    /// Every dbt source, by name (`[dbt]` alone is named "dbt").
    pub dbt: Vec<DbtSourceConfig>,
    pub poll: PollConfig,
    /// Where the history lives: `[store] path` or `[store] url`.
    pub store: StoreLocation,
    /// `[discover]`, or several `[[discover]]` (one per dbt source, say).
    pub discover: Vec<DiscoverRule>,
    pub products: Vec<Product>,
    /// dbt test name -> metric, from `[metrics.map]`.
    pub test_metrics: BTreeMap<String, Metric>,
    /// Things worth saying that do not stop us (a secret in a world-readable file).
    pub warnings: Vec<String>,
    /// The flapping guard: polls in a row a metric must be down before an incident opens.
    pub open_incident_after: u32,
    /// An incident that reaches a dbt exposure of one of these maturities is critical
    /// (`[incidents] critical_maturity`, default `["high"]`).
    pub critical_maturities: Vec<String>,
    /// Webhooks, from `[[notify]]`.
    pub notify: Vec<Webhook>,
    pub export: Option<ExportConfig>,
    /// Where `tablestat poll` answers `/metrics` and `/healthz`, from `[serve] listen`.
    pub serve: Option<std::net::SocketAddr>,
}

/// Where the history lives.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreLocation {
    /// `[store] path`: a SQLite file (the default), for one host.
    File(PathBuf),
    /// `[store] url`: a PostgreSQL database that pollers and boards on many hosts share.
    Postgres(PostgresLocation),
}

/// `[store] url` with what connecting needs besides it.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresLocation {
    /// `postgres://user@host[:port]/database[?options]`, never with a password in it.
    pub url: String,
    /// `password_env` or `password_file`.
    pub password: Option<SecretRef>,
    /// Trusted besides the system's roots; with it, TLS is required.
    pub ca_file: Option<PathBuf>,
}

impl StoreLocation {
    /// As people see it: the file, or the database's address (which holds no password).
    pub fn shown(&self) -> String {
        match self {
            StoreLocation::File(path) => path.display().to_string(),
            StoreLocation::Postgres(pg) => pg.url.clone(),
        }
    }

    /// The file, for what only a file has (it exists or not, a folder to create).
    pub fn file(&self) -> Option<&Path> {
        match self {
            StoreLocation::File(path) => Some(path),
            StoreLocation::Postgres(_) => None,
        }
    }
}

/// The static status page, from `[export]`.
/// A webhook from `[[notify]]`: where, in what shape, and for which products and events.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    /// The URL is a secret (Slack's carry the credential in the path).
    pub url: SecretRef,
    /// Trusted besides the system's CAs, for a receiver inside the company.
    pub ca_file: Option<std::path::PathBuf>,
    pub format: crate::event::Format,
    pub route: crate::event::Route,
    /// One message per period (aligned to the clock: `1h` sends at each full hour) listing
    /// every event, instead of one message per event.
    pub digest: Option<std::time::Duration>,
}

/// The shortest and longest digest period.
const MIN_DIGEST: std::time::Duration = std::time::Duration::from_secs(5 * 60);
const MAX_DIGEST: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

#[derive(Debug, Clone)]
pub struct ExportConfig {
    pub dir: PathBuf,
    /// Where the page is published (links in the Atom feed and in notifications).
    pub url: Option<url::Url>,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct AirflowConfig {
    /// How products, the board and the status document name it.
    pub name: String,
    pub url: url::Url,
    /// Requests in flight to it at once; `None`: `[poll] concurrency`.
    pub concurrency: Option<usize>,
    pub web_url: Option<url::Url>,
    pub api: ApiVersion,
    pub auth: AirflowAuth,
    pub timeout: Duration,
    pub tls: TlsConfig,
}

/// How a source's certificate is checked: the system's roots (and Mozilla's), plus an
/// internal CA when `ca_file` names one. Skipping the check is the user's loud choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone)]
pub enum AirflowAuth {
    None,
    Basic {
        username: String,
        password: SecretRef,
    },
    Bearer {
        token: SecretRef,
    },
    /// Airflow 3: username and password traded for a JWT.
    Password {
        username: String,
        password: SecretRef,
    },
}

#[derive(Debug, Clone)]
pub enum DbtConfig {
    Cloud {
        url: url::Url,
        account_id: i64,
        token: SecretRef,
        timeout: Duration,
        cache_dir: Option<PathBuf>,
        tls: TlsConfig,
    },
    Local {
        target_dir: PathBuf,
    },
}

/// A dbt source and its name.
#[derive(Debug, Clone)]
pub struct DbtSourceConfig {
    pub name: String,
    pub source: DbtConfig,
}

impl DbtConfig {
    /// The source's kind, as the status document names it.
    pub fn kind(&self) -> &'static str {
        match self {
            DbtConfig::Cloud { .. } => "dbt_cloud",
            DbtConfig::Local { .. } => "dbt_local",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PollConfig {
    pub interval: Interval,
    pub concurrency: usize,
    pub retention: Duration,
    /// A poll still running after this long is abandoned: its products turn `unknown`
    /// naming the deadline, and the next poll starts afresh.
    pub deadline: Duration,
}

/// `[poll] deadline` when the file does not say.
pub const DEFAULT_POLL_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// Products found in the dbt manifest rather than listed.
#[derive(Debug, Clone)]
pub struct DiscoverRule {
    /// The dbt source whose manifest is read, and the Airflow whose DAG runs it.
    pub dbt: Option<String>,
    pub airflow: Option<String>,
    /// `[poll] late_after`, for the products discovered.
    pub late_after: Option<Duration>,
    pub tag: Option<String>,
    pub dag: String,
    pub task: Option<String>,
    pub group: Option<String>,
    pub metrics: Vec<Metric>,
    pub max_age: Option<Duration>,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Finds the config file: `--config`, else `$TABLESTAT_CONFIG`, else the XDG config dir.
pub fn locate(flag: Option<&Path>) -> Option<(PathBuf, ConfigOrigin)> {
    if let Some(path) = flag {
        return Some((path.to_path_buf(), ConfigOrigin::Flag));
    }
    if let Some(path) = std::env::var_os("TABLESTAT_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(path), ConfigOrigin::EnvVar));
    }
    default_config_path().map(|p| (p, ConfigOrigin::Default))
}

pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "tablestat")
}

/// Where logs and other per-user state go (`~/.local/state/tablestat`).
pub fn state_dir() -> PathBuf {
    project_dirs()
        .and_then(|d| d.state_dir().map(Path::to_path_buf))
        .unwrap_or_else(|| std::env::temp_dir().join("tablestat"))
}

fn default_store_path() -> PathBuf {
    project_dirs().map(|d| d.data_dir().join("history.db")).unwrap_or_else(|| PathBuf::from("tablestat-history.db"))
}

/// Marks the stand-in name of a source left unnamed among several (an error already).
const UNNAMED: &str = " #";

/// How messages name a source's section: `[airflow]` when it is the only one of its kind,
/// `[[airflow]] `core`` among several.
fn section_label(kind: &str, name: &str, of: usize) -> String {
    if of > 1 { format!("[[{kind}]] `{name}`") } else { format!("[{kind}]") }
}

/// How messages name a webhook's section.
fn webhook_label(target: &Webhook) -> String {
    format!("[[notify]] `{}`", target.name)
}

/// A team's own metric is fed by tests that name it (their meta, or `[metrics.map]`), which
/// the config cannot see; but one a letter or two from a standard metric, fed by no map entry,
/// is a typo that would leave the real metric unchecked.
fn misspelt_metric(metrics: &[Metric], map: &BTreeMap<String, Metric>) -> Option<String> {
    let standard = Metric::standard();
    let names: Vec<&str> = standard.iter().map(Metric::as_str).collect();
    metrics.iter().find_map(|metric| {
        let Metric::Custom(name) = metric else { return None };
        if map.values().any(|fed| fed == metric) {
            return None;
        }
        let best = crate::spelling::nearest(name, &names)?;
        Some(format!("metric `{name}`, which is not a standard one and no test is mapped to: did you mean {best}?"))
    })
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if path.is_dir() {
            let example = path.join("tablestat.toml");
            return Err(ConfigError::whole_file(
                path,
                format!("this is a folder, not a config file: name the file, e.g. --config {}", example.display()),
            ));
        }
        let source = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole_file(path, format!("cannot read the config file: {e}")))?;
        let mut config = Config::parse(path, &source)?;
        if let Some(warning) = permission_warning(path, config.has_inline_secret()) {
            config.warnings.push(warning);
        }
        let exposed = config.exposed_secret_files();
        config.warnings.extend(exposed);
        Ok(config)
    }

    /// Parses config text; `path` is used for messages and to resolve relative paths.
    pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
        let ctx = Ctx { path, source };
        let base = path.parent().unwrap_or(Path::new("."));

        // Every problem is collected, so that one round of edits fixes them all.
        let mut errors: Vec<ConfigError> = Vec::new();
        let (airflow_given, dbt_given) = (!file.airflow.0.is_empty(), !file.dbt.0.is_empty());
        let airflow_names = ctx.source_names("airflow", &file.airflow.0, |a| a.name.as_ref(), &mut errors);
        let dbt_names = ctx.source_names("dbt", &file.dbt.0, |d| d.name.as_ref(), &mut errors);
        let airflow: Vec<AirflowConfig> = file
            .airflow
            .0
            .into_iter()
            .zip(&airflow_names)
            .filter_map(|(a, name)| keep(&mut errors, ctx.airflow(a, name, base)))
            .collect();
        let dbt: Vec<DbtSourceConfig> = file
            .dbt
            .0
            .into_iter()
            .zip(&dbt_names)
            .filter_map(|(d, name)| {
                keep(&mut errors, ctx.dbt(d, base)).map(|source| DbtSourceConfig { name: name.clone(), source })
            })
            .collect();
        let insecure = airflow
            .iter()
            .map(|a| (section_label("airflow", &a.name, airflow.len()), &a.tls))
            .chain(dbt.iter().filter_map(|d| match &d.source {
                DbtConfig::Cloud { tls, .. } => Some((section_label("dbt", &d.name, dbt.len()), tls)),
                DbtConfig::Local { .. } => None,
            }))
            .filter(|(_, tls)| tls.insecure_skip_verify)
            .map(|(section, _)| {
                format!(
                    "{section} insecure_skip_verify = true: TLS certificates are NOT checked, so anyone on the \
                     network path can read the credentials and forge the answers; set ca_file instead"
                )
            });
        let warnings = insecure.collect();
        let poll_late_after = file.poll.late_after;
        let discover: Vec<DiscoverRule> = file
            .discover
            .0
            .into_iter()
            .map(|d| {
                let d = d.into_inner();
                DiscoverRule {
                    dbt: ctx.pick("[discover]", "dbt", d.dbt, &dbt_names, &mut errors),
                    airflow: ctx.pick("[discover]", "airflow", d.airflow, &airflow_names, &mut errors),
                    tag: d.tag,
                    dag: d.dag,
                    task: d.task,
                    group: d.group,
                    metrics: d.metrics.unwrap_or_else(Metric::standard),
                    max_age: d.max_age,
                    late_after: poll_late_after,
                }
            })
            .collect();

        let mut seen = HashSet::new();
        let mut products = Vec::with_capacity(file.products.len());
        for spanned in file.products {
            let span = spanned.span();
            let p = spanned.into_inner();
            let id_span = p.id.span();
            let id = p.id.into_inner();
            if !is_valid_product_id(&id) {
                errors.push(ctx.error(
                    id_span,
                    format!("product id `{id}` must be letters, digits, `_`, `-` or `.` (it is typed on command lines): e.g. \"fct_orders\""),
                ));
                continue;
            }
            if !seen.insert(id.clone()) {
                errors.push(
                    ctx.error(id_span, format!("product id `{id}` is used twice: give each [[product]] its own id")),
                );
                continue;
            }
            if let Some(slo) = &p.slo {
                let value = *slo.get_ref();
                if !(0.0..=100.0).contains(&value) {
                    errors.push(ctx.error(
                        slo.span(),
                        format!("slo = {value} is not a percentage: write a number from 0 to 100, e.g. 99.5"),
                    ));
                    continue;
                }
            }
            if p.model.is_some() && !dbt_given {
                errors.push(ctx.error(
                    span,
                    format!("product `{id}` names a dbt model but there is no [dbt] section: add one (source = \"cloud\" or \"local\")"),
                ));
                continue;
            }
            let product_airflow =
                ctx.pick(&format!("product `{id}`"), "airflow", p.airflow, &airflow_names, &mut errors);
            // A DAG-only product reads no dbt: among several dbt sources it need not name one.
            let reads_dbt = p.model.is_some() || p.dbt_job.is_some() || p.dbt.is_some() || dbt_names.len() == 1;
            let product_dbt = reads_dbt
                .then(|| ctx.pick(&format!("product `{id}`"), "dbt", p.dbt, &dbt_names, &mut errors))
                .flatten();
            let metrics = p.metrics.unwrap_or_else(Metric::standard);
            if metrics.is_empty() {
                errors.push(ctx.error(
                    span,
                    format!("product `{id}` lists no metrics: leave `metrics` out for the standard five"),
                ));
                continue;
            }
            if let Some(why) = misspelt_metric(&metrics, &file.metrics.map) {
                errors.push(ctx.error(span, format!("product `{id}` lists {why}")));
                continue;
            }
            products.push(Product {
                name: p.name.unwrap_or_else(|| id.clone()),
                id,
                description: p.description,
                owner: p.owner,
                group: p.group.unwrap_or_else(|| DEFAULT_GROUP.to_string()),
                tags: p.tags,
                dag_id: p.dag,
                task_id: p.task,
                model: p.model,
                dbt_job: p.dbt_job,
                metrics,
                max_age: p.max_age,
                slo: p.slo.map(|s| s.into_inner()),
                interval: p.interval,
                late_after: p.late_after.or(poll_late_after),
                airflow: product_airflow,
                dbt: product_dbt,
                exclude_expected: p.exclude_expected,
            });
        }

        let whole = |errors: &mut Vec<ConfigError>, message: &str| errors.push(ConfigError::whole_file(path, message));
        let store =
            ctx.store(file.store, base).map_err(|e| errors.push(e)).unwrap_or(StoreLocation::File(PathBuf::new()));
        if !airflow_given && (!products.is_empty() || !discover.is_empty()) {
            whole(&mut errors, "products need an [airflow] section (url and auth) to be polled: add one");
        }
        if !discover.is_empty() && !dbt_given {
            whole(&mut errors, "[discover] reads the dbt manifest, so it needs a [dbt] section: add one");
        }
        if products.is_empty() && discover.is_empty() && seen.is_empty() {
            whole(
                &mut errors,
                "no products: add a [[product]] table, or a [discover] section to find them in the dbt manifest",
            );
        }
        if file.poll.concurrency == 0 {
            whole(&mut errors, "[poll] concurrency must be at least 1");
        }
        let open_incident_after = match file.incidents.open_after_polls {
            None => 1,
            Some(n) => {
                let value = *n.get_ref();
                let checked = u32::try_from(value).ok().filter(|v| (1..=1000).contains(v)).ok_or_else(|| {
                    ctx.error(
                        n.span(),
                        format!(
                            "open_after_polls = {value}: give the number of polls in a row, from 1 (no guard) to 1000"
                        ),
                    )
                });
                keep(&mut errors, checked).unwrap_or(1)
            }
        };
        let notify = keep(&mut errors, ctx.notify(file.notify, base)).unwrap_or_default();
        let export = keep(
            &mut errors,
            file.export
                .map(|e| {
                    let span = e.span();
                    let e = e.into_inner();
                    let url = e.url.map(|u| ctx.url(u)).transpose()?;
                    if e.dir.as_os_str().is_empty() {
                        return Err(ctx.error(span, "[export] dir is empty: name the folder the page is written to"));
                    }
                    Ok(ExportConfig {
                        dir: base.join(e.dir),
                        url,
                        title: e.title.unwrap_or_else(|| "Data status".to_string()),
                    })
                })
                .transpose(),
        )
        .flatten();
        let serve = keep(
            &mut errors,
            file.serve
                .map(|s| {
                    let span = s.listen.span();
                    let listen = s.listen.into_inner();
                    listen.trim().parse::<std::net::SocketAddr>().map_err(|_| {
                        ctx.error(
                            span,
                            format!(
                                "`{}` is not an IP address and port: write e.g. \"127.0.0.1:9464\" (loopback) or \"0.0.0.0:9464\" (every interface)",
                                crate::text::inert(&listen)
                            ),
                        )
                    })
                })
                .transpose(),
        )
        .flatten();
        if let Some(error) = ConfigError::all(errors) {
            return Err(error);
        }

        Ok(Config {
            path: path.to_path_buf(),
            airflow,
            dbt,
            poll: PollConfig {
                interval: file.poll.interval,
                concurrency: file.poll.concurrency,
                retention: file.poll.retention.unwrap_or(DEFAULT_RETENTION),
                deadline: file.poll.deadline.unwrap_or(DEFAULT_POLL_DEADLINE),
            },
            store,
            discover,
            products,
            test_metrics: file.metrics.map,
            warnings,
            open_incident_after,
            critical_maturities: file
                .incidents
                .critical_maturity
                .unwrap_or_else(|| vec!["high".to_string()])
                .into_iter()
                .map(|m| m.trim().to_lowercase())
                .collect(),
            notify,
            export,
            serve,
        })
    }

    /// True when any secret is written in the file itself.
    pub fn has_inline_secret(&self) -> bool {
        self.secret_references().iter().any(|(_, _, reference)| reference.is_inline())
    }

    /// The secrets and CA files the config names that cannot be read now, each as
    /// "[section] key: why". They are read when used (a rotated secret is read again), so a
    /// file that loads can still point at something missing: `config check` and `poll` ask
    /// first and stop with the config error exit code rather than poll blind.
    pub fn unreadable_references(&self) -> Vec<String> {
        let base = self.base_dir();
        let mut found = Vec::new();
        for (section, key, reference) in self.secret_references() {
            if let Err(why) = reference.resolve(base) {
                found.push(format!("{section} {key}{}: {why}", reference.key_suffix()));
            }
        }
        let ca_files =
            self.airflow.iter().filter_map(|a| Some((self.airflow_label(a), a.tls.ca_file.as_ref()?))).chain(
                self.dbt.iter().filter_map(|d| match &d.source {
                    DbtConfig::Cloud { tls, .. } => Some((self.dbt_label(d), tls.ca_file.as_ref()?)),
                    DbtConfig::Local { .. } => None,
                }),
            );
        let webhook_ca_files = self.notify.iter().filter_map(|t| Some((webhook_label(t), t.ca_file.as_ref()?)));
        for (section, path) in ca_files.chain(webhook_ca_files) {
            if let Err(why) = read_ca_file(path) {
                found.push(format!("{section} ca_file: {why}"));
            }
        }
        found
    }

    /// Every secret the config names: (section, key, reference).
    fn secret_references(&self) -> Vec<(String, &'static str, &SecretRef)> {
        let mut all = Vec::new();
        for airflow in &self.airflow {
            match &airflow.auth {
                AirflowAuth::Basic { password, .. } | AirflowAuth::Password { password, .. } => {
                    all.push((self.airflow_label(airflow), "password", password))
                }
                AirflowAuth::Bearer { token } => all.push((self.airflow_label(airflow), "token", token)),
                AirflowAuth::None => {}
            }
        }
        for dbt in &self.dbt {
            if let DbtConfig::Cloud { token, .. } = &dbt.source {
                all.push((self.dbt_label(dbt), "token", token));
            }
        }
        for target in &self.notify {
            all.push((webhook_label(target), "url", &target.url));
        }
        all
    }

    /// Secret files others can read, each as a warning with the fix.
    #[cfg(unix)]
    fn exposed_secret_files(&self) -> Vec<String> {
        use std::os::unix::fs::PermissionsExt;
        let base = self.base_dir();
        let mut found = Vec::new();
        for (section, key, reference) in self.secret_references() {
            let SecretRef::File(path) = reference else { continue };
            let full = base.join(path);
            let Ok(meta) = std::fs::metadata(&full) else { continue };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                found.push(format!(
                    "{section} {key}_file: {} is readable by others (mode {:o}): run `chmod 600 {}`",
                    full.display(),
                    mode & 0o777,
                    full.display()
                ));
            }
        }
        found
    }

    #[cfg(not(unix))]
    fn exposed_secret_files(&self) -> Vec<String> {
        Vec::new()
    }

    /// True when a source's TLS certificates are not checked (`insecure_skip_verify`).
    pub fn tls_unverified(&self) -> bool {
        self.airflow.iter().any(|a| a.tls.insecure_skip_verify)
            || self.dbt.iter().any(|d| matches!(&d.source, DbtConfig::Cloud { tls, .. } if tls.insecure_skip_verify))
    }

    /// How messages name an Airflow's section: `[airflow]` alone, `[[airflow]] `core`` of several.
    pub fn airflow_label(&self, airflow: &AirflowConfig) -> String {
        section_label("airflow", &airflow.name, self.airflow.len())
    }

    /// How messages name a dbt source's section.
    pub fn dbt_label(&self, dbt: &DbtSourceConfig) -> String {
        section_label("dbt", &dbt.name, self.dbt.len())
    }

    /// The Airflow a product reads (its own, or the only one).
    pub fn airflow_of(&self, product: &Product) -> Option<&AirflowConfig> {
        match &product.airflow {
            Some(name) => self.airflow.iter().find(|a| a.name == *name),
            None => self.airflow.first(),
        }
    }

    /// Directory relative paths in the config are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

struct Ctx<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Ctx<'_> {
    fn error(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path, self.source, span, message)
    }

    /// `[store]`: a file (`path`, the default place when neither is given) or a PostgreSQL
    /// database (`url`, with its password by reference and an optional `ca_file`).
    fn store(&self, store: file::StoreSection, base: &Path) -> Result<StoreLocation, ConfigError> {
        let file::StoreSection { path, url, password_env, password_file, ca_file } = store;
        let Some(url) = url else {
            if password_env.is_some() || password_file.is_some() || ca_file.is_some() {
                return Err(ConfigError::whole_file(
                    self.path,
                    "[store] password_env, password_file and ca_file go with `url` (a PostgreSQL store): add the url, or remove them",
                ));
            }
            return Ok(StoreLocation::File(path.map(|p| base.join(p)).unwrap_or_else(default_store_path)));
        };
        let span = url.span();
        let text = url.into_inner();
        if path.is_some() {
            return Err(self.error(
                span,
                "`path` is given too: the history lives in one of them (a file, or a PostgreSQL database)",
            ));
        }
        let parsed = url::Url::parse(&text).ok().filter(|u| matches!(u.scheme(), "postgres" | "postgresql"));
        let Some(parsed) = parsed else {
            return Err(self.error(span, "must be a PostgreSQL address: postgres://user@host[:port]/database"));
        };
        if parsed.password().is_some() {
            return Err(self.error(
                span,
                "holds a password: take it out of the url and give it by `password_env` or `password_file`",
            ));
        }
        if let Err(e) = text.parse::<postgres::Config>() {
            return Err(self.error(span, e.to_string()));
        }
        let password = SecretRef::from_parts("password", None, password_env, password_file)
            .map_err(|e| self.error(span.clone(), e))?;
        Ok(StoreLocation::Postgres(PostgresLocation { url: text, password, ca_file: ca_file.map(|p| base.join(p)) }))
    }

    fn url(&self, value: toml::Spanned<String>) -> Result<url::Url, ConfigError> {
        let span = value.span();
        let text = value.into_inner();
        let url = url::Url::parse(&text).map_err(|e| {
            self.error(
                span.clone(),
                format!("`{text}` is not a URL ({e}): write it like \"https://airflow.example.com\""),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(self.error(span, format!("`{text}` must start with http:// or https://")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // URLs are printed in messages and logs: credentials must not ride in one.
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(self.error(
                span,
                format!(
                    "the URL holds a user name or password: write it as `{shown}` and give the credentials as \
                     auth = \"basic\", username = \"...\", password_env = \"...\""
                ),
            ));
        }
        Ok(url)
    }

    fn notify(
        &self,
        sections: Vec<toml::Spanned<file::NotifySection>>,
        base: &Path,
    ) -> Result<Vec<Webhook>, ConfigError> {
        let mut names = HashSet::new();
        let mut targets = Vec::with_capacity(sections.len());
        for section in sections {
            let span = section.span();
            let n = section.into_inner();
            let name_span = n.name.span();
            let name = n.name.into_inner();
            if name.trim().is_empty() {
                return Err(
                    self.error(name_span, "[[notify]] name is empty: name the webhook, e.g. \"data-team-slack\"")
                );
            }
            if !names.insert(name.clone()) {
                return Err(self.error(
                    name_span,
                    format!("webhook name `{name}` is used twice: give each [[notify]] its own name"),
                ));
            }
            if let Some(inline) = &n.url {
                let valid = url::Url::parse(inline).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !valid {
                    return Err(self.error(span, format!("webhook `{name}`: url is not an http(s) URL")));
                }
            }
            let url = SecretRef::from_parts("url", n.url, n.url_env, n.url_file)
                .map_err(|e| self.error(span.clone(), format!("webhook `{name}`: {e}")))?
                .ok_or_else(|| {
                    self.error(
                        span.clone(),
                        format!("webhook `{name}` needs `url_env` (or `url_file`): the webhook URL is a secret"),
                    )
                })?;
            let digest = match n.digest {
                None => None,
                Some(text) => {
                    let span = text.span();
                    let period = parse_duration(text.get_ref())
                        .ok()
                        .filter(|d| (MIN_DIGEST..=MAX_DIGEST).contains(d))
                        .ok_or_else(|| {
                            self.error(
                                span,
                                format!(
                                    "webhook `{name}`: digest `{}` is not a period from 5 min to 7 days: write e.g. \"1h\" or \"1d\"",
                                    crate::text::inert(text.get_ref())
                                ),
                            )
                        })?;
                    Some(period)
                }
            };
            targets.push(Webhook {
                name,
                url,
                ca_file: n.ca_file.map(|p| base.join(p)),
                format: n.format,
                route: crate::event::Route {
                    products: n.products,
                    groups: n.groups,
                    owners: n.owners,
                    events: n.events,
                },
                digest,
            });
        }
        Ok(targets)
    }

    /// The names of a kind's sources: "airflow" / "dbt" for one left unnamed; with several,
    /// each must have its own (a product says which it reads).
    fn source_names<T>(
        &self,
        kind: &str,
        sections: &[toml::Spanned<T>],
        name: impl Fn(&T) -> Option<&toml::Spanned<String>>,
        errors: &mut Vec<ConfigError>,
    ) -> Vec<String> {
        let mut seen = HashSet::new();
        sections
            .iter()
            .enumerate()
            .map(|(n, section)| {
                let Some(given) = name(section.get_ref()) else {
                    if sections.len() > 1 {
                        errors.push(self.error(
                            section.span(),
                            format!("with several [[{kind}]] each needs a `name` (products say `{kind} = \"…\"`)"),
                        ));
                    }
                    return match (n, sections.len()) {
                        (_, 1) => kind.to_string(),
                        _ => format!("{kind}{UNNAMED}{}", n + 1),
                    };
                };
                let text = given.get_ref().clone();
                if !is_valid_product_id(&text) {
                    errors.push(self.error(
                        given.span(),
                        format!("{kind} name `{text}` must be letters, digits, `_`, `-` or `.`: e.g. \"core\""),
                    ));
                } else if !seen.insert(text.clone()) {
                    errors.push(self.error(
                        given.span(),
                        format!("{kind} name `{text}` is used twice: give each [[{kind}]] its own"),
                    ));
                }
                text
            })
            .collect()
    }

    /// The source `who` reads of a kind: the one it names (which must exist), or the only
    /// one; with several and none named, an error.
    fn pick(
        &self,
        who: &str,
        kind: &str,
        named: Option<toml::Spanned<String>>,
        names: &[String],
        errors: &mut Vec<ConfigError>,
    ) -> Option<String> {
        match named {
            Some(named) => {
                let span = named.span();
                let name = named.into_inner();
                if names.contains(&name) {
                    return Some(name);
                }
                let choices: Vec<&str> = names.iter().map(String::as_str).collect();
                let hint = match crate::spelling::nearest(&name, &choices) {
                    Some(best) => format!(": did you mean {best}?"),
                    None if names.is_empty() => format!(": there is no [{kind}] section"),
                    None => format!(": the {kind} sources are {}", choices.join(", ")),
                };
                errors.push(self.error(span, format!("{who} reads {kind} `{name}`, which is not configured{hint}")));
                None
            }
            // With sources left unnamed (said already), which one cannot be asked for.
            None if names.len() > 1 && !names.iter().any(|n| n.contains(UNNAMED)) => {
                errors.push(ConfigError::whole_file(
                    self.path,
                    format!("{who} must say which {kind} it reads: {kind} = one of {}", names.join(", ")),
                ));
                None
            }
            None => names.first().cloned(),
        }
    }

    fn airflow(
        &self,
        section: toml::Spanned<file::AirflowSection>,
        name: &str,
        base: &Path,
    ) -> Result<AirflowConfig, ConfigError> {
        let span = section.span();
        let a = section.into_inner();
        let in_airflow = |e: String| self.error(span.clone(), e);
        let password =
            SecretRef::from_parts("password", a.password, a.password_env, a.password_file).map_err(in_airflow)?;
        let token = SecretRef::from_parts("token", a.token, a.token_env, a.token_file).map_err(in_airflow)?;
        let need_user = |kind: &str| {
            self.error(
                span.clone(),
                format!("auth = \"{kind}\" needs `username` and `password_env` (or `password_file`)"),
            )
        };
        let auth = match a.auth {
            AuthKind::None => AirflowAuth::None,
            AuthKind::Basic => AirflowAuth::Basic {
                username: a.username.ok_or_else(|| need_user("basic"))?,
                password: password.ok_or_else(|| need_user("basic"))?,
            },
            AuthKind::Password => AirflowAuth::Password {
                username: a.username.ok_or_else(|| need_user("password"))?,
                password: password.ok_or_else(|| need_user("password"))?,
            },
            AuthKind::Bearer => AirflowAuth::Bearer {
                token: token
                    .ok_or_else(|| self.error(span.clone(), "auth = \"bearer\" needs `token_env` (or `token_file`)"))?,
            },
        };
        let web_url = a
            .web_url
            .map(|u| {
                url::Url::parse(&u).map_err(|e| self.error(span.clone(), format!("web_url `{u}` is not a URL: {e}")))
            })
            .transpose()?;
        let concurrency = a
            .concurrency
            .map(|c| {
                let value = *c.get_ref();
                usize::try_from(value).ok().filter(|v| (1..=64).contains(v)).ok_or_else(|| {
                    self.error(
                        c.span(),
                        format!("concurrency = {value}: give the requests in flight at once, from 1 to 64"),
                    )
                })
            })
            .transpose()?;
        Ok(AirflowConfig {
            name: name.to_string(),
            concurrency,
            url: self.url(a.url)?,
            web_url,
            api: a.api,
            auth,
            timeout: a.timeout.unwrap_or(DEFAULT_TIMEOUT),
            tls: TlsConfig { ca_file: a.ca_file.map(|p| base.join(p)), insecure_skip_verify: a.insecure_skip_verify },
        })
    }

    fn dbt(&self, section: toml::Spanned<file::DbtSection>, base: &Path) -> Result<DbtConfig, ConfigError> {
        let span = section.span();
        let d = section.into_inner();
        match d.source {
            DbtSource::Cloud => {
                let url = d.url.ok_or_else(|| {
                    self.error(
                        span.clone(),
                        "source = \"cloud\" needs `url`: your account's access URL, e.g. \"https://ab123.us1.dbt.com\"",
                    )
                })?;
                let account_id = d.account_id.ok_or_else(|| {
                    self.error(
                        span.clone(),
                        "source = \"cloud\" needs `account_id` (the number in your dbt Cloud URLs)",
                    )
                })?;
                let token = SecretRef::from_parts("token", d.token, d.token_env, d.token_file)
                    .map_err(|e| self.error(span.clone(), e))?
                    .ok_or_else(|| {
                        self.error(
                            span.clone(),
                            "source = \"cloud\" needs `token_env` (or `token_file`) with a dbt Cloud API token",
                        )
                    })?;
                Ok(DbtConfig::Cloud {
                    url: self.url(url)?,
                    account_id,
                    token,
                    timeout: d.timeout.unwrap_or(DEFAULT_TIMEOUT),
                    cache_dir: d.cache_dir.map(|p| base.join(p)),
                    tls: TlsConfig {
                        ca_file: d.ca_file.map(|p| base.join(p)),
                        insecure_skip_verify: d.insecure_skip_verify,
                    },
                })
            }
            DbtSource::Local => {
                let target_dir = d.target_dir.ok_or_else(|| {
                    self.error(span, "source = \"local\" needs `target_dir`: the dbt project's target/ folder")
                })?;
                Ok(DbtConfig::Local { target_dir: base.join(target_dir) })
            }
        }
    }
}

/// A file holding a secret should not be readable by others.
#[cfg(unix)]
fn permission_warning(path: &Path, holds_secret: bool) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (holds_secret && mode & 0o077 != 0).then(|| {
        format!(
            "{} holds a secret and is readable by others (mode {:o}): run `chmod 600 {}` or move the secret to an environment variable (password_env / token_env / url_env)",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path, _holds_secret: bool) -> Option<String> {
    None
}

/// The value, or `None` with the error kept: parsing goes on to find the others.
fn keep<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// Whether `id` may be a product id: letters, digits, `_`, `-` and `.`. Ids are typed on
/// command lines and land in the page's `id="…"` and `href="#…"`; ids from discovery (a
/// dbt model's name) are held to the same rule as listed ones.
pub fn is_valid_product_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
