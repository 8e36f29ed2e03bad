//! The static status page from a prepared store: opened in headless Chromium (the text a
//! reader sees), `status.json` equal to the status document, the Atom feed's entries, and
//! the page self-contained (no script, no external asset).

use std::path::Path;
use std::process::Command;

use crate::common::board::{now, prepared_store};
use chrono::FixedOffset;
use tablestat::export::{self, Page, Site};

/// Chromium, as Debian installs it (`.ci/run` does).
fn chromium() -> &'static str {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("headless Chromium must be installed (apt-get install chromium; .ci/run installs it)")
}

/// The page as a browser lays it out, as text (`document.body.innerText` via --dump-dom
/// would keep markup; printing to text is what a reader sees).
fn browser_dom(page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Nothing may be fetched: a self-contained page does not need the network.
            "--blink-settings=imagesEnabled=false",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn written() -> (tempfile::TempDir, Page) {
    let store = prepared_store();
    let page = Page::gather(&store, now(), FixedOffset::east_opt(0).unwrap(), &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let site = Site { title: "Acme data status".into(), url: Some("https://status.acme.test/data/".parse().unwrap()) };
    let files = export::write(dir.path(), &page, &site).unwrap();
    let names: Vec<_> = files.files.iter().map(|f| f.file_name().unwrap().to_str().unwrap().to_string()).collect();
    assert_eq!(names, ["index.html", "status.json", "feed.atom"]);
    (dir, page)
}

#[test]
#[ignore = "needs chromium (apt-get install chromium; .ci/run installs it)"]
fn the_page_in_a_browser_says_what_a_reader_needs() {
    let (dir, _) = written();
    let dom = browser_dom(&dir.path().join("index.html"));
    // Chromium parsed it into a document: the title, the verdict, groups, products.
    for expected in [
        "<title>Acme data status — 1 product down, 1 degraded, 1 in maintenance</title>",
        "✖ 1 product down, 1 degraded, 1 in maintenance",
        "<h2>Planned maintenance</h2>",
        "product fct_daily_revenue — 2026-11-24 11:00 UTC to 2026-11-24 14:00 UTC",
        "<h2>Open incidents</h2>",
        "Orders is down: freshness, uniqueness",
        "expected fixed by 2026-11-24 14:00 UTC",
        "<strong>Latest update</strong> (2026-11-24 11:00 UTC, ana): A duplicate load from the CRM export; reloading.",
        "<h2>Sales</h2>",
        "<h2>Finance</h2>",
        "<h2>Staging</h2>",
        "id=\"product-fct_orders\"",
        "✖ Uniqueness</b> unique test on order_id failed: 2 duplicated values",
        "▲ Completeness</b> not_null test on email warned: 4 rows with no value",
        "◆ maintenance",
        "Orders: one row per thing. · data-team@example.com",
        "Past incidents (30 days)",
        "title=\"Nov 24: down\"",
    ] {
        assert!(dom.contains(expected), "the page lacks {expected:?}");
    }
    // Day bars: 90 per product, each labelled, with an accessible summary.
    assert_eq!(dom.matches("class=\"b-").count(), 5 * 90);
    assert!(dom.contains("aria-label=\"Last 90 days, worst state each day: "));
}

#[test]
fn the_page_is_self_contained_and_the_json_is_the_status_document() {
    let (dir, page) = written();
    let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
    assert!(!html.contains("<script"), "no scripts");
    for external in ["src=\"http", "href=\"http", "url(", "@import"] {
        assert!(!html.contains(external), "no external assets: {external}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("status.json")).unwrap()).unwrap();
    assert_eq!(json, serde_json::to_value(&page.status).unwrap());
    assert_eq!(json["overall"], "down");
    assert_eq!(json["products"].as_array().unwrap().len(), 5);
}

#[test]
fn the_feed_has_one_entry_per_incident_with_its_timeline() {
    let (dir, page) = written();
    let feed = std::fs::read_to_string(dir.path().join("feed.atom")).unwrap();
    assert!(
        feed.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    assert_eq!(feed.matches("<entry>").count(), page.incidents.len());
    assert!(page.incidents.len() >= 2, "an open incident and a resolved one");
    assert!(feed.contains(
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"https://status.acme.test/data/feed.atom\"/>"
    ));
    let open = page.incidents.iter().find(|i| i.resolved_at.is_none()).unwrap();
    assert!(feed.contains(&format!("<id>https://status.acme.test/data/#incident-{}</id>", open.id)));
    assert!(feed.contains("<title>[Open] Orders is down: freshness, uniqueness</title>"));
    assert!(feed.contains("<updated>2026-11-24T11:00:00Z</updated>"), "the human update is the latest");
    // The entry's HTML travels escaped.
    assert!(
        feed.contains("&lt;li&gt;2026-11-24 11:00 UTC: A duplicate load from the CRM export; reloading.&lt;/li&gt;")
    );
}

/// The page of the prepared store with `product` added (up for an hour), titled `title`.
fn page_with(mut store: tablestat::store::Store, product: &tablestat::model::Product, title: &str) -> String {
    let history = tablestat::store::History {
        spans: vec![tablestat::store::SpanRow {
            product: product.id.clone(),
            metric: None,
            state: tablestat::model::State::Up,
            reason: "all metrics up".into(),
            start: now() - 3600,
        }],
        ..Default::default()
    };
    store.import(std::slice::from_ref(product), &history).unwrap();
    let page = Page::gather(&store, now(), FixedOffset::east_opt(0).unwrap(), &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    export::write(dir.path(), &page, &Site { title: title.into(), url: None }).unwrap();
    std::fs::read_to_string(dir.path().join("index.html")).unwrap()
}

#[test]
fn hostile_names_are_inert_on_the_page() {
    let store = prepared_store();
    let mut evil = crate::common::board::product("evil", "<script>alert(1)</script>\u{1b}[2J", "Sales");
    evil.description = Some("\"><img src=x onerror=alert(1)>".into());
    let html = page_with(store, &evil, "<b>x</b>");
    assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>x</b>"));
    assert!(!html.contains('\u{1b}'));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;\u{fffd}[2J"));
}

/// A dbt model named to break out of an attribute is not made a product (discovered ids are
/// held to the listed ids' rule), and an id that reached the store anyway is escaped in
/// `id="…"` and `href="#…"`.
#[test]
fn discovered_ids_are_checked_and_attributes_are_escaped() {
    use tablestat::dbt::{self, ArtifactKind, Manifest, ProjectIndex};
    let hostile = "fct\"><script>alert(1)</script>";
    let mut manifest: serde_json::Value =
        serde_json::from_str(&crate::common::fake::body("dbt/test_failures/manifest.json")).unwrap();
    manifest["nodes"]["model.shop.fct_orders"]["name"] = hostile.into();
    let manifest: Manifest = dbt::parse_artifact(ArtifactKind::Manifest, manifest.to_string().as_bytes()).unwrap();
    let index = ProjectIndex::new(manifest, &Default::default());
    let rule = tablestat::config::DiscoverRule {
        airflow: None,
        dbt: None,
        tag: None,
        dag: "shop_daily".into(),
        task: Some("dbt_build".into()),
        group: None,
        metrics: tablestat::model::Metric::standard(),
        max_age: None,
        late_after: None,
    };
    let ids: Vec<String> = tablestat::discover::discover(&rule, &index).into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["dim_customers", "fct_daily_revenue", "stg_customers", "stg_orders", "stg_payments"]);

    // Past the check (an older database, an import): escaped all the same.
    let store = prepared_store();
    let evil = crate::common::board::product(hostile, "Evil", "Sales");
    let html = page_with(store, &evil, "t");
    assert!(!html.contains("<script"), "no script");
    assert!(html.contains("id=\"product-fct&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""), "escaped id");
}

/// Someone who can write the export folder plants symlinks where the temporary files used
/// to be (`.index.html.<pid>.tmp`, predictable) pointing at a file of theirs to overwrite:
/// the export writes around them, the target is untouched. A write that fails (here a
/// folder stands where `status.json` goes) leaves no temporary file behind.
#[cfg(unix)]
#[test]
fn the_export_never_follows_a_planted_symlink_and_leaves_no_temporary_file() {
    let store = prepared_store();
    let page = Page::gather(&store, now(), FixedOffset::east_opt(0).unwrap(), &[]).unwrap();
    let site = Site { title: "t".into(), url: None };
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let public = dir.path().join("public");
    std::fs::create_dir(&public).unwrap();
    for name in ["index.html", "status.json", "feed.atom"] {
        let planted = public.join(format!(".{name}.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, planted).unwrap();
    }
    export::write(&public, &page, &site).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(std::fs::read_to_string(public.join("index.html")).unwrap().starts_with("<!DOCTYPE html>"));
    let temporaries = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") && !n.contains(&std::process::id().to_string()))
            .collect()
    };
    assert_eq!(temporaries(&public), Vec::<String>::new());

    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("status.json/occupied")).unwrap();
    assert!(export::write(&broken, &page, &site).is_err());
    assert_eq!(temporaries(&broken), Vec::<String>::new(), "the failed write cleaned up");
}
