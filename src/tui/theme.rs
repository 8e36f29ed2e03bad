//! Semantic styles for the board: views ask for `theme.state(State::Down)`, never a raw
//! colour. Without colour (`NO_COLOR`, `--no-color`) only bold and reverse remain, and
//! every state keeps its symbol and bar height, so nothing depends on colour alone.

use ratatui::style::{Color, Modifier, Style};

use crate::model::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
    /// Colours chosen for light terminal backgrounds.
    pub light: bool,
}

impl Theme {
    pub fn new(color: bool, ascii: bool, light: bool) -> Theme {
        Theme { color, ascii, light }
    }

    /// The colour of a state; 16-colour ANSI names, so 16- and 256-colour terminals agree.
    pub fn state_color(&self, state: State) -> Color {
        match (state, self.light) {
            (State::Up, false) => Color::Green,
            (State::Up, true) => Color::Green,
            (State::Degraded, false) => Color::Yellow,
            (State::Degraded, true) => Color::Rgb(153, 102, 0),
            (State::Down, _) => Color::Red,
            (State::Unknown, _) => Color::Magenta,
            (State::Maintenance, false) => Color::Cyan,
            (State::Maintenance, true) => Color::Blue,
        }
    }

    pub fn state(&self, state: State) -> Style {
        let style = if self.color { Style::new().fg(self.state_color(state)) } else { Style::new() };
        if state == State::Down { style.add_modifier(Modifier::BOLD) } else { style }
    }

    pub fn symbol(&self, state: State) -> &'static str {
        crate::theme::symbol(state, self.ascii)
    }

    /// Key names as shown: with `--ascii` the arrows and ⏎ are words, since each would
    /// otherwise become a one-cell `>` or `<` that reads like a key of its own.
    pub fn keys<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        const WORDS: [(&str, &str); 5] = [("⏎", "Enter"), ("→", "Right"), ("←", "Left"), ("↑", "Up"), ("↓", "Down")];
        if !self.ascii || !WORDS.iter().any(|(glyph, _)| text.contains(glyph)) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut plain = text.to_string();
        for (glyph, word) in WORDS {
            plain = plain.replace(glyph, word);
        }
        std::borrow::Cow::Owned(plain)
    }

    /// One day of a bar sparkline: its height says the state as much as its colour.
    pub fn bar(&self, day: Option<State>) -> &'static str {
        match (day, self.ascii) {
            (None, false) => "·",
            (Some(State::Up), false) => "█",
            (Some(State::Maintenance), false) => "▆",
            (Some(State::Unknown), false) => "▄",
            (Some(State::Degraded), false) => "▃",
            (Some(State::Down), false) => "▁",
            (None, true) => ".",
            (Some(State::Up), true) => "#",
            (Some(State::Maintenance), true) => "=",
            (Some(State::Unknown), true) => "?",
            (Some(State::Degraded), true) => "-",
            (Some(State::Down), true) => "_",
        }
    }

    pub fn bar_style(&self, day: Option<State>) -> Style {
        match day {
            Some(state) if self.color => Style::new().fg(self.state_color(state)),
            _ => self.dim(),
        }
    }

    pub fn dim(&self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new() }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Column headings: bold in the terminal's own foreground, which is legible on any
    /// background (white headings vanished on a light one).
    pub fn header_row(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn group(&self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if self.color { style.fg(Color::Blue) } else { style }
    }

    /// The row under the cursor: a background band in colour (reversing would hollow out
    /// the coloured bars), reverse video without colour.
    pub fn selected(&self) -> Style {
        match (self.color, self.light) {
            (true, false) => Style::new().bg(Color::Indexed(238)).add_modifier(Modifier::BOLD),
            (true, true) => Style::new().bg(Color::Indexed(252)).add_modifier(Modifier::BOLD),
            (false, _) => Style::new().add_modifier(Modifier::REVERSED),
        }
    }

    pub fn key(&self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if self.color { style.fg(Color::Cyan) } else { style }
    }

    pub fn banner(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Black).bg(self.state_color(State::Maintenance))
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn warning(&self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD);
        if self.color { style.fg(self.state_color(State::Degraded)) } else { style }
    }

    pub fn line_char(&self) -> &'static str {
        if self.ascii { "-" } else { "─" }
    }
}
