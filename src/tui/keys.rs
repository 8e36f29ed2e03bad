//! Keys are data: one table maps keys to actions, with the words the help screen shows.
//! The event loop asks this table; the help view draws it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Everywhere,
    List,
    Detail,
    /// An incident's timeline: what can be done to the incident.
    Incident,
}

pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the help screen names the keys.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
    pub context: Context,
}

const NONE: KeyModifiers = KeyModifiers::NONE;

pub const BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Up, NONE), (KeyCode::Char('k'), NONE)],
        label: "↑ k",
        action: Action::Up,
        help: "move up",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Down, NONE), (KeyCode::Char('j'), NONE)],
        label: "↓ j",
        action: Action::Down,
        help: "move down",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('u'), KeyModifiers::CONTROL)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('d'), KeyModifiers::CONTROL)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE), (KeyCode::Char('g'), KeyModifiers::CONTROL)],
        label: "Home",
        action: Action::Top,
        help: "first row",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::End, NONE), (KeyCode::Char('G'), KeyModifiers::SHIFT), (KeyCode::Char('G'), NONE)],
        label: "End G",
        action: Action::Bottom,
        help: "last row",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE), (KeyCode::Right, NONE), (KeyCode::Char('l'), NONE)],
        label: "⏎ → l",
        action: Action::Open,
        help: "open: product, incident",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Left, NONE), (KeyCode::Char('h'), NONE), (KeyCode::Backspace, NONE)],
        label: "Esc ← h",
        action: Action::Back,
        help: "back",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        action: Action::StartFilter,
        help: "filter: products (name, group, tag, state:down), incidents",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('s'), NONE)],
        label: "s",
        action: Action::CycleSort,
        help: "sort: state, name, uptime, last change",
        context: Context::List,
    },
    Binding {
        keys: &[(KeyCode::Char('w'), NONE)],
        label: "w",
        action: Action::CycleWindow,
        help: "uptime window: 24h, 7d, 30d, 90d",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('g'), NONE)],
        label: "g",
        action: Action::ToggleGroups,
        help: "group by domain / flat list",
        context: Context::List,
    },
    Binding {
        keys: &[(KeyCode::Char('f'), NONE)],
        label: "f",
        action: Action::ToggleFaults,
        help: "faults only",
        context: Context::List,
    },
    Binding {
        keys: &[(KeyCode::Char('r'), NONE)],
        label: "r",
        action: Action::PollNow,
        help: "poll now",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('i'), NONE)],
        label: "i",
        action: Action::ShowIncidents,
        help: "incidents",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('m'), NONE)],
        label: "m",
        action: Action::ShowMaintenance,
        help: "maintenance",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('e'), NONE)],
        label: "e",
        action: Action::ShowChanges,
        help: "what changed over the last day",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('['), NONE)],
        label: "[",
        action: Action::Earlier,
        help: "history: the states at the change before (the header says it is the past)",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char(']'), NONE)],
        label: "]",
        action: Action::Later,
        help: "history: the change after; past the newest, back to now",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        action: Action::Copy,
        help: "copy the id (a dbt run's address in a product) to the clipboard",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        action: Action::Pause,
        help: "pause updates while reading; p again catches up",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('?'), NONE), (KeyCode::F(1), NONE)],
        label: "?",
        action: Action::ShowHelp,
        help: "this help",
        context: Context::Everywhere,
    },
    Binding {
        keys: &[(KeyCode::Char('a'), NONE)],
        label: "a",
        action: Action::Acknowledge,
        help: "in an incident: take it (acknowledge)",
        context: Context::Incident,
    },
    Binding {
        keys: &[(KeyCode::Char('x'), NONE)],
        label: "x",
        action: Action::CloseIncident,
        help: "in an incident: close it, then f fixed, e expected, p false positive, u upstream",
        context: Context::Incident,
    },
    Binding {
        keys: &[(KeyCode::Char('q'), NONE), (KeyCode::Char('c'), KeyModifiers::CONTROL)],
        label: "q ^C",
        action: Action::Quit,
        help: "quit",
        context: Context::Everywhere,
    },
];

/// Why an incident is closed, by the key that says it after `x`: the prompt and the key
/// handling both read this.
pub const REASONS: [(char, crate::model::Resolution); 4] = [
    ('f', crate::model::Resolution::Fixed),
    ('e', crate::model::Resolution::Expected),
    ('p', crate::model::Resolution::FalsePositive),
    ('u', crate::model::Resolution::Upstream),
];

