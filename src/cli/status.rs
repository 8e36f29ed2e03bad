//! `tablestat status`: the stored state of every product (or some), for scripts and people.

use super::{Failure, with_history};
use crate::config::Config;
use crate::status_doc;
use crate::store::Depth;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Print the status document as JSON.
    #[arg(long)]
    pub json: bool,
    /// The states as they were at this moment, from history: `2026-11-20 06:00`, RFC 3339,
    /// or a while ago (`-3h`, `3h ago`).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub at: Option<String>,
    /// Only these products, by id or by name (`Orders`, any case where that is unambiguous).
    pub products: Vec<String>,
}

pub async fn run(config: &Config, args: StatusArgs, style: super::TextStyle) -> Result<u8, Failure> {
    let named = config.products.clone();
    let now = chrono::Utc::now();
    let at = args.at.as_deref().map(|t| super::when::past_moment(t, now)).transpose()?;
    let snapshot = with_history(config, move |store| {
        let zone = crate::timefmt::display_zone();
        match at {
            Some(at) => store.snapshot_at(at, zone, Depth::Uptime),
            None => store.snapshot_naming(now.timestamp(), zone, &named, Depth::Uptime),
        }
        .map_err(super::store_error)
    })
    .await?;
    if let (Some(at), true) = (at, snapshot.products.is_empty()) {
        // An empty past is not "all operational": nothing was known then.
        let at = crate::timefmt::stamp_at(at);
        return Err(Failure::new(
            crate::failure::EXIT_NO_CONFIG,
            format!(
                "no history at {at}: no product had been checked by then (`tablestat report` shows what history holds)"
            ),
        ));
    }
    let known = snapshot.products.iter().map(|r| (r.product.id.as_str(), r.product.name.as_str()));
    let ids = super::resolve_products(&args.products, known)?;
    let doc = status_doc::from_snapshot(&snapshot, &ids);
    super::print_doc(&doc, args.json, style)?;
    Ok(doc.exit_code() as u8)
}
