//! Entering and leaving the terminal. The guard restores it on drop, and a chained panic
//! hook restores it before the panic report, so the terminal is never left broken.

use std::io::{self, Stdout};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

pub struct TerminalGuard;

impl TerminalGuard {
    pub fn enter() -> io::Result<(TerminalGuard, Term)> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        enable_raw_mode()?;
        let guard = TerminalGuard;
        execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        terminal.hide_cursor()?;
        terminal.clear()?;
        Ok((guard, terminal))
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as we found it. Safe to call more than once; errors are ignored
/// (the terminal may be gone: a dropped SSH session).
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen, crossterm::cursor::Show);
}

/// Puts `text` on the clipboard of the terminal the user sits at (OSC 52): it travels with
/// the output, so it works over SSH and in tmux (with `set-clipboard on`) where no
/// clipboard of this machine would reach. Terminals that do not allow it ignore it.
pub fn copy_to_clipboard(text: &str) -> io::Result<()> {
    use std::io::Write;
    let mut out = io::stdout();
    out.write_all(osc52(text).as_bytes())?;
    out.flush()
}

/// The OSC 52 sequence that sets the clipboard to `text`. The text is base64, so nothing
/// in it can end the sequence early or drive the terminal.
fn osc52(text: &str) -> String {
    use base64::Engine;
    format!("\x1b]52;c;{}\x07", base64::engine::general_purpose::STANDARD.encode(text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn osc52_carries_the_text_as_base64_only() {
        assert_eq!(super::osc52("fct_orders"), "\x1b]52;c;ZmN0X29yZGVycw==\x07");
        let hostile = super::osc52("x\x07\x1b]0;pwned\x1b\\");
        assert_eq!(hostile.matches('\x07').count(), 1);
        assert_eq!(hostile.matches('\x1b').count(), 1);
    }
}
