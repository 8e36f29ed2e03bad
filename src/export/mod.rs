//! The static status page for people outside the terminal: `index.html` (self-contained,
//! no scripts, no external assets), `status.json` (the `status --json` document) and
//! `feed.atom` (incidents). Written by `tablestat export html DIR`, or by the poller after
//! each poll when `[export]` is configured.
//!
//! Gathering reads the store (on the store's thread); rendering is pure; writing replaces
//! each file atomically, so a web server or a file share never serves half a page.

mod atom;
mod html;

use std::path::{Path, PathBuf};

use crate::status_doc::{self, StatusDocument};
use crate::store::{BoardSnapshot, Incident, Store};

/// Resolved incidents of the last this-many days are listed on the page and in the feed.
const PAST_DAYS: i64 = 30;

/// Everything the page shows, read from the store at one moment.
#[derive(Debug, Clone)]
pub struct Page {
    pub snapshot: BoardSnapshot,
    pub status: StatusDocument,
    /// Open incidents, then those resolved in the last [`PAST_DAYS`], with their timelines.
    pub incidents: Vec<Incident>,
}

/// How the page is titled and where it is published.
#[derive(Debug, Clone)]
pub struct Site {
    pub title: String,
    /// Public URL of the folder: absolute links in the feed.
    pub url: Option<url::Url>,
}

impl Page {
    /// The page as of `now`, every product the config `named` on it (checked or not).
    pub fn gather(
        store: &Store,
        now: i64,
        zone: chrono::FixedOffset,
        named: &[crate::model::Product],
    ) -> crate::store::Result<Page> {
        let snapshot = store.snapshot_naming(now, zone, named, crate::store::Depth::Bars)?;
        let status = status_doc::from_snapshot(&snapshot, &[]);
        let mut incidents = Vec::new();
        for i in &snapshot.incidents {
            let recent = i.resolved_at.is_none_or(|r| now - r <= PAST_DAYS * 86_400);
            if recent && incidents.len() < 100 {
                incidents.push(store.incident(i.id)?);
            }
        }
        Ok(Page { snapshot, status, incidents })
    }
}

/// The files written, for the command's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub bytes: u64,
}

/// Renders the page and writes the three files into `dir` (created if missing).
pub fn write(dir: &Path, page: &Page, site: &Site) -> std::io::Result<Written> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(&page.status).map_err(std::io::Error::other)? + "\n";
    let files =
        [("index.html", html::render(page, site)), ("status.json", json), ("feed.atom", atom::render(page, site))];
    let mut written = Written { files: Vec::new(), bytes: 0 };
    for (name, content) in files {
        let path = dir.join(name);
        replace(&path, content.as_bytes())?;
        written.bytes += content.len() as u64;
        written.files.push(path);
    }
    Ok(written)
}

/// Writes beside the file, then renames over it: readers see the old file or the new one.
///
/// The export folder may be writable by others (a shared web root): the temporary file has
/// a random name and is created exclusively (`O_CREAT | O_EXCL`, which never follows a
/// symlink, and `O_NOFOLLOW`), so a symlink planted there cannot redirect the write; and it
/// is removed when anything fails (a full disk leaves no half file in the published folder).
fn replace(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("export");
    let mut attempts = 0;
    let (temporary, mut file) = loop {
        let temporary = path.with_file_name(format!(".{name}.{:016x}.tmp", fastrand::u64(..)));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o644).custom_flags(libc::O_NOFOLLOW);
        }
        match options.open(&temporary) {
            Ok(file) => break (temporary, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 16 => attempts += 1,
            Err(e) => return Err(e),
        }
    };
    let written = file.write_all(content).and_then(|()| file.sync_data());
    drop(file);
    written.and_then(|()| std::fs::rename(&temporary, path)).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// The fragment that names a product's entry on the page (`index.html#product-fct_orders`).
pub fn anchor(product_id: &str) -> String {
    format!("product-{product_id}")
}

/// Escapes text for HTML and XML, in content and in quoted attributes. Control
/// characters, escapes and bidi controls are first shown inert by the same filter as the
/// terminal's ([`crate::text::inert`]; control characters are invalid in XML too).
fn escape(text: &str) -> String {
    let text = crate::text::inert(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_makes_markup_and_control_characters_inert() {
        assert_eq!(escape("<b>\"x\" & 'y'</b>"), "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;");
        assert_eq!(escape("a\u{1b}[31mb"), "a\u{fffd}[31mb");
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.html");
        replace(&path, b"old").unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }
}
