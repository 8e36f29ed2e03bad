//! How states look: a symbol for every state (so nothing depends on colour alone) and a
//! colour for terminals that have them. The board and the text commands share it.

use crate::model::State;

/// Unicode symbols, and ASCII ones for terminals and fonts without them (`--ascii`).
pub fn symbol(state: State, ascii: bool) -> &'static str {
    match (state, ascii) {
        (State::Up, false) => "✔",
        (State::Degraded, false) => "▲",
        (State::Down, false) => "✖",
        (State::Unknown, false) => "?",
        (State::Maintenance, false) => "◆",
        (State::Up, true) => "+",
        (State::Degraded, true) => "!",
        (State::Down, true) => "x",
        (State::Unknown, true) => "?",
        (State::Maintenance, true) => "~",
    }
}

/// ANSI SGR colour code for a state in text output.
pub fn ansi(state: State) -> &'static str {
    match state {
        State::Up => "32",
        State::Degraded => "33",
        State::Down => "1;31",
        State::Unknown => "35",
        State::Maintenance => "36",
    }
}

/// Colour is used only on a terminal, never when `NO_COLOR` is set (no-color.org), and not
/// on a terminal that says it has none (`TERM=dumb`).
pub fn color_wanted(is_terminal: bool) -> bool {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    is_terminal && var("NO_COLOR").is_empty() && var("TERM") != "dumb"
}

/// Whether the locale can show UTF-8 (the first of `LC_ALL`, `LC_CTYPE`, `LANG` that is set
/// decides, as the C library does): without it, symbols are ASCII as with `--ascii`.
pub fn utf8_locale() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .map(|name| std::env::var(name).unwrap_or_default())
        .find(|value| !value.is_empty());
    locale_is_utf8(locale.as_deref())
}

/// `en_US.UTF-8`, `C.utf8` are; `C`, `POSIX`, `en_US.ISO-8859-1` are not. No locale at all
/// (a bare environment, most CI runners) is taken as UTF-8, today's default.
fn locale_is_utf8(locale: Option<&str>) -> bool {
    match locale {
        None => true,
        Some(l) => {
            let l = l.to_ascii_lowercase();
            l.contains("utf-8") || l.contains("utf8")
        }
    }
}

/// Whether the terminal says its background is light: `COLORFGBG` (set by rxvt, Konsole,
/// iTerm2 and others as `fg;bg`, e.g. `0;15`) names a light background colour (7 or 15).
/// `--light` says so by hand where the terminal does not.
pub fn light_background() -> bool {
    background_is_light(std::env::var("COLORFGBG").ok().as_deref())
}

fn background_is_light(colorfgbg: Option<&str>) -> bool {
    let background = colorfgbg.and_then(|v| v.rsplit(';').next()).and_then(|bg| bg.trim().parse::<u8>().ok());
    matches!(background, Some(7 | 15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colorfgbg_names_the_background() {
        for (value, light) in [
            (None, false),
            (Some("15;0"), false),
            (Some("0;15"), true),
            (Some("0;7"), true),
            (Some("0;default;15"), true),
            (Some("7;8"), false),
            (Some("default;default"), false),
            (Some(""), false),
        ] {
            assert_eq!(background_is_light(value), light, "{value:?}");
        }
    }

    #[test]
    fn locales_that_show_utf8() {
        for (locale, utf8) in [
            (None, true),
            (Some("en_US.UTF-8"), true),
            (Some("C.utf8"), true),
            (Some("C"), false),
            (Some("POSIX"), false),
            (Some("de_DE.ISO-8859-1"), false),
        ] {
            assert_eq!(locale_is_utf8(locale), utf8, "{locale:?}");
        }
    }

    #[test]
    fn every_state_has_a_distinct_symbol_in_both_sets() {
        for ascii in [false, true] {
            let mut seen: Vec<&str> = State::ALL.iter().map(|s| symbol(*s, ascii)).collect();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), 5);
        }
    }
}
