//! `tablestat poll --once`: one poll of every product, printed.

use std::io::IsTerminal;
use std::sync::Arc;

use chrono::Utc;

use super::{CliError, EXIT_INTERNAL, EXIT_UNAVAILABLE, text};
use crate::config::Config;
use crate::poller::{Engine, Prior};
use crate::report::{self, StatusDocument};

#[derive(Debug, clap::Args)]
pub struct PollArgs {
    /// Poll every product once, print the result and exit (for cron and scripts).
    #[arg(long, required = true)]
    pub once: bool,
    /// Print the status document as JSON (the shape of `status --json`).
    #[arg(long)]
    pub json: bool,
    /// Plain ASCII symbols in text output.
    #[arg(long)]
    pub ascii: bool,
}

pub async fn run(config: &Config, args: PollArgs) -> Result<u8, CliError> {
    let config = Arc::new(config.clone());
    let mut engine =
        Engine::new(config.clone()).map_err(|e| CliError::new(EXIT_UNAVAILABLE, e.to_string()))?;
    let now = Utc::now();
    let result = engine.poll(&Prior::default(), now).await;
    if let Some(error) = &result.airflow_error {
        eprintln!("tablestat: warning: Airflow could not be read: {error}");
    }
    tracing::info!(
        airflow_requests = result.airflow_requests,
        dbt_requests = result.dbt_requests,
        "poll finished"
    );
    let products = result
        .checked
        .iter()
        .map(|c| {
            report::product_status(&c.product, &c.evaluation, Some(c.checked_at), |_| {
                Some(c.checked_at)
            })
        })
        .collect();
    let doc = StatusDocument::new(now, products);
    if args.json {
        let json = serde_json::to_string_pretty(&doc)
            .map_err(|e| CliError::new(EXIT_INTERNAL, e.to_string()))?;
        println!("{json}");
    } else {
        let stdout = std::io::stdout();
        print!(
            "{}",
            text::render(
                &doc,
                crate::theme::color_wanted(stdout.is_terminal()),
                args.ascii
            )
        );
    }
    Ok(doc.exit_code() as u8)
}
