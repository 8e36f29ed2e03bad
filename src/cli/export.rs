//! `tablestat export html DIR`: the static status page, `status.json` and the Atom feed of
//! incidents, from the history database, for people who never open a terminal.

use std::path::PathBuf;

use super::{EXIT_IO, Failure, with_history};
use crate::config::Config;
use crate::export::{Page, Site};

#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// Write index.html (self-contained: no scripts, no external assets), status.json and
    /// feed.atom into DIR. The poller does this after each poll when [export] is set.
    Html(HtmlArgs),
}

#[derive(Debug, clap::Args)]
pub struct HtmlArgs {
    /// Folder to write into (created if missing); defaults to [export] dir.
    pub dir: Option<PathBuf>,
    /// Page title; defaults to [export] title, else "Data status".
    #[arg(long)]
    pub title: Option<String>,
    /// Public URL of the folder, for absolute links in the feed; defaults to [export] url.
    #[arg(long)]
    pub url: Option<url::Url>,
}

pub async fn run(config: &Config, ExportCommand::Html(args): ExportCommand) -> Result<u8, Failure> {
    let configured = config.export.as_ref();
    let Some(dir) = args.dir.or_else(|| configured.map(|e| e.dir.clone())) else {
        return Err(Failure::new(
            super::EXIT_USAGE,
            "where to? give a folder (`tablestat export html public/`) or set [export] dir in the config",
        ));
    };
    let site = Site {
        title: args.title.or_else(|| configured.map(|e| e.title.clone())).unwrap_or_else(|| "Data status".into()),
        url: args.url.or_else(|| configured.and_then(|e| e.url.clone())),
    };
    let named = config.products.clone();
    let written = with_history(config, move |store| {
        let now = chrono::Utc::now().timestamp();
        let page = Page::gather(store, now, crate::timefmt::display_zone(), &named).map_err(super::store_error)?;
        crate::export::write(&dir, &page, &site)
            .map_err(|e| Failure::new(EXIT_IO, format!("cannot write the page into {}: {e}", dir.display())))
    })
    .await?;
    for file in &written.files {
        super::emit(&format!("{}\n", file.display()))?;
    }
    Ok(0)
}
