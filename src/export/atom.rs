//! `feed.atom`: incidents as an Atom feed (RFC 4287), one entry per incident, updated
//! with each update, so feed readers and chat integrations follow them without polling us.

use std::fmt::Write;

use super::{Page, Site, escape};
use crate::timefmt::{rfc3339_at as rfc3339, stamp_at as stamp};

pub fn render(page: &Page, site: &Site) -> String {
    let base = site.url.as_ref().map(|u| u.to_string());
    let updated = page
        .incidents
        .iter()
        .filter_map(|i| i.updates.last().map(|u| u.at).or(Some(i.opened_at)))
        .max()
        .unwrap_or(page.snapshot.generated_at);
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>{}: incidents</title>\n<id>{}</id>\n<updated>{}</updated>\n<author><name>tablestat</name></author>\n\
         <generator>tablestat</generator>\n",
        escape(&site.title),
        escape(
            &base.as_ref().map_or_else(|| format!("urn:tablestat:{}", slug(&site.title)), |b| format!("{b}feed.atom"))
        ),
        rfc3339(updated),
    );
    if let Some(base) = &base {
        let _ = write!(
            out,
            "<link rel=\"self\" type=\"application/atom+xml\" href=\"{0}feed.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"{0}\"/>\n",
            escape(base)
        );
    }
    for i in &page.incidents {
        let last = i.updates.last().map_or(i.opened_at, |u| u.at);
        let state = if i.resolved_at.is_some() { "Resolved" } else { "Open" };
        let mut content = format!("<p>{} · {} · opened {}</p><ul>", i.status, i.severity, stamp(i.opened_at));
        for u in &i.updates {
            let _ = write!(content, "<li>{}: {}</li>", stamp(u.at), escape(&u.message));
        }
        content.push_str("</ul>");
        let _ = write!(
            out,
            "<entry>\n<id>{}</id>\n<title>[{state}] {}</title>\n<published>{}</published>\n<updated>{}</updated>\n",
            escape(&base.as_ref().map_or_else(
                || format!("urn:tablestat:{}:incident:{}:{}", slug(&site.title), i.id, i.opened_at),
                |b| format!("{b}#incident-{}", i.id)
            )),
            escape(&i.title),
            rfc3339(i.opened_at),
            rfc3339(last),
        );
        if let Some(base) = &base {
            let _ = writeln!(
                out,
                "<link rel=\"alternate\" type=\"text/html\" href=\"{}#incident-{}\"/>",
                escape(base),
                i.id
            );
        }
        // The HTML is escaped once more to travel as text inside the XML element.
        let _ = write!(out, "<content type=\"html\">{}</content>\n</entry>\n", escape(&content));
    }
    out.push_str("</feed>\n");
    out
}

/// A title as a URN part: lowercase letters, digits and dashes.
fn slug(text: &str) -> String {
    let s: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.trim_matches('-').to_string()
}
