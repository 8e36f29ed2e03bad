//! The one output filter for text a person reads: names, reasons, messages and ids that
//! came from a source or another user, on the terminal (`status`, `poll --once`,
//! `maintenance list`, `incident`), on the board and in the exported page.
//!
//! A DAG run id, a dbt test name or a maintenance message typed on a shared host may hold
//! escape sequences (OSC 52 sets the reader's clipboard, `ESC [2J` clears the screen) or
//! bidi controls (U+202E turns "degraded" around on screen). Each such character is shown
//! as U+FFFD, one visible cell, so the rest of the text stays readable and in place; line
//! breaks and tabs become spaces, so one field stays one line. A leaf: no crate types.
//! JSON output does not pass through here: its escaping already makes text inert.

use std::borrow::Cow;

/// What an unsafe character is shown as.
pub const SHOWN: char = '\u{fffd}';

/// Whether `c` must not reach a terminal or a page as itself: C0 controls, DEL, C1
/// controls (U+009B is an 8-bit CSI, U+009D an 8-bit OSC), bidi embeddings, overrides,
/// isolates and marks, and the Unicode line and paragraph separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with every unsafe character shown inert: tabs and line breaks as a space, the
/// rest as U+FFFD. Borrowed when there is nothing to change (the usual case).
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' => ' ',
                c if is_unsafe(c) => SHOWN,
                c => c,
            })
            .collect(),
    )
}

/// How many terminal columns `text` takes: a CJK character or an emoji two, a combining
/// mark none.
pub fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_are_shown_inert() {
        let cases: [(&str, &str); 9] = [
            ("fct_orders", "fct_orders"),
            ("a\u{1b}[2Jb", "a\u{fffd}[2Jb"),
            ("\u{1b}]52;c;cHduZWQ=\u{7}x", "\u{fffd}]52;c;cHduZWQ=\u{fffd}x"),
            ("8-bit \u{9b}31m CSI and \u{9d}0;t\u{9c} OSC", "8-bit \u{fffd}31m CSI and \u{fffd}0;t\u{fffd} OSC"),
            ("up \u{202e}dedarged", "up \u{fffd}dedarged"),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{61c}",
                "\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}",
            ),
            ("two\nlines\r\tand a tab", "two lines  and a tab"),
            ("nul \u{0} and del \u{7f}", "nul \u{fffd} and del \u{fffd}"),
            ("ünïcödé ✔ 表 stays", "ünïcödé ✔ 表 stays"),
        ];
        for (raw, shown) in cases {
            assert_eq!(inert(raw), shown, "{raw:?}");
            assert!(!inert(raw).chars().any(is_unsafe), "{raw:?}");
        }
        assert!(matches!(inert("plain"), Cow::Borrowed(_)));
    }
}