/// The action for a key where the board is, if any: the list's keys (sort, group, faults,
/// filter) do nothing on other screens, rather than change a list no one can see.
pub fn action_for(key: KeyEvent, context: Context) -> Option<Action> {
    let mods = key.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    BINDINGS
        .iter()
        .filter(|b| b.context == Context::Everywhere || b.context == context)
        .find(|b| {
            b.keys
                .iter()
                .any(|(code, m)| *code == key.code && (*m & (KeyModifiers::CONTROL | KeyModifiers::ALT)) == mods)
        })
        .map(|b| b.action)
}

/// The footer's short list for the list view, from the same table.
pub fn footer(context: Context) -> Vec<(&'static str, &'static str)> {
    let short = |action: Action| match action {
        // Help and quit first: they must survive a narrow terminal.
        Action::ShowHelp => Some((0, "help")),
        Action::Quit => Some((1, "quit")),
        Action::Open => Some((2, "open")),
        Action::Back if context != Context::List => Some((3, "back")),
        Action::StartFilter => Some((4, "filter")),
        // Then what on call needs: poll, incidents, changes, maintenance; the list's
        // arrangement last (the help has them all).
        Action::PollNow => Some((5, "poll")),
        Action::ShowIncidents => Some((6, "incidents")),
        Action::ShowChanges => Some((7, "changes")),
        Action::ShowMaintenance => Some((8, "maint")),
        Action::CycleSort => Some((9, "sort")),
        Action::CycleWindow => Some((10, "window")),
        Action::ToggleFaults => Some((11, "faults")),
        Action::ToggleGroups => Some((12, "group")),
        Action::Pause => Some((13, "pause")),
        Action::Earlier => Some((14, "history")),
        Action::Acknowledge => Some((5, "take")),
        Action::CloseIncident => Some((5, "close")),
        _ => None,
    };
    let mut items: Vec<(usize, &'static str, &'static str)> = BINDINGS
        .iter()
        .filter(|b| b.context == Context::Everywhere || b.context == context)
        .filter_map(|b| short(b.action).map(|(rank, s)| (rank, b.label.split(' ').next().unwrap_or(b.label), s)))
        .collect();
    items.sort_by_key(|(rank, _, _)| *rank);
    items.into_iter().map(|(_, key, what)| (key, what)).collect()
}

/// Lines of help after the key table: mouse, a blank, states, bars, the incident mark, the
/// change mark, the metric columns (two lines), uptime (two lines), refresh lag (two
/// lines). The help view draws them; scrolling it needs the count.
pub const HELP_LEGEND_LINES: usize = 12;

/// How many lines the help has: the key table and its legend.
pub fn help_line_count() -> usize {
    BINDINGS.len() + HELP_LEGEND_LINES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_key_maps_to_its_action() {
        let key = |c: KeyCode, m: KeyModifiers| action_for(KeyEvent::new(c, m), Context::List);
        assert_eq!(key(KeyCode::Char('j'), NONE), Some(Action::Down));
        assert_eq!(key(KeyCode::Down, NONE), Some(Action::Down));
        assert_eq!(key(KeyCode::Char('c'), KeyModifiers::CONTROL), Some(Action::Quit));
        assert_eq!(key(KeyCode::Char('q'), NONE), Some(Action::Quit));
        assert_eq!(key(KeyCode::Char('G'), KeyModifiers::SHIFT), Some(Action::Bottom));
        assert_eq!(key(KeyCode::Char('g'), NONE), Some(Action::ToggleGroups));
        assert_eq!(key(KeyCode::Char('x'), NONE), None);
        // The list's own keys do nothing elsewhere; moving and quitting work everywhere.
        let elsewhere = |c: KeyCode| action_for(KeyEvent::new(c, NONE), Context::Detail);
        for c in ['s', 'g', 'f'] {
            assert_eq!(elsewhere(KeyCode::Char(c)), None, "{c}");
        }
        assert_eq!(elsewhere(KeyCode::Char('j')), Some(Action::Down));
        assert_eq!(elsewhere(KeyCode::Char('q')), Some(Action::Quit));
        // Every action a user can trigger has a line in the help.
        for b in BINDINGS {
            assert!(!b.help.is_empty() && !b.keys.is_empty());
        }
    }
}
