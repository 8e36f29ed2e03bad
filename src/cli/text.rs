//! The status document as text for people: a verdict, then one line per product and one
//! per metric that is not up. Colour only on a terminal and without `NO_COLOR`. Every
//! text from a source passes [`inert`]: a name or reason never drives the reader's terminal.

use std::fmt::Write;

use crate::model::State;
use crate::report::StatusDocument;
use crate::text::inert;
use crate::theme;

pub fn render(doc: &StatusDocument, color: bool, ascii: bool) -> String {
    let paint = |state: State, text: &str| {
        if color { format!("\x1b[{}m{text}\x1b[0m", theme::ansi(state)) } else { text.to_string() }
    };
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", paint(doc.overall, theme::symbol(doc.overall, ascii)), inert(&doc.verdict()));
    let name_width = doc.products.iter().map(|p| p.name.chars().count()).max().unwrap_or(0).min(40);
    // Worst first, as people read a status page; the JSON keeps the stable group order.
    let mut products: Vec<&crate::report::ProductStatus> = doc.products.iter().collect();
    products.sort_by(|a, b| a.state.cmp(&b.state).then_with(|| a.name.cmp(&b.name)));
    for p in products {
        let label = format!("{} {:<11}", theme::symbol(p.state, ascii), p.state.as_str());
        let checked = match (checked(p.checked_at.as_deref()), checked(Some(&doc.generated_at))) {
            (Some(at), Some(now)) => format!("  checked {}", crate::timefmt::ago(at, now)),
            _ => "  never checked".to_string(),
        };
        let _ = writeln!(
            out,
            "{} {:<name_width$}  {:<12}{checked}",
            paint(p.state, &label),
            inert(&p.name),
            inert(&p.group)
        );
        for (metric, status) in &p.metrics.0 {
            if status.state != State::Up {
                let _ = writeln!(
                    out,
                    "    {:<13} {} {}",
                    metric.as_str(),
                    paint(status.state, &format!("{:<11}", status.state.as_str())),
                    inert(&status.reason)
                );
            }
        }
        if let Some(note) = &p.note {
            let _ = writeln!(out, "    {}", inert(note));
        }
    }
    out
}

fn checked(at: Option<&str>) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(at?).ok().map(|t| t.with_timezone(&chrono::Utc))
}
