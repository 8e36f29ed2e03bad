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

/// Colour is used only on a terminal, and never when `NO_COLOR` is set (no-color.org).
pub fn color_wanted(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

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
