//! tablestat: a status page for data products, in the terminal.
//!
//! The data's path, top to bottom:
//!
//! ```text
//! Airflow API ─┐                                        ┌─> status / poll --json (cli)
//! dbt Cloud  ──┼─ sources ─> facts ─> evaluate (pure) ─> store (SQLite, one writer)
//! dbt target/ ─┘  clients    normalized   the rulebook    │
//!                                                         └─> tui (the board)
//! ```
//!
//! - [`config`]: the TOML file, located and checked, errors with file, line and key.
//! - [`model`]: products, metrics, states, verdicts, evidence: the shared words.
//! - [`dbt`]: lean readers for dbt artifacts and the table -> tests index; [`discover`] turns
//!   a manifest into products.
//! - [`sources`]: the Airflow 2/3 and dbt Cloud clients, the local `target/` reader.
//! - [`facts`]: what the sources observed, normalized across Airflow 2 and 3.
//! - [`evaluate`]: the rulebook, a pure function of facts, previous states and `now`; what
//!   every reader is shown ([`evaluate::shown`]); when incidents open and resolve.
//! - [`event`]: what happened (incidents, maintenance), as stored and as webhooks hear it.
//! - [`poller`]: one poll of everything ([`poller::Engine`]) and the service under the lease.
//! - [`store`]: SQLite history (intervals, incidents, maintenance, lease) on its own thread;
//!   [`uptime`] is the pure uptime and bar arithmetic it reads with.
//! - [`status_doc`]: the `status --json` document, the one machine-readable shape.
//! - [`slo`]: the SLO report (uptime against each product's SLO, error budget, MTTD/MTTR).
//! - [`export`]: the static status page (HTML, `status.json`, Atom feed).
//! - [`notify`]: sending events to the webhooks that hear them.
//! - [`serve`]: `/metrics` (OpenMetrics, for Prometheus) and `/healthz` beside `poll`.
//! - [`tui`]: the board; [`theme`] the symbols and colours it shares with the text output.
//! - [`demo`]: simulated Airflow and dbt Cloud for `tablestat demo`.
//! - [`text`]: the one output filter: control characters, escapes and bidi controls from
//!   sources shown inert on the terminal, the board and the page.
//! - [`cli`]: the commands; `main.rs` only dispatches to them. Beneath everything, small
//!   leaves: [`timefmt`] (times and the display zone), [`signals`], [`output`] and
//!   [`failure`] (what a command prints, and why it failed, carried to `main`).

/// mimalloc, for the binary and for every test, bench and example that measures it: the
/// status of 20,000 products builds and frees ~1 M small values, where the system allocator
/// took a third of the time (`status --json`: 0.49 s → 0.32 s median).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod cli;
pub mod config;
pub mod dbt;
pub mod demo;
pub mod discover;
pub mod evaluate;
pub mod event;
pub mod export;
pub mod facts;
pub mod failure;
pub mod model;
pub mod notify;
pub mod output;
pub mod poller;
pub mod serve;
pub mod signals;
pub mod slo;
pub mod sources;
pub mod spelling;
pub mod status_doc;
pub mod store;
pub mod text;
pub mod theme;
pub mod timefmt;
pub mod tui;
pub mod uptime;
