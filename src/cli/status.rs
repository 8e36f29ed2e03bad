//! `tablestat status`: the stored state of every product (or some), for scripts and people.

use super::{EXIT_INTERNAL, Failure, open_history};
use crate::config::Config;
use crate::status_doc;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print the status document as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only these products, by id or by name (`Orders`, any case where that is unambiguous).
    pub products: Vec<String>,
}

pub async fn run(config: &Config, args: StatusArgs, style: super::TextStyle) -> Result<u8, Failure> {
    let store = open_history(config)?;
    let named = config.products.clone();
    let snapshot = tokio::task::spawn_blocking(move || {
        store
            .snapshot_naming(chrono::Utc::now().timestamp(), crate::timefmt::display_zone(), &named)
            .map_err(super::store_error)
    })
    .await
    .map_err(|e| Failure::new(EXIT_INTERNAL, e.to_string()))??;
    let known = snapshot.products.iter().map(|r| (r.product.id.as_str(), r.product.name.as_str()));
    let ids = super::resolve_products(&args.products, known)?;
    let doc = status_doc::from_snapshot(&snapshot, &ids);
    super::print_doc(&doc, args.json, style)?;
    Ok(doc.exit_code() as u8)
}
